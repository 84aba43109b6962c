//! `cargo xtask <command>`: the project's developer and operator CLI.
//!
//! Everything a newcomer or an operator runs goes through here, so that the
//! README's commands work on a fresh machine: the Python tools are installed
//! into `.venv` on demand, emulators are started and stopped by the command
//! that needs them.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xtask::deploy::cli as deploy;
use xtask::{bench, dlq, run, sim, smoke, synth, test, tools};

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
    Run(run::RunArgs),
    /// Start a moto server on 127.0.0.1 and keep it running (for `cargo lambda watch`).
    Moto(run::MotoArgs),
    /// Write a stage's CloudFormation template (deterministic, offline).
    Synth(synth::Args),
    /// Show what a deploy of a stage would change (a change set, then deleted).
    Diff(deploy::DiffArgs),
    /// Build, upload and deploy a stage through a change set, with guard rails.
    Deploy(deploy::DeployArgs),
    /// Delete a stage's stack; says which retained resources stay behind.
    Destroy(deploy::DestroyArgs),
    /// Inspect, replay or purge a stage's dead-letter queue.
    Dlq(dlq::Args),
    /// Send a good and a forced-bad event to a stage; wait for the errors
    /// alarm and the dead letter; report.
    Smoke(smoke::Args),
    /// Run the simulator: random histories through concurrent handlers and
    /// sweeps, under DynamoDB's real semantics and random faults, checked
    /// against the invariants and an independent oracle.
    Simulate(sim::Args),
    /// Print the figures (requests and capacity per event, core CPU time,
    /// cold start, package sizes, the sweep's reads, a busy account) and
    /// write target/bench/bench.json.
    Bench(bench::Args),
    /// Print figures: synth time of every stage, first deploy vs no-op
    /// redeploy against a fresh moto server.
    BenchDeploy(bench::deploy::Args),
}

/// A failed command prints one line (what went wrong, what to do), also when
/// `RUST_BACKTRACE` is set; `XTASK_BACKTRACE=1` adds the error's backtrace
/// (bugs panic, and panics keep Rust's own report).
fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if std::env::var_os("XTASK_BACKTRACE").is_some_and(|v| v == "1") {
                eprintln!("{}", e.backtrace());
            }
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Cmd::Tools => tools::ensure().map(|_| ()),
        Cmd::Test(args) => test::run(args),
        Cmd::Run(args) => run::run(args),
        Cmd::Moto(args) => run::moto(args),
        Cmd::Synth(args) => synth::run(args),
        Cmd::Diff(args) => deploy::diff(args),
        Cmd::Deploy(args) => deploy::deploy(args),
        Cmd::Destroy(args) => deploy::destroy(args),
        Cmd::Dlq(args) => dlq::run(args),
        Cmd::Smoke(args) => smoke::run(args),
        Cmd::Bench(args) => bench::run(args),
        Cmd::BenchDeploy(args) => bench::deploy::run(args),
        Cmd::Simulate(args) => sim::command(args),
    }
}
