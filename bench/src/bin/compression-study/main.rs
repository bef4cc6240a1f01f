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
//!
//! plus the memory a stream context costs on each side. Every frame is what the codec sends:
//! 1 flags byte + the zstd body, or + the plain protobuf (under the threshold, or when a
//! self-contained zstd frame would not be smaller). Ratio = terminal bytes in / wire bytes out.
//! MB/s = 10⁶ terminal bytes per second.
//!
//! This file holds the command line and the measuring loop; [`methods`] lists the rows,
//! [`frame`] measures (a)/(b), [`codec`] everything that goes through the real codec,
//! [`measure`] what one pass records, and [`report`] the tables and the JSON.
//!
//! `cargo run --release -p devtail-bench --bin compression-study -- [--json PATH]`

mod codec;
mod frame;
mod measure;
mod methods;
mod report;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use clap::Parser;
use devtail_bench::{Chunking, Corpus, CorpusSource, corpus_dir, term_data_envelopes};
use devtail_proto::v1::Envelope;

use crate::measure::best_of;
use crate::methods::{Method, MethodSpec, methods};
use crate::report::{CorpusInfo, NOTES, Report, Row};

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
/// Frames encoded before reading `context_bytes()`.
const MEMORY_FRAMES: usize = 8;

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
            let (dict, info) = frame::train_dictionary(chunking, &envelopes, i, &file.name)?;
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
                            let mut ctx = frame::RawCtx::new(level, dict)?;
                            best_of(min_time, || frame::raw_pass(envs, input_bytes, &mut ctx))?
                        }
                        Method::Codec { policy, params } => best_of(min_time, || {
                            codec::codec_pass(envs, input_bytes, policy, params)
                        })?,
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
        memory: codec::memory(&corpus)?,
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    let report = run(&args)?;
    print!("{}", report::markdown(&report));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
