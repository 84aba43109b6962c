//! The exit codes of `cargo xtask`, one table: a script or a cron job must
//! tell a typo on the command line from a stage that needs a person, and
//! both from drift. README.md and docs/operations.md print the same table
//! (`the_docs_print_this_table` keeps them so).

/// The command did what it was asked and found nothing to report.
pub const OK: u8 = 0;
/// The command failed: one line on standard error says why and what to do
/// (AWS unreachable, refused, a bad stage file, not confirmed…).
pub const FAILED: u8 = 1;
/// The command ran and found something a person must look at, listed
/// (`status`, `sweep`, `ledger adjust` answered `conflict`, `ledger repair
/// --dry-run` found drift, `smoke`).
pub const NEEDS_A_PERSON: u8 = 2;
/// The command ran and found differences: `drift` found resources or code
/// changed outside the stack; `diff --fail` found changes to deploy.
pub const DIFFERS: u8 = 3;
/// The command line was not understood (an unknown option, a missing
/// argument, a bad value): nothing was run. `EX_USAGE` of sysexits.h.
pub const USAGE: u8 = 64;

/// Every code, its name and its meaning, as the docs print them.
pub const TABLE: [(u8, &str, &str); 5] = [
    (OK, "ok", "done; nothing needs a person"),
    (
        FAILED,
        "failed",
        "the command failed; one line on standard error says why and what to do",
    ),
    (
        NEEDS_A_PERSON,
        "needs a person",
        "it ran and found something a person must look at, listed (`status`, `sweep`, `ledger adjust` answered `conflict`, `ledger repair --dry-run` found drift, `smoke`)",
    ),
    (
        DIFFERS,
        "differs",
        "`drift` found changes made outside the stack; `diff --fail` found changes to deploy",
    ),
    (
        USAGE,
        "usage",
        "the command line was not understood (unknown option, missing argument, bad value); nothing ran",
    ),
];

/// The table as Markdown rows (`| 0 | ok | … |`), as the docs hold it.
pub fn markdown_rows() -> Vec<String> {
    TABLE
        .iter()
        .map(|(code, name, meaning)| format!("| {code} | {name} | {meaning} |"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_distinct() {
        let mut codes: Vec<u8> = TABLE.iter().map(|(c, _, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes, [0, 1, 2, 3, 64]);
    }

    /// README.md and docs/operations.md hold the table row for row, so
    /// what a script is told is what the binary does.
    #[test]
    fn the_docs_print_this_table() {
        for doc in ["README.md", "docs/operations.md"] {
            let text = std::fs::read_to_string(crate::root().join(doc)).expect("the doc");
            for row in markdown_rows() {
                assert!(text.contains(&row), "{doc} lacks the row\n{row}");
            }
        }
    }
}
