//! Codec errors. Each names what was wrong with the frame; [`DecodeError::code`] maps it to
//! the stable wire error code sent to the peer before closing.

use crate::v1::ErrorCode;

/// Why a frame could not be decoded. None of these panics or allocates past the limit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A frame with no bytes at all (not even the flags byte).
    #[error("empty frame: the flags byte is missing")]
    Empty,
    /// The declared or actual frame length exceeds the limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// Length the frame declared or had.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// A reserved bit of the flags byte is set.
    #[error("flags byte {flags:#04x} sets reserved bit 3")]
    ReservedFlags {
        /// The flags byte received.
        flags: u8,
    },
    /// The compression field holds the reserved value 3.
    #[error("flags byte {flags:#04x} names an unknown compression (3)")]
    UnknownCompression {
        /// The flags byte received.
        flags: u8,
    },
    /// The frame names a zstd dictionary this decoder does not hold.
    #[error("frame uses zstd dictionary {id}, which this peer does not have")]
    UnknownDictionary {
        /// Dictionary id from the flags byte.
        id: u8,
    },
    /// A stream-compressed frame arrived with no stream context started (no reset bit since
    /// the connection began or since the last error).
    #[error("stream-compressed frame without a stream context (missing reset bit)")]
    NoStreamContext,
    /// zstd refused the data (corrupt input, window too large, …).
    #[error("zstd: {reason}")]
    Zstd {
        /// zstd's own description.
        reason: &'static str,
    },
    /// Decompression would exceed the frame limit (a decompression bomb, or a peer ignoring
    /// our limit).
    #[error("compressed frame expands past the limit of {max} bytes")]
    DecompressedTooLarge {
        /// The limit in force.
        max: usize,
    },
    /// A self-contained zstd frame ended before its end mark.
    #[error("zstd frame is truncated")]
    TruncatedCompression,
    /// Bytes follow the end of a self-contained zstd frame.
    #[error("{bytes} bytes follow the zstd frame")]
    TrailingData {
        /// How many.
        bytes: usize,
    },
    /// A byte stream ended in the middle of a frame.
    #[error("stream ended inside a frame: {buffered} of {needed} bytes received")]
    Truncated {
        /// Bytes received of the unfinished frame.
        buffered: usize,
        /// Bytes the frame needed (prefix included).
        needed: usize,
    },
    /// The body is not a valid `Envelope`.
    #[error("invalid protobuf envelope: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

impl DecodeError {
    /// The wire error code to report to the peer.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::FrameTooLarge { .. } | Self::DecompressedTooLarge { .. } => {
                ErrorCode::FrameTooLarge
            }
            _ => ErrorCode::MalformedFrame,
        }
    }
}

/// Why an envelope could not be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The envelope is larger than the peer accepts.
    #[error("envelope of {len} bytes exceeds the peer's limit of {max} bytes")]
    FrameTooLarge {
        /// Encoded length of the envelope.
        len: usize,
        /// The peer's limit.
        max: usize,
    },
    /// zstd failed to compress (out of memory).
    #[error("zstd: {0}")]
    Compress(&'static str),
}
