//! `decode_stream`: arbitrary bytes, cut into chunks at fuzzer-chosen points, are appended to
//! one `BytesMut` and drained with `Decoder::decode_stream` after every chunk, like a QUIC
//! read loop; one decoder (64 KiB `max_frame_len`) sees the whole byte stream, so zstd stream
//! contexts carry across frames. Decoding stops at the first error; at end of input
//! `finish_stream` is called on what is left.
//!
//! Input layout: byte 0 (mod 16) = number `n` of split bytes, bytes 1..=n = chunk sizes (each
//! `b + 1` bytes, used in turn), the rest = the byte stream. No `n` means one chunk.
//!
//! Checks that nothing panics, and:
//! - a complete frame consumes exactly its prefix and declared length; `Ok(None)` consumes
//!   nothing and only comes while the frame is incomplete;
//! - a declared length over `max_wire_len()` fails with `FrameTooLarge { len: declared }` on
//!   the first call after the 4 prefix bytes arrived, i.e. before the buffer is grown to that
//!   length (and `Ok(None)` never makes the buffer reserve more than the limit allows);
//! - `finish_stream` succeeds exactly on an empty buffer and reports the right counts.

#![no_main]

use bytes::BytesMut;
use devtail_proto::frame::LENGTH_PREFIX_LEN;
use devtail_proto::{DEFAULT_WINDOW_LOG, DecodeError, Decoder, DecoderConfig};
use libfuzzer_sys::fuzz_target;

const MAX_FRAME_LEN: usize = 64 << 10;

fn declared_len(buf: &[u8]) -> Option<usize> {
    let prefix: [u8; LENGTH_PREFIX_LEN] = buf.get(..LENGTH_PREFIX_LEN)?.try_into().ok()?;
    Some(u32::from_be_bytes(prefix) as usize)
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 16).min(rest.len());
    let (sizes, mut input) = rest.split_at(n);
    let chunk_size = |i: usize| match sizes {
        [] => usize::MAX,
        _ => usize::from(sizes[i % sizes.len()]) + 1,
    };

    let mut decoder = Decoder::new(DecoderConfig {
        max_frame_len: MAX_FRAME_LEN,
        max_window_log: DEFAULT_WINDOW_LOG,
    });
    let max_wire = decoder.max_wire_len();
    let mut buf = BytesMut::new();
    let mut chunk = 0;
    while !input.is_empty() {
        let take = chunk_size(chunk).min(input.len());
        chunk += 1;
        buf.extend_from_slice(&input[..take]);
        input = &input[take..];
        loop {
            let declared = declared_len(&buf);
            let len_before = buf.len();
            let cap_before = buf.capacity();
            match decoder.decode_stream(&mut buf) {
                Ok(Some(_envelope)) => {
                    let declared = declared.expect("a frame decoded without a length prefix");
                    assert!(declared <= max_wire, "accepted a {declared}-byte frame");
                    assert_eq!(len_before - buf.len(), LENGTH_PREFIX_LEN + declared);
                }
                Ok(None) => {
                    assert_eq!(buf.len(), len_before, "Ok(None) consumed bytes");
                    if let Some(declared) = declared {
                        assert!(declared <= max_wire, "Ok(None) for a {declared}-byte frame");
                        assert!(
                            buf.len() < LENGTH_PREFIX_LEN + declared,
                            "Ok(None) on a full frame"
                        );
                    }
                    // Growth comes from our appends (at most the input) and the room the
                    // decoder reserves for the frame (at most one frame); Vec may double it.
                    let bound = 2 * (data.len() + LENGTH_PREFIX_LEN + max_wire);
                    assert!(
                        buf.capacity() <= bound,
                        "reserved {} bytes (had {cap_before}) for a {declared:?}-byte frame",
                        buf.capacity()
                    );
                    break;
                }
                Err(err) => {
                    let _ = err.to_string();
                    if let Some(declared) = declared.filter(|&d| d > max_wire) {
                        assert!(
                            matches!(err, DecodeError::FrameTooLarge { len, max }
                                if len == declared && max == max_wire),
                            "declared {declared} > {max_wire} gave {err:?}"
                        );
                        assert!(
                            buf.capacity() <= cap_before,
                            "buffer grew for an oversized frame"
                        );
                    }
                    return; // a real connection closes here
                }
            }
        }
    }
    match decoder.finish_stream(&buf) {
        Ok(()) => assert!(buf.is_empty()),
        Err(DecodeError::Truncated { buffered, needed }) => {
            assert_eq!(buffered, buf.len());
            assert!(buffered > 0 && buffered < needed);
        }
        Err(err) => panic!("finish_stream: {err:?}"),
    }
});
