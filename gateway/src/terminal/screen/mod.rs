//! The screen model: a terminal emulator (on the `vte` parser) that follows a terminal's output
//! so the gateway knows what the user would see — window title, clipboard writes (OSC 52), the
//! cursor (to answer `ESC[6n` when no client is attached), and the screen and scrollback it
//! renders into a snapshot after a long absence.
//!
//! It implements what programs use to draw (cursor movement, erase, insert/delete, scroll
//! regions, colours and attributes, the alternate screen, autowrap) and ignores the rest. It
//! is on the output path of every byte, so printable ASCII takes a short fast path.

mod grid;
mod render;

use std::collections::VecDeque;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use grid::{Cell, Color, Grid, Row, Style, WIDE_CONTINUATION, attr};
use unicode_width::UnicodeWidthChar as _;

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
}

/// A terminal's screen as its output left it.
pub(crate) struct Screen {
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
    pub(crate) fn new(rows: u16, cols: u16) -> Self {
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
            },
        }
    }

    /// Feeds output; returns what in it needs acting on.
    pub(crate) fn process(&mut self, bytes: &[u8]) -> Vec<ScreenEvent> {
        self.parser.advance(&mut self.state, bytes);
        std::mem::take(&mut self.state.events)
    }

    pub(crate) fn resize(&mut self, rows: u16, cols: u16) {
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
    pub(crate) fn compact(&mut self) {
        self.state.compact();
    }

    /// True when lines scrolled off since the last [`Screen::compact`].
    pub(crate) fn has_raw_scrollback(&self) -> bool {
        !self.state.recent.is_empty()
    }

    /// Cursor position (row, column), 0-based.
    #[cfg(test)]
    pub(crate) fn cursor(&self) -> (usize, usize) {
        (self.state.row, self.state.col)
    }

    /// Rows and columns.
    pub(crate) fn size(&self) -> (u16, u16) {
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
    pub(crate) fn title(&self) -> &str {
        &self.state.title
    }
}

impl State {
    fn height(&self) -> usize {
        self.grid.height()
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

    fn sgr(&mut self, params: &vte::Params) {
        let mut iter = params.iter();
        if params.is_empty() {
            self.style = Style::default();
            return;
        }
        while let Some(param) = iter.next() {
            let code = param.first().copied().unwrap_or(0);
            match code {
                0 => self.style = Style::default(),
                1 => self.style.attrs |= attr::BOLD,
                2 => self.style.attrs |= attr::DIM,
                3 => self.style.attrs |= attr::ITALIC,
                4 => self.style.attrs |= attr::UNDERLINE,
                5 | 6 => self.style.attrs |= attr::BLINK,
                7 => self.style.attrs |= attr::INVERSE,
                8 => self.style.attrs |= attr::HIDDEN,
                9 => self.style.attrs |= attr::STRIKE,
                21 | 22 => self.style.attrs &= !(attr::BOLD | attr::DIM),
                23 => self.style.attrs &= !attr::ITALIC,
                24 => self.style.attrs &= !attr::UNDERLINE,
                25 => self.style.attrs &= !attr::BLINK,
                27 => self.style.attrs &= !attr::INVERSE,
                28 => self.style.attrs &= !attr::HIDDEN,
                29 => self.style.attrs &= !attr::STRIKE,
                30..=37 => self.style.fg = Color::Indexed((code - 30) as u8),
                39 => self.style.fg = Color::Default,
                40..=47 => self.style.bg = Color::Indexed((code - 40) as u8),
                49 => self.style.bg = Color::Default,
                90..=97 => self.style.fg = Color::Indexed((code - 90 + 8) as u8),
                100..=107 => self.style.bg = Color::Indexed((code - 100 + 8) as u8),
                38 | 48 => {
                    // Extended colour: either sub-parameters (38:5:n, 38:2:r:g:b) or the
                    // following parameters (38;5;n, 38;2;r;g;b).
                    let color = if param.len() > 1 {
                        extended_color(&param[1..])
                    } else {
                        let kind = iter.next().and_then(|p| p.first().copied());
                        match kind {
                            Some(5) => iter
                                .next()
                                .and_then(|p| p.first())
                                .map(|&n| Color::Indexed(n as u8)),
                            Some(2) => {
                                let mut c = [0u8; 3];
                                for v in &mut c {
                                    *v = iter.next().and_then(|p| p.first()).copied().unwrap_or(0)
                                        as u8;
                                }
                                Some(Color::Rgb(c[0], c[1], c[2]))
                            }
                            _ => None,
                        }
                    };
                    if let Some(color) = color {
                        if code == 38 {
                            self.style.fg = color;
                        } else {
                            self.style.bg = color;
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn extended_color(sub: &[u16]) -> Option<Color> {
    match sub {
        [5, n, ..] => Some(Color::Indexed(*n as u8)),
        // 38:2:r:g:b, or 38:2:colorspace:r:g:b.
        [2, r, g, b] | [2, _, r, g, b, ..] => Some(Color::Rgb(*r as u8, *g as u8, *b as u8)),
        _ => None,
    }
}

/// First parameter, or `default` when absent or 0.
fn arg(params: &vte::Params, index: usize, default: u16) -> u16 {
    match params.iter().nth(index).and_then(|p| p.first().copied()) {
        Some(0) | None => default,
        Some(n) => n,
    }
}

impl vte::Perform for State {
    fn print(&mut self, ch: char) {
        if ch.is_ascii() && !self.pending_wrap {
            // Fast path: most output is ASCII, one column wide, mid-line.
            let (row, col, style) = (self.row, self.col, self.style);
            if let Some(cell) = self
                .grid
                .rows
                .get_mut(row)
                .and_then(|r| r.cells.get_mut(col))
            {
                *cell = Cell { ch, style };
            }
            if col + 1 >= self.grid.cols {
                self.pending_wrap = true;
            } else {
                self.col = col + 1;
            }
            return;
        }
        match ch.width() {
            Some(0) | None => {} // combining marks and the like: not modelled
            Some(width) => self.put_char(ch, width.min(2)),
        }
    }

    fn execute(&mut self, byte: u8) {
        match byte {
            b'\r' => {
                self.col = 0;
                self.pending_wrap = false;
            }
            b'\n' | 0x0b | 0x0c => self.linefeed(),
            0x08 => {
                self.col = self.col.saturating_sub(1);
                self.pending_wrap = false;
            }
            b'\t' => {
                let next = (self.col / 8 + 1) * 8;
                self.col = next.min(self.cols() - 1);
                self.pending_wrap = false;
            }
            _ => {}
        }
    }

    fn csi_dispatch(
        &mut self,
        params: &vte::Params,
        intermediates: &[u8],
        ignore: bool,
        action: char,
    ) {
        if ignore {
            return;
        }
        let private = intermediates.first() == Some(&b'?');
        let n = usize::from(arg(params, 0, 1));
        let (height, cols) = (self.height(), self.cols());
        match (action, private) {
            ('A', false) => {
                let floor = if self.row >= self.top { self.top } else { 0 };
                self.row = self.row.saturating_sub(n).max(floor);
                self.pending_wrap = false;
            }
            ('B' | 'e', false) => {
                let ceiling = if self.row <= self.bottom {
                    self.bottom
                } else {
                    height - 1
                };
                self.row = (self.row + n).min(ceiling);
                self.pending_wrap = false;
            }
            ('C' | 'a', false) => {
                self.col = (self.col + n).min(cols - 1);
                self.pending_wrap = false;
            }
            ('D', false) => {
                self.col = self.col.saturating_sub(n);
                self.pending_wrap = false;
            }
            ('E', false) => {
                self.row = (self.row + n).min(self.bottom.max(self.row));
                self.col = 0;
                self.pending_wrap = false;
            }
            ('F', false) => {
                self.row = self.row.saturating_sub(n).max(self.top.min(self.row));
                self.col = 0;
                self.pending_wrap = false;
            }
            ('G' | '`', false) => {
                self.col = (n - 1).min(cols - 1);
                self.pending_wrap = false;
            }
            ('H' | 'f', false) => {
                let row = usize::from(arg(params, 0, 1)) - 1;
                let col = usize::from(arg(params, 1, 1)) - 1;
                self.goto(row, col);
            }
            ('d', false) => {
                let col = self.col;
                self.goto(n - 1, col);
            }
            ('J', false) => self.erase_display(arg(params, 0, 0)),
            ('K', false) => self.erase_line(arg(params, 0, 0)),
            ('X', false) => {
                let (row, col, style) = (self.row, self.col, self.style);
                self.grid.erase(row, col, col + n, style);
            }
            ('@', false) => {
                let (row, col, style) = (self.row, self.col, self.style);
                self.grid.insert_blanks(row, col, n, style);
            }
            ('P', false) => {
                let (row, col, style) = (self.row, self.col, self.style);
                self.grid.delete_cells(row, col, n, style);
            }
            ('L', false) if (self.top..=self.bottom).contains(&self.row) => {
                self.grid.scroll_down(self.row, self.bottom, n, self.style);
                self.col = 0;
            }
            ('M', false) if (self.top..=self.bottom).contains(&self.row) => {
                self.grid
                    .scroll_up(self.row, self.bottom, n, self.style, |row| row);
                self.col = 0;
            }
            ('S', false) => self.scroll_up(n),
            ('T', false) => self.grid.scroll_down(self.top, self.bottom, n, self.style),
            ('m', false) => self.sgr(params),
            ('r', false) => {
                let top = usize::from(arg(params, 0, 1)) - 1;
                let bottom = (usize::from(arg(params, 1, height as u16)) - 1).min(height - 1);
                if top < bottom {
                    self.top = top;
                    self.bottom = bottom;
                    self.goto(0, 0);
                }
            }
            ('h' | 'l', _) => {
                for param in params.iter() {
                    self.set_mode(private, param.first().copied().unwrap_or(0), action == 'h');
                }
            }
            ('s', false) => self.save_cursor(),
            ('u', false) => self.restore_cursor(),
            ('n', false) if arg(params, 0, 0) == 6 => {
                let row = if self.origin_mode {
                    self.row - self.top
                } else {
                    self.row
                };
                let answer = format!("\x1b[{};{}R", row + 1, self.col + 1);
                self.events
                    .push(ScreenEvent::CursorReport(answer.into_bytes()));
            }
            _ => {}
        }
    }

    fn esc_dispatch(&mut self, intermediates: &[u8], _ignore: bool, byte: u8) {
        match (intermediates, byte) {
            ([], b'7') => self.save_cursor(),
            ([], b'8') => self.restore_cursor(),
            ([], b'D') => self.linefeed(),
            ([], b'E') => {
                self.col = 0;
                self.linefeed();
            }
            ([], b'M') => self.reverse_index(),
            ([], b'c') => {
                let (height, cols) = (self.height(), self.cols());
                let title = std::mem::take(&mut self.title);
                let events = std::mem::take(&mut self.events);
                let mut fresh = Screen::new(height as u16, cols as u16).state;
                fresh.title = title;
                fresh.events = events;
                *self = fresh;
            }
            _ => {}
        }
    }

    fn osc_dispatch(&mut self, params: &[&[u8]], _bell_terminated: bool) {
        match params {
            [b"0" | b"2", title @ ..] => {
                let title = String::from_utf8_lossy(&title.join(&b';')).into_owned();
                self.title.clone_from(&title);
                self.events.push(ScreenEvent::Title(title));
            }
            [b"52", selection, data, ..] => {
                if data.len() > MAX_CLIPBOARD * 4 / 3 + 4 {
                    return;
                }
                if let Ok(data) = STANDARD.decode(data) {
                    self.events.push(ScreenEvent::Clipboard {
                        selection: String::from_utf8_lossy(selection).into_owned(),
                        data,
                    });
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
