//! `cargo xtask test --mutants`: mutation testing of the pure core, the
//! DynamoDB adapter's store and the sweep's lanes (`cargo-mutants`). Each mutant is one small
//! change of the code (an operator flipped, a condition dropped, a function
//! returning a default); the unit tests of both crates must fail for each.
//! A mutant they let through is a test missing, or a change that makes no
//! difference: `docs/testing.md` lists the ones that are, with why.
//!
//! Slow (hours on two cores: one build and test run per mutant), so not
//! part of the default run. It builds in its own directory under the target
//! directory (the copy of the tree cargo-mutants makes builds there too, so
//! the dependencies are compiled once) and with one job, so that it can run
//! in the background while other work goes on.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::test::step;

/// The cargo-mutants this runs, installed under the target directory when
/// missing: a pinned version, so that two runs mutate the same way.
const VERSION: &str = "27.1.0";

/// What is mutated: the core's and the store's code, and the sweep's
/// lanes (their `#[cfg(test)]` modules are never mutated).
const FILES: [&str; 3] = [
    "functions/core/src/**/*.rs",
    "functions/reconciler/src/store/**/*.rs",
    "functions/reconciler/src/sweep/lanes.rs",
];

/// Test-only files among them: the mocked DynamoDB, the adapter's unit
/// and property tests and their reading of requests, the core's table of
/// transitions.
const TEST_ONLY: [&str; 5] = [
    "functions/reconciler/src/store/mock.rs",
    "functions/reconciler/src/store/run_tests.rs",
    "functions/reconciler/src/store/spell.rs",
    "functions/reconciler/src/store/stored_tests.rs",
    "functions/core/src/transitions.rs",
];

/// Whose tests judge every mutant: the core's (property tests included)
/// and the reconciler's unit layer (the adapter and the sweep against
/// mocked DynamoDB), which decides on the core.
const JUDGES: [&str; 2] = ["reconciler-core", "reconciler"];

/// One test run may take this long before its mutant counts as a hang
/// (caught: a mutant that loops forever is not a survivor). The unmutated
/// tests take about 10 s; a retry loop that never gives up takes forever.
const TEST_TIMEOUT_SECONDS: u32 = 120;

/// Property-test cases per run: fewer than the full run's 10,000, so one
/// mutant's tests take seconds.
const PROPTEST_CASES: &str = "1000";

/// The command line of a run (pure): mutants of [`FILES`], judged by the
/// tests of [`JUDGES`], one at a time, results in `output`; only those in
/// `in_diff` when given.
pub(crate) fn arguments(output: &Path, in_diff: Option<&Path>) -> Vec<String> {
    let mut args: Vec<String> = ["mutants", "--jobs", "1", "--no-shuffle"]
        .map(String::from)
        .into();
    args.extend(["--timeout".into(), TEST_TIMEOUT_SECONDS.to_string()]);
    for file in FILES {
        args.extend(["--file".into(), file.into()]);
    }
    for file in TEST_ONLY {
        args.extend(["--exclude".into(), file.into()]);
    }
    for package in JUDGES {
        args.extend(["--test-package".into(), package.into()]);
    }
    args.extend(["--output".into(), output.display().to_string()]);
    if let Some(diff) = in_diff {
        args.extend(["--in-diff".into(), diff.display().to_string()]);
    }
    args
}

/// Installs the pinned cargo-mutants under `tools` unless it is there;
/// returns its path.
fn ensure_installed(tools: &Path) -> anyhow::Result<PathBuf> {
    let binary = tools.join("bin/cargo-mutants");
    // As cargo runs it: the subcommand's name first.
    let version = Command::new(&binary)
        .args(["mutants", "--version"])
        .output();
    if version.is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(VERSION)) {
        return Ok(binary);
    }
    step(
        &format!("cargo install cargo-mutants {VERSION}"),
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["install", "--locked", "--version", VERSION, "cargo-mutants"])
            .arg("--root")
            .arg(tools)
            // Built in a directory of its own, removed afterwards, not in
            // the workspace's target.
            .env_remove("CARGO_TARGET_DIR"),
    )?;
    Ok(binary)
}

/// Runs cargo-mutants; fails when a mutant survived (the list is in
/// `<target>/mutants/mutants.out/missed.txt`).
///
/// # Errors
/// The install failed, the baseline failed, or mutants survived.
pub(crate) fn run(target: &Path, in_diff: Option<&Path>) -> anyhow::Result<()> {
    let binary = ensure_installed(&target.join("tools"))?;
    let dir = target.join("mutants");
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    step(
        "cargo mutants",
        Command::new(binary)
            .args(arguments(&dir, in_diff))
            .env("CARGO_TARGET_DIR", dir.join("build"))
            .env("CARGO_BUILD_JOBS", "1")
            .env("PROPTEST_CASES", PROPTEST_CASES),
    )
    .with_context(|| {
        format!(
            "survivors: {}; each needs a test that kills it, or its entry in docs/testing.md",
            dir.join("mutants.out/missed.txt").display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mutants are the core's and the store's, judged by both crates'
    /// tests, one at a time under a timeout; test-only files are left alone.
    #[test]
    fn the_run_mutates_the_core_the_store_and_the_lanes_one_at_a_time() {
        let args = arguments(Path::new("/t/mutants"), Some(Path::new("/t/d.diff")));
        let after = |flag: &str| -> Vec<&str> {
            args.windows(2)
                .filter(|w| w[0] == flag)
                .map(|w| w[1].as_str())
                .collect()
        };
        assert_eq!(args[0], "mutants");
        assert_eq!(after("--jobs"), ["1"]);
        assert_eq!(after("--timeout"), ["120"]);
        assert_eq!(
            after("--file"),
            [
                "functions/core/src/**/*.rs",
                "functions/reconciler/src/store/**/*.rs",
                "functions/reconciler/src/sweep/lanes.rs"
            ]
        );
        assert!(after("--exclude").contains(&"functions/reconciler/src/store/run_tests.rs"));
        assert_eq!(after("--test-package"), ["reconciler-core", "reconciler"]);
        assert_eq!(after("--output"), ["/t/mutants"]);
        assert_eq!(after("--in-diff"), ["/t/d.diff"]);
        assert!(!arguments(Path::new("/t"), None).contains(&"--in-diff".to_owned()));
    }
}
