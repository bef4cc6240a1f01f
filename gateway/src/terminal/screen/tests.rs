//! Screen model behaviour, on sequences real programs send.

use super::grid::{Color, attr};
use super::*;

fn screen(rows: u16, cols: u16, bytes: &[u8]) -> Screen {
    let mut screen = Screen::new(rows, cols);
    screen.process(bytes);
    screen
}

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
    assert_eq!(screen.title(), "my title");
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
    screen.process(b"\x1b[1");
    screen.process(b"0;5H*");
    assert_eq!(screen.cursor(), (9, 5));
}

#[test]
fn text_wraps_and_scrolls_into_scrollback() {
    let s = screen(3, 5, b"abcdefg\r\nline2\r\nline3\r\nline4");
    // "abcde" wrapped to "fg"; four more lines scroll the first two rows away.
    assert_eq!(s.text(), "line2\nline3\nline4");
    assert_eq!(
        String::from_utf8(s.render_scrollback(10)).unwrap(),
        "abcdefg\r\n"
    );
    assert!(s.state.recent[0].wrapped);
    // Compacting renders the raw lines once; the scrollback reads the same.
    let mut s = s;
    s.compact();
    assert!(s.state.recent.is_empty() && s.state.scrollback[0].wrapped);
    assert_eq!(
        String::from_utf8(s.render_scrollback(10)).unwrap(),
        "abcdefg\r\n"
    );
    // The cursor waits past the end of a full line until the next character.
    let s = screen(3, 5, b"12345");
    assert_eq!((s.cursor(), s.state.pending_wrap), ((0, 4), true));
}

#[test]
fn cursor_movement_and_erasing() {
    let s = screen(
        4,
        10,
        b"0123456789\x1b[2;3Hab\x1b[1;5H\x1b[K\x1b[3;1Hxyz\x1b[2D\x1b[1P",
    );
    assert_eq!(s.text(), "0123\n  ab\nxz\n");
    let s = screen(3, 6, b"aaaaaa\r\nbbbbbb\r\ncccccc\x1b[2;3H\x1b[1J");
    assert_eq!(s.text(), "\n   bbb\ncccccc");
    let s = screen(3, 6, b"aaaaaa\r\nbbbbbb\x1b[1;3H\x1b[0J");
    assert_eq!(s.text(), "aa\n\n");
    let s = screen(2, 8, b"abcdef\x1b[1;3H\x1b[2@\x1b[1;1H\x1b[3X");
    assert_eq!(s.text(), "    cdef\n");
}

#[test]
fn scroll_regions_insert_and_delete_lines() {
    // vi-like: region rows 2–3 of 4; a line inserted at row 2 pushes row 3 out of the region,
    // rows outside it stay.
    let s = screen(4, 5, b"r1\r\nr2\r\nr3\r\nr4\x1b[2;3r\x1b[2;1H\x1b[L");
    assert_eq!(s.text(), "r1\n\nr2\nr4");
    let s = screen(4, 5, b"r1\r\nr2\r\nr3\r\nr4\x1b[2;3r\x1b[2;1H\x1b[M");
    assert_eq!(s.text(), "r1\nr3\n\nr4");
    // Line feeds at the bottom of a region scroll only the region, and feed no scrollback.
    let s = screen(4, 5, b"r1\r\nr2\r\nr3\r\nr4\x1b[2;3r\x1b[3;1H\nnew");
    assert_eq!(s.text(), "r1\nr3\nnew\nr4");
    assert!(s.state.scrollback.is_empty());
    // Reverse index at the top of the region scrolls it down.
    let s = screen(3, 5, b"a\r\nb\r\nc\x1b[1;1H\x1bMz");
    assert_eq!(s.text(), "z\na\nb");
}

#[test]
fn the_alternate_screen_keeps_the_main_one() {
    let mut s = screen(3, 10, b"shell $ ");
    s.process(b"\x1b[?1049h\x1b[H\x1b[2Jvim here");
    assert_eq!(s.text(), "vim here\n\n");
    s.process(b"\x1b[?1049l");
    assert_eq!(s.text(), "shell $\n\n");
    assert_eq!(s.cursor(), (0, 8), "cursor restored");
}

#[test]
fn colours_and_attributes_are_kept_per_cell() {
    let s = screen(
        2,
        20,
        b"\x1b[1;31mR\x1b[0m \x1b[38;5;200mP\x1b[38;2;1;2;3;48;5;4mT\x1b[7mI\x1b[27;39;49mn",
    );
    let cells = &s.state.grid.rows[0].cells;
    assert_eq!(
        cells[0].style,
        Style {
            fg: Color::Indexed(1),
            bg: Color::Default,
            attrs: attr::BOLD
        }
    );
    assert_eq!(cells[1].style, Style::default());
    assert_eq!(cells[2].style.fg, Color::Indexed(200));
    assert_eq!(
        (cells[3].style.fg, cells[3].style.bg),
        (Color::Rgb(1, 2, 3), Color::Indexed(4))
    );
    assert_eq!(cells[4].style.attrs, attr::INVERSE);
    assert_eq!(cells[5].style, Style::default());
    // Colon sub-parameters too.
    let s = screen(1, 4, b"\x1b[38:2::9:8:7mX");
    assert_eq!(s.state.grid.rows[0].cells[0].style.fg, Color::Rgb(9, 8, 7));
}

#[test]
fn wide_characters_take_two_cells() {
    let s = screen(2, 4, "日本x".as_bytes());
    assert_eq!(s.text(), "日本\nx");
    assert_eq!(s.state.grid.rows[0].cells[1].ch, WIDE_CONTINUATION);
}

#[test]
fn rendering_reproduces_the_screen() {
    // Draw something busy, render it, replay the rendering on a fresh screen: same cells,
    // same cursor.
    let mut source = Screen::new(6, 30);
    source.process(b"\x1b[1;32m   Compiling\x1b[0m devtail v0.1.0\r\n");
    source.process("\x1b[44m blue \x1b[0m and \x1b[38;2;200;100;50mrgb\x1b[0m 日本\r\n".as_bytes());
    source.process(b"\x1b[4;10H\x1b[7minverse\x1b[0m\x1b[5;3H\x1b[1;3mbold italic");
    source.process(b"\x1b[6;1Hlast line\x1b[2;8H\x1b[33m");
    let rendered = source.render_screen();
    let copy = screen(6, 30, &rendered);
    for (a, b) in source.state.grid.rows.iter().zip(&copy.state.grid.rows) {
        assert_eq!(a.cells, b.cells, "row {:?}", a.text());
    }
    assert_eq!(copy.cursor(), source.cursor());
    assert_eq!(copy.state.style, source.state.style, "the pen carries over");
}

#[test]
fn rendering_keeps_the_alternate_screen_and_hidden_cursor() {
    let source = screen(3, 10, b"main\x1b[?1049h\x1b[?25lfull screen");
    let copy = screen(3, 10, &source.render_screen());
    assert!(copy.state.alternate);
    assert!(!copy.state.cursor_visible);
    assert_eq!(copy.text(), source.text());
}

#[test]
fn scrollback_renders_as_lines() {
    let s = screen(2, 10, b"one\r\n\x1b[31mtwo\x1b[0m\r\nthree\r\nfour");
    let text = String::from_utf8(s.render_scrollback(10)).unwrap();
    assert_eq!(text, "one\r\n\x1b[0;31mtwo\x1b[0m\r\n");
    assert_eq!(
        String::from_utf8(s.render_scrollback(1)).unwrap(),
        "\x1b[0;31mtwo\x1b[0m\r\n"
    );
}

#[test]
fn scrollback_is_bounded_in_lines_and_bytes() {
    let mut s = Screen::new(2, 20);
    for i in 0..1000 {
        s.process(format!("line {i}\r\n").as_bytes());
        if i % 97 == 0 {
            s.compact();
        }
    }
    assert_eq!(
        s.state.scrollback.len() + s.state.recent.len(),
        SCROLLBACK_LINES
    );
    let text = String::from_utf8(s.render_scrollback(usize::MAX)).unwrap();
    assert!(
        text.starts_with("line 799\r\n") && text.ends_with("line 998\r\n"),
        "{text}"
    );
    // Colourful lines cost more bytes: the byte budget binds before the line count.
    let mut s = Screen::new(2, 80);
    let colourful: String = (0..40)
        .map(|i| format!("\x1b[38;2;{i};{i};{i}mx"))
        .collect();
    for _ in 0..300 {
        s.process(format!("{colourful}\r\n").as_bytes());
        s.compact();
    }
    assert!(s.state.scrollback_bytes <= SCROLLBACK_BYTES);
    assert!(s.state.scrollback.len() < SCROLLBACK_LINES);
}

#[test]
fn reset_and_resize() {
    let mut s = screen(3, 10, b"\x1b]2;t\x07junk\x1b[31m");
    s.process(b"\x1bc");
    assert_eq!(s.text(), "\n\n");
    assert_eq!(s.state.style, Style::default());
    assert_eq!(s.title(), "t");
    s.process(b"abc\x1b[6n");
    s.resize(2, 2);
    assert_eq!(s.cursor(), (0, 1));
    assert_eq!(s.text(), "ab\n");
}

/// Everything the model holds, for comparing two models.
fn model(screen: &Screen) -> String {
    let s = &screen.state;
    format!(
        "{:?}",
        (
            (
                &s.grid.rows,
                &s.other.as_ref().map(|g| &g.rows),
                s.alternate
            ),
            (&s.scrollback, s.scrollback_bytes, &s.recent),
            (
                s.row,
                s.col,
                s.pending_wrap,
                s.style,
                s.saved.row,
                s.saved.col
            ),
            (s.top, s.bottom, s.autowrap, s.origin_mode, s.cursor_visible),
            (&s.title, &s.events),
        )
    )
}

/// Pieces of terminal output: text, controls, escape sequences (complete, cut, ignored,
/// aborted), UTF-8 and invalid bytes.
const PIECES: &[&[u8]] = &[
    b"hello world ",
    b"0123456789abcdefghijklmnopqrstuvwxyz",
    b"\r\n",
    b"\n",
    b"\r",
    b"\t",
    b"\x08",
    b"\x07",
    b"\x00",
    b"\x18",
    b"\x1a",
    b"\x7f",
    b"\x1b",
    b"\x1b[31m",
    b"\x1b[1;38;5;208m",
    b"\x1b[38:2:10:20:30m",
    b"\x1b[0m",
    b"\x1b[2J",
    b"\x1b[H",
    b"\x1b[5;10H",
    b"\x1b[K",
    b"\x1b[2K",
    b"\x1b[3;8r",
    b"\x1b[r",
    b"\x1b[L",
    b"\x1b[2M",
    b"\x1b[3P",
    b"\x1b[4@",
    b"\x1b[?1049h",
    b"\x1b[?1049l",
    b"\x1b[?7l",
    b"\x1b[?7h",
    b"\x1b[6n",
    b"\x1b[1;2;3;4;5;6;7;8;9;10;11;12;13;14;15;16;17;18;19;20;21;22;23;24;25;26;27;28;29;30;31;32;33m",
    b"\x1b[?1;2$p",
    b"\x1b[1\x0a2H",
    b"\x1b]0;a title\x07",
    b"\x1b]2;other\x1b\\",
    b"\x1b]52;c;aGk=\x07",
    b"\x1bP1$qm\x1b\\",
    b"\x1b_apc\x1b\\",
    b"\x1b7",
    b"\x1b8",
    b"\x1bM",
    b"\x1bD",
    b"\x1bE",
    b"\x1b(B",
    b"\x1bc",
    "é".as_bytes(),
    "日本語".as_bytes(),
    "█▌".as_bytes(),
    "\u{9b}".as_bytes(),
    "e\u{301}".as_bytes(),
    b"\xff",
    b"\x80",
    b"\xe6\x97",
];

/// The plain-text shortcut in [`Screen::process`] must leave exactly the state the parser alone
/// would, however the output is cut into reads: random mixes of text, controls, escape
/// sequences (complete, cut, ignored, aborted), UTF-8 and invalid bytes, in random chunks.
#[test]
fn the_plain_text_path_matches_the_parser_alone() {
    let mut next = random(0x9e37_79b9_7f4a_7c15);
    for case in 0..2000 {
        let mut output = Vec::new();
        for _ in 0..next(300) {
            output.extend_from_slice(PIECES[next(PIECES.len())]);
        }
        let (rows, cols) = (1 + next(12) as u16, 1 + next(40) as u16);
        let mut fast = Screen::new(rows, cols);
        let mut reference = Screen::new(rows, cols);
        let mut rest = &output[..];
        while !rest.is_empty() {
            let (chunk, left) = rest.split_at(1 + next(rest.len().min(64)));
            feed_both(&mut fast, &mut reference, chunk);
            rest = left;
        }
        assert_eq!(
            model(&fast),
            model(&reference),
            "case {case}: {rows}x{cols}, output {:?}",
            String::from_utf8_lossy(&output)
        );
    }
}

/// Feeds `chunk` to the model under test and to a reference driven by the parser alone; what
/// they report must agree.
fn feed_both(fast: &mut Screen, reference: &mut Screen, chunk: &[u8]) {
    let events = fast.process(chunk);
    reference.parser.advance(&mut reference.state, chunk);
    assert_eq!(events, std::mem::take(&mut reference.state.events));
}

/// A small deterministic random source: `next(bound)` is below `bound`.
fn random(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |bound: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % bound as u64) as usize
    }
}

/// Skipping the plain lines a chunk scrolls past ([`Screen::process`]) must leave exactly the
/// state parsing them would. Each case starts from a random state (random output, then now and
/// then the cursor at the top, autowrap off, a scroll region, a cut escape sequence), then
/// floods plain lines of random lengths (wrapping ones, tabs, backspaces, bare line feeds among
/// them) in large chunks, then more random output.
#[test]
fn text_scrolled_past_is_skipped_without_a_trace() {
    const STARTS: &[&[u8]] = &[
        b"",
        b"\x1b[H",
        b"\x1b[?7l",
        b"\x1b[2r",
        b"\x1b[",
        b"\x1b]0;",
    ];
    let mut next = random(0x2545_f491_4f6c_dd1d);
    let mut skipped = 0;
    for case in 0..300 {
        // Narrow screens often: lines then end in the last column more often.
        let cols = 1 + if next(3) == 0 { next(4) } else { next(100) } as u16;
        let rows = 1 + next(30) as u16;
        let mut start = Vec::new();
        for _ in 0..next(40) {
            start.extend_from_slice(PIECES[next(PIECES.len())]);
        }
        if next(4) == 0 {
            // The screen full of text, the cursor at the top: the flood's first lines land on
            // it, and only enough line feeds push all of them out.
            start.extend_from_slice(b"\x1b[?7h\x1b[r\x1b[H");
            start.resize(start.len() + usize::from(rows) * usize::from(cols), b'#');
            start.extend_from_slice(b"\x1b[H");
        }
        start.extend_from_slice(STARTS[next(STARTS.len())]);
        // Lines ending in "\r\n" (or now and then a bare "\n"), then lines ending in a bare
        // "\n" only (as a raw terminal shows them: the column carries over from line to
        // line), in random proportions, all of one kind in some cases.
        let (lines, bare) = match next(3) {
            0 => (next(1200), 0),
            1 => (0, next(1200)),
            _ => (next(1200), next(800)),
        };
        // Tabs and backspaces in some of the lines, in half the cases: up to a random line
        // (a tab aligns the column, so where they continue they would hide a wrong one).
        let controls_until = if next(2) == 0 {
            next(lines + bare + 1)
        } else {
            0
        };
        // Lines up to twice the width, or short ones that never wrap (the line feeds are then
        // all the scrolling there is).
        let longest = if next(2) == 0 {
            2 * usize::from(cols) + 4
        } else {
            usize::from(cols) / 2
        };
        let mut flood = Vec::new();
        for line in 0..lines + bare {
            let controls = if line < controls_until {
                40
            } else {
                usize::MAX
            };
            for _ in 0..next(longest + 1) {
                flood.push(match next(controls) {
                    0 => b'\t',
                    1 => 0x08,
                    _ => b'!' + next(94) as u8,
                });
            }
            let cr = line < lines && next(5) != 0;
            flood.extend_from_slice(if cr { b"\r\n" } else { b"\n" });
        }
        let mut end = Vec::new();
        for _ in 0..next(10) {
            end.extend_from_slice(PIECES[next(PIECES.len())]);
        }
        let mut fast = Screen::new(rows, cols);
        let mut reference = Screen::new(rows, cols);
        // The flood in one piece in some cases: the margin of line feeds after what is skipped
        // shows only when no more follow.
        let flood_read = if next(3) == 0 {
            flood.len()
        } else {
            1 + next(flood.len() + 1)
        };
        for (part, read) in [(&start, 64), (&flood, flood_read), (&end, 64)] {
            let mut rest = &part[..];
            while !rest.is_empty() {
                let (chunk, left) = rest.split_at(rest.len().min(1 + next(read)));
                skipped += fast.state.scrolled_past(chunk).map_or(0, |(skip, ..)| skip);
                feed_both(&mut fast, &mut reference, chunk);
                rest = left;
            }
        }
        assert_eq!(
            model(&fast),
            model(&reference),
            "case {case}: {rows}x{cols}, output {:?}",
            String::from_utf8_lossy(&[start, flood, end].concat())
        );
    }
    assert!(
        skipped > 0,
        "no chunk was skipped: the test does not test skipping"
    );
}

/// The worst case for the skip: the cursor at the top of a screen full of text when a flood of
/// short lines comes in one read. Parsed, the skipped lines would have taken the cursor to the
/// bottom and scrolled; skipped, the lines after them first walk it down over the old text,
/// and only then scroll it and themselves out: that is what the line feeds counted for a skip
/// must cover.
#[test]
fn a_flood_skipped_from_the_top_of_a_full_screen_leaves_no_trace() {
    for (rows, cols) in [(1, 10), (5, 20), (24, 80)] {
        for lines in 2 * usize::from(rows) + 195..2 * usize::from(rows) + 260 {
            let mut start = vec![b'#'; usize::from(rows) * usize::from(cols)];
            start.extend_from_slice(b"\x1b[H");
            let mut flood = Vec::new();
            for line in 0..lines {
                flood.extend_from_slice(format!("{line}\r\n").as_bytes());
            }
            let mut fast = Screen::new(rows, cols);
            let mut reference = Screen::new(rows, cols);
            for chunk in [&start, &flood] {
                feed_both(&mut fast, &mut reference, chunk);
            }
            assert_eq!(
                model(&fast),
                model(&reference),
                "{rows}x{cols}, {lines} lines"
            );
        }
    }
}

/// The word-at-a-time scan for plain text agrees with a byte-by-byte one, wherever the first
/// other byte is and whatever it is.
#[test]
fn the_plain_text_scan_finds_the_first_other_byte() {
    let plain = |b: &u8| matches!(b, 0x20..=0x7e | b'\r' | b'\n' | b'\t' | 0x08);
    let mut next = random(0x1234_5678_9abc_def1);
    for _ in 0..20_000 {
        let mut bytes: Vec<u8> = (0..next(40))
            .map(|_| match next(8) {
                0 => [b'\r', b'\n', b'\t', 0x08][next(4)],
                _ => 0x20 + next(0x5f) as u8,
            })
            .collect();
        if next(3) > 0 {
            let at = next(bytes.len() + 1);
            bytes.insert(at, next(256) as u8);
        }
        let expected = bytes.iter().position(|b| !plain(b)).unwrap_or(bytes.len());
        assert_eq!(plain_len(&bytes), expected, "{bytes:?}");
    }
}
