//! The send side's replay buffer: every reliable envelope sent and not yet covered by the
//! peer's ack, oldest first, under a byte budget. What the budget forces out is remembered
//! (the highest seq dropped, and per channel the last one) so that a resume reports the gap.

use std::collections::{BTreeMap, VecDeque};

use prost::Message;

use crate::v1::Envelope;

/// Bytes charged to the replay budget for each held frame on top of its encoding: the
/// in-memory `Envelope` (payloads are shared `Bytes`, but the message struct itself is stored
/// inline). Charging it keeps the budget an honest memory bound even for a drip of one-byte
/// terminal frames, where the struct outweighs the encoding many times over. About 300 B on
/// 64-bit targets (it follows the largest message kind of the schema).
pub const REPLAY_FRAME_OVERHEAD: usize = size_of::<Held>();

/// One held frame and what it was charged.
#[derive(Debug, Clone)]
struct Held {
    envelope: Envelope,
    cost: usize,
}

/// Unacknowledged reliable frames, consecutive in seq (frames only ever leave from the front:
/// acked, or dropped by the budget).
#[derive(Debug, Clone, Default)]
pub(super) struct ReplayBuffer {
    frames: VecDeque<Held>,
    /// Sum of the held frames' costs.
    bytes: usize,
    /// Highest seq the budget dropped before the peer acknowledged it (0 = none ever).
    dropped_through: u64,
    /// Per channel, the highest seq the budget dropped that the peer has not acknowledged.
    /// Entries leave when the peer's ack covers them, so it holds at most the channels that
    /// had frames dropped since the peer's last ack.
    lost: BTreeMap<u32, u64>,
}

/// What a reliable envelope costs against the replay budget, in bytes: its plain protobuf
/// encoding plus [`REPLAY_FRAME_OVERHEAD`].
pub fn replay_cost(envelope: &Envelope) -> usize {
    envelope.encoded_len() + REPLAY_FRAME_OVERHEAD
}

impl ReplayBuffer {
    /// Appends the next reliable frame (its seq follows the newest held, if any).
    pub(super) fn push(&mut self, envelope: Envelope) {
        debug_assert!(
            self.frames
                .back()
                .is_none_or(|h| h.envelope.seq + 1 == envelope.seq)
        );
        let cost = replay_cost(&envelope);
        self.bytes += cost;
        self.frames.push_back(Held { envelope, cost });
    }

    /// Seq of the oldest held frame.
    pub(super) fn first_seq(&self) -> Option<u64> {
        self.frames.front().map(|h| h.envelope.seq)
    }

    /// The held frame numbered `seq`.
    pub(super) fn get(&self, seq: u64) -> Option<&Envelope> {
        let first = self.first_seq()?;
        let idx = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.frames.get(idx).map(|h| &h.envelope)
    }

    /// Bytes charged for the frames held.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of frames held.
    pub(super) fn len(&self) -> usize {
        self.frames.len()
    }

    /// Highest seq the budget dropped unacknowledged (0 = none).
    pub(super) fn dropped_through(&self) -> u64 {
        self.dropped_through
    }

    /// Forgets every frame the peer acknowledged (seq ≤ `ack`).
    pub(super) fn prune_through(&mut self, ack: u64) {
        while let Some(front) = self.frames.front()
            && front.envelope.seq <= ack
        {
            self.bytes -= front.cost;
            self.frames.pop_front();
        }
        if !self.lost.is_empty() {
            self.lost.retain(|_, &mut seq| seq > ack);
        }
    }

    /// Drops the oldest frames while more than `budget` bytes are held, but never a frame
    /// numbered `keep_from` or later (frames queued for retransmission, not yet on the wire).
    /// Returns how many were dropped.
    pub(super) fn enforce_budget(&mut self, budget: usize, keep_from: u64) -> usize {
        let mut dropped = 0;
        while self.bytes > budget && self.first_seq().is_some_and(|seq| seq < keep_from) {
            let Some(held) = self.frames.pop_front() else {
                break;
            };
            self.bytes -= held.cost;
            self.dropped_through = held.envelope.seq;
            self.lost.insert(held.envelope.channel, held.envelope.seq);
            dropped += 1;
        }
        dropped
    }

    /// Channels with a dropped frame numbered above `seq`: what a peer that received up to
    /// `seq` will never get.
    pub(super) fn lost_channels_after(&self, seq: u64) -> Vec<u32> {
        self.lost
            .iter()
            .filter(|&(_, &last)| last > seq)
            .map(|(&channel, _)| channel)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{self, envelope::Body};

    fn frame(seq: u64, channel: u32, len: usize) -> Envelope {
        Envelope {
            seq,
            ack: 0,
            channel,
            body: Some(Body::TermData(v1::TermData {
                data: vec![b'x'; len].into(),
            })),
        }
    }

    #[test]
    fn budget_drops_oldest_and_remembers_channels() {
        let mut buf = ReplayBuffer::default();
        for seq in 1..=10 {
            buf.push(frame(seq, if seq <= 3 { 1 } else { 3 }, 100));
        }
        let one = replay_cost(&frame(1, 1, 100));
        assert_eq!(buf.bytes(), 10 * one);
        assert_eq!(buf.enforce_budget(6 * one, u64::MAX), 4);
        assert_eq!(
            (buf.first_seq(), buf.len(), buf.dropped_through()),
            (Some(5), 6, 4)
        );
        assert_eq!(buf.lost_channels_after(0), vec![1, 3]);
        assert_eq!(buf.lost_channels_after(3), vec![3]);
        assert_eq!(buf.get(7).map(|e| e.seq), Some(7));
        assert!(buf.get(4).is_none() && buf.get(11).is_none());
        buf.prune_through(4);
        assert!(buf.lost_channels_after(0).is_empty());
        assert_eq!(buf.first_seq(), Some(5));
    }

    #[test]
    fn frames_awaiting_retransmission_are_kept() {
        let mut buf = ReplayBuffer::default();
        for seq in 1..=4 {
            buf.push(frame(seq, 1, 100));
        }
        assert_eq!(buf.enforce_budget(0, 3), 2);
        assert_eq!(buf.first_seq(), Some(3));
        buf.prune_through(10);
        assert_eq!((buf.len(), buf.bytes()), (0, 0));
    }
}
