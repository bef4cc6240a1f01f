//! A session's view of one connection: the queue of decoded client frames, and the writer task
//! that encodes the session's frames onto the transport.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use prost::Message as _;
use tokio::sync::{Notify, mpsc};
use tracing::warn;

use super::{Counters, Heartbeats};
use crate::proto::v1::{self, Envelope, envelope::Body};
use crate::proto::{CompressionPolicy, ZstdParams};
use crate::transport::Outgoing;

/// Client frames queued for the session before the connection stops reading the socket.
const INBOUND_QUEUE: usize = 32;

/// Bytes the session may hand the writer beyond what it has written. Past this the session stops
/// taking terminal output (the terminals stop being read): a client that does not read gets
/// backpressure, not a growing queue. 256 KiB is four maximal output chunks, enough to keep a
/// fast link busy between two wake-ups of the session.
pub(super) const HIGH_WATER: usize = 256 << 10;

/// What the connection's reader hands the session. Envelopes are boxed in queues: an
/// `Envelope` is ~300 bytes (prost inlines every kind), and a queue allocates slots 32 at a
/// time, which made queues most of an idle connection's memory.
#[derive(Debug)]
pub(super) enum Inbound {
    Frame(Box<Envelope>),
    /// A frame that does not decode: the session answers with an Error and ends. (Boxed:
    /// queue slots are sized by the largest kind, and every connection has a queue.)
    Malformed(Box<(v1::ErrorCode, String)>),
    /// The device went over a quota: the session tells the client (`RATE_LIMITED`).
    RateLimited(crate::limits::Exceeded),
}

/// Bytes handed to the writer and not yet written.
#[derive(Debug, Default)]
pub(super) struct Backlog {
    bytes: AtomicUsize,
    drained: Notify,
}

impl Backlog {
    /// Resolves when the writer has made progress.
    pub(super) async fn drained(&self) {
        self.drained.notified().await;
    }
}

/// The session's end of a connection.
#[derive(Debug)]
pub(crate) struct Link {
    pub(super) peer: SocketAddr,
    /// Who keeps this connection alive.
    pub(super) heartbeats: Heartbeats,
    pub(super) inbound: mpsc::Receiver<Inbound>,
    writer: mpsc::UnboundedSender<(Box<Envelope>, usize)>,
    backlog: Arc<Backlog>,
}

/// The writer task's end: envelopes, each with the cost charged to the backlog.
pub(super) struct WriterQueue {
    frames: mpsc::UnboundedReceiver<(Box<Envelope>, usize)>,
    backlog: Arc<Backlog>,
}

impl Link {
    /// A link for a new connection, the writer's queue, and the reader's sender.
    pub(super) fn new(
        peer: SocketAddr,
        heartbeats: Heartbeats,
    ) -> (Self, WriterQueue, mpsc::Sender<Inbound>) {
        let (inbound_tx, inbound) = mpsc::channel(INBOUND_QUEUE);
        let (writer, frames) = mpsc::unbounded_channel();
        let backlog = Arc::new(Backlog::default());
        let link = Self {
            peer,
            heartbeats,
            inbound,
            writer,
            backlog: Arc::clone(&backlog),
        };
        (link, WriterQueue { frames, backlog }, inbound_tx)
    }

    /// Hands an envelope to the writer. Never waits: callers check [`Link::backlogged`]
    /// before taking more work (the queue is unbounded only in type).
    pub(super) fn push(&self, envelope: Envelope) {
        let cost = envelope.encoded_len();
        self.backlog.bytes.fetch_add(cost, Ordering::Relaxed);
        // A writer that has ended (connection gone) drops it; the replay buffer has it.
        let _ = self.writer.send((Box::new(envelope), cost));
    }

    /// True while the writer is [`HIGH_WATER`] or more behind.
    pub(super) fn backlogged(&self) -> bool {
        self.backlog.bytes.load(Ordering::Relaxed) >= HIGH_WATER
    }

    /// The writer's progress, to wait on with [`Backlog::drained`].
    pub(super) fn backlog(&self) -> Arc<Backlog> {
        Arc::clone(&self.backlog)
    }

    /// Sends Close, then lets the connection go: the writer ends after writing it.
    pub(super) fn close(self, reason: v1::CloseReason, message: impl Into<String>) {
        let reconnect_after_ms = if reason == v1::CloseReason::Shutdown {
            super::RECONNECT_AFTER_SHUTDOWN_MS
        } else {
            0
        };
        self.push(Envelope {
            body: Some(Body::Close(v1::Close {
                reason: reason as i32,
                message: message.into(),
                reconnect_after_ms,
            })),
            ..Default::default()
        });
    }
}

/// Owns the outgoing side: encodes and writes what the session hands it, flushing whenever the
/// queue runs dry (bursts go out in few syscalls). The first frame (Welcome) goes out plain;
/// compression starts with the next. Ends after a Close, or when the session lets go.
pub(super) async fn write_loop<O: Outgoing>(
    mut outgoing: O,
    mut queue: WriterQueue,
    (compression, zstd): (CompressionPolicy, ZstdParams),
    counters: Arc<Counters>,
) {
    outgoing.negotiated(compression, zstd);
    loop {
        let (envelope, cost) = match queue.frames.try_recv() {
            Ok(next) => next,
            Err(mpsc::error::TryRecvError::Empty) => {
                if outgoing.flush().await.is_err() {
                    return;
                }
                match queue.frames.recv().await {
                    Some(next) => next,
                    None => break,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        let closing = matches!(envelope.body, Some(Body::Close(_)));
        match outgoing.write(&envelope).await {
            Ok(len) => {
                counters.bytes_out.fetch_add(len as u64, Ordering::Relaxed);
            }
            Err(e) => {
                if e.downcast_ref::<crate::proto::EncodeError>().is_none() {
                    return;
                }
                warn!(error = %e, "dropping a frame that cannot be encoded");
            }
        }
        queue.backlog.bytes.fetch_sub(cost, Ordering::Relaxed);
        queue.backlog.drained.notify_one();
        if closing {
            break;
        }
    }
    outgoing.close().await;
}
