//! `xtask-dev`: the developer tasks behind `cargo xtask` (`test`, `run`,
//! `moto`, `simulate`, `bench`, `bench-deploy`). `cargo xtask` builds and
//! runs this binary for them, so the operator's binary never compiles the
//! testkit (emulator launcher, fault proxy, simulator) these tasks use.

mod bench;
mod hygiene;
mod mutants;
mod run;
mod simulate;
mod test;
mod up;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Credit reconciler: the developer tasks"
)]
struct Cli {
    /// On an error, also print its backtrace (for bug reports).
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every test: installs the tools, starts a moto server, builds, tests, lints, stops.
    Test(test::Args),
    /// The main job, locally: start moto, create the ledger, feed an event stream
    /// through the handler, print the balances.
    Run(run::RunArgs),
    /// Start a moto server on 127.0.0.1 and keep it running (for `cargo lambda watch`).
    Moto(run::MotoArgs),
    /// The stage's real template deployed to a local emulator and running:
    /// functions, deliveries, retries, dead letters, metrics, alarms and
    /// their notifications, each function under its own role; until Ctrl-C.
    Up(up::Args),
    /// Run the simulator: random histories through concurrent handlers and
    /// sweeps, under DynamoDB's real semantics and random faults, checked
    /// against the invariants and an independent oracle.
    Simulate(simulate::Args),
    /// Print the figures (requests and capacity per event, core CPU time,
    /// cold start, package sizes, the sweep's reads, a busy account) and
    /// write target/bench/bench.json.
    Bench(bench::Args),
    /// Print figures: synth time of every stage, first deploy vs no-op
    /// redeploy against a fresh moto server.
    BenchDeploy(bench::deploy::Args),
}

/// As `cargo xtask`: one line on failure, `-v` adds the backtrace, and
/// the exit codes of `operator::base::exit` (a command line that was not
/// understood exits 64, not clap's 2).
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                operator::base::exit::USAGE
            } else {
                operator::base::exit::OK
            });
        }
    };
    let verbose = cli.verbose || std::env::var_os("XTASK_BACKTRACE").is_some_and(|v| v == "1");
    if verbose {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "1") };
    }
    let result = match cli.command {
        Cmd::Test(args) => test::run(args),
        Cmd::Run(args) => run::run(args),
        Cmd::Moto(args) => run::moto(args),
        Cmd::Up(args) => up::up(args),
        Cmd::Simulate(args) => simulate::command(args),
        Cmd::Bench(args) => bench::run(args),
        Cmd::BenchDeploy(args) => bench::deploy::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if verbose {
                eprintln!("{}", e.backtrace());
            }
            ExitCode::from(operator::base::exit::FAILED)
        }
    }
}
