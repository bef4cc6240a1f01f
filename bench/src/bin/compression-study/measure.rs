//! What one pass of a method over one corpus file records ([`Measure`], [`Summary`]), and the
//! helpers every pass shares: repeating passes to keep the fastest, cutting the output buffer
//! into frames, counting flags, checking the round trip.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use bytes::{Bytes, BytesMut};
use devtail_bench::term_bytes;
use devtail_proto::v1::Envelope;
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Measure {
    /// Terminal bytes in.
    pub(crate) input_bytes: u64,
    /// Wire bytes out (flags byte included).
    pub(crate) wire_bytes: u64,
    pub(crate) frames: u64,
    /// Frames sent uncompressed (under the threshold, or a self-contained zstd frame would not
    /// have been smaller).
    pub(crate) plain_frames: u64,
    /// Frames carrying the reset bit (a new stream context: here only the first stream frame
    /// of each file, since the encoder never releases its context during a pass).
    pub(crate) reset_frames: u64,
    /// Fastest pass, seconds.
    pub(crate) compress_s: f64,
    pub(crate) decompress_s: f64,
}

impl Measure {
    pub(crate) fn add(&mut self, other: &Measure) {
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

    pub(crate) fn summary(&self) -> Summary {
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
pub(crate) struct Summary {
    pub(crate) ratio: f64,
    pub(crate) compress_mb_s: f64,
    pub(crate) decompress_mb_s: f64,
    /// Terminal bytes / (compress + decompress time).
    pub(crate) round_trip_mb_s: f64,
    pub(crate) plain_frames_pct: f64,
}

/// Repeats `pass` (after one unmeasured warm-up pass) until `min_time` is spent, keeping the
/// fastest compress and decompress times.
pub(crate) fn best_of(
    min_time: Duration,
    mut pass: impl FnMut() -> Result<Measure>,
) -> Result<Measure> {
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
/// The measure of one encoding pass (sizes, time, frame kinds) and its frames, split out of
/// `buf` by their `lens`.
pub(crate) fn encoded_pass(
    input_bytes: u64,
    buf: BytesMut,
    lens: &[usize],
    compress_s: f64,
) -> (Measure, Vec<Bytes>) {
    let mut m = Measure {
        input_bytes,
        wire_bytes: buf.len() as u64,
        frames: lens.len() as u64,
        compress_s,
        ..Measure::default()
    };
    let frames = split_frames(buf, lens);
    count_flags(&frames, &mut m);
    (m, frames)
}

fn split_frames(buf: BytesMut, lens: &[usize]) -> Vec<Bytes> {
    let mut all = buf.freeze();
    lens.iter().map(|&len| all.split_to(len)).collect()
}

/// Counts plain frames and frames with the reset bit, from each frame's flags byte.
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

/// Fails unless every envelope came back unchanged.
pub(crate) fn check(sent: &[Envelope], got: &[Envelope]) -> Result<()> {
    ensure!(sent.len() == got.len(), "frame count differs");
    for (i, (a, b)) in sent.iter().zip(got).enumerate() {
        if a != b {
            bail!("frame {i} did not round-trip");
        }
        black_box(term_bytes(b));
    }
    Ok(())
}
