//! Everything the study measures through the real `devtail_proto::Encoder`/`Decoder`: the
//! uncompressed baseline, the stream contexts of (c), the shipped policies of (d), the
//! threshold sweep of (e), and the memory a context costs on each side.

use std::time::Instant;

use anyhow::Result;
use bytes::BytesMut;
use devtail_bench::{Corpus, term_data_envelopes};
use devtail_proto::v1::Envelope;
use devtail_proto::{
    CompressionPolicy, DEFAULT_WINDOW_LOG, Decoder, DecoderConfig, Encoder, EncoderConfig,
    ZstdParams,
};

use crate::measure::{Measure, check, encoded_pass};
use crate::report::MemoryRow;
use crate::{LEVELS, MEMORY_FRAMES, STREAM_WINDOWS};

fn codec(policy: CompressionPolicy, params: ZstdParams) -> (Encoder, Decoder) {
    let enc = Encoder::new(EncoderConfig {
        compression: policy,
        zstd: params,
        ..EncoderConfig::default()
    });
    let dec = Decoder::new(DecoderConfig {
        max_window_log: params.window_log.max(DEFAULT_WINDOW_LOG),
        ..DecoderConfig::default()
    });
    (enc, dec)
}

/// One pass of the real codec over `envelopes`: fresh encoder and decoder, every frame checked.
pub(crate) fn codec_pass(
    envelopes: &[Envelope],
    input_bytes: u64,
    policy: CompressionPolicy,
    params: ZstdParams,
) -> Result<Measure> {
    let (mut enc, mut dec) = codec(policy, params);
    let mut buf = BytesMut::with_capacity(input_bytes as usize + 16 * envelopes.len());
    let mut lens = Vec::with_capacity(envelopes.len());

    let started = Instant::now();
    for envelope in envelopes {
        lens.push(enc.encode_message(envelope, &mut buf)?);
    }
    let compress_s = started.elapsed().as_secs_f64();

    let (mut m, frames) = encoded_pass(input_bytes, buf, &lens, compress_s);

    let mut decoded = Vec::with_capacity(envelopes.len());
    let started = Instant::now();
    for frame in &frames {
        decoded.push(dec.decode_message(frame.clone())?);
    }
    m.decompress_s = started.elapsed().as_secs_f64();
    check(envelopes, &decoded)?;
    Ok(m)
}

/// Context sizes on both sides after [`MEMORY_FRAMES`] frames of 4 KiB.
pub(crate) fn memory(corpus: &Corpus) -> Result<Vec<MemoryRow>> {
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
        let (mut enc, mut dec) = codec(policy, params);
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
