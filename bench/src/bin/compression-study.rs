//! Compression study for devtail's terminal frames: for PTY reads of 64 B, 512 B, 4 KiB and a
//! mixed-size case, over every file of the terminal corpus, the compression ratio and the
//! compress/decompress throughput of
//!
//! - (a) one self-contained zstd frame per chunk, levels 1 and 3;
//! - (b) the same with a 16 KiB dictionary trained leave-one-out (`zstd::dict::from_samples` on
//!   the chunks of the other files, measured on the held-out file);
//! - (c) a per-connection zstd stream flushed per frame, through the real
//!   `devtail_proto::Encoder`/`Decoder` (threshold 0), window_log 14/16/17/20 × level 1/3;
//! - (d) the real `Encoder` with the shipped policies `CompressionPolicy::STREAM` and `FRAME`;
//! - (e) on the mixed case, `STREAM`'s size threshold swept;
//! - (f) a simulated variant of (c) that never falls back to a plain frame (the real encoder
//!   sends plain when zstd does not shrink a frame, and then resets its stream context: the
//!   history is lost); same zstd parameters as the codec's, driven directly through zstd;
//!
//! plus the memory a stream context costs on each side. Every frame is what the codec would
//! send: 1 flags byte + the zstd body, or + the plain protobuf when zstd does not make it
//! smaller. Ratio = terminal bytes in / wire bytes out. MB/s = 10⁶ terminal bytes per second.
//!
//! `cargo run --release -p devtail-bench --bin compression-study -- [--json PATH]`

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use bytes::{Bytes, BytesMut};
use clap::Parser;
use devtail_bench::{Chunking, Corpus, CorpusSource, corpus_dir, term_bytes, term_data_envelopes};
use devtail_proto::v1::Envelope;
use devtail_proto::{
    CompressionPolicy, DEFAULT_WINDOW_LOG, Decoder, DecoderConfig, Encoder, EncoderConfig,
    ZstdParams,
};
use prost::Message as _;
use serde::Serialize;
use zstd::zstd_safe::zstd_sys::ZSTD_EndDirective;
use zstd::zstd_safe::{CCtx, CParameter, DCtx, DParameter, InBuffer, OutBuffer};

/// Compression study over the terminal corpus; prints Markdown tables.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Corpus directory (default: ../shared/corpus/terminal next to the checkout).
    #[arg(long, env = "DEVTAIL_CORPUS", value_name = "DIR")]
    corpus: Option<PathBuf>,
    /// Minimum measured time per (method, file, chunk size), in milliseconds: passes repeat
    /// until it is reached (at least 2, at most 40) and the fastest pass counts.
    #[arg(long, default_value_t = 150)]
    min_time_ms: u64,
    /// Measure every method this many times (per chunk size), keeping the fastest times.
    #[arg(long, default_value_t = 1)]
    rounds: u32,
    /// Only run the methods whose label contains this text (e.g. "(c)", "STREAM").
    #[arg(long, value_name = "TEXT")]
    only: Option<String>,
}

const CHUNKINGS: [Chunking; 4] = [
    Chunking::Fixed(64),
    Chunking::Fixed(512),
    Chunking::Fixed(4096),
    Chunking::Mixed { seed: 0x5eed },
];
const DICT_SIZE: usize = 16 << 10;
const STREAM_WINDOWS: [u32; 4] = [14, 16, 17, 20];
const LEVELS: [i32; 2] = [1, 3];
const THRESHOLDS: [usize; 8] = [0, 16, 32, 48, 64, 96, 128, 256];
/// Thresholds of the no-fallback variant (f) on the mixed case.
const KEEP_THRESHOLDS: [usize; 5] = [0, 16, 32, 48, 64];
/// Frames encoded before reading `context_bytes()`.
const MEMORY_FRAMES: usize = 8;

/// How frames are made.
#[derive(Debug, Clone, Copy)]
enum Method {
    /// zstd's bulk API, one frame per chunk, with or without the leave-one-out dictionary.
    Raw { level: i32, dict: bool },
    /// The real codec.
    Codec {
        policy: CompressionPolicy,
        params: ZstdParams,
    },
    /// A stream context like the codec's that always sends the stream-compressed frame at or
    /// above `threshold` (never falls back to plain, so never resets).
    StreamKeep {
        params: ZstdParams,
        threshold: usize,
    },
}

#[derive(Debug, Clone)]
struct MethodSpec {
    /// Row label.
    label: String,
    /// Study part: "base", "a", "b", "c", "d", "e", "f".
    part: &'static str,
    method: Method,
}

#[derive(Debug, Clone, Default, Serialize)]
struct Measure {
    /// Terminal bytes in.
    input_bytes: u64,
    /// Wire bytes out (flags byte included).
    wire_bytes: u64,
    frames: u64,
    /// Frames sent uncompressed (under the threshold, or zstd did not shrink them).
    plain_frames: u64,
    /// Frames carrying the reset bit (a new stream context: the first, and one after every
    /// frame that fell back to plain).
    reset_frames: u64,
    /// Fastest pass, seconds.
    compress_s: f64,
    decompress_s: f64,
}

impl Measure {
    fn add(&mut self, other: &Measure) {
        self.input_bytes += other.input_bytes;
        self.wire_bytes += other.wire_bytes;
        self.frames += other.frames;
        self.plain_frames += other.plain_frames;
        self.reset_frames += other.reset_frames;
        self.compress_s += other.compress_s;
        self.decompress_s += other.decompress_s;
    }

    fn ratio(&self) -> f64 {
        self.input_bytes as f64 / self.wire_bytes as f64
    }

    fn mb_s(&self, secs: f64) -> f64 {
        self.input_bytes as f64 / secs / 1e6
    }

    fn summary(&self) -> Summary {
        Summary {
            ratio: self.ratio(),
            compress_mb_s: self.mb_s(self.compress_s),
            decompress_mb_s: self.mb_s(self.decompress_s),
            round_trip_mb_s: self.mb_s(self.compress_s + self.decompress_s),
            plain_frames_pct: 100.0 * self.plain_frames as f64 / self.frames as f64,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
struct Summary {
    ratio: f64,
    compress_mb_s: f64,
    decompress_mb_s: f64,
    /// Terminal bytes / (compress + decompress time).
    round_trip_mb_s: f64,
    plain_frames_pct: f64,
}

#[derive(Debug, Serialize)]
struct FileResult {
    file: String,
    #[serde(flatten)]
    measure: Measure,
    #[serde(flatten)]
    summary: Summary,
}

#[derive(Debug, Serialize)]
struct Row {
    chunking: String,
    part: &'static str,
    method: String,
    level: i32,
    window_log: Option<u32>,
    threshold: Option<usize>,
    files: Vec<FileResult>,
    total: FileResult,
}

impl Row {
    fn new(chunking: Chunking, spec: &MethodSpec, corpus: &Corpus, measures: Vec<Measure>) -> Self {
        let (level, window_log, threshold) = match spec.method {
            Method::Raw { level, .. } => (level, None, Some(0)),
            Method::Codec { policy, params } => (
                params.level,
                threshold_of(policy).map(|_| params.window_log),
                threshold_of(policy),
            ),
            Method::StreamKeep { params, threshold } => {
                (params.level, Some(params.window_log), Some(threshold))
            }
        };
        let mut total = Measure::default();
        let files = corpus
            .files
            .iter()
            .zip(measures)
            .map(|(file, m)| {
                total.add(&m);
                result(file.name.clone(), m)
            })
            .collect();
        Self {
            chunking: chunking.label(),
            part: spec.part,
            method: spec.label.clone(),
            level,
            window_log,
            threshold,
            files,
            total: result("total".to_owned(), total),
        }
    }

    /// Keeps, file by file, the fastest times of this row and of another round's `measures`.
    fn merge_fastest(&mut self, measures: Vec<Measure>) {
        let mut total = Measure::default();
        for (file, m) in self.files.iter_mut().zip(measures) {
            let kept = &mut file.measure;
            kept.compress_s = kept.compress_s.min(m.compress_s);
            kept.decompress_s = kept.decompress_s.min(m.decompress_s);
            file.summary = kept.summary();
            total.add(kept);
        }
        self.total = result("total".to_owned(), total);
    }
}

#[derive(Debug, Serialize)]
struct DictInfo {
    chunking: String,
    held_out: String,
    dict_bytes: usize,
    samples: usize,
    train_ms: f64,
}

#[derive(Debug, Serialize)]
struct MemoryRow {
    mode: &'static str,
    level: i32,
    window_log: u32,
    encoder_context_bytes: usize,
    decoder_context_bytes: usize,
}

#[derive(Debug, Serialize)]
struct CorpusInfo {
    source: String,
    synthetic: bool,
    files: Vec<(String, usize)>,
}

#[derive(Debug, Serialize)]
struct Report {
    generated_unix_s: u64,
    corpus: CorpusInfo,
    notes: Vec<&'static str>,
    rows: Vec<Row>,
    dictionaries: Vec<DictInfo>,
    memory: Vec<MemoryRow>,
}

const NOTES: [&str; 5] = [
    "ratio = terminal bytes / wire bytes; a wire frame = 1 flags byte + zstd body, or + the \
     plain protobuf Envelope when zstd does not shrink it",
    "MB/s = 1e6 terminal bytes per second; fastest of repeated passes; protobuf encode/decode \
     included; one fresh context per file (one file = one connection)",
    "(b) trains on the chunks (as encoded Envelopes) of the other files and measures on the \
     held-out one; the dictionary id travels in the flags byte, not in the zstd frame",
    "mixed = PTY reads of log-uniform size in 1 B..4 KiB (seeded), not real read boundaries",
    "(f) is not the shipped codec: the same zstd stream context, but a frame that zstd does \
     not shrink is still sent compressed (a few bytes more: measured at most 9 B, on a \
     context's first frame) instead of plain + context reset",
];

fn methods(chunking: Chunking) -> Vec<MethodSpec> {
    let off = ZstdParams::default();
    let mut specs = vec![MethodSpec {
        label: "none (Off)".to_owned(),
        part: "base",
        method: Method::Codec {
            policy: CompressionPolicy::Off,
            params: off,
        },
    }];
    for level in LEVELS {
        specs.push(MethodSpec {
            label: format!("(a) frame L{level}"),
            part: "a",
            method: Method::Raw { level, dict: false },
        });
    }
    for level in LEVELS {
        specs.push(MethodSpec {
            label: format!("(b) frame+dict16K L{level}"),
            part: "b",
            method: Method::Raw { level, dict: true },
        });
    }
    for window_log in STREAM_WINDOWS {
        for level in LEVELS {
            specs.push(MethodSpec {
                label: format!("(c) stream L{level} w{window_log}"),
                part: "c",
                method: Method::Codec {
                    policy: CompressionPolicy::ZstdStream { threshold: 0 },
                    params: ZstdParams { level, window_log },
                },
            });
        }
    }
    let shipped = ZstdParams::default();
    for (name, policy) in [
        ("STREAM", CompressionPolicy::STREAM),
        ("FRAME", CompressionPolicy::FRAME),
    ] {
        let threshold = threshold_of(policy).unwrap_or(0);
        specs.push(MethodSpec {
            label: format!(
                "(d) {name} L{} w{} t{threshold}",
                shipped.level, shipped.window_log
            ),
            part: "d",
            method: Method::Codec {
                policy,
                params: shipped,
            },
        });
    }
    if matches!(chunking, Chunking::Mixed { .. }) {
        for threshold in THRESHOLDS {
            specs.push(MethodSpec {
                label: format!(
                    "(e) stream L{} w{} t{threshold}",
                    shipped.level, shipped.window_log
                ),
                part: "e",
                method: Method::Codec {
                    policy: CompressionPolicy::ZstdStream { threshold },
                    params: shipped,
                },
            });
        }
    }
    // (f): levels 1 and 3 without a threshold everywhere, the threshold swept on mixed reads.
    let mut keep: Vec<(i32, usize)> = LEVELS.iter().map(|&level| (level, 0)).collect();
    if matches!(chunking, Chunking::Mixed { .. }) {
        keep.extend(KEEP_THRESHOLDS.iter().filter(|&&t| t > 0).map(|&t| (3, t)));
    }
    for (level, threshold) in keep {
        specs.push(MethodSpec {
            label: format!(
                "(f) stream-keep L{level} w{} t{threshold}",
                shipped.window_log
            ),
            part: "f",
            method: Method::StreamKeep {
                params: ZstdParams {
                    level,
                    window_log: shipped.window_log,
                },
                threshold,
            },
        });
    }
    specs
}

fn threshold_of(policy: CompressionPolicy) -> Option<usize> {
    match policy {
        CompressionPolicy::Off => None,
        CompressionPolicy::ZstdFrame { threshold }
        | CompressionPolicy::ZstdStream { threshold } => Some(threshold),
    }
}

/// Repeats `pass` (after one unmeasured warm-up pass) until `min_time` is spent, keeping the
/// fastest compress and decompress times.
fn best_of(min_time: Duration, mut pass: impl FnMut() -> Result<Measure>) -> Result<Measure> {
    let mut best = pass()?;
    best.compress_s = f64::INFINITY;
    best.decompress_s = f64::INFINITY;
    let started = Instant::now();
    for done in 1..=40 {
        let m = pass()?;
        ensure!(m.wire_bytes == best.wire_bytes, "passes differ in output");
        best.compress_s = best.compress_s.min(m.compress_s);
        best.decompress_s = best.decompress_s.min(m.decompress_s);
        if done >= 2 && started.elapsed() >= min_time {
            break;
        }
    }
    Ok(best)
}

/// Splits the frames written one after the other in `buf` (lengths `lens`).
fn split_frames(buf: BytesMut, lens: &[usize]) -> Vec<Bytes> {
    let mut all = buf.freeze();
    lens.iter().map(|&len| all.split_to(len)).collect()
}

fn count_flags(frames: &[Bytes], m: &mut Measure) {
    for frame in frames {
        let flags = frame[0];
        if flags & 0b11 == 0 {
            m.plain_frames += 1;
        }
        if flags & 0b100 != 0 {
            m.reset_frames += 1;
        }
    }
}

/// One pass of the real codec over `envelopes`: fresh encoder and decoder, every frame checked.
fn codec_pass(
    envelopes: &[Envelope],
    input_bytes: u64,
    policy: CompressionPolicy,
    params: ZstdParams,
) -> Result<Measure> {
    let mut enc = Encoder::new(EncoderConfig {
        compression: policy,
        zstd: params,
        ..EncoderConfig::default()
    });
    let mut dec = Decoder::new(DecoderConfig {
        max_window_log: params.window_log.max(DEFAULT_WINDOW_LOG),
        ..DecoderConfig::default()
    });
    let mut buf = BytesMut::with_capacity(input_bytes as usize + 16 * envelopes.len());
    let mut lens = Vec::with_capacity(envelopes.len());

    let started = Instant::now();
    for envelope in envelopes {
        lens.push(enc.encode_message(envelope, &mut buf)?);
    }
    let compress_s = started.elapsed().as_secs_f64();

    let mut m = Measure {
        input_bytes,
        wire_bytes: buf.len() as u64,
        frames: envelopes.len() as u64,
        compress_s,
        ..Measure::default()
    };
    let frames = split_frames(buf, &lens);
    count_flags(&frames, &mut m);

    let mut decoded = Vec::with_capacity(envelopes.len());
    let started = Instant::now();
    for frame in &frames {
        decoded.push(dec.decode_message(frame.clone())?);
    }
    m.decompress_s = started.elapsed().as_secs_f64();
    check(envelopes, &decoded)?;
    Ok(m)
}

/// zstd contexts for [`raw_pass`], made once per file.
struct RawCtx {
    cctx: zstd::bulk::Compressor<'static>,
    dctx: zstd::bulk::Decompressor<'static>,
}

impl RawCtx {
    fn new(level: i32, dict: &[u8]) -> Result<Self> {
        let mut cctx = zstd::bulk::Compressor::with_dictionary(level, dict)?;
        cctx.include_checksum(false)?;
        cctx.include_contentsize(true)?;
        cctx.include_dictid(false)?;
        let dctx = zstd::bulk::Decompressor::with_dictionary(dict)?;
        Ok(Self { cctx, dctx })
    }
}

/// One pass of per-chunk zstd frames (the codec's frame logic: flags byte 1 + zstd frame, or
/// flags byte 0 + plain protobuf when that is not larger).
fn raw_pass(envelopes: &[Envelope], input_bytes: u64, ctx: &mut RawCtx) -> Result<Measure> {
    let mut buf = BytesMut::with_capacity(input_bytes as usize + 16 * envelopes.len());
    let mut lens = Vec::with_capacity(envelopes.len());
    let mut plain = Vec::new();
    let mut packed = Vec::new();

    let started = Instant::now();
    for envelope in envelopes {
        plain.clear();
        envelope.encode_raw(&mut plain);
        packed.clear();
        packed.reserve(zstd::zstd_safe::compress_bound(plain.len()));
        ctx.cctx.compress_to_buffer(&plain[..], &mut packed)?;
        let body = if packed.len() < plain.len() {
            buf.extend_from_slice(&[1]);
            &packed
        } else {
            buf.extend_from_slice(&[0]);
            &plain
        };
        buf.extend_from_slice(body);
        lens.push(1 + body.len());
    }
    let compress_s = started.elapsed().as_secs_f64();

    let mut m = Measure {
        input_bytes,
        wire_bytes: buf.len() as u64,
        frames: envelopes.len() as u64,
        compress_s,
        ..Measure::default()
    };
    let frames = split_frames(buf, &lens);
    count_flags(&frames, &mut m);

    let mut decoded = Vec::with_capacity(envelopes.len());
    let started = Instant::now();
    for frame in &frames {
        let body = frame.slice(1..);
        let plain = if frame[0] == 1 {
            let size = zstd::zstd_safe::get_frame_content_size(&body)
                .ok()
                .flatten()
                .context("zstd frame without content size")?;
            let mut out = Vec::with_capacity(size as usize);
            ctx.dctx.decompress_to_buffer(&body[..], &mut out)?;
            Bytes::from(out)
        } else {
            body
        };
        decoded.push(Envelope::decode(plain)?);
    }
    m.decompress_s = started.elapsed().as_secs_f64();
    check(envelopes, &decoded)?;
    Ok(m)
}

/// zstd stream contexts for [`keep_pass`], set up like the codec's `Compressor`.
fn keep_contexts(params: ZstdParams) -> Result<(CCtx<'static>, DCtx<'static>)> {
    let mut cctx = CCtx::try_create().context("zstd: out of memory")?;
    for param in [
        CParameter::CompressionLevel(params.level),
        CParameter::WindowLog(params.window_log),
        CParameter::HashLog(params.window_log),
        CParameter::ChainLog(params.window_log),
        CParameter::ChecksumFlag(false),
        CParameter::ContentSizeFlag(true),
        CParameter::DictIdFlag(false),
    ] {
        cctx.set_parameter(param).map_err(zstd_error)?;
    }
    let mut dctx = DCtx::try_create().context("zstd: out of memory")?;
    dctx.set_parameter(DParameter::WindowLogMax(params.window_log))
        .map_err(zstd_error)?;
    Ok((cctx, dctx))
}

fn zstd_error(code: usize) -> anyhow::Error {
    anyhow::anyhow!("zstd: {}", zstd::zstd_safe::get_error_name(code))
}

/// One pass of variant (f): envelopes at or above `threshold` always go through the stream
/// context (flags byte 2, the first with the reset bit 4), smaller ones plain (flags byte 0).
fn keep_pass(
    envelopes: &[Envelope],
    input_bytes: u64,
    params: ZstdParams,
    threshold: usize,
) -> Result<Measure> {
    let (mut cctx, mut dctx) = keep_contexts(params)?;
    let mut buf = Vec::with_capacity(input_bytes as usize + 16 * envelopes.len());
    let mut lens = Vec::with_capacity(envelopes.len());
    let mut plain = Vec::new();
    let mut fresh = true;

    let started = Instant::now();
    for envelope in envelopes {
        let at = buf.len();
        plain.clear();
        envelope.encode_raw(&mut plain);
        if plain.len() < threshold {
            buf.push(0);
            buf.extend_from_slice(&plain);
        } else {
            buf.push(if std::mem::take(&mut fresh) {
                0b110
            } else {
                0b010
            });
            buf.reserve(zstd::zstd_safe::compress_bound(plain.len()) + 16);
            let mut input = InBuffer::around(&plain);
            loop {
                let pos = buf.len();
                let mut output = OutBuffer::around_pos(&mut buf, pos);
                let remaining = cctx
                    .compress_stream2(&mut output, &mut input, ZSTD_EndDirective::ZSTD_e_flush)
                    .map_err(zstd_error)?;
                if remaining == 0 && input.pos == plain.len() {
                    break;
                }
                buf.reserve(remaining.max(64));
            }
        }
        lens.push(buf.len() - at);
    }
    let compress_s = started.elapsed().as_secs_f64();

    let mut m = Measure {
        input_bytes,
        wire_bytes: buf.len() as u64,
        frames: envelopes.len() as u64,
        compress_s,
        ..Measure::default()
    };
    let frames = split_frames(BytesMut::from(&buf[..]), &lens);
    count_flags(&frames, &mut m);

    let mut decoded = Vec::with_capacity(envelopes.len());
    let started = Instant::now();
    for frame in &frames {
        let body = frame.slice(1..);
        let plain = if frame[0] & 0b11 == 0 {
            body
        } else {
            let mut out: Vec<u8> = Vec::with_capacity((body.len() * 8).clamp(256, 16 << 10));
            let mut input = InBuffer::around(&body[..]);
            loop {
                let pos = out.len();
                let mut output = OutBuffer::around_pos(&mut out, pos);
                dctx.decompress_stream(&mut output, &mut input)
                    .map_err(zstd_error)?;
                let full = out.len() == out.capacity();
                if input.pos == body.len() && !full {
                    break;
                }
                if full {
                    out.reserve(out.len());
                }
            }
            Bytes::from(out)
        };
        decoded.push(Envelope::decode(plain)?);
    }
    m.decompress_s = started.elapsed().as_secs_f64();
    check(envelopes, &decoded)?;
    Ok(m)
}

fn check(sent: &[Envelope], got: &[Envelope]) -> Result<()> {
    ensure!(sent.len() == got.len(), "frame count differs");
    for (i, (a, b)) in sent.iter().zip(got).enumerate() {
        if a != b {
            bail!("frame {i} did not round-trip");
        }
        black_box(term_bytes(b));
    }
    Ok(())
}

/// Trains the dictionary for `held_out` from the envelopes of every other file.
fn train_dictionary(
    chunking: Chunking,
    envelopes: &[Vec<Envelope>],
    held_out: usize,
    name: &str,
) -> Result<(Vec<u8>, DictInfo)> {
    let samples: Vec<Vec<u8>> = envelopes
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != held_out)
        .flat_map(|(_, envs)| envs.iter().map(prost::Message::encode_to_vec))
        .collect();
    let started = Instant::now();
    let dict = zstd::dict::from_samples(&samples, DICT_SIZE)
        .with_context(|| format!("training a dictionary without {name}"))?;
    let info = DictInfo {
        chunking: chunking.label(),
        held_out: name.to_owned(),
        dict_bytes: dict.len(),
        samples: samples.len(),
        train_ms: started.elapsed().as_secs_f64() * 1e3,
    };
    Ok((dict, info))
}

fn result(file: String, measure: Measure) -> FileResult {
    let summary = measure.summary();
    FileResult {
        file,
        measure,
        summary,
    }
}

fn run(args: &Args) -> Result<Report> {
    let dir = args.corpus.clone().unwrap_or_else(corpus_dir);
    let corpus = Corpus::load_or_synthetic(&dir);
    eprintln!("{}", corpus.describe());
    ensure!(
        corpus.files.len() >= 2,
        "leave-one-out dictionaries need at least two corpus files"
    );
    let min_time = Duration::from_millis(args.min_time_ms);
    let mut rows: Vec<Row> = Vec::new();
    let mut dictionaries = Vec::new();

    for chunking in CHUNKINGS {
        let envelopes: Vec<Vec<Envelope>> = corpus
            .files
            .iter()
            .map(|f| term_data_envelopes(&chunking.split(&f.data)))
            .collect();
        let specs: Vec<MethodSpec> = methods(chunking)
            .into_iter()
            .filter(|spec| {
                args.only
                    .as_ref()
                    .is_none_or(|only| spec.label.contains(only.as_str()))
            })
            .collect();
        let needs_dicts = specs
            .iter()
            .any(|spec| matches!(spec.method, Method::Raw { dict: true, .. }));
        let mut dicts = Vec::new();
        for (i, file) in corpus.files.iter().enumerate() {
            if !needs_dicts {
                break;
            }
            let (dict, info) = train_dictionary(chunking, &envelopes, i, &file.name)?;
            eprintln!(
                "  {}: dictionary without {}: {} bytes from {} samples in {:.0} ms",
                info.chunking, info.held_out, info.dict_bytes, info.samples, info.train_ms
            );
            dicts.push(dict);
            dictionaries.push(info);
        }
        // Rounds run every method once more and keep each file's fastest times: a burst of
        // load from another process then spoils one round, not the figure.
        let mut chunk_rows: Vec<Row> = Vec::new();
        for round in 0..args.rounds.max(1) {
            for (k, spec) in specs.iter().enumerate() {
                eprintln!(
                    "  {} (round {}): {}",
                    chunking.label(),
                    round + 1,
                    spec.label
                );
                let mut measures = Vec::new();
                for (i, file) in corpus.files.iter().enumerate() {
                    let envs = &envelopes[i];
                    let input_bytes = file.data.len() as u64;
                    measures.push(match spec.method {
                        Method::Raw { level, dict } => {
                            let dict: &[u8] = if dict { &dicts[i] } else { &[] };
                            let mut ctx = RawCtx::new(level, dict)?;
                            best_of(min_time, || raw_pass(envs, input_bytes, &mut ctx))?
                        }
                        Method::Codec { policy, params } => {
                            best_of(min_time, || codec_pass(envs, input_bytes, policy, params))?
                        }
                        Method::StreamKeep { params, threshold } => {
                            best_of(min_time, || keep_pass(envs, input_bytes, params, threshold))?
                        }
                    });
                }
                match chunk_rows.get_mut(k) {
                    Some(row) => row.merge_fastest(measures),
                    None => chunk_rows.push(Row::new(chunking, spec, &corpus, measures)),
                }
            }
        }
        rows.extend(chunk_rows);
    }

    Ok(Report {
        generated_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        corpus: CorpusInfo {
            source: match &corpus.source {
                CorpusSource::Dir(dir) => dir.display().to_string(),
                CorpusSource::Synthetic(reason) => format!("synthetic ({reason})"),
            },
            synthetic: corpus.is_synthetic(),
            files: corpus
                .files
                .iter()
                .map(|f| (f.name.clone(), f.data.len()))
                .collect(),
        },
        notes: NOTES.to_vec(),
        rows,
        dictionaries,
        memory: memory(&corpus)?,
    })
}

/// Context sizes on both sides after [`MEMORY_FRAMES`] frames of 4 KiB.
fn memory(corpus: &Corpus) -> Result<Vec<MemoryRow>> {
    let all = corpus.concatenated();
    let chunks = devtail_bench::fixed_chunks(&all, 4096);
    let envelopes = term_data_envelopes(&chunks[..MEMORY_FRAMES.min(chunks.len())]);
    let mut cases = Vec::new();
    for window_log in STREAM_WINDOWS {
        for level in LEVELS {
            cases.push((
                "stream",
                CompressionPolicy::ZstdStream { threshold: 0 },
                ZstdParams { level, window_log },
            ));
        }
    }
    cases.push(("frame", CompressionPolicy::FRAME, ZstdParams::default()));
    let mut rows = Vec::new();
    for (mode, policy, params) in cases {
        let mut enc = Encoder::new(EncoderConfig {
            compression: policy,
            zstd: params,
            ..EncoderConfig::default()
        });
        let mut dec = Decoder::new(DecoderConfig {
            max_window_log: params.window_log.max(DEFAULT_WINDOW_LOG),
            ..DecoderConfig::default()
        });
        let mut buf = BytesMut::new();
        for envelope in &envelopes {
            buf.clear();
            enc.encode_message(envelope, &mut buf)?;
            dec.decode_message(buf.split().freeze())?;
        }
        rows.push(MemoryRow {
            mode,
            level: params.level,
            window_log: params.window_log,
            encoder_context_bytes: enc.context_bytes(),
            decoder_context_bytes: dec.context_bytes(),
        });
    }
    Ok(rows)
}

fn kib(bytes: usize) -> String {
    format!("{:.0} KiB", bytes as f64 / 1024.0)
}

fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Compression study\n");
    let _ = writeln!(
        out,
        "Corpus: {}{}\n",
        report.corpus.source,
        if report.corpus.synthetic {
            " — **synthetic stand-in, not real terminal output**"
        } else {
            ""
        }
    );
    for note in &report.notes {
        let _ = writeln!(out, "- {note}");
    }
    let files: Vec<&str> = report
        .corpus
        .files
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();

    for chunking in CHUNKINGS {
        let label = chunking.label();
        let rows: Vec<&Row> = report.rows.iter().filter(|r| r.chunking == label).collect();
        let frames = rows.first().map_or(0, |r| r.total.measure.frames);
        let _ = writeln!(out, "\n### Chunks: {label} ({frames} frames)\n");
        let _ = writeln!(out, "Compression ratio (terminal bytes / wire bytes):\n");
        let _ = writeln!(
            out,
            "| method | {} | **total** | plain frames |",
            files.join(" | ")
        );
        let _ = writeln!(out, "|---|{}---:|---:|", "---:|".repeat(files.len()));
        for row in &rows {
            let cells: Vec<String> = row
                .files
                .iter()
                .map(|f| format!("{:.2}", f.summary.ratio))
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} | **{:.2}** | {:.0} % |",
                row.method,
                cells.join(" | "),
                row.total.summary.ratio,
                row.total.summary.plain_frames_pct
            );
        }
        let _ = writeln!(
            out,
            "\nThroughput (MB/s of terminal bytes; per file: compress+decompress):\n"
        );
        let _ = writeln!(
            out,
            "| method | {} | total compress | total decompress | **total c+d** |",
            files.join(" | ")
        );
        let _ = writeln!(out, "|---|{}---:|---:|---:|", "---:|".repeat(files.len()));
        for row in &rows {
            let cells: Vec<String> = row
                .files
                .iter()
                .map(|f| format!("{:.0}", f.summary.round_trip_mb_s))
                .collect();
            let t = &row.total.summary;
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.0} | **{:.0}** |",
                row.method,
                cells.join(" | "),
                t.compress_mb_s,
                t.decompress_mb_s,
                t.round_trip_mb_s
            );
        }
    }

    let _ = writeln!(
        out,
        "\n### Dictionaries (16 KiB requested, leave-one-out)\n"
    );
    let _ = writeln!(
        out,
        "| chunks | held out | dict bytes | samples | train ms |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|");
    for d in &report.dictionaries {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.0} |",
            d.chunking, d.held_out, d.dict_bytes, d.samples, d.train_ms
        );
    }

    let _ = writeln!(
        out,
        "\n### Context memory after {MEMORY_FRAMES} frames of 4 KiB\n"
    );
    let _ = writeln!(
        out,
        "| mode | level | window_log | Encoder::context_bytes | Decoder::context_bytes |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for m in &report.memory {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} ({}) | {} ({}) |",
            m.mode,
            m.level,
            m.window_log,
            kib(m.encoder_context_bytes),
            m.encoder_context_bytes,
            kib(m.decoder_context_bytes),
            m.decoder_context_bytes
        );
    }
    out
}

fn main() -> Result<()> {
    let args = Args::parse();
    let report = run(&args)?;
    print!("{}", markdown(&report));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
