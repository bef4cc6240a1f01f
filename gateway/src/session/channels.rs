//! A connection's channels: what each client frame does, and the forwarders that carry
//! terminal output back.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Outbound;
use crate::Gateway;
use crate::proto::v1::{self, ErrorCode, envelope::Body};
use crate::terminal::{
    Control, SpawnSpec, Subscription, TermEvent, Terminal, TerminalId, term_size,
};

/// Channels one connection may have open at once.
const MAX_CHANNELS: usize = 256;

/// Snapshots tried when attaching to output that moves faster than a snapshot is taken.
const SNAPSHOT_ATTEMPTS: usize = 3;

/// Size of a terminal opened without one.
const DEFAULT_SIZE: (u16, u16) = (24, 80);

/// One open channel.
#[derive(Debug)]
struct TermChannel {
    terminal: Arc<Terminal>,
    read_only: bool,
    /// Carries output to the client; aborting it drops the subscription (detach).
    forwarder: JoinHandle<()>,
}

impl Drop for TermChannel {
    fn drop(&mut self) {
        self.forwarder.abort();
    }
}

/// The channel table of one connection.
#[derive(Debug)]
pub(super) struct Channels {
    gateway: Arc<Gateway>,
    out: mpsc::Sender<Outbound>,
    open: HashMap<u32, TermChannel>,
}

fn clamp_size(size: Option<&v1::TermSize>) -> (u16, u16) {
    match size {
        Some(s) if s.rows > 0 && s.cols > 0 => (
            s.rows.min(u32::from(u16::MAX)) as u16,
            s.cols.min(u32::from(u16::MAX)) as u16,
        ),
        _ => DEFAULT_SIZE,
    }
}

impl Channels {
    pub(super) fn new(gateway: Arc<Gateway>, out: mpsc::Sender<Outbound>) -> Self {
        Self {
            gateway,
            out,
            open: HashMap::new(),
        }
    }

    async fn send(&self, out: Outbound) {
        // Backpressure: waits while the client is not reading. A closed queue means the
        // connection is ending; nothing left to tell.
        let _ = self.out.send(out).await;
    }

    /// Queues a reply without making the frame reader wait: while output floods a client, its
    /// next keystroke must still reach the terminal. For replies whose order against a
    /// channel's output does not matter (pongs, errors).
    fn send_soon(&self, out: Outbound) {
        if let Err(mpsc::error::TrySendError::Full(out)) = self.out.try_send(out) {
            let queue = self.out.clone();
            tokio::spawn(async move {
                let _ = queue.send(out).await;
            });
        }
    }

    async fn error(
        &self,
        channel: u32,
        code: ErrorCode,
        message: impl Into<String>,
        request_id: u64,
    ) {
        self.send_soon(Outbound::error(channel, code, message, request_id));
    }

    /// The open channel, forgetting it if its terminal has ended.
    fn channel(&mut self, id: u32) -> Option<&TermChannel> {
        if self
            .open
            .get(&id)
            .is_some_and(|c| c.forwarder.is_finished())
        {
            self.open.remove(&id);
        }
        self.open.get(&id)
    }

    /// Handles one frame from the client. `Err` ends the connection.
    pub(super) async fn handle(&mut self, channel: u32, body: Body) -> Result<(), String> {
        match body {
            Body::Ping(ping) => {
                self.send_soon(Outbound::new(0, Body::Pong(v1::Pong { nonce: ping.nonce })));
            }
            Body::Pong(_) | Body::AckOnly(_) => {}
            Body::Hello(_) => return Err("hello after the handshake".to_owned()),
            Body::TermOpen(open) => self.open_terminal(channel, open).await,
            Body::Attach(attach) => self.attach(channel, attach).await,
            Body::TermData(data) => self.input(channel, data.data).await,
            Body::TermResize(resize) => {
                if let Some(c) = self.channel(channel) {
                    let (rows, cols) = clamp_size(resize.size.as_ref());
                    // Size rule: the last device to resize sets the terminal's size.
                    let terminal = Arc::clone(&c.terminal);
                    terminal.control(Control::Resize { rows, cols }).await;
                } else {
                    self.unknown_channel(channel).await;
                }
            }
            Body::TermSignal(signal) => match self.channel(channel) {
                Some(c) if c.read_only => {
                    self.error(channel, ErrorCode::PermissionDenied, "read-only attach", 0)
                        .await;
                }
                Some(c) => {
                    let terminal = Arc::clone(&c.terminal);
                    terminal
                        .control(Control::Signal(signal.signal as i32))
                        .await;
                }
                None => self.unknown_channel(channel).await,
            },
            Body::TermClose(close) => match self.open.remove(&channel) {
                Some(c) if close.kill && !c.read_only => c.terminal.control(Control::HangUp).await,
                Some(_) => {}
                None => self.unknown_channel(channel).await,
            },
            Body::Detach(_) => {
                if self.open.remove(&channel).is_none() {
                    self.unknown_channel(channel).await;
                }
            }
            Body::SessionList(list) => {
                let terminals = self
                    .gateway
                    .terminals
                    .list()
                    .iter()
                    .map(|t| t.info())
                    .collect();
                let result = v1::SessionListResult {
                    request_id: list.request_id,
                    terminals,
                    agent_runs: Vec::new(),
                };
                self.send(Outbound::new(0, Body::SessionListResult(result)))
                    .await;
            }
            other => {
                let message = format!("{} is not supported by this gateway yet", other.kind());
                self.error(
                    channel,
                    ErrorCode::Unsupported,
                    message,
                    other.request_id().unwrap_or(0),
                )
                .await;
            }
        }
        Ok(())
    }

    async fn unknown_channel(&self, channel: u32) {
        self.error(
            channel,
            ErrorCode::UnknownChannel,
            format!("channel {channel} is not open"),
            0,
        )
        .await;
    }

    /// Checks that a new channel may be opened on `channel`.
    async fn can_open(&mut self, channel: u32) -> bool {
        let problem = if channel == 0 {
            Some((
                ErrorCode::InvalidArgument,
                "channel 0 is the control channel".to_owned(),
            ))
        } else if self.channel(channel).is_some() {
            Some((
                ErrorCode::AlreadyExists,
                format!("channel {channel} is already open"),
            ))
        } else if self.open.len() >= MAX_CHANNELS {
            Some((
                ErrorCode::ResourceExhausted,
                format!("at most {MAX_CHANNELS} channels per connection"),
            ))
        } else {
            None
        };
        match problem {
            Some((code, message)) => {
                self.error(channel, code, message, 0).await;
                false
            }
            None => true,
        }
    }

    async fn open_terminal(&mut self, channel: u32, open: v1::TermOpen) {
        if !self.can_open(channel).await {
            return;
        }
        let cwd = match self.gateway.resolve_dir(&open.cwd) {
            Ok(cwd) => cwd,
            Err((code, message)) => return self.error(channel, code, message, 0).await,
        };
        let spec = SpawnSpec {
            command: (!open.command.is_empty()).then_some(open.command),
            args: open.args,
            env: open.env.into_iter().collect(),
            cwd,
            size: clamp_size(open.size.as_ref()),
            term: if open.term.is_empty() {
                "xterm-256color".to_owned()
            } else {
                open.term
            },
        };
        match self.gateway.terminals.spawn(spec) {
            // From offset 0: what the program printed before we subscribed is its first output.
            Ok(terminal) => {
                let subscription = terminal.subscribe(0);
                self.start(channel, terminal, false, subscription, None)
                    .await;
            }
            Err(e) => {
                let code = if e.kind() == std::io::ErrorKind::NotFound {
                    ErrorCode::NotFound
                } else {
                    ErrorCode::Io
                };
                self.error(channel, code, format!("cannot start the program: {e}"), 0)
                    .await;
            }
        }
    }

    async fn attach(&mut self, channel: u32, attach: v1::Attach) {
        if !self.can_open(channel).await {
            return;
        }
        let terminal = match attach.target {
            Some(v1::attach::Target::TerminalId(id)) => self.gateway.terminals.get(TerminalId(id)),
            Some(v1::attach::Target::RunId(_)) => {
                return self
                    .error(
                        channel,
                        ErrorCode::Unsupported,
                        "agent runs are not supported yet",
                        0,
                    )
                    .await;
            }
            None => {
                return self
                    .error(
                        channel,
                        ErrorCode::InvalidArgument,
                        "attach names no target",
                        0,
                    )
                    .await;
            }
        };
        match terminal {
            Some(terminal) => {
                self.attach_terminal(channel, terminal, attach.read_only, attach.replay_from)
                    .await
            }
            None => {
                self.error(channel, ErrorCode::NotFound, "no such terminal", 0)
                    .await
            }
        }
    }

    /// Joins a running terminal: replays its output from `replay_from` if the log still holds
    /// it (an offset past the end means "from now on"), else sends a snapshot of the screen
    /// standing in for what is gone, then live output. Never a silent hole.
    async fn attach_terminal(
        &mut self,
        channel: u32,
        terminal: Arc<Terminal>,
        read_only: bool,
        replay_from: u64,
    ) {
        let subscription = terminal.subscribe(replay_from);
        if subscription.offset() <= replay_from {
            return self
                .start(channel, terminal, read_only, subscription, None)
                .await;
        }
        drop(subscription);
        // The output at `replay_from` is gone. The snapshot shows the screen at its own offset;
        // subscribing there can only fail if the log moved past it in between: try again.
        for _ in 0..SNAPSHOT_ATTEMPTS {
            let Some(snapshot) = terminal.snapshot().await else {
                return self
                    .error(channel, ErrorCode::NotFound, "the terminal has ended", 0)
                    .await;
            };
            let subscription = terminal.subscribe(snapshot.offset);
            if subscription.offset() != snapshot.offset {
                continue;
            }
            let body = Body::TermSnapshot(v1::TermSnapshot {
                skipped_bytes: snapshot.offset - replay_from,
                screen: snapshot.screen,
                scrollback: snapshot.scrollback,
                size: Some(term_size(snapshot.size)),
                output_offset: snapshot.offset,
                title: snapshot.title,
            });
            return self
                .start(channel, terminal, read_only, subscription, Some(body))
                .await;
        }
        self.error(
            channel,
            ErrorCode::Internal,
            "the terminal's output moves too fast to snapshot; try again",
            0,
        )
        .await;
    }

    /// Announces the terminal on the channel (then `first`, e.g. a snapshot) and starts
    /// carrying its output from the subscription's offset.
    async fn start(
        &mut self,
        channel: u32,
        terminal: Arc<Terminal>,
        read_only: bool,
        subscription: Subscription,
        first: Option<Body>,
    ) {
        let opened = v1::TermOpened {
            terminal_id: terminal.id.0,
            pid: terminal.pid,
            size: Some(term_size(terminal.size())),
            output_offset: subscription.offset(),
            read_only,
        };
        // Queued before the forwarder exists, so they precede every output frame.
        self.send(Outbound::new(channel, Body::TermOpened(opened)))
            .await;
        if let Some(first) = first {
            self.send(Outbound::new(channel, first)).await;
        }
        let forwarder = tokio::spawn(forward(channel, subscription, self.out.clone()));
        self.open.insert(
            channel,
            TermChannel {
                terminal,
                read_only,
                forwarder,
            },
        );
    }

    async fn input(&mut self, channel: u32, data: Bytes) {
        match self.channel(channel) {
            Some(c) if c.read_only => {
                self.error(channel, ErrorCode::PermissionDenied, "read-only attach", 0)
                    .await;
            }
            Some(c) => {
                let terminal = Arc::clone(&c.terminal);
                // Waits while the terminal's input queue is full (the program is not reading).
                // Input for a program that has just exited goes nowhere; its exit report is on
                // the way through the forwarder.
                let _ = terminal.write(data).await;
            }
            None => self.unknown_channel(channel).await,
        }
    }
}

/// Carries one subscription's events to the client until the terminal exits or the channel
/// closes (the task is aborted).
async fn forward(channel: u32, mut subscription: Subscription, out: mpsc::Sender<Outbound>) {
    while let Some(events) = subscription.next().await {
        for event in events {
            let body = match event {
                TermEvent::Output(data) => Body::TermData(v1::TermData { data }),
                TermEvent::Title(title) => Body::TermTitle(v1::TermTitle { title }),
                TermEvent::Clipboard { selection, data } => {
                    Body::TermClipboard(v1::TermClipboard { selection, data })
                }
                TermEvent::Exit(exit) => Body::TermExit(v1::TermExit {
                    code: exit.code,
                    signal: exit.signal,
                }),
            };
            // Backpressure: waits while the client is not reading.
            if out.send(Outbound::new(channel, body)).await.is_err() {
                return;
            }
        }
        subscription.consumed();
    }
}
