//! devtail-loadtest: drives many connections against a gateway on loopback and reports
//! latency, throughput, memory and idle traffic beside OpenSSH, mosh and the raw PTY.
//!
//! Scenarios arrive with the performance work; the crate is in the workspace from the start so
//! the dependency graph and lints cover it.

pub use devtail_client as client;
