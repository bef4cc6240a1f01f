//! Protocol violations the reliability core detects. Each names what the peer did wrong;
//! [`ReliabilityError::code`] maps it to the wire error code sent before closing.

use crate::v1::ErrorCode;

/// A peer broke the sequencing rules of PROTOCOL.md §6. The state machine is left unchanged
/// by the call that returned it; the caller sends `Error{code()}` and closes the connection
/// (the session itself may resume on a new one, unless the error came from a resume).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReliabilityError {
    /// A frame's `ack` covers sequence numbers this side never assigned.
    #[error("peer acknowledged seq {ack}, but the highest seq sent is {last_sent}")]
    AckBeyondSent {
        /// The `ack` the peer sent.
        ack: u64,
        /// The highest sequence number this side has assigned (0 = none).
        last_sent: u64,
    },
    /// A resume claims receipt of sequence numbers this side never assigned.
    #[error(
        "peer resumes having received seq {last_received}, but the highest seq sent is {last_sent}"
    )]
    ResumeBeyondSent {
        /// `last_seq_received` from the peer's `ResumeRequest` or `Welcome`.
        last_received: u64,
        /// The highest sequence number this side has assigned.
        last_sent: u64,
    },
    /// A resume reports less than the peer already acknowledged: cumulative acks never go
    /// backwards, so the peer lost state it promised to keep (or is not the same session).
    #[error("peer resumes from seq {last_received} after acknowledging seq {acked}")]
    ResumeBehindAck {
        /// `last_seq_received` from the peer's handshake.
        last_received: u64,
        /// The highest `ack` the peer sent before.
        acked: u64,
    },
    /// A reliable kind arrived with `seq = 0`.
    #[error("reliable {kind} frame without a sequence number")]
    MissingSeq {
        /// The body kind, as in `devtail.proto`.
        kind: &'static str,
    },
    /// An unsequenced kind (handshake, heartbeat, ack, close, path) arrived with a `seq`.
    #[error("unsequenced {kind} frame carries seq {seq}")]
    UnexpectedSeq {
        /// The body kind, as in `devtail.proto`.
        kind: &'static str,
        /// The sequence number it carried.
        seq: u64,
    },
    /// Frames arrived so far out of order that remembering them would need more than
    /// `limit` separate ranges above the cumulative ack.
    #[error("received sequence numbers have more than {limit} gaps above the cumulative ack")]
    TooManyGaps {
        /// [`Config::max_ack_ranges`](super::Config::max_ack_ranges) in force.
        limit: usize,
    },
    /// `Welcome.resume_seq` lies at or below frames this side already holds.
    #[error("peer skips to seq {seq}, but seqs up to {last_received} were already received")]
    SkipBackwards {
        /// The first sequence number the peer says follows.
        seq: u64,
        /// This side's cumulative ack.
        last_received: u64,
    },
}

impl ReliabilityError {
    /// The wire error code to report to the peer before closing.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::ResumeBeyondSent { .. } | Self::ResumeBehindAck { .. } => {
                ErrorCode::ResumeRejected
            }
            Self::TooManyGaps { .. } => ErrorCode::ResourceExhausted,
            Self::AckBeyondSent { .. }
            | Self::MissingSeq { .. }
            | Self::UnexpectedSeq { .. }
            | Self::SkipBackwards { .. } => ErrorCode::MalformedFrame,
        }
    }
}
