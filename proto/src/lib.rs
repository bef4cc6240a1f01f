//! devtail-proto: the devtail wire protocol.
//!
//! - [`v1`]: the messages of `devtail.proto` (prost types, with the proto3 JSON mapping via
//!   serde), the contract every client implements;
//! - [`Encoder`] / [`Decoder`]: the sans-IO frame codec — a flags byte, optional zstd
//!   (self-contained frames or a per-connection stream context), a length prefix on byte
//!   streams — with every length checked before allocation;
//! - [`negotiate`]: picks the compression both ends support.
//!
//! This crate does no IO and never reads a clock. PROTOCOL.md at the repository root is the
//! prose contract; `testdata/vectors.json` holds golden frames.

#![forbid(unsafe_code)]

mod body;
mod codec;
mod compress;
mod error;
pub mod frame;
pub mod reliability;
pub mod streams;

pub use codec::{
    CompressionPolicy, DEFAULT_MAX_FRAME_LEN, Decoder, DecoderConfig, Encoder, EncoderConfig,
    FRAME_COMPRESS_THRESHOLD, STREAM_COMPRESS_THRESHOLD, max_wire_len,
};
pub use compress::{DEFAULT_WINDOW_LOG, ZstdParams};
pub use error::{DecodeError, EncodeError};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Messages of `package devtail.v1`, generated from `devtail.proto`.
#[allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    unused_qualifications,
    clippy::all,
    clippy::pedantic
)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/devtail.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/devtail.v1.serde.rs"));
}

/// Binary `FileDescriptorSet` of `devtail.proto`, for reflection and tooling.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/devtail.bin"));

/// What this implementation can decode, to put in `Hello`/`Welcome`.
pub fn compression_support() -> v1::CompressionSupport {
    v1::CompressionSupport {
        modes: vec![
            v1::CompressionMode::ZstdStream as i32,
            v1::CompressionMode::ZstdFrame as i32,
        ],
        dictionaries: Vec::new(),
        max_window_log: DEFAULT_WINDOW_LOG,
    }
}

/// Chooses how to compress towards a peer that advertised `peer`: a stream context when it
/// decodes one (best ratio on terminal output), else self-contained frames, else nothing.
/// Returns the policy and the zstd parameters to use (window no larger than the peer allows).
pub fn negotiate(peer: Option<&v1::CompressionSupport>) -> (CompressionPolicy, ZstdParams) {
    let Some(peer) = peer else {
        return (CompressionPolicy::Off, ZstdParams::default());
    };
    let window_log = match peer.max_window_log {
        0 => DEFAULT_WINDOW_LOG,
        n => n.min(DEFAULT_WINDOW_LOG),
    };
    let params = ZstdParams {
        window_log,
        ..ZstdParams::default()
    };
    let offers = |mode: v1::CompressionMode| peer.modes.contains(&(mode as i32));
    let policy = if offers(v1::CompressionMode::ZstdStream) {
        CompressionPolicy::STREAM
    } else if offers(v1::CompressionMode::ZstdFrame) {
        CompressionPolicy::FRAME
    } else {
        CompressionPolicy::Off
    };
    (policy, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_prefers_the_stream_context() {
        let ours = compression_support();
        assert_eq!(negotiate(Some(&ours)).0, CompressionPolicy::STREAM);
        let frame_only = v1::CompressionSupport {
            modes: vec![v1::CompressionMode::ZstdFrame as i32],
            max_window_log: 12,
            ..Default::default()
        };
        let (policy, params) = negotiate(Some(&frame_only));
        assert_eq!(policy, CompressionPolicy::FRAME);
        assert_eq!(params.window_log, 12);
        assert_eq!(negotiate(None).0, CompressionPolicy::Off);
        assert_eq!(
            negotiate(Some(&v1::CompressionSupport::default())).0,
            CompressionPolicy::Off
        );
    }
}
