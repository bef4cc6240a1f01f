//! Shared helpers for devtail's benches and the compression study: the terminal corpus (real
//! PTY captures read at run time, or a deterministic synthetic stand-in when they are absent),
//! splitting a byte stream into the chunks PTY reads return, and `TermData` envelopes.
//!
//! The corpus is read from `$DEVTAIL_CORPUS`, else from `shared/corpus/terminal` next to the
//! repository (see [`DEFAULT_CORPUS_DIR`]); it is never copied into the repository.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use devtail_proto::v1::{Envelope, TermData, envelope::Body};

/// Environment variable naming the corpus directory.
pub const CORPUS_ENV: &str = "DEVTAIL_CORPUS";

/// Where the corpus lives when [`CORPUS_ENV`] is unset: `/work/shared/corpus/terminal` for a
/// checkout at `/work/main`.
pub const DEFAULT_CORPUS_DIR: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus/terminal");

/// Channel the benchmark envelopes travel on (gateway-opened channels are even).
pub const BENCH_CHANNEL: u32 = 2;

/// One byte stream of the corpus.
#[derive(Debug, Clone)]
pub struct CorpusFile {
    /// File name (or the synthetic stream's name).
    pub name: String,
    /// Raw PTY bytes.
    pub data: Bytes,
}

/// Where a [`Corpus`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorpusSource {
    /// Real captures read from this directory.
    Dir(PathBuf),
    /// The synthetic generator, because the real corpus could not be read (the reason).
    Synthetic(String),
}

/// Terminal output to measure on.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Where the bytes came from.
    pub source: CorpusSource,
    /// The byte streams, in name order.
    pub files: Vec<CorpusFile>,
}

/// The corpus directory in force: `$DEVTAIL_CORPUS`, else [`DEFAULT_CORPUS_DIR`].
pub fn corpus_dir() -> PathBuf {
    std::env::var_os(CORPUS_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CORPUS_DIR))
}

impl Corpus {
    /// Loads the corpus from [`corpus_dir`], falling back to the synthetic generator.
    pub fn load() -> Self {
        Self::load_or_synthetic(&corpus_dir())
    }

    /// Loads the corpus from `dir`, falling back to the synthetic generator when it cannot be
    /// read or holds no captures.
    pub fn load_or_synthetic(dir: &Path) -> Self {
        match Self::from_dir(dir) {
            Ok(corpus) => corpus,
            Err(err) => Self::synthetic(format!("{}: {err}", dir.display())),
        }
    }

    /// Reads every regular file of `dir` except Markdown (the README), sorted by name.
    pub fn from_dir(dir: &Path) -> std::io::Result<Self> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            if !entry.file_type()?.is_file() || path.extension().is_some_and(|ext| ext == "md") {
                continue;
            }
            let data = std::fs::read(&path)?;
            if data.is_empty() {
                continue;
            }
            files.push(CorpusFile {
                name: entry.file_name().to_string_lossy().into_owned(),
                data: Bytes::from(data),
            });
        }
        if files.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no capture files in the directory",
            ));
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        Ok(Self {
            source: CorpusSource::Dir(dir),
            files,
        })
    }

    /// The deterministic synthetic corpus (same bytes on every machine), with the reason the
    /// real one was not used.
    pub fn synthetic(reason: impl Into<String>) -> Self {
        Self {
            source: CorpusSource::Synthetic(reason.into()),
            files: synthetic::generate(),
        }
    }

    /// True when the bytes come from the synthetic generator.
    pub fn is_synthetic(&self) -> bool {
        matches!(self.source, CorpusSource::Synthetic(_))
    }

    /// Total bytes over all files.
    pub fn total_len(&self) -> usize {
        self.files.iter().map(|f| f.data.len()).sum()
    }

    /// All files one after the other (one long session).
    pub fn concatenated(&self) -> Bytes {
        let mut all = Vec::with_capacity(self.total_len());
        for file in &self.files {
            all.extend_from_slice(&file.data);
        }
        Bytes::from(all)
    }

    /// One line saying what is being measured, for the top of a bench's output.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        match &self.source {
            CorpusSource::Dir(dir) => {
                let _ = write!(
                    out,
                    "corpus: {} ({} files,",
                    dir.display(),
                    self.files.len()
                );
            }
            CorpusSource::Synthetic(reason) => {
                let _ = write!(
                    out,
                    "corpus: NOT FOUND ({reason}); using the SYNTHETIC terminal-like generator \
                     ({} files,",
                    self.files.len()
                );
            }
        }
        let _ = write!(out, " {} bytes:", self.total_len());
        for file in &self.files {
            let _ = write!(out, " {} {}", file.name, file.data.len());
        }
        out.push(')');
        out
    }
}

/// How a byte stream is cut into PTY reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunking {
    /// Reads of exactly this many bytes (a producer faster than the reader fills every read
    /// buffer); the last chunk of a stream may be shorter.
    Fixed(usize),
    /// Reads of varying size, log-uniform between 1 B and 4 KiB (median ≈ 64 B), from a seeded
    /// generator: keystroke echoes and short lines mixed with full buffers.
    Mixed {
        /// Seed of the size sequence.
        seed: u64,
    },
}

/// Largest read of [`Chunking::Mixed`].
pub const MIXED_MAX_CHUNK: usize = 4096;

impl Chunking {
    /// Short name: "64 B", "4 KiB", "mixed".
    pub fn label(&self) -> String {
        match *self {
            Self::Fixed(size) if size >= 1024 && size.is_multiple_of(1024) => {
                format!("{} KiB", size / 1024)
            }
            Self::Fixed(size) => format!("{size} B"),
            Self::Mixed { .. } => "mixed".to_owned(),
        }
    }

    /// Cuts `data` into chunks (zero-copy slices).
    pub fn split(&self, data: &Bytes) -> Vec<Bytes> {
        match *self {
            Self::Fixed(size) => fixed_chunks(data, size),
            Self::Mixed { seed } => mixed_chunks(data, seed),
        }
    }
}

/// Cuts `data` into chunks of `size` bytes; the last one may be shorter.
pub fn fixed_chunks(data: &Bytes, size: usize) -> Vec<Bytes> {
    assert!(size > 0, "chunk size must be positive");
    (0..data.len())
        .step_by(size)
        .map(|at| data.slice(at..(at + size).min(data.len())))
        .collect()
}

/// Cuts `data` into chunks of `size` bytes, dropping a shorter tail: every chunk is exactly
/// `size` bytes (so a throughput per chunk is exact). Empty when `data` is shorter than `size`.
pub fn exact_chunks(data: &Bytes, size: usize) -> Vec<Bytes> {
    let mut chunks = fixed_chunks(data, size);
    if chunks.last().is_some_and(|last| last.len() < size) {
        chunks.pop();
    }
    chunks
}

/// `count` consecutive chunks of exactly `size` bytes, going back to the start of `data` as
/// often as needed: more output than the corpus holds (e.g. 8 MiB of a 1.5 MB corpus) as
/// zero-copy slices. A shorter tail of `data` is skipped at each wrap, as in [`exact_chunks`].
pub fn cycled_chunks(data: &Bytes, size: usize, count: usize) -> Vec<Bytes> {
    let chunks = exact_chunks(data, size);
    assert!(!chunks.is_empty(), "corpus shorter than {size} bytes");
    chunks.iter().cycle().take(count).cloned().collect()
}

/// Cuts `data` into reads of log-uniformly distributed size in 1 B..=4 KiB (deterministic for
/// a given seed).
pub fn mixed_chunks(data: &Bytes, seed: u64) -> Vec<Bytes> {
    let mut rng = Rng::new(seed);
    let max_log2 = (MIXED_MAX_CHUNK as f64).log2();
    let mut chunks = Vec::new();
    let mut at = 0;
    while at < data.len() {
        // 2^u for u uniform in [0, 12]: as many 1–8 B reads as 512 B–4 KiB ones.
        let size = (rng.unit() * max_log2).exp2().round() as usize;
        let end = (at + size.clamp(1, MIXED_MAX_CHUNK)).min(data.len());
        chunks.push(data.slice(at..end));
        at = end;
    }
    chunks
}

/// A `TermData` envelope as the gateway sends it: sequenced, acknowledging the peer.
pub fn term_data(seq: u64, data: Bytes) -> Envelope {
    Envelope {
        seq,
        // The phone sends little: its cumulative ack stays small and rarely changes.
        ack: 7,
        channel: BENCH_CHANNEL,
        body: Some(term_body(data)),
    }
}

/// The body of a `TermData` envelope carrying `data`: what the gateway hands to
/// `Reliability::send` for one PTY read (the reliability core assigns seq and ack).
pub fn term_body(data: Bytes) -> Body {
    Body::TermData(TermData { data })
}

/// Envelopes for consecutive chunks, with sequence numbers 1, 2, 3…
pub fn term_data_envelopes(chunks: &[Bytes]) -> Vec<Envelope> {
    chunks
        .iter()
        .zip(1..)
        .map(|(chunk, seq)| term_data(seq, chunk.clone()))
        .collect()
}

/// The terminal bytes of a `TermData` envelope (empty for any other body).
pub fn term_bytes(envelope: &Envelope) -> &[u8] {
    match &envelope.body {
        Some(Body::TermData(term)) => &term.data,
        _ => &[],
    }
}

/// xorshift64*: small, fast, and the same on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Self {
        Self((seed ^ 0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// One element of `items`.
    pub fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }
}

/// The synthetic corpus: colored log lines, a cargo-like build with a progress bar, and
/// full-screen redraws with cursor addressing. Deterministic.
pub mod synthetic {
    use std::fmt::Write as _;

    use bytes::Bytes;

    use super::{CorpusFile, Rng};

    const WORDS: &[&str] = &[
        "session",
        "channel",
        "frame",
        "replay",
        "buffer",
        "client",
        "gateway",
        "terminal",
        "resize",
        "flush",
        "window",
        "stream",
        "decoder",
        "encoder",
        "handshake",
        "attach",
        "detach",
        "snapshot",
        "offset",
        "timeout",
        "retry",
        "connected",
        "closed",
        "path",
    ];
    const MODULES: &[&str] = &[
        "devtail_gateway::session",
        "devtail_gateway::pty",
        "devtail_proto::codec",
        "devtail_gateway::net::quic",
        "devtail_gateway::sync",
    ];
    const CRATES: &[&str] = &[
        "serde",
        "tokio",
        "bytes",
        "prost",
        "zstd-sys",
        "rustls",
        "ring",
        "tracing",
        "clap",
        "anyhow",
        "libc",
        "mio",
        "hashbrown",
        "regex",
        "memchr",
        "quinn",
        "h2",
        "hyper",
    ];

    /// The three synthetic streams (≈ 448 KiB in all).
    pub fn generate() -> Vec<CorpusFile> {
        vec![
            CorpusFile {
                name: "synthetic-build.ansi".to_owned(),
                data: build_log(1, 64 << 10),
            },
            CorpusFile {
                name: "synthetic-logs.ansi".to_owned(),
                data: colored_logs(2, 256 << 10),
            },
            CorpusFile {
                name: "synthetic-screen.raw".to_owned(),
                data: screen_redraws(3, 128 << 10),
            },
        ]
    }

    /// Log lines: dim timestamp, colored level, bold target, key=value fields.
    pub fn colored_logs(seed: u64, len: usize) -> Bytes {
        let mut rng = Rng::new(seed);
        let mut out = String::with_capacity(len + 256);
        let mut millis = 1_714_560_000_000u64;
        while out.len() < len {
            millis += rng.below(900) as u64;
            let (level, color) = match rng.below(20) {
                0 => ("ERROR", 31),
                1 | 2 => (" WARN", 33),
                3..=5 => ("DEBUG", 34),
                _ => (" INFO", 32),
            };
            let _ = write!(
                out,
                "\x1b[2m{}.{:03}Z\x1b[0m \x1b[{color}m{level}\x1b[0m \x1b[1m{}\x1b[0m: {} {}",
                millis / 1000,
                millis % 1000,
                rng.pick(MODULES),
                rng.pick(WORDS),
                rng.pick(WORDS),
            );
            for _ in 0..rng.below(4) {
                let _ = write!(
                    out,
                    " \x1b[3m{}\x1b[0m={}",
                    rng.pick(WORDS),
                    rng.below(100_000)
                );
            }
            out.push_str("\r\n");
        }
        Bytes::from(out)
    }

    /// `cargo build`: green "Compiling" lines and a progress bar redrawn with `\r` + erase.
    pub fn build_log(seed: u64, len: usize) -> Bytes {
        let mut rng = Rng::new(seed);
        let mut out = String::with_capacity(len + 256);
        let total = 221;
        let mut done = 0;
        while out.len() < len {
            done = (done % total) + 1;
            let _ = write!(
                out,
                "\r\x1b[K\x1b[1m\x1b[32m   Compiling\x1b[0m {} v{}.{}.{}\r\n",
                rng.pick(CRATES),
                rng.below(3),
                rng.below(40),
                rng.below(20)
            );
            let filled = done * 40 / total;
            let _ = write!(
                out,
                "\x1b[1m\x1b[36m    Building\x1b[0m [{}>{}] {done}/{total}: {}, {}",
                "=".repeat(filled),
                " ".repeat(40 - filled),
                rng.pick(CRATES),
                rng.pick(CRATES)
            );
        }
        Bytes::from(out)
    }

    /// A full-screen program (120×40): cursor-addressed rows, a reverse-video status line,
    /// partial updates.
    pub fn screen_redraws(seed: u64, len: usize) -> Bytes {
        let mut rng = Rng::new(seed);
        let mut out = String::with_capacity(len + 8192);
        while out.len() < len {
            if rng.below(4) == 0 {
                out.push_str("\x1b[H\x1b[2J");
                for row in 1..=39 {
                    let _ = write!(out, "\x1b[{row};1H\x1b[38;5;{}m{row:>4}\x1b[0m ", 240);
                    for _ in 0..rng.below(12) {
                        let _ = write!(out, "{} ", rng.pick(WORDS));
                    }
                }
            } else {
                for _ in 0..rng.below(6) + 1 {
                    let _ = write!(
                        out,
                        "\x1b[{};{}H\x1b[K{}",
                        rng.below(39) + 1,
                        rng.below(80) + 1,
                        rng.pick(WORDS)
                    );
                }
            }
            let _ = write!(
                out,
                "\x1b[40;1H\x1b[7m NORMAL \x1b[0m {} {}:{} \x1b[40;{}H",
                rng.pick(WORDS),
                rng.below(4000),
                rng.below(120),
                rng.below(120) + 1
            );
        }
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_corpus_dir_points_next_to_the_checkout() {
        assert!(DEFAULT_CORPUS_DIR.ends_with("/bench/../../shared/corpus/terminal"));
    }

    #[test]
    fn chunkers_cover_the_stream_exactly() {
        let data = synthetic::colored_logs(9, 10_000);
        for chunking in [
            Chunking::Fixed(64),
            Chunking::Fixed(4096),
            Chunking::Mixed { seed: 1 },
        ] {
            let chunks = chunking.split(&data);
            let joined: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
            assert_eq!(joined, data);
            assert!(chunks.iter().all(|c| !c.is_empty() && c.len() <= 4096));
        }
        assert!(exact_chunks(&data, 4096).iter().all(|c| c.len() == 4096));
        let cycled = cycled_chunks(&data, 4096, 5);
        assert_eq!(cycled.len(), 5);
        assert_eq!(
            cycled[2], cycled[0],
            "10 000 bytes hold two whole 4 KiB chunks"
        );
        assert!(cycled.iter().all(|c| c.len() == 4096));
    }

    #[test]
    fn synthetic_corpus_is_deterministic() {
        let a = Corpus::synthetic("test");
        let b = Corpus::synthetic("test");
        assert!(a.is_synthetic());
        assert_eq!(a.concatenated(), b.concatenated());
        assert!(a.total_len() > 400_000);
    }
}
