//! Which QUIC stream carries an envelope (PROTOCOL.md §1): the control stream (the first
//! bidirectional stream, opened by the client) carries the handshake, everything on channel 0
//! and every unsequenced frame (acks, pings, close); each other channel's frames travel on a
//! unidirectional stream of their own per direction, opened by the sender at the channel's
//! first frame and finished after its last, so a bulk transfer on one channel never holds up
//! a keystroke on another. Each stream has its own compression context.

use std::collections::HashMap;

use bytes::BytesMut;

use crate::frame::LENGTH_PREFIX_LEN;
use crate::v1::Envelope;
use crate::v1::envelope::Body;
use crate::{
    CompressionPolicy, DecodeError, Decoder, DecoderConfig, EncodeError, Encoder, EncoderConfig,
};

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

/// What [`StreamWriter::encode`] decided for one envelope: the stream to write the bytes to,
/// and that stream's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoded {
    /// The stream the frame goes on.
    pub route: Route,
    /// Open the channel's stream first: this is its first frame.
    pub opens: bool,
    /// Finish the channel's stream after writing: this is its last frame.
    pub finishes: bool,
    /// Bytes written, length prefix included.
    pub len: usize,
    /// The frame's flags byte.
    pub flags: u8,
}

/// The sending side's framing over QUIC streams: a compression context per stream, which
/// stream each envelope takes, and when channel streams open and finish. The IO layer holds
/// the streams themselves and follows [`Encoded`].
#[derive(Debug)]
pub struct StreamWriter {
    config: EncoderConfig,
    control: Encoder,
    channels: HashMap<u32, Encoder>,
    /// Compression to switch on after the next frame.
    pending: Option<CompressionPolicy>,
}

impl Default for StreamWriter {
    /// Plain frames (the handshake) until [`StreamWriter::negotiated`].
    fn default() -> Self {
        Self {
            config: EncoderConfig::default(),
            control: Encoder::new(EncoderConfig::default()),
            channels: HashMap::new(),
            pending: None,
        }
    }
}

impl StreamWriter {
    /// Applies what the handshake negotiated. With `after_next_frame` the next frame still goes
    /// out plain (the gateway's Welcome) and compression starts after it.
    pub fn negotiated(&mut self, config: EncoderConfig, after_next_frame: bool) {
        let plain = EncoderConfig {
            compression: CompressionPolicy::Off,
            ..config
        };
        if after_next_frame {
            self.config = plain;
            self.pending = Some(config.compression);
        } else {
            self.config = config;
        }
        self.control = Encoder::new(self.config);
    }

    /// Encodes `envelope` onto `dst` for the stream its route names.
    pub fn encode(
        &mut self,
        envelope: &Envelope,
        dst: &mut BytesMut,
    ) -> Result<Encoded, EncodeError> {
        let route = route(envelope);
        let (encoder, opens) = match route {
            Route::Control => (&mut self.control, false),
            Route::Channel(channel) => {
                let opens = !self.channels.contains_key(&channel);
                let config = self.config;
                let encoder = self
                    .channels
                    .entry(channel)
                    .or_insert_with(|| Encoder::new(config));
                (encoder, opens)
            }
        };
        let at = dst.len();
        let encoded = encoder.encode_stream(envelope, dst);
        if let (true, Err(_), Route::Channel(channel)) = (opens, &encoded, route) {
            // Nothing was written: the stream is not opened.
            self.channels.remove(&channel);
        }
        let len = encoded?;
        let finishes = matches!(route, Route::Channel(_)) && ends_channel(envelope);
        if let (true, Route::Channel(channel)) = (finishes, route) {
            self.channels.remove(&channel);
        }
        if let Some(policy) = self.pending.take() {
            self.config.compression = policy;
            self.control.set_compression(policy);
        }
        Ok(Encoded {
            route,
            opens,
            finishes,
            len,
            flags: dst.get(at + LENGTH_PREFIX_LEN).copied().unwrap_or(0),
        })
    }
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

    fn on(channel: u32, body: Body) -> Envelope {
        Envelope {
            seq: 1,
            ack: 0,
            channel,
            body: Some(body),
        }
    }

    fn data() -> Body {
        Body::TermData(v1::TermData {
            data: vec![b'x'; 300].into(),
        })
    }

    #[test]
    fn a_stream_writer_opens_and_finishes_channel_streams() {
        let mut writer = StreamWriter::default();
        writer.negotiated(EncoderConfig::default(), true);
        let mut buf = BytesMut::new();
        let first = writer.encode(&on(3, data()), &mut buf).unwrap();
        assert_eq!(
            (first.route, first.opens, first.finishes),
            (Route::Channel(3), true, false)
        );
        assert_eq!(first.len, buf.len());
        let next = writer.encode(&on(3, data()), &mut buf).unwrap();
        assert!(!next.opens && !next.finishes);
        let exit = writer
            .encode(&on(3, Body::TermExit(v1::TermExit::default())), &mut buf)
            .unwrap();
        assert!(exit.finishes);
        // The channel number may be used again: on a new stream.
        assert!(writer.encode(&on(3, data()), &mut buf).unwrap().opens);
        let ack = writer
            .encode(&on(3, Body::AckOnly(v1::Ack {})), &mut buf)
            .unwrap();
        assert_eq!((ack.route, ack.opens), (Route::Control, false));
    }

    #[test]
    fn compression_starts_after_the_frame_that_follows_negotiation() {
        let compressed = EncoderConfig {
            compression: CompressionPolicy::STREAM,
            ..EncoderConfig::default()
        };
        let zstd = |flags: u8| flags & 0b11 != 0;
        let mut writer = StreamWriter::default();
        writer.negotiated(compressed, true);
        let mut buf = BytesMut::new();
        assert!(!zstd(
            writer.encode(&on(0, data()), &mut buf).unwrap().flags
        ));
        assert!(zstd(writer.encode(&on(0, data()), &mut buf).unwrap().flags));
        assert!(zstd(writer.encode(&on(5, data()), &mut buf).unwrap().flags));
        let mut at_once = StreamWriter::default();
        at_once.negotiated(compressed, false);
        assert!(zstd(
            at_once.encode(&on(0, data()), &mut buf).unwrap().flags
        ));
    }

    #[test]
    fn a_stream_reader_yields_whole_frames_from_any_split() {
        let envelope = on(3, data());
        let mut writer = StreamWriter::default();
        let mut wire = BytesMut::new();
        let len = writer.encode(&envelope, &mut wire).unwrap().len;
        writer.encode(&envelope, &mut wire).unwrap();
        let mut reader = StreamReader::default();
        let mut frames = Vec::new();
        for byte in wire.iter() {
            reader.push(&[*byte]);
            while let Some(frame) = reader.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames.len(), 2);
        assert_eq!((frames[0].wire_len, &frames[0].envelope), (len, &envelope));
        assert_eq!(frames[1].flags, wire[len + LENGTH_PREFIX_LEN]);
        reader.finish().unwrap();
        reader.push(&wire[..5]);
        assert!(reader.finish().is_err(), "ended inside a frame");
    }
}
