//! The screen model: a vt100 emulator that follows a terminal's output so the gateway knows
//! what the user would see — window title, clipboard writes (OSC 52), the cursor (to answer
//! `ESC[6n` when no client is attached), and later the snapshot sent after a long absence.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Something in the output the gateway acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScreenEvent {
    /// OSC 0/2: the window title changed.
    Title(String),
    /// OSC 52: the program put `data` on clipboard `selection`.
    Clipboard {
        /// Selection letters, e.g. "c".
        selection: String,
        /// Decoded bytes.
        data: Vec<u8>,
    },
    /// CSI 6n: the program asks where the cursor is; the answer is this input.
    CursorReport(Vec<u8>),
}

/// Largest clipboard write forwarded (bytes, decoded): larger ones are programs misbehaving.
const MAX_CLIPBOARD: usize = 1 << 20;

#[derive(Debug, Default)]
struct Collector {
    events: Vec<ScreenEvent>,
}

impl vt100::Callbacks for Collector {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.events.push(ScreenEvent::Title(
            String::from_utf8_lossy(title).into_owned(),
        ));
    }

    fn copy_to_clipboard(&mut self, _: &mut vt100::Screen, ty: &[u8], data: &[u8]) {
        if data.len() > MAX_CLIPBOARD * 4 / 3 + 4 {
            return;
        }
        if let Ok(data) = STANDARD.decode(data) {
            self.events.push(ScreenEvent::Clipboard {
                selection: String::from_utf8_lossy(ty).into_owned(),
                data,
            });
        }
    }

    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        i1: Option<u8>,
        _i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        if c == 'n' && i1.is_none() && params.first().and_then(|p| p.first()) == Some(&6) {
            let (row, col) = screen.cursor_position();
            let answer = format!("\x1b[{};{}R", row + 1, col + 1);
            self.events
                .push(ScreenEvent::CursorReport(answer.into_bytes()));
        }
    }
}

fn nonzero(n: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(n).unwrap_or(std::num::NonZeroU16::MIN)
}

/// A terminal's screen as its output left it.
pub(crate) struct Screen {
    parser: vt100::Parser<Collector>,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (rows, cols) = self.parser.screen().size();
        f.debug_struct("Screen")
            .field("rows", &rows)
            .field("cols", &cols)
            .finish()
    }
}

/// Scrollback lines kept by the model (for snapshots).
const SCROLLBACK_LINES: usize = 200;

impl Screen {
    pub(crate) fn new(rows: u16, cols: u16) -> Self {
        Self {
            parser: vt100::Parser::new_with_callbacks(
                nonzero(rows),
                nonzero(cols),
                SCROLLBACK_LINES,
                Collector::default(),
            ),
        }
    }

    /// Feeds output; returns what in it needs acting on.
    pub(crate) fn process(&mut self, bytes: &[u8]) -> Vec<ScreenEvent> {
        self.parser.process(bytes);
        std::mem::take(&mut self.parser.callbacks_mut().events)
    }

    pub(crate) fn resize(&mut self, rows: u16, cols: u16) {
        self.parser
            .screen_mut()
            .set_size(nonzero(rows), nonzero(cols));
    }

    /// The visible text, without attributes (tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn text(&self) -> String {
        self.parser.screen().contents()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_clipboard_and_cursor_queries_are_reported() {
        let mut screen = Screen::new(24, 80);
        let events = screen.process(b"hello\x1b]2;my title\x07\r\nab\x1b[6n");
        assert_eq!(
            events,
            vec![
                ScreenEvent::Title("my title".into()),
                ScreenEvent::CursorReport(b"\x1b[2;3R".to_vec()),
            ]
        );
        let events = screen.process(b"\x1b]52;c;aGVsbG8=\x07");
        assert_eq!(
            events,
            vec![ScreenEvent::Clipboard {
                selection: "c".into(),
                data: b"hello".to_vec()
            }]
        );
        assert!(screen.text().starts_with("hello\nab"));
    }

    #[test]
    fn sequences_split_across_reads_are_understood() {
        let mut screen = Screen::new(24, 80);
        assert!(screen.process(b"\x1b]0;spl").is_empty());
        assert_eq!(
            screen.process(b"it\x07"),
            vec![ScreenEvent::Title("split".into())]
        );
    }
}
