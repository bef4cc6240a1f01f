//! The frame header: one flags byte in front of every Envelope, and the 4-byte length prefix
//! used on byte streams.
//!
//! ```text
//! flags byte:  7 6 5 4 | 3 | 2 | 1 0
//!              dict id | 0 | R | compression
//!   compression  00 none · 01 zstd frame · 10 zstd stream · 11 reserved
//!   R (reset)    the sender's stream context was discarded before this frame
//!   bit 3        reserved, must be 0
//!   dict id      zstd dictionary (0 = none; v1 defines none)
//! ```

use crate::DecodeError;

/// Bytes of the length prefix on byte-stream transports (u32, big-endian).
pub const LENGTH_PREFIX_LEN: usize = 4;

/// Bytes of the flags header in front of every envelope.
pub const FLAGS_LEN: usize = 1;

const COMPRESSION_MASK: u8 = 0b0000_0011;
const RESET_BIT: u8 = 0b0000_0100;
const RESERVED_BITS: u8 = 0b0000_1000;
const DICT_SHIFT: u32 = 4;

/// How a frame's body is compressed (the low two bits of the flags byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// The body is the Envelope's protobuf encoding.
    None,
    /// The body is one self-contained zstd frame.
    ZstdFrame,
    /// The body continues the sender's zstd streaming context (flushed at the frame's end).
    ZstdStream,
}

/// A decoded flags byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flags {
    /// How the body is compressed.
    pub compression: Compression,
    /// The sender discarded its stream context before this frame: the receiver drops its own
    /// (and, for [`Compression::ZstdStream`], starts a new one with this frame).
    pub reset: bool,
    /// Dictionary id, 0 for none.
    pub dictionary: u8,
}

impl Flags {
    /// Flags of an uncompressed frame.
    pub const PLAIN: Flags = Flags {
        compression: Compression::None,
        reset: false,
        dictionary: 0,
    };

    /// Encodes the flags byte.
    pub fn to_byte(self) -> u8 {
        let compression = match self.compression {
            Compression::None => 0,
            Compression::ZstdFrame => 1,
            Compression::ZstdStream => 2,
        };
        debug_assert!(self.dictionary < 16, "dictionary ids are 4 bits");
        compression | if self.reset { RESET_BIT } else { 0 } | (self.dictionary << DICT_SHIFT)
    }

    /// Parses a flags byte, refusing reserved bits and the reserved compression value.
    pub fn from_byte(byte: u8) -> Result<Flags, DecodeError> {
        if byte & RESERVED_BITS != 0 {
            return Err(DecodeError::ReservedFlags { flags: byte });
        }
        let compression = match byte & COMPRESSION_MASK {
            0 => Compression::None,
            1 => Compression::ZstdFrame,
            2 => Compression::ZstdStream,
            _ => return Err(DecodeError::UnknownCompression { flags: byte }),
        };
        Ok(Flags {
            compression,
            reset: byte & RESET_BIT != 0,
            dictionary: byte >> DICT_SHIFT,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_valid_byte_round_trips() {
        let mut valid = 0;
        for byte in 0..=u8::MAX {
            if let Ok(flags) = Flags::from_byte(byte) {
                assert_eq!(flags.to_byte(), byte);
                valid += 1;
            }
        }
        // 3 compression values × reset × 16 dictionary ids.
        assert_eq!(valid, 3 * 2 * 16);
    }

    #[test]
    fn reserved_bits_are_refused() {
        assert!(matches!(
            Flags::from_byte(0b0000_1000),
            Err(DecodeError::ReservedFlags { flags: 8 })
        ));
        assert!(matches!(
            Flags::from_byte(0b0000_0011),
            Err(DecodeError::UnknownCompression { flags: 3 })
        ));
    }
}
