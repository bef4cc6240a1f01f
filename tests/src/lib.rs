//! devtail-tests: end-to-end tests that start the real gateway and client binaries, and the
//! fixtures they need (mock LLM servers, a chaos proxy, a Tailscale LocalAPI fixture).
//!
//! Fixtures land with the capabilities that use them.

pub use devtail_client as client;
pub use devtail_gateway as gateway;
