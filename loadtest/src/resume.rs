//! Session scenarios: how fast a dropped session is back, and what an idle one costs on the
//! wire.

use std::net::{SocketAddr, ToSocketAddrs as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use devtail_client::proto::v1::envelope::Body;
use devtail_client::{Client, ConnectOptions, FrameTap, GatewayUrl, Status, TapDirection};
use devtail_tests::chaos::ChaosProxy;

use crate::{await_byte, percentile, raw_sh};

fn gateway_addr(url: &str) -> anyhow::Result<SocketAddr> {
    let url = GatewayUrl::parse(url).map_err(anyhow::Error::msg)?;
    (url.host.as_str(), url.port)
        .to_socket_addrs()?
        .next()
        .context("the gateway's host does not resolve")
}

/// When the latest resumed Welcome and the first output frame after it arrived.
#[derive(Debug, Default)]
struct Probe {
    welcome: Option<Instant>,
    first_output: Option<Instant>,
}

/// Cuts the session's connection `count` times while a program prints a line every 20 ms, keeps
/// the network down for `outage` (output piles up in the gateway's replay buffer), and times,
/// from the moment the new TCP connection is accepted, the resumed Welcome and the first
/// replayed output frame.
pub(crate) async fn resume_latency(
    url: &str,
    token: &str,
    count: usize,
    outage: Duration,
) -> anyhow::Result<()> {
    let proxy = ChaosProxy::start(gateway_addr(url)?).await;
    let probe = Arc::new(Mutex::new(Probe::default()));
    let tap: FrameTap = {
        let probe = Arc::clone(&probe);
        Arc::new(move |direction, _, _, envelope| {
            if direction != TapDirection::Received {
                return;
            }
            let mut probe = probe.lock().unwrap_or_else(|p| p.into_inner());
            match &envelope.body {
                Some(Body::Welcome(welcome)) if welcome.resumed => {
                    probe.welcome = Some(Instant::now());
                    probe.first_output = None;
                }
                Some(Body::TermData(_)) if probe.welcome.is_some() => {
                    probe.first_output.get_or_insert_with(Instant::now);
                }
                _ => {}
            }
        })
    };
    let options = ConnectOptions {
        reconnect: true,
        tap: Some(tap),
        ..Default::default()
    };
    let client = Client::connect(&proxy.url(), token, options).await?;
    let mut status = client.status();
    let mut terminal = client
        .open_terminal(raw_sh("while :; do echo tick; sleep 0.02; done"))
        .await?;
    await_byte(&mut terminal, b'\n').await?;
    // Output is read all along, so that the reader never waits.
    let drain = tokio::spawn(async move { while terminal.next_event().await.is_some() {} });

    let mut to_welcome = Vec::with_capacity(count);
    let mut to_output = Vec::with_capacity(count);
    for _ in 0..count {
        proxy.set_refusing(true);
        proxy.cut_all();
        tokio::time::timeout(
            Duration::from_secs(10),
            status.wait_for(|s| matches!(s, Status::Reconnecting { .. })),
        )
        .await
        .context("the client did not notice the cut")??;
        *probe.lock().unwrap_or_else(|p| p.into_inner()) = Probe::default();
        tokio::time::sleep(outage).await;
        proxy.set_refusing(false);
        let deadline = Instant::now() + Duration::from_secs(30);
        let (welcome, output) = loop {
            let seen = {
                let probe = probe.lock().unwrap_or_else(|p| p.into_inner());
                probe.welcome.zip(probe.first_output)
            };
            if let Some(seen) = seen {
                break seen;
            }
            if Instant::now() > deadline {
                bail!("the session did not resume within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let accepted = proxy.last_accepted_at().context("no connection accepted")?;
        to_welcome.push(welcome.saturating_duration_since(accepted));
        to_output.push(output.saturating_duration_since(accepted));
    }
    drain.abort();
    to_welcome.sort();
    to_output.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "resume: {count} cuts, {} ms outages; from TCP accept to the resumed Welcome: p50 {:.2} ms, \
         p90 {:.2} ms, max {:.2} ms; to the first replayed output byte: p50 {:.2} ms, p90 {:.2} ms, \
         max {:.2} ms",
        outage.as_millis(),
        ms(percentile(&to_welcome, 50.0)),
        ms(percentile(&to_welcome, 90.0)),
        ms(*to_welcome.last().context("no samples")?),
        ms(percentile(&to_output, 50.0)),
        ms(percentile(&to_output, 90.0)),
        ms(*to_output.last().context("no samples")?),
    );
    Ok(())
}

/// Kernel counters of the gateway's established TCP sockets on `port` (`ss -ti`).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TcpCounters {
    pub(crate) sockets: usize,
    bytes: u64,
    segments: u64,
    timestamps: bool,
}

impl TcpCounters {
    /// IP bytes since `before`: payload plus the IP and TCP headers of every segment.
    pub(crate) fn ip_bytes_since(&self, before: &TcpCounters) -> u64 {
        let payload = self.bytes.saturating_sub(before.bytes);
        let segments = self.segments.saturating_sub(before.segments);
        payload + segments * self.header()
    }

    /// IPv4 (20 B) and TCP (20 B, 32 B with timestamps) headers.
    fn header(&self) -> u64 {
        if self.timestamps { 52 } else { 40 }
    }
}

pub(crate) fn tcp_counters(port: u16) -> anyhow::Result<TcpCounters> {
    let out = std::process::Command::new("ss")
        .args(["-tinH", "state", "established"])
        .arg(format!("( sport = :{port} )"))
        .output()
        .context("run ss (iproute2)")?;
    if !out.status.success() {
        bail!("ss failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut counters = TcpCounters::default();
    for line in text.lines().filter(|l| l.contains("segs_out:")) {
        counters.sockets += 1;
        counters.timestamps |= line.split_whitespace().any(|w| w == "ts");
        for word in line.split_whitespace() {
            let Some((key, value)) = word.split_once(':') else {
                continue;
            };
            let Ok(value) = value.parse::<u64>() else {
                continue;
            };
            match key {
                "bytes_sent" | "bytes_received" => counters.bytes += value,
                "segs_out" | "segs_in" => counters.segments += value,
                _ => {}
            }
        }
    }
    Ok(counters)
}

/// Opens `connections` sessions, each with an idle terminal, lets them sit for `duration`, and
/// reports the IP bytes per connection per minute, both directions, from the kernel's own
/// counters of the gateway's sockets: TCP payload plus 20 B of IP and 20 B of TCP header per
/// segment (32 B with timestamps), acks included.
pub(crate) async fn idle_bytes(
    url: &str,
    token: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    let port = gateway_addr(url)?.port();
    let mut sessions = Vec::with_capacity(connections);
    for _ in 0..connections {
        let client = Client::connect(url, token, ConnectOptions::default()).await?;
        let mut terminal = client
            .open_terminal(raw_sh("echo ready; exec sleep 86400"))
            .await?;
        await_byte(&mut terminal, b'\n').await?;
        sessions.push((client, terminal));
    }
    let heartbeat = sessions[0].0.welcome().heartbeat_interval_ms;
    // Let the opening traffic's acks settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = tcp_counters(port)?;
    if before.sockets < connections {
        bail!(
            "ss shows {} gateway sockets on port {port}, expected {connections}",
            before.sockets
        );
    }
    let start = Instant::now();
    tokio::time::sleep(duration).await;
    let after = tcp_counters(port)?;
    let minutes = start.elapsed().as_secs_f64() / 60.0;
    let header = after.header();
    let payload = after.bytes.saturating_sub(before.bytes);
    let segments = after.segments.saturating_sub(before.segments);
    let ip_bytes = after.ip_bytes_since(&before);
    let per = |total: u64| total as f64 / connections as f64 / minutes;
    println!(
        "idle: {connections} connections for {:.1} min, heartbeat {} s: {:.0} IP bytes/min per \
         connection both ways ({:.0} B payload + {:.1} segments × {header} B header per minute)",
        minutes,
        heartbeat / 1000,
        per(ip_bytes),
        per(payload),
        per(segments),
    );
    for (client, _) in sessions {
        client.close().await;
    }
    Ok(())
}

/// Starts `count` sessions through a chaos proxy, each with a terminal that prints
/// `away_kib` KiB a second after the connection is cut, cuts them all, and reports the
/// gateway's RSS per lingering session (its terminal and what it keeps for the resume).
pub(crate) async fn lingering_sessions(
    url: &str,
    token: &str,
    count: usize,
    pid: u32,
    away_kib: u64,
) -> anyhow::Result<()> {
    let proxy = ChaosProxy::start(gateway_addr(url)?).await;
    let before = crate::rss_kib(pid)?;
    let mut sessions = Vec::with_capacity(count);
    let script = format!(
        "echo ready; read _; sleep 1; head -c {} /dev/zero | tr '\\0' x; exec sleep 86400",
        away_kib * 1024
    );
    for _ in 0..count {
        let client = Client::connect(&proxy.url(), token, ConnectOptions::default()).await?;
        let mut terminal = client.open_terminal(raw_sh(&script)).await?;
        await_byte(&mut terminal, b'\n').await?;
        terminal.write(&b"\n"[..]).await?;
        sessions.push((client, terminal));
    }
    // Give the last go time to arrive, then drop every connection without a Close: the
    // sessions linger, and their terminals print while they are away.
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.cut_all();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = crate::rss_kib(pid)?;
    let per = after.saturating_sub(before) as f64 / count as f64;
    println!(
        "lingering sessions: {count} away, each with a terminal that printed {away_kib} KiB \
         meanwhile: gateway RSS {before} → {after} KiB, {per:.0} KiB per session"
    );
    drop(sessions);
    Ok(())
}
