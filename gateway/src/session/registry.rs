//! The gateway's sessions by id: where a new connection starts one or finds the one it resumes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, watch};

use super::handshake::{Accepted, Refusal};
use super::link::Link;
use super::task::{self, Command};
use crate::Gateway;
use crate::proto::{CompressionPolicy, ZstdParams};

/// Resume requests queued per session.
const COMMAND_QUEUE: usize = 4;

/// A session's id: 16 random bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SessionId(pub(crate) [u8; 16]);

impl SessionId {
    pub(super) fn random() -> Self {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).expect("the OS random source is available");
        Self(id)
    }
}

impl std::fmt::Display for SessionId {
    /// The first 4 bytes in hex: enough to follow a session through the log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for byte in &self.0[..4] {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// What an accepted connection is attached to: device, session, compression towards it.
pub(super) type Attached = (String, SessionId, (CompressionPolicy, ZstdParams));

/// Every session of the gateway, connected or lingering.
#[derive(Debug, Default)]
pub struct Sessions {
    inner: Mutex<HashMap<SessionId, mpsc::Sender<Box<Command>>>>,
    /// Bytes held in all sessions' replay buffers.
    replay_bytes: AtomicUsize,
}

impl Sessions {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, mpsc::Sender<Box<Command>>>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sessions alive (connected or lingering).
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// True when there is no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn remove(&self, id: SessionId) {
        self.map().remove(&id);
    }

    /// Bytes held in all sessions' replay buffers.
    pub fn replay_bytes(&self) -> usize {
        self.replay_bytes.load(Ordering::Relaxed)
    }

    /// A session's replay buffer went from `before` to `after` bytes.
    pub(super) fn account(&self, before: usize, after: usize) {
        if after > before {
            self.replay_bytes
                .fetch_add(after - before, Ordering::Relaxed);
        } else {
            self.replay_bytes
                .fetch_sub(before - after, Ordering::Relaxed);
        }
    }

    /// Starts a new session for `hello` on `link`, or resumes the one it names. The session
    /// queues Welcome on the link.
    pub(super) async fn attach(
        &self,
        gateway: &Arc<Gateway>,
        hello: Accepted,
        link: Link,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Attached, Refusal> {
        if *shutdown.borrow() {
            return Err(Refusal::shutting_down());
        }
        let Some(resume) = hello.resume else {
            let id = loop {
                let id = SessionId::random();
                if !self.map().contains_key(&id) {
                    break id;
                }
            };
            let (commands, receiver) = mpsc::channel(COMMAND_QUEUE);
            self.map().insert(id, commands);
            task::start(
                Arc::clone(gateway),
                id,
                hello.device.clone(),
                link,
                hello.max_frame_len,
                receiver,
                shutdown,
            );
            return Ok((hello.device, id, hello.policy));
        };

        let unknown = || {
            Refusal::resume(format!(
                "unknown or expired session (sessions linger {} s after their connection drops); \
                 start a new one",
                gateway.config().session_linger.as_secs()
            ))
        };
        let id = SessionId(
            resume
                .session_id
                .as_ref()
                .try_into()
                .map_err(|_| unknown())?,
        );
        let commands = self.map().get(&id).cloned().ok_or_else(unknown)?;
        let (reply, answer) = oneshot::channel();
        let command = Command::Resume {
            link,
            device: hello.device.clone(),
            token: resume.resume_token,
            last_seq_received: resume.last_seq_received,
            max_frame_len: hello.max_frame_len,
            reply,
        };
        commands
            .send(Box::new(command))
            .await
            .map_err(|_| unknown())?;
        // A session that ends before answering is as good as expired.
        answer.await.map_err(|_| unknown())??;
        Ok((hello.device, id, hello.policy))
    }
}
