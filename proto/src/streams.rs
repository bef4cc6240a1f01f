//! Which QUIC stream carries an envelope (PROTOCOL.md §1): the control stream (the first
//! bidirectional stream, opened by the client) carries the handshake, everything on channel 0
//! and every unsequenced frame (acks, pings, close); each other channel's frames travel on a
//! unidirectional stream of their own per direction, opened by the sender at the channel's
//! first frame and finished after its last, so a bulk transfer on one channel never holds up
//! a keystroke on another. Each stream has its own compression context.

use crate::v1::Envelope;
use crate::v1::envelope::Body;

/// Where an envelope goes on QUIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The control stream.
    Control,
    /// The sender's stream for this channel.
    Channel(u32),
}

/// The stream for `envelope`.
pub fn route(envelope: &Envelope) -> Route {
    match &envelope.body {
        Some(body) if envelope.channel != 0 && body.is_sequenced() => {
            Route::Channel(envelope.channel)
        }
        _ => Route::Control,
    }
}

/// True when `envelope` is the last its sender sends on its channel, so the channel's stream
/// can be finished after it: a terminal's exit, the client closing or detaching it.
pub fn ends_channel(envelope: &Envelope) -> bool {
    matches!(
        envelope.body,
        Some(Body::TermExit(_) | Body::TermClose(_) | Body::Detach(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1;

    #[test]
    fn control_frames_and_channel_zero_stay_on_the_control_stream() {
        let on = |channel, body| Envelope {
            seq: 1,
            ack: 0,
            channel,
            body: Some(body),
        };
        let data = || Body::TermData(v1::TermData::default());
        assert_eq!(route(&on(3, data())), Route::Channel(3));
        assert_eq!(route(&on(0, data())), Route::Control);
        assert_eq!(route(&on(3, Body::AckOnly(v1::Ack {}))), Route::Control);
        assert_eq!(
            route(&on(3, Body::Ping(v1::Ping { nonce: 1 }))),
            Route::Control
        );
        assert!(ends_channel(&on(
            3,
            Body::TermExit(v1::TermExit::default())
        )));
        assert!(!ends_channel(&on(3, data())));
    }
}
