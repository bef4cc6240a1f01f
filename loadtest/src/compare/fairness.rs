//! Fairness: one device's keystroke echo while a second device floods the gateway with input,
//! on a gateway of its own, and what of the flood the gateway took.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use devtail_client::proto::v1::envelope::Body;
use devtail_client::{Client, ConnectOptions, FrameTap, TapDirection};
use devtail_tests::TestGateway;
use serde::Serialize;

use super::tty::Tty;
use super::{Latency, Target, echo_single_threaded, sh};

/// A device's quotas on the gateway, per second.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Quotas {
    pub(crate) frames_per_sec: u32,
    pub(crate) input_bytes_per_sec: u32,
}

/// The gateway's default quotas (`--max-frames-per-sec`, `--max-input-bytes-per-sec`), given
/// to it explicitly by the fairness run.
pub(crate) const DEFAULT_QUOTAS: Quotas = Quotas {
    frames_per_sec: 1000,
    input_bytes_per_sec: 4 << 20,
};

/// One device's keystroke echo, alone and while another device floods the gateway with
/// input (tiny frames and 64 KiB pastes, as fast as its client sends them).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Fairness {
    /// The gateway's quotas; `None`: off.
    pub(crate) quotas: Option<Quotas>,
    pub(crate) alone: Latency,
    pub(crate) during_flood: Latency,
    /// What the flooding device got through, frames/s and input bytes/s.
    pub(crate) flood_frames_per_sec: f64,
    pub(crate) flood_input_bytes_per_sec: f64,
    /// How much of its quotas the flood used: frames/s over the frames quota plus input
    /// bytes/s over the input quota. The flood's client queues far ahead, first mostly tiny
    /// frames (held at the frames quota), then mostly pastes (held at the input quota): which
    /// of the two a window sees varies from run to run, their sum does not. About 1 (a little
    /// more: pastes are frames too) when the gateway admits all its quotas allow; under 1 when
    /// it holds the device back further.
    pub(crate) quota_use: Option<f64>,
}

/// A client's frames as the gateway acknowledges them: the terminal input bytes of every
/// sequenced frame sent, and the highest acknowledgement received.
#[derive(Default)]
struct Through {
    /// Input bytes of frames 1..=n, summed (index n - 1).
    sent: std::sync::Mutex<Vec<u64>>,
    acked: AtomicU64,
}

impl Through {
    fn tap(self: Arc<Self>) -> FrameTap {
        Arc::new(move |direction, _, _, envelope| match direction {
            TapDirection::Sent if envelope.seq > 0 => {
                let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
                // Retransmissions (after a reconnect) were counted the first time.
                if envelope.seq == sent.len() as u64 + 1 {
                    let bytes = match &envelope.body {
                        Some(Body::TermData(data)) => data.data.len() as u64,
                        _ => 0,
                    };
                    let total = sent.last().copied().unwrap_or(0) + bytes;
                    sent.push(total);
                }
            }
            TapDirection::Received => {
                self.acked.fetch_max(envelope.ack, Ordering::Relaxed);
            }
            TapDirection::Sent => {}
        })
    }

    /// Frames and terminal input bytes the gateway has acknowledged so far. The tap sees a
    /// frame once it is written, and its ack can come back before that: what the tap has not
    /// seen yet is counted at the next call.
    fn acknowledged(&self) -> (u64, u64) {
        let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let acked = self.acked.load(Ordering::Relaxed).min(sent.len() as u64);
        let bytes = acked
            .checked_sub(1)
            .map_or(0, |i| sent[usize::try_from(i).unwrap_or(usize::MAX)]);
        (acked, bytes)
    }
}

/// Keystrokes per fairness echo run at the least: its figure is a ratio of two p99s. About 1 %
/// of keystrokes stall 1–3 ms on a busy 2-core machine whatever the gateway does, so the p99
/// of a few hundred samples is one stall more or less. With the default quotas, 500 samples
/// gave 0.67× and 2.16× in two runs, 1000 gave 0.98–1.17× in three: 1500 (30 s a run).
const FAIRNESS_KEYS: usize = 1500;

/// How long the flood of the fairness run goes on before its window opens.
const FLOOD_SETTLE: Duration = Duration::from_secs(4);

/// Echo of the gateway's own device alone, then while a second device floods: `keys`
/// keystrokes a run, at least [`FAIRNESS_KEYS`].
pub(super) async fn run(
    gateway: &TestGateway,
    quotas: Option<Quotas>,
    keys: usize,
) -> anyhow::Result<Fairness> {
    let keys = keys.max(FAIRNESS_KEYS);

    let url = format!("ws://{}", gateway.addr);
    let target = Target::Devtail {
        url: url.clone(),
        token: gateway.token.clone(),
        options: gateway.options(),
    };
    let alone = echo_single_threaded(target.clone(), keys).await?;

    // What got through is what the gateway acknowledged: the flooder's client queues far
    // ahead of it (its replay budget holds tens of thousands of tiny frames), so counting the
    // client's writes would measure the budget, not the gateway.
    let through = Arc::new(Through::default());
    let options = ConnectOptions {
        tap: Some(Arc::clone(&through).tap()),
        ..gateway.options()
    };
    let flooder = Client::connect(&url, &gateway.add_device("flooder"), options).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut floods = Vec::new();
    for paste in [1usize, 64 << 10] {
        let mut sink = Tty::Devtail(
            flooder
                .open_terminal(sh("stty raw -echo; printf R; exec cat > /dev/null"))
                .await?,
        );
        sink.wait_for(b'R').await?;
        let stop = Arc::clone(&stop);
        floods.push(tokio::spawn(async move {
            let data = vec![b'x'; paste];
            while !stop.load(Ordering::Relaxed) {
                if sink.send(&data).await.is_err() {
                    break;
                }
            }
            let _ = sink.kill().await;
        }));
    }
    // The first second's burst of the quota goes by before the window opens.
    tokio::time::sleep(FLOOD_SETTLE).await;
    let before = through.acknowledged();
    let window = Instant::now();
    let during = echo_single_threaded(target, keys).await?;
    let secs = window.elapsed().as_secs_f64();
    let after = through.acknowledged();
    let flood_frames_per_sec = (after.0 - before.0) as f64 / secs;
    let flood_input_bytes_per_sec = (after.1 - before.1) as f64 / secs;
    stop.store(true, Ordering::Relaxed);
    for flood in floods {
        let _ = tokio::time::timeout(Duration::from_secs(5), flood).await;
    }
    flooder.close().await;
    let quota_use = quotas.map(|q| {
        flood_frames_per_sec / f64::from(q.frames_per_sec)
            + flood_input_bytes_per_sec / f64::from(q.input_bytes_per_sec)
    });
    Ok(Fairness {
        quotas,
        alone: Latency::of(alone).context("no echo samples")?,
        during_flood: Latency::of(during).context("no echo samples")?,
        flood_frames_per_sec,
        flood_input_bytes_per_sec,
        quota_use,
    })
}
