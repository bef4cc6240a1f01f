//! ws vs wss vs quic in one run: output throughput, keystroke echo, and keystroke echo while
//! another terminal of the same connection floods (interactive must not queue behind bulk).

use std::time::Duration;

use anyhow::Context as _;
use devtail_client::{Client, ConnectOptions, GatewayUrl, Scheme};

use crate::compare::sh;
use crate::compare::tty::{self, Tty};
use crate::{echo_samples, micros, percentile, throughput_mbps};

/// Flood used for throughput and as the bulk load.
const SOURCE: &str = "yes 'devtail throughput: the quick brown fox jumps over the lazy dog 0123456789' | head -c {bytes}";

struct Row {
    scheme: &'static str,
    mbps: f64,
    echo: Vec<Duration>,
    echo_under_bulk: Vec<Duration>,
}

/// Runs the comparison against the gateway at `url`'s host and port.
pub(crate) async fn compare(
    url: &str,
    token: &str,
    fingerprint: Option<String>,
    bytes: u64,
    keys: usize,
) -> anyhow::Result<()> {
    let base = GatewayUrl::parse(url).map_err(anyhow::Error::msg)?;
    let options = ConnectOptions {
        fingerprint,
        ..Default::default()
    };
    let mut rows = Vec::new();
    for (scheme, name) in [
        (Scheme::Ws, "ws"),
        (Scheme::Wss, "wss"),
        (Scheme::Quic, "quic"),
    ] {
        let url = GatewayUrl {
            scheme,
            ..base.clone()
        }
        .to_string();
        let client = Client::connect(&url, token, options.clone())
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let mbps = throughput_mbps(&client, bytes, SOURCE).await?;
        let echo = echo_samples(&client, keys, Duration::from_millis(20)).await?;
        let echo_under_bulk = under_bulk(&client, keys).await?;
        client.close().await;
        rows.push(Row {
            scheme: name,
            mbps,
            echo,
            echo_under_bulk,
        });
    }
    println!(
        "| transport | throughput ({} MB) | echo p50 / p99 | echo p50 / p99 while another terminal floods |",
        bytes / 1_000_000
    );
    println!("|---|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {:.1} MB/s | {:.0} / {:.0} µs | {:.0} / {:.0} µs |",
            row.scheme,
            row.mbps,
            micros(percentile(&row.echo, 50.0)),
            micros(percentile(&row.echo, 99.0)),
            micros(percentile(&row.echo_under_bulk, 50.0)),
            micros(percentile(&row.echo_under_bulk, 99.0)),
        );
    }
    Ok(())
}

/// Echo latencies while a second terminal on the same connection prints as fast as it can.
async fn under_bulk(client: &Client, keys: usize) -> anyhow::Result<Vec<Duration>> {
    let flood = Tty::Devtail(client.open_terminal(sh(tty::ENDLESS_SCRIPT)).await?);
    // Read the flood as fast as it comes, elsewhere, until it is stopped.
    let flood = tty::drain(flood).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let samples = echo_samples(client, keys, Duration::from_millis(20)).await;
    flood.stop().await;
    samples
}
