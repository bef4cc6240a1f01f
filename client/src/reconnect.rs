//! A terminal that survives dropped connections, at two levels:
//!
//! 1. Its [`Client`] resumes the session after a drop ([`ConnectOptions::reconnect`]): output
//!    and input continue with nothing lost or repeated; input typed while disconnected waits in
//!    the session's replay buffer and is sent on resume.
//! 2. If the session itself is gone (it outlived the gateway's linger, or the gateway
//!    restarted), a new session re-attaches to the terminal from the last output byte received
//!    (exponential backoff with full jitter, capped): the output continues exactly if the
//!    terminal's log still holds it, else from a screen snapshot. Input typed since the session
//!    was lost waits in a bounded queue; input in flight when it was lost may be lost with it.

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::backoff::Backoff;
use crate::{Client, ClientError, ConnectOptions, Notice, Status, Terminal, TerminalEvent};
use devtail_proto::v1;

/// A session that resumes by itself.
async fn connect(endpoint: &Endpoint) -> Result<Client, ClientError> {
    let options = ConnectOptions {
        reconnect: true,
        ..endpoint.options.clone()
    };
    Client::connect(&endpoint.url, &endpoint.token, options).await
}

/// Input chunks held while disconnected (each a read of the local keyboard or stdin).
const INPUT_QUEUE: usize = 256;

/// What the user of a [`ReconnectingTerminal`] sends.
#[derive(Debug)]
enum Input {
    Data(Bytes),
    Resize(u16, u16),
    Signal(u32),
    Kill,
}

/// Sends input to a [`ReconnectingTerminal`] from any task; held while reconnecting.
#[derive(Debug, Clone)]
pub struct InputSender {
    tx: mpsc::Sender<Input>,
}

impl InputSender {
    async fn send(&self, input: Input) -> Result<(), ClientError> {
        // Backpressure: waits when the queue is full (a long outage with much typing).
        self.tx
            .send(input)
            .await
            .map_err(|_| ClientError::Closed(Some("the terminal has ended".into())))
    }

    /// Input bytes.
    pub async fn write(&self, data: impl Into<Bytes>) -> Result<(), ClientError> {
        self.send(Input::Data(data.into())).await
    }

    /// New size.
    pub async fn resize(&self, rows: u16, cols: u16) -> Result<(), ClientError> {
        self.send(Input::Resize(rows, cols)).await
    }

    /// A signal for the foreground job.
    pub async fn signal(&self, signal: u32) -> Result<(), ClientError> {
        self.send(Input::Signal(signal)).await
    }

    /// Hang the terminal up.
    pub async fn kill(&self) -> Result<(), ClientError> {
        self.send(Input::Kill).await
    }
}

/// How to reach the gateway again.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Gateway URL.
    pub url: String,
    /// Device token.
    pub token: String,
    /// Connection options.
    pub options: ConnectOptions,
}

/// A remote terminal that reconnects by itself. See the module docs.
#[derive(Debug)]
pub struct ReconnectingTerminal {
    endpoint: Endpoint,
    client: Client,
    terminal: Terminal,
    read_only: bool,
    /// Output offset just past the last byte received.
    offset: u64,
    input_tx: mpsc::Sender<Input>,
    input: mpsc::Receiver<Input>,
    /// Why the last connection ended, reported with the next event.
    lost: Option<String>,
    /// Failed reconnect attempts so far, while disconnected.
    attempts: Option<u32>,
    /// A refusal ended it for good.
    finished: bool,
    /// Delays between re-attaches.
    backoff: Backoff,
    /// The session's state.
    status: tokio::sync::watch::Receiver<Status>,
    /// The session is resuming (a `Reconnecting` was reported, `Reconnected` is owed).
    resuming: bool,
    /// The session's gateway notices.
    notices: tokio::sync::watch::Receiver<Option<Notice>>,
}

/// Events of a [`ReconnectingTerminal`]: the terminal's, plus the connection's ups and downs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReconnectEvent {
    /// Something from the terminal.
    Terminal(TerminalEvent),
    /// The connection dropped; reconnecting (attempt counts from 1).
    Reconnecting {
        /// Attempt number.
        attempt: u32,
        /// Why the connection ended.
        reason: String,
    },
    /// Connected and attached again; output continues.
    Reconnected,
    /// The gateway said something that answers no request: `RATE_LIMITED` when this device
    /// sends more than its quota (what it sent still arrives, more slowly).
    Notice(Notice),
}

impl ReconnectingTerminal {
    /// Starts a program in a new terminal.
    pub async fn open(endpoint: Endpoint, open: v1::TermOpen) -> Result<Self, ClientError> {
        let client = connect(&endpoint).await?;
        let terminal = client.open_terminal(open).await?;
        Ok(Self::new(endpoint, client, terminal, false))
    }

    /// Attaches to a running terminal: its held output (or a snapshot), then live.
    pub async fn attach(endpoint: Endpoint, id: u64, read_only: bool) -> Result<Self, ClientError> {
        let client = connect(&endpoint).await?;
        let terminal = client.attach(id, read_only, 0).await?;
        Ok(Self::new(endpoint, client, terminal, read_only))
    }

    fn new(endpoint: Endpoint, client: Client, terminal: Terminal, read_only: bool) -> Self {
        let (input_tx, input) = mpsc::channel(INPUT_QUEUE);
        let offset = terminal.opened().output_offset;
        let status = client.status();
        Self {
            status,
            notices: client.notices(),
            resuming: false,
            endpoint,
            client,
            terminal,
            read_only,
            offset,
            input_tx,
            input,
            lost: None,
            attempts: None,
            finished: false,
            backoff: Backoff::new(),
        }
    }

    /// The gateway's terminal id.
    pub fn id(&self) -> u64 {
        self.terminal.id()
    }

    /// A handle for sending input from other tasks.
    pub fn input(&self) -> InputSender {
        InputSender {
            tx: self.input_tx.clone(),
        }
    }

    /// Says goodbye to the gateway (the terminal runs on if it has not exited).
    pub async fn close(self) {
        self.client.close().await;
    }

    /// Output offset just past the last byte received.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next event. Forwards queued input meanwhile. When the connection drops it reports
    /// [`ReconnectEvent::Reconnecting`] (again after every failed attempt), then
    /// [`ReconnectEvent::Reconnected`]. `None` once the terminal has exited (after its `Exit`),
    /// or after an error that retrying cannot fix (token revoked, terminal gone).
    pub async fn next_event(&mut self) -> Option<ReconnectEvent> {
        loop {
            if self.finished {
                return None;
            }
            if let Some(reason) = self.lost.take() {
                self.attempts = Some(0);
                return Some(ReconnectEvent::Reconnecting { attempt: 1, reason });
            }
            if let Some(attempt) = self.attempts {
                return Some(self.retry(attempt + 1).await);
            }
            tokio::select! {
                event = self.terminal.next_event() => match event {
                    Some(TerminalEvent::Output(data)) => {
                        self.offset += data.len() as u64;
                        return Some(ReconnectEvent::Terminal(TerminalEvent::Output(data)));
                    }
                    Some(event) => {
                        if let TerminalEvent::Snapshot { output_offset, .. } = &event {
                            self.offset = *output_offset;
                        }
                        return Some(ReconnectEvent::Terminal(event));
                    }
                    None if self.terminal.exited() => return None,
                    None => {
                        let reason = self.client.closed_reason();
                        self.lost = Some(reason.unwrap_or_else(|| "connection lost".into()));
                    }
                },
                Some(input) = self.input.recv() => {
                    // A session that has ended ends the terminal's events too: handled there.
                    let _ = self.forward(input).await;
                }
                Ok(()) = self.notices.changed() => {
                    if let Some(notice) = self.notices.borrow_and_update().clone() {
                        return Some(ReconnectEvent::Notice(notice));
                    }
                }
                Ok(()) = self.status.changed() => {
                    let status = self.status.borrow_and_update().clone();
                    match status {
                        Status::Reconnecting { attempt, reason } => {
                            self.resuming = true;
                            return Some(ReconnectEvent::Reconnecting { attempt, reason });
                        }
                        Status::Connected if self.resuming => {
                            self.resuming = false;
                            return Some(ReconnectEvent::Reconnected);
                        }
                        Status::Connected | Status::Closed(_) => {}
                    }
                }
            }
        }
    }

    async fn forward(&self, input: Input) -> Result<(), ClientError> {
        let writer = self.terminal.writer();
        match input {
            Input::Data(_) | Input::Signal(_) | Input::Kill if self.read_only => Ok(()),
            Input::Data(data) => writer.write(data).await,
            Input::Resize(rows, cols) => writer.resize(rows, cols).await,
            Input::Signal(signal) => writer.signal(signal).await,
            Input::Kill => writer.kill().await,
        }
    }

    /// Waits out the backoff, then tries once to connect and re-attach.
    async fn retry(&mut self, attempt: u32) -> ReconnectEvent {
        tokio::time::sleep(self.backoff.delay(attempt)).await;
        match self.try_reattach().await {
            Ok(()) => {
                self.attempts = None;
                ReconnectEvent::Reconnected
            }
            Err(ClientError::Refused { code, message }) => {
                // Refused by the gateway (token revoked, terminal gone): retrying will not help.
                self.finished = true;
                ReconnectEvent::Terminal(TerminalEvent::Error {
                    code: 0,
                    message: format!("{message} ({code})"),
                })
            }
            Err(e) => {
                self.attempts = Some(attempt);
                ReconnectEvent::Reconnecting {
                    attempt: attempt + 1,
                    reason: e.to_string(),
                }
            }
        }
    }

    async fn try_reattach(&mut self) -> Result<(), ClientError> {
        let client = connect(&self.endpoint).await?;
        let terminal = client
            .attach(self.id(), self.read_only, self.offset)
            .await?;
        self.offset = terminal.opened().output_offset;
        self.status = client.status();
        self.notices = client.notices();
        self.resuming = false;
        self.client = client;
        self.terminal = terminal;
        Ok(())
    }
}
