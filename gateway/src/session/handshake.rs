//! Hello → Welcome: protocol version, credentials, compression. A refusal is an `Error` and a
//! `Close`, logged without the credential.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use super::{Counters, HELLO_TIMEOUT};
use crate::Gateway;
use crate::proto::v1::{self, envelope::Body, hello::Auth};
use crate::proto::{CompressionPolicy, PROTOCOL_VERSION, ZstdParams};
use crate::transport::{Incoming, ReadError};

/// Why a connection was not accepted.
#[derive(Debug)]
pub(super) struct Refusal {
    code: v1::ErrorCode,
    message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str_name(), self.message)
    }
}

impl Refusal {
    pub(super) fn new(code: v1::ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The frames that tell the client.
    pub(super) fn frames(&self) -> [Body; 2] {
        [
            Body::Error(v1::Error {
                code: self.code as i32,
                message: self.message.clone(),
                request_id: 0,
            }),
            Body::Close(v1::Close {
                reason: v1::CloseReason::Error as i32,
                message: self.message.clone(),
                reconnect_after_ms: 0,
            }),
        ]
    }
}

/// A client whose Hello was accepted; the session it starts or resumes answers with Welcome.
#[derive(Debug)]
pub(super) struct Accepted {
    /// The device its token belongs to.
    pub(super) device: String,
    /// How to compress towards it.
    pub(super) policy: (CompressionPolicy, ZstdParams),
    /// The session it asks to resume.
    pub(super) resume: Option<v1::ResumeRequest>,
    /// The largest frame this gateway accepts from it.
    pub(super) max_frame_len: u32,
}

impl Refusal {
    /// A refused resume: the client should start a new session.
    pub(super) fn resume(message: impl Into<String>) -> Self {
        Self::new(v1::ErrorCode::ResumeRejected, message)
    }

    /// The gateway is shutting down.
    pub(super) fn shutting_down() -> Self {
        Self::new(v1::ErrorCode::ShuttingDown, "the gateway is shutting down")
    }
}

/// Reads Hello and decides.
pub(super) async fn run(
    gateway: &Gateway,
    peer: SocketAddr,
    incoming: &mut impl Incoming,
    counters: &Counters,
) -> Result<Accepted, Refusal> {
    let next = match tokio::time::timeout(HELLO_TIMEOUT, incoming.next()).await {
        Err(_) => {
            return Err(Refusal::new(
                v1::ErrorCode::Timeout,
                format!("no Hello within {} s", HELLO_TIMEOUT.as_secs()),
            ));
        }
        Ok(None) => {
            return Err(Refusal::new(
                v1::ErrorCode::MalformedFrame,
                "closed before Hello",
            ));
        }
        Ok(Some(Err(ReadError::Decode(e)))) => return Err(Refusal::new(e.code(), e.to_string())),
        Ok(Some(Err(ReadError::Transport(e)))) => {
            return Err(Refusal::new(
                v1::ErrorCode::MalformedFrame,
                format!("transport: {e}"),
            ));
        }
        Ok(Some(Ok(next))) => next,
    };
    let (envelope, len) = next;
    counters.bytes_in.fetch_add(len as u64, Ordering::Relaxed);
    let hello = match envelope.body {
        Some(Body::Hello(hello)) => hello,
        Some(other) => {
            return Err(Refusal::new(
                v1::ErrorCode::MalformedFrame,
                format!("the first frame must be hello, not {}", other.kind()),
            ));
        }
        None => {
            return Err(Refusal::new(
                v1::ErrorCode::MalformedFrame,
                "the first frame must be hello",
            ));
        }
    };

    if !(hello.min_version..=hello.max_version).contains(&PROTOCOL_VERSION) {
        return Err(Refusal::new(
            v1::ErrorCode::UnsupportedVersion,
            format!(
                "this gateway speaks protocol version {PROTOCOL_VERSION}; the client offers {}..={}",
                hello.min_version, hello.max_version
            ),
        ));
    }

    let device = match &hello.auth {
        Some(Auth::Token(token)) => gateway.verify_token(&token.token).ok_or_else(|| {
            Refusal::new(
                v1::ErrorCode::Unauthenticated,
                "unknown or revoked device token",
            )
        })?,
        Some(Auth::Tailnet(_)) => {
            return Err(Refusal::new(
                v1::ErrorCode::Unauthenticated,
                "Tailscale direct mode is not enabled on this gateway; use a device token",
            ));
        }
        None => {
            return Err(Refusal::new(
                v1::ErrorCode::Unauthenticated,
                "no credentials in Hello",
            ));
        }
    };

    tracing::debug!(%peer, client = %hello.client_name, "hello accepted");
    Ok(Accepted {
        device,
        policy: crate::proto::negotiate(hello.compression.as_ref()),
        resume: hello.resume,
        max_frame_len: crate::proto::DEFAULT_MAX_FRAME_LEN as u32,
    })
}
