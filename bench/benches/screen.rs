//! Criterion benches of the gateway's screen model (`devtail_gateway::terminal::screen`): the
//! terminal emulator every byte of a terminal's output goes through, so the gateway can answer
//! with a snapshot after an absence. It follows the output on its own task, and a program can
//! only run ahead of it by the terminal log's capacity: its speed bounds a flood's throughput.
//!
//! - `process/corpus/<rows>x<cols>`: the real terminal captures (coloured logs, builds with
//!   progress bars, full-screen redraws), in 4 KiB reads;
//! - `process/flood/<rows>x<cols>`: `yes`-style plain lines in a raw terminal (line feeds
//!   without carriage returns), the throughput scenario of the load tester, in 4 KiB reads;
//! - `process/flood-batched/<rows>x<cols>`: the same in 64 KiB pieces, the least the gateway's
//!   screen task takes at once while a program floods (it is woken per 64 KiB and takes up to
//!   128 KiB): most lines scroll out within a piece, and those go unparsed;
//! - `snapshot/<rows>x<cols>`: rendering the screen and 200 lines of scrollback into the ANSI
//!   text a snapshot sends, after the corpus has been played.
//!
//! `cargo bench -p devtail-bench --bench screen -- --quick`

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use devtail_bench::{Corpus, exact_chunks};
use devtail_gateway::terminal::screen::Screen;

/// Terminal sizes: a phone in portrait, a laptop window.
const SIZES: [(u16, u16); 2] = [(24, 80), (50, 200)];

/// A PTY read under load.
const READ: usize = 4096;

/// What the screen task takes at once during a flood, at the least.
const BATCH: usize = 64 << 10;

fn flood() -> Vec<u8> {
    let line = b"devtail throughput: the quick brown fox jumps over the lazy dog 0123456789\n";
    line.iter().copied().cycle().take(1 << 20).collect()
}

fn main() {
    let corpus = Corpus::load();
    let mut all = Vec::new();
    for file in &corpus.files {
        all.extend_from_slice(&file.data);
    }
    let corpus_reads = exact_chunks(&all.into(), READ);
    let flood = flood();
    let flood_reads: Vec<&[u8]> = flood.chunks(READ).collect();
    let flood_batches: Vec<&[u8]> = flood.chunks(BATCH).collect();

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("process");
    for (rows, cols) in SIZES {
        let size = format!("{rows}x{cols}");
        let bytes: usize = corpus_reads.iter().map(|r| r.len()).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(format!("corpus/{size}"), |b| {
            let mut screen = Screen::new(rows, cols);
            b.iter(|| {
                for read in &corpus_reads {
                    black_box(screen.process(read));
                }
                screen.compact();
            });
        });
        group.throughput(Throughput::Bytes(flood.len() as u64));
        for (name, reads) in [("flood", &flood_reads), ("flood-batched", &flood_batches)] {
            group.bench_function(format!("{name}/{size}"), |b| {
                let mut screen = Screen::new(rows, cols);
                b.iter(|| {
                    for read in reads {
                        black_box(screen.process(read));
                    }
                    screen.compact();
                });
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("snapshot");
    for (rows, cols) in SIZES {
        let mut screen = Screen::new(rows, cols);
        for read in &corpus_reads {
            screen.process(read);
        }
        screen.compact();
        group.bench_function(format!("{rows}x{cols}"), |b| {
            b.iter(|| {
                black_box(screen.render_screen());
                black_box(screen.render_scrollback(200));
            });
        });
    }
    group.finish();
    c.final_summary();
}
