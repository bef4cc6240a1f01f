//! devtail-gateway: the daemon on the developer's machine.
//!
//! It will own the transports (WebSocket, QUIC), sessions, terminals, agent runs, files, git,
//! auth and the Tailscale direct mode. Everything it puts on the wire goes through
//! [`devtail_proto`]'s codec; this crate adds the IO around it.

pub use devtail_proto as proto;
