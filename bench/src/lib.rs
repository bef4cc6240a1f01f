//! Shared helpers for devtail's benches.
