//! Which QUIC stream carries an envelope (PROTOCOL.md §1): the control stream (the first
//! bidirectional stream, opened by the client) carries the handshake, everything on channel 0
//! and every unsequenced frame (acks, pings, close); each other channel's frames travel on a
//! unidirectional stream of their own per direction, opened by the sender at the channel's
//! first frame and finished after its last, so a bulk transfer on one channel never holds up
//! a keystroke on another. Each stream has its own compression context.

use bytes::BytesMut;

use crate::frame::LENGTH_PREFIX_LEN;
use crate::v1::Envelope;
use crate::v1::envelope::Body;
use crate::{DecodeError, Decoder, DecoderConfig};

/// Where an envelope goes on QUIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The control stream.
    Control,
    /// The sender's stream for this channel.
    Channel(u32),
}

/// The stream for `envelope`.
pub fn route(envelope: &Envelope) -> Route {
    match &envelope.body {
        Some(body) if envelope.channel != 0 && body.is_sequenced() => {
            Route::Channel(envelope.channel)
        }
        _ => Route::Control,
    }
}

/// True when `envelope` is the last its sender sends on its channel, so the channel's stream
/// can be finished after it: a terminal's exit, the client closing or detaching it.
pub fn ends_channel(envelope: &Envelope) -> bool {
    matches!(
        envelope.body,
        Some(Body::TermExit(_) | Body::TermClose(_) | Body::Detach(_))
    )
}

/// One received frame: the envelope, the bytes it took on the stream (prefix included) and its
/// flags byte.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamFrame {
    /// The envelope.
    pub envelope: Envelope,
    /// Bytes on the stream, length prefix included.
    pub wire_len: usize,
    /// The frame's flags byte.
    pub flags: u8,
}

/// The receiving end of one stream: its own decoder (and compression context) and the bytes
/// not yet decoded. Feed it what the stream yields, take out whole frames.
#[derive(Debug)]
pub struct StreamReader {
    decoder: Decoder,
    buf: BytesMut,
}

impl Default for StreamReader {
    fn default() -> Self {
        Self::new(DecoderConfig::default())
    }
}

impl StreamReader {
    /// A reader decoding with `config`.
    pub fn new(config: DecoderConfig) -> Self {
        Self {
            decoder: Decoder::new(config),
            buf: BytesMut::new(),
        }
    }

    /// Appends bytes the stream delivered.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<StreamFrame>, DecodeError> {
        let before = self.buf.len();
        let flags = self.buf.get(LENGTH_PREFIX_LEN).copied().unwrap_or(0);
        Ok(self
            .decoder
            .decode_stream(&mut self.buf)?
            .map(|envelope| StreamFrame {
                envelope,
                wire_len: before - self.buf.len(),
                flags,
            }))
    }

    /// The stream ended: an error if it stopped inside a frame.
    pub fn finish(&self) -> Result<(), DecodeError> {
        self.decoder.finish_stream(&self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1;

    #[test]
    fn control_frames_and_channel_zero_stay_on_the_control_stream() {
        let on = |channel, body| Envelope {
            seq: 1,
            ack: 0,
            channel,
            body: Some(body),
        };
        let data = || Body::TermData(v1::TermData::default());
        assert_eq!(route(&on(3, data())), Route::Channel(3));
        assert_eq!(route(&on(0, data())), Route::Control);
        assert_eq!(route(&on(3, Body::AckOnly(v1::Ack {}))), Route::Control);
        assert_eq!(
            route(&on(3, Body::Ping(v1::Ping { nonce: 1 }))),
            Route::Control
        );
        assert!(ends_channel(&on(
            3,
            Body::TermExit(v1::TermExit::default())
        )));
        assert!(!ends_channel(&on(3, data())));
    }
}
