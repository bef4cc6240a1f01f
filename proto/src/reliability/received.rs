//! The receive side's memory of which sequence numbers it holds: the cumulative ack plus a
//! small sorted set of ranges received above it (QUIC delivers frames of different streams out
//! of sequence order). Bounded by a range count, not by how far ahead a peer numbers.

use super::ReliabilityError;

/// Sequence numbers received from the peer.
#[derive(Debug, Clone)]
pub(super) struct Received {
    /// Highest seq with every seq from 1 up to it held (0 = none).
    ack: u64,
    /// Inclusive ranges held above `ack + 1`: sorted, disjoint, never adjacent to each other
    /// nor to the ack (those are merged).
    above: Vec<(u64, u64)>,
    /// Most ranges `above` may hold.
    max_ranges: usize,
}

impl Received {
    pub(super) fn new(max_ranges: usize) -> Self {
        Self {
            ack: 0,
            above: Vec::new(),
            max_ranges,
        }
    }

    /// The cumulative ack.
    pub(super) fn ack(&self) -> u64 {
        self.ack
    }

    /// Number of gap-separated ranges held above the ack.
    pub(super) fn ranges(&self) -> usize {
        self.above.len()
    }

    /// Records `seq` (≥ 1). `Ok(true)` if it is new, `Ok(false)` if already held. Fails
    /// without changing anything when holding it would need more than `max_ranges` ranges.
    pub(super) fn insert(&mut self, seq: u64) -> Result<bool, ReliabilityError> {
        if seq <= self.ack {
            return Ok(false);
        }
        if seq == self.ack + 1 {
            self.ack = seq;
            self.absorb();
            return Ok(true);
        }
        // First range ending at or after `seq`.
        let idx = self.above.partition_point(|&(_, end)| end < seq);
        if self.above.get(idx).is_some_and(|&(start, _)| start <= seq) {
            return Ok(false);
        }
        let joins_prev = idx > 0 && self.above[idx - 1].1 + 1 == seq;
        let joins_next = self
            .above
            .get(idx)
            .is_some_and(|&(start, _)| seq.checked_add(1) == Some(start));
        match (joins_prev, joins_next) {
            (true, true) => {
                self.above[idx - 1].1 = self.above[idx].1;
                self.above.remove(idx);
            }
            (true, false) => self.above[idx - 1].1 = seq,
            (false, true) => self.above[idx].0 = seq,
            (false, false) => {
                if self.above.len() >= self.max_ranges {
                    return Err(ReliabilityError::TooManyGaps {
                        limit: self.max_ranges,
                    });
                }
                self.above.insert(idx, (seq, seq));
            }
        }
        Ok(true)
    }

    /// Accepts that the peer's next frame is `seq`: everything before it counts as received.
    pub(super) fn skip_to(&mut self, seq: u64) -> Result<(), ReliabilityError> {
        if seq == 0 || seq - 1 < self.ack {
            return Err(ReliabilityError::SkipBackwards {
                seq,
                last_received: self.ack,
            });
        }
        self.ack = seq - 1;
        let covered = self.above.partition_point(|&(_, end)| end <= self.ack);
        self.above.drain(..covered);
        if let Some(first) = self.above.first_mut()
            && first.0 <= self.ack
        {
            // A range straddling the new ack (so ack < its end ≤ u64::MAX): `absorb` takes it.
            first.0 = self.ack + 1;
        }
        self.absorb();
        Ok(())
    }

    /// Moves the ack over a range that now touches it.
    fn absorb(&mut self) {
        if let Some(&(start, end)) = self.above.first()
            && self.ack.checked_add(1) == Some(start)
        {
            self.ack = end;
            self.above.remove(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_advances_over_gap_free_prefixes_only() {
        let mut r = Received::new(8);
        assert_eq!(r.insert(1), Ok(true));
        assert_eq!(r.insert(3), Ok(true));
        assert_eq!(r.insert(5), Ok(true));
        assert_eq!((r.ack(), r.ranges()), (1, 2));
        assert_eq!(r.insert(4), Ok(true)); // 3..=5 merge
        assert_eq!((r.ack(), r.ranges()), (1, 1));
        assert_eq!(r.insert(4), Ok(false));
        assert_eq!(r.insert(1), Ok(false));
        assert_eq!(r.insert(2), Ok(true));
        assert_eq!((r.ack(), r.ranges()), (5, 0));
    }

    #[test]
    fn range_limit_refuses_without_changing_state() {
        let mut r = Received::new(2);
        r.insert(3).unwrap();
        r.insert(5).unwrap();
        assert_eq!(r.insert(7), Err(ReliabilityError::TooManyGaps { limit: 2 }));
        assert_eq!((r.ack(), r.ranges()), (0, 2));
        // Extending an existing range needs no new one.
        assert_eq!(r.insert(6), Ok(true));
        assert_eq!(
            r.insert(u64::MAX),
            Err(ReliabilityError::TooManyGaps { limit: 2 })
        );
    }

    #[test]
    fn skip_to_moves_the_ack_and_keeps_what_lies_above() {
        let mut r = Received::new(8);
        r.insert(1).unwrap();
        r.insert(4).unwrap();
        r.insert(8).unwrap();
        r.insert(9).unwrap();
        r.skip_to(6).unwrap();
        assert_eq!((r.ack(), r.ranges()), (5, 1));
        r.skip_to(8).unwrap(); // 8..=9 already held
        assert_eq!((r.ack(), r.ranges()), (9, 0));
        assert_eq!(
            r.skip_to(9),
            Err(ReliabilityError::SkipBackwards {
                seq: 9,
                last_received: 9
            })
        );
        r.skip_to(10).unwrap(); // "nothing lost" is a no-op
        assert_eq!(r.ack(), 9);
        assert!(r.skip_to(0).is_err());
    }

    #[test]
    fn extreme_sequence_numbers_do_not_overflow() {
        let mut r = Received::new(4);
        assert_eq!(r.insert(u64::MAX), Ok(true));
        assert_eq!(r.insert(u64::MAX - 1), Ok(true));
        assert_eq!(r.ranges(), 1);
        r.skip_to(u64::MAX - 1).unwrap();
        assert_eq!(r.ack(), u64::MAX);
        assert_eq!(r.insert(u64::MAX), Ok(false));
    }
}
