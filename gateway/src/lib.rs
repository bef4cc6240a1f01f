//! devtail-gateway: the daemon on the developer's machine.
//!
//! It owns the transports ([`transport`]: WebSocket today, QUIC next), the [`Sessions`] that
//! outlive their connections (each with its channels and replay buffer), [`terminal`]s that
//! outlive sessions, and device [`auth`]. Agent
//! runs, files, git and the Tailscale direct mode join them. Everything on the wire goes through
//! [`devtail_proto`]'s codec; this crate adds the IO around it.

pub mod auth;
pub mod limits;
pub mod pair;
pub(crate) mod session;
pub mod terminal;
pub mod tls;
pub mod transport;

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use devtail_proto as proto;

use auth::TokenStore;
use proto::v1::ErrorCode;
pub use session::Sessions;
use terminal::Terminals;

/// Default address: loopback only, the port devtail uses everywhere.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8722";

/// Default time a session waits for its client to come back after its connection drops:
/// 15 minutes covers a phone in a pocket through a meeting; after that the client starts a new
/// session and reattaches its terminals (they run on regardless).
pub const DEFAULT_SESSION_LINGER: Duration = Duration::from_secs(15 * 60);

/// Default heartbeat interval announced to clients: 60 s. Measured on loopback
/// (`devtail-loadtest idle-bytes`, 10 connections, 3 min): an idle connection costs 155 IP
/// bytes/min both ways at 60 s — Ping, Pong and one TCP ack each minute — against 297 at 30 s;
/// the target is ≤ 250. Still under the 5-minute idle cut-off of carrier NATs and cloud load
/// balancers.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(60);

/// Default idle timeout: 150 s, two and a half heartbeats, so one lost Ping or Pong never cuts a
/// healthy connection while a half-open path is still found within 2.5 minutes of silence.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(150);

/// Default for [`Config::replay_memory`]: 256 MiB, 32 sessions' full 8 MiB budgets. Sessions
/// away from a busy terminal cost at most this together; idle ones hold nothing.
pub const DEFAULT_REPLAY_MEMORY: usize = 256 << 20;

/// Default cap on simultaneous connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

/// Default cap on the channels (terminals opened or attached) one session has at once.
pub const DEFAULT_MAX_CHANNELS: usize = 256;

/// Settings of a running gateway.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (TCP for WebSocket).
    pub listen: SocketAddr,
    /// Root directory that terminals start in and file paths are confined to.
    pub workspace: PathBuf,
    /// Directory for tokens and other state.
    pub state_dir: PathBuf,
    /// Connections served at once; more wait in the accept queue.
    pub max_connections: usize,
    /// How long a session outlives its connection, waiting to be resumed.
    pub session_linger: Duration,
    /// Bytes of sent, unacknowledged frames each session keeps for retransmission
    /// ([`proto::reliability::DEFAULT_REPLAY_BUDGET`]).
    pub replay_budget: usize,
    /// Bytes all sessions' replay buffers may hold together before disconnected sessions stop
    /// keeping output for their resume (they get snapshots instead).
    pub replay_memory: usize,
    /// Heartbeat interval clients are told to use (`Welcome.heartbeat_interval_ms`).
    pub heartbeat_interval: Duration,
    /// A connection that sends nothing for this long is closed (its session lingers).
    pub idle_timeout: Duration,
    /// Serve plain `ws://` on any address, not only on loopback and tailnet ones.
    pub insecure: bool,
    /// Per-device quotas on what clients send ([`limits`]).
    pub quotas: limits::Quotas,
    /// Channels one session may have open at once; more are refused with
    /// `RESOURCE_EXHAUSTED`.
    pub max_channels: usize,
    /// The TLS certificate for `wss://` (and QUIC); without it only plain WebSocket is served.
    pub identity: Option<Arc<tls::Identity>>,
}

impl Config {
    /// Defaults for everything but the addresses and directories.
    pub fn new(listen: SocketAddr, workspace: PathBuf, state_dir: PathBuf) -> Self {
        Self {
            listen,
            workspace,
            state_dir,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            session_linger: DEFAULT_SESSION_LINGER,
            replay_budget: proto::reliability::DEFAULT_REPLAY_BUDGET,
            replay_memory: DEFAULT_REPLAY_MEMORY,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            insecure: false,
            quotas: limits::Quotas::default(),
            max_channels: DEFAULT_MAX_CHANNELS,
            identity: None,
        }
    }
}

/// The gateway's shared state: what every connection task sees.
#[derive(Debug)]
pub struct Gateway {
    config: Config,
    /// Canonical workspace root.
    workspace: PathBuf,
    tokens: Mutex<TokenStore>,
    /// Live terminals.
    pub terminals: Arc<Terminals>,
    /// Sessions, connected or lingering.
    pub sessions: Sessions,
    /// TLS for `wss://`, from the identity.
    wss: Option<Arc<rustls::ServerConfig>>,
    /// One permit per connection served, across all transports.
    connection_slots: Arc<tokio::sync::Semaphore>,
    /// Every device's rate limiters.
    limits: limits::Limits,
}

impl Gateway {
    /// Creates the gateway state. The workspace must exist.
    pub fn new(config: Config, tokens: TokenStore) -> std::io::Result<Arc<Self>> {
        let workspace = config.workspace.canonicalize().map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("workspace {}: {e}", config.workspace.display()),
            )
        })?;
        let wss = match &config.identity {
            Some(identity) => Some(
                identity
                    .server_config(&[b"http/1.1"])
                    .map_err(std::io::Error::other)?,
            ),
            None => None,
        };
        Ok(Arc::new(Self {
            connection_slots: Arc::new(tokio::sync::Semaphore::new(config.max_connections)),
            limits: limits::Limits::new(config.quotas),
            wss,
            config,
            workspace,
            tokens: Mutex::new(tokens),
            terminals: Arc::new(Terminals::default()),
            sessions: Sessions::default(),
        }))
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The rate limiters of `device`, shared by all its connections.
    pub(crate) fn limits(&self, device: &str) -> Arc<limits::DeviceLimits> {
        self.limits.device(device)
    }

    /// The connection limit, shared by all transports.
    pub(crate) fn connection_slots(&self) -> Arc<tokio::sync::Semaphore> {
        Arc::clone(&self.connection_slots)
    }

    /// TLS for `wss://` connections, when the gateway has a certificate.
    pub(crate) fn wss_acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        self.wss.clone().map(tokio_rustls::TlsAcceptor::from)
    }

    /// The SHA-256 fingerprint clients pin, when the gateway has a certificate.
    pub fn fingerprint(&self) -> Option<String> {
        self.config
            .identity
            .as_ref()
            .map(|identity| identity.fingerprint())
    }

    /// The workspace root, resolved.
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The device name a token belongs to (re-reading the token file if it changed).
    pub(crate) fn verify_token(&self, token: &str) -> Option<String> {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = tokens.refresh() {
            tracing::warn!(error = %e, "token store unreadable; keeping the tokens loaded before");
        }
        tokens.verify(token).map(str::to_owned)
    }

    /// Resolves a client-given directory inside the workspace; empty means the root.
    pub(crate) fn resolve_dir(&self, relative: &str) -> Result<PathBuf, (ErrorCode, String)> {
        let outside = || {
            (
                ErrorCode::PathOutsideWorkspace,
                format!("{relative:?} is outside the workspace"),
            )
        };
        let path = Path::new(relative);
        if path
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(outside());
        }
        let joined = self.workspace.join(path);
        let real = joined
            .canonicalize()
            .map_err(|e| (ErrorCode::NotFound, format!("{relative:?}: {e}")))?;
        if !real.starts_with(&self.workspace) {
            return Err(outside());
        }
        if !real.is_dir() {
            return Err((
                ErrorCode::InvalidArgument,
                format!("{relative:?} is not a directory"),
            ));
        }
        Ok(real)
    }
}

/// True for addresses where plain (unencrypted) WebSocket is acceptable: loopback, and the
/// Tailscale ranges (100.64.0.0/10, fd7a:115c:a1e0::/48), whose traffic WireGuard encrypts.
pub fn plaintext_ok(addr: std::net::IpAddr) -> bool {
    match addr {
        std::net::IpAddr::V4(v4) => {
            v4.is_loopback() || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.segments()[..3] == [0xfd7a, 0x115c, 0xa1e0]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_only_on_loopback_and_tailnet() {
        for ok in [
            "127.0.0.1",
            "::1",
            "100.64.0.1",
            "100.127.255.254",
            "fd7a:115c:a1e0::1",
        ] {
            assert!(plaintext_ok(ok.parse().unwrap()), "{ok}");
        }
        for no in [
            "0.0.0.0",
            "192.168.1.2",
            "100.128.0.1",
            "10.0.0.1",
            "::",
            "fd7a:115c:a1e1::1",
        ] {
            assert!(!plaintext_ok(no.parse().unwrap()), "{no}");
        }
    }

    #[test]
    fn directories_are_confined_to_the_workspace() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("file"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("escape")).unwrap();
        let state = tempfile::tempdir().unwrap();
        let gateway = Gateway::new(
            Config::new(
                DEFAULT_LISTEN.parse().unwrap(),
                dir.path().to_owned(),
                state.path().to_owned(),
            ),
            TokenStore::open(state.path()).unwrap(),
        )
        .unwrap();
        let root = dir.path().canonicalize().unwrap();
        assert_eq!(gateway.resolve_dir("").unwrap(), root);
        assert_eq!(gateway.resolve_dir("src").unwrap(), root.join("src"));
        assert_eq!(gateway.resolve_dir("./src/").unwrap(), root.join("src"));
        for bad in ["..", "src/../..", "/etc", "escape"] {
            let err = gateway.resolve_dir(bad).unwrap_err();
            assert_eq!(err.0, ErrorCode::PathOutsideWorkspace, "{bad}: {err:?}");
        }
        assert_eq!(
            gateway.resolve_dir("missing").unwrap_err().0,
            ErrorCode::NotFound
        );
        assert_eq!(
            gateway.resolve_dir("file").unwrap_err().0,
            ErrorCode::InvalidArgument
        );
    }
}
