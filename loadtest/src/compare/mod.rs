//! `compare`: devtail side by side, in one run, with what a user would pick instead — the raw
//! PTY (the physical limit: a local PTY read loop, no network), OpenSSH (`ssh -tt` to a
//! throwaway `sshd` on loopback) and mosh (idle traffic and memory) — running the same
//! programs against the same clock.
//!
//! The tool starts everything itself: a release gateway (next to this binary), an sshd with
//! keys made for the run, mosh sessions behind counting UDP relays. It prints progress on
//! stderr, then writes `compare.md` (the tables, with ratios and targets) and `compare.json`.

mod fairness;
pub(crate) mod peers;
mod report;
pub(crate) mod tty;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use devtail_client::proto::v1;
use devtail_client::{Client, ConnectOptions};
use devtail_tests::TestGateway;
use serde::Serialize;

use crate::resume::tcp_counters;
pub(crate) use fairness::Fairness;

/// The fairness figure on a gateway of its own (the flood must not disturb other figures),
/// with the gateway's default quotas (given explicitly, so that the report can tell how much of
/// them the flood used) or with them off.
pub(crate) async fn fairness(
    gateway: &std::path::Path,
    keys: usize,
    quotas_off: bool,
) -> anyhow::Result<Fairness> {
    let quotas = (!quotas_off).then_some(fairness::DEFAULT_QUOTAS);
    let args = match quotas {
        Some(q) => vec![
            "--max-frames-per-sec".to_owned(),
            q.frames_per_sec.to_string(),
            "--max-input-bytes-per-sec".to_owned(),
            q.input_bytes_per_sec.to_string(),
        ],
        None => [
            "--max-frames-per-sec",
            "0",
            "--max-input-bytes-per-sec",
            "0",
        ]
        .map(str::to_owned)
        .to_vec(),
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let own = TestGateway::start_binary(gateway, &args);
    fairness::run(&own, quotas, keys).await
}
use peers::{Memory, Mosh, Sshd, UdpRelay};
use tty::Tty;

/// What to run, from the command line.
pub(crate) struct Options {
    pub(crate) gateway: PathBuf,
    pub(crate) sshd: PathBuf,
    pub(crate) bytes: u64,
    pub(crate) keys: usize,
    pub(crate) rounds: usize,
    pub(crate) idle_sessions: usize,
    pub(crate) idle_minutes: f64,
    pub(crate) connections: usize,
    pub(crate) connections_watch: Duration,
    pub(crate) out: PathBuf,
}

/// The systems in the table, in column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum System {
    RawPty,
    DevtailWs,
    DevtailWss,
    DevtailQuic,
    OpenSsh,
    Mosh,
}

impl System {
    pub(crate) const ALL: [System; 6] = [
        System::RawPty,
        System::DevtailWs,
        System::DevtailWss,
        System::DevtailQuic,
        System::OpenSsh,
        System::Mosh,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            System::RawPty => "raw PTY",
            System::DevtailWs => "devtail ws",
            System::DevtailWss => "devtail wss",
            System::DevtailQuic => "devtail quic",
            System::OpenSsh => "OpenSSH",
            System::Mosh => "mosh",
        }
    }

    fn is_devtail(self) -> bool {
        matches!(
            self,
            System::DevtailWs | System::DevtailWss | System::DevtailQuic
        )
    }
}

/// Latency percentiles, µs.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Latency {
    pub(crate) samples: usize,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) p999_us: f64,
    pub(crate) max_us: f64,
}

impl Latency {
    pub(crate) fn of(mut samples: Vec<Duration>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort();
        let at = |p| crate::micros(crate::percentile(&samples, p));
        Some(Self {
            samples: samples.len(),
            p50_us: at(50.0),
            p99_us: at(99.0),
            p999_us: at(99.9),
            max_us: at(100.0),
        })
    }
}

/// Memory per idle session, KiB: the server side only (the gateway; sshd's processes;
/// mosh-server), never the program in the terminal.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SessionMemory {
    pub(crate) sessions: usize,
    pub(crate) rss_kib: f64,
    pub(crate) pss_kib: f64,
}

impl SessionMemory {
    fn between(before: Memory, after: Memory, sessions: usize) -> Self {
        let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / sessions as f64;
        Self {
            sessions,
            rss_kib: per(after.rss_kib, before.rss_kib),
            pss_kib: per(after.pss_kib, before.pss_kib),
        }
    }
}

/// Everything measured for one system.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    pub(crate) system: System,
    pub(crate) label: &'static str,
    /// MB/s, one per round.
    pub(crate) throughput_mbps: Vec<f64>,
    pub(crate) echo: Option<Latency>,
    pub(crate) echo_under_flood: Option<Latency>,
    /// IP bytes per minute per idle session, both directions.
    pub(crate) idle_bytes_per_min: Option<f64>,
    pub(crate) idle_memory: Option<SessionMemory>,
    /// Ctrl-C while the program floods: until the client has seen the end of its output.
    pub(crate) interrupt: Option<Latency>,
    /// The gateway's context switches per keystroke of the echo runs (devtail only).
    pub(crate) switches_per_key: Option<f64>,
    #[serde(skip)]
    switches: (u64, usize),
    #[serde(skip)]
    echo_samples: Vec<Duration>,
    #[serde(skip)]
    flood_samples: Vec<Duration>,
    #[serde(skip)]
    interrupt_samples: Vec<Duration>,
}

impl Row {
    fn new(system: System) -> Self {
        Self {
            system,
            label: system.label(),
            throughput_mbps: Vec::new(),
            echo: None,
            echo_under_flood: None,
            idle_bytes_per_min: None,
            idle_memory: None,
            interrupt: None,
            switches_per_key: None,
            switches: (0, 0),
            echo_samples: Vec::new(),
            flood_samples: Vec::new(),
            interrupt_samples: Vec::new(),
        }
    }

    /// Median throughput over the rounds.
    pub(crate) fn throughput(&self) -> Option<f64> {
        let mut v = self.throughput_mbps.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(v[v.len() / 2])
    }
}

/// Many idle authenticated connections on one gateway.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Scale {
    pub(crate) connections: usize,
    pub(crate) opened_in_s: f64,
    pub(crate) rss_per_connection_kib: f64,
    pub(crate) cpu_percent: f64,
    pub(crate) watched_s: f64,
    pub(crate) heartbeat_s: u64,
    pub(crate) still_connected: usize,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) date: String,
    pub(crate) machine: String,
    pub(crate) openssh: String,
    pub(crate) mosh: String,
    pub(crate) bytes: u64,
    pub(crate) keys: usize,
    pub(crate) rounds: usize,
    pub(crate) key_interval_ms: u64,
    pub(crate) idle_sessions: usize,
    pub(crate) idle_minutes: f64,
    pub(crate) idle_heartbeat_s: u64,
    pub(crate) rows: Vec<Row>,
    pub(crate) fairness: Vec<Fairness>,
    pub(crate) scale: Option<Scale>,
    pub(crate) command: String,
}

/// Ctrl-C measurements per system and round.
const INTERRUPTS: usize = 5;

/// A fast typist: one key every 20 ms.
const KEY_INTERVAL: Duration = Duration::from_millis(20);

/// How to reach one system: owned, so that a phase can run on a runtime of its own.
#[derive(Clone)]
enum Target {
    Raw,
    Devtail {
        url: String,
        token: String,
        options: ConnectOptions,
    },
    Ssh(Arc<Sshd>),
}

/// Where the terminals of one system come from, once connected.
enum Opener {
    Raw,
    Devtail(Box<Client>),
    Ssh(Arc<Sshd>),
}

impl Target {
    async fn connect(&self) -> anyhow::Result<Opener> {
        Ok(match self {
            Target::Raw => Opener::Raw,
            Target::Devtail {
                url,
                token,
                options,
            } => Opener::Devtail(Box::new(
                Client::connect(url, token, options.clone())
                    .await
                    .with_context(|| format!("connecting to {url}"))?,
            )),
            Target::Ssh(sshd) => Opener::Ssh(Arc::clone(sshd)),
        })
    }
}

impl Opener {
    /// A terminal running `script`; `shared`: on the same connection as the previous ones.
    async fn open(&self, script: &str, shared: bool) -> anyhow::Result<Tty> {
        match self {
            Opener::Raw => Tty::local(script),
            Opener::Devtail(client) => Ok(Tty::Devtail(client.open_terminal(sh(script)).await?)),
            Opener::Ssh(sshd) if shared => sshd.open_shared(script),
            Opener::Ssh(sshd) => sshd.open(script),
        }
    }

    async fn close(self) {
        if let Opener::Devtail(client) = self {
            client.close().await;
        }
    }
}

/// Keystroke echo on a single-threaded runtime of its own ([`crate::single_threaded`]).
async fn echo_single_threaded(target: Target, keys: usize) -> anyhow::Result<Vec<Duration>> {
    crate::single_threaded(move || async move {
        let opener = target.connect().await?;
        let echo = opener.open(tty::ECHO_SCRIPT, false).await?;
        let samples = tty::echo(echo, keys, KEY_INTERVAL).await;
        opener.close().await;
        samples
    })
    .await
}

/// `sh -c script` in a new terminal.
pub(crate) fn sh(script: &str) -> v1::TermOpen {
    v1::TermOpen {
        command: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        ..Default::default()
    }
}

pub(crate) async fn run(opts: Options) -> anyhow::Result<()> {
    crate::scale::raise_file_limit();
    let started = Instant::now();
    // Blocks until the gateway listens; nothing else runs yet.
    let gateway = TestGateway::start_binary(&opts.gateway, &[]);
    let sshd = Arc::new(Sshd::start(&opts.sshd).await?);
    let options = gateway.options();
    let url = |scheme: &str| format!("{scheme}://{}", gateway.addr);
    let mut rows: Vec<Row> = System::ALL.into_iter().map(Row::new).collect();

    // Idle first, on a fresh gateway: memory measured after the floods would partly reuse
    // what they left in the allocator.
    let heartbeat = idle_phase(&opts, &gateway, &sshd, &mut rows, started).await?;

    for round in 1..=opts.rounds {
        for system in System::ALL {
            let target = match system {
                System::RawPty => Target::Raw,
                System::DevtailWs | System::DevtailWss | System::DevtailQuic => {
                    let scheme = match system {
                        System::DevtailWs => "ws",
                        System::DevtailWss => "wss",
                        _ => "quic",
                    };
                    Target::Devtail {
                        url: url(scheme),
                        token: gateway.token.clone(),
                        options: options.clone(),
                    }
                }
                System::OpenSsh => Target::Ssh(Arc::clone(&sshd)),
                // mosh is measured idle only (its client repaints a screen, it has no byte
                // stream to time).
                System::Mosh => continue,
            };
            eprintln!(
                "[{:>4.0} s] round {round}/{}: {}",
                started.elapsed().as_secs_f64(),
                opts.rounds,
                system.label()
            );
            let opener = target.connect().await?;
            let flood = opener.open(&tty::flood_script(opts.bytes), false).await?;
            let mbps = tty::throughput(flood, opts.bytes)
                .await
                .with_context(|| format!("{}: throughput", system.label()))?;
            row_of(&mut rows, system).throughput_mbps.push(mbps);

            // Echo while another terminal of the same connection prints as fast as it can.
            let master = match &opener {
                Opener::Ssh(sshd) => Some(sshd.master().await?),
                _ => None,
            };
            let flood = tty::drain(opener.open(tty::ENDLESS_SCRIPT, true).await?).await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let echo = opener.open(tty::ECHO_SCRIPT, true).await?;
            let samples = tty::echo(echo, opts.keys, KEY_INTERVAL).await;
            flood.stop().await;
            drop(master);
            row_of(&mut rows, system)
                .flood_samples
                .extend(samples.with_context(|| format!("{}: echo under flood", system.label()))?);
            // Ctrl-C while a program floods its terminal (signal keys on, not raw).
            for _ in 0..INTERRUPTS {
                let flood = opener.open(tty::INTERRUPTIBLE_SCRIPT, false).await?;
                let took = tty::interrupt(flood, Duration::from_millis(300))
                    .await
                    .with_context(|| format!("{}: Ctrl-C under flood", system.label()))?;
                row_of(&mut rows, system).interrupt_samples.push(took);
            }
            opener.close().await;

            let switches_before = peers::context_switches(gateway.pid());
            let samples = echo_single_threaded(target, opts.keys)
                .await
                .with_context(|| format!("{}: echo", system.label()))?;
            let row = row_of(&mut rows, system);
            if system.is_devtail()
                && let Some(switches) = peers::context_switches(gateway.pid())
                    .zip(switches_before)
                    .and_then(|(after, before)| after.checked_sub(before))
            {
                row.switches.0 += switches;
                row.switches.1 += samples.len();
            }
            row.echo_samples.extend(samples);
        }
    }
    for r in &mut rows {
        r.echo = Latency::of(std::mem::take(&mut r.echo_samples));
        r.echo_under_flood = Latency::of(std::mem::take(&mut r.flood_samples));
        r.interrupt = Latency::of(std::mem::take(&mut r.interrupt_samples));
        if r.switches.1 > 0 {
            r.switches_per_key = Some(r.switches.0 as f64 / r.switches.1 as f64);
        }
    }

    let mut fairness = Vec::new();
    for quotas_off in [false, true] {
        eprintln!(
            "[{:>4.0} s] fairness, quotas {}",
            started.elapsed().as_secs_f64(),
            if quotas_off { "off" } else { "default" }
        );
        fairness.push(self::fairness(&opts.gateway, opts.keys, quotas_off).await?);
    }

    let scale = if opts.connections > 0 {
        eprintln!(
            "[{:>4.0} s] {} idle connections, watched for {} s",
            started.elapsed().as_secs_f64(),
            opts.connections,
            opts.connections_watch.as_secs()
        );
        Some(
            crate::scale::idle_connections(
                &url("ws"),
                &gateway.token,
                options.clone(),
                opts.connections,
                gateway.pid(),
                opts.connections_watch,
            )
            .await?,
        )
    } else {
        None
    };

    let report = Report {
        date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        machine: format!(
            "{} cores, {}",
            std::thread::available_parallelism().map_or(0, usize::from),
            command_output("uname", &["-sr"])
        ),
        openssh: peers::ssh_version(),
        mosh: peers::mosh_version(),
        bytes: opts.bytes,
        keys: opts.keys,
        rounds: opts.rounds,
        key_interval_ms: KEY_INTERVAL.as_millis() as u64,
        idle_sessions: opts.idle_sessions,
        idle_minutes: opts.idle_minutes,
        idle_heartbeat_s: heartbeat,
        rows,
        fairness,
        scale,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    std::fs::create_dir_all(&opts.out)?;
    let markdown = report::markdown(&report);
    std::fs::write(opts.out.join("compare.md"), &markdown)?;
    std::fs::write(
        opts.out.join("compare.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    println!("{markdown}");
    eprintln!(
        "[{:>4.0} s] wrote {} and {}",
        started.elapsed().as_secs_f64(),
        opts.out.join("compare.md").display(),
        opts.out.join("compare.json").display()
    );
    Ok(())
}

/// Idle sessions of every system at once: the server's memory per session, then IP bytes per
/// minute over the idle window. Returns devtail's heartbeat interval, seconds.
async fn idle_phase(
    opts: &Options,
    gateway: &TestGateway,
    sshd: &Sshd,
    rows: &mut [Row],
    started: Instant,
) -> anyhow::Result<u64> {
    let k = opts.idle_sessions;
    eprintln!(
        "[{:>4.0} s] opening {k} idle sessions of each system",
        started.elapsed().as_secs_f64()
    );
    let options = gateway.options();
    let mut devtail = Vec::new();
    let mut relays = Vec::new();
    for (system, quic) in [(System::DevtailWs, false), (System::DevtailQuic, true)] {
        // One session opened and closed first: what the first one sets up once (TLS and
        // QUIC state, the runtime's buffers) is not a cost per session.
        for warm_up in [true, false] {
            let before = peers::process_memory(gateway.pid());
            let count = if warm_up { 1 } else { k };
            for _ in 0..count {
                let url = if quic {
                    let relay = UdpRelay::start(gateway.addr).await?;
                    let url = format!("quic://{}", relay.addr());
                    relays.push(relay);
                    url
                } else {
                    format!("ws://{}", gateway.addr)
                };
                let client = Client::connect(&url, &gateway.token, options.clone()).await?;
                let mut terminal = Tty::Devtail(client.open_terminal(sh(tty::IDLE_SCRIPT)).await?);
                terminal.wait_for(b'R').await?;
                if warm_up {
                    terminal.kill().await?;
                    client.close().await;
                    relays.clear();
                } else {
                    devtail.push((client, terminal));
                }
            }
            // Let the screen models go idle.
            tokio::time::sleep(Duration::from_secs(2)).await;
            if !warm_up {
                let after = peers::process_memory(gateway.pid());
                row_of(rows, system).idle_memory = Some(SessionMemory::between(before, after, k));
            }
        }
    }

    let sshd_before = peers::memory_of("sshd", Some(sshd.pid()));
    let mut ssh = Vec::new();
    for _ in 0..k {
        let mut session = sshd.open(tty::IDLE_SCRIPT)?;
        session.wait_for(b'R').await?;
        ssh.push(session);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    row_of(rows, System::OpenSsh).idle_memory = Some(SessionMemory::between(
        sshd_before,
        peers::memory_of("sshd", Some(sshd.pid())),
        k,
    ));

    let mosh_before = peers::memory_of("mosh-server", None);
    let mut mosh = Vec::new();
    for _ in 0..k {
        mosh.push(Mosh::start().await?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    row_of(rows, System::Mosh).idle_memory = Some(SessionMemory::between(
        mosh_before,
        peers::memory_of("mosh-server", None),
        k,
    ));

    // Let the opening traffic and its acks settle, then count.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let gateway_port = gateway.addr.port();
    let ws_before = tcp_counters(gateway_port)?;
    anyhow::ensure!(
        ws_before.sockets == k,
        "ss shows {} gateway TCP sockets, expected {k}",
        ws_before.sockets
    );
    let ssh_before = tcp_counters(sshd.port())?;
    let quic_before: u64 = relays.iter().map(UdpRelay::ip_bytes).sum();
    let mosh_bytes = |mosh: &[Mosh]| -> u64 { mosh.iter().map(|m| m.relay.ip_bytes()).sum() };
    let mosh_before = mosh_bytes(&mosh);
    eprintln!(
        "[{:>4.0} s] idle for {:.1} min",
        started.elapsed().as_secs_f64(),
        opts.idle_minutes
    );
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(opts.idle_minutes * 60.0)).await;
    let minutes = window.elapsed().as_secs_f64() / 60.0;
    let per_minute = |bytes: u64| bytes as f64 / k as f64 / minutes;
    row_of(rows, System::DevtailWs).idle_bytes_per_min = Some(per_minute(
        tcp_counters(gateway_port)?.ip_bytes_since(&ws_before),
    ));
    row_of(rows, System::OpenSsh).idle_bytes_per_min = Some(per_minute(
        tcp_counters(sshd.port())?.ip_bytes_since(&ssh_before),
    ));
    row_of(rows, System::DevtailQuic).idle_bytes_per_min = Some(per_minute(
        relays.iter().map(UdpRelay::ip_bytes).sum::<u64>() - quic_before,
    ));
    row_of(rows, System::Mosh).idle_bytes_per_min =
        Some(per_minute(mosh_bytes(&mosh) - mosh_before));

    let heartbeat = devtail.first().map_or(0, |(c, _)| {
        u64::from(c.welcome().heartbeat_interval_ms) / 1000
    });
    for (client, terminal) in devtail {
        let _ = terminal.kill().await;
        client.close().await;
    }
    for session in ssh {
        let _ = session.kill().await;
    }
    for session in mosh {
        session.stop().await;
    }
    Ok(heartbeat)
}

fn row_of(rows: &mut [Row], system: System) -> &mut Row {
    rows.iter_mut()
        .find(|r| r.system == system)
        .expect("every system has a row")
}

fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
