//! The connection to a gateway: handshake, reader and writer tasks, channel routing, requests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::terminal::Terminal;
use crate::url::{GatewayUrl, Scheme};
use devtail_proto::v1::{self, Envelope, envelope::Body};
use devtail_proto::{
    DEFAULT_MAX_FRAME_LEN, DecodeError, Decoder, DecoderConfig, Encoder, EncoderConfig,
    PROTOCOL_VERSION,
};

/// Frames queued towards the gateway before writers wait.
const OUTBOUND_QUEUE: usize = 64;

/// How long [`Client::close`] waits for the Close to be written.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Events queued per channel before the reader stops reading the socket (backpressure).
pub(crate) const CHANNEL_QUEUE: usize = 64;

/// Why the client could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL names a transport this client cannot use yet.
    #[error("{0} is not supported yet: use ws://")]
    UnsupportedScheme(String),
    /// TCP or WebSocket failure.
    #[error("cannot reach the gateway at {url}: {reason}")]
    Connect {
        /// The gateway URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The gateway refused (bad token, version, …) or answered with an error.
    #[error("gateway refused: {message} ({code})")]
    Refused {
        /// Wire error code name.
        code: &'static str,
        /// The gateway's message.
        message: String,
    },
    /// The gateway sent something this client cannot decode.
    #[error("bad frame from the gateway: {0}")]
    Decode(#[from] DecodeError),
    /// The connection ended.
    #[error("connection closed{}", .0.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Closed(Option<String>),
    /// The gateway answered something unexpected.
    #[error("unexpected answer from the gateway: {0}")]
    Protocol(String),
}

impl ClientError {
    pub(crate) fn from_error(error: &v1::Error) -> Self {
        let code = v1::ErrorCode::try_from(error.code)
            .map_or("ERROR_CODE_UNSPECIFIED", |c| c.as_str_name());
        Self::Refused {
            code,
            message: error.message.clone(),
        }
    }
}

/// Which way a tapped frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapDirection {
    /// Gateway → client.
    Received,
    /// Client → gateway.
    Sent,
}

/// Sees every frame (for `devtail frames`): direction, wire length, flags byte, envelope.
pub type FrameTap = Arc<dyn Fn(TapDirection, usize, u8, &Envelope) + Send + Sync>;

/// How to connect.
#[derive(Clone, Default)]
pub struct ConnectOptions {
    /// Name sent in Hello.
    pub client_name: Option<String>,
    /// Ask the gateway not to compress (for reading frames on the wire).
    pub no_compression: bool,
    /// Called with every frame sent and received.
    pub tap: Option<FrameTap>,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("client_name", &self.client_name)
            .field("no_compression", &self.no_compression)
            .field("tap", &self.tap.is_some())
            .finish()
    }
}

/// A frame on its way to the gateway.
#[derive(Debug)]
pub(crate) struct Outbound {
    pub(crate) channel: u32,
    pub(crate) body: Body,
}

/// Where incoming frames go.
#[derive(Debug, Default)]
struct Routes {
    channels: HashMap<u32, mpsc::Sender<Body>>,
    requests: HashMap<u64, oneshot::Sender<Body>>,
    /// Why the connection ended, once it has.
    closed: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    routes: Mutex<Routes>,
    /// Highest gateway sequence number received (our ack).
    received_seq: AtomicU64,
}

impl Shared {
    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn unroute(&self, channel: u32) {
        self.routes().channels.remove(&channel);
    }

    pub(crate) fn closed_reason(&self) -> Option<String> {
        self.routes().closed.clone()
    }
}

/// A connection to a gateway.
#[derive(Debug)]
pub struct Client {
    out: mpsc::Sender<Outbound>,
    shared: Arc<Shared>,
    welcome: v1::Welcome,
    next_channel: AtomicU32,
    next_request: AtomicU64,
}

impl Client {
    /// Connects, authenticates with `token` and completes the handshake.
    pub async fn connect(
        url: &str,
        token: &str,
        options: ConnectOptions,
    ) -> Result<Self, ClientError> {
        let parsed = GatewayUrl::parse(url).map_err(|reason| ClientError::Connect {
            url: url.to_owned(),
            reason,
        })?;
        if parsed.scheme != Scheme::Ws {
            return Err(ClientError::UnsupportedScheme(parsed.to_string()));
        }
        let max_wire = devtail_proto::max_wire_len(DEFAULT_MAX_FRAME_LEN);
        let config = WebSocketConfig::default()
            .max_message_size(Some(max_wire))
            .max_frame_size(Some(max_wire));
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(parsed.to_string(), Some(config), true)
                .await
                .map_err(|e| ClientError::Connect {
                    url: parsed.to_string(),
                    reason: e.to_string(),
                })?;
        let (mut sink, mut stream) = ws.split();
        let tap = options.tap.clone();

        // Hello, plain and unsequenced.
        let mut compression = devtail_proto::compression_support();
        if options.no_compression {
            compression.modes.clear();
        }
        let hello = Envelope {
            body: Some(Body::Hello(v1::Hello {
                min_version: PROTOCOL_VERSION,
                max_version: PROTOCOL_VERSION,
                client_name: options.client_name.clone().unwrap_or_else(|| {
                    concat!("devtail-client/", env!("CARGO_PKG_VERSION")).to_owned()
                }),
                auth: Some(v1::hello::Auth::Token(v1::DeviceToken {
                    token: token.to_owned(),
                })),
                resume: None,
                capabilities: vec![
                    v1::Capability::Terminal as i32,
                    v1::Capability::Sessions as i32,
                ],
                compression: Some(compression),
                heartbeat_interval_ms: 0,
            })),
            ..Default::default()
        };
        let mut encoder = Encoder::new(EncoderConfig::default());
        let mut buf = BytesMut::new();
        let len = encoder
            .encode_message(&hello, &mut buf)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        if let Some(tap) = &tap {
            tap(TapDirection::Sent, len, buf[0], &hello);
        }
        let closed =
            |e: tokio_tungstenite::tungstenite::Error| ClientError::Closed(Some(e.to_string()));
        sink.send(Message::Binary(buf.split().freeze()))
            .await
            .map_err(closed)?;

        let mut decoder = Decoder::new(DecoderConfig::default());
        let welcome = loop {
            let frame = match stream.next().await {
                Some(Ok(Message::Binary(frame))) => frame,
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(closed(e)),
                None => return Err(ClientError::Closed(None)),
            };
            let (wire, flags) = (frame.len(), frame.first().copied().unwrap_or(0));
            let envelope = decoder.decode_message(frame)?;
            if let Some(tap) = &tap {
                tap(TapDirection::Received, wire, flags, &envelope);
            }
            match envelope.body {
                Some(Body::Welcome(welcome)) => break welcome,
                Some(Body::Error(error)) => return Err(ClientError::from_error(&error)),
                Some(Body::Close(close)) => return Err(ClientError::Closed(Some(close.message))),
                other => {
                    return Err(ClientError::Protocol(format!(
                        "expected welcome, got {}",
                        other.map_or("an empty frame", |b| b.kind())
                    )));
                }
            }
        };

        let (policy, params) = devtail_proto::negotiate(welcome.compression.as_ref());
        let mut encoder = Encoder::new(EncoderConfig {
            compression: policy,
            zstd: params,
            max_frame_len: match welcome.max_frame_len {
                0 => DEFAULT_MAX_FRAME_LEN,
                n => n as usize,
            },
        });
        let shared = Arc::new(Shared {
            routes: Mutex::new(Routes::default()),
            received_seq: AtomicU64::new(0),
        });
        let (out_tx, mut out_rx) = mpsc::channel::<Outbound>(OUTBOUND_QUEUE);

        // Writer: numbers, acknowledges, encodes, sends; flushes when the queue runs dry.
        let writer_shared = Arc::clone(&shared);
        let writer_tap = tap.clone();
        tokio::spawn(async move {
            let mut seq = 0u64;
            while let Some(first) = out_rx.recv().await {
                let mut next = Some(first);
                while let Some(out) = next.take() {
                    let sequenced = out.body.is_sequenced();
                    if sequenced {
                        seq += 1;
                    }
                    let closing = matches!(out.body, Body::Close(_));
                    let envelope = Envelope {
                        seq: if sequenced { seq } else { 0 },
                        ack: writer_shared.received_seq.load(Ordering::Relaxed),
                        channel: out.channel,
                        body: Some(out.body),
                    };
                    let Ok(len) = encoder.encode_message(&envelope, &mut buf) else {
                        continue;
                    };
                    if let Some(tap) = &writer_tap {
                        tap(TapDirection::Sent, len, buf[0], &envelope);
                    }
                    if sink
                        .feed(Message::Binary(buf.split().freeze()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    if closing {
                        let _ = sink.close().await;
                        return;
                    }
                    next = out_rx.try_recv().ok();
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
            let _ = sink.close().await;
        });

        // Reader: decodes and routes; waits on a full channel queue (backpressure).
        let reader_shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let reason = loop {
                let frame = match stream.next().await {
                    Some(Ok(Message::Binary(frame))) => frame,
                    Some(Ok(Message::Text(_))) => {
                        break Some("the gateway sent a text message".to_owned());
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => break Some(e.to_string()),
                    None => break None,
                };
                let (wire, flags) = (frame.len(), frame.first().copied().unwrap_or(0));
                let envelope = match decoder.decode_message(frame) {
                    Ok(envelope) => envelope,
                    Err(e) => break Some(format!("bad frame from the gateway: {e}")),
                };
                if let Some(tap) = &tap {
                    tap(TapDirection::Received, wire, flags, &envelope);
                }
                if envelope.seq != 0 {
                    reader_shared
                        .received_seq
                        .fetch_max(envelope.seq, Ordering::Relaxed);
                }
                let Some(body) = envelope.body else { continue };
                if let Body::Close(close) = &body {
                    break Some(close.message.clone());
                }
                if let Some(reason) = route(&reader_shared, envelope.channel, body).await {
                    break Some(reason);
                }
            };
            let mut routes = reader_shared.routes();
            routes.closed =
                Some(reason.unwrap_or_else(|| "the gateway closed the connection".to_owned()));
            // Dropping the senders ends every terminal's event stream and pending request.
            routes.channels.clear();
            routes.requests.clear();
        });

        Ok(Self {
            out: out_tx,
            shared,
            welcome,
            next_channel: AtomicU32::new(1),
            next_request: AtomicU64::new(1),
        })
    }

    /// The gateway's Welcome.
    pub fn welcome(&self) -> &v1::Welcome {
        &self.welcome
    }

    pub(crate) async fn send(&self, channel: u32, body: Body) -> Result<(), ClientError> {
        self.out
            .send(Outbound { channel, body })
            .await
            .map_err(|_| ClientError::Closed(self.shared.closed_reason()))
    }

    /// A new channel number (clients use odd numbers).
    fn channel_id(&self) -> u32 {
        self.next_channel.fetch_add(2, Ordering::Relaxed)
    }

    /// Sends `body` on a new channel and waits for its first answer.
    async fn open_channel(&self, body: Body) -> Result<Terminal, ClientError> {
        let channel = self.channel_id();
        let (tx, mut rx) = mpsc::channel(CHANNEL_QUEUE);
        {
            let mut routes = self.shared.routes();
            if let Some(reason) = &routes.closed {
                return Err(ClientError::Closed(Some(reason.clone())));
            }
            routes.channels.insert(channel, tx);
        }
        self.send(channel, body).await?;
        match rx.recv().await {
            Some(Body::TermOpened(opened)) => Ok(Terminal::new(
                channel,
                opened,
                rx,
                self.out.clone(),
                Arc::clone(&self.shared),
            )),
            Some(Body::Error(error)) => {
                self.shared.unroute(channel);
                Err(ClientError::from_error(&error))
            }
            Some(other) => Err(ClientError::Protocol(format!(
                "expected term_opened, got {}",
                other.kind()
            ))),
            None => Err(ClientError::Closed(self.shared.closed_reason())),
        }
    }

    /// Starts a program in a new remote terminal.
    pub async fn open_terminal(&self, open: v1::TermOpen) -> Result<Terminal, ClientError> {
        self.open_channel(Body::TermOpen(open)).await
    }

    /// Attaches to a running terminal, replaying its output from byte `replay_from` (0 = all
    /// the gateway still holds; `u64::MAX` = from now on). Output older than the gateway holds
    /// arrives as a [`TerminalEvent::Snapshot`](crate::TerminalEvent::Snapshot) of the screen.
    pub async fn attach(
        &self,
        terminal_id: u64,
        read_only: bool,
        replay_from: u64,
    ) -> Result<Terminal, ClientError> {
        self.open_channel(Body::Attach(v1::Attach {
            target: Some(v1::attach::Target::TerminalId(terminal_id)),
            read_only,
            replay_from,
        }))
        .await
    }

    /// Sends a request on channel 0 and waits for its answer.
    async fn request(&self, make: impl FnOnce(u64) -> Body) -> Result<Body, ClientError> {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut routes = self.shared.routes();
            if let Some(reason) = &routes.closed {
                return Err(ClientError::Closed(Some(reason.clone())));
            }
            routes.requests.insert(id, tx);
        }
        self.send(0, make(id)).await?;
        match rx.await {
            Ok(Body::Error(error)) => Err(ClientError::from_error(&error)),
            Ok(body) => Ok(body),
            Err(_) => Err(ClientError::Closed(self.shared.closed_reason())),
        }
    }

    /// Lists the gateway's live terminals.
    pub async fn sessions(&self) -> Result<v1::SessionListResult, ClientError> {
        match self
            .request(|request_id| Body::SessionList(v1::SessionList { request_id }))
            .await?
        {
            Body::SessionListResult(result) => Ok(result),
            other => Err(ClientError::Protocol(format!(
                "expected session_list_result, got {}",
                other.kind()
            ))),
        }
    }

    /// Sends a Ping (the gateway answers with a Pong, visible to a frame tap).
    pub async fn ping(&self, nonce: u64) -> Result<(), ClientError> {
        self.send(0, Body::Ping(v1::Ping { nonce })).await
    }

    /// Says goodbye: the gateway detaches this connection's channels (terminals run on).
    pub async fn close(self) {
        let _ = self
            .send(
                0,
                Body::Close(v1::Close {
                    reason: v1::CloseReason::Normal as i32,
                    message: "client done".into(),
                    reconnect_after_ms: 0,
                }),
            )
            .await;
        // The writer closes the socket after sending Close; wait for it to be gone, but not
        // forever if the gateway has stopped reading.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.out.closed()).await;
    }

    /// Why the connection ended, if it has.
    pub fn closed_reason(&self) -> Option<String> {
        self.shared.closed_reason()
    }
}

/// Delivers one frame to its channel or request. Returns a reason to end the connection.
async fn route(shared: &Shared, channel: u32, body: Body) -> Option<String> {
    if let Some(id) = body.request_id().filter(|_| channel == 0) {
        if let Some(waiter) = shared.routes().requests.remove(&id) {
            let _ = waiter.send(body);
        }
        return None;
    }
    if channel == 0 {
        if let Body::Error(error) = &body {
            tracing::warn!(code = error.code, message = %error.message, "gateway error");
        }
        return None;
    }
    let sender = shared.routes().channels.get(&channel).cloned();
    if let Some(sender) = sender {
        // Backpressure: a channel whose events are not being read stops the socket reads.
        if sender.send(body).await.is_err() {
            shared.unroute(channel);
        }
    }
    None
}

pub(crate) fn bytes_body(data: Bytes) -> Body {
    Body::TermData(v1::TermData { data })
}
