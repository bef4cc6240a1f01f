//! The `vte::Perform` side of the screen model: which control sequence does what. The state
//! edits themselves (cursor, scrolling, erasing, modes) live in the parent module.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use unicode_width::UnicodeWidthChar as _;

use super::grid::{Cell, Color, Style, attr};
use super::{MAX_CLIPBOARD, Screen, ScreenEvent, State};

impl State {
    pub(super) fn sgr(&mut self, params: &vte::Params) {
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
        // The parser prints only in its ground state.
        self.ground = true;
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
        // The parser returns to its ground state after every dispatch.
        self.ground = true;
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
        // The parser returns to its ground state after every dispatch.
        self.ground = true;
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

    /// Lets [`Screen::process`](super::Screen::process) take plain text back from the parser.
    fn terminated(&self) -> bool {
        self.ground
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
