//! Rendering the screen model back into ANSI text: what a snapshot sends so that a client's
//! terminal, cleared, shows exactly what the program drew.

use std::fmt::Write as _;

use super::Screen;
use super::grid::{Color, Row, Style, WIDE_CONTINUATION, attr};

/// Appends the SGR sequence that sets `style` from scratch.
fn push_sgr(out: &mut String, style: Style) {
    out.push_str("\x1b[0");
    for (bit, code) in [
        (attr::BOLD, 1),
        (attr::DIM, 2),
        (attr::ITALIC, 3),
        (attr::UNDERLINE, 4),
        (attr::BLINK, 5),
        (attr::INVERSE, 7),
        (attr::HIDDEN, 8),
        (attr::STRIKE, 9),
    ] {
        if style.attrs & bit != 0 {
            let _ = write!(out, ";{code}");
        }
    }
    for (color, base) in [(style.fg, 30u8), (style.bg, 40u8)] {
        match color {
            Color::Default => {}
            Color::Indexed(n @ 0..=7) => {
                let _ = write!(out, ";{}", base + n);
            }
            Color::Indexed(n @ 8..=15) => {
                let _ = write!(out, ";{}", base + 60 + n - 8);
            }
            Color::Indexed(n) => {
                let _ = write!(out, ";{};5;{n}", base + 8);
            }
            Color::Rgb(r, g, b) => {
                let _ = write!(out, ";{};2;{r};{g};{b}", base + 8);
            }
        }
    }
    out.push('m');
}

/// Appends one row's cells, changing style only where it changes, without trailing blanks.
fn push_row(out: &mut String, row: &Row, pen: &mut Style) {
    let end = row
        .cells
        .iter()
        .rposition(|c| {
            c.ch != ' ' || c.style.bg != Color::Default || c.style.attrs & attr::INVERSE != 0
        })
        .map_or(0, |i| i + 1);
    for cell in &row.cells[..end] {
        if cell.ch == WIDE_CONTINUATION {
            continue;
        }
        if cell.style != *pen {
            push_sgr(out, cell.style);
            *pen = cell.style;
        }
        out.push(cell.ch);
    }
}

/// A row as ANSI text, from the default pen, ending with the pen reset if it changed.
pub(super) fn row_to_ansi(row: &Row) -> String {
    let mut out = String::new();
    let mut pen = Style::default();
    push_row(&mut out, row, &mut pen);
    if pen != Style::default() {
        out.push_str("\x1b[0m");
    }
    out
}

impl Screen {
    /// ANSI text that redraws the visible screen on a cleared terminal of the same size:
    /// alternate-screen state, every row with its colours, then the cursor and the pen.
    pub fn render_screen(&self) -> Vec<u8> {
        let s = &self.state;
        let mut out = String::new();
        if s.alternate {
            out.push_str("\x1b[?1049h");
        }
        out.push_str("\x1b[0m\x1b[H\x1b[2J");
        let mut pen = Style::default();
        for (i, row) in s.grid.rows.iter().enumerate() {
            let _ = write!(out, "\x1b[{};1H", i + 1);
            push_row(&mut out, row, &mut pen);
        }
        push_sgr(&mut out, s.style);
        let _ = write!(out, "\x1b[{};{}H", s.row + 1, s.col + 1);
        if !s.cursor_visible {
            out.push_str("\x1b[?25l");
        }
        out.into_bytes()
    }

    /// The newest `max_lines` lines of scrollback, oldest first, each ending in CR LF unless
    /// it wrapped onto the next.
    pub fn render_scrollback(&self, max_lines: usize) -> Vec<u8> {
        let s = &self.state;
        let rendered = s
            .scrollback
            .iter()
            .map(|l| (std::borrow::Cow::Borrowed(&*l.ansi), l.wrapped));
        let recent = s
            .recent
            .iter()
            .map(|r| (std::borrow::Cow::Owned(row_to_ansi(r)), r.wrapped));
        let total = s.scrollback.len() + s.recent.len();
        let mut out = String::new();
        for (ansi, wrapped) in rendered.chain(recent).skip(total.saturating_sub(max_lines)) {
            out.push_str(&ansi);
            if !wrapped {
                out.push_str("\r\n");
            }
        }
        out.into_bytes()
    }
}
