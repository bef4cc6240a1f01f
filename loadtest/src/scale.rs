//! Many idle connections at once: the gateway's memory per connection and its CPU while they
//! sit idle with their heartbeats.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use devtail_client::{Client, ConnectOptions};

use crate::compare::Scale;
use crate::rss_kib;

/// Connections opened at once while ramping up.
const RAMP_BATCH: usize = 200;

/// CPU seconds (user + system) the process with `pid` has used.
pub(crate) fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let after = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest)
        .context("malformed /proc stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields.get(i).context("short /proc stat")?.parse::<f64>()?)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    let hz = rustix::param::clock_ticks_per_second() as f64;
    Ok((ticks(11)? + ticks(12)?) / hz)
}

/// Opens `count` authenticated sessions (no terminals), waits for them to settle, then watches
/// the gateway for `idle` with every connection sending its heartbeats.
pub(crate) async fn idle_connections(
    url: &str,
    token: &str,
    options: ConnectOptions,
    count: usize,
    pid: u32,
    idle: Duration,
) -> anyhow::Result<Scale> {
    raise_file_limit();
    let before = rss_kib(pid)?;
    let started = Instant::now();
    let mut clients = Vec::with_capacity(count);
    while clients.len() < count {
        let batch = RAMP_BATCH.min(count - clients.len());
        let connecting = (0..batch).map(|_| Client::connect(url, token, options.clone()));
        for client in futures_util::future::join_all(connecting).await {
            clients.push(client.with_context(|| format!("connection {}", clients.len() + 1))?);
        }
    }
    let ramp = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid)?;
    let cpu_start = cpu_seconds(pid)?;
    let watch_start = Instant::now();
    tokio::time::sleep(idle).await;
    let watched = watch_start.elapsed().as_secs_f64();
    let cpu = (cpu_seconds(pid)? - cpu_start) / watched * 100.0;
    let alive = clients
        .iter()
        .filter(|c| c.closed_reason().is_none())
        .count();
    let scale = Scale {
        connections: count,
        opened_in_s: ramp.as_secs_f64(),
        rss_per_connection_kib: after.saturating_sub(before) as f64 / count as f64,
        cpu_percent: cpu,
        watched_s: watched,
        heartbeat_s: u64::from(clients[0].welcome().heartbeat_interval_ms) / 1000,
        still_connected: alive,
    };
    for client in clients {
        client.close().await;
    }
    anyhow::ensure!(alive == count, "{} connections dropped", count - alive);
    Ok(scale)
}

impl std::fmt::Display for Scale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "idle connections: {} opened in {:.1} s; {:.1} KiB gateway RSS per connection; \
             gateway CPU {:.2} % of one core over {:.0} s idle (heartbeat {} s); {} still connected",
            self.connections,
            self.opened_in_s,
            self.rss_per_connection_kib,
            self.cpu_percent,
            self.watched_s,
            self.heartbeat_s,
            self.still_connected
        )
    }
}

/// This process needs a file descriptor per connection.
pub(crate) fn raise_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
}
