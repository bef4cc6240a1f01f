//! The client's side of a session: one driver task per [`Client`](crate::Client) that owns the
//! [`Reliability`] state and the current connection, and — when asked to — resumes the session
//! on a new connection after a drop (PROTOCOL.md §6).
//!
//! Per connection a reader task decodes, de-duplicates ([`Reliability::receive`]) and routes
//! frames to channels; the driver writes: what users send (numbered and kept in the replay
//! buffer until acknowledged), and what the reliability core says is due (acks, pings,
//! retransmissions). While disconnected the driver keeps taking what users send into the
//! replay buffer, up to its budget, and the resume retransmits it: typed input is never lost.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::backoff::Backoff;
use crate::connection::{ClientError, ConnectOptions, Outbound, Shared, TapDirection};
use crate::transport::{self, Incoming, Outgoing, ReadFailure, Received};
use crate::url::GatewayUrl;
use devtail_proto::reliability::{self, Event, Reliability, Role};
use devtail_proto::v1::{self, Envelope, envelope::Body};
use devtail_proto::{DEFAULT_MAX_FRAME_LEN, PROTOCOL_VERSION};

/// Frames a resume may receive before its Welcome (QUIC streams overtaking the control
/// stream): more is a protocol error.
const MAX_EARLY_FRAMES: usize = 4096;

/// How long the handshake of one attempt may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The state of a client's session, from [`Client::status`](crate::Client::status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Connected; frames flow.
    Connected,
    /// The connection dropped and the client is resuming the session (attempt counts from 1).
    Reconnecting {
        /// Attempt number.
        attempt: u32,
        /// Why the last connection or attempt failed.
        reason: String,
    },
    /// The session is over: closed, refused, or lost for good.
    Closed(String),
}

/// One connection's halves, after the handshake.
pub(crate) struct Connection {
    outgoing: Outgoing,
    incoming: Incoming,
    /// Frames that arrived before the Welcome, to handle first.
    early: Vec<Received>,
    /// The QUIC endpoint, for [`Driver::migrate`].
    endpoint: Option<quinn::Endpoint>,
}

/// Who the client is and what it holds of its session.
pub(crate) struct Driver {
    url: String,
    token: String,
    options: ConnectOptions,
    session_id: Bytes,
    resume_token: Bytes,
    rel: Arc<Mutex<Core>>,
    shared: Arc<Shared>,
    status: watch::Sender<Status>,
    /// Reader → driver: something arrived that the driver must act on before its timer
    /// ([`Core::driver_needed`]).
    wake: Arc<Notify>,
    /// The current connection's QUIC endpoint, if it is QUIC (for migration).
    pub(crate) endpoint: Arc<Mutex<Option<quinn::Endpoint>>>,
    /// [`Client::reconnect_now`](crate::Client::reconnect_now): drop the connection, resume.
    pub(crate) reconnect_now: Arc<watch::Sender<u64>>,
    backoff: Backoff,
    /// [`Client::reconnect_now`](crate::Client::reconnect_now) requests made before the
    /// current connection's attempt began: not for it. One made since (while it connected, or
    /// before its serving started) drops it.
    requests_seen: u64,
    /// A frame from the gateway already counted as received whose delivery a replaced
    /// connection's reader gave up (its channel's events were not being read): the next
    /// reader delivers it first.
    held: Option<(u32, Body)>,
}

mod reader;

use reader::{Core, Frames, lock, read_loop};

/// Why a connection ended.
enum Ended {
    /// The user closed the client (Close sent) or dropped every handle.
    ByUs,
    /// The gateway closed the session or the connection for good.
    Final(String),
    /// The connection dropped; the session can be resumed.
    Lost(String),
}

fn millis(ms: u32) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms.into()))
}

/// Connects and completes the handshake (a resume when `resume` is given). Returns the
/// connection and the gateway's Welcome.
async fn handshake(
    url: &str,
    token: &str,
    options: &ConnectOptions,
    resume: Option<v1::ResumeRequest>,
) -> Result<(Connection, v1::Welcome), ClientError> {
    let parsed = GatewayUrl::parse(url).map_err(|reason| ClientError::Connect {
        url: url.to_owned(),
        reason,
    })?;
    let is_resume = resume.is_some();
    let (mut outgoing, mut incoming, endpoint) = transport::open(&parsed, options).await?;
    let tap = options.tap.as_ref();

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
            resume,
            capabilities: vec![
                v1::Capability::Terminal as i32,
                v1::Capability::Sessions as i32,
            ],
            compression: Some(compression),
            heartbeat_interval_ms: 0,
        })),
        ..Default::default()
    };
    // Hello goes out plain.
    let closed = |e: transport::TransportError| ClientError::Closed(Some(e.to_string()));
    let (len, flags) = outgoing.write(&hello).await.map_err(closed)?;
    if let Some(tap) = tap {
        tap(TapDirection::Sent, len, flags, &hello);
    }
    outgoing.flush().await.map_err(closed)?;

    // On QUIC a resumed session's retransmissions on channel streams can overtake the
    // Welcome on the control stream: they are kept, and handled after it.
    let mut early = Vec::new();
    let welcome = loop {
        let received = match incoming.next().await {
            Some(Ok(received)) => received,
            Some(Err(ReadFailure::Decode(e))) => return Err(e.into()),
            Some(Err(ReadFailure::Transport(e))) => return Err(ClientError::Closed(Some(e))),
            None => return Err(ClientError::Closed(None)),
        };
        let overtaking = is_resume
            && received.envelope.channel != 0
            && received
                .envelope
                .body
                .as_ref()
                .is_some_and(|body| body.is_sequenced() && !matches!(body, Body::Error(_)));
        if overtaking && early.len() < MAX_EARLY_FRAMES {
            early.push(received);
            continue;
        }
        if let Some(tap) = tap {
            tap(
                TapDirection::Received,
                received.wire,
                received.flags,
                &received.envelope,
            );
        }
        match received.envelope.body {
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
    let max_frame_len = match welcome.max_frame_len {
        0 => DEFAULT_MAX_FRAME_LEN,
        n => n as usize,
    };
    outgoing.negotiated(policy, params, max_frame_len);
    Ok((
        Connection {
            outgoing,
            incoming,
            early,
            endpoint,
        },
        welcome,
    ))
}

impl Driver {
    /// Opens a new session. Returns the driver (to [`Driver::run`]), its first connection and
    /// the Welcome.
    pub(crate) async fn connect(
        url: &str,
        token: &str,
        options: ConnectOptions,
        shared: Arc<Shared>,
        status: watch::Sender<Status>,
    ) -> Result<(Self, v1::Welcome, Connection), ClientError> {
        let (connection, welcome) = handshake(url, token, &options, None).await?;
        let mut rel = Reliability::new(reliability::Config::new(Role::Client), Instant::now());
        rel.set_timers(
            millis(welcome.heartbeat_interval_ms),
            millis(welcome.idle_timeout_ms),
        );
        let driver = Self {
            url: url.to_owned(),
            token: token.to_owned(),
            options,
            session_id: welcome.session_id.clone(),
            resume_token: welcome.resume_token.clone(),
            rel: Arc::new(Mutex::new(Core::new(rel))),
            shared,
            status,
            wake: Arc::new(Notify::new()),
            endpoint: Arc::default(),
            reconnect_now: Arc::new(watch::channel(0).0),
            backoff: Backoff::new(),
            requests_seen: 0,
            held: None,
        };
        Ok((driver, welcome, connection))
    }

    /// Serves the session until it ends: connections, and resumes between them when the
    /// options ask for it.
    pub(crate) async fn run(mut self, first: Connection, mut out: mpsc::Receiver<Outbound>) {
        let mut connection = first;
        let reason = loop {
            let ended = self.serve(connection, &mut out).await;
            let reason = match ended {
                Ended::ByUs => "the client closed the session".to_owned(),
                Ended::Final(reason) => reason,
                Ended::Lost(reason) if self.options.reconnect => {
                    match self.reconnect(reason, &mut out).await {
                        Ok(next) => {
                            connection = next;
                            continue;
                        }
                        Err(reason) => reason,
                    }
                }
                Ended::Lost(reason) => reason,
            };
            break reason;
        };
        self.finish(reason);
    }

    /// Ends the session for its users: every channel's events end, pending requests fail.
    fn finish(&self, reason: String) {
        let mut routes = self.shared.routes();
        routes.closed = Some(reason.clone());
        routes.channels.clear();
        routes.requests.clear();
        drop(routes);
        self.status.send_replace(Status::Closed(reason));
    }

    /// Runs one connection: a reader task, and writing here.
    async fn serve(&mut self, connection: Connection, out: &mut mpsc::Receiver<Outbound>) -> Ended {
        let Connection {
            mut outgoing,
            incoming,
            early,
            endpoint,
        } = connection;
        *self.endpoint.lock().unwrap_or_else(|p| p.into_inner()) = endpoint;
        // Requests made before this connection's attempt began are not for it; one made since
        // is.
        let mut forced = self.reconnect_now.subscribe();
        if *forced.borrow() != self.requests_seen {
            forced.mark_changed();
        }
        let stop = Arc::new(Notify::new());
        let mut reader = tokio::spawn(read_loop(
            Frames {
                held: self.held.take(),
                early,
                incoming,
            },
            Arc::clone(&self.rel),
            Arc::clone(&self.shared),
            Arc::clone(&self.wake),
            Arc::clone(&stop),
            self.options.tap.clone(),
        ));
        let tap = self.options.tap.clone();
        // Re-armed every turn, moved only when the deadline changes (see `devtail_rt::Timer`).
        let mut timer = devtail_rt::Timer::new();
        let mut reader_done = false;

        let ended = 'conn: loop {
            // What the reliability core says is due: retransmissions, pongs, pings, acks.
            let now = Instant::now();
            let (due, dead, timeout, capacity) = {
                let mut rel = lock(&self.rel);
                let mut due = Vec::new();
                while let Some(envelope) = rel.poll_transmit(now) {
                    due.push(envelope);
                }
                let dead = std::iter::from_fn(|| rel.poll_event()).any(|e| e == Event::PathDead);
                // Sending what is due below changes neither the deadline nor the budget.
                let (timeout, capacity) = (rel.poll_timeout(), rel.send_capacity() > 0);
                rel.arm(timeout, !capacity);
                (due, dead, timeout, capacity)
            };
            for envelope in &due {
                if let Err(e) = transmit(&mut outgoing, tap.as_ref(), envelope).await {
                    break 'conn Ended::Lost(e.to_string());
                }
            }
            if dead {
                break Ended::Lost("no answer from the gateway (idle timeout)".to_owned());
            }
            if let Err(e) = outgoing.flush().await {
                break Ended::Lost(e.to_string());
            }
            timer.set(timeout);
            tokio::select! {
                next = out.recv(), if capacity => {
                    let Some(first) = next else {
                        // Every handle is gone: say goodbye.
                        let close = self.stamp(close_body("client done"), 0);
                        let _ = transmit(&mut outgoing, tap.as_ref(), &close).await;
                        break Ended::ByUs;
                    };
                    // Take a burst at once, while the budget allows.
                    let mut next = Some(first);
                    while let Some(item) = next.take() {
                        let closing = matches!(item.body, Body::Close(_));
                        let envelope = self.stamp(item.body, item.channel);
                        if let Err(e) = transmit(&mut outgoing, tap.as_ref(), &envelope).await {
                            break 'conn Ended::Lost(e.to_string());
                        }
                        if closing {
                            break 'conn Ended::ByUs;
                        }
                        if lock(&self.rel).send_capacity() > 0 {
                            next = out.try_recv().ok();
                        }
                    }
                }
                () = timer.wait() => lock(&self.rel).handle_timeout(Instant::now()),
                () = self.wake.notified() => {}
                Ok(()) = forced.changed() => {
                    break Ended::Lost("reconnect requested".to_owned());
                }
                end = &mut reader => {
                    reader_done = true;
                    break match end {
                        Ok((ended, held)) => {
                            self.held = held;
                            ended
                        }
                        Err(e) => Ended::Lost(format!("reader failed: {e}")),
                    };
                }
            }
        };
        // The reader stops between frames; one it already counted as received but could not
        // deliver yet (its channel's events not being read) it hands back, for the next reader
        // to deliver first. Meanwhile what users send is still taken.
        if !reader_done {
            stop.notify_one();
            self.held = self.join_reader(&mut reader, out).await;
        }
        outgoing.close().await;
        lock(&self.rel).connection_lost();
        ended
    }

    /// Waits for a stopped reader, buffering what users send meanwhile; returns the frame it
    /// handed back undelivered, if any.
    async fn join_reader(
        &self,
        reader: &mut JoinHandle<(Ended, Option<(u32, Body)>)>,
        out: &mut mpsc::Receiver<Outbound>,
    ) -> Option<(u32, Body)> {
        loop {
            let capacity = lock(&self.rel).send_capacity() > 0;
            tokio::select! {
                end = &mut *reader => return end.ok().and_then(|(_, held)| held),
                Some(item) = out.recv(), if capacity => {
                    self.stamp(item.body, item.channel);
                }
            }
        }
    }

    /// Numbers a frame (kept for retransmission when reliable).
    fn stamp(&self, body: Body, channel: u32) -> Envelope {
        lock(&self.rel).send(Instant::now(), channel, body)
    }

    /// Resumes the session on a new connection, with backoff between attempts. While it
    /// tries, what users send goes into the replay buffer. `Err` when the session is lost.
    async fn reconnect(
        &mut self,
        mut reason: String,
        out: &mut mpsc::Receiver<Outbound>,
    ) -> Result<Connection, String> {
        // The URL the session started on, then the alternates, in turns; each round of them
        // backs off like one attempt.
        let urls: Vec<String> = std::iter::once(self.url.clone())
            .chain(self.options.resume_urls.iter().cloned())
            .collect();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.status.send_replace(Status::Reconnecting {
                attempt,
                reason: reason.clone(),
            });
            let index = (attempt - 1) as usize % urls.len();
            let round = (attempt - 1) / urls.len() as u32 + 1;
            let delay = if index == 0 {
                self.backoff(round)
            } else {
                Duration::ZERO
            };
            let url = &urls[index];
            // A request made from here on (the network changed again while this attempt
            // connects) drops the connection it makes.
            let requests = *self.reconnect_now.borrow();
            let attempt_result = {
                let try_once = async {
                    tokio::time::sleep(delay).await;
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, self.resume_handshake(url))
                        .await
                        .unwrap_or_else(|_| {
                            Err(ClientError::Closed(Some("handshake timed out".into())))
                        })
                };
                tokio::pin!(try_once);
                loop {
                    let capacity = lock(&self.rel).send_capacity() > 0;
                    tokio::select! {
                        result = &mut try_once => break result,
                        item = out.recv(), if capacity => match item {
                            Some(item) if matches!(item.body, Body::Close(_)) => {
                                return Err("the client closed the session".to_owned());
                            }
                            Some(item) => {
                                lock(&self.rel).send(Instant::now(), item.channel, item.body);
                            }
                            None => return Err("the client closed the session".to_owned()),
                        },
                    }
                }
            };
            match attempt_result {
                Ok((connection, resume_token)) => {
                    self.resume_token = resume_token;
                    self.requests_seen = requests;
                    self.status.send_replace(Status::Connected);
                    return Ok(connection);
                }
                // Refused (session expired, token revoked, gateway restarted): retrying the
                // resume cannot help.
                Err(e @ ClientError::Refused { .. }) => return Err(format!("session lost: {e}")),
                Err(e) => reason = format!("{url}: {e}"),
            }
        }
    }

    /// One resume attempt: Hello with the session's proof and what we hold, then apply the
    /// gateway's answer.
    async fn resume_handshake(&self, url: &str) -> Result<(Connection, Bytes), ClientError> {
        let last_seq_received = lock(&self.rel).last_received();
        let request = v1::ResumeRequest {
            session_id: self.session_id.clone(),
            resume_token: self.resume_token.clone(),
            last_seq_received,
        };
        let (connection, welcome) =
            handshake(url, &self.token, &self.options, Some(request)).await?;
        if !welcome.resumed {
            return Err(ClientError::Protocol(
                "the gateway started a new session instead of resuming".to_owned(),
            ));
        }
        let mut rel = lock(&self.rel);
        rel.resume(Instant::now(), welcome.last_seq_received)
            .map_err(|e| ClientError::Protocol(format!("bad resume answer: {e}")))?;
        if welcome.resume_seq > 0 {
            rel.skip_to(welcome.resume_seq)
                .map_err(|e| ClientError::Protocol(format!("bad resume answer: {e}")))?;
        }
        rel.set_timers(
            millis(welcome.heartbeat_interval_ms),
            millis(welcome.idle_timeout_ms),
        );
        drop(rel);
        Ok((connection, welcome.resume_token))
    }

    /// The first attempt goes at once (a network change is usually over by then); later ones
    /// back off exponentially with full jitter: uniform in [0, min(cap, base·2^(attempt-1))).
    fn backoff(&mut self, attempt: u32) -> Duration {
        match attempt {
            0 | 1 => Duration::ZERO,
            _ => self.backoff.delay(attempt - 1),
        }
    }
}

/// Encodes and sends one envelope, showing it to the tap. A frame that cannot be encoded is
/// logged and skipped; a transport error ends the connection.
async fn transmit(
    outgoing: &mut Outgoing,
    tap: Option<&crate::FrameTap>,
    envelope: &Envelope,
) -> Result<(), transport::TransportError> {
    match outgoing.write(envelope).await {
        Ok((len, flags)) => {
            if let Some(tap) = tap {
                tap(TapDirection::Sent, len, flags, envelope);
            }
            Ok(())
        }
        Err(e) if e.downcast_ref::<devtail_proto::EncodeError>().is_some() => {
            tracing::warn!(error = %e, "dropping a frame that cannot be encoded");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn close_body(message: &str) -> Body {
    Body::Close(v1::Close {
        reason: v1::CloseReason::Normal as i32,
        message: message.to_owned(),
        reconnect_after_ms: 0,
    })
}
