//! `cargo xtask <command>`: the project's operator and developer CLI.
//!
//! This binary parses the command line and dispatches, nothing else. The
//! operator's commands (deploy, status, ledger, dlq, …) are the `operator`
//! library's; the developer's tasks (test, run, moto, up, simulate, bench) are
//! the `xtask-dev` binary's, which this one builds and runs: they use the
//! testkit (emulator, fault proxy, simulator), which the operator's binary
//! never compiles. Everything a newcomer or an operator runs goes through
//! here, so that the README's commands work on a fresh machine: the Python
//! tools are installed into `.venv` on demand, emulators are started and
//! stopped by the command that needs them.

mod dev;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use operator::base::exit;
use operator::base::tools;
use operator::base::ui::{ColorChoice, choose_color};
use operator::commands::stack as deploy;
use operator::commands::{
    dlq, ledger, logs, policy, replay, send, smoke, status, sweep, synth, unrouted,
};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Credit reconciler: build, test, run and operate"
)]
struct Cli {
    /// On an error, also print its backtrace (for bug reports).
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Colour the output: auto (on a terminal, unless NO_COLOR is set),
    /// always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install the pinned Python tools (moto, cfn-lint, checkov, cargo-lambda, zig) into .venv.
    #[command(
        after_help = "Example:\n  cargo xtask tools   # once; every command that needs them runs it too"
    )]
    Tools,
    /// Run every test: installs the tools, starts a moto server, builds, tests, lints, stops.
    #[command(disable_help_flag = true)]
    Test(dev::Forward),
    /// The main job, locally: start moto, create the ledger, feed an event stream
    /// through the handler, print the balances.
    #[command(disable_help_flag = true)]
    Run(dev::Forward),
    /// Start a moto server on 127.0.0.1 and keep it running (for `cargo lambda watch`).
    #[command(disable_help_flag = true)]
    Moto(dev::Forward),
    /// The stage's real template deployed to a local emulator and running:
    /// functions, deliveries, retries, dead letters, metrics, alarms and
    /// their notifications, each function under its own role; until Ctrl-C.
    #[command(disable_help_flag = true)]
    Up(dev::Forward),
    /// Write a stage's CloudFormation template (deterministic, offline).
    Synth(synth::Args),
    /// Show what a deploy of a stage would change (a change set, then deleted).
    Diff(deploy::DiffArgs),
    /// Build, upload and deploy a stage through a change set, with guard rails.
    Deploy(deploy::DeployArgs),
    /// Delete a stage's stack; says which retained resources stay behind.
    Destroy(deploy::DestroyArgs),
    /// The code versions deployed to a stage (newest first, the live one marked).
    Releases(deploy::ReleasesArgs),
    /// Redeploy a previous release's code without rebuilding, through a change set.
    Rollback(deploy::RollbackArgs),
    /// CloudFormation drift detection: resources changed outside the stack;
    /// exit code 3 on drift.
    Drift(deploy::DriftArgs),
    /// Print the least-privilege IAM policy (JSON) of an operator role for a
    /// stage: on-call (the read commands, diff) or deploy.
    Policy(policy::Args),
    /// Inspect, replay or purge a stage's dead-letter queue.
    Dlq(dlq::Args),
    /// Inspect unrouted events (no ledger detail-type); resend one under the
    /// right detail-type, only when told to.
    Unrouted(unrouted::Args),
    /// Send a good and a forced-bad event to a stage; check the ledger, the
    /// errors alarm and its notification, and the dead letter; report.
    Smoke(smoke::Args),
    /// Put one event on a stage's bus as a producer would, and print its id;
    /// against the local stack (`cargo xtask up`), what became of it.
    Send(send::Args),
    /// One screen about a deployed stage: who and where, stack, code, alarms,
    /// queues, last sweep, stragglers; exit code 2 when a person is needed.
    Status(status::Args),
    /// The functions' JSON logs, readable and filtered; --follow to tail.
    Logs(logs::Args),
    /// An account's statement, a job's history, or a correction (adjustment).
    Ledger(ledger::Args),
    /// Invoke the deployed sweep and print its report.
    Sweep(sweep::Args),
    /// Replay a window of the archived ledger events onto the handler's rule.
    Replay(replay::Args),
    /// Run the simulator: random histories through concurrent handlers and
    /// sweeps, under DynamoDB's real semantics and random faults, checked
    /// against the invariants and an independent oracle.
    #[command(disable_help_flag = true)]
    Simulate(dev::Forward),
    /// Print the figures (requests and capacity per event, core CPU time,
    /// cold start, package sizes, the sweep's reads, a busy account) and
    /// write target/bench/bench.json.
    #[command(disable_help_flag = true)]
    Bench(dev::Forward),
    /// Print figures: synth time of every stage, first deploy vs no-op
    /// redeploy against a fresh moto server.
    #[command(disable_help_flag = true)]
    BenchDeploy(dev::Forward),
}

/// A failed command prints one line (what went wrong, what to do), also when
/// `RUST_BACKTRACE` is set; `-v` (or `XTASK_BACKTRACE=1`) adds the error's
/// backtrace (bugs panic, and panics keep Rust's own report). The exit
/// codes are `operator::base::exit`'s table: a command line that was not
/// understood exits 64, not clap's 2 (which is "needs a person").
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    choose_color(cli.color);
    let verbose = cli.verbose || std::env::var_os("XTASK_BACKTRACE").is_some_and(|v| v == "1");
    if verbose {
        // SAFETY: no other thread exists yet (the runtimes start in the
        // commands); errors capture a backtrace from here on.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "1") };
    }
    match dispatch(cli.command, verbose) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if verbose {
                eprintln!("{}", e.backtrace());
            }
            ExitCode::from(exit::FAILED)
        }
    }
}

/// Runs the command: its exit code (`exit::NEEDS_A_PERSON`: it ran, and a
/// person is needed; `exit::DIFFERS`: drift, or `diff --fail` found changes).
fn dispatch(command: Cmd, verbose: bool) -> anyhow::Result<ExitCode> {
    let done = |result: anyhow::Result<()>| result.map(|()| ExitCode::SUCCESS);
    match command {
        Cmd::Tools => done(tools::ensure().map(|_| ())),
        Cmd::Test(args) => dev::run("test", args, verbose),
        Cmd::Run(args) => dev::run("run", args, verbose),
        Cmd::Moto(args) => dev::run("moto", args, verbose),
        Cmd::Up(args) => dev::run("up", args, verbose),
        Cmd::Simulate(args) => dev::run("simulate", args, verbose),
        Cmd::Bench(args) => dev::run("bench", args, verbose),
        Cmd::BenchDeploy(args) => dev::run("bench-deploy", args, verbose),
        Cmd::Synth(args) => done(synth::run(args)),
        Cmd::Diff(args) => deploy::diff(args),
        Cmd::Deploy(args) => done(deploy::deploy(args)),
        Cmd::Destroy(args) => done(deploy::destroy(args)),
        Cmd::Releases(args) => done(deploy::releases(args)),
        Cmd::Rollback(args) => done(deploy::rollback(args)),
        Cmd::Drift(args) => deploy::drift(args),
        Cmd::Policy(args) => done(policy::run(&args)),
        Cmd::Dlq(args) => dlq::run(args),
        Cmd::Unrouted(args) => unrouted::run(args),
        Cmd::Smoke(args) => smoke::run(args),
        Cmd::Send(args) => send::run(args),
        Cmd::Status(args) => status::run(args),
        Cmd::Logs(args) => logs::run(args),
        Cmd::Ledger(args) => ledger::run(args),
        Cmd::Sweep(args) => sweep::run(args),
        Cmd::Replay(args) => replay::run(args),
    }
}
