//! `devtail`: use a devtail gateway's terminals from a laptop or a script.

mod config;
mod interactive;

use std::io::Write as _;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use devtail_client::proto::v1;
use devtail_client::{
    Client, ConnectOptions, Endpoint, FrameTap, ReconnectEvent, ReconnectingTerminal, TapDirection,
    TerminalEvent,
};
use tokio::io::AsyncReadExt as _;

/// devtail: terminals on your dev machine, over a devtail gateway.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "\
Examples:
  devtail pair 'devtail://…'                once: the URL `devtail-gateway pair` printed
  export DEVTAIL_TOKEN=dt_…                 or: the token `devtail-gateway` printed
  devtail exec -- uname -a                  run a command, exit with its status
  devtail term                              interactive shell (detach: Ctrl-\\ d)
  devtail term -- htop
  devtail sessions                          list running terminals
  devtail attach 3                          reattach to terminal 3
  devtail frames -- echo hi                 show every protocol frame as JSON
  devtail --url wss://host:8722 --fingerprint 3f5a… term    over TLS, pinning the certificate"
)]
struct Cli {
    /// Gateway URL: ws://, wss:// or quic:// [default: the paired gateway, else
    /// ws://127.0.0.1:8722].
    #[arg(long, env = "DEVTAIL_URL")]
    url: Option<String>,
    /// Device token.
    #[arg(long, env = "DEVTAIL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// SHA-256 fingerprint of the gateway's TLS certificate, as devtail-gateway printed it at
    /// start; required by wss:// (the certificate is self-signed and pinned).
    #[arg(long, env = "DEVTAIL_FINGERPRINT")]
    fingerprint: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a command in a remote terminal, copy its output to stdout, exit with its status
    /// (128 + signal when killed). Standard input is forwarded; at its end the terminal gets
    /// end-of-file (Ctrl-D).
    #[command(after_help = "Example: devtail exec -- make test")]
    Exec {
        /// Command and arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Interactive terminal: a shell, or the given command. Ctrl-\ d detaches and leaves it
    /// running; Ctrl-\ Ctrl-\ sends one Ctrl-\.
    #[command(after_help = "Examples:\n  devtail term\n  devtail term -- vim notes.md")]
    Term {
        /// Command and arguments (default: your login shell on the gateway's machine).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// List the gateway's running terminals.
    Sessions,
    /// Reattach to a running terminal: its recent output (or a snapshot of its screen), then
    /// live.
    #[command(after_help = "Example: devtail attach 3")]
    Attach {
        /// Terminal id, from `devtail sessions`.
        id: u64,
        /// Watch only: input is not sent.
        #[arg(long)]
        read_only: bool,
    },
    /// Pair this computer with a gateway: store the URL `devtail-gateway pair` printed (address,
    /// device token, certificate fingerprint) so later commands need no flags.
    #[command(
        after_help = "Example: devtail pair 'devtail://100.64.0.7:8722?token=dt_…&fp=…&name=laptop&transports=quic,wss'"
    )]
    Pair {
        /// The devtail:// pairing URL.
        url: String,
    },
    /// Protocol test client: print every frame sent and received as a JSON line, while
    /// doing a ping, a session list, and (when given) running a command to its exit.
    #[command(after_help = "Example: devtail frames -- printf 'hi\\n'")]
    Frames {
        /// Ask the gateway not to compress, so wire lengths equal envelope lengths.
        #[arg(long)]
        no_compression: bool,
        /// Command to run in a terminal.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("devtail: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(run(cli));
    // Standard input is read on a blocking thread that cannot be interrupted: do not wait
    // for it.
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("devtail: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<i32> {
    let endpoint = || resolve(&cli);
    match cli.command {
        Command::Pair { ref url } => pair(url),
        Command::Exec { ref command } => {
            let open = term_open(command.clone(), interactive::local_size());
            exec(ReconnectingTerminal::open(endpoint()?, open).await?).await
        }
        Command::Term { ref command } => {
            let open = term_open(command.clone(), interactive::local_size());
            interactive::run(ReconnectingTerminal::open(endpoint()?, open).await?, false).await
        }
        Command::Attach { id, read_only } => {
            // Everything the gateway still holds, or a snapshot of the screen, then live.
            let terminal = ReconnectingTerminal::attach(endpoint()?, id, read_only).await?;
            interactive::run(terminal, read_only).await
        }
        Command::Sessions => sessions(connect(&endpoint()?).await?).await,
        Command::Frames { ref command, .. } => {
            frames(connect(&endpoint()?).await?, command.clone()).await
        }
    }
}

/// Where to connect and how: flags and environment first, then the saved pairing, then
/// loopback.
fn resolve(cli: &Cli) -> anyhow::Result<Endpoint> {
    let saved = config::load()?;
    let (url, resume_urls) = match (&cli.url, &saved) {
        (Some(url), _) => (url.clone(), Vec::new()),
        (None, Some(saved)) => (saved.urls[0].clone(), saved.urls[1..].to_vec()),
        (None, None) => ("ws://127.0.0.1:8722".to_owned(), Vec::new()),
    };
    let token = cli
        .token
        .clone()
        .or_else(|| saved.as_ref().map(|s| s.token.clone()))
        .context(
            "no token: run `devtail pair URL` with the URL `devtail-gateway pair` prints, or pass \
             --token / set DEVTAIL_TOKEN (devtail-gateway prints one at first start)",
        )?;
    let mut options = ConnectOptions {
        client_name: Some(concat!("devtail-cli/", env!("CARGO_PKG_VERSION")).to_owned()),
        fingerprint: cli
            .fingerprint
            .clone()
            .or_else(|| saved.as_ref().map(|s| s.fingerprint.clone())),
        resume_urls,
        ..ConnectOptions::default()
    };
    if let Command::Frames { no_compression, .. } = &cli.command {
        options.no_compression = *no_compression;
        options.tap = Some(json_tap());
    }
    Ok(Endpoint {
        url,
        token,
        options,
    })
}

/// `devtail pair URL`: checks and stores the pairing.
fn pair(url: &str) -> anyhow::Result<i32> {
    let pairing = devtail_client::PairingUrl::parse(url).map_err(anyhow::Error::msg)?;
    let path = config::save(&pairing)?;
    let urls = pairing.urls();
    println!(
        "Paired as {:?} with the gateway at {} (then {}). Saved to {}.",
        pairing.name,
        urls[0],
        if urls.len() > 1 {
            urls[1..].join(", ")
        } else {
            "nothing else".to_owned()
        },
        path.display()
    );
    Ok(0)
}

async fn connect(endpoint: &Endpoint) -> anyhow::Result<Client> {
    Ok(Client::connect(&endpoint.url, &endpoint.token, endpoint.options.clone()).await?)
}

fn term_open(mut command: Vec<String>, (rows, cols): (u16, u16)) -> v1::TermOpen {
    let program = if command.is_empty() {
        String::new()
    } else {
        command.remove(0)
    };
    v1::TermOpen {
        command: program,
        args: command,
        size: Some(v1::TermSize {
            rows: rows.into(),
            cols: cols.into(),
            width_px: 0,
            height_px: 0,
        }),
        ..Default::default()
    }
}

/// SIGINT, as a protocol signal number.
const SIGINT: u32 = 2;

async fn exec(mut terminal: ReconnectingTerminal) -> anyhow::Result<i32> {
    let input = terminal.input();
    // Standard input → the terminal; at its end, Ctrl-D (twice after a partial line).
    let stdin_input = input.clone();
    tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; 16 << 10];
        let mut at_line_start = true;
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    at_line_start = buf[n - 1] == b'\n';
                    if stdin_input.write(buf[..n].to_vec()).await.is_err() {
                        return;
                    }
                }
            }
        }
        let eof: &[u8] = if at_line_start { b"\x04" } else { b"\x04\x04" };
        let _ = stdin_input.write(eof.to_vec()).await;
    });
    let mut interrupts = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut stdout = std::io::stdout().lock();
    let mut interrupted = false;
    loop {
        tokio::select! {
            event = terminal.next_event() => match event {
                Some(ReconnectEvent::Terminal(TerminalEvent::Output(data))) => {
                    stdout.write_all(&data)?;
                    stdout.flush()?;
                }
                Some(ReconnectEvent::Terminal(TerminalEvent::Exit { code, signal })) => {
                    terminal.close().await;
                    return Ok(TerminalEvent::exit_status(code, signal));
                }
                Some(ReconnectEvent::Terminal(TerminalEvent::Error { message, .. })) => {
                    anyhow::bail!("gateway: {message}")
                }
                Some(ReconnectEvent::Reconnecting { attempt, reason }) => {
                    if attempt == 1 {
                        eprintln!("devtail: connection lost ({reason}); reconnecting…");
                    }
                }
                Some(ReconnectEvent::Reconnected) => eprintln!("devtail: reconnected"),
                Some(ReconnectEvent::Notice(notice)) => eprintln!("devtail: {}", notice.message),
                Some(ReconnectEvent::Terminal(_)) => {}
                None => anyhow::bail!("the terminal ended without an exit status"),
            },
            _ = interrupts.recv() => {
                if interrupted {
                    // Second Ctrl-C: stop waiting, hang the terminal up.
                    input.kill().await?;
                    return Ok(128 + SIGINT as i32);
                }
                interrupted = true;
                input.signal(SIGINT).await?;
            }
        }
    }
}

async fn sessions(client: Client) -> anyhow::Result<i32> {
    let list = client.sessions().await?;
    client.close().await;
    if list.terminals.is_empty() {
        eprintln!("No terminals are running.");
        return Ok(0);
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    println!(
        "{:>4}  {:<24} {:>9} {:>7} {:>8}  TITLE",
        "ID", "COMMAND", "SIZE", "AGE", "CLIENTS"
    );
    for t in list.terminals {
        let mut command = std::iter::once(t.command.as_str())
            .chain(t.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        if command.chars().count() > 24 {
            command = command.chars().take(23).collect::<String>() + "…";
        }
        let size = t
            .size
            .map_or_else(String::new, |s| format!("{}x{}", s.cols, s.rows));
        let age = human_age(now_ms.saturating_sub(t.started_unix_ms) / 1000);
        println!(
            "{:>4}  {:<24} {:>9} {:>7} {:>8}  {}",
            t.terminal_id, command, size, age, t.attached_clients, t.title
        );
    }
    Ok(0)
}

fn human_age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d", secs / 86_400),
    }
}

/// Prints each frame as one JSON line on stdout.
fn json_tap() -> FrameTap {
    std::sync::Arc::new(|direction, wire_len, flags, envelope| {
        let envelope = serde_json::to_value(envelope)
            .unwrap_or_else(|e| serde_json::json!({ "unprintable": e.to_string(), "debug": format!("{envelope:?}") }));
        let line = serde_json::json!({
            "dir": match direction { TapDirection::Sent => "sent", TapDirection::Received => "received" },
            "wire_bytes": wire_len,
            "flags": format!("{flags:#04x}"),
            "envelope": envelope,
        });
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    })
}

async fn frames(client: Client, command: Vec<String>) -> anyhow::Result<i32> {
    client.ping(1).await?;
    client.sessions().await?;
    let mut status = 0;
    if !command.is_empty() {
        let mut terminal = client.open_terminal(term_open(command, (24, 80))).await?;
        while let Some(event) = terminal.next_event().await {
            if let TerminalEvent::Exit { code, signal } = event {
                status = TerminalEvent::exit_status(code, signal);
            }
        }
    }
    client.close().await;
    Ok(status)
}
