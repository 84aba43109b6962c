//! What the commands print and ask, one way: tables, colors (the `console`
//! crate: no raw escape codes, and none when the output is not a terminal),
//! and confirmations.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;

/// A plain table: a header, rows, columns separated by two spaces, the last
/// one unpadded, trailing space trimmed.
pub fn table<R: AsRef<[String]>>(header: &[&str], rows: &[R]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row.as_ref()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.iter().enumerate() {
            s.push_str(cell);
            if i < last {
                s.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
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

/// Whether standard output is a terminal (colors, progress bars).
pub fn color() -> bool {
    std::io::stdout().is_terminal()
}

/// Whether a human can be asked (standard input is a terminal).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// Where a long operation talks to its operator: notes while it works
/// (progress, warnings), the result, and questions. The commands use
/// [`Terminal`]; the tests use [`Recorder`] and read back what was said, so
/// the operation itself never prints.
pub trait Out: Send + Sync {
    /// A note while working (standard error on a terminal).
    fn note(&self, line: &str);
    /// Part of the result (standard output on a terminal).
    fn show(&self, text: &str);
    /// Asks a person; true when the answer confirms (see [`confirms`]).
    ///
    /// # Errors
    /// The answer could not be read.
    fn ask(&self, question: &str, expected: &str) -> anyhow::Result<bool>;
}

/// The terminal: notes on standard error, results on standard output,
/// questions asked on standard error and answered on standard input.
#[derive(Clone, Copy, Debug, Default)]
pub struct Terminal;

impl Out for Terminal {
    fn note(&self, line: &str) {
        eprintln!("{line}");
    }

    fn show(&self, text: &str) {
        print!("{text}");
        if !text.ends_with('\n') {
            println!();
        }
    }

    fn ask(&self, question: &str, expected: &str) -> anyhow::Result<bool> {
        ask(question, expected)
    }
}

/// Keeps what was said (and answers every question with `answer`), for
/// tests; notes are echoed to standard error so a failing test shows them.
#[derive(Debug, Default)]
pub struct Recorder {
    lines: std::sync::Mutex<Vec<String>>,
    /// The answer to every question.
    pub answer: bool,
}

impl Recorder {
    /// A recorder answering every question with `answer`.
    pub fn answering(answer: bool) -> Recorder {
        Recorder {
            lines: std::sync::Mutex::default(),
            answer,
        }
    }

    /// Everything said so far, one entry per note, result or question
    /// (questions start with `? `).
    pub fn said(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Everything said, as one text.
    pub fn text(&self) -> String {
        self.said().join("\n")
    }

    fn keep(&self, line: String) {
        eprintln!("{line}");
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line);
        }
    }
}

impl Out for Recorder {
    fn note(&self, line: &str) {
        self.keep(line.to_owned());
    }

    fn show(&self, text: &str) {
        self.keep(text.trim_end().to_owned());
    }

    fn ask(&self, question: &str, _expected: &str) -> anyhow::Result<bool> {
        self.keep(format!("? {question}"));
        Ok(self.answer)
    }
}

/// Goes on, asks through `out`, or stops.
///
/// # Errors
/// Refused, or not confirmed (`not_confirmed` says what did not happen).
pub fn settle(
    confirmation: Confirmation,
    out: &dyn Out,
    not_confirmed: &str,
) -> anyhow::Result<()> {
    match confirmation {
        Confirmation::Proceed => Ok(()),
        Confirmation::Refuse(why) => anyhow::bail!(why),
        Confirmation::Ask { question, expected } => {
            if out.ask(&question, &expected)? {
                Ok(())
            } else {
                anyhow::bail!("not confirmed: {not_confirmed}")
            }
        }
    }
}

/// Whether to go on without asking, ask, or stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// Go on.
    Proceed,
    /// Ask on the terminal: the question, and the answer that confirms
    /// (`yes`, or a name to type).
    Ask { question: String, expected: String },
    /// Stop, with this error.
    Refuse(String),
}

impl Confirmation {
    /// Ask `question`; `yes` (or `y`) confirms.
    pub fn ask_yes(question: impl Into<String>) -> Confirmation {
        Confirmation::Ask {
            question: question.into(),
            expected: "yes".into(),
        }
    }

    /// The question prefixed with who and where (`Session::who_and_where`),
    /// so that whoever answers sees the account, region and principal in
    /// the question itself; nothing changes when `who` is empty (tests).
    #[must_use]
    pub fn naming(self, who: &str) -> Confirmation {
        match self {
            Confirmation::Ask { question, expected } if !who.is_empty() => Confirmation::Ask {
                question: format!("{who}: {question}"),
                expected,
            },
            other => other,
        }
    }

    /// The usual rule: `--yes` goes on; otherwise ask on a terminal, and
    /// without one refuse, saying that `--yes` is needed to `doing`.
    pub fn yes_or_ask(yes: bool, interactive: bool, question: &str, doing: &str) -> Confirmation {
        match (yes, interactive) {
            (true, _) => Confirmation::Proceed,
            (false, true) => Confirmation::ask_yes(question),
            (false, false) => Confirmation::Refuse(format!(
                "{doing} needs a confirmation and there is no terminal to ask on: pass --yes"
            )),
        }
    }

    /// Goes on, asks (on standard error, reading standard input), or stops.
    ///
    /// # Errors
    /// Refused, or not confirmed (`not_confirmed` says what did not happen).
    pub fn resolve(self, not_confirmed: &str) -> anyhow::Result<()> {
        settle(self, &Terminal, not_confirmed)
    }
}

/// Asks on the terminal; true when the answer confirms (see [`confirms`]).
///
/// # Errors
/// Standard input could not be read.
pub fn ask(question: &str, expected: &str) -> anyhow::Result<bool> {
    let hint = if expected == "yes" {
        "type yes to go on".to_owned()
    } else {
        format!("type {expected} to go on")
    };
    eprint!("{question} ({hint}): ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("read the answer")?;
    Ok(confirms(&answer, expected))
}

/// Whether an answer confirms: `yes` (or `y`) when that was asked for, else
/// exactly the expected text (e.g. a stack's name).
pub fn confirms(answer: &str, expected: &str) -> bool {
    let answer = answer.trim();
    if expected == "yes" {
        answer.eq_ignore_ascii_case("yes") || answer.eq_ignore_ascii_case("y")
    } else {
        answer == expected
    }
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

    #[test]
    fn colors_only_on_a_terminal() {
        assert_eq!(paint("x", Tone::Danger, false), "x");
        assert_ne!(paint("x", Tone::Danger, true), "x");
        assert_eq!(clip("ab\ncd", 10), "ab cd");
        assert_eq!(clip("abcdef", 4), "abc…");
    }

    #[test]
    fn questions_name_who_and_where() {
        let who = "cc-agent-reconciler-prod: account 1, region eu-west-1, as me";
        assert_eq!(
            Confirmation::ask_yes("Deploy?").naming(who),
            Confirmation::ask_yes(format!("{who}: Deploy?"))
        );
        assert_eq!(
            Confirmation::ask_yes("Deploy?").naming(""),
            Confirmation::ask_yes("Deploy?")
        );
        assert_eq!(
            Confirmation::Proceed.naming(who),
            Confirmation::Proceed,
            "nothing asked, nothing named"
        );
    }

    #[test]
    fn confirmations() {
        assert!(confirms(" YES\n", "yes") && confirms("y", "yes"));
        assert!(!confirms("no", "yes"));
        assert!(confirms(
            "cc-agent-reconciler-prod\n",
            "cc-agent-reconciler-prod"
        ));
        assert!(!confirms("yes", "cc-agent-reconciler-prod"));
        assert_eq!(
            Confirmation::yes_or_ask(true, false, "q", "purging"),
            Confirmation::Proceed
        );
        assert!(matches!(
            Confirmation::yes_or_ask(false, false, "q", "purging"),
            Confirmation::Refuse(why) if why.contains("pass --yes")
        ));
        assert!(matches!(
            Confirmation::Refuse("no".into()).resolve("nothing done"),
            Err(e) if e.to_string() == "no"
        ));
    }
}
