//! devtail-client: connect to a devtail gateway and use its terminals.
//!
//! The library the `devtail` CLI, the end-to-end tests and the load tester share:
//! [`Client::connect`] does the handshake; [`Client::open_terminal`] and [`Client::attach`]
//! give a [`Terminal`] to write to and read events from; [`Client::sessions`] lists what runs.
//! A session driver numbers, acknowledges, retransmits and compresses what is sent, and — with
//! [`ConnectOptions::reconnect`] — resumes the session after a dropped connection with nothing
//! lost (PROTOCOL.md §6). A reader task routes incoming frames to channels (bounded: a terminal
//! nobody reads stops being read from the socket, which stops the gateway reading its PTY).

mod backoff;
mod connection;
mod reconnect;
mod session;
mod terminal;
mod tls;
mod transport;
mod url;

pub use connection::{Client, ClientError, ConnectOptions, FrameTap, Notice, TapDirection};
pub use devtail_proto as proto;
pub use reconnect::{Endpoint, InputSender, ReconnectEvent, ReconnectingTerminal};
pub use session::Status;
pub use terminal::{Terminal, TerminalEvent, TerminalWriter};
pub use url::{DEFAULT_PORT, GatewayUrl, PairingUrl, Scheme};
