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
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};

use crate::proto::v1::Envelope;
use crate::proto::{CompressionPolicy, DecodeError, ZstdParams};
use crate::session::TransportError;

/// The connection tasks of one transport's listener: each holds a slot of the gateway-wide
/// connection limit (`--max-connections`, shared by all transports) while it runs, and the
/// listener waits for all of them at shutdown.
pub(crate) struct Connections {
    gateway: Arc<crate::Gateway>,
    /// Every task holds a clone; `recv` on the other end returns `None` once all have ended.
    done_tx: mpsc::Sender<()>,
    done_rx: mpsc::Receiver<()>,
}

impl Connections {
    pub(crate) fn new(gateway: Arc<crate::Gateway>) -> Self {
        let (done_tx, done_rx) = mpsc::channel(1);
        Self {
            gateway,
            done_tx,
            done_rx,
        }
    }

    /// A slot for one more connection, waiting while the limit is reached; `None` once `stop`
    /// turns true.
    pub(crate) async fn slot(
        &self,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<OwnedSemaphorePermit> {
        tokio::select! {
            permit = self.gateway.connection_slots().acquire_owned() => {
                Some(permit.expect("the semaphore is never closed"))
            }
            _ = stop.changed() => None,
        }
    }

    /// Runs one connection's task in `slot`.
    pub(crate) fn spawn(
        &self,
        slot: OwnedSemaphorePermit,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _done = done;
            task.await;
        });
    }

    /// Waits for every connection task to end.
    pub(crate) async fn wait(self) {
        let Self {
            done_tx,
            mut done_rx,
            ..
        } = self;
        drop(done_tx);
        let _ = done_rx.recv().await;
    }
}

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
