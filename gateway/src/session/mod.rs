//! One client connection: the handshake, then its channels, until either side closes.
//!
//! Written against a `Stream`/`Sink` of frames so it runs the same over any transport. The
//! connection task owns the channel table and reads frames; a writer task owns the encoder and
//! the sink, fed by one bounded queue that every channel's forwarder shares — a client that
//! stops reading fills it, the forwarders wait, the terminals stop being read.

mod channels;
mod handshake;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{Sink, SinkExt as _, Stream, StreamExt as _};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::Gateway;
use crate::proto::v1::{self, Envelope, envelope::Body};
use crate::proto::{CompressionPolicy, Decoder, DecoderConfig, Encoder, EncoderConfig, ZstdParams};
use channels::Channels;

/// Frames queued towards the client before forwarders wait. Each holds at most a 64 KiB
/// output chunk, so this bounds a connection's queued output to ~2 MiB.
const OUTBOUND_QUEUE: usize = 32;

/// How long a client has to send Hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the writer may take to flush the last frames when the connection ends.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Suggested reconnect delay sent with a shutdown Close.
const RECONNECT_AFTER_SHUTDOWN_MS: u32 = 1000;

/// A frame on its way to the client (the writer adds seq and ack).
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
    /// Highest client sequence number received (the ack we send).
    received_seq: AtomicU64,
}

/// Why a connection ended, for the log.
#[derive(Debug)]
enum End {
    ClientClosed,
    TransportClosed,
    TransportError(String),
    Shutdown,
    ProtocolError(String),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::ClientClosed => f.write_str("client closed"),
            End::TransportClosed => f.write_str("connection lost"),
            End::TransportError(e) => write!(f, "connection lost: {e}"),
            End::Shutdown => f.write_str("gateway shutdown"),
            End::ProtocolError(reason) => write!(f, "protocol error: {reason}"),
        }
    }
}

/// Serves one connection from the first frame to the last.
pub(crate) async fn serve<S, K>(
    gateway: Arc<Gateway>,
    peer: SocketAddr,
    mut stream: S,
    sink: K,
    mut shutdown: watch::Receiver<bool>,
) where
    S: Stream<Item = Result<Bytes, TransportError>> + Unpin + Send,
    K: Sink<Bytes, Error = TransportError> + Unpin + Send + 'static,
{
    let started = Instant::now();
    let counters = Arc::new(Counters::default());
    let mut decoder = Decoder::new(DecoderConfig::default());
    let (out_tx, out_rx) = mpsc::channel(OUTBOUND_QUEUE);

    let accepted = handshake::run(&gateway, peer, &mut stream, &mut decoder, &counters).await;
    let (welcome, device, policy) = match accepted {
        Ok(accepted) => accepted,
        Err(refusal) => {
            // Refusals go out plain and unsequenced, then the connection closes.
            let mut sink = sink;
            let mut encoder = Encoder::new(EncoderConfig::default());
            for body in refusal.frames() {
                let _ = send_now(
                    &mut sink,
                    &mut encoder,
                    Envelope {
                        body: Some(body),
                        ..Default::default()
                    },
                )
                .await;
            }
            let _ = sink.close().await;
            warn!(%peer, reason = %refusal, "connection refused");
            return;
        }
    };

    let writer = tokio::spawn(write_loop(
        sink,
        out_rx,
        policy,
        Envelope {
            body: Some(Body::Welcome(welcome)),
            ..Default::default()
        },
        Arc::clone(&counters),
    ));
    info!(%peer, device = %device, "connection open");

    let mut channels = Channels::new(Arc::clone(&gateway), out_tx.clone());
    let end = loop {
        tokio::select! {
            frame = stream.next() => {
                let frame = match frame {
                    Some(Ok(frame)) => frame,
                    Some(Err(e)) => break End::TransportError(e.to_string()),
                    None => break End::TransportClosed,
                };
                counters.bytes_in.fetch_add(frame.len() as u64, Ordering::Relaxed);
                let envelope = match decoder.decode_message(frame) {
                    Ok(envelope) => envelope,
                    Err(e) => {
                        refuse(&out_tx, e.code(), e.to_string()).await;
                        break End::ProtocolError(e.to_string());
                    }
                };
                if envelope.seq != 0 {
                    counters.received_seq.fetch_max(envelope.seq, Ordering::Relaxed);
                }
                match envelope.body {
                    Some(Body::Close(_)) => break End::ClientClosed,
                    Some(body) => {
                        if let Err(reason) = channels.handle(envelope.channel, body).await {
                            refuse(&out_tx, v1::ErrorCode::MalformedFrame, reason.clone()).await;
                            break End::ProtocolError(reason);
                        }
                    }
                    None if envelope.seq != 0 => {
                        let _ = out_tx.send(Outbound::error(envelope.channel, v1::ErrorCode::Unsupported,
                            "message kind not understood by this gateway", 0)).await;
                    }
                    None => {}
                }
            }
            _ = shutdown.changed() => {
                let close = Body::Close(v1::Close {
                    reason: v1::CloseReason::Shutdown as i32,
                    message: "gateway shutting down".into(),
                    reconnect_after_ms: RECONNECT_AFTER_SHUTDOWN_MS,
                });
                // Bounded: a client that stopped reading does not hold up the shutdown.
                let _ = tokio::time::timeout(FLUSH_TIMEOUT, out_tx.send(Outbound::new(0, close))).await;
                break End::Shutdown;
            }
        }
    };

    // Detach every channel (terminals keep running), then let the writer drain and close.
    drop(channels);
    drop(out_tx);
    if tokio::time::timeout(FLUSH_TIMEOUT, writer).await.is_err() {
        warn!(%peer, "client did not take the last frames in time");
    }
    info!(
        %peer,
        device = %device,
        duration_ms = started.elapsed().as_millis() as u64,
        bytes_in = counters.bytes_in.load(Ordering::Relaxed),
        bytes_out = counters.bytes_out.load(Ordering::Relaxed),
        end = %end,
        "connection closed"
    );
}

/// Tells the client why the connection ends (Error, then Close), then lets it end. Bounded in
/// time: a client that does not read does not keep the connection alive.
async fn refuse(out: &mpsc::Sender<Outbound>, code: v1::ErrorCode, message: String) {
    let close = Body::Close(v1::Close {
        reason: v1::CloseReason::Error as i32,
        message: message.clone(),
        reconnect_after_ms: 0,
    });
    let frames = async {
        out.send(Outbound::error(0, code, message, 0)).await?;
        out.send(Outbound::new(0, close)).await
    };
    let _ = tokio::time::timeout(FLUSH_TIMEOUT, frames).await;
}

async fn send_now<K>(
    sink: &mut K,
    encoder: &mut Encoder,
    envelope: Envelope,
) -> Result<usize, TransportError>
where
    K: Sink<Bytes, Error = TransportError> + Unpin,
{
    let mut buf = BytesMut::new();
    let len = encoder.encode_message(&envelope, &mut buf)?;
    sink.send(buf.freeze()).await?;
    Ok(len)
}

/// Owns the sink: numbers reliable frames, piggybacks the ack, encodes, writes, and flushes
/// whenever the queue runs dry (so bursts go out in few syscalls).
async fn write_loop<K>(
    mut sink: K,
    mut queue: mpsc::Receiver<Outbound>,
    (compression, zstd): (CompressionPolicy, ZstdParams),
    welcome: Envelope,
    counters: Arc<Counters>,
) where
    K: Sink<Bytes, Error = TransportError> + Unpin,
{
    // Welcome goes out plain; compression starts with the frame after it.
    let mut encoder = Encoder::new(EncoderConfig {
        zstd,
        ..EncoderConfig::default()
    });
    let mut compress_from_next = Some(compression);
    let mut seq = 0u64;
    let mut buf = BytesMut::new();
    let mut pending = Some(welcome);
    loop {
        let envelope = match pending.take() {
            Some(envelope) => envelope,
            None => match queue.try_recv() {
                Ok(out) => next_envelope(out, &mut seq, &counters),
                Err(mpsc::error::TryRecvError::Empty) => {
                    if sink.flush().await.is_err() {
                        return;
                    }
                    match queue.recv().await {
                        Some(out) => next_envelope(out, &mut seq, &counters),
                        None => break,
                    }
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            },
        };
        let closing = matches!(envelope.body, Some(Body::Close(_)));
        match encoder.encode_message(&envelope, &mut buf) {
            Ok(len) => {
                counters.bytes_out.fetch_add(len as u64, Ordering::Relaxed);
                if sink.feed(buf.split().freeze()).await.is_err() {
                    return;
                }
            }
            Err(e) => warn!(error = %e, "dropping a frame that cannot be encoded"),
        }
        if closing {
            break;
        }
        if let Some(policy) = compress_from_next.take() {
            encoder.set_compression(policy);
        }
    }
    let _ = sink.flush().await;
    let _ = sink.close().await;
}

fn next_envelope(out: Outbound, seq: &mut u64, counters: &Counters) -> Envelope {
    let sequenced = out.body.is_sequenced();
    if sequenced {
        *seq += 1;
    }
    Envelope {
        seq: if sequenced { *seq } else { 0 },
        ack: counters.received_seq.load(Ordering::Relaxed),
        channel: out.channel,
        body: Some(out.body),
    }
}
