//! The study's results: the rows, dictionaries and context sizes as one serializable
//! [`Report`] (written as JSON with `--json`), and the Markdown tables printed on stdout.

use std::fmt::Write as _;

use devtail_bench::{Chunking, Corpus};
use serde::Serialize;

use crate::measure::{Measure, Summary};
use crate::methods::{Method, MethodSpec, threshold_of};
use crate::{CHUNKINGS, MEMORY_FRAMES};

#[derive(Debug, Serialize)]
pub(crate) struct FileResult {
    pub(crate) file: String,
    #[serde(flatten)]
    pub(crate) measure: Measure,
    #[serde(flatten)]
    pub(crate) summary: Summary,
}

fn result(file: String, measure: Measure) -> FileResult {
    let summary = measure.summary();
    FileResult {
        file,
        measure,
        summary,
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct Row {
    pub(crate) chunking: String,
    pub(crate) part: &'static str,
    pub(crate) method: String,
    pub(crate) level: i32,
    pub(crate) window_log: Option<u32>,
    pub(crate) threshold: Option<usize>,
    pub(crate) files: Vec<FileResult>,
    pub(crate) total: FileResult,
}

impl Row {
    pub(crate) fn new(
        chunking: Chunking,
        spec: &MethodSpec,
        corpus: &Corpus,
        measures: Vec<Measure>,
    ) -> Self {
        let (level, window_log, threshold) = match spec.method {
            Method::Raw { level, .. } => (level, None, Some(0)),
            Method::Codec { policy, params } => (
                params.level,
                threshold_of(policy).map(|_| params.window_log),
                threshold_of(policy),
            ),
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
    pub(crate) fn merge_fastest(&mut self, measures: Vec<Measure>) {
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
pub(crate) struct DictInfo {
    pub(crate) chunking: String,
    pub(crate) held_out: String,
    pub(crate) dict_bytes: usize,
    pub(crate) samples: usize,
    pub(crate) train_ms: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct MemoryRow {
    pub(crate) mode: &'static str,
    pub(crate) level: i32,
    pub(crate) window_log: u32,
    pub(crate) encoder_context_bytes: usize,
    pub(crate) decoder_context_bytes: usize,
}

#[derive(Debug, Serialize)]
pub(crate) struct CorpusInfo {
    pub(crate) source: String,
    pub(crate) synthetic: bool,
    pub(crate) files: Vec<(String, usize)>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) generated_unix_s: u64,
    pub(crate) corpus: CorpusInfo,
    pub(crate) notes: Vec<&'static str>,
    pub(crate) rows: Vec<Row>,
    pub(crate) dictionaries: Vec<DictInfo>,
    pub(crate) memory: Vec<MemoryRow>,
}

pub(crate) const NOTES: [&str; 4] = [
    "ratio = terminal bytes / wire bytes; a wire frame = 1 flags byte + zstd body, or + the \
     plain protobuf Envelope when under the threshold or when a self-contained zstd frame \
     would not be smaller (a stream frame at or above the threshold is always sent compressed)",
    "MB/s = 1e6 terminal bytes per second; fastest of repeated passes; protobuf encode/decode \
     included; one fresh context per file (one file = one connection)",
    "(b) trains on the chunks (as encoded Envelopes) of the other files and measures on the \
     held-out one; the dictionary id travels in the flags byte, not in the zstd frame",
    "mixed = PTY reads of log-uniform size in 1 B..4 KiB (seeded), not real read boundaries",
];

fn kib(bytes: usize) -> String {
    format!("{:.0} KiB", bytes as f64 / 1024.0)
}

/// The report as Markdown: per chunk size a ratio table and a throughput table, then the
/// dictionaries and the context memory.
pub(crate) fn markdown(report: &Report) -> String {
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
