//! A session's channels: what each client frame does, and the forwarders that carry terminal
//! output back.
//!
//! Replies to client frames wait in [`Channels::next_reply`] for the session to number them.
//! Terminal output comes from one forwarder task per channel through a bounded queue; each
//! forwarder tags its frames with its channel's *generation*, so that frames of a channel that
//! was closed, reopened or restarted since are recognised and dropped.

use std::collections::{HashMap, VecDeque};
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

/// Terminal output frames queued towards the session, across its channels: at most 8 × 64 KiB
/// held outside the replay budget (the session drains the queue as fast as it is filled).
pub(super) const OUTPUT_QUEUE: usize = 8;

/// A frame from a forwarder: its channel's generation, and the frame (boxed: see
/// `link::Inbound`).
pub(super) type Output = (u64, Box<Outbound>);

/// Input a terminal could not take yet (its queue is full): the session stops reading client
/// frames until it is delivered.
pub(super) type PendingInput = (Arc<Terminal>, Bytes);

/// Snapshots tried when attaching to output that moves faster than a snapshot is taken.
const SNAPSHOT_ATTEMPTS: usize = 3;

/// Size of a terminal opened without one.
const DEFAULT_SIZE: (u16, u16) = (24, 80);

/// One open channel.
#[derive(Debug)]
struct TermChannel {
    terminal: Arc<Terminal>,
    read_only: bool,
    /// Tags this channel's output frames.
    generation: u64,
    /// The forwarder's subscription, for parking.
    subscriber: u64,
    /// Carries output to the client; aborting it drops the subscription (detach).
    forwarder: JoinHandle<()>,
}

impl Drop for TermChannel {
    fn drop(&mut self) {
        self.forwarder.abort();
    }
}

/// The channel table of one session.
#[derive(Debug)]
pub(super) struct Channels {
    gateway: Arc<Gateway>,
    out: mpsc::Sender<Output>,
    open: HashMap<u32, TermChannel>,
    replies: VecDeque<Outbound>,
    next_generation: u64,
    /// The session has no connection: new forwarders start parked.
    parked: bool,
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
    pub(super) fn new(gateway: Arc<Gateway>, out: mpsc::Sender<Output>) -> Self {
        Self {
            gateway,
            out,
            open: HashMap::new(),
            replies: VecDeque::new(),
            next_generation: 1,
            parked: false,
        }
    }

    /// Queues a reply for the session to number and send.
    pub(super) fn push_reply(&mut self, out: Outbound) {
        self.replies.push_back(out);
    }

    /// The next reply for the session to number and send.
    pub(super) fn next_reply(&mut self) -> Option<Outbound> {
        self.replies.pop_front()
    }

    /// Replies waiting.
    pub(super) fn replies(&self) -> usize {
        self.replies.len()
    }

    fn error(
        &mut self,
        channel: u32,
        code: ErrorCode,
        message: impl Into<String>,
        request_id: u64,
    ) {
        self.push_reply(Outbound::error(channel, code, message, request_id));
    }

    /// True when `generation` is the current one of `channel` (its output may go out).
    pub(super) fn is_current(&self, channel: u32, generation: u64) -> bool {
        self.open
            .get(&channel)
            .is_some_and(|c| c.generation == generation)
    }

    /// Parks (the session lost its connection) or unparks every channel's subscription.
    pub(super) fn park(&mut self, parked: bool) {
        self.parked = parked;
        for channel in self.open.values() {
            channel.terminal.park(channel.subscriber, parked);
        }
    }

    /// Repairs channels whose frames the replay budget dropped before the client got them
    /// (PROTOCOL.md §6): a terminal starts over from a snapshot of its screen; requests on the
    /// control channel are failed so the client retries them.
    pub(super) fn repair(&mut self, lost: &[u32]) {
        for &channel in lost {
            if channel == 0 {
                self.error(
                    0,
                    ErrorCode::ResourceExhausted,
                    "answers to earlier requests were dropped while disconnected; send them again",
                    0,
                );
                continue;
            }
            let Some(old) = self.open.remove(&channel) else {
                continue;
            };
            // How much the client missed is unknown: the snapshot counts from the newest output.
            let subscription = old.terminal.subscribe(u64::MAX);
            let from = subscription.offset();
            self.start_forwarder(
                channel,
                Arc::clone(&old.terminal),
                old.read_only,
                subscription,
                None,
                Some(from),
            );
        }
    }

    /// The channel, also when its terminal has ended: input that crossed the exit on the wire
    /// is dropped quietly, not answered with an error.
    fn channel(&self, id: u32) -> Option<&TermChannel> {
        self.open.get(&id)
    }

    /// Handles one client frame (heartbeats, acks, Hello and Close are the session's).
    /// Returns input its terminal cannot take yet.
    pub(super) async fn handle(&mut self, channel: u32, body: Body) -> Option<PendingInput> {
        match body {
            Body::TermOpen(open) => self.open_terminal(channel, open),
            Body::Attach(attach) => self.attach(channel, attach),
            Body::TermData(data) => return self.input(channel, data.data),
            Body::TermResize(resize) => {
                if let Some(c) = self.channel(channel) {
                    let (rows, cols) = clamp_size(resize.size.as_ref());
                    // Size rule: the last device to resize sets the terminal's size.
                    let terminal = Arc::clone(&c.terminal);
                    terminal.control(Control::Resize { rows, cols }).await;
                } else {
                    self.unknown_channel(channel);
                }
            }
            Body::TermSignal(signal) => match self.channel(channel) {
                Some(c) if c.read_only => {
                    self.error(channel, ErrorCode::PermissionDenied, "read-only attach", 0);
                }
                Some(c) => {
                    let terminal = Arc::clone(&c.terminal);
                    terminal
                        .control(Control::Signal(signal.signal as i32))
                        .await;
                }
                None => self.unknown_channel(channel),
            },
            Body::TermClose(close) => match self.open.remove(&channel) {
                Some(c) if close.kill && !c.read_only => c.terminal.control(Control::HangUp).await,
                Some(_) => {}
                None => self.unknown_channel(channel),
            },
            Body::Detach(_) => {
                if self.open.remove(&channel).is_none() {
                    self.unknown_channel(channel);
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
                self.push_reply(Outbound::new(0, Body::SessionListResult(result)));
            }
            other => {
                let message = format!("{} is not supported by this gateway yet", other.kind());
                self.error(
                    channel,
                    ErrorCode::Unsupported,
                    message,
                    other.request_id().unwrap_or(0),
                );
            }
        }
        None
    }

    fn unknown_channel(&mut self, channel: u32) {
        self.error(
            channel,
            ErrorCode::UnknownChannel,
            format!("channel {channel} is not open"),
            0,
        );
    }

    /// Checks that a new channel may be opened on `channel`.
    fn can_open(&mut self, channel: u32) -> bool {
        // Channels whose terminal ended make room, and their numbers may be used again.
        self.open.retain(|_, c| !c.forwarder.is_finished());
        let problem = if channel == 0 {
            Some((
                ErrorCode::InvalidArgument,
                "channel 0 is the control channel".to_owned(),
            ))
        } else if self.open.contains_key(&channel) {
            Some((
                ErrorCode::AlreadyExists,
                format!("channel {channel} is already open"),
            ))
        } else if self.open.len() >= self.gateway.config().max_channels {
            Some((
                ErrorCode::ResourceExhausted,
                format!(
                    "at most {} channels per session (the gateway's --max-channels): close one \
                     first",
                    self.gateway.config().max_channels
                ),
            ))
        } else {
            None
        };
        match problem {
            Some((code, message)) => {
                self.error(channel, code, message, 0);
                false
            }
            None => true,
        }
    }

    fn open_terminal(&mut self, channel: u32, open: v1::TermOpen) {
        if !self.can_open(channel) {
            return;
        }
        let cwd = match self.gateway.resolve_dir(&open.cwd) {
            Ok(cwd) => cwd,
            Err((code, message)) => return self.error(channel, code, message, 0),
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
                self.start(channel, terminal, false, subscription, None);
            }
            Err(e) => {
                let code = if e.kind() == std::io::ErrorKind::NotFound {
                    ErrorCode::NotFound
                } else {
                    ErrorCode::Io
                };
                self.error(channel, code, format!("cannot start the program: {e}"), 0);
            }
        }
    }

    fn attach(&mut self, channel: u32, attach: v1::Attach) {
        if !self.can_open(channel) {
            return;
        }
        let terminal = match attach.target {
            Some(v1::attach::Target::TerminalId(id)) => self.gateway.terminals.get(TerminalId(id)),
            Some(v1::attach::Target::RunId(_)) => {
                return self.error(
                    channel,
                    ErrorCode::Unsupported,
                    "agent runs are not supported yet",
                    0,
                );
            }
            None => {
                return self.error(
                    channel,
                    ErrorCode::InvalidArgument,
                    "attach names no target",
                    0,
                );
            }
        };
        match terminal {
            Some(terminal) => {
                self.attach_terminal(channel, terminal, attach.read_only, attach.replay_from);
            }
            None => self.error(channel, ErrorCode::NotFound, "no such terminal", 0),
        }
    }

    /// Joins a running terminal: replays its output from `replay_from` if the log still holds
    /// it (an offset past the end means "from now on"), else the forwarder first sends a
    /// snapshot of the screen standing in for what is gone. Never a silent hole.
    fn attach_terminal(
        &mut self,
        channel: u32,
        terminal: Arc<Terminal>,
        read_only: bool,
        replay_from: u64,
    ) {
        let subscription = terminal.subscribe(replay_from);
        let lost = (subscription.offset() > replay_from).then_some(replay_from);
        self.start(channel, terminal, read_only, subscription, lost);
    }

    /// Announces the terminal on the channel and starts carrying its output from the
    /// subscription's offset. With `snapshot_from` (the output offset the client asked for is
    /// gone) the forwarder announces it instead, at the offset of the snapshot it sends first.
    fn start(
        &mut self,
        channel: u32,
        terminal: Arc<Terminal>,
        read_only: bool,
        subscription: Subscription,
        snapshot_from: Option<u64>,
    ) {
        let opened = v1::TermOpened {
            terminal_id: terminal.id.0,
            pid: terminal.pid,
            size: Some(term_size(terminal.size())),
            output_offset: subscription.offset(),
            read_only,
        };
        let announce = if snapshot_from.is_some() {
            Some(opened)
        } else {
            // Numbered before the forwarder's first frame can be.
            self.push_reply(Outbound::new(channel, Body::TermOpened(opened)));
            None
        };
        self.start_forwarder(
            channel,
            terminal,
            read_only,
            subscription,
            announce,
            snapshot_from,
        );
    }

    fn start_forwarder(
        &mut self,
        channel: u32,
        terminal: Arc<Terminal>,
        read_only: bool,
        subscription: Subscription,
        announce: Option<v1::TermOpened>,
        snapshot_from: Option<u64>,
    ) {
        let generation = self.next_generation;
        self.next_generation += 1;
        let subscriber = subscription.id();
        terminal.park(subscriber, self.parked);
        let forwarder = tokio::spawn(forward(
            channel,
            generation,
            subscription,
            announce,
            snapshot_from,
            self.out.clone(),
        ));
        self.open.insert(
            channel,
            TermChannel {
                terminal,
                read_only,
                generation,
                subscriber,
                forwarder,
            },
        );
    }

    /// Input for a terminal; returns what it cannot take yet.
    pub(super) fn input(&mut self, channel: u32, data: Bytes) -> Option<PendingInput> {
        match self.channel(channel) {
            Some(c) if c.read_only => {
                self.error(channel, ErrorCode::PermissionDenied, "read-only attach", 0);
                None
            }
            Some(c) => {
                let terminal = Arc::clone(&c.terminal);
                // Input for a program that has just exited goes nowhere; its exit report is
                // on the way through the forwarder.
                terminal.try_write(data).map(|data| (terminal, data))
            }
            None => {
                self.unknown_channel(channel);
                None
            }
        }
    }
}

/// Carries one subscription's events to the session until the terminal exits or the channel
/// closes (the task is aborted). Output the log dropped before it was read (while the session
/// was away, or before an attach's `replay_from`) is replaced by a snapshot, counting the
/// skipped bytes from `lost_from`; `announce` is the channel's `TermOpened`, sent before the
/// first snapshot at its offset.
async fn forward(
    channel: u32,
    generation: u64,
    mut subscription: Subscription,
    mut announce: Option<v1::TermOpened>,
    mut lost_from: Option<u64>,
    out: mpsc::Sender<Output>,
) {
    let send = |body| out.send((generation, Box::new(Outbound::new(channel, body))));
    loop {
        if let Some(from) = lost_from.take() {
            let body = match catch_up(&mut subscription, from).await {
                Ok(snapshot) => {
                    if let Some(mut opened) = announce.take() {
                        opened.output_offset = snapshot.output_offset;
                        if send(Body::TermOpened(opened)).await.is_err() {
                            return;
                        }
                    }
                    Body::TermSnapshot(snapshot)
                }
                Err(message) => Body::Error(v1::Error {
                    code: ErrorCode::Internal as i32,
                    message,
                    request_id: 0,
                }),
            };
            if send(body).await.is_err() {
                return;
            }
        }
        let Some(events) = subscription.next().await else {
            return;
        };
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
                TermEvent::Lost => {
                    lost_from = Some(subscription.offset());
                    continue;
                }
            };
            // Backpressure: waits while the session is not taking output.
            if send(body).await.is_err() {
                return;
            }
        }
        subscription.consumed();
    }
}

/// Moves a subscription whose output is gone to the screen's current state: the snapshot to
/// send, with `skipped_bytes` counted from `from`. The screen model stands a little behind the
/// newest output during a flood; if the log moves past it before the subscription gets there,
/// try again.
async fn catch_up(subscription: &mut Subscription, from: u64) -> Result<v1::TermSnapshot, String> {
    let terminal = Arc::clone(subscription.terminal());
    for _ in 0..SNAPSHOT_ATTEMPTS {
        let Some(snapshot) = terminal.snapshot().await else {
            return Err("the terminal has ended and its screen is gone".to_owned());
        };
        if !subscription.skip_to(snapshot.offset) {
            continue;
        }
        return Ok(v1::TermSnapshot {
            skipped_bytes: snapshot.offset.saturating_sub(from),
            screen: snapshot.screen,
            scrollback: snapshot.scrollback,
            size: Some(term_size(snapshot.size)),
            output_offset: snapshot.offset,
            title: snapshot.title,
        });
    }
    Err("the terminal's output moves too fast to snapshot; attach again".to_owned())
}
