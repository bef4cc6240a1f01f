//! A connection's reader, and the reliability core it shares with the session's driver.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::StreamExt as _;
use tokio::sync::Notify;

use super::Ended;
use crate::connection::{Shared, TapDirection, route};
use crate::transport::{Incoming, ReadFailure, Received};
use devtail_proto::reliability::{Delivery, Reliability};
use devtail_proto::v1::{self, envelope::Body};

pub(super) fn lock(rel: &Mutex<Core>) -> std::sync::MutexGuard<'_, Core> {
    rel.lock().unwrap_or_else(|p| p.into_inner())
}

/// The reliability core, shared by the driver and the reader, with what the driver waits on:
/// the reader wakes it only when a frame changed that (not at every frame: an echo does not
/// need the driver, whose delayed ack is already on its timer or goes with the next input).
pub(super) struct Core {
    rel: Reliability,
    /// The deadline the driver's timer is set to.
    armed: Option<Instant>,
    /// The driver is not taking users' frames: the replay budget is full.
    blocked: bool,
}

impl Core {
    pub(super) fn new(rel: Reliability) -> Self {
        Self {
            rel,
            armed: None,
            blocked: false,
        }
    }

    /// Records what the driver is about to wait on.
    pub(super) fn arm(&mut self, deadline: Option<Instant>, blocked: bool) {
        self.armed = deadline;
        self.blocked = blocked;
    }

    /// True when what the core has due now differs from what the driver waits on: something
    /// is due sooner than its timer (an ack past `ack_bytes`, a pong), or the budget it waits
    /// for has room again.
    fn driver_needed(&self) -> bool {
        let sooner = match (self.rel.poll_timeout(), self.armed) {
            (Some(due), Some(armed)) => due < armed,
            (Some(_), None) => true,
            (None, _) => false,
        };
        sooner || (self.blocked && self.rel.send_capacity() > 0)
    }
}

impl std::ops::Deref for Core {
    type Target = Reliability;
    fn deref(&self) -> &Reliability {
        &self.rel
    }
}

impl std::ops::DerefMut for Core {
    fn deref_mut(&mut self) -> &mut Reliability {
        &mut self.rel
    }
}

/// What a connection's reader delivers, in order.
pub(super) struct Frames {
    /// A frame the previous reader counted as received but could not deliver.
    pub(super) held: Option<(u32, Body)>,
    /// Frames that arrived before the Welcome.
    pub(super) early: Vec<Received>,
    pub(super) incoming: Incoming,
}

/// Reads one connection: decodes, de-duplicates, routes. Ends when the connection does, or
/// when told to stop: then it gives back the frame it was delivering, if its channel's events
/// were not being read (the next reader delivers it first).
pub(super) async fn read_loop(
    frames: Frames,
    rel: Arc<Mutex<Core>>,
    shared: Arc<Shared>,
    wake: Arc<Notify>,
    stop: Arc<Notify>,
    tap: Option<crate::FrameTap>,
) -> (Ended, Option<(u32, Body)>) {
    let Frames {
        held,
        early,
        mut incoming,
    } = frames;
    let replaced = || Ended::Lost("connection replaced".to_owned());
    if let Some((channel, body)) = held
        && let Some(body) = route(&shared, channel, body, &stop).await
    {
        return (replaced(), Some((channel, body)));
    }
    let mut early = early.into_iter();
    loop {
        let next = match early.next() {
            Some(received) => Some(Ok(received)),
            None => tokio::select! {
                next = incoming.next() => next,
                () = stop.notified() => return (replaced(), None),
            },
        };
        let received = match next {
            Some(Ok(received)) => received,
            Some(Err(ReadFailure::Decode(e))) => {
                return (
                    Ended::Final(format!("bad frame from the gateway: {e}")),
                    None,
                );
            }
            Some(Err(ReadFailure::Transport(e))) => return (Ended::Lost(e), None),
            None => {
                return (
                    Ended::Lost("the gateway closed the connection".to_owned()),
                    None,
                );
            }
        };
        let envelope = received.envelope;
        if let Some(tap) = &tap {
            tap(
                TapDirection::Received,
                received.wire,
                received.flags,
                &envelope,
            );
        }
        let (delivery, needed) = {
            let mut core = lock(&rel);
            let delivery = core.receive(Instant::now(), &envelope);
            // A Ping's Pong is due at once, and no deadline says so.
            let ping = matches!(envelope.body, Some(Body::Ping(_)));
            (delivery, ping || core.driver_needed())
        };
        if needed {
            wake.notify_one();
        }
        match delivery {
            Ok(Delivery::Deliver) => {}
            Ok(Delivery::Duplicate) => continue,
            Err(e) => {
                let violation = format!("protocol violation by the gateway: {e}");
                return (Ended::Final(violation), None);
            }
        }
        let Some(body) = envelope.body else { continue };
        match body {
            Body::Close(close) => {
                let reason = v1::CloseReason::try_from(close.reason).unwrap_or_default();
                let message = if close.message.is_empty() {
                    reason.as_str_name().to_owned()
                } else {
                    close.message
                };
                let ended = match reason {
                    // The gateway went away or gave up on this connection: the session
                    // lingers; try again.
                    v1::CloseReason::Shutdown | v1::CloseReason::IdleTimeout => {
                        Ended::Lost(message)
                    }
                    _ => Ended::Final(message),
                };
                return (ended, None);
            }
            Body::Ping(_) | Body::Pong(_) | Body::AckOnly(_) => {}
            body => {
                if let Some(body) = route(&shared, envelope.channel, body, &stop).await {
                    return (replaced(), Some((envelope.channel, body)));
                }
            }
        }
    }
}
