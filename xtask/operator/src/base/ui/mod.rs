//! What the commands print and ask, one way: the [`Out`] every long
//! operation talks through ([`Terminal`] for the commands, [`Recorder`] for
//! the tests), tables and colours ([`text`]), and confirmations with the
//! one table of who confirms what on which stage ([`confirm`]).

mod confirm;
mod text;

use std::io::{BufRead, Write};

use anyhow::Context;

pub use confirm::{Act, Confirmation, Given, Need, settle};
pub use text::{ColorChoice, Tone, choose_color, clip, color, interactive, paint, table};

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

/// The terminal when standard output carries JSON (`--json`): the results
/// a command shows as it works go to standard error with its notes.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonTerminal;

impl Out for JsonTerminal {
    fn note(&self, line: &str) {
        eprintln!("{line}");
    }

    fn show(&self, text: &str) {
        eprint!("{text}");
        if !text.ends_with('\n') {
            eprintln!();
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
    fn answers_that_confirm() {
        assert!(confirms(" YES\n", "yes") && confirms("y", "yes"));
        assert!(!confirms("no", "yes"));
        assert!(confirms(
            "cc-agent-reconciler-prod\n",
            "cc-agent-reconciler-prod"
        ));
        assert!(!confirms("yes", "cc-agent-reconciler-prod"));
    }
}
