//! The session task: one per session, alive from the first Welcome until the client closes the
//! session, its linger runs out, or the gateway shuts down. It alone numbers, acknowledges and
//! retransmits frames (through [`Reliability`]) and dispatches client frames to the channels.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info};

use super::channels::{self, Channels, Output, PendingInput};
use super::handshake::Refusal;
use super::link::{Backlog, Inbound, Link};
use super::registry::SessionId;
use super::{Heartbeats, Outbound};
use crate::Gateway;
use crate::proto::PROTOCOL_VERSION;
use crate::proto::reliability::{
    self, Delivery, Event, REPLAY_FRAME_OVERHEAD, Reliability, Resume, Role,
};
use crate::proto::v1::{self, Envelope, envelope::Body};
use crate::terminal::MAX_CHUNK;

/// Replies waiting to be sent before the session stops reading client frames: a client that
/// sends requests and does not read the answers gets backpressure.
const MAX_REPLIES: usize = 64;

/// Replay budget an output frame needs before the session takes it: the largest terminal chunk
/// and its bookkeeping.
const OUTPUT_RESERVE: usize = MAX_CHUNK + REPLAY_FRAME_OVERHEAD + 64;

/// How long a session away with its replay budget spent keeps holding its terminals back
/// before it parks them (they run on; what it misses becomes a snapshot). A phone switching
/// networks is back within it and misses nothing, however fast its programs print; one gone
/// for longer does not stop a build.
const PARK_AFTER: Duration = Duration::from_secs(5);

/// Asks a running session to take a new connection.
#[derive(Debug)]
pub(super) enum Command {
    Resume {
        link: Link,
        device: String,
        token: Bytes,
        last_seq_received: u64,
        max_frame_len: u32,
        reply: oneshot::Sender<Result<(), Refusal>>,
    },
}

/// Why a session ended, for the log.
#[derive(Debug)]
enum SessionEnd {
    ClientClosed,
    Expired,
    Shutdown,
    ProtocolError(String),
}

impl std::fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionEnd::ClientClosed => f.write_str("client closed it"),
            SessionEnd::Expired => f.write_str("linger expired"),
            SessionEnd::Shutdown => f.write_str("gateway shutdown"),
            SessionEnd::ProtocolError(reason) => write!(f, "protocol error: {reason}"),
        }
    }
}

fn hash(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

struct Session {
    gateway: Arc<Gateway>,
    id: SessionId,
    device: String,
    /// Hash of the resume token of the latest Welcome.
    token: [u8; 32],
    /// Hash of the token before it, still accepted until the client shows it got the latest
    /// Welcome (by sending a frame on that connection): a connection that drops right after
    /// Welcome must not cost the session.
    previous_token: Option<[u8; 32]>,
    rel: Reliability,
    channels: Channels,
    link: Option<Link>,
    /// The writer was too far behind to take everything due: retransmissions or replies wait.
    transmit_blocked: bool,
    pending_input: Option<PendingInput>,
    linger_until: Option<Instant>,
    /// Disconnected with the replay budget spent: the channels' subscriptions are parked.
    parked: bool,
    /// While disconnected: when the terminals may be parked ([`PARK_AFTER`]).
    park_at: Option<Instant>,
    /// Replay bytes last reported to the registry's gateway-wide count.
    accounted: usize,
}

/// Starts a new session on its first connection (Welcome is queued at once).
pub(super) fn start(
    gateway: Arc<Gateway>,
    id: SessionId,
    device: String,
    link: Link,
    max_frame_len: u32,
    commands: mpsc::Receiver<Box<Command>>,
    shutdown: watch::Receiver<bool>,
) {
    let config = gateway.config();
    let mut rel_config = reliability::Config::new(Role::Gateway);
    rel_config.replay_budget = config.replay_budget;
    rel_config.idle_timeout = Some(config.idle_timeout);
    let (out_tx, out_rx) = mpsc::channel(channels::OUTPUT_QUEUE);
    let mut session = Session {
        channels: Channels::new(Arc::clone(&gateway), out_tx),
        gateway,
        id,
        device,
        token: [0; 32],
        previous_token: None,
        rel: Reliability::new(rel_config, Instant::now()),
        link: None,
        transmit_blocked: false,
        pending_input: None,
        linger_until: None,
        parked: false,
        park_at: None,
        accounted: 0,
    };
    let welcome = session.welcome(None, 0, max_frame_len, link.heartbeats);
    link.push(welcome);
    debug!(session = %id, peer = %link.peer, "session started");
    session.link = Some(link);
    tokio::spawn(session.run(commands, out_rx, shutdown));
}

impl Session {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Box<Command>>,
        mut output: mpsc::Receiver<Output>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // One timer for the session's life, moved only when its deadline changes: a new timer
        // per turn of the loop would go through the runtime's timer wheel at every keystroke.
        let mut timer = devtail_rt::Timer::new();
        let end = loop {
            let now = Instant::now();
            self.transmit(now);
            self.account();
            while let Some(event) = self.rel.poll_event() {
                if event == Event::PathDead
                    && let Some(link) = self.link.take()
                {
                    let secs = self.gateway.config().idle_timeout.as_secs();
                    link.close(
                        v1::CloseReason::IdleTimeout,
                        format!("nothing received for {secs} s"),
                    );
                    self.disconnected(now);
                }
            }
            // Parking waits for its moment (once past, any turn of the loop parks).
            let park_at = self.park_at.filter(|&at| !self.parked && at > now);
            timer.set(
                [self.rel.poll_timeout(), self.linger_until, park_at]
                    .into_iter()
                    .flatten()
                    .min(),
            );
            if self.link.is_none()
                && !self.parked
                && !self.has_output_room()
                && self.park_at.is_some_and(|at| now >= at)
            {
                // Away for a while, and the budget is spent: stop holding the terminals back;
                // what they print from here on and their logs drop is replaced by snapshots on
                // resume.
                self.channels.park(true);
                self.parked = true;
            }
            let reading = self.pending_input.is_none() && self.channels.replies() < MAX_REPLIES;
            let take_output = self.can_take_output();
            let backlog = self.link.as_ref().map(Link::backlog);
            tokio::select! {
                Some(command) = commands.recv() => self.command(*command),
                inbound = recv(&mut self.link), if reading => match inbound {
                    Some(inbound) => match self.inbound(inbound) {
                        Ok(None) => {}
                        Ok(Some((channel, body))) => {
                            // Boxed: the request's state is not part of the session's future,
                            // which every idle session keeps.
                            self.pending_input = Box::pin(self.channels.handle(channel, body)).await;
                        }
                        Err(end) => break end,
                    },
                    None => {
                        if let Some(link) = self.link.take() {
                            debug!(session = %self.id, peer = %link.peer, "connection lost; session lingers");
                        }
                        self.disconnected(Instant::now());
                    }
                },
                () = deliver(&self.pending_input) => self.pending_input = None,
                Some((generation, out)) = output.recv(), if take_output => {
                    if self.channels.is_current(out.channel, generation) {
                        self.send(Instant::now(), *out);
                    }
                },
                () = drained(backlog.as_deref()), if self.transmit_blocked => {}
                () = timer.wait() => {
                    let now = Instant::now();
                    self.rel.handle_timeout(now);
                    if self.linger_until.is_some_and(|at| now >= at) {
                        break SessionEnd::Expired;
                    }
                }
                _ = shutdown.changed() => break SessionEnd::Shutdown,
            }
        };

        if let Some(link) = self.link.take() {
            match &end {
                SessionEnd::Shutdown => {
                    link.close(v1::CloseReason::Shutdown, "gateway shutting down");
                }
                SessionEnd::ProtocolError(reason) => {
                    link.close(v1::CloseReason::Error, reason.clone());
                }
                // The client said goodbye: its connection just ends.
                SessionEnd::ClientClosed | SessionEnd::Expired => {}
            }
        }
        self.gateway.sessions.account(self.accounted, 0);
        self.gateway.sessions.remove(self.id);
        info!(session = %self.id, device = %self.device, end = %end, "session ended");
        // Dropping the channels detaches from every terminal (they run on).
    }

    /// Stamps a frame and hands it to the connection, if there is one (otherwise the replay
    /// buffer keeps it for the resume).
    fn send(&mut self, now: Instant, out: Outbound) {
        let envelope = self.rel.send(now, out.channel, out.body);
        if let Some(link) = &self.link {
            link.push(envelope);
        }
    }

    /// Hands the writer what is due, in order: retransmissions, pongs and acks
    /// ([`Reliability::poll_transmit`]), then replies, until the writer is backlogged.
    fn transmit(&mut self, now: Instant) {
        let Some(link) = &self.link else {
            self.transmit_blocked = false;
            return;
        };
        loop {
            if link.backlogged() {
                self.transmit_blocked = true;
                return;
            }
            if let Some(envelope) = self.rel.poll_transmit(now) {
                link.push(envelope);
            } else if let Some(out) = self.channels.next_reply() {
                link.push(self.rel.send(now, out.channel, out.body));
            } else {
                break;
            }
        }
        self.transmit_blocked = false;
    }

    /// Reports the replay buffer's size to the gateway-wide count.
    fn account(&mut self) {
        let now = self.rel.replay_bytes();
        if now != self.accounted {
            self.gateway.sessions.account(self.accounted, now);
            self.accounted = now;
        }
    }

    /// Room for one more output frame in the replay budget. A disconnected session also
    /// yields when all sessions together hold the gateway's replay memory: many absent
    /// sessions cost at most that, not their budgets added up.
    fn has_output_room(&self) -> bool {
        let own = self.rel.send_capacity() >= OUTPUT_RESERVE;
        let shared = self.link.is_some()
            || self.gateway.sessions.replay_bytes() < self.gateway.config().replay_memory;
        own && shared
    }

    /// Terminal output is taken while the writer keeps up and the replay budget has room —
    /// also while disconnected (it waits in the replay buffer for the resume), until the
    /// budget is spent.
    fn can_take_output(&self) -> bool {
        let flowing = match &self.link {
            Some(link) => !link.backlogged() && !self.transmit_blocked,
            None => !self.parked,
        };
        flowing && self.has_output_room()
    }

    /// One thing from the connection's reader. Keystrokes and acks are handled here, at once;
    /// the rarer requests that wait on something come back to be handled boxed.
    fn inbound(&mut self, inbound: Inbound) -> Result<Option<(u32, Body)>, SessionEnd> {
        let envelope = match inbound {
            Inbound::Frame(envelope) => *envelope,
            Inbound::Malformed(malformed) => {
                let (code, reason) = *malformed;
                return Err(self.fail(code, reason));
            }
            Inbound::RateLimited(exceeded) => {
                self.channels.push_reply(Outbound::error(
                    0,
                    v1::ErrorCode::RateLimited,
                    crate::limits::notice(&self.device, exceeded),
                    0,
                ));
                return Ok(None);
            }
        };
        // The client read this connection's Welcome: only its token is good from now on.
        self.previous_token = None;
        match self.rel.receive(Instant::now(), &envelope) {
            Err(e) => Err(self.fail(v1::ErrorCode::MalformedFrame, e.to_string())),
            Ok(Delivery::Duplicate) => Ok(None),
            Ok(Delivery::Deliver) => {
                match envelope.body {
                    None if envelope.seq != 0 => {
                        self.channels.push_reply(Outbound::error(
                            envelope.channel,
                            v1::ErrorCode::Unsupported,
                            "message kind not understood by this gateway",
                            0,
                        ));
                    }
                    None | Some(Body::Ping(_) | Body::Pong(_) | Body::AckOnly(_)) => {}
                    Some(Body::Close(_)) => return Err(SessionEnd::ClientClosed),
                    Some(Body::Hello(_)) => {
                        return Err(self.fail(
                            v1::ErrorCode::MalformedFrame,
                            "hello after the handshake".to_owned(),
                        ));
                    }
                    Some(Body::TermData(data)) => {
                        self.pending_input = self.channels.input(envelope.channel, data.data);
                    }
                    Some(body) => return Ok(Some((envelope.channel, body))),
                }
                Ok(None)
            }
        }
    }

    /// A protocol error: Error to the client (Close follows when the session ends).
    fn fail(&mut self, code: v1::ErrorCode, reason: String) -> SessionEnd {
        self.send(Instant::now(), Outbound::error(0, code, reason.clone(), 0));
        SessionEnd::ProtocolError(reason)
    }

    fn disconnected(&mut self, now: Instant) {
        self.link = None;
        // Replies still waiting are numbered now; the resume retransmits them.
        while let Some(out) = self.channels.next_reply() {
            self.send(now, out);
        }
        self.rel.connection_lost();
        // Input already acknowledged but not yet taken by its terminal stays pending: it is
        // delivered while the session waits, like the client expects.
        self.linger_until = Some(now + self.gateway.config().session_linger);
        self.park_at = Some(now + PARK_AFTER);
    }

    fn command(&mut self, command: Command) {
        let Command::Resume {
            link,
            device,
            token,
            last_seq_received,
            max_frame_len,
            reply,
        } = command;
        let _ = reply.send(self.resume(link, &device, &token, last_seq_received, max_frame_len));
    }

    /// Takes a new connection for this session (PROTOCOL.md §6).
    fn resume(
        &mut self,
        link: Link,
        device: &str,
        token: &[u8],
        last_seq_received: u64,
        max_frame_len: u32,
    ) -> Result<(), Refusal> {
        let presented = hash(token);
        let current: bool = presented.ct_eq(&self.token).into();
        let previous: bool = self
            .previous_token
            .is_some_and(|previous| presented.ct_eq(&previous).into());
        if device != self.device {
            return Err(Refusal::resume(
                "this session belongs to another device; start a new one",
            ));
        }
        if !(current || previous) {
            return Err(Refusal::resume(
                "wrong resume token (tokens change at every connect; use the latest Welcome's)",
            ));
        }
        let now = Instant::now();
        // Replies owed on the old connection are numbered before the resume decides what to
        // retransmit, so that they are part of it.
        while let Some(out) = self.channels.next_reply() {
            self.send(now, out);
        }
        let outcome = self
            .rel
            .resume(now, last_seq_received)
            .map_err(|e| Refusal::resume(format!("cannot resume: {e}")))?;
        if let Some(old) = self.link.take() {
            old.close(
                v1::CloseReason::Replaced,
                "the session was resumed on another connection",
            );
        }
        let resume_seq = match &outcome {
            Resume::Complete => last_seq_received + 1,
            Resume::Gap {
                first_available_seq,
                ..
            } => *first_available_seq,
        };
        let welcome = self.welcome(Some(presented), resume_seq, max_frame_len, link.heartbeats);
        link.push(welcome);
        info!(
            session = %self.id,
            peer = %link.peer,
            client_had = last_seq_received,
            retransmitting = self.rel.last_sent().saturating_sub(resume_seq - 1),
            "session resumed"
        );
        self.link = Some(link);
        self.linger_until = None;
        self.park_at = None;
        if std::mem::take(&mut self.parked) {
            self.channels.park(false);
        }
        if let Resume::Gap { lost_channels, .. } = outcome {
            self.channels.repair(&lost_channels);
        }
        Ok(())
    }

    /// A Welcome with a fresh resume token, announcing the heartbeats in force on this
    /// connection (none when the transport keeps it alive), which also apply to this side.
    /// `presented` is the hash of the token a resume proved the client holds: it stays good
    /// until the client is heard on this connection, so that Welcomes lost in a row (each
    /// connection cut before its Welcome arrived) never lock the client out.
    fn welcome(
        &mut self,
        presented: Option<[u8; 32]>,
        resume_seq: u64,
        max_frame_len: u32,
        heartbeats: Heartbeats,
    ) -> Envelope {
        let resumed = presented.is_some();
        let mut token = [0u8; 32];
        getrandom::fill(&mut token).expect("the OS random source is available");
        self.previous_token = presented;
        self.token = hash(&token);
        let config = self.gateway.config();
        let (heartbeat_interval, idle_timeout) = match heartbeats {
            Heartbeats::Session => (config.heartbeat_interval, config.idle_timeout),
            Heartbeats::Transport => (Duration::ZERO, Duration::ZERO),
        };
        // The gateway never pings; it only watches for silence.
        self.rel
            .set_timers(None, (!idle_timeout.is_zero()).then_some(idle_timeout));
        let welcome = v1::Welcome {
            version: PROTOCOL_VERSION,
            server_name: concat!("devtail-gateway/", env!("CARGO_PKG_VERSION")).to_owned(),
            session_id: Bytes::copy_from_slice(&self.id.0),
            resume_token: Bytes::copy_from_slice(&token),
            resumed,
            last_seq_received: if resumed { self.rel.last_received() } else { 0 },
            capabilities: vec![
                v1::Capability::Terminal as i32,
                v1::Capability::Sessions as i32,
            ],
            compression: Some(crate::proto::compression_support()),
            heartbeat_interval_ms: millis(heartbeat_interval),
            idle_timeout_ms: millis(idle_timeout),
            max_frame_len,
            identity: Some(v1::Identity {
                device_name: self.device.clone(),
                ..Default::default()
            }),
            resume_seq,
        };
        Envelope {
            body: Some(Body::Welcome(welcome)),
            ..Default::default()
        }
    }
}

fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

/// The next thing from the connection; pending forever without one.
async fn recv(link: &mut Option<Link>) -> Option<Inbound> {
    match link {
        Some(link) => link.inbound.recv().await,
        None => std::future::pending().await,
    }
}

/// Resolves once the writer made progress; pending forever without a connection.
async fn drained(backlog: Option<&Backlog>) {
    match backlog {
        Some(backlog) => backlog.drained().await,
        None => std::future::pending().await,
    }
}

/// Delivers input a terminal could not take at once; pending forever without any.
async fn deliver(pending: &Option<PendingInput>) {
    match pending {
        Some((terminal, data)) => {
            let _ = terminal.write(data.clone()).await;
        }
        None => std::future::pending().await,
    }
}
