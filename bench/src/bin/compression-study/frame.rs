//! Parts (a) and (b) of the study: one self-contained zstd frame per chunk through zstd's bulk
//! API, without or with a dictionary trained leave-one-out on the other corpus files. Frames
//! follow the codec's frame logic (flags byte 1 + zstd frame, or flags byte 0 + the plain
//! protobuf when the zstd frame is not smaller).

use std::time::Instant;

use anyhow::{Context as _, Result};
use bytes::{Bytes, BytesMut};
use devtail_bench::Chunking;
use devtail_proto::v1::Envelope;
use prost::Message as _;

use crate::DICT_SIZE;
use crate::measure::{Measure, check, encoded_pass};
use crate::report::DictInfo;

/// zstd contexts for [`raw_pass`], made once per file.
pub(crate) struct RawCtx {
    cctx: zstd::bulk::Compressor<'static>,
    dctx: zstd::bulk::Decompressor<'static>,
}

impl RawCtx {
    pub(crate) fn new(level: i32, dict: &[u8]) -> Result<Self> {
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
pub(crate) fn raw_pass(
    envelopes: &[Envelope],
    input_bytes: u64,
    ctx: &mut RawCtx,
) -> Result<Measure> {
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

    let (mut m, frames) = encoded_pass(input_bytes, buf, &lens, compress_s);

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

/// Trains the dictionary for `held_out` from the envelopes of every other file.
pub(crate) fn train_dictionary(
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
