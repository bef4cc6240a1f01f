//! The client's API: a session with a gateway ([`Client`]), its channels and requests, and how
//! incoming frames are routed to them. The session itself is driven by [`crate::session`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::session::{Driver, Status};
use crate::terminal::Terminal;
use devtail_proto::DecodeError;
use devtail_proto::v1::{self, Envelope, envelope::Body};

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
    #[error("{0}: unknown transport; use ws://, wss:// or quic://")]
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
    /// SHA-256 fingerprint of the gateway's certificate (64 hex digits), required by `wss://`
    /// and `quic://`: the gateway prints it at start.
    pub fingerprint: Option<String>,
    /// Other URLs of the same gateway to resume the session on, tried in turn after the one it
    /// started on (say `wss://` behind a network that blocks the UDP of `quic://`).
    pub resume_urls: Vec<String>,
    /// Resume the session on a new connection when the connection drops (capped exponential
    /// backoff with full jitter), instead of ending it.
    pub reconnect: bool,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("client_name", &self.client_name)
            .field("no_compression", &self.no_compression)
            .field("tap", &self.tap.is_some())
            .field("fingerprint", &self.fingerprint)
            .field("resume_urls", &self.resume_urls)
            .field("reconnect", &self.reconnect)
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
pub(crate) struct Routes {
    pub(crate) channels: HashMap<u32, mpsc::Sender<Body>>,
    pub(crate) requests: HashMap<u64, oneshot::Sender<Body>>,
    /// Why the session ended, once it has.
    pub(crate) closed: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    routes: Mutex<Routes>,
    /// The gateway's latest notice.
    notices: watch::Sender<Option<Notice>>,
}

/// Something the gateway said that answers no request: an `Error` on channel 0 with request
/// id 0 (PROTOCOL.md §9). `RATE_LIMITED` is the one sent today: this device went over a quota
/// and the gateway reads its frames more slowly; nothing is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The `ErrorCode`.
    pub code: v1::ErrorCode,
    /// The gateway's words, for a person.
    pub message: String,
}

impl Shared {
    pub(crate) fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn unroute(&self, channel: u32) {
        self.routes().channels.remove(&channel);
    }

    pub(crate) fn closed_reason(&self) -> Option<String> {
        self.routes().closed.clone()
    }
}

/// A session with a gateway.
#[derive(Debug)]
pub struct Client {
    out: mpsc::Sender<Outbound>,
    shared: Arc<Shared>,
    status: watch::Receiver<Status>,
    /// The QUIC endpoint of the current connection, when it is QUIC.
    endpoint: Arc<Mutex<Option<quinn::Endpoint>>>,
    reconnect_now: Arc<watch::Sender<u64>>,
    welcome: v1::Welcome,
    next_channel: AtomicU32,
    next_request: AtomicU64,
}

impl Client {
    /// Connects, authenticates with `token` and starts a session. With
    /// [`ConnectOptions::reconnect`] the session is resumed on a new connection after a drop,
    /// with nothing lost either way ([`Client::status`] tells when).
    pub async fn connect(
        url: &str,
        token: &str,
        options: ConnectOptions,
    ) -> Result<Self, ClientError> {
        let shared = Arc::new(Shared {
            routes: Mutex::new(Routes::default()),
            notices: watch::Sender::new(None),
        });
        let (status, status_rx) = watch::channel(Status::Connected);
        let (driver, welcome, connection) =
            Driver::connect(url, token, options, Arc::clone(&shared), status).await?;
        let (out_tx, out_rx) = mpsc::channel::<Outbound>(OUTBOUND_QUEUE);
        let endpoint = Arc::clone(&driver.endpoint);
        let reconnect_now = Arc::clone(&driver.reconnect_now);
        tokio::spawn(driver.run(connection, out_rx));
        Ok(Self {
            out: out_tx,
            shared,
            status: status_rx,
            endpoint,
            reconnect_now,
            welcome,
            next_channel: AtomicU32::new(1),
            next_request: AtomicU64::new(1),
        })
    }

    /// Drops the current connection and resumes the session on a new one at once (with
    /// [`ConnectOptions::reconnect`]; otherwise the session ends): for when the device knows
    /// its network changed in a way the transport cannot follow. Nothing is lost either way.
    pub fn reconnect_now(&self) {
        self.reconnect_now.send_modify(|requests| *requests += 1);
    }

    /// Moves a QUIC connection to a new local UDP socket (a fresh port on the same interfaces),
    /// as happens when a device changes networks: the connection carries on without a resume.
    /// Returns the new local address. Other transports cannot migrate.
    pub fn migrate(&self) -> Result<std::net::SocketAddr, ClientError> {
        let endpoint = self
            .endpoint
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| {
                ClientError::Protocol("only a quic:// connection can migrate".to_owned())
            })?;
        let failed = |e: std::io::Error| ClientError::Closed(Some(format!("migration: {e}")));
        let current = endpoint.local_addr().map_err(failed)?;
        let any: std::net::SocketAddr = if current.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = std::net::UdpSocket::bind(any).map_err(failed)?;
        endpoint.rebind(socket).map_err(failed)?;
        endpoint.local_addr().map_err(failed)
    }

    /// The session's state; `changed()` on the receiver wakes on every change.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// The gateway's notices (rate limiting, say): `changed()` wakes at each, the value is the
    /// latest. They are also logged as warnings.
    pub fn notices(&self) -> watch::Receiver<Option<Notice>> {
        self.shared.notices.subscribe()
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

/// Delivers one frame to its channel or request. Waits while the channel's events are not
/// being read, unless `stop` comes first: then the frame is given back, undelivered (the
/// connection is being replaced, and a reconnect must not wait for the app to read).
pub(crate) async fn route(
    shared: &Shared,
    channel: u32,
    body: Body,
    stop: &Notify,
) -> Option<Body> {
    // Request 0 is none: an Error without one (RATE_LIMITED, say) is a notice.
    if let Some(id) = body.request_id().filter(|&id| channel == 0 && id != 0) {
        if let Some(waiter) = shared.routes().requests.remove(&id) {
            let _ = waiter.send(body);
        }
        return None;
    }
    if channel == 0 {
        if let Body::Error(error) = body {
            tracing::warn!(code = error.code, message = %error.message, "gateway notice");
            shared.notices.send_replace(Some(Notice {
                code: v1::ErrorCode::try_from(error.code).unwrap_or(v1::ErrorCode::Unspecified),
                message: error.message,
            }));
        }
        return None;
    }
    let sender = shared.routes().channels.get(&channel).cloned()?;
    // Backpressure: a channel whose events are not being read stops the socket reads.
    tokio::select! {
        permit = sender.reserve() => match permit {
            Ok(permit) => permit.send(body),
            Err(_) => shared.unroute(channel),
        },
        () = stop.notified() => return Some(body),
    }
    None
}

pub(crate) fn bytes_body(data: Bytes) -> Body {
    Body::TermData(v1::TermData { data })
}
