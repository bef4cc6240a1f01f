//! Exponential backoff with full jitter, capped: the delays between a session's reconnect
//! attempts and between a terminal's re-attaches.

use std::time::Duration;

/// First delay's ceiling; doubles per failed attempt.
const BASE: Duration = Duration::from_millis(100);

/// Longest delay between attempts.
const CAP: Duration = Duration::from_secs(5);

/// Draws delays: uniform in [0, min(cap, base·2^n)) (a small xorshift, seeded per process, so
/// that many clients cut at once do not come back in step).
#[derive(Debug)]
pub(crate) struct Backoff {
    state: u64,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Self {
            state: u64::from(std::process::id()) | 1,
        }
    }

    /// A delay after `doublings` doublings of the base.
    pub(crate) fn delay(&mut self, doublings: u32) -> Duration {
        let ceiling = BASE.saturating_mul(1 << doublings.min(16)).min(CAP);
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let micros = ceiling.as_micros().max(1) as u64;
        Duration::from_micros(self.state % micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_under_a_doubling_ceiling_and_the_cap_and_spread() {
        let mut backoff = Backoff::new();
        for doublings in 0..40 {
            let ceiling = BASE.saturating_mul(1 << doublings.min(16)).min(CAP);
            let delays: Vec<Duration> = (0..200).map(|_| backoff.delay(doublings)).collect();
            assert!(
                delays.iter().all(|&d| d < ceiling),
                "{doublings}: {delays:?}"
            );
            // Full jitter: the draws cover the range, not one value.
            assert!(delays.iter().any(|&d| d < ceiling / 4));
            assert!(delays.iter().any(|&d| d > ceiling * 3 / 4));
        }
    }
}
