//! Tokio glue that the gateway and the client share. Both run a session loop that wakes on
//! every frame; these keep each wake-up from costing more than it must.

use std::pin::Pin;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use futures_util::Sink;
use tokio::time::Sleep;

/// A timer for a loop that re-arms it on every turn: it is moved only when its deadline
/// changes. A new `sleep` per turn would go through the runtime's timer wheel at every frame
/// (and wake its I/O driver to re-arm), which shows as context switches per keystroke.
#[derive(Debug)]
pub struct Timer {
    sleep: Pin<Box<Sleep>>,
    deadline: Option<Instant>,
}

impl Default for Timer {
    fn default() -> Self {
        Self::new()
    }
}

impl Timer {
    /// A timer with no deadline.
    pub fn new() -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            deadline: None,
        }
    }

    /// Fires at `deadline`; never without one.
    pub fn set(&mut self, deadline: Option<Instant>) {
        if deadline != self.deadline {
            if let Some(at) = deadline {
                self.sleep.as_mut().reset(at.into());
            }
            self.deadline = deadline;
        }
    }

    /// Resolves at the deadline (pending forever without one). Once it has fired, it fires
    /// again at once until the deadline moves: the caller acts on every wake-up.
    pub async fn wait(&mut self) {
        match self.deadline {
            Some(_) => self.sleep.as_mut().await,
            None => std::future::pending().await,
        }
    }
}

/// Leaves a no-op waker where a WebSocket writer's own was, after a flush. tokio-tungstenite
/// wakes whoever flushed last whenever the socket turns readable, so an idle writer would be
/// woken (and a second worker thread with it) by every frame the reader takes in. Call it once
/// a flush is done and the writer goes back to waiting on its own queue; a later write that
/// has to wait registers itself again.
pub fn forget_waker<T, K: Sink<T> + Unpin>(sink: &mut K) {
    let mut idle = Context::from_waker(Waker::noop());
    // With nothing buffered this completes at once; its result is the flush just made.
    let _ = Pin::new(sink).poll_flush(&mut idle);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn fires_at_its_deadline_and_only_with_one() {
        let mut timer = Timer::new();
        let idle = tokio::time::timeout(Duration::from_secs(3600), timer.wait()).await;
        assert!(idle.is_err(), "no deadline: never fires");

        // The paused clock: tokio's `Instant` moves with it, its std value is what sessions use.
        let start = tokio::time::Instant::now();
        let at = |after| Some(start.into_std() + after);
        timer.set(at(Duration::from_millis(250)));
        timer.wait().await;
        assert_eq!(
            tokio::time::Instant::now() - start,
            Duration::from_millis(250)
        );

        // Setting the same deadline again does not re-arm it: it has fired, and fires again
        // at once until the deadline moves.
        timer.set(at(Duration::from_millis(250)));
        timer.wait().await;
        assert_eq!(
            tokio::time::Instant::now() - start,
            Duration::from_millis(250)
        );

        timer.set(at(Duration::from_secs(2)));
        timer.wait().await;
        assert_eq!(tokio::time::Instant::now() - start, Duration::from_secs(2));
    }
}
