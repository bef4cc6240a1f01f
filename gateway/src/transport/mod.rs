//! Transports: how frames reach the gateway. Each adapts its connections to [`Incoming`]
//! envelopes and [`Outgoing`] ones (framing and compression are the transport's: one context
//! per WebSocket connection, one per QUIC stream), so sessions never see the transport.
//!
//! - [`ws`]: WebSocket over TCP (plain or TLS on the same port), one binary message per frame.
//! - [`quic`]: QUIC on the same port number over UDP: a control stream, and a stream per
//!   channel so that bulk output never delays a keystroke.

pub mod quic;
pub mod ws;

use std::future::Future;

use crate::proto::v1::Envelope;
use crate::proto::{CompressionPolicy, DecodeError, ZstdParams};
use crate::session::TransportError;

/// Why reading a connection failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer sent something that is not a frame.
    Decode(DecodeError),
    /// The connection failed.
    Transport(TransportError),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Decode(e) => e.fmt(f),
            ReadError::Transport(e) => e.fmt(f),
        }
    }
}

/// Envelopes arriving on one connection, in the order the transport delivers them.
pub(crate) trait Incoming: Send + 'static {
    /// The next envelope and the bytes it took on the wire; `None` when the peer closed.
    fn next(&mut self)
    -> impl Future<Output = Option<Result<(Envelope, usize), ReadError>>> + Send;
}

/// Envelopes leaving on one connection.
pub(crate) trait Outgoing: Send + 'static {
    /// Sets the compression for the frames after the next one (the first, Welcome, goes
    /// out plain), with the negotiated zstd parameters.
    fn negotiated(&mut self, policy: CompressionPolicy, params: ZstdParams);

    /// Encodes and queues `envelope`; returns the bytes it takes on the wire. Frames may wait
    /// in a buffer until [`Outgoing::flush`].
    fn write(
        &mut self,
        envelope: &Envelope,
    ) -> impl Future<Output = Result<usize, TransportError>> + Send;

    /// Sends what is buffered.
    fn flush(&mut self) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Flushes and closes the connection's sending side.
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}
