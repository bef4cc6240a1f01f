//! Sans-IO frame codec: [`Envelope`] ⇄ wire bytes, for message transports (one WebSocket
//! binary message = one frame) and byte streams (QUIC streams: 4-byte length prefix).
//!
//! One [`Encoder`] and one [`Decoder`] serve one ordered frame sequence (a WebSocket
//! connection, or one QUIC stream): a zstd stream context lives exactly that long. Nothing here
//! does IO or reads a clock; the caller moves bytes.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;

use crate::compress::{Compressor, DEFAULT_WINDOW_LOG, Decompressor, ZstdParams};
use crate::frame::{Compression, FLAGS_LEN, Flags, LENGTH_PREFIX_LEN};
use crate::v1::Envelope;
use crate::{DecodeError, EncodeError};

/// Largest envelope (after decompression) a v1 peer must accept: 4 MiB. Big enough for a large
/// `git diff` in one answer; bulk transfers travel as 64 KiB chunks far below it.
pub const DEFAULT_MAX_FRAME_LEN: usize = 4 << 20;

/// Envelopes smaller than this are sent uncompressed with a stream context: a keystroke echo
/// (≈ 10 B) never gains, while a 64 B PTY read already shrinks ×3 (see PROTOCOL.md).
pub const STREAM_COMPRESS_THRESHOLD: usize = 48;

/// Envelopes smaller than this are sent uncompressed in self-contained-frame mode: alone, a
/// chunk under ~256 B does not compress (zstd's frame header eats the gain).
pub const FRAME_COMPRESS_THRESHOLD: usize = 256;

/// Most a stream decoder reserves ahead of received bytes for a frame still arriving.
const RESERVE_AHEAD: usize = 64 << 10; // 64 KiB: one QUIC read's worth

/// Largest frame on the wire for envelopes of at most `max_frame_len` bytes: the flags byte,
/// plus zstd's worst-case expansion of incompressible data (1/256 of it, plus 64 bytes for the
/// frame and block headers of a small frame — zstd's own `ZSTD_COMPRESSBOUND` margin).
pub fn max_wire_len(max_frame_len: usize) -> usize {
    max_frame_len + FLAGS_LEN + (max_frame_len >> 8) + 64
}

/// How an [`Encoder`] compresses, chosen from what the peer can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressionPolicy {
    /// Never compress (before the handshake, or when the peer decodes nothing).
    Off,
    /// One zstd frame per envelope at or above `threshold` bytes.
    ZstdFrame {
        /// Smallest envelope worth compressing, in bytes.
        threshold: usize,
    },
    /// A per-connection zstd stream, flushed at every frame, for envelopes at or above
    /// `threshold` bytes.
    ZstdStream {
        /// Smallest envelope worth compressing, in bytes.
        threshold: usize,
    },
}

impl CompressionPolicy {
    /// Stream context with the default threshold: the v1 choice whenever the peer supports it.
    pub const STREAM: Self = Self::ZstdStream {
        threshold: STREAM_COMPRESS_THRESHOLD,
    };
    /// Self-contained frames with the default threshold.
    pub const FRAME: Self = Self::ZstdFrame {
        threshold: FRAME_COMPRESS_THRESHOLD,
    };
}

/// Settings of an [`Encoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Largest envelope the peer accepts (its `max_frame_len`), in bytes.
    pub max_frame_len: usize,
    /// Compression to apply.
    pub compression: CompressionPolicy,
    /// zstd level and window.
    pub zstd: ZstdParams,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            compression: CompressionPolicy::Off,
            zstd: ZstdParams::default(),
        }
    }
}

/// Turns envelopes into frames.
#[derive(Debug)]
pub struct Encoder {
    config: EncoderConfig,
    /// zstd context, created on first use and dropped by [`Encoder::release_context`].
    ctx: Option<Compressor>,
    /// The next stream-compressed frame starts a new context and must carry the reset bit.
    stream_fresh: bool,
    /// The peer holds a stream context of ours (we sent a stream-compressed frame since the
    /// last reset).
    peer_holds_context: bool,
    /// We dropped that context: the next frame tells the peer with the reset bit.
    release_pending: bool,
    /// Protobuf encoding of the envelope being compressed (reused between frames).
    plain: Vec<u8>,
    /// Compressed body (reused between frames).
    packed: Vec<u8>,
}

impl Encoder {
    /// Creates an encoder.
    pub fn new(config: EncoderConfig) -> Self {
        Self {
            config,
            ctx: None,
            stream_fresh: true,
            peer_holds_context: false,
            release_pending: false,
            plain: Vec::new(),
            packed: Vec::new(),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// Changes the compression policy (after the handshake). A stream context in use is
    /// released first, so the peer learns of it through the reset bit.
    pub fn set_compression(&mut self, compression: CompressionPolicy) {
        if compression != self.config.compression {
            self.release_context();
            self.config.compression = compression;
        }
    }

    /// Frees the zstd context (e.g. after the connection went idle). The next frame carries
    /// the reset bit so that the peer frees its own; compression resumes with a new context.
    pub fn release_context(&mut self) {
        self.ctx = None;
        self.stream_fresh = true;
        self.release_pending = self.peer_holds_context;
        self.plain = Vec::new();
        self.packed = Vec::new();
    }

    /// Bytes of zstd state held now (0 when released or never used).
    pub fn context_bytes(&self) -> usize {
        self.ctx.as_ref().map_or(0, Compressor::memory)
    }

    /// Appends `envelope` to `dst` as one frame for a message transport (WebSocket).
    /// Returns the frame's length in bytes.
    pub fn encode_message(
        &mut self,
        envelope: &Envelope,
        dst: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        self.encode_frame(envelope, dst)
    }

    /// Appends `envelope` to `dst` as one length-prefixed frame for a byte stream (QUIC).
    /// Returns the bytes written, prefix included.
    pub fn encode_stream(
        &mut self,
        envelope: &Envelope,
        dst: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        let at = dst.len();
        dst.put_u32(0); // patched below, once the body's size is known
        let len = match self.encode_frame(envelope, dst) {
            Ok(len) => len,
            Err(e) => {
                // Leave `dst` as it was: no orphan prefix for the caller to send.
                dst.truncate(at);
                return Err(e);
            }
        };
        let prefix = u32::try_from(len).expect("frames are bounded far below 4 GiB");
        dst[at..at + LENGTH_PREFIX_LEN].copy_from_slice(&prefix.to_be_bytes());
        Ok(LENGTH_PREFIX_LEN + len)
    }

    fn encode_frame(
        &mut self,
        envelope: &Envelope,
        dst: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        let len = envelope.encoded_len();
        if len > self.config.max_frame_len {
            return Err(EncodeError::FrameTooLarge {
                len,
                max: self.config.max_frame_len,
            });
        }
        let compression = match self.config.compression {
            CompressionPolicy::ZstdFrame { threshold } if len >= threshold => {
                Compression::ZstdFrame
            }
            CompressionPolicy::ZstdStream { threshold } if len >= threshold => {
                Compression::ZstdStream
            }
            _ => Compression::None,
        };
        if compression != Compression::None
            && let Some(written) = self.try_compressed(envelope, len, compression, dst)?
        {
            return Ok(written);
        }
        // Plain: flags byte, then the protobuf written straight into `dst` (no copy).
        let flags = Flags {
            reset: self.take_pending_reset(),
            ..Flags::PLAIN
        };
        dst.reserve(FLAGS_LEN + len);
        dst.put_u8(flags.to_byte());
        envelope.encode_raw(dst);
        Ok(FLAGS_LEN + len)
    }

    /// Compresses into `dst`; `None` when the plain frame should go instead.
    fn try_compressed(
        &mut self,
        envelope: &Envelope,
        len: usize,
        compression: Compression,
        dst: &mut BytesMut,
    ) -> Result<Option<usize>, EncodeError> {
        let ctx = match &mut self.ctx {
            Some(ctx) => ctx,
            None => self
                .ctx
                .insert(Compressor::new(self.config.zstd).map_err(EncodeError::Compress)?),
        };
        self.plain.clear();
        self.plain.reserve(len);
        envelope.encode_raw(&mut self.plain);
        self.packed.clear();
        let stream = compression == Compression::ZstdStream;
        if stream {
            ctx.compress_stream(&self.plain, &mut self.packed)
        } else {
            ctx.compress_frame(&self.plain, &mut self.packed)
        }
        .map_err(EncodeError::Compress)?;

        // A self-contained frame goes out only when smaller. A stream frame always does: zstd
        // stores what it cannot compress as raw blocks (a few bytes over the plain size), and
        // the history the frame adds to the context pays for itself in the frames that follow
        // — falling back to plain would mean restarting the context, whose first frames rarely
        // earn back its header (measured in bench/README.md).
        if !stream && self.packed.len() >= len {
            return Ok(None);
        }
        let reset = if stream {
            let fresh = std::mem::replace(&mut self.stream_fresh, false);
            let pending = self.take_pending_reset();
            self.peer_holds_context = true;
            fresh || pending
        } else {
            self.take_pending_reset()
        };
        let flags = Flags {
            compression,
            reset,
            dictionary: 0,
        };
        dst.reserve(FLAGS_LEN + self.packed.len());
        dst.put_u8(flags.to_byte());
        dst.put_slice(&self.packed);
        Ok(Some(FLAGS_LEN + self.packed.len()))
    }

    /// True once after [`Encoder::release_context`] dropped a context the peer still holds.
    fn take_pending_reset(&mut self) -> bool {
        if self.release_pending {
            self.release_pending = false;
            self.peer_holds_context = false;
            return true;
        }
        false
    }
}

/// Settings of a [`Decoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderConfig {
    /// Largest envelope accepted, in bytes after decompression.
    pub max_frame_len: usize,
    /// Largest zstd window accepted (log2 bytes).
    pub max_window_log: u32,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            max_window_log: DEFAULT_WINDOW_LOG,
        }
    }
}

/// Turns frames into envelopes.
#[derive(Debug)]
pub struct Decoder {
    config: DecoderConfig,
    /// The peer's stream context, from the frame with the reset bit on.
    stream: Option<Decompressor>,
    /// Context for self-contained zstd frames (kept to avoid re-allocation).
    frame: Option<Decompressor>,
}

impl Decoder {
    /// Creates a decoder.
    pub fn new(config: DecoderConfig) -> Self {
        Self {
            config,
            stream: None,
            frame: None,
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// Largest frame on the wire (flags byte included) this decoder accepts. A stream frame of
    /// data that does not compress is a little larger than the plain envelope (zstd stores it
    /// in raw blocks), so the limit allows for zstd's worst-case expansion.
    pub fn max_wire_len(&self) -> usize {
        max_wire_len(self.config.max_frame_len)
    }

    /// Bytes of zstd state held now.
    pub fn context_bytes(&self) -> usize {
        self.stream.as_ref().map_or(0, Decompressor::memory)
            + self.frame.as_ref().map_or(0, Decompressor::memory)
    }

    /// Decodes one frame from a message transport (one WebSocket binary message).
    pub fn decode_message(&mut self, frame: Bytes) -> Result<Envelope, DecodeError> {
        if frame.len() > self.max_wire_len() {
            return Err(DecodeError::FrameTooLarge {
                len: frame.len(),
                max: self.max_wire_len(),
            });
        }
        let Some(&flags) = frame.first() else {
            return Err(DecodeError::Empty);
        };
        let flags = Flags::from_byte(flags)?;
        if flags.dictionary != 0 {
            return Err(DecodeError::UnknownDictionary {
                id: flags.dictionary,
            });
        }
        if flags.reset {
            self.stream = None;
        }
        let body = frame.slice(FLAGS_LEN..);
        let max = self.config.max_frame_len;
        let plain = match flags.compression {
            Compression::None => {
                if body.len() > max {
                    return Err(DecodeError::FrameTooLarge {
                        len: body.len(),
                        max,
                    });
                }
                body
            }
            Compression::ZstdFrame => {
                let ctx = match &mut self.frame {
                    Some(ctx) => ctx,
                    None => self
                        .frame
                        .insert(Decompressor::new(self.config.max_window_log)?),
                };
                Bytes::from(ctx.decompress_frame(&body, max)?)
            }
            Compression::ZstdStream => {
                if flags.reset {
                    self.stream = Some(Decompressor::new(self.config.max_window_log)?);
                }
                let ctx = self.stream.as_mut().ok_or(DecodeError::NoStreamContext)?;
                match ctx.decompress_stream(&body, max) {
                    Ok(plain) => Bytes::from(plain),
                    Err(err) => {
                        // The context is now out of step with the sender's: never reuse it.
                        self.stream = None;
                        return Err(err);
                    }
                }
            }
        };
        Ok(Envelope::decode(plain)?)
    }

    /// Decodes the next frame from a byte stream (QUIC). `Ok(None)` means more bytes are
    /// needed; consumed bytes are removed from `buf`. The declared length is checked against
    /// the limit before anything is buffered for it.
    pub fn decode_stream(&mut self, buf: &mut BytesMut) -> Result<Option<Envelope>, DecodeError> {
        let Some(prefix) = buf.get(..LENGTH_PREFIX_LEN) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(prefix.try_into().expect("4 bytes")) as usize;
        if len > self.max_wire_len() {
            return Err(DecodeError::FrameTooLarge {
                len,
                max: self.max_wire_len(),
            });
        }
        if buf.len() < LENGTH_PREFIX_LEN + len {
            // Make room for the rest, but only a bounded step ahead of bytes that have really
            // arrived: a peer declaring big frames and then stalling must not pin memory.
            buf.reserve((LENGTH_PREFIX_LEN + len - buf.len()).min(RESERVE_AHEAD));
            return Ok(None);
        }
        buf.advance(LENGTH_PREFIX_LEN);
        let frame = buf.split_to(len).freeze();
        self.decode_message(frame).map(Some)
    }

    /// Checks that a byte stream ended on a frame boundary: call at end of stream with what
    /// is left in the buffer.
    pub fn finish_stream(&self, buf: &[u8]) -> Result<(), DecodeError> {
        if buf.is_empty() {
            return Ok(());
        }
        let needed = match buf.get(..LENGTH_PREFIX_LEN) {
            Some(prefix) => {
                LENGTH_PREFIX_LEN + u32::from_be_bytes(prefix.try_into().expect("4 bytes")) as usize
            }
            None => LENGTH_PREFIX_LEN,
        };
        Err(DecodeError::Truncated {
            buffered: buf.len(),
            needed,
        })
    }
}
