//! One terminal, whatever carries it: a devtail terminal, a local PTY, or an `ssh -tt`
//! session. The measurements are written once against [`Tty`] so every system runs exactly
//! the same programs and the same clock.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use devtail_client::{Terminal, TerminalEvent};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// A program's terminal: write keystrokes, read its output.
pub(crate) enum Tty {
    Devtail(Terminal),
    Pty {
        pty: pty_process::Pty,
        child: Child,
    },
    Ssh {
        child: Child,
        stdin: ChildStdin,
        stdout: ChildStdout,
    },
}

/// Read size for the PTY and ssh's stdout (a PTY hands out at most a few KiB at a time).
const READ_SIZE: usize = 64 * 1024;

impl Tty {
    /// Runs `sh -c script` in a new local PTY: the physical limit, no network, no gateway.
    pub(crate) fn local(script: &str) -> anyhow::Result<Self> {
        let (pty, pts) = pty_process::open().map_err(|e| anyhow::anyhow!("open a PTY: {e}"))?;
        pty.resize(pty_process::Size::new(50, 200))
            .map_err(|e| anyhow::anyhow!("size the PTY: {e}"))?;
        let child = pty_process::Command::new("/bin/sh")
            .args(["-c", script])
            .spawn(pts)
            .map_err(|e| anyhow::anyhow!("spawn sh in a PTY: {e}"))?;
        Ok(Self::Pty { pty, child })
    }

    /// An `ssh` command whose remote side runs in a PTY (`-tt`); stdin and stdout are ours.
    pub(crate) fn ssh(mut command: tokio::process::Command) -> anyhow::Result<Self> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("run ssh")?;
        let stdin = child.stdin.take().context("ssh stdin")?;
        let stdout = child.stdout.take().context("ssh stdout")?;
        Ok(Self::Ssh {
            child,
            stdin,
            stdout,
        })
    }

    pub(crate) async fn send(&mut self, data: &[u8]) -> anyhow::Result<()> {
        match self {
            Self::Devtail(terminal) => terminal.write(data.to_vec()).await?,
            Self::Pty { pty, .. } => pty.write_all(data).await?,
            Self::Ssh { stdin, .. } => {
                stdin.write_all(data).await?;
                stdin.flush().await?;
            }
        }
        Ok(())
    }

    /// The next piece of output; `None` once the program is gone.
    pub(crate) async fn recv(&mut self, buf: &mut Vec<u8>) -> anyhow::Result<Option<usize>> {
        match self {
            Self::Devtail(terminal) => loop {
                match terminal.next_event().await {
                    Some(TerminalEvent::Output(data)) => {
                        buf.clear();
                        buf.extend_from_slice(&data);
                        return Ok(Some(data.len()));
                    }
                    Some(TerminalEvent::Exit { .. }) | None => return Ok(None),
                    Some(TerminalEvent::Error { message, .. }) => bail!("terminal: {message}"),
                    Some(_) => {}
                }
            },
            Self::Pty { pty, .. } => {
                buf.resize(READ_SIZE, 0);
                match pty.read(buf).await {
                    Ok(0) => Ok(None),
                    Ok(n) => Ok(Some(n)),
                    // The last process holding the PTY's other side is gone.
                    Err(e) if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => {
                        Ok(None)
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Self::Ssh { stdout, .. } => {
                buf.resize(READ_SIZE, 0);
                match stdout.read(buf).await? {
                    0 => Ok(None),
                    n => Ok(Some(n)),
                }
            }
        }
    }

    /// Reads until `byte` arrives; whatever followed it in the same read is returned.
    pub(crate) async fn wait_for(&mut self, byte: u8) -> anyhow::Result<usize> {
        let mut buf = Vec::new();
        loop {
            let Some(n) = self.recv(&mut buf).await? else {
                bail!("the program ended before printing {:?}", byte as char);
            };
            if let Some(at) = buf[..n].iter().position(|&b| b == byte) {
                return Ok(n - at - 1);
            }
        }
    }

    /// Ends the program.
    pub(crate) async fn kill(self) -> anyhow::Result<()> {
        match self {
            Self::Devtail(terminal) => terminal.kill().await?,
            Self::Pty { mut child, .. } | Self::Ssh { mut child, .. } => {
                child.kill().await?;
            }
        }
        Ok(())
    }
}

/// Prints `R` once the terminal is raw, then waits for one byte before flooding: the clock
/// starts at that byte, so connection setup is not part of the figure.
pub(crate) fn flood_script(bytes: u64) -> String {
    format!(
        "stty raw -echo; printf R; head -c 1 >/dev/null; \
         yes 'devtail throughput: the quick brown fox jumps over the lazy dog 0123456789' | head -c {bytes}"
    )
}

/// `cat` in a raw terminal, `R` once ready.
pub(crate) const ECHO_SCRIPT: &str = "stty raw -echo; printf R; exec cat";

/// Prints forever (a build log scrolling by).
pub(crate) const ENDLESS_SCRIPT: &str =
    "stty raw -echo; printf R; exec yes 'bulk output line of a build log that scrolls by quickly'";

/// A prompt, then nothing: an idle terminal.
pub(crate) const IDLE_SCRIPT: &str = "stty raw -echo; printf 'idle R'; exec sleep 86400";

/// MB/s of `flood_script(bytes)` already running in `tty`: from the go byte to the last byte.
pub(crate) async fn throughput(mut tty: Tty, bytes: u64) -> anyhow::Result<f64> {
    let early = tty.wait_for(b'R').await?;
    anyhow::ensure!(early == 0, "output before the go byte");
    let start = Instant::now();
    tty.send(b"g").await?;
    let mut buf = Vec::new();
    let mut received = 0u64;
    while received < bytes {
        match tty.recv(&mut buf).await? {
            Some(n) => received += n as u64,
            None => break,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    anyhow::ensure!(
        received == bytes,
        "received {received} bytes, expected {bytes}"
    );
    let _ = tty.kill().await;
    Ok(received as f64 / secs / 1e6)
}

/// Keystroke echo latencies through `ECHO_SCRIPT` running in `tty`, one key every `interval`.
pub(crate) async fn echo(
    mut tty: Tty,
    keys: usize,
    interval: Duration,
) -> anyhow::Result<Vec<Duration>> {
    tty.wait_for(b'R').await?;
    let mut samples = Vec::with_capacity(keys);
    for i in 0..keys {
        let key = b'a' + (i % 26) as u8;
        let start = Instant::now();
        tty.send(&[key]).await?;
        tty.wait_for(key).await?;
        samples.push(start.elapsed());
        tokio::time::sleep(interval).await;
    }
    tty.kill().await?;
    Ok(samples)
}

/// Reads `ENDLESS_SCRIPT`'s output as fast as it comes until the returned handle is dropped.
pub(crate) async fn drain(mut tty: Tty) -> anyhow::Result<Drain> {
    tty.wait_for(b'R').await?;
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut buf = Vec::new();
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                read = tty.recv(&mut buf) => match read {
                    Ok(Some(_)) => {}
                    _ => break,
                },
            }
        }
        let _ = tty.kill().await;
    });
    Ok(Drain {
        _stop: stop,
        task: Some(task),
    })
}

/// A terminal being drained; [`Drain::stop`] ends its program.
pub(crate) struct Drain {
    _stop: tokio::sync::oneshot::Sender<()>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drain {
    pub(crate) async fn stop(mut self) {
        let task = self.task.take();
        drop(self);
        if let Some(task) = task {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

/// A program printing without pause in a terminal with its usual signal keys (not raw), `R`
/// first.
pub(crate) const INTERRUPTIBLE_SCRIPT: &str =
    "printf R; exec yes 'a build log scrolling by faster than anyone reads it'";

/// Ctrl-C while [`INTERRUPTIBLE_SCRIPT`] floods: the time from the key to the end of the
/// program's output as the client sees it (the program gone and everything it printed before
/// read).
pub(crate) async fn interrupt(mut tty: Tty, flood_for: Duration) -> anyhow::Result<Duration> {
    tty.wait_for(b'R').await?;
    let mut buf = Vec::new();
    let flooding = Instant::now();
    while flooding.elapsed() < flood_for {
        if tty.recv(&mut buf).await?.is_none() {
            bail!("the program ended before Ctrl-C");
        }
    }
    let start = Instant::now();
    tty.send(&[0x03]).await?;
    while tty.recv(&mut buf).await?.is_some() {}
    Ok(start.elapsed())
}
