//! Criterion benches of the whole in-process frame path of terminal output, with no IO: a PTY
//! read goes through the gateway's `Reliability::send`, its encoder, the wire bytes, the
//! phone's decoder and `Reliability::receive` to the delivered `TermData` body, and the phone's
//! `Ack` goes back the same way and frees the gateway's replay buffer.
//!
//! Framings: `message` is WebSocket (one `Encoder`/`Decoder` per connection,
//! `encode_message`/`decode_message`); `quic` is QUIC streams through proto's
//! `streams::StreamWriter`/`StreamReader` (terminal output on its channel's stream, acks on the
//! control stream, a compression context per stream). Policies: `stream` is what the gateway
//! negotiates with a devtail client (`negotiate(compression_support())`: a zstd stream context,
//! level 3, window_log 16); `off` is the uncompressed baseline.
//!
//! - `flood/<framing>/<policy>/<chunk bytes>`: output as fast as the PTY gives it. The clock
//!   stands still, so the phone acks by bytes only, once per 512 KiB (`DEFAULT_ACK_BYTES`): the
//!   ack's cost is spread over the frames it covers.
//! - `ack_each/<framing>/stream/<chunk bytes>`: output paced by the ack delay: the virtual clock
//!   moves 200 ms (`DEFAULT_ACK_DELAY`) after each frame, so every frame gets its own `Ack`
//!   back (interactive output: prompts, echoes, a redraw now and then).
//! - `resume/<framing>/stream/<total>`: a reconnect. The gateway holds 1 or 8 MiB of 4 KiB
//!   frames the phone never got; `resume`, then every retransmission goes through a fresh
//!   encoder and decoder (a new connection starts new compression contexts) into a fresh client
//!   core. The phone's acks are not carried back (they would free the buffer the next iteration
//!   replays); their cost is in `flood`.
//!
//! Why: the `codec` and `reliability` benches time the parts; this is what one frame costs
//! between a PTY read and the phone's terminal, and how fast a backlog is caught up, which
//! bounds what one gateway core can serve. Throughput counts terminal bytes, not wire bytes.
//!
//! Time is a virtual clock: an `Instant` taken once at start and advanced by hand. Inputs are
//! consecutive chunks of the terminal corpus (`devtail_bench::Corpus`), cycled in order so the
//! compression contexts see realistic history (the 8 MiB resume repeats the 1.5 MB corpus, too
//! far apart for the 64 KiB window to notice). Every case is checked once before it is timed:
//! each byte arrives in order and the acks empty the replay buffer.
//!
//! `cargo bench -p devtail-bench --bench frame_path -- --quick`

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput, measurement::WallTime};
use devtail_bench::{BENCH_CHANNEL, Corpus, cycled_chunks, exact_chunks, term_body, term_bytes};
use devtail_proto::reliability::{
    Config, DEFAULT_ACK_BYTES, DEFAULT_ACK_DELAY, Delivery, Reliability, Role,
};
use devtail_proto::streams::{Route, StreamReader, StreamWriter};
use devtail_proto::v1::Envelope;
use devtail_proto::{
    CompressionPolicy, Decoder, DecoderConfig, Encoder, EncoderConfig, compression_support,
    negotiate,
};

/// PTY read sizes measured (as in the `codec` bench; 64 KiB is the gateway's largest chunk).
const SIZES: [usize; 4] = [64, 1024, 4096, 64 << 10];

/// Frame size of the `resume` cases: a typical PTY read under load.
const RESUME_FRAME: usize = 4096;

/// Output buffered before a `resume`: a short network switch, and a whole 8 MiB budget's worth.
const RESUME_TOTALS: [usize; 2] = [1 << 20, 8 << 20];

/// How frames travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// WebSocket: one frame per message.
    Message,
    /// QUIC: length-prefixed frames on a stream per channel, plus the control stream.
    Quic,
}

impl Framing {
    fn name(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Quic => "quic",
        }
    }
}

/// One direction of a connection: the sender's framing, the receiver's, and the bytes between.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "two per pair, built before the timing starts; boxing would only add a pointer chase"
)]
enum Wire {
    Message {
        encoder: Encoder,
        decoder: Decoder,
        buf: BytesMut,
    },
    Quic {
        writer: StreamWriter,
        /// The receiver's end of the control stream.
        control: StreamReader,
        /// The receiver's end of [`BENCH_CHANNEL`]'s stream (the only channel used here).
        channel: StreamReader,
        buf: BytesMut,
    },
}

impl Wire {
    /// A fresh direction of a new connection, compressing as `config` says from the first frame
    /// (the handshake, which goes out plain, is not part of the bench).
    fn new(framing: Framing, config: EncoderConfig) -> Self {
        match framing {
            Framing::Message => Self::Message {
                encoder: Encoder::new(config),
                decoder: Decoder::new(DecoderConfig::default()),
                buf: BytesMut::new(),
            },
            Framing::Quic => {
                let mut writer = StreamWriter::default();
                writer.negotiated(config, false);
                Self::Quic {
                    writer,
                    control: StreamReader::default(),
                    channel: StreamReader::default(),
                    buf: BytesMut::new(),
                }
            }
        }
    }

    /// Carries `envelope` across: encode, wire bytes, decode. Returns what the receiver decoded.
    fn carry(&mut self, envelope: &Envelope) -> Envelope {
        match self {
            Self::Message {
                encoder,
                decoder,
                buf,
            } => {
                encoder.encode_message(envelope, buf).expect("encode");
                // The decoded payload may borrow this frame; `buf` gets its memory back once
                // the caller drops the envelope.
                decoder
                    .decode_message(buf.split().freeze())
                    .expect("decode")
            }
            Self::Quic {
                writer,
                control,
                channel,
                buf,
            } => {
                let encoded = writer.encode(envelope, buf).expect("encode");
                let reader = match encoded.route {
                    Route::Control => control,
                    Route::Channel(id) => {
                        debug_assert_eq!(id, BENCH_CHANNEL);
                        channel
                    }
                };
                // What a stream read does: the bytes land in the reader's buffer.
                reader.push(buf);
                buf.clear();
                reader
                    .next_frame()
                    .expect("decode")
                    .expect("a whole frame")
                    .envelope
            }
        }
    }
}

/// What the gateway negotiates with a devtail client.
fn negotiated() -> EncoderConfig {
    let (compression, zstd) = negotiate(Some(&compression_support()));
    assert_eq!(compression, CompressionPolicy::STREAM);
    EncoderConfig {
        compression,
        zstd,
        ..EncoderConfig::default()
    }
}

fn uncompressed() -> EncoderConfig {
    EncoderConfig::default()
}

/// Both ends of one session on one connection, in memory.
#[derive(Debug)]
struct Pair {
    /// The virtual clock.
    now: Instant,
    gateway: Reliability,
    client: Reliability,
    /// Gateway → phone.
    down: Wire,
    /// Phone → gateway.
    up: Wire,
    /// Acks the phone sent.
    acks: u64,
}

impl Pair {
    fn new(framing: Framing, config: EncoderConfig, now: Instant) -> Self {
        Self {
            now,
            gateway: Reliability::new(Config::new(Role::Gateway), now),
            client: Reliability::new(Config::new(Role::Client), now),
            down: Wire::new(framing, config),
            up: Wire::new(framing, config),
            acks: 0,
        }
    }

    /// One PTY read to the phone: sent, carried, received; then the clock moves on by `pace`
    /// and whatever either side has due is carried across. Returns the bytes delivered.
    fn step(&mut self, chunk: &Bytes, pace: Duration) -> usize {
        let envelope = self
            .gateway
            .send(self.now, BENCH_CHANNEL, term_body(chunk.clone()));
        let delivered = self.deliver(&envelope);
        self.now += pace;
        self.exchange();
        delivered
    }

    fn deliver(&mut self, envelope: &Envelope) -> usize {
        deliver(&mut self.down, &mut self.client, self.now, envelope)
    }

    /// Transmits what both sides have due (the phone's acks; the gateway has nothing on its
    /// own here) until neither has anything.
    fn exchange(&mut self) {
        loop {
            while let Some(ack) = self.client.poll_transmit(self.now) {
                self.acks += 1;
                let received = self.up.carry(&ack);
                let delivery = self.gateway.receive(self.now, &received).expect("ack");
                debug_assert_eq!(delivery, Delivery::Deliver);
            }
            let Some(envelope) = self.gateway.poll_transmit(self.now) else {
                break;
            };
            self.deliver(&envelope);
        }
    }
}

/// Carries a gateway envelope to the phone over `down` and hands it to the client's core.
/// Returns the terminal bytes delivered (what the phone writes to its terminal).
fn deliver(down: &mut Wire, client: &mut Reliability, now: Instant, envelope: &Envelope) -> usize {
    let received = down.carry(envelope);
    let delivery = client.receive(now, &received).expect("receive");
    assert_eq!(
        delivery,
        Delivery::Deliver,
        "no duplicates on one connection"
    );
    black_box(term_bytes(&received)).len()
}

/// Pushes every chunk through a fresh pair and checks the bytes arrive in order and the acks
/// free the replay buffer.
fn check(framing: Framing, config: EncoderConfig, chunks: &[Bytes], pace: Duration, t0: Instant) {
    let mut pair = Pair::new(framing, config, t0);
    let mut sent = Vec::new();
    let mut got = Vec::new();
    for chunk in chunks {
        let envelope = pair
            .gateway
            .send(pair.now, BENCH_CHANNEL, term_body(chunk.clone()));
        sent.extend_from_slice(chunk);
        let received = pair.down.carry(&envelope);
        assert_eq!(
            pair.client.receive(pair.now, &received).expect("receive"),
            Delivery::Deliver
        );
        got.extend_from_slice(term_bytes(&received));
        pair.now += pace;
        pair.exchange();
    }
    assert!(
        got == sent,
        "{framing:?} {config:?}: bytes delivered in order"
    );
    if pace.is_zero() {
        // By bytes only: one ack per 512 KiB of envelopes (terminal bytes plus a few each).
        let most = (sent.len() + 16 * chunks.len()) / DEFAULT_ACK_BYTES;
        assert!(pair.acks <= most as u64, "{} acks > {most}", pair.acks);
    } else {
        assert_eq!(pair.acks, chunks.len() as u64, "one ack per frame");
    }
    // The last ack is at most one ack delay away.
    pair.now += DEFAULT_ACK_DELAY;
    pair.exchange();
    assert_eq!(pair.gateway.replay_frames(), 0, "acks free the buffer");
    assert_eq!(pair.client.last_received(), chunks.len() as u64);
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
}

/// `flood` and `ack_each`: one PTY read per iteration.
fn bench_steady(
    c: &mut Criterion,
    group_name: &str,
    cases: &[(Framing, &str, EncoderConfig)],
    all: &Bytes,
    pace: Duration,
    t0: Instant,
) {
    let mut group = c.benchmark_group(group_name);
    configure(&mut group);
    for &(framing, policy, config) in cases {
        for size in SIZES {
            let chunks = exact_chunks(all, size);
            assert!(!chunks.is_empty(), "corpus shorter than {size} bytes");
            check(framing, config, &chunks, pace, t0);
            group.throughput(Throughput::Bytes(size as u64));
            let id = BenchmarkId::new(format!("{}/{policy}", framing.name()), size);
            group.bench_function(id, |b| {
                let mut pair = Pair::new(framing, config, t0);
                let mut next = 0;
                b.iter(|| {
                    let chunk = &chunks[next];
                    next = (next + 1) % chunks.len();
                    pair.step(chunk, pace)
                });
            });
        }
    }
    group.finish();
}

fn bench_resume(c: &mut Criterion, all: &Bytes, t0: Instant) {
    let mut group = c.benchmark_group("resume");
    configure(&mut group);
    let config = negotiated();
    for framing in [Framing::Message, Framing::Quic] {
        for total in RESUME_TOTALS {
            let count = total / RESUME_FRAME;
            let chunks = cycled_chunks(all, RESUME_FRAME, count);
            // Room for it all: this measures the retransmission, not the budget's drops.
            let mut gateway = Reliability::new(
                Config {
                    replay_budget: usize::MAX,
                    ..Config::new(Role::Gateway)
                },
                t0,
            );
            for chunk in &chunks {
                let _ = gateway.send(t0, BENCH_CHANNEL, term_body(chunk.clone()));
            }
            let mut resend = || {
                gateway.connection_lost();
                // The phone got none of it: every frame held goes out again.
                gateway.resume(t0, 0).expect("resume");
                // The new connection: fresh compression contexts, and a phone core that has
                // received nothing.
                let mut down = Wire::new(framing, config);
                let mut client = Reliability::new(Config::new(Role::Client), t0);
                let mut delivered = 0;
                while let Some(envelope) = gateway.poll_transmit(t0) {
                    delivered += deliver(&mut down, &mut client, t0, &envelope);
                }
                (delivered, client.last_received())
            };
            assert_eq!(resend(), (total, count as u64), "all of it, in order");

            group.throughput(Throughput::Bytes(total as u64));
            let id = BenchmarkId::new(
                format!("{}/stream", framing.name()),
                format!("{}MiB", total >> 20),
            );
            group.bench_function(id, |b| b.iter(&mut resend));
        }
    }
    group.finish();
}

fn main() {
    let corpus = Corpus::load();
    eprintln!("{}", corpus.describe());
    let all = corpus.concatenated();
    // The virtual clock's origin: the cores only compare the instants they are given.
    let t0 = Instant::now();

    let flood = [
        (Framing::Message, "off", uncompressed()),
        (Framing::Message, "stream", negotiated()),
        (Framing::Quic, "off", uncompressed()),
        (Framing::Quic, "stream", negotiated()),
    ];
    let ack_each = [
        (Framing::Message, "stream", negotiated()),
        (Framing::Quic, "stream", negotiated()),
    ];

    let mut c = Criterion::default().configure_from_args();
    bench_steady(&mut c, "flood", &flood, &all, Duration::ZERO, t0);
    bench_steady(&mut c, "ack_each", &ack_each, &all, DEFAULT_ACK_DELAY, t0);
    bench_resume(&mut c, &all, t0);
    c.final_summary();
}
