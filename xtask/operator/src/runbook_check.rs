//! The runbook is where the alarms and the commands send people: every
//! anchor they name must exist. The alarms' descriptions name
//! `docs/operations.md#alarm-<name>` ([`infra::runbook_anchors`]); the
//! commands' messages name `docs/<file>.md#<anchor>` in their text.

use std::path::Path;

/// The anchors a Markdown file defines: `<a id="…"></a>` tags and the
/// GitHub slugs of its headings.
fn anchors(markdown: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in markdown.lines() {
        let mut rest = line;
        while let Some(at) = rest.find("<a id=\"") {
            let after = &rest[at + 7..];
            if let Some(end) = after.find('"') {
                found.push(after[..end].to_owned());
            }
            rest = after;
        }
        if let Some(heading) = line.strip_prefix('#') {
            let slug: String = heading
                .trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect();
            found.push(slug);
        }
    }
    found
}

/// Every `docs/<file>.md#<anchor>` named in `text`.
fn references(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("docs/") {
        let after = &rest[at + 5..];
        let file: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-' || *c == '.')
            .collect();
        if let Some(file) = file.strip_suffix(".md").or(file.strip_suffix(".md#"))
            && let Some(anchor) = after[file.len() + 3..].strip_prefix('#')
        {
            let anchor: String = anchor
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            if !anchor.is_empty() {
                found.push((format!("docs/{file}.md"), anchor));
            }
        }
        rest = after;
    }
    found
}

/// Every `.rs` file under `dir`.
pub(crate) fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_alarm_has_its_runbook_entry() {
    let root = crate::root();
    let runbook = std::fs::read_to_string(root.join(infra::stack::RUNBOOK_FILE)).unwrap();
    let defined = anchors(&runbook);
    for entry in infra::runbook_anchors() {
        assert!(
            runbook.contains(&format!("<a id=\"{}\"></a>", entry.anchor)),
            "{} has no <a id=\"{}\"></a> for the {} alarm",
            infra::stack::RUNBOOK_FILE,
            entry.anchor,
            entry.alarm
        );
        assert!(defined.contains(&entry.anchor));
    }
}

#[test]
fn every_runbook_link_the_commands_print_exists() {
    let root = crate::root();
    let mut files = Vec::new();
    rust_files(&root.join("xtask"), &mut files);
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (doc, anchor) in references(&text) {
            if anchor == "alarm-" {
                continue;
            }
            let markdown = std::fs::read_to_string(root.join(&doc))
                .unwrap_or_else(|e| panic!("{}: {doc}: {e}", file.display()));
            assert!(
                anchors(&markdown).contains(&anchor),
                "{} names {doc}#{anchor}, which does not exist",
                file.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} references found");
}

#[test]
fn anchors_and_references_are_found() {
    let md = "# Operating a stage\n<a id=\"alarm-errors\"></a>\n### The DLQ's 14-day deadline\n";
    assert_eq!(
        anchors(md),
        [
            "operating-a-stage",
            "alarm-errors",
            "the-dlqs-14-day-deadline"
        ]
    );
    assert_eq!(
        references("see docs/operations.md#alarm-drift) and docs/sweep.md#operations."),
        [
            ("docs/operations.md".to_owned(), "alarm-drift".to_owned()),
            ("docs/sweep.md".to_owned(), "operations".to_owned())
        ]
    );
}
