//! zstd contexts for the codec, bounded in memory (window, hash and chain tables sized for
//! terminal traffic) and in output (decompression stops at the frame limit: no bombs).

use zstd::zstd_safe::{
    self, CCtx, CParameter, DCtx, DParameter, InBuffer, OutBuffer, ResetDirective,
    zstd_sys::ZSTD_EndDirective,
};

use crate::DecodeError;

/// zstd window (log2 bytes) a v1 receiver must accept: 64 KiB. Larger windows barely help on
/// terminal output (see PROTOCOL.md) and each costs the receiver its size in memory.
pub const DEFAULT_WINDOW_LOG: u32 = 16;

/// Smallest window zstd allows.
const MIN_WINDOW_LOG: u32 = 10;

/// Compression tuning for an encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZstdParams {
    /// zstd level (1 = fastest … 19); 3 is zstd's default and the measured sweet spot.
    pub level: i32,
    /// Window (log2 bytes); must not exceed what the peer advertised.
    pub window_log: u32,
}

impl Default for ZstdParams {
    fn default() -> Self {
        Self {
            level: 3,
            window_log: DEFAULT_WINDOW_LOG,
        }
    }
}

fn zstd_error(code: usize) -> &'static str {
    zstd_safe::get_error_name(code)
}

/// A compression context: either one zstd frame per call, or one stream flushed per call.
pub(crate) struct Compressor {
    cctx: CCtx<'static>,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("bytes", &self.cctx.sizeof())
            .finish()
    }
}

impl Compressor {
    pub(crate) fn new(params: ZstdParams) -> Result<Self, &'static str> {
        let mut cctx = CCtx::try_create().ok_or("zstd: out of memory")?;
        let window_log = params.window_log.max(MIN_WINDOW_LOG);
        for param in [
            CParameter::CompressionLevel(params.level),
            CParameter::WindowLog(window_log),
            // Tables no larger than the window. Measured (bench/README.md): at window 16 a
            // stream context costs ~970 KiB to compress and ~350 KiB to decompress, at 14 about
            // 260/160 KiB for 2–3 % less ratio. Contexts exist only while a connection sends
            // compressible frames; `Encoder::release_context` frees them when it goes idle.
            CParameter::HashLog(window_log),
            CParameter::ChainLog(window_log),
            CParameter::ChecksumFlag(false),
            CParameter::ContentSizeFlag(true),
            CParameter::DictIdFlag(false),
        ] {
            cctx.set_parameter(param).map_err(zstd_error)?;
        }
        Ok(Self { cctx })
    }

    /// Appends one self-contained zstd frame of `src` to `dst`.
    pub(crate) fn compress_frame(
        &mut self,
        src: &[u8],
        dst: &mut Vec<u8>,
    ) -> Result<(), &'static str> {
        self.cctx
            .reset(ResetDirective::SessionOnly)
            .map_err(zstd_error)?;
        self.cctx
            .set_pledged_src_size(Some(src.len() as u64))
            .map_err(zstd_error)?;
        self.run(src, dst, ZSTD_EndDirective::ZSTD_e_end)
    }

    /// Appends `src` to the stream, flushed so the receiver can decode it at once.
    pub(crate) fn compress_stream(
        &mut self,
        src: &[u8],
        dst: &mut Vec<u8>,
    ) -> Result<(), &'static str> {
        self.run(src, dst, ZSTD_EndDirective::ZSTD_e_flush)
    }

    /// Bytes of memory the context holds.
    pub(crate) fn memory(&self) -> usize {
        self.cctx.sizeof()
    }

    fn run(
        &mut self,
        src: &[u8],
        dst: &mut Vec<u8>,
        end: ZSTD_EndDirective,
    ) -> Result<(), &'static str> {
        dst.reserve(zstd_safe::compress_bound(src.len()) + 16);
        let mut input = InBuffer::around(src);
        loop {
            let start = dst.len();
            let mut output = OutBuffer::around_pos(dst, start);
            let remaining = self
                .cctx
                .compress_stream2(&mut output, &mut input, end)
                .map_err(zstd_error)?;
            if remaining == 0 && input.pos == src.len() {
                return Ok(());
            }
            dst.reserve(remaining.max(64));
        }
    }
}

/// A decompression context with a window limit; the same context serves a whole stream.
pub(crate) struct Decompressor {
    dctx: DCtx<'static>,
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor")
            .field("bytes", &self.dctx.sizeof())
            .finish()
    }
}

/// First output allocation when the decoded size is not known up front.
const INITIAL_OUTPUT: usize = 16 << 10; // 16 KiB: most terminal frames fit, larger ones double

impl Decompressor {
    pub(crate) fn new(max_window_log: u32) -> Result<Self, DecodeError> {
        let mut dctx = DCtx::try_create().ok_or(DecodeError::Zstd {
            reason: "out of memory",
        })?;
        dctx.set_parameter(DParameter::WindowLogMax(max_window_log.max(MIN_WINDOW_LOG)))
            .map_err(|code| DecodeError::Zstd {
                reason: zstd_error(code),
            })?;
        Ok(Self { dctx })
    }

    /// Bytes of memory the context holds.
    pub(crate) fn memory(&self) -> usize {
        self.dctx.sizeof()
    }

    /// Decodes one self-contained zstd frame of at most `max` bytes.
    pub(crate) fn decompress_frame(
        &mut self,
        src: &[u8],
        max: usize,
    ) -> Result<Vec<u8>, DecodeError> {
        let _ = self.dctx.reset(ResetDirective::SessionOnly);
        // The frame header states the size: refuse a bomb before allocating anything.
        let expected = match zstd_safe::get_frame_content_size(src) {
            Ok(Some(size)) if size > max as u64 => {
                return Err(DecodeError::DecompressedTooLarge { max });
            }
            Ok(Some(size)) => size as usize,
            Ok(None) => INITIAL_OUTPUT.min(max),
            Err(_) => {
                return Err(DecodeError::Zstd {
                    reason: "bad zstd frame header",
                });
            }
        };
        let (out, frame_ended, consumed) = self.run(src, max, expected, true)?;
        if !frame_ended {
            return Err(DecodeError::TruncatedCompression);
        }
        if consumed != src.len() {
            return Err(DecodeError::TrailingData {
                bytes: src.len() - consumed,
            });
        }
        Ok(out)
    }

    /// Decodes the next flushed piece of a zstd stream, at most `max` bytes.
    pub(crate) fn decompress_stream(
        &mut self,
        src: &[u8],
        max: usize,
    ) -> Result<Vec<u8>, DecodeError> {
        let guess = src
            .len()
            .saturating_mul(8)
            .clamp(256, INITIAL_OUTPUT)
            .min(max);
        let (out, _, _) = self.run(src, max, guess, false)?;
        Ok(out)
    }

    /// Runs the decoder over `src`, growing the output up to `max`. Returns the output, whether
    /// a zstd frame ended, and the input bytes consumed.
    fn run(
        &mut self,
        src: &[u8],
        max: usize,
        initial: usize,
        stop_at_frame_end: bool,
    ) -> Result<(Vec<u8>, bool, usize), DecodeError> {
        // One byte of headroom over `max` tells "exactly max" from "more than max".
        let limit = max + 1;
        let mut out = Vec::with_capacity(initial.min(limit));
        let mut input = InBuffer::around(src);
        loop {
            let start = out.len();
            let mut output = OutBuffer::around_pos(&mut out, start);
            let hint = self
                .dctx
                .decompress_stream(&mut output, &mut input)
                .map_err(|code| DecodeError::Zstd {
                    reason: zstd_error(code),
                })?;
            if out.len() > max {
                return Err(DecodeError::DecompressedTooLarge { max });
            }
            let output_full = out.len() == out.capacity();
            if hint == 0 && stop_at_frame_end {
                return Ok((out, true, input.pos));
            }
            if input.pos == src.len() && !output_full {
                return Ok((out, hint == 0, input.pos));
            }
            if output_full {
                // len ≤ max < limit: there is always room to grow by at least one byte.
                let grow = out.len().max(1024).min(limit - out.len());
                out.reserve_exact(grow);
            }
        }
    }
}
