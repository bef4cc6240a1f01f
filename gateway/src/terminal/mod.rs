//! Terminals: processes in PTYs that live in the gateway independently of connections.
//!
//! One task per terminal owns the PTY (`task`): it writes input, reads output into an output
//! log, and reaps the process; a second follows the log with the screen model (`screen`:
//! titles, clipboard, cursor queries, snapshots). Clients *subscribe*: each subscription reads
//! the log from its own offset at its own pace, and the PTY is read only while the slowest
//! subscriber is less than 128 KiB behind — a client that stops reading stops the program (it
//! blocks on write), memory stays bounded. A subscriber whose session lost its connection,
//! spent its replay budget and stayed away a few seconds is *parked*: it no longer holds the
//! program back, and if the log drops output it had not read, it gets a snapshot instead. No thread per terminal: the PTY
//! master is non-blocking and driven by tokio's `AsyncFd`.

mod log;
pub mod screen;
mod task;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::proto::v1;
use log::OutputLog;
use screen::Screen;

/// Bytes of output a terminal keeps for subscribers to read (and, later, to replay).
const LOG_CAPACITY: usize = 256 << 10; // 256 KiB ≈ 3 full screens of a busy build log, ×10 of vim

/// The PTY is read only while the slowest subscriber has less than this unread.
const READ_WINDOW: u64 = 128 << 10; // 128 KiB: keeps ~1 s of fast output in flight, bounded

/// Most output bytes a subscriber takes in one frame: big frames for floods (fewer frames,
/// better compression), while interactive output goes out as soon as it is read.
pub(crate) const MAX_CHUNK: usize = 64 << 10;

/// Input chunks queued per terminal before the writer (the connection) waits.
const INPUT_QUEUE: usize = 64;

/// Control messages queued per terminal.
const CONTROL_QUEUE: usize = 16;

/// Gateway-wide terminal id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TerminalId(pub u64);

/// What to run in a new terminal.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// Program; `None` = the user's shell.
    pub command: Option<String>,
    /// Arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Working directory (already resolved inside the workspace).
    pub cwd: std::path::PathBuf,
    /// Rows and columns.
    pub size: (u16, u16),
    /// TERM value.
    pub term: String,
}

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    /// Exit status when it exited.
    pub code: i32,
    /// Signal number when killed by one, else 0.
    pub signal: u32,
}

/// Requests to a terminal's task.
#[derive(Debug)]
pub(crate) enum Control {
    Resize {
        rows: u16,
        cols: u16,
    },
    Signal(i32),
    /// Hang up (SIGHUP to the process group), then SIGKILL if it lingers.
    HangUp,
}

/// Where one subscriber stands.
#[derive(Debug, Clone, Copy)]
struct Reader {
    /// The offset it has consumed up to.
    offset: u64,
    /// Its session has no connection: it does not hold the PTY back (output it misses while
    /// parked and the log drops is replaced by a snapshot).
    parked: bool,
}

/// Mutable state shared between the terminal task and its subscribers. Locked briefly, never
/// across an `.await`.
#[derive(Debug)]
pub(crate) struct State {
    log: OutputLog,
    title: (u64, String),
    clipboard: (u64, String, Bytes),
    exit: Option<ExitInfo>,
    /// Per subscriber: where it stands.
    subscribers: HashMap<u64, Reader>,
    /// How far the screen model has read.
    screen_offset: u64,
    /// Resizes the screen model has yet to apply: (output offset, rows, cols).
    resizes: std::collections::VecDeque<(u64, u16, u16)>,
    size: (u16, u16),
    /// The screen as the model left it when the terminal ended, for snapshots after that.
    final_snapshot: Option<Snapshot>,
}

impl State {
    /// Unread bytes of the slowest reader: subscribers that are not parked, and the screen
    /// model.
    fn backlog(&self) -> u64 {
        let end = self.log.end();
        self.subscribers
            .values()
            .filter(|reader| !reader.parked)
            .map(|reader| reader.offset)
            .chain(std::iter::once(self.screen_offset))
            .map(|offset| end.saturating_sub(offset))
            .max()
            .unwrap_or(0)
    }

    /// Subscribers whose session is connected.
    fn attached(&self) -> usize {
        self.subscribers.values().filter(|r| !r.parked).count()
    }
}

/// One terminal, as seen by the registry and by subscribers.
#[derive(Debug)]
pub(crate) struct Terminal {
    pub(crate) id: TerminalId,
    pub(crate) pid: u32,
    command: String,
    args: Vec<String>,
    started_unix_ms: u64,
    state: Mutex<State>,
    /// Bumped whenever subscribers have something new (output, title, clipboard, exit).
    changed: watch::Sender<u64>,
    /// Wakes the task when a subscriber consumed output or left.
    progress: Notify,
    /// Wakes the screen model: output to parse (at once when it comes in small pieces, a
    /// batch at a time during a flood), a resize, the exit.
    screen_wake: Notify,
    input: mpsc::Sender<Bytes>,
    control: mpsc::Sender<Control>,
    /// Requests for a snapshot, answered by the screen model's task.
    snapshots: mpsc::Sender<oneshot::Sender<Snapshot>>,
    next_subscriber: AtomicU64,
}

impl Terminal {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated in a way that
        // matters more than losing the terminal: keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn info(&self) -> v1::TerminalInfo {
        let state = self.lock();
        v1::TerminalInfo {
            terminal_id: self.id.0,
            command: self.command.clone(),
            args: self.args.clone(),
            size: Some(term_size(state.size)),
            started_unix_ms: self.started_unix_ms,
            attached_clients: state.attached() as u32,
            title: state.title.1.clone(),
            pid: self.pid,
        }
    }

    pub(crate) fn size(&self) -> (u16, u16) {
        self.lock().size
    }

    /// The screen as the model shows it (at its offset, a little behind the newest output
    /// during a flood). `None` once the terminal has ended.
    pub(crate) async fn snapshot(&self) -> Option<Snapshot> {
        let (reply, answer) = oneshot::channel();
        if self.snapshots.send(reply).await.is_ok()
            && let Ok(snapshot) = answer.await
        {
            return Some(snapshot);
        }
        // The model has finished: the terminal ended and its last screen was kept.
        self.lock().final_snapshot.clone()
    }

    /// Parks or unparks subscriber `id` (see [`Subscription::id`]): a parked subscriber does
    /// not hold the PTY back.
    pub(crate) fn park(&self, id: u64, parked: bool) {
        if let Some(reader) = self.lock().subscribers.get_mut(&id) {
            reader.parked = parked;
        }
        self.progress.notify_one();
        // A subscriber that fell out of the log while parked catches up once unparked.
        self.changed.send_modify(|v| *v += 1);
    }

    /// Sends input, waiting while the terminal's input queue is full.
    pub(crate) async fn write(&self, data: Bytes) -> bool {
        // Backpressure: a program that does not read its input slows the sender down.
        self.input.send(data).await.is_ok()
    }

    /// Sends input if the terminal's input queue has room; gives it back when the queue is
    /// full. Input for a terminal whose program has ended is dropped.
    pub(crate) fn try_write(&self, data: Bytes) -> Option<Bytes> {
        match self.input.try_send(data) {
            Err(mpsc::error::TrySendError::Full(data)) => Some(data),
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => None,
        }
    }

    /// Sends a control request (resize, signal, hang-up).
    pub(crate) async fn control(&self, control: Control) {
        // Ignored when the task is gone: the terminal has exited.
        let _ = self.control.send(control).await;
    }

    /// Starts reading this terminal's output at `from`, clamped to what the log holds (an
    /// offset before its start begins at the start: check [`Subscription::offset`]; one past
    /// its end begins at the end).
    pub(crate) fn subscribe(self: &Arc<Self>, from: u64) -> Subscription {
        let id = self.next_subscriber.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        let end = state.log.end();
        let offset = from.clamp(state.log.start(), end);
        state.subscribers.insert(
            id,
            Reader {
                offset,
                parked: false,
            },
        );
        drop(state);
        Subscription {
            terminal: Arc::clone(self),
            id,
            offset,
            title_seen: 0,
            clipboard_seen: 0,
            changed: self.changed.subscribe(),
            finished: false,
        }
    }
}

pub(crate) fn term_size((rows, cols): (u16, u16)) -> v1::TermSize {
    v1::TermSize {
        rows: rows.into(),
        cols: cols.into(),
        width_px: 0,
        height_px: 0,
    }
}

/// The screen at an output offset, rendered for a client that cannot replay the output
/// before it.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// ANSI that redraws the screen on a cleared terminal.
    pub(crate) screen: Bytes,
    /// The scrollback tail, ANSI lines.
    pub(crate) scrollback: Bytes,
    pub(crate) size: (u16, u16),
    pub(crate) title: String,
    /// Output offset the snapshot shows the screen at; output continues from here.
    pub(crate) offset: u64,
}

/// How long an exited terminal stays attachable (for its last output and exit status).
const EXITED_LINGER: std::time::Duration = std::time::Duration::from_secs(60);

/// Snapshot requests queued per terminal.
const SNAPSHOT_QUEUE: usize = 8;

/// What a subscriber receives, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TermEvent {
    Output(Bytes),
    Title(String),
    Clipboard {
        selection: String,
        data: Bytes,
    },
    /// The log dropped output at the subscription's offset before it was read (the subscriber
    /// was parked): catch up with a snapshot ([`Subscription::skip_to`]). Alone in its batch.
    Lost,
    /// The process ended and all its output was delivered. Last event.
    Exit(ExitInfo),
}

/// A reader of one terminal's output. Dropping it detaches (the terminal runs on).
#[must_use = "dropping a subscription detaches from the terminal"]
#[derive(Debug)]
pub(crate) struct Subscription {
    terminal: Arc<Terminal>,
    id: u64,
    offset: u64,
    title_seen: u64,
    clipboard_seen: u64,
    changed: watch::Receiver<u64>,
    /// The exit was returned: nothing more will come.
    finished: bool,
}

impl Subscription {
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Its id, for [`Terminal::park`].
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn terminal(&self) -> &Arc<Terminal> {
        &self.terminal
    }

    /// Moves the read position to `offset` (a snapshot's), if the log still holds it.
    pub(crate) fn skip_to(&mut self, offset: u64) -> bool {
        let mut state = self.terminal.lock();
        if offset < state.log.start() || offset > state.log.end() {
            return false;
        }
        self.offset = offset;
        if let Some(reader) = state.subscribers.get_mut(&self.id) {
            reader.offset = offset;
        }
        true
    }

    /// The next events: output since the last call (up to [`MAX_CHUNK`]), a new title or
    /// clipboard write, and finally the exit. Waits while there is nothing new. `None` after
    /// the exit was returned.
    pub(crate) async fn next(&mut self) -> Option<Vec<TermEvent>> {
        loop {
            // Mark the current version seen before looking, so a change made while we look
            // wakes the next wait.
            self.changed.borrow_and_update();
            if self.finished {
                return None;
            }
            let mut events = Vec::new();
            {
                let state = self.terminal.lock();
                if self.offset < state.log.start() {
                    // Only a parked subscriber falls out of the log: the window holds the
                    // rest. While it is parked (its session away) nobody would see a
                    // snapshot: the catch-up waits for the unpark, and shows the screen as it
                    // is then, not as it was at some moment of the absence.
                    if !state.subscribers.get(&self.id).is_some_and(|r| r.parked) {
                        return Some(vec![TermEvent::Lost]);
                    }
                } else {
                    if state.title.0 > self.title_seen {
                        self.title_seen = state.title.0;
                        events.push(TermEvent::Title(state.title.1.clone()));
                    }
                    if state.clipboard.0 > self.clipboard_seen {
                        self.clipboard_seen = state.clipboard.0;
                        events.push(TermEvent::Clipboard {
                            selection: state.clipboard.1.clone(),
                            data: state.clipboard.2.clone(),
                        });
                    }
                    let chunk = state.log.read(self.offset, MAX_CHUNK);
                    if !chunk.is_empty() {
                        self.offset += chunk.len() as u64;
                        events.push(TermEvent::Output(chunk));
                    } else if let Some(exit) = state.exit {
                        events.push(TermEvent::Exit(exit));
                        self.finished = true;
                    }
                }
            }
            if !events.is_empty() {
                return Some(events);
            }
            if self.changed.changed().await.is_err() {
                // Cannot happen while we hold the terminal (it owns the sender).
                return None;
            }
        }
    }

    /// Tells the terminal the output returned so far has been delivered: the PTY may be read
    /// further.
    pub(crate) fn consumed(&self) {
        let mut state = self.terminal.lock();
        let end = state.log.end();
        if let Some(reader) = state.subscribers.get_mut(&self.id) {
            reader.offset = self.offset.min(end);
        }
        drop(state);
        self.terminal.progress.notify_one();
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.terminal.lock().subscribers.remove(&self.id);
        self.terminal.progress.notify_one();
    }
}

/// Every live terminal of the gateway.
#[derive(Debug, Default)]
pub struct Terminals {
    inner: Mutex<HashMap<TerminalId, Arc<Terminal>>>,
    next_id: AtomicU64,
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Terminals {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<TerminalId, Arc<Terminal>>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts `spec` in a new PTY. The terminal removes itself when its process has exited
    /// and its last output was read.
    pub(crate) fn spawn(self: &Arc<Self>, spec: SpawnSpec) -> std::io::Result<Arc<Terminal>> {
        let id = TerminalId(self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let (rows, cols) = spec.size;
        let running = task::start(&spec)?;
        let (input_tx, input_rx) = mpsc::channel(INPUT_QUEUE);
        let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE);
        let (snapshots_tx, snapshots_rx) = mpsc::channel(SNAPSHOT_QUEUE);
        let (changed, _) = watch::channel(0);
        let terminal = Arc::new(Terminal {
            id,
            pid: running.pid,
            command: running.command.clone(),
            args: spec.args.clone(),
            started_unix_ms: now_unix_ms(),
            state: Mutex::new(State {
                log: OutputLog::new(LOG_CAPACITY),
                title: (0, String::new()),
                clipboard: (0, String::new(), Bytes::new()),
                exit: None,
                subscribers: HashMap::new(),
                screen_offset: 0,
                resizes: std::collections::VecDeque::new(),
                size: (rows, cols),
                final_snapshot: None,
            }),
            changed,
            progress: Notify::new(),
            screen_wake: Notify::new(),
            input: input_tx,
            control: control_tx,
            snapshots: snapshots_tx,
            next_subscriber: AtomicU64::new(0),
        });
        self.map().insert(id, Arc::clone(&terminal));
        let registry = Arc::clone(self);
        let shared = Arc::clone(&terminal);
        let screen = tokio::spawn({
            let shared = Arc::clone(&terminal);
            async move { task::follow_screen(&shared, Screen::new(rows, cols), snapshots_rx).await }
        });
        tokio::spawn(async move {
            task::run(running, &shared, input_rx, control_rx).await;
            let _ = screen.await;
            // An exited terminal stays reachable for a while: a client that lost its
            // connection just then re-attaches and still gets the last output and the exit
            // status. Listings leave it out.
            tokio::time::sleep(EXITED_LINGER).await;
            registry.map().remove(&shared.id);
        });
        Ok(terminal)
    }

    pub(crate) fn get(&self, id: TerminalId) -> Option<Arc<Terminal>> {
        self.map().get(&id).cloned()
    }

    /// Live terminals, oldest first.
    pub(crate) fn list(&self) -> Vec<Arc<Terminal>> {
        let mut all: Vec<_> = self
            .map()
            .values()
            .filter(|t| t.lock().exit.is_none())
            .cloned()
            .collect();
        all.sort_by_key(|t| t.id);
        all
    }

    /// Hangs up every terminal (gateway shutdown).
    pub async fn hang_up_all(&self) {
        for terminal in self.list() {
            terminal.control(Control::HangUp).await;
        }
    }

    /// Number of live terminals (exited ones still lingering are not counted).
    pub fn len(&self) -> usize {
        self.list().len()
    }

    /// True when no terminal is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
