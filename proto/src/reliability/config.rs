//! Settings of the reliability core and their defaults, each with its unit and reason.

use std::time::Duration;

/// Default replay budget per session side: 8 MiB, charged as
/// [`replay_cost`](super::replay_cost) (the encoding plus a fixed per-frame cost). A busy build
/// log is ≈ 100 KiB/s of terminal output in reads of a few KiB, so the gateway can replay ≈ 75 s
/// of it: a phone switching networks (1–10 s) or a train tunnel (≈ 1 min) resumes without loss;
/// a longer outage costs a `TermSnapshot`, not a session. It also holds two maximal (4 MiB)
/// answers. On the client it bounds uploads in flight (8 MiB per round trip).
pub const DEFAULT_REPLAY_BUDGET: usize = 8 << 20;

/// Default heartbeat interval: 30 s (the value `Welcome` announces in the golden vectors). Below
/// the idle cut-off of the stingiest middleboxes on the path (60 s HTTP proxies, 350 s cloud
/// load balancers, carrier NATs), while waking a phone's radio only twice a minute.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);

/// Default idle timeout: 90 s, three heartbeat intervals. A path is declared dead only after
/// two whole heartbeat round trips went unanswered, so a slow cellular uplink or a TCP
/// retransmission back-off never tears down a healthy connection; a half-open path is still
/// found within 90 s of its last sign of life.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Default ack delay: 200 ms (PROTOCOL.md §6). Long enough that a burst of output is acked
/// once, short enough that the sender's replay buffer drains several times a second.
pub const DEFAULT_ACK_DELAY: Duration = Duration::from_millis(200);

/// Default for [`Config::ack_bytes`]: 512 KiB. Under a flood the receiver acks at least every
/// 512 KiB instead of waiting out the ack delay, so the sender's unacknowledged bytes stay near
/// 512 KiB plus one round trip of data, far below the 8 MiB budget: a sender that stops taking
/// data at its budget (the gateway does, for flow control) is never held up by the ack delay.
/// One `Ack` (≈ 60 B with headers) per 512 KiB is 0.01 % of the traffic.
pub const DEFAULT_ACK_BYTES: usize = 512 << 10;

/// Default for [`Config::max_ack_ranges`]: 4096 ranges of 16 B, at most 64 KiB per session
/// (under 1 % of the replay budget). A range is opened by each frame that overtakes a lagging
/// QUIC stream; thousands at once means a stream stalled for long behind flow control, and
/// closing the connection to resume (which refills the gaps in order) is then the cheaper cure.
pub const DEFAULT_MAX_ACK_RANGES: usize = 4096;

/// Which end of the session this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The client: sends `Ping`s, and never drops from its replay buffer: when the budget is
    /// reached, [`send_capacity`](super::Reliability::send_capacity) is 0 and the caller stops
    /// taking input.
    Client,
    /// The gateway: answers `Ping`s, and drops the oldest frames past the budget (the loss is
    /// reported at resume as [`Resume::Gap`](super::Resume::Gap)).
    Gateway,
}

/// Settings of a [`Reliability`](super::Reliability).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Which end this is.
    pub role: Role,
    /// Bytes of unacknowledged reliable frames held for retransmission, counted by
    /// [`replay_cost`](super::replay_cost).
    pub replay_budget: usize,
    /// Client: send a `Ping` after sending nothing for this long. `None` disables heartbeats
    /// (QUIC, whose keep-alive replaces them). Ignored by the gateway, which only answers.
    pub heartbeat_interval: Option<Duration>,
    /// Declare the path dead after receiving nothing at all for this long. `None` leaves
    /// dead-path detection to the transport (QUIC's idle timeout).
    pub idle_timeout: Option<Duration>,
    /// Longest a received reliable frame waits for its ack to travel on some frame before an
    /// `Ack` is sent for it.
    pub ack_delay: Duration,
    /// Encoded bytes of reliable frames received without acknowledging them after which an
    /// `Ack` is due at once rather than after [`Config::ack_delay`].
    pub ack_bytes: usize,
    /// Most gap-separated ranges of sequence numbers remembered above the cumulative ack;
    /// more is [`ReliabilityError::TooManyGaps`](super::ReliabilityError::TooManyGaps).
    pub max_ack_ranges: usize,
}

impl Config {
    /// The defaults for `role`: [`DEFAULT_REPLAY_BUDGET`], [`DEFAULT_HEARTBEAT_INTERVAL`],
    /// [`DEFAULT_IDLE_TIMEOUT`], [`DEFAULT_ACK_DELAY`], [`DEFAULT_ACK_BYTES`], [`DEFAULT_MAX_ACK_RANGES`].
    pub fn new(role: Role) -> Self {
        Self {
            role,
            replay_budget: DEFAULT_REPLAY_BUDGET,
            heartbeat_interval: Some(DEFAULT_HEARTBEAT_INTERVAL),
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            ack_delay: DEFAULT_ACK_DELAY,
            ack_bytes: DEFAULT_ACK_BYTES,
            max_ack_ranges: DEFAULT_MAX_ACK_RANGES,
        }
    }
}
