//! `devtail-loadtest`: measures a running gateway from the client side.
//!
//! - `echo`: keystroke echo latency — one byte typed into `cat` in a raw PTY, timed until it
//!   comes back, at a human typing pace;
//! - `throughput`: output throughput — a program writes N bytes into its PTY as fast as it
//!   can; MB/s from opening the terminal to its exit, every byte counted;
//! - `idle-terminals`: the gateway's memory per idle terminal — opens N terminals that print a
//!   prompt and wait, and reads the gateway's RSS (`/proc/PID/status`) before and after;
//! - `resume-latency`: cuts a session's connection through a chaos proxy and times, from the
//!   new connection's accept, the resumed Welcome and the first replayed output byte;
//! - `lingering-sessions`: the gateway's memory per session whose connection dropped;
//! - `idle-connections`: many idle authenticated connections — the gateway's memory per
//!   connection and its CPU while their heartbeats tick;
//! - `transports`: ws, wss and quic side by side: throughput, echo, and echo while another
//!   terminal of the same connection floods;
//! - `idle-bytes`: IP bytes per minute of idle connections (heartbeats and their acks), from
//!   the kernel's counters of the gateway's sockets;
//! - `compare`: all of it side by side with the raw PTY, OpenSSH and mosh in one run, plus
//!   Ctrl-C under a flood and fairness between devices; starts its own gateway, sshd and mosh
//!   sessions and writes `compare.md` and `compare.json` (see [`compare`]).
//!
//! Run against a release build of the gateway on loopback (`compare` starts its own).

mod compare;
mod mixed;
mod resume;
mod scale;
mod transports;

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use devtail_client::proto::v1;
use devtail_client::{Client, ConnectOptions, Terminal, TerminalEvent};

/// devtail load tester.
#[derive(Debug, Parser)]
#[command(after_help = "\
Examples:
  devtail-loadtest compare            (starts everything itself; writes loadtest-results/)
  devtail-loadtest fairness --keys 1500   (one device's echo while another floods; its own gateway)
  devtail-loadtest mixed --devices 20 --seconds 30   (mobile-like mix over ws, wss, quic)
  devtail-loadtest echo --count 500 --gateway-pid $(pgrep -f devtail-gateway)
  devtail-loadtest throughput --bytes 200000000
  devtail-loadtest idle-terminals --count 200 --gateway-pid $(pgrep -f devtail-gateway)
  devtail-loadtest resume-latency --count 50
  devtail-loadtest idle-connections --count 10000 --gateway-pid $(pgrep -f devtail-gateway)
  devtail-loadtest --fingerprint $FP transports
  devtail-loadtest lingering-sessions --count 100 --away-kib 1024 --gateway-pid $(pgrep -f devtail-gateway)
  devtail-loadtest idle-bytes --connections 10 --minutes 3")]
struct Cli {
    /// Gateway URL.
    #[arg(long, env = "DEVTAIL_URL", default_value = "ws://127.0.0.1:8722")]
    url: String,
    /// Device token (every scenario but `compare`, which starts its own gateway).
    #[arg(long, env = "DEVTAIL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// SHA-256 fingerprint of the gateway's certificate (for wss:// and quic://).
    #[arg(long, env = "DEVTAIL_FINGERPRINT")]
    fingerprint: Option<String>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// devtail side by side with the raw PTY, OpenSSH and mosh, in one run; starts its own
    /// gateway, sshd and mosh sessions on loopback and writes compare.md and compare.json.
    Compare {
        /// The gateway binary (default: devtail-gateway next to this program).
        #[arg(long)]
        gateway: Option<std::path::PathBuf>,
        /// OpenSSH's server.
        #[arg(long, default_value = "/usr/sbin/sshd")]
        sshd: std::path::PathBuf,
        /// Bytes per throughput run.
        #[arg(long, default_value_t = 100_000_000)]
        bytes: u64,
        /// Keystrokes per echo run.
        #[arg(long, default_value_t = 200)]
        keys: usize,
        /// Rounds of throughput and echo (throughput: the median; echo: all samples).
        #[arg(long, default_value_t = 2)]
        rounds: usize,
        /// Idle sessions of each system for the idle traffic and memory figures.
        #[arg(long, default_value_t = 10)]
        idle_sessions: usize,
        /// Length of the idle traffic window, minutes (covers several heartbeats).
        #[arg(long, default_value_t = 3.0)]
        idle_minutes: f64,
        /// Idle devtail connections for the scale figure (0: skip).
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// Seconds to watch the idle connections' CPU.
        #[arg(long, default_value_t = 130)]
        connections_watch: u64,
        /// Directory for compare.md and compare.json.
        #[arg(long, default_value = "loadtest-results")]
        out: std::path::PathBuf,
    },
    /// One device's echo alone and while another device floods the gateway with input, on a
    /// gateway of its own (compare's fairness figure, by itself).
    Fairness {
        /// The gateway binary (default: devtail-gateway next to this program).
        #[arg(long)]
        gateway: Option<std::path::PathBuf>,
        /// Keystrokes per echo run (at least 1500).
        #[arg(long, default_value_t = 1500)]
        keys: usize,
        /// Run with the gateway's quotas off (the default: its default quotas).
        #[arg(long)]
        quotas_off: bool,
    },
    /// A mixed, mobile-like workload over ws, wss and quic (a gateway of its own for each):
    /// many devices typing while build logs burst, resizes, one connection cut per device;
    /// every burst must arrive byte-exact.
    Mixed {
        /// The gateway binary (default: devtail-gateway next to this program).
        #[arg(long)]
        gateway: Option<std::path::PathBuf>,
        /// Devices, each with its own connection and two terminals.
        #[arg(long, default_value_t = 20)]
        devices: usize,
        /// Length of each transport's run, seconds.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Also write the figures here as JSON.
        #[arg(long)]
        json: Option<std::path::PathBuf>,
    },
    /// Gateway memory per idle terminal.
    IdleTerminals {
        /// Terminals to open.
        #[arg(long, default_value_t = 200)]
        count: usize,
        /// The gateway's process id (its RSS is read from /proc).
        #[arg(long)]
        gateway_pid: u32,
    },
    /// Keystroke echo latency through `cat` in a raw PTY.
    Echo {
        /// Keystrokes to time.
        #[arg(long, default_value_t = 500)]
        count: usize,
        /// Pause between keystrokes, milliseconds (a fast typist: 20 ms).
        #[arg(long, default_value_t = 20)]
        interval_ms: u64,
        /// The gateway's process id, to count its context switches per keystroke (from
        /// /proc).
        #[arg(long)]
        gateway_pid: Option<u32>,
    },
    /// Output throughput of a program flooding its PTY.
    Throughput {
        /// Bytes the program writes.
        #[arg(long, default_value_t = 200_000_000)]
        bytes: u64,
        /// Shell command producing the output (`{bytes}` is replaced).
        #[arg(
            long,
            default_value = "yes 'devtail throughput: the quick brown fox jumps over the lazy dog 0123456789' | head -c {bytes}"
        )]
        source: String,
    },
    /// Time from a new connection to the resumed session's first replayed byte.
    ResumeLatency {
        /// Cuts to time.
        #[arg(long, default_value_t = 50)]
        count: usize,
        /// How long the network stays down at each cut, milliseconds.
        #[arg(long, default_value_t = 100)]
        outage_ms: u64,
    },
    /// Gateway memory per session that lost its connection and lingers.
    LingeringSessions {
        /// Sessions to leave lingering.
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// The gateway's process id (its RSS is read from /proc).
        #[arg(long)]
        gateway_pid: u32,
        /// KiB each session's terminal prints while the session is away.
        #[arg(long, default_value_t = 0)]
        away_kib: u64,
    },
    /// Many idle authenticated connections: gateway memory per connection and idle CPU.
    IdleConnections {
        /// Connections to open.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// The gateway's process id (its RSS and CPU are read from /proc).
        #[arg(long)]
        gateway_pid: u32,
        /// Seconds to watch the idle gateway (cover a few heartbeats).
        #[arg(long, default_value_t = 130)]
        seconds: u64,
    },
    /// ws vs wss vs quic in one run: throughput, echo, echo while another terminal floods.
    Transports {
        /// Bytes for the throughput run.
        #[arg(long, default_value_t = 100_000_000)]
        bytes: u64,
        /// Keystrokes per echo run.
        #[arg(long, default_value_t = 300)]
        keys: usize,
    },
    /// IP bytes per minute of idle connections, both directions.
    IdleBytes {
        /// Idle connections (each with an idle terminal).
        #[arg(long, default_value_t = 10)]
        connections: usize,
        /// How long to measure, minutes (several heartbeat intervals).
        #[arg(long, default_value_t = 3.0)]
        minutes: f64,
    },
}

pub(crate) fn raw_sh(script: &str) -> v1::TermOpen {
    v1::TermOpen {
        command: "/bin/sh".into(),
        args: vec!["-c".into(), format!("stty raw -echo; {script}")],
        ..Default::default()
    }
}

/// Reads output until `byte` arrives.
pub(crate) async fn await_byte(terminal: &mut Terminal, byte: u8) -> anyhow::Result<()> {
    loop {
        match terminal.next_event().await {
            Some(TerminalEvent::Output(data)) if data.contains(&byte) => return Ok(()),
            Some(TerminalEvent::Exit { .. }) | None => bail!("the terminal ended early"),
            Some(_) => {}
        }
    }
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Keystroke echo latencies, sorted: one byte typed into `cat` in a raw PTY every `interval`
/// ([`compare::tty::echo`], the measurement every system gets in `compare`).
pub(crate) async fn echo_samples(
    client: &Client,
    count: usize,
    interval: Duration,
) -> anyhow::Result<Vec<Duration>> {
    let terminal = client
        .open_terminal(compare::sh(compare::tty::ECHO_SCRIPT))
        .await?;
    let mut samples =
        compare::tty::echo(compare::tty::Tty::Devtail(terminal), count, interval).await?;
    samples.sort();
    anyhow::ensure!(!samples.is_empty(), "no samples");
    Ok(samples)
}

/// Runs `f` on a single-threaded runtime of its own (on a blocking thread), the way `ssh` and
/// `mosh-client` run. Keystroke echo is measured this way: a multi-threaded client adds its own
/// wake-ups across threads to every key (≈ 100 µs per echo on this machine). Throughput and
/// flood phases stay multi-threaded, so the client's own decoding cannot starve what they
/// measure.
pub(crate) async fn single_threaded<F, Fut, T>(f: F) -> anyhow::Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>>,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(f())
    })
    .await?
}

pub(crate) fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn echo(client: &Client, count: usize, interval: Duration) -> anyhow::Result<()> {
    let samples = echo_samples(client, count, interval).await?;
    println!(
        "echo: {count} keystrokes every {} ms: p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        interval.as_millis(),
        micros(percentile(&samples, 50.0)),
        micros(percentile(&samples, 90.0)),
        micros(percentile(&samples, 99.0)),
        micros(*samples.last().context("no samples")?),
    );
    Ok(())
}

async fn throughput(client: &Client, bytes: u64, source: &str) -> anyhow::Result<()> {
    let rate = throughput_mbps(client, bytes, source).await?;
    println!("throughput: {bytes} bytes at {rate:.1} MB/s");
    Ok(())
}

/// MB/s of a program writing `bytes` into its PTY, from opening the terminal to its exit, every
/// byte counted.
pub(crate) async fn throughput_mbps(
    client: &Client,
    bytes: u64,
    source: &str,
) -> anyhow::Result<f64> {
    let start = Instant::now();
    let mut terminal = client
        .open_terminal(raw_sh(&source.replace("{bytes}", &bytes.to_string())))
        .await?;
    let mut received = 0u64;
    loop {
        match terminal.next_event().await {
            Some(TerminalEvent::Output(data)) => received += data.len() as u64,
            Some(TerminalEvent::Exit { code, signal }) => {
                if code != 0 || signal != 0 {
                    bail!("the source command failed (code {code}, signal {signal})");
                }
                break;
            }
            Some(_) => {}
            None => bail!("connection lost after {received} bytes"),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if received != bytes {
        bail!("received {received} bytes, expected {bytes}");
    }
    Ok(received as f64 / secs / 1e6)
}

/// Resident memory of a process, KiB.
pub(crate) fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc status")
}

async fn idle_terminals(client: &Client, count: usize, pid: u32) -> anyhow::Result<()> {
    let before = rss_kib(pid)?;
    let mut terminals = Vec::with_capacity(count);
    for i in 0..count {
        let mut terminal = client
            .open_terminal(raw_sh(&format!(
                "printf 'terminal {i} $ '; exec sleep 3600"
            )))
            .await?;
        await_byte(&mut terminal, b'$').await?;
        terminals.push(terminal);
    }
    // Let the screen models go idle (they compact after a pause).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid)?;
    println!(
        "idle terminals: {count} opened; gateway RSS {before} KiB → {after} KiB = {:.1} KiB per terminal",
        after.saturating_sub(before) as f64 / count as f64
    );
    for terminal in &terminals {
        terminal.kill().await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    // Handled, not ignored: programs started here (in PTYs, over ssh) inherit ignored signals,
    // and a tool started in the background by a shell ignores SIGINT and SIGQUIT — Ctrl-C
    // would not reach them. On any of these, the scenario is dropped, which stops the gateway,
    // sshd and mosh servers it started.
    let mut int = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    let mut term = signal(SignalKind::terminate())?;
    let cli = Cli::parse();
    tokio::select! {
        result = run(cli) => result,
        _ = int.recv() => bail!("interrupted"),
        _ = quit.recv() => bail!("quit"),
        _ = term.recv() => bail!("terminated"),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let options = ConnectOptions {
        fingerprint: cli.fingerprint.clone(),
        ..ConnectOptions::default()
    };
    let token = || {
        cli.token
            .as_deref()
            .context("this scenario needs a device token: --token or DEVTAIL_TOKEN")
    };
    let connect =
        || async { anyhow::Ok(Client::connect(&cli.url, token()?, options.clone()).await?) };
    let client = match cli.scenario {
        Scenario::Mixed {
            gateway,
            devices,
            seconds,
            ref json,
        } => {
            let rows = mixed::run(&gateway_binary(gateway)?, devices, seconds).await?;
            print!("{}", mixed::table(&rows));
            if let Some(path) = json {
                std::fs::write(path, serde_json::to_string_pretty(&rows)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            return Ok(());
        }
        Scenario::Fairness {
            gateway,
            keys,
            quotas_off,
        } => {
            let result = compare::fairness(&gateway_binary(gateway)?, keys, quotas_off).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
            return Ok(());
        }
        Scenario::Compare {
            gateway,
            sshd,
            bytes,
            keys,
            rounds,
            idle_sessions,
            idle_minutes,
            connections,
            connections_watch,
            ref out,
        } => {
            let gateway = gateway_binary(gateway)?;
            return compare::run(compare::Options {
                gateway,
                sshd: sshd.clone(),
                bytes,
                keys,
                rounds: rounds.max(1),
                idle_sessions: idle_sessions.max(1),
                idle_minutes,
                connections,
                connections_watch: Duration::from_secs(connections_watch),
                out: out.clone(),
            })
            .await;
        }
        Scenario::Echo {
            count,
            interval_ms,
            gateway_pid,
        } => {
            let (url, token, options) = (cli.url.clone(), token()?.to_owned(), options.clone());
            let switches = || gateway_pid.and_then(compare::peers::context_switches);
            let before = switches();
            single_threaded(move || async move {
                let client = Client::connect(&url, &token, options).await?;
                echo(&client, count, Duration::from_millis(interval_ms)).await?;
                client.close().await;
                Ok(())
            })
            .await?;
            if let Some(switches) = before
                .zip(switches())
                .and_then(|(before, after)| after.checked_sub(before))
            {
                // Connecting and opening the terminal are counted too: a few, spread over
                // every key.
                println!(
                    "gateway: {:.1} context switches per keystroke",
                    switches as f64 / count.max(1) as f64
                );
            }
            return Ok(());
        }
        Scenario::Throughput { bytes, ref source } => {
            let client = connect().await?;
            throughput(&client, bytes, source).await?;
            client
        }
        Scenario::IdleTerminals { count, gateway_pid } => {
            let client = connect().await?;
            idle_terminals(&client, count, gateway_pid).await?;
            client
        }
        Scenario::IdleConnections {
            count,
            gateway_pid,
            seconds,
        } => {
            let idle = Duration::from_secs(seconds);
            let scale =
                scale::idle_connections(&cli.url, token()?, options, count, gateway_pid, idle)
                    .await?;
            println!("{scale}");
            return Ok(());
        }
        Scenario::Transports { bytes, keys } => {
            return transports::compare(&cli.url, token()?, cli.fingerprint, bytes, keys).await;
        }
        Scenario::ResumeLatency { count, outage_ms } => {
            let outage = Duration::from_millis(outage_ms);
            return resume::resume_latency(&cli.url, token()?, count, outage).await;
        }
        Scenario::LingeringSessions {
            count,
            gateway_pid,
            away_kib,
        } => {
            return resume::lingering_sessions(&cli.url, token()?, count, gateway_pid, away_kib)
                .await;
        }
        Scenario::IdleBytes {
            connections,
            minutes,
        } => {
            let duration = Duration::from_secs_f64(minutes * 60.0);
            return resume::idle_bytes(&cli.url, token()?, connections, duration).await;
        }
    };
    client.close().await;
    Ok(())
}

/// The gateway binary to start: `path`, or devtail-gateway next to this program.
fn gateway_binary(path: Option<std::path::PathBuf>) -> anyhow::Result<std::path::PathBuf> {
    let gateway = match path {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .context("this program's directory")?
            .join("devtail-gateway"),
    };
    anyhow::ensure!(
        gateway.exists(),
        "{} not found: build it (cargo build --release --workspace --bins) or pass --gateway",
        gateway.display()
    );
    Ok(gateway)
}
