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
        "checkov not found at {} (from {origin}): install it in its own venv \
         (`python3 -m venv .venv-checkov && .venv-checkov/bin/pip install checkov==3.3.30`; \
         it pins boto3 far back) and set CHECKOV to its binary",
        path.display()
    );
    path
}

#[test]
fn checkov_fails_nothing_and_every_skip_has_a_reason() {
    let checkov = checkov();
    let dir = std::env::temp_dir().join(format!("infra-checkov-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut problems = Vec::new();
    for (i, cfg) in all_configs().iter().enumerate() {
        let path = dir.join(format!("{i}-{}", infra::template_file_name(cfg.stage)));
        std::fs::write(&path, infra::template(cfg).to_json()).unwrap();
        // --skip-download: no network call (and no traceback without one).
        let output = Command::new(&checkov)
            .args([
                "--skip-download",
                "--framework",
                "cloudformation",
                "-o",
                "json",
                "-f",
            ])
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", checkov.display()));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "{}: checkov (exit {:?}) printed no JSON report ({e}):\n{stdout}\n{}",
                path.display(),
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            )
        });
        let summary = &report["summary"];
        assert!(
            summary["passed"].as_u64().is_some_and(|passed| passed > 20),
            "{}: checkov checked too little: {summary}",
            path.display()
        );
        assert_eq!(summary["parsing_errors"], 0, "{}", path.display());
        for failed in report["results"]["failed_checks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            problems.push(format!(
                "{} ({}): {} failed on {}: {}",
                cfg.stage,
                path.display(),
                failed["check_id"],
                failed["resource"],
                failed["check_name"]
            ));
        }
        for skipped in report["results"]["skipped_checks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let comment = skipped["check_result"]["suppress_comment"]
                .as_str()
                .unwrap_or("");
            if comment.trim().is_empty() || comment == "No comment provided" {
                problems.push(format!(
                    "{}: {} skipped on {} without a reason",
                    cfg.stage, skipped["check_id"], skipped["resource"]
                ));
            }
        }
        if !output.status.success() && problems.is_empty() {
            problems.push(format!(
                "{}: checkov exited {:?}: {}",
                cfg.stage,
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(problems.is_empty(), "checkov:\n{}", problems.join("\n"));
}
