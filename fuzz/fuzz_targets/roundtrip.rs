//! `roundtrip`: the fuzz input drives one `Encoder` and one `Decoder` through a sequence of up
//! to 64 frames and checks that every decoded envelope equals the one encoded.
//!
//! From the input: the frame limit (64 KiB, or 16..=4096 bytes so that envelopes at and just
//! under the limit are reached), the zstd level and window, the `CompressionPolicy` (`Off`,
//! `FRAME`, `STREAM`, or a fuzzer-chosen threshold), then per frame: whether to call
//! `Encoder::release_context()` or `Encoder::set_compression()` first, the transport
//! (`encode_message`/`decode_message`, or `encode_stream`/`decode_stream` with the frame fed
//! in two pieces), and the envelope (seq/ack/channel and a body: TermData with raw or
//! repetitive, compressible bytes, Ping, Error, FileChunk, TermOpen with env entries, or none).
//! Frames of both transports go through the same decoder in order, so the zstd stream context
//! and its reset bit (release, policy change) are checked across every kind of transition. An
//! envelope over the limit must be refused by the encoder with `FrameTooLarge`; anything else
//! must decode. The flags byte must follow the policy in force: plain under the threshold (and
//! always with `Off`); at or above it, a `ZstdStream` policy always sends a stream frame, and a
//! `ZstdFrame` policy sends a zstd frame only when it is smaller than the plain envelope.

#![no_main]

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use devtail_proto::v1::{self, Envelope, envelope::Body};
use devtail_proto::{
    CompressionPolicy, Decoder, DecoderConfig, EncodeError, Encoder, EncoderConfig, ZstdParams,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const MAX_FRAMES: usize = 64;

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});

fn policy(u: &mut Unstructured<'_>) -> Result<CompressionPolicy> {
    Ok(match u.int_in_range(0u8..=4)? {
        0 => CompressionPolicy::Off,
        1 => CompressionPolicy::FRAME,
        2 => CompressionPolicy::STREAM,
        3 => CompressionPolicy::ZstdFrame {
            threshold: u.int_in_range(0..=512)?,
        },
        _ => CompressionPolicy::ZstdStream {
            threshold: u.int_in_range(0..=512)?,
        },
    })
}

fn bytes(u: &mut Unstructured<'_>) -> Result<Bytes> {
    let raw: &[u8] = u.arbitrary()?;
    if !u.arbitrary::<bool>()? {
        return Ok(Bytes::copy_from_slice(raw));
    }
    // Repetitive data, as terminal output is: compresses well, may reach the frame limit.
    let pattern = if raw.is_empty() {
        b"$ ls -l\r\n".as_slice()
    } else {
        raw
    };
    let total = usize::from(u.arbitrary::<u16>()?);
    Ok(pattern.iter().copied().cycle().take(total).collect())
}

fn envelope(u: &mut Unstructured<'_>) -> Result<Envelope> {
    let seq = u.arbitrary()?;
    let ack = u.arbitrary()?;
    let channel = u.arbitrary()?;
    let body = match u.int_in_range(0u8..=5)? {
        0 => Some(Body::TermData(v1::TermData { data: bytes(u)? })),
        1 => Some(Body::Ping(v1::Ping {
            nonce: u.arbitrary()?,
        })),
        2 => Some(Body::Error(v1::Error {
            code: u.int_in_range(-1..=20)?,
            message: u.arbitrary()?,
            request_id: u.arbitrary()?,
        })),
        3 => Some(Body::FileChunk(v1::FileChunk {
            offset: u.arbitrary()?,
            data: bytes(u)?,
            eof: u.arbitrary()?,
        })),
        4 => {
            let mut env = BTreeMap::new();
            for _ in 0..u.int_in_range(0u8..=8)? {
                env.insert(u.arbitrary()?, u.arbitrary()?);
            }
            Some(Body::TermOpen(v1::TermOpen {
                command: u.arbitrary()?,
                args: u.arbitrary()?,
                env,
                cwd: u.arbitrary()?,
                size: u
                    .arbitrary::<bool>()?
                    .then(|| -> Result<v1::TermSize> {
                        Ok(v1::TermSize {
                            rows: u.arbitrary()?,
                            cols: u.arbitrary()?,
                            width_px: u.arbitrary()?,
                            height_px: u.arbitrary()?,
                        })
                    })
                    .transpose()?,
                term: u.arbitrary()?,
            }))
        }
        _ => None,
    };
    Ok(Envelope {
        seq,
        ack,
        channel,
        body,
    })
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let max_frame_len = if u.arbitrary::<bool>()? {
        64 << 10
    } else {
        u.int_in_range(16..=4096)?
    };
    let zstd = ZstdParams {
        level: u.int_in_range(1..=5)?,
        window_log: u.int_in_range(10..=16)?,
    };
    let mut current = policy(u)?;
    let mut encoder = Encoder::new(EncoderConfig {
        max_frame_len,
        compression: current,
        zstd,
    });
    let mut decoder = Decoder::new(DecoderConfig {
        max_frame_len,
        max_window_log: 16,
    });
    // Measures envelopes (plain protobuf length = frame length - flags byte).
    let mut plain = Encoder::new(EncoderConfig {
        max_frame_len: usize::MAX,
        ..EncoderConfig::default()
    });
    let mut scratch = BytesMut::new();
    let mut inbound = BytesMut::new();

    for frame in 0..MAX_FRAMES {
        if u.is_empty() {
            break;
        }
        let op: u8 = u.arbitrary()?;
        if op & 0b001 != 0 {
            encoder.release_context();
            assert_eq!(encoder.context_bytes(), 0);
        }
        if op & 0b010 != 0 {
            current = policy(u)?;
            encoder.set_compression(current);
        }
        let via_stream = op & 0b100 != 0;
        let sent = envelope(u)?;
        scratch.clear();
        let len = plain.encode_message(&sent, &mut scratch).expect("no limit") - 1;

        let mut wire = BytesMut::new();
        let written = if via_stream {
            encoder.encode_stream(&sent, &mut wire)
        } else {
            encoder.encode_message(&sent, &mut wire)
        };
        let written = match written {
            Ok(written) => written,
            Err(EncodeError::FrameTooLarge { len: l, max }) => {
                assert_eq!((l, max), (len, max_frame_len));
                assert!(len > max_frame_len, "refused a {len}-byte envelope");
                continue;
            }
            Err(err) => panic!("frame {frame}: encode failed: {err:?}"),
        };
        assert!(
            len <= max_frame_len,
            "encoded a {len}-byte envelope over the limit"
        );
        assert_eq!(written, wire.len());
        let flags = wire[if via_stream { 4 } else { 0 }];
        let wire_len = wire.len();
        let transport = if via_stream {
            "encode_stream"
        } else {
            "encode_message"
        };
        let what = move || {
            format!(
                "frame {frame}: {len}-byte envelope (limit {max_frame_len}), flags {flags:#04x}, \
                 {wire_len} wire bytes via {transport}, policy {current:?}"
            )
        };
        let body_len = wire_len - if via_stream { 5 } else { 1 };
        match (current, flags & 0b11) {
            (CompressionPolicy::ZstdStream { threshold }, 0b10) if len >= threshold => {}
            (CompressionPolicy::ZstdFrame { threshold }, 0b01)
                if len >= threshold && body_len < len => {}
            (CompressionPolicy::ZstdFrame { threshold }, 0b00) if len >= threshold => {}
            (CompressionPolicy::Off, 0b00) => {}
            (
                CompressionPolicy::ZstdFrame { threshold }
                | CompressionPolicy::ZstdStream { threshold },
                0b00,
            ) if len < threshold => {}
            _ => panic!("{}: compression does not follow the policy", what()),
        }

        let received = if via_stream {
            // Feed the frame in two pieces: the first must yield Ok(None).
            let split = u.int_in_range(0..=wire.len() - 1)?;
            inbound.extend_from_slice(&wire[..split]);
            let early = decoder.decode_stream(&mut inbound);
            assert!(
                matches!(early, Ok(None)),
                "{}: first {split} bytes gave {early:?}",
                what()
            );
            inbound.extend_from_slice(&wire[split..]);
            let got = decoder.decode_stream(&mut inbound);
            let got = got.unwrap_or_else(|err| panic!("{}: decode_stream: {err:?}", what()));
            assert!(inbound.is_empty(), "{}: bytes left after the frame", what());
            decoder
                .finish_stream(&inbound)
                .expect("stream ends on a frame boundary");
            got.expect("a whole frame was buffered")
        } else {
            decoder
                .decode_message(wire.freeze())
                .unwrap_or_else(|err| panic!("{}: decode_message: {err:?}", what()))
        };
        assert_eq!(received, sent, "{}: changed in transit", what());
    }
    Ok(())
}
