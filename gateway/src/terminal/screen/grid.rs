//! The cells of a screen: characters with their colours and attributes, in rows, with the
//! edits terminal control sequences make (erase, insert, delete, scroll).

use std::collections::VecDeque;

/// A colour as SGR sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Color {
    #[default]
    Default,
    /// One of the 256 indexed colours (0–15 are the classic 16).
    Indexed(u8),
    Rgb(u8, u8, u8),
}

/// SGR attribute bits.
pub(crate) mod attr {
    pub(crate) const BOLD: u8 = 1;
    pub(crate) const DIM: u8 = 1 << 1;
    pub(crate) const ITALIC: u8 = 1 << 2;
    pub(crate) const UNDERLINE: u8 = 1 << 3;
    pub(crate) const BLINK: u8 = 1 << 4;
    pub(crate) const INVERSE: u8 = 1 << 5;
    pub(crate) const HIDDEN: u8 = 1 << 6;
    pub(crate) const STRIKE: u8 = 1 << 7;
}

/// How a cell is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Style {
    pub(crate) fg: Color,
    pub(crate) bg: Color,
    pub(crate) attrs: u8,
}

/// Stands in the cell after a double-width character.
pub(crate) const WIDE_CONTINUATION: char = '\0';

/// One character cell (16 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cell {
    pub(crate) ch: char,
    pub(crate) style: Style,
}

impl Cell {
    /// A blank in the given style (erasing uses the current background).
    pub(crate) fn blank(style: Style) -> Self {
        Self {
            ch: ' ',
            style: Style {
                attrs: 0,
                fg: Color::Default,
                bg: style.bg,
            },
        }
    }
}

pub(crate) const BLANK: Cell = Cell {
    ch: ' ',
    style: Style {
        fg: Color::Default,
        bg: Color::Default,
        attrs: 0,
    },
};

/// Default blanks to copy from: a copy moves whole vectors, a fill stores field by field.
static BLANKS: [Cell; 256] = [BLANK; 256];

/// Blanks `cells` in `fill`'s background (what scrolling and erasing leave).
pub(crate) fn blank_cells(cells: &mut [Cell], fill: Style) {
    let blank = Cell::blank(fill);
    if blank == BLANK {
        for chunk in cells.chunks_mut(BLANKS.len()) {
            chunk.copy_from_slice(&BLANKS[..chunk.len()]);
        }
    } else {
        cells.fill(blank);
    }
}

/// One line of cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) cells: Vec<Cell>,
    /// The text continues on the next row (it wrapped here).
    pub(crate) wrapped: bool,
}

impl Row {
    pub(crate) fn new(cols: usize) -> Self {
        Self {
            cells: vec![BLANK; cols],
            wrapped: false,
        }
    }

    pub(crate) fn resize(&mut self, cols: usize) {
        self.cells.resize(cols, BLANK);
    }

    #[cfg(test)]
    pub(crate) fn text(&self) -> String {
        let mut s: String = self
            .cells
            .iter()
            .filter(|c| c.ch != WIDE_CONTINUATION)
            .map(|c| c.ch)
            .collect();
        s.truncate(s.trim_end().len());
        s
    }
}

/// A screen's rows, with scrolling inside a region.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    pub(crate) rows: VecDeque<Row>,
    pub(crate) cols: usize,
}

impl Grid {
    pub(crate) fn new(rows: usize, cols: usize) -> Self {
        Self {
            rows: (0..rows).map(|_| Row::new(cols)).collect(),
            cols,
        }
    }

    pub(crate) fn height(&self) -> usize {
        self.rows.len()
    }

    pub(crate) fn cell_mut(&mut self, row: usize, col: usize) -> &mut Cell {
        &mut self.rows[row].cells[col]
    }

    /// Scrolls rows `top..=bottom` up by `n`, blank rows in `fill` entering at the bottom.
    /// Each row leaving the top is handed to `gone`, which gives back a row to reuse as the
    /// blank one (the same row, or one it recycles): a flood of output scrolls without
    /// touching the allocator.
    pub(crate) fn scroll_up(
        &mut self,
        top: usize,
        bottom: usize,
        n: usize,
        fill: Style,
        mut gone: impl FnMut(Row) -> Row,
    ) {
        // The whole screen scrolling (the usual case) turns the ring: no rows move.
        let whole = top == 0 && bottom + 1 == self.rows.len();
        for _ in 0..n.min(bottom + 1 - top) {
            let row = if whole {
                self.rows.pop_front()
            } else {
                self.rows.remove(top)
            };
            let mut blank = gone(row.expect("top is inside the grid"));
            if blank.cells.len() == self.cols {
                blank_cells(&mut blank.cells, fill);
            } else {
                blank.cells.clear();
                blank.cells.resize(self.cols, Cell::blank(fill));
            }
            blank.wrapped = false;
            if whole {
                self.rows.push_back(blank);
            } else {
                self.rows.insert(bottom, blank);
            }
        }
    }

    /// Scrolls rows `top..=bottom` down by `n`, blank rows entering at the top.
    pub(crate) fn scroll_down(&mut self, top: usize, bottom: usize, n: usize, fill: Style) {
        for _ in 0..n.min(bottom + 1 - top) {
            let mut row = self.rows.remove(bottom).expect("bottom is inside the grid");
            row.cells.fill(Cell::blank(fill));
            row.wrapped = false;
            self.rows.insert(top, row);
        }
    }

    /// Blanks `row[from..to]`.
    pub(crate) fn erase(&mut self, row: usize, from: usize, to: usize, fill: Style) {
        let cols = self.cols;
        let cells = &mut self.rows[row].cells;
        for cell in &mut cells[from.min(cols)..to.min(cols)] {
            *cell = Cell::blank(fill);
        }
    }

    /// Inserts `n` blanks at `col`, pushing the rest right (cells past the edge are lost).
    pub(crate) fn insert_blanks(&mut self, row: usize, col: usize, n: usize, fill: Style) {
        let cols = self.cols;
        let cells = &mut self.rows[row].cells;
        let n = n.min(cols - col);
        cells[col..].rotate_right(n);
        for cell in &mut cells[col..col + n] {
            *cell = Cell::blank(fill);
        }
    }

    /// Deletes `n` cells at `col`, pulling the rest left, blanks entering at the edge.
    pub(crate) fn delete_cells(&mut self, row: usize, col: usize, n: usize, fill: Style) {
        let cols = self.cols;
        let cells = &mut self.rows[row].cells;
        let n = n.min(cols - col);
        cells[col..].rotate_left(n);
        for cell in &mut cells[cols - n..] {
            *cell = Cell::blank(fill);
        }
    }

    pub(crate) fn resize(&mut self, rows: usize, cols: usize) {
        for row in &mut self.rows {
            row.resize(cols);
        }
        self.cols = cols;
        self.rows.truncate(rows);
        while self.rows.len() < rows {
            self.rows.push_back(Row::new(cols));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrolling_inside_a_region_keeps_the_rest() {
        let mut grid = Grid::new(4, 3);
        for (i, ch) in ['a', 'b', 'c', 'd'].into_iter().enumerate() {
            grid.cell_mut(i, 0).ch = ch;
        }
        let mut gone = Vec::new();
        grid.scroll_up(1, 2, 1, Style::default(), |row| {
            gone.push(row.text());
            row
        });
        assert_eq!(gone, ["b"]);
        let text: Vec<String> = grid.rows.iter().map(Row::text).collect();
        assert_eq!(text, ["a", "c", "", "d"]);
        grid.scroll_down(0, 3, 2, Style::default());
        let text: Vec<String> = grid.rows.iter().map(Row::text).collect();
        assert_eq!(text, ["", "", "a", "c"]);
    }

    #[test]
    fn insert_and_delete_shift_cells() {
        let mut grid = Grid::new(1, 5);
        for (i, ch) in "abcde".chars().enumerate() {
            grid.cell_mut(0, i).ch = ch;
        }
        grid.insert_blanks(0, 1, 2, Style::default());
        assert_eq!(grid.rows[0].text(), "a  bc");
        grid.delete_cells(0, 0, 3, Style::default());
        assert_eq!(grid.rows[0].text(), "bc");
    }
}
