//! `decode_message`: arbitrary bytes, taken as one WebSocket binary message, go through
//! `Decoder::decode_message` of a fresh decoder with a 64 KiB `max_frame_len`.
//!
//! Checks that decoding never panics (flags byte, zstd frame and stream decompression,
//! protobuf), that the decoder's zstd state stays bounded, and that every error is one the
//! input can explain: `FrameTooLarge` only for a frame or body over the limit,
//! `DecompressedTooLarge` only for a compressed frame. "Never allocates past the limit" is
//! checked by running with `-malloc_limit_mb` / `-rss_limit_mb` (see fuzz/README.md): a
//! decompression bomb or a length taken on trust would exceed them.

#![no_main]

use bytes::Bytes;
use devtail_proto::{DEFAULT_WINDOW_LOG, DecodeError, Decoder, DecoderConfig};
use libfuzzer_sys::fuzz_target;

/// Small on purpose: anything allocated far beyond it is a bug the memory limits catch.
const MAX_FRAME_LEN: usize = 64 << 10;

/// Generous bound on the zstd state of one decoder (window 64 KiB, plus block buffers).
const MAX_CONTEXT_BYTES: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new(DecoderConfig {
        max_frame_len: MAX_FRAME_LEN,
        max_window_log: DEFAULT_WINDOW_LOG,
    });
    let result = decoder.decode_message(Bytes::copy_from_slice(data));
    assert!(
        decoder.context_bytes() <= MAX_CONTEXT_BYTES,
        "decoder holds {} bytes of zstd state",
        decoder.context_bytes()
    );
    let Err(err) = result else { return };
    // Formatting and the wire code must not panic either.
    let _ = err.to_string();
    let _ = err.code();
    let compression = data.first().map(|flags| flags & 0b11);
    match err {
        DecodeError::Empty => assert!(data.is_empty()),
        DecodeError::FrameTooLarge { len, max } => {
            assert!(len > max, "FrameTooLarge with len {len} <= max {max}");
            assert!(
                data.len() > MAX_FRAME_LEN,
                "FrameTooLarge for a {}-byte frame",
                data.len()
            );
        }
        DecodeError::DecompressedTooLarge { max } => {
            assert_eq!(max, MAX_FRAME_LEN);
            assert!(
                matches!(compression, Some(1 | 2)),
                "DecompressedTooLarge on a plain frame"
            );
        }
        DecodeError::NoStreamContext => assert_eq!(compression, Some(2)),
        DecodeError::TruncatedCompression | DecodeError::TrailingData { .. } => {
            assert_eq!(compression, Some(1));
        }
        DecodeError::Truncated { .. } => panic!("Truncated from decode_message"),
        _ => {}
    }
});
