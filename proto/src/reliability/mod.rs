//! Sans-IO reliability core (PROTOCOL.md §6): one [`Reliability`] per session side, used alike
//! by the gateway and the client.
//!
//! It owns, for one session and across all its connections:
//! - the **sequence numbers** of this side's reliable frames and the **replay buffer** holding
//!   them until the peer's cumulative ack covers them, under a byte budget (the gateway drops the
//!   oldest and remembers the loss; the client never drops, it stops taking input);
//! - the **cumulative ack** of the peer's frames, with the few received above it out of order
//!   (QUIC streams), so that duplicates are recognised;
//! - **acks, heartbeats and dead-path detection**: delayed `Ack`s, the client's `Ping`s, `Pong`
//!   answers, and [`Event::PathDead`] when nothing arrives for the idle timeout;
//! - **resume**: what to retransmit after a reconnect, and whether the budget left a gap.
//!
//! It does no IO and never reads the clock (quinn-proto style): inputs are [`Reliability::send`],
//! [`Reliability::receive`], [`Reliability::handle_timeout`], [`Reliability::connection_lost`],
//! [`Reliability::resume`] and [`Reliability::skip_to`], each given `now` where time matters;
//! outputs are pulled. After every input the caller
//! 1. transmits [`Reliability::poll_transmit`] until it returns `None`,
//! 2. handles [`Reliability::poll_event`] until it returns `None`,
//! 3. arms one timer for [`Reliability::poll_timeout`] and, when it fires, calls
//!    [`Reliability::handle_timeout`] (then goes back to 1).
//!
//! The handshake stays with the caller: the client puts [`Reliability::last_received`] in
//! `ResumeRequest.last_seq_received`; the gateway calls [`Reliability::resume`] with it, answers
//! `Welcome{last_seq_received: last_received(), resume_seq}` (see [`Resume`]); the client calls
//! `resume` with `Welcome.last_seq_received` and [`Reliability::skip_to`]`(resume_seq)`.
//!
//! # Idle traffic
//!
//! An idle connection carries exactly one `Ping` (client) and one `Pong` (gateway) per heartbeat
//! interval, nothing else: acks are only sent after reliable frames arrive, and the Ping/Pong
//! carry the ack anyway. With acks and nonces below 128 each is 7 bytes of envelope traffic
//! (flags byte 1 + `ack` field 2 + `ping`/`pong` field 4), so at the default 30 s interval an
//! idle session costs **28 B/min** (2 × 14 B); each extra varint byte in the pings' or the pongs'
//! ack or nonce adds 2 B/min (nonces pass 127 after ~1 h idle, 16 383 after ~6 days). On the wire, WebSocket
//! (2–6 B), TLS (≈ 22 B) and TCP/IP (40–52 B a segment, plus its own acks) headers come on top:
//! measured on loopback, 297 IP bytes/min at a 30 s interval and 155 at 60 s, which is why the
//! devtail gateway announces 60 s. On QUIC set [`Config::heartbeat_interval`] and [`Config::idle_timeout`] to
//! `None`: the transport's keep-alive replaces `Ping` (PROTOCOL.md §6), and since its packets
//! never reach this layer, its idle timeout must be the one that detects dead paths.
//!
//! A received `Ping` is answered through [`Reliability::poll_transmit`], not through
//! [`Delivery`]: `receive` only decides, and a burst of Pings gets a single `Pong` (latest
//! nonce), so no answer queue can grow.

mod config;
mod error;
mod received;
mod replay;

use std::time::{Duration, Instant};

pub use config::{
    Config, DEFAULT_ACK_BYTES, DEFAULT_ACK_DELAY, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_ACK_RANGES, DEFAULT_REPLAY_BUDGET, Role,
};
pub use error::ReliabilityError;
use received::Received;
use replay::ReplayBuffer;
pub use replay::{REPLAY_FRAME_OVERHEAD, replay_cost};

use prost::Message as _;

use crate::v1::envelope::Body;
use crate::v1::{self, Envelope};

/// What to do with a received envelope.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Process it: a reliable frame seen for the first time, or any unsequenced frame. `Ping`,
    /// `Pong` and `Ack` need nothing more from the caller (a `Ping`'s answer comes out of
    /// [`Reliability::poll_transmit`]).
    Deliver,
    /// A reliable frame already received: discard it without processing (its ack still goes out).
    Duplicate,
}

/// Outcome of [`Reliability::resume`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// Every frame after the peer's `last_received` is still held and queued for
    /// retransmission. The gateway sends `Welcome.resume_seq = peer_last_received + 1`.
    Complete,
    /// The budget dropped frames the peer never received: the retransmission starts at
    /// `first_available_seq`. The gateway sends it as `Welcome.resume_seq` and repairs each of
    /// `lost_channels` (terminal: `TermSnapshot`; agent run: resend from its log; request or
    /// transfer: `Error{RESOURCE_EXHAUSTED}`), PROTOCOL.md §6. A gap is never silent.
    Gap {
        /// The first seq the peer will receive (> its `last_received + 1`).
        first_available_seq: u64,
        /// Channels, ascending, that lost at least one frame in the gap.
        lost_channels: Vec<u32>,
    },
}

/// Something the caller must act on, from [`Reliability::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Nothing arrived for the idle timeout (this also catches a half-open path where frames
    /// vanish). Reported once; the endpoint now behaves as after
    /// [`Reliability::connection_lost`]: the client reconnects and resumes, the gateway closes
    /// the connection (`Close{IDLE_TIMEOUT}`) and lets the session linger.
    PathDead,
}

/// Frames queued by a resume: seqs `next..end` of the replay buffer.
#[derive(Debug, Clone, Copy)]
struct Retransmit {
    next: u64,
    end: u64,
}

/// The reliability state machine of one session side (see the module docs).
#[derive(Debug)]
pub struct Reliability {
    config: Config,

    // Sending.
    /// Seq the next reliable frame gets.
    next_seq: u64,
    replay: ReplayBuffer,
    /// Highest ack the peer sent (or stated at resume).
    peer_acked: u64,
    /// Retransmissions a resume queued and `poll_transmit` has not yet yielded.
    retransmit: Option<Retransmit>,

    // Receiving.
    received: Received,
    /// The ack carried by the last frame we emitted.
    ack_sent: u64,
    /// Since when an ack is owed (reliable frames arrived and no frame has carried the ack).
    ack_owed_since: Option<Instant>,
    /// Encoded bytes of reliable frames delivered since the last ack went out.
    unacked_bytes: usize,
    /// Nonce of the latest `Ping` to answer (a burst of Pings gets one Pong).
    pong: Option<u64>,

    // Liveness.
    connected: bool,
    last_recv: Instant,
    last_send: Instant,
    next_nonce: u64,
    /// The `Ping` awaiting its `Pong`: nonce and when it was sent.
    ping_in_flight: Option<(u64, Instant)>,
    rtt: Option<Duration>,
    event: Option<Event>,
}

impl Reliability {
    /// A fresh session side whose first connection is up at `now` (right after `Welcome`).
    pub fn new(config: Config, now: Instant) -> Self {
        let received = Received::new(config.max_ack_ranges);
        Self {
            config,
            next_seq: 1,
            replay: ReplayBuffer::default(),
            peer_acked: 0,
            retransmit: None,
            received,
            ack_sent: 0,
            ack_owed_since: None,
            unacked_bytes: 0,
            pong: None,
            connected: true,
            last_recv: now,
            last_send: now,
            next_nonce: 1,
            ping_in_flight: None,
            rtt: None,
            event: None,
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Applies the heartbeat interval and idle timeout negotiated in `Welcome` (they are in
    /// force per connection).
    pub fn set_timers(
        &mut self,
        heartbeat_interval: Option<Duration>,
        idle_timeout: Option<Duration>,
    ) {
        self.config.heartbeat_interval = heartbeat_interval;
        self.config.idle_timeout = idle_timeout;
    }

    /// Stamps an outgoing message: the next seq if its kind is reliable (0 otherwise) and the
    /// current ack. Reliable envelopes are kept for retransmission. Transmit the result; while
    /// disconnected it may be discarded, the resume retransmits it. After a resume, drain
    /// [`Reliability::poll_transmit`] first so that an ordered transport keeps seq order.
    pub fn send(&mut self, now: Instant, channel: u32, body: Body) -> Envelope {
        let seq = if body.is_sequenced() {
            let seq = self.next_seq;
            self.next_seq += 1;
            seq
        } else {
            0
        };
        let envelope = self.emit(now, seq, channel, body);
        if seq != 0 {
            self.replay.push(envelope.clone());
            self.enforce_budget();
        }
        envelope
    }

    /// Processes an incoming envelope: liveness, the peer's ack, and for reliable frames
    /// whether it is new. A protocol violation changes nothing and is returned as an error.
    pub fn receive(
        &mut self,
        now: Instant,
        envelope: &Envelope,
    ) -> Result<Delivery, ReliabilityError> {
        let kind = envelope.body.as_ref().map_or("unknown", Body::kind);
        let sequenced = match &envelope.body {
            Some(body) => body.is_sequenced(),
            // A kind this version does not know: its seq says whether it is reliable.
            None => envelope.seq != 0,
        };
        if sequenced && envelope.seq == 0 {
            return Err(ReliabilityError::MissingSeq { kind });
        }
        if !sequenced && envelope.seq != 0 {
            return Err(ReliabilityError::UnexpectedSeq {
                kind,
                seq: envelope.seq,
            });
        }
        if envelope.ack > self.last_sent() {
            return Err(ReliabilityError::AckBeyondSent {
                ack: envelope.ack,
                last_sent: self.last_sent(),
            });
        }
        let delivery = if !sequenced || self.received.insert(envelope.seq)? {
            Delivery::Deliver
        } else {
            Delivery::Duplicate
        };

        self.last_recv = now;
        self.on_peer_ack(envelope.ack);
        if sequenced && (delivery == Delivery::Duplicate || self.received.ack() > self.ack_sent) {
            self.ack_owed_since.get_or_insert(now);
        }
        if sequenced && delivery == Delivery::Deliver {
            self.unacked_bytes = self.unacked_bytes.saturating_add(envelope.encoded_len());
        }
        match &envelope.body {
            Some(Body::Ping(ping)) => self.pong = Some(ping.nonce),
            Some(Body::Pong(pong)) => {
                if let Some((nonce, sent)) = self.ping_in_flight
                    && nonce == pong.nonce
                {
                    self.rtt = Some(now.saturating_duration_since(sent));
                    self.ping_in_flight = None;
                }
            }
            _ => {}
        }
        Ok(delivery)
    }

    /// The next envelope to transmit, in this order: retransmissions queued by a resume (seq
    /// order, each once, re-stamped with the current ack), a `Pong`, a due `Ping` (client), a
    /// due `Ack`. `None` while disconnected.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Envelope> {
        self.check_idle(now);
        if !self.connected {
            return None;
        }
        if let Some(envelope) = self.next_retransmission(now) {
            return Some(envelope);
        }
        if let Some(nonce) = self.pong.take() {
            return Some(self.emit(now, 0, 0, Body::Pong(v1::Pong { nonce })));
        }
        if self.ping_deadline().is_some_and(|at| now >= at) {
            let nonce = self.next_nonce;
            self.next_nonce += 1;
            self.ping_in_flight = Some((nonce, now));
            return Some(self.emit(now, 0, 0, Body::Ping(v1::Ping { nonce })));
        }
        if self.ack_deadline().is_some_and(|at| now >= at) {
            return Some(self.emit(now, 0, 0, Body::AckOnly(v1::Ack {})));
        }
        None
    }

    /// When to call [`Reliability::handle_timeout`] next: the earliest of the ack deadline,
    /// the next heartbeat and the idle timeout. `None` while disconnected.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.connected {
            return None;
        }
        [
            self.ack_deadline(),
            self.ping_deadline(),
            self.idle_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Advances the timers to `now`: declares the path dead if the idle timeout passed. Due
    /// acks and pings come out of [`Reliability::poll_transmit`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.check_idle(now);
    }

    /// The next event to act on.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.event.take()
    }

    /// The cumulative ack: highest peer seq received with none missing before it. Goes in
    /// `ResumeRequest.last_seq_received` / `Welcome.last_seq_received`.
    pub fn last_received(&self) -> u64 {
        self.received.ack()
    }

    /// Highest seq this side has assigned (0 = none yet).
    pub fn last_sent(&self) -> u64 {
        self.next_seq - 1
    }

    /// Highest seq the peer has acknowledged.
    pub fn peer_acked(&self) -> u64 {
        self.peer_acked
    }

    /// Bytes of the replay budget in use, counted by [`replay_cost`].
    pub fn replay_bytes(&self) -> usize {
        self.replay.bytes()
    }

    /// Reliable frames held for retransmission.
    pub fn replay_frames(&self) -> usize {
        self.replay.len()
    }

    /// Gap-separated ranges of peer seqs held above the cumulative ack (out-of-order arrivals
    /// waiting for a lagging QUIC stream); at most [`Config::max_ack_ranges`].
    pub fn out_of_order_ranges(&self) -> usize {
        self.received.ranges()
    }

    /// Bytes of replay budget left. A client stops taking input (keystrokes, file chunks)
    /// while it is 0 and resumes when acks free room.
    pub fn send_capacity(&self) -> usize {
        self.config
            .replay_budget
            .saturating_sub(self.replay.bytes())
    }

    /// Round trip of the latest answered `Ping`.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// True between [`Reliability::new`] or [`Reliability::resume`] and
    /// [`Reliability::connection_lost`] or [`Event::PathDead`].
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The connection is gone; frames in flight either way may be lost. Heartbeats, acks and
    /// timers stop until [`Reliability::resume`]; `send` keeps numbering and buffering.
    pub fn connection_lost(&mut self) {
        self.connected = false;
        self.retransmit = None;
        self.pong = None;
        self.ping_in_flight = None;
    }

    /// A new connection of the session is up at `now` and the peer holds our frames up to
    /// `peer_last_received`: forget those, queue every later held frame for retransmission
    /// (through [`Reliability::poll_transmit`]), restart heartbeats, and say whether the budget
    /// left a gap. A claim beyond what was sent, or behind what the peer already acked, is
    /// refused without any change.
    pub fn resume(
        &mut self,
        now: Instant,
        peer_last_received: u64,
    ) -> Result<Resume, ReliabilityError> {
        if peer_last_received > self.last_sent() {
            return Err(ReliabilityError::ResumeBeyondSent {
                last_received: peer_last_received,
                last_sent: self.last_sent(),
            });
        }
        if peer_last_received < self.peer_acked {
            return Err(ReliabilityError::ResumeBehindAck {
                last_received: peer_last_received,
                acked: self.peer_acked,
            });
        }
        self.connection_lost();
        self.connected = true;
        // A PathDead of the old connection must not tear down this one.
        self.event = None;
        self.last_recv = now;
        self.last_send = now;
        // The handshake carried both cumulative acks.
        self.ack_owed_since = None;
        self.unacked_bytes = 0;
        self.ack_sent = self.received.ack();
        self.on_peer_ack(peer_last_received);

        let outcome = if self.replay.dropped_through() > peer_last_received {
            Resume::Gap {
                first_available_seq: self.replay.dropped_through() + 1,
                lost_channels: self.replay.lost_channels_after(peer_last_received),
            }
        } else {
            Resume::Complete
        };
        if let Some(first) = self.replay.first_seq() {
            self.retransmit = Some(Retransmit {
                next: first,
                end: self.next_seq,
            });
        }
        Ok(outcome)
    }

    /// The peer's `Welcome.resume_seq`: its next reliable frame is `seq`, everything before is
    /// gone or already here; the cumulative ack moves to `seq - 1`. `seq = last_received() + 1`
    /// changes nothing; a smaller one is a protocol violation.
    pub fn skip_to(&mut self, seq: u64) -> Result<(), ReliabilityError> {
        self.received.skip_to(seq)
    }

    /// Builds an outgoing envelope carrying the current ack, and notes that it left.
    fn emit(&mut self, now: Instant, seq: u64, channel: u32, body: Body) -> Envelope {
        self.note_sent(now);
        Envelope {
            seq,
            ack: self.received.ack(),
            channel,
            body: Some(body),
        }
    }

    /// Something carrying the current ack leaves now.
    fn note_sent(&mut self, now: Instant) {
        self.last_send = now;
        self.ack_owed_since = None;
        self.unacked_bytes = 0;
        self.ack_sent = self.received.ack();
    }

    fn next_retransmission(&mut self, now: Instant) -> Option<Envelope> {
        let queue = self.retransmit.as_mut()?;
        // Frames acknowledged since the resume are skipped.
        if let Some(first) = self.replay.first_seq() {
            queue.next = queue.next.max(first);
        }
        let seq = queue.next;
        let Some(held) = (seq < queue.end).then(|| self.replay.get(seq)).flatten() else {
            // Done: what waited for it may now leave the budget.
            self.retransmit = None;
            self.enforce_budget();
            return None;
        };
        queue.next = seq + 1;
        let mut envelope = held.clone();
        envelope.ack = self.received.ack();
        self.note_sent(now);
        Some(envelope)
    }

    fn on_peer_ack(&mut self, ack: u64) {
        // Frames on different QUIC streams may carry older acks: only the highest counts.
        if ack > self.peer_acked {
            self.peer_acked = ack;
            self.replay.prune_through(ack);
        }
    }

    /// Gateway: drops the oldest frames past the budget, except those still queued for
    /// retransmission (not on the wire yet: dropping them would open a gap after `Welcome`
    /// promised none). The client never drops (PROTOCOL.md §6).
    fn enforce_budget(&mut self) {
        if self.config.role == Role::Client {
            return;
        }
        let keep_from = self.retransmit.map_or(u64::MAX, |queue| queue.next);
        self.replay
            .enforce_budget(self.config.replay_budget, keep_from);
    }

    fn check_idle(&mut self, now: Instant) {
        if self.idle_deadline().is_some_and(|at| now >= at) {
            self.connection_lost();
            self.event = Some(Event::PathDead);
        }
    }

    fn ack_deadline(&self) -> Option<Instant> {
        let since = self.ack_owed_since?;
        if self.unacked_bytes >= self.config.ack_bytes {
            return Some(since);
        }
        Some(since + self.config.ack_delay)
    }

    fn ping_deadline(&self) -> Option<Instant> {
        match (self.config.role, self.config.heartbeat_interval) {
            (Role::Client, Some(interval)) if self.connected => Some(self.last_send + interval),
            _ => None,
        }
    }

    fn idle_deadline(&self) -> Option<Instant> {
        let timeout = self.config.idle_timeout.filter(|_| self.connected)?;
        Some(self.last_recv + timeout)
    }
}
