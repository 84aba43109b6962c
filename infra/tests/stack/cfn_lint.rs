//! cfn-lint over every stage's template (and prod with every option on):
//! zero findings, informational rules included.

use std::path::PathBuf;
use std::process::Command;

use crate::support::all_configs;

/// `$CFN_LINT`, else the workspace's pinned `.venv/bin/cfn-lint`.
fn cfn_lint() -> PathBuf {
    let (path, origin) = match std::env::var_os("CFN_LINT") {
        Some(path) => (PathBuf::from(path), "$CFN_LINT"),
        None => (
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/cfn-lint"),
            "the workspace's .venv",
        ),
    };
    assert!(
        path.is_file(),
        "cfn-lint not found at {} (from {origin}): run `cargo xtask test`, which installs \
         the pinned tools, or set CFN_LINT to a cfn-lint binary",
        path.display()
    );
    path
}

#[test]
fn cfn_lint_finds_nothing() {
    let lint = cfn_lint();
    let dir = std::env::temp_dir().join(format!("infra-cfn-lint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for (i, cfg) in all_configs().iter().enumerate() {
        let path = dir.join(format!("{i}-{}", infra::template_file_name(cfg.stage)));
        std::fs::write(&path, infra::template(cfg).to_json()).unwrap();
        files.push(path);
    }
    let output = Command::new(&lint)
        .args([
            "--format",
            "parseable",
            "--regions",
            "us-east-1",
            "--include-checks",
            "I",
            "--",
        ])
        .args(&files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", lint.display()));
    std::fs::remove_dir_all(&dir).ok();
    let findings = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && findings.trim().is_empty(),
        "cfn-lint found problems (exit {:?}):\n{findings}{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
}
