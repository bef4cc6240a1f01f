//! Per-device quotas on what clients send: frames per second and terminal input bytes per
//! second (GCRA, `governor`), shared by every connection of a device.
//!
//! Nothing over a quota is dropped — frames are sequenced and every one matters — the gateway
//! reads that device's frames more slowly instead: its connections wait, TCP (or QUIC flow
//! control) pushes back on the client, and the gateway's CPU stays with everyone else. The
//! client is told once in a while with `Error{RATE_LIMITED}`. Heartbeats and acks are not
//! counted: holding them back would make a healthy connection look dead.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};

/// Frames a device may send per second, by default. Typing, resizes, acks (one per 512 KiB
/// of output) and requests stay far below; a runaway client does not.
pub const DEFAULT_FRAMES_PER_SEC: u32 = 1000;

/// Terminal input bytes a device may send per second, by default (a large paste goes through
/// in a second or two).
pub const DEFAULT_INPUT_BYTES_PER_SEC: u32 = 4 << 20;

/// Quotas per device; `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Frames per second (bursts of up to one second's worth).
    pub frames_per_sec: Option<NonZeroU32>,
    /// Terminal input bytes per second (bursts of up to one second's worth).
    pub input_bytes_per_sec: Option<NonZeroU32>,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            frames_per_sec: NonZeroU32::new(DEFAULT_FRAMES_PER_SEC),
            input_bytes_per_sec: NonZeroU32::new(DEFAULT_INPUT_BYTES_PER_SEC),
        }
    }
}

/// Every device's limiters.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    quotas: Quotas,
    devices: Mutex<HashMap<String, Arc<DeviceLimits>>>,
}

impl Limits {
    pub(crate) fn new(quotas: Quotas) -> Self {
        Self {
            quotas,
            devices: Mutex::default(),
        }
    }

    /// The limiters of `device` (made on first use; devices are few).
    pub(crate) fn device(&self, device: &str) -> Arc<DeviceLimits> {
        let mut devices = self.devices.lock().unwrap_or_else(|p| p.into_inner());
        let limits = devices.entry(device.to_owned()).or_insert_with(|| {
            Arc::new(DeviceLimits {
                frames: self.quotas.frames_per_sec.map(limiter),
                input: self.quotas.input_bytes_per_sec.map(limiter),
            })
        });
        Arc::clone(limits)
    }
}

/// A limiter allowing `per_sec` a second in bursts of up to one second's worth, and that rate.
fn limiter(per_sec: NonZeroU32) -> (DefaultDirectRateLimiter, NonZeroU32) {
    (
        DefaultDirectRateLimiter::direct(Quota::per_second(per_sec)),
        per_sec,
    )
}

/// One device's limiters.
#[derive(Debug)]
pub(crate) struct DeviceLimits {
    /// The frames limiter and its rate.
    frames: Option<(DefaultDirectRateLimiter, NonZeroU32)>,
    /// The input limiter and its rate, which is also its burst (a larger input costs a whole
    /// burst).
    input: Option<(DefaultDirectRateLimiter, NonZeroU32)>,
}

/// Which quota held a frame back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exceeded {
    Frames(NonZeroU32),
    InputBytes(NonZeroU32),
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exceeded::Frames(rate) => {
                write!(f, "{rate} frames/s (the gateway's --max-frames-per-sec)")
            }
            Exceeded::InputBytes(rate) => write!(
                f,
                "{rate} terminal input bytes/s (the gateway's --max-input-bytes-per-sec)"
            ),
        }
    }
}

/// A frame over a quota: which one, and what is still to take before it may go on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Held {
    pub(crate) exceeded: Exceeded,
    frame_taken: bool,
    input_bytes: usize,
}

impl DeviceLimits {
    /// Takes one frame carrying `input_bytes` of terminal input from the quotas, if they allow
    /// it now; otherwise says what is left to take ([`DeviceLimits::admit_later`]).
    pub(crate) fn admit(&self, input_bytes: usize) -> Result<(), Held> {
        if let Some((frames, rate)) = &self.frames
            && frames.check().is_err()
        {
            return Err(Held {
                exceeded: Exceeded::Frames(*rate),
                frame_taken: false,
                input_bytes,
            });
        }
        if let Some((input, rate)) = &self.input
            && let Some(bytes) = NonZeroU32::new(cost(input_bytes))
            && !matches!(input.check_n(bytes.min(*rate)), Ok(Ok(())))
        {
            return Err(Held {
                exceeded: Exceeded::InputBytes(*rate),
                frame_taken: true,
                input_bytes,
            });
        }
        Ok(())
    }

    /// Waits until the quotas allow a frame [`DeviceLimits::admit`] held, and takes it.
    pub(crate) async fn admit_later(&self, held: Held) {
        if !held.frame_taken
            && let Some((frames, _)) = &self.frames
        {
            while let Err(not_until) = frames.check() {
                tokio::time::sleep(not_until.wait_time_from(DefaultClock::default().now())).await;
            }
        }
        if let Some((input, rate)) = &self.input
            && let Some(bytes) = NonZeroU32::new(cost(held.input_bytes))
        {
            // Never more than the burst, so the capacity check cannot fail.
            while let Ok(Err(not_until)) = input.check_n(bytes.min(*rate)) {
                tokio::time::sleep(not_until.wait_time_from(DefaultClock::default().now())).await;
            }
        }
    }
}

fn cost(bytes: usize) -> u32 {
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// What a throttled device is told (and what the log says).
pub(crate) fn notice(device: &str, exceeded: Exceeded) -> String {
    format!(
        "rate limited: device {device:?} is over its quota of {exceeded}; the gateway reads its \
         frames more slowly (nothing is lost)"
    )
}

/// How often a throttled connection is told so.
pub(crate) const NOTICE_EVERY: Duration = Duration::from_secs(10);
