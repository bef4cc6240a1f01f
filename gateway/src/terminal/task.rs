//! The task that owns one PTY: input in, output out (into the log), resize and signals, and
//! reaping the process — all in one `select!` loop, no thread. The screen model follows the
//! log in a task of its own ([`follow_screen`]), so parsing never delays the bytes; while a
//! program floods, it is woken a batch at a time ([`SCREEN_BATCH`]).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rustix::process::{Pid, Signal};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::screen::{Screen, ScreenEvent};
use super::{Control, ExitInfo, READ_WINDOW, Snapshot, SpawnSpec, Terminal};

/// Bytes read from the PTY per call. Linux hands out at most ~4 KiB per read of a PTY; a larger
/// buffer lets one wake-up drain several.
const READ_BUF: usize = 16 << 10;

/// A read at least this long means the program is printing without pause (the kernel hands
/// out at most about 4 KiB of a PTY at once): the screen model is then woken per
/// [`SCREEN_BATCH`], not per read.
const FLOOD_READ: usize = 2 << 10;

/// Output the screen model is left behind by while a program floods, before it is woken: it
/// parses one large piece instead of a wake-up (often on the other core) per 4 KiB read.
const SCREEN_BATCH: u64 = 64 << 10;

/// Most output the screen model takes at once: the larger the piece, the more of a flood's
/// lines scroll out within it and go unparsed (see `Screen::process`). As much as the PTY is
/// read ahead of the slowest reader.
const SCREEN_READ: usize = READ_WINDOW as usize;

/// Longest the screen model waits for the rest of a batch: output that ends on a full read
/// reaches it this late at the most.
const SCREEN_DELAY: Duration = Duration::from_millis(5);

/// After the process exited, output still arriving (from children that kept the PTY open) is
/// collected until this much quiet passes.
const DRAIN_QUIET: Duration = Duration::from_millis(200);

/// Output pause after which the screen model compacts the lines that scrolled by.
const COMPACT_AFTER: Duration = Duration::from_millis(500);

/// After SIGHUP, a process that is still alive after this long gets SIGKILL.
const HANGUP_GRACE: Duration = Duration::from_secs(3);

/// Environment variables never passed to programs: they hold devtail's own secrets.
const SCRUBBED_ENV: &[&str] = &["DEVTAIL_TOKEN"];

/// A spawned process in its PTY, before its task starts.
pub(super) struct Running {
    pty: pty_process::Pty,
    child: tokio::process::Child,
    pub(super) pid: u32,
    pub(super) command: String,
}

/// Opens a PTY and starts the program in it (a new session with the PTY as controlling
/// terminal).
pub(super) fn start(spec: &SpawnSpec) -> std::io::Result<Running> {
    let (rows, cols) = spec.size;
    let (pty, pts) = pty_process::open().map_err(std::io::Error::other)?;
    pty.resize(pty_process::Size::new(rows, cols))
        .map_err(std::io::Error::other)?;
    let (program, login) = match &spec.command {
        Some(command) => (command.clone(), false),
        None => (
            std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".to_owned()),
            true,
        ),
    };
    let mut cmd = pty_process::Command::new(&program)
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .env("TERM", &spec.term)
        .envs(spec.env.iter().map(|(k, v)| (k, v)));
    for name in SCRUBBED_ENV {
        cmd = cmd.env_remove(name);
    }
    if login {
        // A leading '-' in argv[0] asks a shell to act as a login shell.
        let base = program.rsplit('/').next().unwrap_or(&program);
        cmd = cmd.arg0(format!("-{base}"));
    }
    let child = cmd.spawn(pts).map_err(|e| match e {
        pty_process::Error::Io(e) => std::io::Error::new(e.kind(), format!("{program}: {e}")),
        other => std::io::Error::other(format!("{program}: {other}")),
    })?;
    // `pts` was moved into spawn and is closed now: EOF (EIO) on the master means every
    // holder of the slave side has gone.
    let pid = child.id().unwrap_or(0);
    Ok(Running {
        pty,
        child,
        pid,
        command: program,
    })
}

fn exit_info(status: std::process::ExitStatus) -> ExitInfo {
    use std::os::unix::process::ExitStatusExt as _;
    ExitInfo {
        code: status.code().unwrap_or(0),
        signal: status.signal().map_or(0, |s| s as u32),
    }
}

fn signal_group(pid: u32, signal: Signal) {
    if let Some(pid) = Pid::from_raw(pid as i32) {
        // The process is the leader of its own session and process group.
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

/// Runs the terminal until its process has exited and its output has drained.
pub(super) async fn run(
    running: Running,
    terminal: &Terminal,
    mut input: mpsc::Receiver<Bytes>,
    mut control: mpsc::Receiver<Control>,
) {
    let Running {
        pty,
        mut child,
        pid,
        ..
    } = running;
    // A second descriptor of the master, to ask for the foreground process group.
    let master = rustix::io::fcntl_dupfd_cloexec(&pty, 0).ok();
    let (mut reader, mut writer) = pty.into_split();
    let mut buf = BytesMut::with_capacity(READ_BUF);
    // Input being written: one chunk at a time, written as the PTY accepts it, so that output
    // keeps flowing while a program is slow to read its input.
    let mut pending = Bytes::new();
    let mut eof = false;
    let mut exit: Option<ExitInfo> = None;
    let mut drain_until: Option<Instant> = None;
    let mut kill_at: Option<Instant> = None;
    let far = Instant::now() + Duration::from_secs(86_400 * 365);
    // Output the screen model has not been woken for yet (see `SCREEN_BATCH`): when it will be.
    let mut screen_due: Option<Instant> = None;
    let mut screen_timer = devtail_rt::Timer::new();

    loop {
        let window_open = terminal.lock().backlog() < READ_WINDOW;
        screen_timer.set(screen_due.map(Instant::into_std));
        tokio::select! {
            biased;
            Some(request) = control.recv() => match request {
                Control::Resize { rows, cols } => {
                    if writer.resize(pty_process::Size::new(rows, cols)).is_ok() {
                        let mut state = terminal.lock();
                        state.size = (rows, cols);
                        // The screen model resizes when it reaches this point of the output.
                        let at = state.log.end();
                        state.resizes.push_back((at, rows, cols));
                        drop(state);
                        terminal.screen_wake.notify_one();
                        screen_due = None;
                    }
                }
                Control::Signal(number) => {
                    if let Some(signal) = Signal::from_named_raw(number) {
                        // The foreground job, as a keyboard signal would reach it.
                        let group = master
                            .as_ref()
                            .and_then(|fd| rustix::termios::tcgetpgrp(fd).ok())
                            .map_or(pid, |p| p.as_raw_pid() as u32);
                        signal_group(group, signal);
                    }
                }
                Control::HangUp => {
                    signal_group(pid, Signal::HUP);
                    kill_at.get_or_insert(Instant::now() + HANGUP_GRACE);
                }
            },
            written = writer.write(&pending), if !pending.is_empty() => match written {
                Ok(n) => {
                    let _ = pending.split_to(n);
                }
                // The program is gone: its input goes nowhere.
                Err(_) => pending = Bytes::new(),
            },
            Some(data) = input.recv(), if pending.is_empty() && exit.is_none() => pending = data,
            read = reader.read_buf(&mut buf), if window_open && !eof => match read {
                Ok(0) | Err(_) => eof = true, // EIO: every holder of the PTY's slave side is gone
                Ok(n) => {
                    let behind = {
                        let mut state = terminal.lock();
                        state.log.append(&buf);
                        state.log.end() - state.screen_offset
                    };
                    buf.clear();
                    terminal.changed.send_modify(|v| *v += 1);
                    if n < FLOOD_READ || behind >= SCREEN_BATCH {
                        terminal.screen_wake.notify_one();
                        screen_due = None;
                    } else {
                        screen_due.get_or_insert_with(|| Instant::now() + SCREEN_DELAY);
                    }
                    if drain_until.is_some() {
                        drain_until = Some(Instant::now() + DRAIN_QUIET);
                    }
                }
            },
            () = terminal.progress.notified(), if !window_open => {}
            () = screen_timer.wait(), if screen_due.is_some() => {
                terminal.screen_wake.notify_one();
                screen_due = None;
            }
            status = child.wait(), if exit.is_none() => {
                exit = Some(status.map_or(ExitInfo { code: 1, signal: 0 }, exit_info));
                drain_until = Some(Instant::now() + DRAIN_QUIET);
            }
            () = tokio::time::sleep_until(drain_until.unwrap_or(far)), if drain_until.is_some() && !eof => {
                eof = true;
            }
            () = tokio::time::sleep_until(kill_at.unwrap_or(far)), if kill_at.is_some() && exit.is_none() => {
                signal_group(pid, Signal::KILL);
                kill_at = None;
            }
        }
        if let (true, Some(exit)) = (eof, exit) {
            terminal.lock().exit = Some(exit);
            terminal.changed.send_modify(|v| *v += 1);
            terminal.screen_wake.notify_one();
            return;
        }
    }
}

/// Feeds the terminal's output, as it lands in the log, to the screen model; publishes what
/// the model finds (title, clipboard) and answers cursor queries nobody else will. Runs until
/// the terminal has exited and its output is consumed. The model counts as a reader of the log,
/// so it never falls behind what the log holds.
pub(super) async fn follow_screen(
    terminal: &Terminal,
    mut screen: Screen,
    mut snapshots: mpsc::Receiver<oneshot::Sender<Snapshot>>,
) {
    loop {
        // The model stands exactly at `screen_offset` here: answer snapshot requests.
        while let Ok(reply) = snapshots.try_recv() {
            let _ = reply.send(snapshot(terminal, &screen));
        }
        let (chunk, resize, exited) = {
            let state = terminal.lock();
            // Stop at the next resize, so that it applies exactly where it happened.
            let until = state.resizes.front().map_or(u64::MAX, |&(at, ..)| at);
            let max = SCREEN_READ.min(
                usize::try_from(until.saturating_sub(state.screen_offset)).unwrap_or(SCREEN_READ),
            );
            let chunk = state.log.read(state.screen_offset, max);
            let offset = state.screen_offset + chunk.len() as u64;
            let resize = state
                .resizes
                .front()
                .copied()
                .filter(|&(at, ..)| at <= offset);
            (
                chunk,
                resize,
                state.exit.is_some() && offset == state.log.end(),
            )
        };
        let events = screen.process(&chunk);
        let mut answers = Vec::new();
        let news;
        {
            let mut state = terminal.lock();
            state.screen_offset += chunk.len() as u64;
            if let Some((_, rows, cols)) = resize {
                screen.resize(rows, cols);
                state.resizes.pop_front();
            }
            let attached = state.attached() > 0;
            news = events
                .iter()
                .any(|e| !matches!(e, ScreenEvent::CursorReport(_)));
            for event in events {
                match event {
                    ScreenEvent::Title(title) => state.title = (state.title.0 + 1, title),
                    ScreenEvent::Clipboard { selection, data } => {
                        state.clipboard = (state.clipboard.0 + 1, selection, Bytes::from(data));
                    }
                    // With a client attached, its terminal answers (it sees the query).
                    ScreenEvent::CursorReport(answer) if !attached => answers.push(answer),
                    ScreenEvent::CursorReport(_) => {}
                }
            }
        }
        terminal.progress.notify_one();
        if news {
            // Subscribers pick up the new title or clipboard.
            terminal.changed.send_modify(|v| *v += 1);
        }
        for answer in answers {
            // Best effort: a program that floods its input queue does not get an answer.
            let _ = terminal.input.try_send(Bytes::from(answer));
        }
        if exited {
            let last = snapshot(terminal, &screen);
            terminal.lock().final_snapshot = Some(last);
            return;
        }
        if chunk.is_empty() && resize.is_none() {
            // Caught up with the output. Once it has paused for a moment, render what
            // scrolled by into the compact scrollback (doing it at every catch-up would render
            // most lines of a flood only to drop them).
            let pause = tokio::time::sleep(COMPACT_AFTER);
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    () = terminal.screen_wake.notified() => break,
                    Some(reply) = snapshots.recv() => {
                        let _ = reply.send(snapshot(terminal, &screen));
                    }
                    () = &mut pause, if screen.has_raw_scrollback() => screen.compact(),
                }
            }
        }
    }
}

/// Scrollback lines a snapshot carries (all the model keeps).
const SNAPSHOT_SCROLLBACK_LINES: usize = 200;

/// The screen as the model shows it now, at output offset `screen_offset`.
fn snapshot(terminal: &Terminal, screen: &Screen) -> Snapshot {
    let (rows, cols) = screen.size();
    Snapshot {
        screen: Bytes::from(screen.render_screen()),
        scrollback: Bytes::from(screen.render_scrollback(SNAPSHOT_SCROLLBACK_LINES)),
        size: (rows, cols),
        title: screen.title().to_owned(),
        offset: terminal.lock().screen_offset,
    }
}
