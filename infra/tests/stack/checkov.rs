//! checkov over every stage's template (and the all-options configs the
//! cfn-lint test uses): no failed check, and every skip carries a reason.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::support::all_configs;

/// `$CHECKOV`, else the workspace's `.venv/bin/checkov`.
fn checkov() -> PathBuf {
    let (path, origin) = match std::env::var_os("CHECKOV") {
        Some(path) => (PathBuf::from(path), "$CHECKOV"),
        None => (
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/checkov"),
            "the workspace's .venv",
        ),
    };
    assert!(
        path.is_file(),
        "checkov not found at {} (from {origin}): run `cargo xtask test` (or `cargo xtask \
         tools`), which installs the pinned tools, or set CHECKOV to a checkov binary",
        path.display()
    );
    path
}

#[test]
fn checkov_fails_nothing_and_every_skip_has_a_reason() {
    let checkov = checkov();
    let dir = std::env::temp_dir().join(format!("infra-checkov-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for (i, cfg) in all_configs().iter().enumerate() {
        let name = format!("{i}-{}", infra::template_file_name(cfg.stage));
        std::fs::write(dir.join(&name), infra::template(cfg).to_json()).unwrap();
        files.push(name);
    }
    // One run over every template (checkov's start-up is most of its time);
    // --skip-download: no network call (and no traceback without one).
    let mut command = Command::new(&checkov);
    command.args([
        "--skip-download",
        "--framework",
        "cloudformation",
        "-o",
        "json",
    ]);
    for name in &files {
        command.arg("-f").arg(dir.join(name));
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", checkov.display()));
    std::fs::remove_dir_all(&dir).ok();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "checkov (exit {:?}) printed no JSON report ({e}):\n{stdout}\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(
        report["summary"]["parsing_errors"], 0,
        "{}",
        report["summary"]
    );
    let results = &report["results"];
    let checks = |kind: &str| results[kind].as_array().cloned().unwrap_or_default();
    // Every template was checked, and not trivially.
    for name in &files {
        let passed = checks("passed_checks")
            .iter()
            .filter(|c| {
                c["file_path"]
                    .as_str()
                    .is_some_and(|f| f.ends_with(name.as_str()))
            })
            .count();
        assert!(passed > 20, "{name}: checkov passed only {passed} checks");
    }
    let mut problems = Vec::new();
    for failed in checks("failed_checks") {
        problems.push(format!(
            "{}: {} failed on {}: {}",
            failed["file_path"], failed["check_id"], failed["resource"], failed["check_name"]
        ));
    }
    for skipped in checks("skipped_checks") {
        let comment = skipped["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or("");
        if comment.trim().is_empty() || comment == "No comment provided" {
            problems.push(format!(
                "{}: {} skipped on {} without a reason",
                skipped["file_path"], skipped["check_id"], skipped["resource"]
            ));
        }
    }
    if !output.status.success() && problems.is_empty() {
        problems.push(format!(
            "checkov exited {:?}: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    assert!(problems.is_empty(), "checkov:\n{}", problems.join("\n"));
}
