//! Sessions and the connections that carry them.
//!
//! A **session** belongs to one device and outlives its connections (PROTOCOL.md §6): it owns
//! the channel table and the [`Reliability`](crate::proto::reliability::Reliability) state, in
//! one task ([`task`]). A **connection** ([`serve`]) only moves frames: after the handshake
//! its reader decodes client frames and hands them to the session; a writer task encodes what
//! the session hands back. When a connection drops the session lingers
//! ([`Config::session_linger`](crate::Config::session_linger)); a client that comes back with
//! `Hello.resume` is attached to it again and both sides retransmit what the other lacks.
//! Nothing in a session depends on the transport: any connection that yields and takes whole
//! frames can carry it.
//!
//! Every queue is bounded: client frames wait for the session (which waits for a full terminal
//! input queue), and the session stops taking terminal output while the connection's writer is
//! more than [`link::HIGH_WATER`] behind or the replay budget is spent (the terminals then stop
//! being read: backpressure). A disconnected session keeps taking output into its replay
//! buffer for the resume; once the budget is spent its terminal subscriptions are *parked*:
//! they stop holding the programs back, and output the terminals' logs drop meanwhile is
//! replaced by a `TermSnapshot` on resume. So a session away costs at most its replay budget,
//! and never stops a program for long.

mod channels;
mod handshake;
mod link;
mod registry;
mod task;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::proto::v1::{self, Envelope, envelope::Body};
use crate::transport::{Incoming, Outgoing, ReadError};
use crate::{Gateway, limits};
pub use registry::Sessions;

/// How long a client has to send Hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the writer may take to flush the last frames when the connection ends.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Suggested reconnect delay sent with a shutdown Close.
const RECONNECT_AFTER_SHUTDOWN_MS: u32 = 1000;

/// A frame for the client, before the session numbers it.
#[derive(Debug)]
pub(crate) struct Outbound {
    pub(crate) channel: u32,
    pub(crate) body: Body,
}

impl Outbound {
    pub(crate) fn new(channel: u32, body: Body) -> Self {
        Self { channel, body }
    }

    pub(crate) fn error(
        channel: u32,
        code: v1::ErrorCode,
        message: impl Into<String>,
        request_id: u64,
    ) -> Self {
        Self::new(
            channel,
            Body::Error(v1::Error {
                code: code as i32,
                message: message.into(),
                request_id,
            }),
        )
    }
}

/// Errors a transport reports; the connection only logs them.
pub(crate) type TransportError = Box<dyn std::error::Error + Send + Sync>;

/// Traffic counters of one connection, for the log line at its end.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

/// Why a connection ended, for the log.
#[derive(Debug)]
enum End {
    TransportClosed,
    TransportError(String),
    ProtocolError(String),
    /// The session let go of the connection (client Close, replaced, idle, shutdown, error).
    Session,
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::TransportClosed => f.write_str("connection lost"),
            End::TransportError(e) => write!(f, "connection lost: {e}"),
            End::ProtocolError(reason) => write!(f, "protocol error: {reason}"),
            End::Session => f.write_str("closed by the session"),
        }
    }
}

/// Who keeps an idle connection alive and detects a dead one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Heartbeats {
    /// The session: client Pings, and the idle timeout, as announced in Welcome (WebSocket).
    Session,
    /// The transport's own keep-alive and idle timeout (QUIC): Welcome announces none.
    Transport,
}

/// Serves one connection from the first frame to the last: the handshake, then frames both
/// ways between the transport and its session.
pub(crate) async fn serve<I, O>(
    gateway: Arc<Gateway>,
    peer: SocketAddr,
    incoming: I,
    outgoing: O,
    shutdown: watch::Receiver<bool>,
    heartbeats: Heartbeats,
    transport: &'static str,
) where
    I: Incoming,
    O: Outgoing,
{
    let started = Instant::now();
    let counters = Arc::new(Counters::default());
    // The opening runs once: boxed, its state (the handshake, the writer before it is
    // spawned) is freed when done instead of sizing what every idle connection keeps.
    let opening = open(
        &gateway, peer, incoming, outgoing, shutdown, heartbeats, transport, &counters,
    );
    let Some(Opened {
        mut incoming,
        inbound_tx,
        writer,
        device,
        session,
    }) = Box::pin(opening).await
    else {
        return;
    };

    let limits = gateway.limits(&device);
    let mut noticed: Option<Instant> = None;
    let end = loop {
        tokio::select! {
            next = incoming.next() => {
                let (envelope, len) = match next {
                    Some(Ok(next)) => next,
                    Some(Err(ReadError::Transport(e))) => break End::TransportError(e.to_string()),
                    Some(Err(ReadError::Decode(e))) => {
                        let reason = e.to_string();
                        let _ = inbound_tx.send(link::Inbound::Malformed(Box::new((e.code(), reason.clone())))).await;
                        break End::ProtocolError(reason);
                    }
                    None => break End::TransportClosed,
                };
                counters.bytes_in.fetch_add(len as u64, Ordering::Relaxed);
                let input = match &envelope.body {
                    Some(Body::TermData(data)) => data.data.len(),
                    _ => 0,
                };
                // Heartbeats and acks keep the connection alive and cost next to nothing:
                // holding them back would make a healthy connection look dead.
                let liveness = matches!(
                    envelope.body,
                    Some(Body::Ping(_) | Body::Pong(_) | Body::AckOnly(_))
                );
                if !liveness && let Err(held) = limits.admit(input) {
                    // Over the device's quota: tell the client (now and then), and take this
                    // frame, and read the next, only when the quota allows.
                    if noticed.is_none_or(|at| at.elapsed() >= limits::NOTICE_EVERY) {
                        noticed = Some(Instant::now());
                        warn!(%peer, %device, "{}", limits::notice(&device, held.exceeded));
                        if inbound_tx.send(link::Inbound::RateLimited(held.exceeded)).await.is_err() {
                            break End::Session;
                        }
                    }
                    // Boxed: only throttled connections pay for the wait's state.
                    Box::pin(limits.admit_later(held)).await;
                }
                // Waits while the session is busy (backpressure on the client).
                if inbound_tx.send(link::Inbound::Frame(Box::new(envelope))).await.is_err() {
                    break End::Session;
                }
            }
            () = inbound_tx.closed() => break End::Session,
        }
    };

    // The session learns the connection is gone when the queue closes; the writer ends once
    // the session lets go of it (after a Close when there is one to send).
    drop(inbound_tx);
    let abort = writer.abort_handle();
    if tokio::time::timeout(FLUSH_TIMEOUT, writer).await.is_err() {
        abort.abort();
        warn!(%peer, "client did not take the last frames in time");
    }
    info!(
        %peer,
        %device,
        %session,
        duration_ms = started.elapsed().as_millis() as u64,
        bytes_in = counters.bytes_in.load(Ordering::Relaxed),
        bytes_out = counters.bytes_out.load(Ordering::Relaxed),
        end = %end,
        "connection closed"
    );
}

/// A connection past its handshake, attached to its session, its writer running.
struct Opened<I> {
    incoming: I,
    inbound_tx: mpsc::Sender<link::Inbound>,
    writer: tokio::task::JoinHandle<()>,
    device: String,
    session: registry::SessionId,
}

/// The handshake, the session attach (or the refusal), and the writer's start.
#[allow(clippy::too_many_arguments)]
async fn open<I, O>(
    gateway: &Arc<Gateway>,
    peer: SocketAddr,
    mut incoming: I,
    mut outgoing: O,
    shutdown: watch::Receiver<bool>,
    heartbeats: Heartbeats,
    transport: &'static str,
    counters: &Arc<Counters>,
) -> Option<Opened<I>>
where
    I: Incoming,
    O: Outgoing,
{
    let (link, writer_queue, inbound_tx) = link::Link::new(peer, heartbeats);
    let attached = match handshake::run(gateway, peer, &mut incoming, counters).await {
        Ok(hello) => {
            gateway
                .sessions
                .attach(gateway, hello, link, shutdown)
                .await
        }
        Err(refusal) => Err(refusal),
    };
    let (device, session, policy) = match attached {
        Ok(attached) => attached,
        Err(refusal) => {
            send_refusal(&mut outgoing, &refusal).await;
            warn!(%peer, reason = %refusal, "connection refused");
            return None;
        }
    };
    let writer = tokio::spawn(link::write_loop(
        outgoing,
        writer_queue,
        policy,
        Arc::clone(counters),
    ));
    info!(%peer, %device, %session, transport, "connection open");
    Some(Opened {
        incoming,
        inbound_tx,
        writer,
        device,
        session,
    })
}

/// Refuses a connection before its handshake: `Error{code, message}` and `Close`, plain and
/// unsequenced, then the connection closes.
pub(crate) async fn refuse(outgoing: &mut impl Outgoing, code: v1::ErrorCode, message: String) {
    send_refusal(outgoing, &handshake::Refusal::new(code, message)).await;
}

async fn send_refusal(outgoing: &mut impl Outgoing, refusal: &handshake::Refusal) {
    for body in refusal.frames() {
        let envelope = Envelope {
            body: Some(body),
            ..Default::default()
        };
        if outgoing.write(&envelope).await.is_err() {
            break;
        }
    }
    outgoing.close().await;
}
