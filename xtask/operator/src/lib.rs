//! The operator library: the console (status, logs, ledger, dlq, smoke, …)
//! and the deploy engine behind `cargo xtask`. The `xtask` binary parses the
//! command line and calls in here; the end-to-end tests call the same
//! functions (e.g. [`deploy::deploy`]) against a moto server.
//!
//! Rooms with one-way doors, bottom up: [`base`] (foundations, no AWS),
//! [`aws`] (the session), [`cfn`] and [`artifacts`] (CloudFormation, the
//! artifacts bucket), [`models`] (what several commands read) and
//! [`policy`] (the operator's IAM policies), [`deploy`]
//! (the deploy engine), [`commands`] (one module per command). A room
//! imports only rooms below it; `rooms.rs` checks it (ARCHITECTURE.md).

pub mod artifacts;
pub mod aws;
pub mod base;
pub mod cfn;
pub mod commands;
pub mod deploy;
pub mod models;
pub mod policy;
#[cfg(test)]
mod rooms;
#[cfg(test)]
mod runbook_check;

use std::path::PathBuf;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("xtask/operator/ is two folders below the root")
        .to_path_buf()
}
