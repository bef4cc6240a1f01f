//! The screen model: a terminal emulator (on the `vte` parser) that follows a terminal's output
//! so the gateway knows what the user would see — window title, clipboard writes (OSC 52), the
//! cursor (to answer `ESC[6n` when no client is attached), and the screen and scrollback it
//! renders into a snapshot after a long absence.
//!
//! It implements what programs use to draw (cursor movement, erase, insert/delete, scroll
//! regions, colours and attributes, the alternate screen, autowrap) and ignores the rest. It
//! is on the output path of every byte, so printable ASCII takes a short fast path.

mod grid;
mod perform;
mod render;

use std::collections::VecDeque;

use grid::{Cell, Grid, Row, Style, WIDE_CONTINUATION};

/// Something in the output the gateway acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScreenEvent {
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

/// Scrollback lines kept for snapshots.
const SCROLLBACK_LINES: usize = 200;

/// Bytes of rendered scrollback kept at most (colourful lines cost more than plain ones).
const SCROLLBACK_BYTES: usize = 32 << 10; // 32 KiB: 200 plain 80-column lines fit with room

/// A line that scrolled off the top, kept rendered: snapshots only ever print it, so ANSI
/// text is both its most compact and its most useful form.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ScrollLine {
    ansi: Box<str>,
    wrapped: bool,
}

/// Cursor and pen, as saved by DECSC.
#[derive(Debug, Clone, Copy, Default)]
struct Saved {
    row: usize,
    col: usize,
    style: Style,
}

/// The emulator state that `vte` drives.
#[derive(Debug)]
struct State {
    grid: Grid,
    /// The other screen (main while the alternate one is shown, and vice versa).
    other: Option<Grid>,
    alternate: bool,
    scrollback: VecDeque<ScrollLine>,
    /// Bytes held by `scrollback`.
    scrollback_bytes: usize,
    /// Lines scrolled off since the last [`Screen::compact`], still as cells (newest last).
    /// During a flood most lines scroll past faster than anyone could read them: they are
    /// recycled here unrendered, and only what is left when output pauses gets rendered.
    recent: VecDeque<Row>,
    row: usize,
    col: usize,
    /// The cursor sits past the last column: the next printable wraps first.
    pending_wrap: bool,
    style: Style,
    saved: Saved,
    /// Scroll region, inclusive rows.
    top: usize,
    bottom: usize,
    autowrap: bool,
    origin_mode: bool,
    cursor_visible: bool,
    title: String,
    events: Vec<ScreenEvent>,
    /// The parser is known to be in its ground state with no partial character pending:
    /// plain text can bypass it ([`State::plain`]). Set by the callbacks that only happen
    /// there or that return the parser there; cleared whenever bytes go to the parser.
    ground: bool,
}

/// A terminal's screen as its output left it. Public for the benchmarks; the gateway drives one
/// per terminal.
pub struct Screen {
    parser: vte::Parser,
    state: State,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Screen")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Screen {
    pub fn new(rows: u16, cols: u16) -> Self {
        let (rows, cols) = (usize::from(rows.max(1)), usize::from(cols.max(1)));
        Self {
            parser: vte::Parser::new(),
            state: State {
                grid: Grid::new(rows, cols),
                other: None,
                alternate: false,
                scrollback: VecDeque::new(),
                scrollback_bytes: 0,
                recent: VecDeque::new(),
                row: 0,
                col: 0,
                pending_wrap: false,
                style: Style::default(),
                saved: Saved::default(),
                top: 0,
                bottom: rows - 1,
                autowrap: true,
                origin_mode: false,
                cursor_visible: true,
                title: String::new(),
                events: Vec::new(),
                ground: true,
            },
        }
    }

    /// Feeds output; returns what in it needs acting on.
    ///
    /// Printable ASCII and C0 controls in the parser's ground state — nearly all of a flood —
    /// are applied here a run at a time; escape sequences and other text go through `vte`
    /// until it is known to be back in its ground state.
    pub fn process(&mut self, bytes: &[u8]) -> Vec<ScreenEvent> {
        let mut rest = bytes;
        if let Some((skip, col, pending_wrap)) = self.state.scrolled_past(bytes) {
            rest = &bytes[skip..];
            self.state.col = col;
            self.state.pending_wrap = pending_wrap;
        }
        while !rest.is_empty() {
            if self.state.ground {
                rest = &rest[self.state.plain(rest)..];
                if rest.is_empty() {
                    break;
                }
                self.state.ground = false;
            }
            let n = self.parser.advance_until_terminated(&mut self.state, rest);
            if n == 0 {
                // Not expected (the parser always takes a byte), but never spin.
                self.parser.advance(&mut self.state, rest);
                self.state.ground = false;
                break;
            }
            let (taken, left) = rest.split_at(n);
            // Plain text ends the parser's step together with an escape that follows it (the
            // parser is then in its escape state), or with a character cut off at the end of
            // the chunk (the parser holds its first bytes).
            if self.state.ground
                && (taken.last() == Some(&ESC) || (left.is_empty() && cut_utf8(taken)))
            {
                self.state.ground = false;
            }
            rest = left;
        }
        std::mem::take(&mut self.state.events)
    }

    pub fn resize(&mut self, rows: u16, cols: u16) {
        let s = &mut self.state;
        let (rows, cols) = (usize::from(rows.max(1)), usize::from(cols.max(1)));
        // Shrinking keeps the cursor's row on screen: rows above it scroll off the top
        // (into the scrollback on the main screen), the rest are cut from the bottom.
        let off_top = (s.row + 1).saturating_sub(rows);
        if off_top > 0 {
            let bottom = s.grid.height() - 1;
            let (top, saved_bottom) = (s.top, s.bottom);
            s.top = 0;
            s.bottom = bottom;
            s.scroll_up(off_top);
            s.top = top;
            s.bottom = saved_bottom;
            s.row -= off_top;
        }
        s.grid.resize(rows, cols);
        if let Some(other) = &mut s.other {
            other.resize(rows, cols);
        }
        s.top = 0;
        s.bottom = rows - 1;
        s.row = s.row.min(rows - 1);
        s.col = s.col.min(cols - 1);
        s.pending_wrap = false;
    }

    /// Renders the lines scrolled off during the last burst into compact form. Call when the
    /// output pauses: between bursts the model then holds at most one screen of cells.
    pub fn compact(&mut self) {
        self.state.compact();
    }

    /// True when lines scrolled off since the last [`Screen::compact`].
    pub fn has_raw_scrollback(&self) -> bool {
        !self.state.recent.is_empty()
    }

    /// Cursor position (row, column), 0-based.
    #[cfg(test)]
    pub(crate) fn cursor(&self) -> (usize, usize) {
        (self.state.row, self.state.col)
    }

    /// Rows and columns.
    pub fn size(&self) -> (u16, u16) {
        let s = &self.state;
        (s.grid.height() as u16, s.grid.cols as u16)
    }

    /// The visible text, rows joined by newlines, trailing blanks trimmed.
    #[cfg(test)]
    pub(crate) fn text(&self) -> String {
        let rows: Vec<String> = self.state.grid.rows.iter().map(Row::text).collect();
        rows.join("\n")
    }

    /// The window title last set.
    pub fn title(&self) -> &str {
        &self.state.title
    }
}

const ESC: u8 = 0x1b;

/// Length of the plain text `bytes` starts with: printable ASCII, CR, LF, tab, backspace. A
/// word at a time: most words of a flood are printable through and through.
fn plain_len(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let plain = |b: &u8| matches!(b, 0x20..=0x7e | b'\r' | b'\n' | b'\t' | 0x08);
    let mut words = bytes.chunks_exact(8);
    for (i, word) in words.by_ref().enumerate() {
        let x = u64::from_ne_bytes(word.try_into().expect("8 bytes"));
        // Some byte is below 0x20 or above 0x7e (exact as a whole, not per byte): look closer.
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let high = (x.wrapping_add(ONES) | x) & HIGH;
        if control | high != 0
            && let Some(at) = word.iter().position(|b| !plain(b))
        {
            return i * 8 + at;
        }
    }
    let rest = words.remainder();
    let at = bytes.len() - rest.len();
    at + rest.iter().position(|b| !plain(b)).unwrap_or(rest.len())
}

/// True when `bytes` ends inside a UTF-8 encoded character.
fn cut_utf8(bytes: &[u8]) -> bool {
    for (back, &b) in bytes.iter().rev().take(4).enumerate() {
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back for the lead
        }
        let len = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return len > back + 1;
    }
    false
}

impl State {
    /// Applies the printable ASCII and C0 controls at the start of `bytes`, as the parser
    /// would in its ground state; returns how many bytes it took (it stops at an escape and
    /// at anything not ASCII). Printable runs are written a row's stretch at a time.
    fn plain(&mut self, bytes: &[u8]) -> usize {
        let printable = |b: u8| (0x20..=0x7E).contains(&b);
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if printable(b) {
                if self.pending_wrap {
                    // The general path wraps (or not) first.
                    vte::Perform::print(self, char::from(b));
                    i += 1;
                    continue;
                }
                let (row, col, style, cols) = (self.row, self.col, self.style, self.cols());
                let Some(cells) = self
                    .grid
                    .rows
                    .get_mut(row)
                    .and_then(|r| r.cells.get_mut(col..cols))
                else {
                    vte::Perform::print(self, char::from(b));
                    i += 1;
                    continue;
                };
                let mut written = 0;
                for (cell, &b) in cells.iter_mut().zip(&bytes[i..]) {
                    if !printable(b) {
                        break;
                    }
                    *cell = Cell {
                        ch: char::from(b),
                        style,
                    };
                    written += 1;
                }
                if col + written >= cols {
                    self.col = cols - 1;
                    self.pending_wrap = true;
                } else {
                    self.col = col + written;
                }
                i += written;
            } else if b == ESC || b >= 0x7F {
                break;
            } else {
                vte::Perform::execute(self, b);
                i += 1;
            }
        }
        i
    }

    fn height(&self) -> usize {
        self.grid.height()
    }

    /// How much of `bytes` can go unparsed because the rest of it scrolls everything it would
    /// write out of the screen and the scrollback (during a flood most lines only pass
    /// through), and the cursor column and pending wrap it would leave. That is a prefix of
    /// plain text (printable ASCII, CR, LF, tab, backspace) followed by at least
    /// [`State::scroll_out`] more line feeds before the first other byte, with the parser in
    /// its ground state and the whole screen scrolling. Skipping it leaves exactly the state
    /// parsing it would: whatever row the text left the cursor on, the line feeds that follow
    /// take it to the bottom and then push every row and scrollback line it wrote out; the
    /// column follows from its text (line feeds keep it); and it holds no escape that could
    /// change anything else.
    fn scrolled_past(&self, bytes: &[u8]) -> Option<(usize, usize, bool)> {
        let scroll_out = self.scroll_out();
        if !self.ground
            || self.top != 0
            || self.bottom + 1 != self.height()
            || bytes.len() <= scroll_out
        {
            return None;
        }
        // Most reads are over at this first count (memchr counts with SIMD).
        if memchr::memchr_iter(b'\n', bytes).count() <= scroll_out {
            return None;
        }
        let plain = plain_len(bytes);
        // Just past the line feed before the last `scroll_out` of the plain part.
        let skip = memchr::memrchr_iter(b'\n', &bytes[..plain]).nth(scroll_out)? + 1;
        let text = &bytes[..skip];
        // The column: from the last carriage return (column 0), or from where it is now.
        let (from, col, pending_wrap) = match memchr::memrchr(b'\r', text) {
            Some(cr) => (cr + 1, 0, false),
            None => (0, self.col, self.pending_wrap),
        };
        let tail = &text[from..];
        // Tabs and backspaces move the column by rules of their own.
        let (col, pending_wrap) = if memchr::memchr2(b'\t', 0x08, tail).is_some() {
            tail.iter()
                .fold((col, pending_wrap), |at, &b| self.step_column(at, b))
        } else {
            let printed = tail.len() - memchr::memchr_iter(b'\n', tail).count();
            self.print_column((col, pending_wrap), printed)
        };
        Some((skip, col, pending_wrap))
    }

    /// The column and pending wrap after printing `n` one-column characters: where printing
    /// leaves them (see `print` and [`State::put_char`]), all at once.
    fn print_column(&self, (col, pending_wrap): (usize, bool), n: usize) -> (usize, bool) {
        let cols = self.cols();
        if n == 0 {
            (col, pending_wrap)
        } else if self.autowrap {
            // Positions along the unwrapped line: a pending wrap stands just past the end.
            let last = if pending_wrap { cols } else { col } + n - 1;
            match last % cols {
                end if end == cols - 1 => (end, true),
                at => (at + 1, false),
            }
        } else if pending_wrap || col + n >= cols {
            (cols - 1, true)
        } else {
            (col + n, false)
        }
    }

    /// The column and pending wrap after one plain byte (see `execute`).
    fn step_column(&self, (col, pending_wrap): (usize, bool), byte: u8) -> (usize, bool) {
        match byte {
            b'\r' => (0, false),
            b'\n' => (col, pending_wrap),
            0x08 => (col.saturating_sub(1), false),
            b'\t' => (((col / 8 + 1) * 8).min(self.cols() - 1), false),
            _ => self.print_column((col, pending_wrap), 1),
        }
    }

    /// Line feeds that take the cursor from any row to the bottom and then scroll every row
    /// on the screen and every scrollback line out.
    fn scroll_out(&self) -> usize {
        2 * self.height() + SCROLLBACK_LINES
    }

    fn cols(&self) -> usize {
        self.grid.cols
    }

    /// Line feed: down one row, scrolling the region when at its bottom.
    fn linefeed(&mut self) {
        if self.row == self.bottom {
            self.scroll_up(1);
        } else if self.row + 1 < self.height() {
            self.row += 1;
        }
    }

    fn scroll_up(&mut self, n: usize) {
        // Only the main screen scrolling from its first row feeds the scrollback.
        let feed = !self.alternate && self.top == 0;
        let (top, bottom, style, cols) = (self.top, self.bottom, self.style, self.grid.cols);
        let recent = &mut self.recent;
        self.grid.scroll_up(top, bottom, n, style, |row| {
            if !feed {
                return row;
            }
            recent.push_back(row);
            // Past the cap, the oldest raw line is dropped and its buffer reused.
            if recent.len() > SCROLLBACK_LINES {
                recent.pop_front().expect("not empty")
            } else {
                Row::new(cols)
            }
        });
        self.trim_scrollback();
    }

    /// Keeps at most `SCROLLBACK_LINES` lines in all, and the rendered ones within their byte
    /// budget: the oldest go first.
    fn trim_scrollback(&mut self) {
        while self.scrollback.len() + self.recent.len() > SCROLLBACK_LINES
            || self.scrollback_bytes > SCROLLBACK_BYTES
        {
            match self.scrollback.pop_front() {
                Some(old) => self.scrollback_bytes -= old.ansi.len(),
                None => break,
            }
        }
    }

    /// Renders the raw recent lines into the compact scrollback and frees their cells.
    fn compact(&mut self) {
        for row in self.recent.drain(..) {
            let line = ScrollLine {
                ansi: render::row_to_ansi(&row).into_boxed_str(),
                wrapped: row.wrapped,
            };
            self.scrollback_bytes += line.ansi.len();
            self.scrollback.push_back(line);
        }
        self.recent = VecDeque::new();
        self.trim_scrollback();
    }

    fn reverse_index(&mut self) {
        if self.row == self.top {
            self.grid.scroll_down(self.top, self.bottom, 1, self.style);
        } else if self.row > 0 {
            self.row -= 1;
        }
    }

    fn goto(&mut self, row: usize, col: usize) {
        let (min_row, max_row) = if self.origin_mode {
            (self.top, self.bottom)
        } else {
            (0, self.height() - 1)
        };
        let base = if self.origin_mode { self.top } else { 0 };
        self.row = (base + row).clamp(min_row, max_row);
        self.col = col.min(self.cols() - 1);
        self.pending_wrap = false;
    }

    fn put_char(&mut self, ch: char, width: usize) {
        if self.pending_wrap {
            if self.autowrap {
                self.grid.rows[self.row].wrapped = true;
                self.col = 0;
                self.linefeed();
            }
            self.pending_wrap = false;
        }
        let cols = self.cols();
        // A one-column terminal shows a wide character in its one cell.
        let width = width.min(cols);
        if width == 2 && self.col + 1 >= cols {
            // A wide character does not fit in the last column: wrap first.
            if self.autowrap {
                self.grid.rows[self.row].wrapped = true;
                self.col = 0;
                self.linefeed();
            } else {
                return;
            }
        }
        let style = self.style;
        *self.grid.cell_mut(self.row, self.col) = Cell { ch, style };
        if width == 2 {
            *self.grid.cell_mut(self.row, self.col + 1) = Cell {
                ch: WIDE_CONTINUATION,
                style,
            };
        }
        if self.col + width >= cols {
            self.col = cols - 1;
            self.pending_wrap = true;
        } else {
            self.col += width;
        }
    }

    fn erase_display(&mut self, mode: u16) {
        let (height, cols, style) = (self.height(), self.cols(), self.style);
        match mode {
            0 => {
                self.grid.erase(self.row, self.col, cols, style);
                for row in self.row + 1..height {
                    self.grid.erase(row, 0, cols, style);
                }
            }
            1 => {
                for row in 0..self.row {
                    self.grid.erase(row, 0, cols, style);
                }
                self.grid.erase(self.row, 0, self.col + 1, style);
            }
            2 => {
                for row in 0..height {
                    self.grid.erase(row, 0, cols, style);
                }
            }
            3 => {
                self.scrollback.clear();
                self.scrollback_bytes = 0;
                self.recent.clear();
            }
            _ => {}
        }
    }

    fn erase_line(&mut self, mode: u16) {
        let (cols, style) = (self.cols(), self.style);
        let (from, to) = match mode {
            0 => (self.col, cols),
            1 => (0, self.col + 1),
            2 => (0, cols),
            _ => return,
        };
        self.grid.erase(self.row, from, to, style);
    }

    fn set_alternate(&mut self, on: bool, save_cursor: bool) {
        if on == self.alternate {
            return;
        }
        if on && save_cursor {
            self.save_cursor();
        }
        let (height, cols) = (self.height(), self.cols());
        let other = self.other.take().unwrap_or_else(|| Grid::new(height, cols));
        self.other = Some(std::mem::replace(&mut self.grid, other));
        self.alternate = on;
        if on {
            // The alternate screen starts blank.
            self.grid = Grid::new(height, cols);
        } else if save_cursor {
            self.restore_cursor();
        }
        self.pending_wrap = false;
    }

    fn save_cursor(&mut self) {
        self.saved = Saved {
            row: self.row,
            col: self.col,
            style: self.style,
        };
    }

    fn restore_cursor(&mut self) {
        let saved = self.saved;
        self.row = saved.row.min(self.height() - 1);
        self.col = saved.col.min(self.cols() - 1);
        self.style = saved.style;
        self.pending_wrap = false;
    }

    fn set_mode(&mut self, private: bool, mode: u16, on: bool) {
        match (private, mode) {
            (true, 6) => {
                self.origin_mode = on;
                self.goto(0, 0);
            }
            (true, 7) => self.autowrap = on,
            (true, 25) => self.cursor_visible = on,
            (true, 47 | 1047) => self.set_alternate(on, false),
            (true, 1049) => self.set_alternate(on, true),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
