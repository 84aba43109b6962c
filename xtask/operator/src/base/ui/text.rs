//! Text for a terminal: one table printer, lines clipped to a width, and
//! colours (the `console` crate: no raw escape codes, and none when the
//! output is not a terminal).

use std::io::IsTerminal;

/// How wide `text` shows on a terminal: colour escape codes take no room.
fn width(text: &str) -> usize {
    console::measure_text_width(text)
}

/// A plain table: a header, rows, columns separated by two spaces, the last
/// one unpadded, trailing space trimmed. Columns align on what shows: a
/// painted cell ([`paint`]) is as wide as its text.
pub fn table<R: AsRef<[String]>>(header: &[&str], rows: &[R]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row.as_ref()) {
            *w = (*w).max(width(cell));
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.iter().enumerate() {
            s.push_str(cell);
            if i < last {
                s.push_str(&" ".repeat(widths[i] - width(cell) + 2));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.as_ref().iter().map(String::as_str).collect()));
    }
    out
}

/// At most `max` characters of `s` on one line (`…` when cut).
pub fn clip(s: &str, max: usize) -> String {
    let one_line = s.replace(['\n', '\r'], " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut out: String = one_line.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// How loud a line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// Data is at stake (red, bold).
    Danger,
    /// Look at it (yellow, bold).
    Warning,
    /// All is well (green).
    Good,
}

/// `text` in `tone` when `color` (a terminal), else as is.
pub fn paint(text: &str, tone: Tone, color: bool) -> String {
    let style = match tone {
        Tone::Danger => console::Style::new().red().bold(),
        Tone::Warning => console::Style::new().yellow().bold(),
        Tone::Good => console::Style::new().green(),
    };
    style.force_styling(color).apply_to(text).to_string()
}

/// When to colour the output: `--color auto|always|never`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set (to anything but nothing).
    #[default]
    Auto,
    /// Always, even into a pipe or a file, and whatever `NO_COLOR` says.
    Always,
    /// Never.
    Never,
}

/// The choice of this process ([`choose_color`]): 0 auto, 1 always, 2 never.
static CHOICE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Sets this process's colour choice (`--color`, once, before any output),
/// for what the commands paint and for the progress bars drawn on standard
/// error.
pub fn choose_color(choice: ColorChoice) {
    let n = match choice {
        ColorChoice::Auto => 0,
        ColorChoice::Always => 1,
        ColorChoice::Never => 2,
    };
    CHOICE.store(n, std::sync::atomic::Ordering::Relaxed);
    console::set_colors_enabled(color());
    console::set_colors_enabled_stderr(colors(
        choice,
        no_color_set(),
        std::io::stderr().is_terminal(),
    ));
}

fn chosen() -> ColorChoice {
    match CHOICE.load(std::sync::atomic::Ordering::Relaxed) {
        1 => ColorChoice::Always,
        2 => ColorChoice::Never,
        _ => ColorChoice::Auto,
    }
}

/// `NO_COLOR` is set to something (<https://no-color.org>).
fn no_color_set() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Whether to colour (pure): `--color always|never` decide; `auto`
/// colours a terminal unless `NO_COLOR` is set.
fn colors(choice: ColorChoice, no_color: bool, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && !no_color,
    }
}

/// Whether to colour standard output ([`colors`] for this process).
pub fn color() -> bool {
    colors(chosen(), no_color_set(), std::io::stdout().is_terminal())
}

/// Whether a human can be asked (standard input is a terminal).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_aligns_its_columns() {
        let rows = vec![
            vec!["a".to_owned(), "long value".to_owned(), "x".to_owned()],
            vec!["bbb".to_owned(), "v".to_owned(), String::new()],
        ];
        assert_eq!(
            table(&["K", "VALUE", "LAST"], &rows),
            "K    VALUE       LAST\na    long value  x\nbbb  v\n"
        );
    }

    /// Cells painted in different tones carry escape codes of different
    /// lengths (and none on the header): the columns still align on what a
    /// terminal shows, as in `status`'s alarm table.
    #[test]
    fn painted_cells_align_on_what_shows() {
        let rows = vec![
            vec![paint("OK", Tone::Good, true), "errors".to_owned()],
            vec![paint("ALARM", Tone::Danger, true), "dlq".to_owned()],
            vec![
                paint("INSUFFICIENT_DATA", Tone::Warning, true),
                "drift".to_owned(),
            ],
        ];
        assert_ne!(rows[0][0], "OK", "painted");
        let shown: Vec<String> = table(&["STATE", "ALARM"], &rows)
            .lines()
            .map(|l| console::strip_ansi_codes(l).into_owned())
            .collect();
        assert_eq!(
            shown,
            [
                "STATE              ALARM",
                "OK                 errors",
                "ALARM              dlq",
                "INSUFFICIENT_DATA  drift",
            ]
        );
    }

    #[test]
    fn the_choice_and_no_color_decide_the_colours() {
        for (choice, no_color, terminal, expected) in [
            (ColorChoice::Auto, false, true, true),
            (ColorChoice::Auto, true, true, false),
            (ColorChoice::Auto, false, false, false),
            (ColorChoice::Always, true, false, true),
            (ColorChoice::Never, false, true, false),
        ] {
            assert_eq!(
                colors(choice, no_color, terminal),
                expected,
                "{choice:?}, NO_COLOR {no_color}, terminal {terminal}"
            );
        }
    }

    #[test]
    fn colors_only_on_a_terminal() {
        assert_eq!(paint("x", Tone::Danger, false), "x");
        assert_ne!(paint("x", Tone::Danger, true), "x");
        assert_eq!(clip("ab\ncd", 10), "ab cd");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
