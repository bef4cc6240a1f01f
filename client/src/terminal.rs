//! A remote terminal on one channel: write input, read events.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::connection::{ClientError, Outbound, Shared, bytes_body};
use devtail_proto::v1::{self, envelope::Body};

/// Something that happened in a remote terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalEvent {
    /// Output bytes.
    Output(Bytes),
    /// The program set the window title.
    Title(String),
    /// The program wrote to the clipboard (OSC 52).
    Clipboard {
        /// Selection letters ("c", "p", …).
        selection: String,
        /// Decoded bytes.
        data: Bytes,
    },
    /// The process ended: exit code, or the signal that killed it. Last event.
    Exit {
        /// Exit status (when not killed).
        code: i32,
        /// Signal number, 0 if none.
        signal: u32,
    },
    /// The screen as it is, standing in for `skipped_bytes` of output the gateway no longer
    /// holds: clear the screen, write `scrollback` then `screen`; output continues after it.
    Snapshot {
        /// Output bytes that were never sent.
        skipped_bytes: u64,
        /// ANSI that redraws the screen on a cleared terminal.
        screen: Bytes,
        /// The scrollback tail, as ANSI lines.
        scrollback: Bytes,
        /// The terminal's output offset the snapshot shows; output continues from here.
        output_offset: u64,
    },
    /// The gateway reported an error on this channel.
    Error {
        /// Wire error code.
        code: i32,
        /// The gateway's message.
        message: String,
    },
}

impl TerminalEvent {
    /// The shell convention for the exit status: the code, or 128 + the signal.
    pub fn exit_status(code: i32, signal: u32) -> i32 {
        if signal != 0 {
            128 + signal as i32
        } else {
            code
        }
    }
}

/// One remote terminal. Dropping it leaves the terminal running (like [`Terminal::detach`]
/// without telling the gateway until the connection ends).
#[derive(Debug)]
pub struct Terminal {
    channel: u32,
    opened: v1::TermOpened,
    events: mpsc::Receiver<Body>,
    out: mpsc::Sender<Outbound>,
    shared: Arc<Shared>,
    done: bool,
}

impl Terminal {
    pub(crate) fn new(
        channel: u32,
        opened: v1::TermOpened,
        events: mpsc::Receiver<Body>,
        out: mpsc::Sender<Outbound>,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            channel,
            opened,
            events,
            out,
            shared,
            done: false,
        }
    }

    /// The gateway's terminal id (for `attach`).
    pub fn id(&self) -> u64 {
        self.opened.terminal_id
    }

    /// What the gateway said when the channel opened.
    pub fn opened(&self) -> &v1::TermOpened {
        &self.opened
    }

    /// The channel number.
    pub fn channel(&self) -> u32 {
        self.channel
    }

    /// A handle that can send input and control from another task.
    pub fn writer(&self) -> TerminalWriter {
        TerminalWriter {
            channel: self.channel,
            out: self.out.clone(),
        }
    }

    /// Sends input bytes.
    pub async fn write(&self, data: impl Into<Bytes>) -> Result<(), ClientError> {
        self.writer().write(data).await
    }

    /// Resizes the remote terminal.
    pub async fn resize(&self, rows: u16, cols: u16) -> Result<(), ClientError> {
        self.writer().resize(rows, cols).await
    }

    /// The next event; `None` once the channel has ended (after `Exit`, an error, or when
    /// the connection is gone).
    pub async fn next_event(&mut self) -> Option<TerminalEvent> {
        if self.done {
            return None;
        }
        loop {
            let event = match self.events.recv().await? {
                Body::TermData(data) => TerminalEvent::Output(data.data),
                Body::TermTitle(title) => TerminalEvent::Title(title.title),
                Body::TermClipboard(clip) => TerminalEvent::Clipboard {
                    selection: clip.selection,
                    data: clip.data,
                },
                Body::TermExit(exit) => {
                    self.done = true;
                    TerminalEvent::Exit {
                        code: exit.code,
                        signal: exit.signal,
                    }
                }
                Body::TermSnapshot(snapshot) => TerminalEvent::Snapshot {
                    skipped_bytes: snapshot.skipped_bytes,
                    screen: snapshot.screen,
                    scrollback: snapshot.scrollback,
                    output_offset: snapshot.output_offset,
                },
                Body::Error(error) => TerminalEvent::Error {
                    code: error.code,
                    message: error.message,
                },
                // Kinds a later gateway may add.
                _ => continue,
            };
            return Some(event);
        }
    }

    /// True once the terminal's `Exit` was returned.
    pub fn exited(&self) -> bool {
        self.done
    }

    /// Why the connection ended, if it has (when `next_event` returned `None` early).
    pub fn closed_reason(&self) -> Option<String> {
        self.shared.closed_reason()
    }

    /// Leaves the terminal running and closes the channel.
    pub async fn detach(self) -> Result<(), ClientError> {
        self.writer().send(Body::Detach(v1::Detach {})).await
    }

    /// Closes the channel and hangs up the terminal (SIGHUP to its processes).
    pub async fn kill(&self) -> Result<(), ClientError> {
        self.writer()
            .send(Body::TermClose(v1::TermClose { kill: true }))
            .await
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.shared.unroute(self.channel);
    }
}

/// Sends input and control to a terminal; cheap to clone, usable from any task.
#[derive(Debug, Clone)]
pub struct TerminalWriter {
    channel: u32,
    out: mpsc::Sender<Outbound>,
}

impl TerminalWriter {
    async fn send(&self, body: Body) -> Result<(), ClientError> {
        self.out
            .send(Outbound {
                channel: self.channel,
                body,
            })
            .await
            .map_err(|_| ClientError::Closed(None))
    }

    /// Sends input bytes.
    pub async fn write(&self, data: impl Into<Bytes>) -> Result<(), ClientError> {
        self.send(bytes_body(data.into())).await
    }

    /// Resizes the remote terminal.
    pub async fn resize(&self, rows: u16, cols: u16) -> Result<(), ClientError> {
        self.send(Body::TermResize(v1::TermResize {
            size: Some(v1::TermSize {
                rows: rows.into(),
                cols: cols.into(),
                width_px: 0,
                height_px: 0,
            }),
        }))
        .await
    }

    /// Delivers a signal to the terminal's foreground job.
    pub async fn signal(&self, signal: u32) -> Result<(), ClientError> {
        self.send(Body::TermSignal(v1::TermSignal { signal })).await
    }

    /// Closes the channel and hangs up the terminal.
    pub async fn kill(&self) -> Result<(), ClientError> {
        self.send(Body::TermClose(v1::TermClose { kill: true }))
            .await
    }
}
