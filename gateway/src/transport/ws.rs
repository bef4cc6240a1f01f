//! WebSocket transport: TCP listener, TLS (`wss://`) or plain (`ws://`, only where the local
//! address allows it) on the same port, WebSocket upgrade, binary messages ⇄ frames.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{Sink, SinkExt as _, Stream, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::{debug, warn};

use super::{Connections, Incoming, Outgoing, ReadError};
use crate::Gateway;
use crate::proto::v1::Envelope;
use crate::proto::{CompressionPolicy, Decoder, DecoderConfig, Encoder, EncoderConfig, ZstdParams};
use crate::session::{self, Heartbeats, TransportError};

/// Time a client has to complete the WebSocket upgrade.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes read from a connection at a time (2 KiB). Clients send keystrokes and small requests; the
/// WebSocket layer's default of 128 KiB, allocated for every connection up front, would be
/// most of an idle connection's memory. Larger messages are read in several steps.
const READ_BUFFER: usize = 2 << 10;

/// Pause after a failed accept (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Raised when a client sends a text message: the protocol is binary only.
#[derive(Debug, thiserror::Error)]
#[error("text WebSocket messages are not part of the devtail protocol")]
struct TextMessage;

/// Accepts WebSocket connections until `shutdown` turns true, then waits for every
/// connection task to end (each sends its client a Close first).
pub async fn serve(listener: TcpListener, gateway: Arc<Gateway>, shutdown: watch::Receiver<bool>) {
    let connections = Connections::new(Arc::clone(&gateway));
    // Messages larger than the biggest frame the decoder accepts are refused by the WebSocket
    // layer before they are buffered.
    let max_wire = crate::proto::max_wire_len(crate::proto::DEFAULT_MAX_FRAME_LEN);
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_wire))
        .max_frame_size(Some(max_wire))
        .read_buffer_size(READ_BUFFER);
    let mut stop = shutdown.clone();
    loop {
        let Some(slot) = connections.slot(&mut stop).await else {
            break;
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        // Keystrokes and echoes are tiny: never hold them back to coalesce.
        let _ = tcp.set_nodelay(true);
        let task = accept(tcp, peer, Arc::clone(&gateway), config, shutdown.clone());
        connections.spawn(slot, task);
    }
    connections.wait().await;
}

/// First byte of a TLS record carrying a handshake (ClientHello).
const TLS_HANDSHAKE: u8 = 0x16;

/// One accepted TCP connection: TLS (`wss://`, told apart by its first byte) or plain
/// (`ws://`, where the local address allows it), then the WebSocket upgrade and the session.
async fn accept(
    tcp: TcpStream,
    peer: SocketAddr,
    gateway: Arc<Gateway>,
    config: WebSocketConfig,
    shutdown: watch::Receiver<bool>,
) {
    let mut first = [0u8; 1];
    match tokio::time::timeout(UPGRADE_TIMEOUT, tcp.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        Ok(_) => return debug!(%peer, "closed before sending anything"),
        Err(_) => return debug!(%peer, "sent nothing in time"),
    }
    if first[0] == TLS_HANDSHAKE {
        let Some(acceptor) = gateway.wss_acceptor() else {
            return debug!(%peer, "TLS attempted but this gateway has no certificate");
        };
        let tls = match Box::pin(tokio::time::timeout(UPGRADE_TIMEOUT, acceptor.accept(tcp))).await
        {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => return debug!(%peer, "TLS handshake timed out"),
        };
        return Box::pin(upgrade(tls, peer, gateway, config, shutdown, None, "wss")).await;
    }
    let local = tcp.local_addr().ok();
    let plain_ok = gateway.config().insecure || local.is_some_and(|a| crate::plaintext_ok(a.ip()));
    let refusal = (!plain_ok).then(|| {
        let fingerprint = gateway
            .fingerprint()
            .map(|fp| format!(" and pin the certificate fingerprint {fp}"))
            .unwrap_or_default();
        format!(
            "plain ws:// is refused on {}: it is neither loopback nor a tailnet address, so \
             anyone on the path could read your terminals. Connect with wss://{}{fingerprint} \
             (or start the gateway with --insecure on a private network)",
            local.map_or_else(|| "this address".to_owned(), |a| a.ip().to_string()),
            local.map_or_else(|| "HOST:PORT".to_owned(), |a| a.to_string()),
        )
    });
    // Boxed, like the TLS branch: the task holds only the branch it took.
    Box::pin(upgrade(tcp, peer, gateway, config, shutdown, refusal, "ws")).await;
}

/// The WebSocket upgrade, then the session (or, with `refusal`, an Error and a Close).
async fn upgrade<S>(
    io: S,
    peer: SocketAddr,
    gateway: Arc<Gateway>,
    config: WebSocketConfig,
    shutdown: watch::Receiver<bool>,
    refusal: Option<String>,
    transport: &'static str,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let upgrade = tokio_tungstenite::accept_async_with_config(io, Some(config));
    // Boxed: the upgrade's state is freed once done, not kept for the connection's life.
    let ws = match Box::pin(tokio::time::timeout(UPGRADE_TIMEOUT, upgrade)).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => return debug!(%peer, error = %e, "WebSocket upgrade failed"),
        Err(_) => return debug!(%peer, "WebSocket upgrade timed out"),
    };
    let (sink, stream) = ws.split();
    let mut outgoing = WsOutgoing::new(sink);
    if let Some(message) = refusal {
        warn!(%peer, "plain WebSocket refused on a public address");
        let code = crate::proto::v1::ErrorCode::PermissionDenied;
        return session::refuse(&mut outgoing, code, message).await;
    }
    let incoming = WsIncoming {
        stream,
        decoder: Decoder::new(DecoderConfig::default()),
    };
    session::serve(
        gateway,
        peer,
        incoming,
        outgoing,
        shutdown,
        Heartbeats::Session,
        transport,
    )
    .await;
}

/// A WebSocket's incoming binary messages, decoded.
struct WsIncoming<S> {
    stream: S,
    decoder: Decoder,
}

impl<S> Incoming for WsIncoming<S>
where
    S: Stream<Item = Result<Message, WsError>> + Unpin + Send + 'static,
{
    async fn next(&mut self) -> Option<Result<(Envelope, usize), ReadError>> {
        loop {
            let frame = match self.stream.next().await? {
                Ok(Message::Binary(frame)) => frame,
                Ok(Message::Text(_)) => {
                    return Some(Err(ReadError::Transport(TransportError::from(TextMessage))));
                }
                // Pings are answered by the WebSocket layer; Close ends the stream.
                Ok(_) => continue,
                Err(e) => return Some(Err(ReadError::Transport(TransportError::from(e)))),
            };
            let len = frame.len();
            return Some(
                self.decoder
                    .decode_message(frame)
                    .map(|envelope| (envelope, len))
                    .map_err(ReadError::Decode),
            );
        }
    }
}

/// A WebSocket's outgoing side: one binary message per frame, one compression context.
struct WsOutgoing<K> {
    sink: K,
    encoder: Encoder,
    /// Compression to switch on after the next frame.
    pending: Option<CompressionPolicy>,
    buf: BytesMut,
}

impl<K> WsOutgoing<K> {
    fn new(sink: K) -> Self {
        Self {
            sink,
            encoder: Encoder::new(EncoderConfig::default()),
            pending: None,
            buf: BytesMut::new(),
        }
    }
}

impl<K> Outgoing for WsOutgoing<K>
where
    K: Sink<Message, Error = WsError> + Unpin + Send + 'static,
{
    fn negotiated(&mut self, policy: CompressionPolicy, params: ZstdParams) {
        self.encoder = Encoder::new(EncoderConfig {
            zstd: params,
            ..EncoderConfig::default()
        });
        self.pending = Some(policy);
    }

    async fn write(&mut self, envelope: &Envelope) -> Result<usize, TransportError> {
        let len = self.encoder.encode_message(envelope, &mut self.buf)?;
        if let Some(policy) = self.pending.take() {
            self.encoder.set_compression(policy);
        }
        self.sink
            .feed(Message::Binary(self.buf.split().freeze()))
            .await?;
        Ok(len)
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        self.sink.flush().await?;
        devtail_rt::forget_waker(&mut self.sink);
        Ok(())
    }

    async fn close(&mut self) {
        let _ = self.sink.close().await;
    }
}
