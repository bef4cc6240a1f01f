//! Criterion benches of the devtail frame codec on terminal output: encode, decode and the
//! encode+decode round trip of `TermData` envelopes, uncompressed, with self-contained zstd
//! frames (`CompressionPolicy::FRAME`) and with a per-connection zstd stream
//! (`CompressionPolicy::STREAM`), at PTY reads of 64 B, 1 KiB, 4 KiB and 64 KiB.
//!
//! Inputs are consecutive chunks of the terminal corpus (see `devtail_bench::Corpus`), cycled
//! in order so that the stream context sees realistic history. Message framing
//! (`encode_message`/`decode_message`) is measured for every policy, byte-stream framing
//! (`encode_stream`/`decode_stream`) uncompressed. Buffers are reused: the figures are the
//! codec's, not the allocator's. Throughput counts terminal bytes (the chunk), not wire bytes.
//!
//! `cargo bench -p devtail-bench --bench codec -- --quick`

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput, measurement::WallTime};
use devtail_bench::{Corpus, exact_chunks, term_bytes, term_data_envelopes};
use devtail_proto::v1::Envelope;
use devtail_proto::{CompressionPolicy, Decoder, DecoderConfig, Encoder, EncoderConfig};

/// PTY read sizes measured.
const SIZES: [usize; 4] = [64, 1024, 4096, 64 << 10];

/// Policies measured with message framing.
const POLICIES: [(&str, CompressionPolicy); 3] = [
    ("off", CompressionPolicy::Off),
    ("frame", CompressionPolicy::FRAME),
    ("stream", CompressionPolicy::STREAM),
];

/// Framing of a frame sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// One frame per transport message (WebSocket): `encode_message` / `decode_message`.
    Message,
    /// Length-prefixed frames on a byte stream (QUIC): `encode_stream` / `decode_stream`.
    Stream,
}

/// The envelopes of one chunk size, with the frames an encoder makes of them.
#[derive(Debug)]
struct Input {
    size: usize,
    envelopes: Vec<Envelope>,
}

fn encoder(policy: CompressionPolicy) -> Encoder {
    Encoder::new(EncoderConfig {
        compression: policy,
        ..EncoderConfig::default()
    })
}

fn decoder() -> Decoder {
    Decoder::new(DecoderConfig::default())
}

/// Encodes one pass over `envelopes` with a fresh encoder: one `Bytes` per frame (length
/// prefix included for [`Framing::Stream`]). Checks that a fresh decoder gets them back.
fn encode_all(envelopes: &[Envelope], policy: CompressionPolicy, framing: Framing) -> Vec<Bytes> {
    let mut enc = encoder(policy);
    let mut buf = BytesMut::new();
    let mut lens = Vec::with_capacity(envelopes.len());
    for envelope in envelopes {
        let len = match framing {
            Framing::Message => enc.encode_message(envelope, &mut buf),
            Framing::Stream => enc.encode_stream(envelope, &mut buf),
        }
        .expect("encode");
        lens.push(len);
    }
    let mut all = buf.freeze();
    let frames: Vec<Bytes> = lens.iter().map(|&len| all.split_to(len)).collect();

    let mut dec = decoder();
    let mut stream = BytesMut::new();
    for (frame, envelope) in frames.iter().zip(envelopes) {
        let decoded = match framing {
            Framing::Message => dec.decode_message(frame.clone()).expect("decode"),
            Framing::Stream => {
                stream.extend_from_slice(frame);
                dec.decode_stream(&mut stream)
                    .expect("decode")
                    .expect("a whole frame")
            }
        };
        assert_eq!(term_bytes(&decoded), term_bytes(envelope), "round trip");
    }
    frames
}

fn bench_id(framing: Framing, policy: &str, size: usize) -> BenchmarkId {
    let framing = match framing {
        Framing::Message => "message",
        Framing::Stream => "stream",
    };
    BenchmarkId::new(format!("{framing}/{policy}"), size)
}

/// The cases of a group: every policy with message framing, then uncompressed byte streams.
fn cases() -> impl Iterator<Item = (Framing, &'static str, CompressionPolicy)> {
    POLICIES
        .iter()
        .map(|&(name, policy)| (Framing::Message, name, policy))
        .chain([(Framing::Stream, "off", CompressionPolicy::Off)])
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
}

fn bench_encode(c: &mut Criterion, inputs: &[Input]) {
    let mut group = c.benchmark_group("encode");
    configure(&mut group);
    for (framing, name, policy) in cases() {
        for input in inputs {
            group.throughput(Throughput::Bytes(input.size as u64));
            let envelopes = &input.envelopes;
            group.bench_function(bench_id(framing, name, input.size), |b| {
                let mut enc = encoder(policy);
                let mut buf = BytesMut::with_capacity(2 * input.size + 64);
                let mut next = 0;
                b.iter(|| {
                    let envelope = &envelopes[next];
                    next = (next + 1) % envelopes.len();
                    buf.clear();
                    let len = match framing {
                        Framing::Message => enc.encode_message(envelope, &mut buf),
                        Framing::Stream => enc.encode_stream(envelope, &mut buf),
                    };
                    black_box(len.expect("encode"));
                    black_box(&buf);
                });
            });
        }
    }
    group.finish();
}

fn bench_decode(c: &mut Criterion, inputs: &[Input]) {
    let mut group = c.benchmark_group("decode");
    configure(&mut group);
    for (framing, name, policy) in cases() {
        for input in inputs {
            group.throughput(Throughput::Bytes(input.size as u64));
            let frames = encode_all(&input.envelopes, policy, framing);
            group.bench_function(bench_id(framing, name, input.size), |b| {
                // Cycling restarts the stream at frame 0, whose reset bit starts a new context.
                let mut dec = decoder();
                let mut buf = BytesMut::with_capacity(2 * input.size + 64);
                let mut next = 0;
                b.iter(|| {
                    let frame = &frames[next];
                    next = (next + 1) % frames.len();
                    let envelope = match framing {
                        Framing::Message => dec.decode_message(frame.clone()),
                        Framing::Stream => {
                            // What a socket read does: the frame lands in the receive buffer.
                            buf.extend_from_slice(frame);
                            dec.decode_stream(&mut buf)
                                .map(|e| e.expect("a whole frame"))
                        }
                    };
                    black_box(envelope.expect("decode"))
                });
            });
        }
    }
    group.finish();
}

fn bench_round_trip(c: &mut Criterion, inputs: &[Input]) {
    let mut group = c.benchmark_group("roundtrip");
    configure(&mut group);
    for (framing, name, policy) in cases() {
        for input in inputs {
            group.throughput(Throughput::Bytes(input.size as u64));
            let envelopes = &input.envelopes;
            group.bench_function(bench_id(framing, name, input.size), |b| {
                let mut enc = encoder(policy);
                let mut dec = decoder();
                let mut buf = BytesMut::with_capacity(2 * input.size + 64);
                let mut next = 0;
                b.iter(|| {
                    let envelope = &envelopes[next];
                    next = (next + 1) % envelopes.len();
                    let decoded = match framing {
                        Framing::Message => {
                            buf.clear();
                            enc.encode_message(envelope, &mut buf).expect("encode");
                            // The decoded payload borrows this buffer until it is dropped, at
                            // the end of the iteration; then `buf` reclaims it in place.
                            dec.decode_message(buf.split().freeze())
                        }
                        Framing::Stream => {
                            enc.encode_stream(envelope, &mut buf).expect("encode");
                            dec.decode_stream(&mut buf)
                                .map(|e| e.expect("a whole frame"))
                        }
                    };
                    black_box(decoded.expect("decode"))
                });
            });
        }
    }
    group.finish();
}

fn main() {
    let corpus = Corpus::load();
    eprintln!("{}", corpus.describe());
    let all = corpus.concatenated();
    let inputs: Vec<Input> = SIZES
        .iter()
        .map(|&size| {
            let chunks = exact_chunks(&all, size);
            assert!(!chunks.is_empty(), "corpus shorter than {size} bytes");
            Input {
                size,
                envelopes: term_data_envelopes(&chunks),
            }
        })
        .collect();

    let mut c = Criterion::default().configure_from_args();
    bench_encode(&mut c, &inputs);
    bench_decode(&mut c, &inputs);
    bench_round_trip(&mut c, &inputs);
    c.final_summary();
}
