//! Criterion benches of the sans-IO reliability core (`devtail_proto::reliability`) on its own:
//! no codec, no IO. What one session side pays per frame for sequencing and the replay buffer,
//! and what the core alone costs when a phone reconnects.
//!
//! - `send/acked/<chunk bytes>`: the gateway stamping a `TermData` envelope and keeping it for
//!   replay, with the client's ack arriving after every 512 KiB of output (`DEFAULT_ACK_BYTES`,
//!   how often the client acks under a flood): the steady cost of sending, pruning included.
//! - `send/at_budget/<chunk bytes>`: the same while disconnected with the 8 MiB budget full:
//!   every send also drops the oldest frame (and remembers its channel for the resume's gap).
//! - `receive/<chunk bytes>`: the client taking in-order `TermData` (duplicate detection, ack
//!   bookkeeping) and polling for a due ack; building the envelope (a `Bytes` clone) included.
//! - `ack/<frames>`: the gateway receiving one `Ack` that covers N held 4 KiB frames and frees
//!   them from the replay buffer: N = 1 (a keystroke's echo), 16, 128 (one 512 KiB ack window),
//!   2048 (8 MiB, a whole budget).
//! - `resume/<frame bytes>/<total>`: after a reconnect where the phone got none of the buffered
//!   output, `resume` then draining `poll_transmit`: 1 MiB and 8 MiB in 4 KiB frames, 1 MiB in
//!   64 B frames.
//!
//! Why: every PTY read the gateway sends goes through `send` and every reconnect through
//! `resume`. These say how much of a frame's cost is the core's, next to the codec's (`codec`
//! bench), and how long the core alone takes to hand a phone its backlog.
//!
//! Time is a virtual clock (quinn-proto style): one `Instant` taken at start and passed in, never
//! advanced, so no ack, heartbeat or idle deadline fires on its own. Inputs are consecutive
//! chunks of the terminal corpus (`devtail_bench::Corpus`), repeated where more is needed than it
//! holds. Payloads are shared `Bytes`: the figures are the core's bookkeeping (envelope structs,
//! the `VecDeque`, costs), never copies of terminal bytes.
//!
//! `cargo bench -p devtail-bench --bench reliability -- --quick`

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput, measurement::WallTime,
};
use devtail_bench::{BENCH_CHANNEL, Corpus, cycled_chunks, exact_chunks, term_body};
use devtail_proto::reliability::{Config, DEFAULT_ACK_BYTES, Delivery, Reliability, Resume, Role};
use devtail_proto::v1::{self, Envelope, envelope::Body};

/// PTY read sizes measured by `send` and `receive` (as in the `codec` bench).
const SIZES: [usize; 4] = [64, 1024, 4096, 64 << 10];

/// Frame size of the `ack` group: a typical PTY read under load.
const ACK_FRAME: usize = 4096;

/// Frames one ack covers in the `ack` group.
const ACK_SPANS: [usize; 4] = [1, 16, 128, 2048];

/// Setups held at once by the `ack` group: one timer read per 64 acks, and at most
/// 64 × 2048 held envelopes (≈ 40 MB of structs; the payloads are shared) in memory.
const ACK_BATCH: u64 = 64;

/// `resume` cases: frame bytes and total bytes buffered.
const RESUMES: [(usize, usize); 3] = [(4096, 1 << 20), (4096, 8 << 20), (64, 1 << 20)];

fn gateway(now: Instant) -> Reliability {
    Reliability::new(Config::new(Role::Gateway), now)
}

/// The client's `Ack` of everything up to `seq`.
fn ack(seq: u64) -> Envelope {
    Envelope {
        seq: 0,
        ack: seq,
        channel: 0,
        body: Some(Body::AckOnly(v1::Ack {})),
    }
}

/// A gateway `TermData` frame as the client receives it (the gateway has received nothing from
/// this client, so its ack is 0).
fn received_term_data(seq: u64, data: Bytes) -> Envelope {
    Envelope {
        seq,
        ack: 0,
        channel: BENCH_CHANNEL,
        body: Some(term_body(data)),
    }
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
}

/// Label of a byte count: "1MiB", "8MiB".
fn mib(bytes: usize) -> String {
    format!("{}MiB", bytes >> 20)
}

fn bench_send(c: &mut Criterion, all: &Bytes, now: Instant) {
    let mut group = c.benchmark_group("send");
    configure(&mut group);
    for size in SIZES {
        let chunks = exact_chunks(all, size);
        assert!(!chunks.is_empty(), "corpus shorter than {size} bytes");
        group.throughput(Throughput::Bytes(size as u64));

        // The client acks every 512 KiB of output under a flood (its `ack_bytes`).
        let ack_every = (DEFAULT_ACK_BYTES / size).max(1);
        group.bench_function(BenchmarkId::new("acked", size), |b| {
            let mut rel = gateway(now);
            let mut next = 0;
            let mut unacked = 0;
            b.iter(|| {
                let chunk = &chunks[next];
                next = (next + 1) % chunks.len();
                let envelope = rel.send(now, BENCH_CHANNEL, term_body(chunk.clone()));
                unacked += 1;
                if unacked == ack_every {
                    unacked = 0;
                    let delivery = rel.receive(now, &ack(rel.last_sent())).expect("ack");
                    debug_assert_eq!(delivery, Delivery::Deliver);
                }
                black_box(envelope)
            });
            assert!(rel.replay_frames() <= ack_every, "acks free the buffer");
        });

        group.bench_function(BenchmarkId::new("at_budget", size), |b| {
            let mut rel = gateway(now);
            rel.connection_lost();
            let mut next = 0;
            // Fill the budget: the first send that does not grow the buffer dropped a frame.
            loop {
                let held = rel.replay_frames();
                rel.send(now, BENCH_CHANNEL, term_body(chunks[next].clone()));
                next = (next + 1) % chunks.len();
                if rel.replay_frames() <= held {
                    break;
                }
            }
            b.iter(|| {
                let chunk = &chunks[next];
                next = (next + 1) % chunks.len();
                black_box(rel.send(now, BENCH_CHANNEL, term_body(chunk.clone())))
            });
            assert!(rel.replay_bytes() <= rel.config().replay_budget);
        });
    }
    group.finish();
}

fn bench_receive(c: &mut Criterion, all: &Bytes, now: Instant) {
    let mut group = c.benchmark_group("receive");
    configure(&mut group);
    for size in SIZES {
        let chunks = exact_chunks(all, size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            let mut rel = Reliability::new(Config::new(Role::Client), now);
            let mut seq = 0;
            let mut acks = 0u64;
            b.iter(|| {
                seq += 1;
                let chunk = &chunks[seq as usize % chunks.len()];
                let envelope = received_term_data(seq, chunk.clone());
                let delivery = rel.receive(now, &envelope).expect("receive");
                debug_assert_eq!(delivery, Delivery::Deliver);
                // Due once 512 KiB arrived unacknowledged (the clock never reaches the delay).
                if let Some(ack) = rel.poll_transmit(now) {
                    acks += 1;
                    black_box(ack);
                }
                black_box(envelope)
            });
            // An envelope is its chunk plus at most 16 bytes of fields and tags.
            let expected = seq * (size as u64 + 16) / DEFAULT_ACK_BYTES as u64;
            assert!(
                acks <= expected + 1,
                "acks by bytes only: {acks} > {expected}"
            );
        });
    }
    group.finish();
}

fn bench_ack(c: &mut Criterion, all: &Bytes, now: Instant) {
    let mut group = c.benchmark_group("ack");
    configure(&mut group);
    let max = ACK_SPANS.iter().copied().max().unwrap_or(1);
    let chunks = cycled_chunks(all, ACK_FRAME, max);
    for frames in ACK_SPANS {
        group.throughput(Throughput::Elements(frames as u64));
        let chunks = &chunks[..frames];
        group.bench_function(BenchmarkId::from_parameter(frames), |b| {
            b.iter_batched(
                || {
                    let mut rel = gateway(now);
                    for chunk in chunks {
                        let _ = rel.send(now, BENCH_CHANNEL, term_body(chunk.clone()));
                    }
                    rel
                },
                |mut rel| {
                    let delivery = rel.receive(now, &ack(frames as u64)).expect("ack");
                    debug_assert_eq!((delivery, rel.replay_frames()), (Delivery::Deliver, 0));
                    // Dropped after the timing: it holds nothing by now.
                    rel
                },
                BatchSize::NumIterations(ACK_BATCH),
            );
        });
    }
    group.finish();
}

fn bench_resume(c: &mut Criterion, all: &Bytes, now: Instant) {
    let mut group = c.benchmark_group("resume");
    configure(&mut group);
    for (size, total) in RESUMES {
        let count = total / size;
        let chunks = cycled_chunks(all, size, count);
        // A budget that holds it all: this measures the retransmission, not the drops (with
        // the default 8 MiB budget, ≈ 7.4 MiB of 4 KiB frames fit; each held frame is also
        // charged `REPLAY_FRAME_OVERHEAD`).
        let config = Config {
            replay_budget: usize::MAX,
            ..Config::new(Role::Gateway)
        };
        let mut rel = Reliability::new(config, now);
        for chunk in &chunks {
            let _ = rel.send(now, BENCH_CHANNEL, term_body(chunk.clone()));
        }
        let mut resend = || {
            rel.connection_lost();
            // The phone got none of it; no ack comes back, so every resume replays it all.
            let outcome = rel.resume(now, 0).expect("resume");
            debug_assert_eq!(outcome, Resume::Complete);
            let mut frames = 0;
            while let Some(envelope) = rel.poll_transmit(now) {
                frames += 1;
                black_box(envelope);
            }
            frames
        };
        assert_eq!(resend(), count, "every held frame is retransmitted once");

        group.throughput(Throughput::Bytes(total as u64));
        group.bench_function(BenchmarkId::new(size.to_string(), mib(total)), |b| {
            b.iter(&mut resend);
        });
    }
    group.finish();
}

fn main() {
    let corpus = Corpus::load();
    eprintln!("{}", corpus.describe());
    let all = corpus.concatenated();
    // The virtual clock: the core only compares the instants it is given.
    let now = Instant::now();

    let mut c = Criterion::default().configure_from_args();
    bench_send(&mut c, &all, now);
    bench_receive(&mut c, &all, now);
    bench_ack(&mut c, &all, now);
    bench_resume(&mut c, &all, now);
    c.final_summary();
}
