//! A mixed, mobile-like workload: many devices at once on one gateway, each typing into a
//! terminal at a person's pace while a second terminal prints build-log bursts on demand, with
//! resizes along the way and one network drop per device (its connection cut, the session
//! resumed). Every byte of every burst must arrive exactly once; the echo is timed across it
//! all. Runs over ws, wss and quic in turn, each on a gateway of its own.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use devtail_client::{Client, ConnectOptions};
use devtail_tests::{TestGateway, Transport};
use serde::Serialize;

use crate::compare::tty::{ECHO_SCRIPT, Tty};
use crate::compare::{Latency, sh};

/// Bytes of build log one burst prints.
const BURST: usize = 256 << 10;

/// Pause between a device's keystrokes (a person typing), ± a third.
const KEY_EVERY: Duration = Duration::from_millis(150);

/// Pause between a device's bursts, ± a third.
const BURST_EVERY: Duration = Duration::from_secs(2);

/// The log the bursts print from: `BURST` bytes of build-log lines (no `#`, which ends a burst).
const LOG_FILE: &str = "mixed-build.log";

/// Prints `R` once ready, then for each line `N` it reads, the first `N` bytes of the log and a
/// `#`.
fn burst_script() -> String {
    format!(
        "stty raw -echo; printf R; while IFS= read -r n; do head -c \"$n\" {LOG_FILE}; printf '#'; done"
    )
}

/// Build-log lines, varied enough that compression does real work.
fn build_log(len: usize) -> Vec<u8> {
    let crates = [
        "tokio", "serde", "prost", "quinn", "rustls", "zstd", "vte", "clap",
    ];
    let mut log = Vec::with_capacity(len + 128);
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut line = 0u32;
    while log.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let name = crates[(state % crates.len() as u64) as usize];
        line += 1;
        log.extend_from_slice(
            format!(
                "   Compiling {name} v{}.{}.{} (step {line}, {} ms)\n",
                state % 3,
                (state >> 8) % 40,
                (state >> 16) % 20,
                (state >> 24) % 5000
            )
            .as_bytes(),
        );
    }
    log.truncate(len);
    log
}

/// One transport's figures.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Mixed {
    pub(crate) transport: &'static str,
    pub(crate) devices: usize,
    pub(crate) seconds: f64,
    /// Every keystroke of every device but the first after its drop.
    pub(crate) echo: Latency,
    /// The first keystroke after each drop: the resume and the echo together.
    pub(crate) echo_after_drop: Latency,
    pub(crate) bursts: usize,
    /// Bursts that arrived byte-exact, exactly once.
    pub(crate) bursts_exact: usize,
    pub(crate) burst_bytes: u64,
    /// Devices whose session went on after their connection was cut (the first keystroke after
    /// the cut echoed, on the same terminal).
    pub(crate) resumes: usize,
    pub(crate) gateway_cpu_percent: f64,
    pub(crate) gateway_rss_kib: u64,
}

/// What one device saw.
#[derive(Default)]
struct Device {
    echo: Vec<Duration>,
    after_drop: Vec<Duration>,
    bursts: usize,
    exact: usize,
    bytes: u64,
    /// The first keystroke after the cut echoed.
    resumed: bool,
}

/// Runs the workload over ws, wss and quic, each on a fresh gateway from `binary`.
pub(crate) async fn run(binary: &Path, devices: usize, seconds: u64) -> anyhow::Result<Vec<Mixed>> {
    let mut rows = Vec::new();
    for (transport, name) in [
        (Transport::Ws, "ws"),
        (Transport::Wss, "wss"),
        (Transport::Quic, "quic"),
    ] {
        eprintln!("mixed workload over {name}: {devices} devices for {seconds} s");
        let gateway = TestGateway::start_binary(binary, &[]).on(transport);
        rows.push(one(&gateway, name, devices, Duration::from_secs(seconds)).await?);
    }
    Ok(rows)
}

async fn one(
    gateway: &TestGateway,
    transport: &'static str,
    devices: usize,
    length: Duration,
) -> anyhow::Result<Mixed> {
    let log = Arc::new(build_log(BURST));
    std::fs::write(gateway.workspace.path().join(LOG_FILE), &*log)?;
    let cpu_before = crate::scale::cpu_seconds(gateway.pid())?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for index in 0..devices {
        // Resuming after a cut, as the app does.
        let options = ConnectOptions {
            reconnect: true,
            ..gateway.options()
        };
        let client = Client::connect(&gateway.url(), &gateway.token, options).await?;
        let log = Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            device(client, index as u64, log, started + length).await
        }));
    }
    let mut all = Device::default();
    let mut resumes = 0;
    for task in tasks {
        let device = task.await?.context("a device failed")?;
        all.echo.extend(device.echo);
        all.after_drop.extend(device.after_drop);
        all.bursts += device.bursts;
        all.exact += device.exact;
        all.bytes += device.bytes;
        resumes += usize::from(device.resumed);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = crate::scale::cpu_seconds(gateway.pid())? - cpu_before;
    Ok(Mixed {
        transport,
        devices,
        seconds: elapsed,
        echo: Latency::of(all.echo).context("no keystrokes")?,
        echo_after_drop: Latency::of(all.after_drop).context("no drops")?,
        bursts: all.bursts,
        bursts_exact: all.exact,
        burst_bytes: all.bytes,
        resumes,
        gateway_cpu_percent: cpu / elapsed * 100.0,
        gateway_rss_kib: gateway.rss_kib(),
    })
}

/// A pause of `mean` ± a third, from `state` (xorshift).
fn jittered(mean: Duration, state: &mut u64) -> Duration {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let third = mean / 3;
    mean - third + third * 2 * ((*state % 1000) as u32) / 1000
}

async fn device(
    client: Client,
    index: u64,
    log: Arc<Vec<u8>>,
    until: Instant,
) -> anyhow::Result<Device> {
    let mut typing = Tty::Devtail(client.open_terminal(sh(ECHO_SCRIPT)).await?);
    typing.wait_for(b'R').await?;
    let build_terminal = client.open_terminal(sh(&burst_script())).await?;
    let resizer = build_terminal.writer();
    let mut build = Tty::Devtail(build_terminal);
    build.wait_for(b'R').await?;

    let mut seed = 0x9e37_79b9_7f4a_7c15 ^ (index + 1).wrapping_mul(0x2545_f491);
    let bursts = tokio::spawn({
        let mut seed = seed ^ 0xdead_beef;
        async move {
            let mut seen = Device::default();
            let mut buf = Vec::new();
            let mut tall = false;
            while Instant::now() + BURST_EVERY < until {
                tokio::time::sleep(jittered(BURST_EVERY, &mut seed)).await;
                tall = !tall;
                let (rows, cols) = if tall { (50, 120) } else { (24, 80) };
                resizer.resize(rows, cols).await?;
                build.send(format!("{BURST}\n").as_bytes()).await?;
                seen.bursts += 1;
                // The log holds no `#`: the first one ends the burst, whatever came before it.
                let mut got = Vec::with_capacity(BURST + 1);
                loop {
                    let Some(n) = build.recv(&mut buf).await? else {
                        bail!("the build terminal ended");
                    };
                    got.extend_from_slice(&buf[..n]);
                    if buf[..n].contains(&b'#') {
                        break;
                    }
                }
                seen.bytes += got.len() as u64;
                if got.len() == BURST + 1 && got[..BURST] == log[..] {
                    seen.exact += 1;
                }
            }
            build.kill().await?;
            anyhow::Ok(seen)
        }
    });

    // The drop comes somewhere in the middle third of the run.
    let left = until.saturating_duration_since(Instant::now());
    let mut drop_at = Some(Instant::now() + left / 3 + jittered(left / 6, &mut seed));
    let mut seen = Device::default();
    let mut buf = Vec::new();
    while Instant::now() < until {
        tokio::time::sleep(jittered(KEY_EVERY, &mut seed)).await;
        let dropped = drop_at.is_some_and(|at| Instant::now() >= at);
        if dropped {
            drop_at = None;
            client.reconnect_now();
        }
        let sent = Instant::now();
        typing.send(b"k").await?;
        loop {
            let Some(n) = typing.recv(&mut buf).await? else {
                let why = match &typing {
                    Tty::Devtail(terminal) => terminal.closed_reason(),
                    _ => None,
                };
                bail!("the typing terminal ended: {}", why.unwrap_or_default());
            };
            if buf[..n].contains(&b'k') {
                break;
            }
        }
        if dropped {
            seen.after_drop.push(sent.elapsed());
            seen.resumed = true;
        } else {
            seen.echo.push(sent.elapsed());
        }
    }
    typing.kill().await?;
    let built = bursts.await??;
    seen.bursts = built.bursts;
    seen.exact = built.exact;
    seen.bytes = built.bytes;
    client.close().await;
    Ok(seen)
}

/// The figures as a markdown table.
pub(crate) fn table(rows: &[Mixed]) -> String {
    let mut md = String::from(
        "| transport | devices | echo p50 / p99 / p99.9 | first key after a cut | bursts byte-exact | gateway CPU | gateway RSS |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        md.push_str(&format!(
            "| {} | {} | {:.0} / {:.0} / {:.0} µs ({} keys) | p50 {:.0} ms, max {:.0} ms ({} resumed) | {} of {} ({:.1} MB) | {:.1} % | {:.1} MiB |\n",
            r.transport,
            r.devices,
            r.echo.p50_us,
            r.echo.p99_us,
            r.echo.p999_us,
            r.echo.samples,
            r.echo_after_drop.p50_us / 1000.0,
            r.echo_after_drop.max_us / 1000.0,
            r.resumes,
            r.bursts_exact,
            r.bursts,
            r.burst_bytes as f64 / 1e6,
            r.gateway_cpu_percent,
            r.gateway_rss_kib as f64 / 1024.0,
        ));
    }
    md
}
