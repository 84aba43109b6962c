//! The commands behind `cargo xtask`, as a library: the binary (`main.rs`)
//! parses the command line, and the end-to-end tests call the same functions
//! (e.g. [`deploy::deploy`]) against a moto server.

pub mod alerts;
pub mod artifacts;
pub mod aws;
pub mod bench;
pub mod build;
pub mod console;
pub mod deploy;
pub mod dlq;
pub mod emulator;
pub mod hygiene;
pub mod invoke;
pub mod ledger;
pub mod logs;
#[cfg(test)]
mod mocks;
pub mod replay;
pub mod run;
#[cfg(test)]
mod runbook_check;
pub mod sim;
pub mod smoke;
pub mod status;
pub mod sweep;
pub mod synth;
pub mod test;
pub mod tools;
pub mod ui;
pub mod when;

use std::path::PathBuf;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ has a parent")
        .to_path_buf()
}
