//! Transports: how frames reach the gateway. Each adapts its connections to a `Stream` of
//! incoming frames and a `Sink` of outgoing ones, so sessions never see the transport.
//!
//! - [`ws`]: WebSocket over TCP, one binary message per frame.

pub mod ws;
