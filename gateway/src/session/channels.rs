//! A session's channels: what each client frame does, and the terminal output each channel
//! carries back.
//!
//! Replies to client frames wait in [`Channels::next_reply`] for the session to number them.
//! Terminal output is polled by the session task itself ([`Channels::poll_output`]), straight
//! from each channel's subscription: no task or queue between the terminal and the session,
//! and a channel that is closed or restarted takes its unsent output with it.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;

use super::Outbound;
use crate::Gateway;
use crate::proto::v1::{self, ErrorCode, envelope::Body};
use crate::terminal::{
    Control, Snapshot, SpawnSpec, Subscription, TermEvent, Terminal, TerminalId, term_size,
};

/// Input a terminal could not take yet (its queue is full): the session stops reading client
/// frames until it is delivered.
pub(super) type PendingInput = (Arc<Terminal>, Bytes);

/// Snapshots tried when attaching to output that moves faster than a snapshot is taken.
const SNAPSHOT_ATTEMPTS: usize = 3;

/// Size of a terminal opened without one.
const DEFAULT_SIZE: (u16, u16) = (24, 80);

/// One open channel: its terminal, and the output on its way to the client.
#[derive(Debug)]
struct TermChannel {
    terminal: Arc<Terminal>,
    read_only: bool,
    /// Reads the terminal's output; dropping it (with the channel) detaches.
    subscription: Subscription,
    /// Frames taken from the subscription, to go out in order (one batch at most).
    ready: VecDeque<Body>,
    /// Output the log dropped before it was read is being replaced by a snapshot.
    catch_up: Option<CatchUp>,
    /// The channel's `TermOpened`, when it goes out just before the first snapshot (at the
    /// snapshot's offset).
    announce: Option<v1::TermOpened>,
    /// The exit was taken from the subscription: nothing more comes.
    finished: bool,
}

/// A snapshot standing in for output from `from` that is gone.
struct CatchUp {
    from: u64,
    /// Snapshots taken so far (the log can move past one before it is used).
    attempts: usize,
    snapshot: Pin<Box<dyn Future<Output = Option<Snapshot>> + Send + Sync>>,
}

impl std::fmt::Debug for CatchUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatchUp")
            .field("from", &self.from)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl CatchUp {
    fn new(terminal: &Arc<Terminal>, from: u64, attempts: usize) -> Self {
        let terminal = Arc::clone(terminal);
        Self {
            from,
            attempts: attempts + 1,
            snapshot: Box::pin(async move { terminal.snapshot().await }),
        }
    }
}

impl TermChannel {
    /// The channel's next frame: what is ready, else the subscription's news (or the
    /// snapshot standing in for output that is gone). Pending while there is none; the
    /// terminal (or the screen model) wakes the task.
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Body> {
        loop {
            if let Some(body) = self.ready.pop_front() {
                return Poll::Ready(body);
            }
            if let Some(catch_up) = &mut self.catch_up {
                let Poll::Ready(snapshot) = catch_up.snapshot.as_mut().poll(cx) else {
                    return Poll::Pending;
                };
                let (from, attempts) = (catch_up.from, catch_up.attempts);
                self.catch_up = None;
                self.caught_up(snapshot, from, attempts);
                continue;
            }
            if self.finished {
                return Poll::Pending;
            }
            let Poll::Ready(events) = self.subscription.poll_next(cx) else {
                return Poll::Pending;
            };
            let Some(events) = events else {
                self.finished = true;
                return Poll::Pending;
            };
            for event in events {
                self.ready.push_back(match event {
                    TermEvent::Output(data) => Body::TermData(v1::TermData { data }),
                    TermEvent::Title(title) => Body::TermTitle(v1::TermTitle { title }),
                    TermEvent::Clipboard { selection, data } => {
                        Body::TermClipboard(v1::TermClipboard { selection, data })
                    }
                    TermEvent::Exit(exit) => {
                        self.finished = true;
                        Body::TermExit(v1::TermExit {
                            code: exit.code,
                            signal: exit.signal,
                        })
                    }
                    TermEvent::Lost => {
                        self.catch_up =
                            Some(CatchUp::new(&self.terminal, self.subscription.offset(), 0));
                        continue;
                    }
                });
            }
        }
    }

    /// Moves the subscription to a snapshot's offset and queues the snapshot, with
    /// `skipped_bytes` counted from `from`. The screen model stands a little behind the newest
    /// output during a flood; if the log moved past the snapshot before it got here, another
    /// is taken, a few times.
    fn caught_up(&mut self, snapshot: Option<Snapshot>, from: u64, attempts: usize) {
        let body = match snapshot {
            None => Body::Error(v1::Error {
                code: ErrorCode::Internal as i32,
                message: "the terminal has ended and its screen is gone".to_owned(),
                request_id: 0,
            }),
            Some(snapshot) if self.subscription.skip_to(snapshot.offset) => {
                if let Some(mut opened) = self.announce.take() {
                    opened.output_offset = snapshot.offset;
                    self.ready.push_back(Body::TermOpened(opened));
                }
                Body::TermSnapshot(v1::TermSnapshot {
                    skipped_bytes: snapshot.offset.saturating_sub(from),
                    screen: snapshot.screen,
                    scrollback: snapshot.scrollback,
                    size: Some(term_size(snapshot.size)),
                    output_offset: snapshot.offset,
                    title: snapshot.title,
                })
            }
            Some(_) if attempts < SNAPSHOT_ATTEMPTS => {
                self.catch_up = Some(CatchUp::new(&self.terminal, from, attempts));
                return;
            }
            Some(_) => Body::Error(v1::Error {
                code: ErrorCode::Internal as i32,
                message: "the terminal's output moves too fast to snapshot; attach again"
                    .to_owned(),
                request_id: 0,
            }),
        };
        self.ready.push_back(body);
    }

    /// Everything the channel will carry has been taken: its number may be used again.
    fn done(&self) -> bool {
        self.finished && self.ready.is_empty()
    }
}

/// The channel table of one session.
#[derive(Debug)]
pub(super) struct Channels {
    gateway: Arc<Gateway>,
    open: HashMap<u32, TermChannel>,
    replies: VecDeque<Outbound>,
    /// Where the next look for output starts, so that every channel gets its turn.
    turn: usize,
    /// The session has no connection: new subscriptions start parked.
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
    pub(super) fn new(gateway: Arc<Gateway>) -> Self {
        Self {
            gateway,
            open: HashMap::new(),
            replies: VecDeque::new(),
            turn: 0,
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

    /// The next output frame of any channel, each channel in turn. Pending while there is
    /// none: the terminals wake the task.
    pub(super) fn poll_output(&mut self, cx: &mut Context<'_>) -> Poll<Outbound> {
        let count = self.open.len();
        let start = self.turn % count.max(1);
        for (skip, take) in [(start, count - start), (0, start)] {
            let channels = self.open.iter_mut().enumerate().skip(skip).take(take);
            for (i, (&channel, open)) in channels {
                if let Poll::Ready(body) = open.poll_frame(cx) {
                    self.turn = i + 1;
                    return Poll::Ready(Outbound::new(channel, body));
                }
            }
        }
        Poll::Pending
    }

    /// Parks (the session lost its connection) or unparks every channel's subscription.
    pub(super) fn park(&mut self, parked: bool) {
        self.parked = parked;
        for channel in self.open.values() {
            channel.terminal.park(channel.subscription.id(), parked);
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
            self.carry(
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
        self.open.retain(|_, c| !c.done());
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
    /// it (an offset past the end means "from now on"), else the channel first sends a
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
    /// gone) the announcement goes out just before the first snapshot, at its offset.
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
            // Numbered before the channel's first frame can be.
            self.push_reply(Outbound::new(channel, Body::TermOpened(opened)));
            None
        };
        self.carry(
            channel,
            terminal,
            read_only,
            subscription,
            announce,
            snapshot_from,
        );
    }

    /// Adds the channel, carrying the subscription's output; with `lost_from`, a snapshot
    /// first stands in for the output from there that is gone.
    fn carry(
        &mut self,
        channel: u32,
        terminal: Arc<Terminal>,
        read_only: bool,
        subscription: Subscription,
        announce: Option<v1::TermOpened>,
        lost_from: Option<u64>,
    ) {
        terminal.park(subscription.id(), self.parked);
        let catch_up = lost_from.map(|from| CatchUp::new(&terminal, from, 0));
        self.open.insert(
            channel,
            TermChannel {
                terminal,
                read_only,
                subscription,
                ready: VecDeque::new(),
                catch_up,
                announce,
                finished: false,
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
                // on its way.
                terminal.try_write(data).map(|data| (terminal, data))
            }
            None => {
                self.unknown_channel(channel);
                None
            }
        }
    }
}
