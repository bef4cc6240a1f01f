//! `devtail-gateway`: run the gateway, or manage its device tokens.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use std::sync::Arc;

use devtail_gateway::auth::TokenStore;
use devtail_gateway::limits::{DEFAULT_FRAMES_PER_SEC, DEFAULT_INPUT_BYTES_PER_SEC, Quotas};
use devtail_gateway::proto::reliability::DEFAULT_REPLAY_BUDGET;
use devtail_gateway::tls::Identity;
use devtail_gateway::{
    Config, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_IDLE_TIMEOUT, DEFAULT_LISTEN, DEFAULT_MAX_CHANNELS,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_REPLAY_MEMORY, DEFAULT_SESSION_LINGER, Gateway, plaintext_ok,
};
use tokio::signal::unix::{SignalKind, signal};
use tracing::info;

/// How long shutdown waits for connections to take their Close and for terminals to hang up.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// devtail gateway: serves terminals on this machine to the devtail app and CLI.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "\
Examples:
  devtail-gateway                                   serve ./ on ws://127.0.0.1:8722
  devtail-gateway --workspace ~/src/app             serve another directory
  DEVTAIL_TOKEN=$(openssl rand -hex 32) devtail-gateway   use a token of your own
  devtail-gateway token add phone                   issue a token for a new device
  devtail-gateway token list
  devtail-gateway token revoke phone

Logs go to stderr; set RUST_LOG=debug for more. SIGTERM, SIGINT (Ctrl-C) and SIGQUIT stop the
gateway, hanging its terminals up first; SIGHUP does not (it outlives the terminal it was
started from, like under nohup)."
)]
struct Cli {
    /// Address to listen on (TCP for WebSocket).
    #[arg(long, default_value = DEFAULT_LISTEN, env = "DEVTAIL_LISTEN")]
    listen: SocketAddr,
    /// Directory terminals start in and file access is confined to.
    #[arg(long, default_value = ".", env = "DEVTAIL_WORKSPACE")]
    workspace: PathBuf,
    /// Directory for device tokens and other state [default: $XDG_STATE_HOME/devtail or
    /// ~/.local/state/devtail].
    #[arg(long, env = "DEVTAIL_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Allow plain (unencrypted) WebSocket on an address that is neither loopback nor a
    /// tailnet address. Anyone on the path can then read your terminals.
    #[arg(long)]
    insecure: bool,
    /// Connections served at once, WebSocket and QUIC together.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Seconds a session waits for its client to resume after the connection drops
    /// (terminals run on after that; the client reattaches).
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_SESSION_LINGER.as_secs())]
    session_linger: u64,
    /// Bytes of sent, unacknowledged frames each session keeps for retransmission on resume.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_REPLAY_BUDGET,
          value_parser = clap::value_parser!(usize))]
    replay_budget: usize,
    /// Bytes all sessions' replay buffers may hold together; past it, sessions that are away
    /// stop keeping output for their resume and get a screen snapshot instead.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_REPLAY_MEMORY)]
    replay_memory: usize,
    /// Seconds between client heartbeats on an idle connection (announced in Welcome).
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_HEARTBEAT_INTERVAL.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    heartbeat: u64,
    /// Seconds without any frame after which a connection is considered dead (its session
    /// lingers). Must exceed the heartbeat.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_IDLE_TIMEOUT.as_secs())]
    idle_timeout: u64,
    /// Frames per second each device may send, all its connections together (0: no limit).
    /// Past it the gateway reads that device's frames more slowly and tells it with a
    /// RATE_LIMITED error; nothing is dropped.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FRAMES_PER_SEC)]
    max_frames_per_sec: u32,
    /// Terminal input bytes per second each device may send (0: no limit); enforced like
    /// --max-frames-per-sec.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_INPUT_BYTES_PER_SEC)]
    max_input_bytes_per_sec: u32,
    /// Channels (terminals opened or attached) one session may have at once; more are
    /// refused with RESOURCE_EXHAUSTED.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CHANNELS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_channels: usize,
    /// Threads serving connections and terminals [default: one per CPU core]. One thread is
    /// leaner for a single busy terminal (on 2 cores: 16 % more output throughput for a third
    /// less CPU), but then many busy devices wait on each other: their keystrokes' echo p99
    /// went from 1.5 to 3–4 ms with ten devices printing build logs.
    #[arg(long, value_name = "N", env = "DEVTAIL_THREADS",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage device tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Pair a new device: issue it a token and print a devtail:// URL and its QR code holding
    /// the address, the token and the certificate fingerprint. Scan it with the app, or run
    /// `devtail pair URL` on a laptop.
    #[command(
        after_help = "Examples:\n  devtail-gateway pair --name phone\n  devtail-gateway --listen 0.0.0.0:8722 pair --host devbox.tailnet.ts.net"
    )]
    Pair {
        /// Device name: letters, digits, '-', '_', '.' [default: device-N].
        #[arg(long)]
        name: Option<String>,
        /// Host name or address the device should use [default: the --listen address, or
        /// this machine's address when listening on every interface].
        #[arg(long)]
        host: Option<String>,
        /// Print only the URL, no QR code.
        #[arg(long)]
        no_qr: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue a token for a new device and print it (it is shown only once).
    Add {
        /// Device name: letters, digits, '-', '_', '.'.
        name: String,
    },
    /// List the devices that hold tokens.
    List,
    /// Revoke a device's token; its connections are refused from now on.
    Revoke {
        /// Device name.
        name: String,
    },
}

fn default_state_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME") {
        return Ok(PathBuf::from(dir).join("devtail"));
    }
    let home =
        std::env::var_os("HOME").context("neither --state-dir, XDG_STATE_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".local/state/devtail"))
}

fn open_state_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating state dir {}", dir.display()))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let state_dir = match &cli.state_dir {
        Some(dir) => dir.clone(),
        None => default_state_dir()?,
    };
    open_state_dir(&state_dir)?;
    let mut tokens = TokenStore::open(&state_dir)?;

    match cli.command {
        Some(Command::Token(command)) => token_command(&mut tokens, command),
        Some(Command::Pair {
            ref name,
            ref host,
            no_qr,
        }) => pair(
            &cli,
            &state_dir,
            &mut tokens,
            name.as_deref(),
            host.as_deref(),
            no_qr,
        ),
        None => {
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            if let Some(threads) = cli.threads {
                runtime.worker_threads(threads);
            }
            let runtime = runtime.enable_all().build()?;
            runtime.block_on(run(cli, state_dir, tokens))
        }
    }
}

fn pair(
    cli: &Cli,
    state_dir: &std::path::Path,
    tokens: &mut TokenStore,
    name: Option<&str>,
    host: Option<&str>,
    no_qr: bool,
) -> anyhow::Result<()> {
    let name = match name {
        Some(name) => name.to_owned(),
        None => (1..)
            .map(|n| format!("device-{n}"))
            .find(|candidate| tokens.devices().iter().all(|d| &d.name != candidate))
            .expect("a free name"),
    };
    let token = tokens.add(&name)?;
    let identity = Identity::load_or_create(state_dir)
        .with_context(|| format!("TLS certificate in {}", state_dir.display()))?;
    let host = match host {
        Some(host) => host.to_owned(),
        None => devtail_gateway::pair::reachable_host(cli.listen).to_string(),
    };
    let plain = cli.insecure
        || host
            .parse()
            .is_ok_and(|ip: std::net::IpAddr| plaintext_ok(ip));
    let url = devtail_gateway::pair::url(
        &host,
        cli.listen.port(),
        &token,
        &identity.fingerprint(),
        &name,
        plain,
    );
    if !no_qr {
        println!("{}", devtail_gateway::pair::qr(&url)?);
    }
    println!("{url}");
    eprintln!(
        "Device {name:?} paired: scan the code with the app, or run `devtail pair '{url}'` on a \
         laptop. The URL holds the device's token: it is shown only this once."
    );
    Ok(())
}

fn token_command(tokens: &mut TokenStore, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Add { name } => {
            let token = tokens.add(&name)?;
            println!("{token}");
            eprintln!(
                "Token for {name:?} issued. It is shown only this once; the gateway stores a hash."
            );
        }
        TokenCommand::List => {
            if tokens.devices().is_empty() {
                eprintln!("No device tokens. Issue one with: devtail-gateway token add NAME");
            }
            for device in tokens.devices() {
                println!("{}\tcreated {}", device.name, device.created_unix);
            }
        }
        TokenCommand::Revoke { name } => {
            tokens.revoke(&name)?;
            eprintln!("Token for {name:?} revoked.");
        }
    }
    Ok(())
}

/// The TCP listener (WebSocket) and the UDP socket (QUIC) on the same port number. With port
/// 0 a free TCP port is picked, and picked again if its UDP twin is taken.
async fn bind(addr: SocketAddr) -> anyhow::Result<(tokio::net::TcpListener, std::net::UdpSocket)> {
    let tries = if addr.port() == 0 { 20 } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let tcp = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on TCP {addr}"))?;
        let local = tcp.local_addr()?;
        match std::net::UdpSocket::bind(local) {
            Ok(udp) => return Ok((tcp, udp)),
            Err(e) => last = Some((local, e)),
        }
    }
    let (local, e) = last.expect("at least one try");
    Err(e).with_context(|| format!("listening on UDP {local} (for QUIC)"))
}

/// Raises the open-file limit to its hard maximum: every connection and terminal holds file
/// descriptors, and the default soft limit (often 1024) would cap the gateway far below
/// `--max-connections`.
fn raise_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
        }
    }
    let now = getrlimit(Resource::Nofile).current;
    tracing::debug!(open_files = ?now, "open-file limit");
}

async fn run(cli: Cli, state_dir: PathBuf, mut tokens: TokenStore) -> anyhow::Result<()> {
    if let Ok(token) = std::env::var("DEVTAIL_TOKEN") {
        tokens.set_env_token(&token)?;
    } else if tokens.is_empty() {
        let token = tokens.add("default")?;
        println!("No device tokens yet: issued one for device \"default\" (shown only this once):");
        println!();
        println!("    {token}");
        println!();
        println!("Use it with: DEVTAIL_TOKEN={token} devtail exec -- echo hi");
    }
    raise_file_limit();
    let (listener, udp) = bind(cli.listen).await?;
    let local = listener.local_addr()?;
    if cli.idle_timeout <= cli.heartbeat {
        bail!(
            "--idle-timeout ({} s) must be longer than --heartbeat ({} s), or idle connections \
             would be cut between two heartbeats",
            cli.idle_timeout,
            cli.heartbeat
        );
    }
    if cli.replay_budget < 1 << 20 {
        bail!(
            "--replay-budget must be at least 1 MiB (1048576): a terminal output frame alone can be 64 KiB"
        );
    }
    let config = Config {
        max_connections: cli.max_connections,
        session_linger: Duration::from_secs(cli.session_linger),
        replay_budget: cli.replay_budget,
        replay_memory: cli.replay_memory,
        heartbeat_interval: Duration::from_secs(cli.heartbeat),
        idle_timeout: Duration::from_secs(cli.idle_timeout),
        insecure: cli.insecure,
        quotas: Quotas {
            frames_per_sec: NonZeroU32::new(cli.max_frames_per_sec),
            input_bytes_per_sec: NonZeroU32::new(cli.max_input_bytes_per_sec),
        },
        max_channels: cli.max_channels,
        identity: Some(Arc::new(
            Identity::load_or_create(&state_dir)
                .with_context(|| format!("TLS certificate in {}", state_dir.display()))?,
        )),
        ..Config::new(local, cli.workspace, state_dir.clone())
    };
    let gateway = Gateway::new(config, tokens)?;
    // QUIC on the same port number, over UDP.
    let quic = devtail_gateway::transport::quic::endpoint(&gateway, udp)
        .with_context(|| format!("QUIC on UDP {local}"))?;
    let plain = cli.insecure || plaintext_ok(local.ip());
    let scheme = if plain { "ws" } else { "wss" };
    println!("devtail-gateway listening on {scheme}://{local}");
    if let Some(fingerprint) = gateway.fingerprint() {
        println!(
            "TLS: wss://{local} and quic://{local}, certificate fingerprint (SHA-256) {fingerprint}"
        );
    }
    if !plain {
        println!(
            "plain ws:// is refused on this address (not loopback or tailnet); --insecure allows it"
        );
    }
    println!("workspace: {}", gateway.workspace().display());

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Handled before any terminal starts: a program inherits the signals its parent ignores,
    // and a gateway started in the background by a shell ignores SIGINT and SIGQUIT (under
    // nohup, SIGHUP) — Ctrl-C and Ctrl-\ would then do nothing in its terminals, and hanging
    // one up would leave its program running until the SIGKILL. Handled ones are reset on
    // exec.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    let mut hup = signal(SignalKind::hangup())?;
    let ws = tokio::spawn(devtail_gateway::transport::ws::serve(
        listener,
        gateway.clone(),
        stop_rx.clone(),
    ));
    let quic = tokio::spawn(devtail_gateway::transport::quic::serve(
        quic,
        gateway.clone(),
        stop_rx,
    ));
    let which = loop {
        tokio::select! {
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
            _ = quit.recv() => break "SIGQUIT",
            // The terminal the gateway was started from went away: it serves on.
            _ = hup.recv() => info!("SIGHUP: still serving (SIGTERM or Ctrl-C stops the gateway)"),
        }
    };
    info!(signal = which, "shutting down");
    let _ = stop_tx.send(true);
    gateway.terminals.hang_up_all().await;
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        let _ = ws.await;
        let _ = quic.await;
        // Terminals end once their processes have exited and been reaped.
        while !gateway.terminals.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    if drained.is_err() {
        info!(
            terminals = gateway.terminals.len(),
            "shutdown grace period over; exiting with work left"
        );
    }
    Ok(())
}
