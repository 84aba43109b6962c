//! `cargo xtask <command>`: the project's developer and operator CLI.
//!
//! Everything a newcomer or an operator runs goes through here, so that the
//! README's commands work on a fresh machine: the Python tools are installed
//! into `.venv` on demand, emulators are started and stopped by the command
//! that needs them.

mod local;
mod synth;
mod test;
mod tools;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Credit reconciler: build, test, run and operate"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install the pinned Python tools (moto, cfn-lint, cargo-lambda, zig) into .venv.
    Tools,
    /// Run every test: installs the tools, starts a moto server, builds, tests, lints, stops.
    Test(test::Args),
    /// The main job, locally: start moto, create the ledger, feed an event stream
    /// through the handler, print the balances.
    Run(local::RunArgs),
    /// Start a moto server on 127.0.0.1 and keep it running (for `cargo lambda watch`).
    Moto(local::MotoArgs),
    /// Write a stage's CloudFormation template (deterministic, offline).
    Synth(synth::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Tools => tools::ensure().map(|_| ()),
        Cmd::Test(args) => test::run(args),
        Cmd::Run(args) => local::run(args),
        Cmd::Moto(args) => local::moto(args),
        Cmd::Synth(args) => synth::run(args),
    }
}

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ has a parent")
        .to_path_buf()
}
