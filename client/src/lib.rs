//! devtail-client: connect to a devtail gateway, reconnect and resume, open channels.
//!
//! The library the `devtail` CLI, the end-to-end tests and the load tester share. Frames are
//! encoded and decoded by [`devtail_proto`]'s codec.

pub use devtail_proto as proto;
