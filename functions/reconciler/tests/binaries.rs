//! The Lambda binaries started without the environment the template gives
//! them: they stop at once, naming the missing variable, instead of waiting
//! on a runtime API that is not there.
//!
//! These tests also make `cargo test` build the two binaries (for
//! `CARGO_BIN_EXE_*`) in the test build itself, which is where the
//! end-to-end tests take them from (`LAMBDA_BIN_DIR`): one build of the
//! workspace and its dependencies, with one feature set.

// A failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use reconciler_core::contract::{handler_env, sweep_env};

/// Runs a binary with an empty environment: (exited successfully, output).
fn started_bare(binary: &str) -> (bool, String) {
    let out = Command::new(binary).env_clear().output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn the_handler_without_its_environment_names_what_is_missing() {
    let (ok, text) = started_bare(env!("CARGO_BIN_EXE_reconciler-handler"));
    assert!(!ok, "{text}");
    assert!(
        text.contains("is not set") && text.contains(handler_env::STAGE),
        "{text}"
    );
}

#[test]
fn the_sweep_without_its_environment_names_what_is_missing() {
    let (ok, text) = started_bare(env!("CARGO_BIN_EXE_reconciler-sweep"));
    assert!(!ok, "{text}");
    let required = [
        sweep_env::STAGE,
        sweep_env::LEDGER_TABLE,
        sweep_env::HOLD_TIMEOUT_SECONDS,
        sweep_env::STRAGGLER_ACTION,
    ];
    assert!(
        text.contains("is not set") && required.iter().any(|v| text.contains(v)),
        "{text}"
    );
}
