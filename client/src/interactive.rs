//! The interactive terminal of `devtail term` and `devtail attach`: local raw mode, keys in,
//! output out, window size changes forwarded, and the detach key.

use std::io::Write as _;

use devtail_client::{ReconnectEvent, ReconnectingTerminal, TerminalEvent};
use tokio::io::AsyncReadExt as _;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// First key of the escape sequence: Ctrl-\.
const ESCAPE: u8 = 0x1c;
/// After the escape key: detach.
const DETACH: u8 = b'd';

/// How long a gateway notice (rate limiting) stays on the status line.
const NOTICE_SHOWN: std::time::Duration = std::time::Duration::from_secs(5);

/// The local terminal's size, or 24×80 when there is none.
pub(crate) fn local_size() -> (u16, u16) {
    crossterm::terminal::size().map_or((24, 80), |(cols, rows)| (rows, cols))
}

/// Restores the local terminal on every way out, panics included.
struct RawMode {
    active: bool,
}

impl RawMode {
    fn enable() -> Self {
        let active = crossterm::terminal::enable_raw_mode().is_ok();
        if active {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let _ = crossterm::terminal::disable_raw_mode();
                previous(info);
            }));
        }
        Self { active }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if self.active {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
}

/// What the key reader found.
#[derive(Debug)]
enum Keys {
    Input(Vec<u8>),
    Detach,
}

/// Splits typed bytes into input and the detach command. `pending_escape` carries a lone
/// escape key over to the next read.
fn scan_keys(bytes: &[u8], pending_escape: &mut bool) -> Vec<Keys> {
    let mut out = Vec::new();
    let mut input = Vec::with_capacity(bytes.len());
    for &b in bytes {
        if *pending_escape {
            *pending_escape = false;
            match b {
                DETACH => {
                    if !input.is_empty() {
                        out.push(Keys::Input(std::mem::take(&mut input)));
                    }
                    out.push(Keys::Detach);
                    return out;
                }
                ESCAPE => input.push(ESCAPE),
                other => input.extend_from_slice(&[ESCAPE, other]),
            }
        } else if b == ESCAPE {
            *pending_escape = true;
        } else {
            input.push(b);
        }
    }
    if !input.is_empty() {
        out.push(Keys::Input(input));
    }
    out
}

/// Shows `text` in reverse video on the bottom row, leaving the cursor where it was. Cut to
/// the width: a line running past the last column would scroll the screen.
fn status_line(out: &mut impl std::io::Write, text: &str) -> std::io::Result<()> {
    let (rows, cols) = local_size();
    let fits: String = text
        .chars()
        .take(usize::from(cols).saturating_sub(2))
        .collect();
    write!(out, "\x1b7\x1b[{rows};1H\x1b[7m {fits} \x1b[0m\x1b[K\x1b8")?;
    out.flush()
}

/// Takes the status line away, and nudges full-screen programs into redrawing the row it
/// covered: two size changes make the kernel send SIGWINCH.
async fn clear_status_line(
    out: &mut impl std::io::Write,
    input: &devtail_client::InputSender,
    read_only: bool,
) -> anyhow::Result<()> {
    let (rows, cols) = local_size();
    write!(out, "\x1b7\x1b[{rows};1H\x1b[2K\x1b8")?;
    out.flush()?;
    if !read_only {
        input.resize(rows.saturating_sub(1).max(1), cols).await?;
        input.resize(rows, cols).await?;
    }
    Ok(())
}

/// Runs the terminal interactively until it exits or the user detaches. Connection drops
/// show a status line while it reconnects. Returns the exit status to leave with.
pub(crate) async fn run(
    mut terminal: ReconnectingTerminal,
    read_only: bool,
) -> anyhow::Result<i32> {
    let raw = RawMode::enable();
    let input = terminal.input();
    let (keys_tx, mut keys_rx) = mpsc::channel::<Keys>(64);
    tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; 4096];
        let mut pending_escape = false;
        while let Ok(n @ 1..) = stdin.read(&mut buf).await {
            for keys in scan_keys(&buf[..n], &mut pending_escape) {
                if keys_tx.send(keys).await.is_err() {
                    return;
                }
            }
        }
    });
    let mut winch = signal(SignalKind::window_change())?;
    if !read_only {
        let (rows, cols) = local_size();
        input.resize(rows, cols).await?;
    }
    let mut stdout = std::io::stdout().lock();
    // A notice on the status line is taken away at this moment.
    let mut notice_until: Option<tokio::time::Instant> = None;
    let status = loop {
        tokio::select! {
            event = terminal.next_event() => match event {
                Some(ReconnectEvent::Terminal(TerminalEvent::Output(data))) => {
                    stdout.write_all(&data)?;
                    stdout.flush()?;
                }
                Some(ReconnectEvent::Terminal(TerminalEvent::Title(title))) => {
                    // Pass the title on to the local terminal.
                    write!(stdout, "\x1b]2;{title}\x07")?;
                    stdout.flush()?;
                }
                Some(ReconnectEvent::Terminal(TerminalEvent::Snapshot { screen, scrollback, .. })) => {
                    // Clear, then the scrollback tail, then the screen as it is.
                    stdout.write_all(b"\x1b[0m\x1b[H\x1b[2J")?;
                    stdout.write_all(&scrollback)?;
                    stdout.write_all(&screen)?;
                    stdout.flush()?;
                }
                Some(ReconnectEvent::Terminal(TerminalEvent::Exit { code, signal })) => {
                    break TerminalEvent::exit_status(code, signal);
                }
                Some(ReconnectEvent::Terminal(TerminalEvent::Error { message, .. })) => {
                    drop(raw);
                    anyhow::bail!("gateway: {message}");
                }
                Some(ReconnectEvent::Terminal(TerminalEvent::Clipboard { .. })) => {}
                Some(ReconnectEvent::Reconnecting { attempt, reason }) => {
                    // The connection's state takes the line over until it is back.
                    notice_until = None;
                    status_line(&mut stdout, &format!(
                        "devtail: connection lost ({reason}) · reconnecting, attempt {attempt} · keys are kept"
                    ))?;
                }
                Some(ReconnectEvent::Reconnected) => {
                    clear_status_line(&mut stdout, &input, read_only).await?;
                }
                Some(ReconnectEvent::Notice(notice)) => {
                    status_line(&mut stdout, &format!("devtail: {}", notice.message))?;
                    notice_until = Some(tokio::time::Instant::now() + NOTICE_SHOWN);
                }
                None => {
                    drop(raw);
                    anyhow::bail!("the terminal ended without an exit status");
                }
            },
            keys = keys_rx.recv() => match keys {
                Some(Keys::Input(bytes)) if !read_only => input.write(bytes).await?,
                Some(Keys::Input(_)) => {}
                Some(Keys::Detach) => {
                    let id = terminal.id();
                    terminal.close().await;
                    drop(raw);
                    eprintln!("\r\n[detached from terminal {id}; reattach with: devtail attach {id}]");
                    return Ok(0);
                }
                // Local input ended: keep showing output until the program exits.
                None => {}
            },
            () = tokio::time::sleep_until(notice_until.unwrap_or_else(tokio::time::Instant::now)),
                if notice_until.is_some() =>
            {
                notice_until = None;
                clear_status_line(&mut stdout, &input, read_only).await?;
            }
            _ = winch.recv(), if !read_only => {
                let (rows, cols) = local_size();
                input.resize(rows, cols).await?;
            }
        }
    };
    drop(raw);
    terminal.close().await;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(keys: &[Keys]) -> Vec<Vec<u8>> {
        keys.iter()
            .filter_map(|k| match k {
                Keys::Input(b) => Some(b.clone()),
                Keys::Detach => None,
            })
            .collect()
    }

    #[test]
    fn detach_key_is_recognised_across_reads() {
        let mut pending = false;
        let keys = scan_keys(b"ls\r\x1c", &mut pending);
        assert_eq!(inputs(&keys), vec![b"ls\r".to_vec()]);
        assert!(pending);
        let keys = scan_keys(b"d", &mut pending);
        assert!(matches!(keys.as_slice(), [Keys::Detach]));

        let mut pending = false;
        let keys = scan_keys(b"a\x1c\x1cb\x1cx", &mut pending);
        assert_eq!(inputs(&keys), vec![b"a\x1cb\x1cx".to_vec()]);
        assert!(!pending);
    }
}
