//! `cargo xtask test`: everything CI runs, on a fresh machine too.
//!
//! One build serves every step: the workspace's tests and the Lambda binaries
//! the end-to-end tests drive are built once, in the dev profile, with clippy
//! as the workspace's compiler wrapper (so linting costs no second build and
//! no crate is compiled twice). The Python tools install in the background
//! meanwhile. Every step is timed; the times are printed at the end.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use testkit::emulator::moto::Moto;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  cargo xtask test            # everything CI runs
  cargo xtask test --unit     # the fast layer: no emulator, seconds")]
pub(crate) struct Args {
    /// Property-test cases (the full run uses 10,000).
    #[arg(long, default_value_t = 10_000)]
    proptest_cases: u32,
    /// Simulator seeds (`cargo xtask simulate` runs more, and bigger ones).
    #[arg(long, default_value_t = testkit::sim::CI_SEEDS)]
    sim_seeds: u32,
    /// Skip clippy, rustfmt and the hygiene checks (faster local iterations).
    #[arg(long)]
    no_lint: bool,
    /// Only the fast layer: unit tests (the pure core, the adapter and the
    /// sweep against mocked SDK responses, the CLI's pure functions); no
    /// emulator, no tools.
    #[arg(long)]
    unit: bool,
}

/// The steps of a run and how long each took.
#[derive(Default)]
struct Timings(Vec<(String, Duration)>);

impl Timings {
    fn time<T>(&mut self, what: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
        eprintln!("\nxtask: {what}");
        let started = Instant::now();
        let result = f();
        self.0.push((what.to_owned(), started.elapsed()));
        result
    }

    fn print(&self, total: Duration) {
        eprintln!("\nxtask: step times");
        let width = self.0.iter().map(|(w, _)| w.len()).max().unwrap_or(0);
        for (what, took) in &self.0 {
            eprintln!("  {what:<width$}  {:>7.1} s", took.as_secs_f64());
        }
        eprintln!("  {:<width$}  {:>7.1} s", "total", total.as_secs_f64());
    }
}

/// Runs a command in the workspace; fails with `what` if it fails.
pub(crate) fn step(what: &str, cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd
        .current_dir(operator::root())
        .status()
        .with_context(|| format!("start: {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Cargo's target directory (`CARGO_TARGET_DIR`, else `<root>/target`).
fn target_dir(root: &std::path::Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// The environment that makes every cargo command of the run lint the
/// workspace's crates with clippy while it compiles them (what `cargo clippy`
/// does for `cargo check`), denying warnings. The same in every step, so the
/// steps share one build.
fn clippy_wrapper() -> anyhow::Result<Vec<(&'static str, String)>> {
    let driver = operator::base::build::sysroot()?.join("bin/clippy-driver");
    if !driver.is_file() {
        bail!(
            "{} is missing: the toolchain needs its clippy component (rust-toolchain.toml lists it)",
            driver.display()
        );
    }
    Ok(vec![
        ("RUSTC_WORKSPACE_WRAPPER", driver.display().to_string()),
        // cargo-clippy's encoding of `-- -D warnings`.
        (
            "CLIPPY_ARGS",
            "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__".to_owned(),
        ),
    ])
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut timings = Timings::default();
    let result = run_steps(&args, &mut timings);
    timings.print(started.elapsed());
    result?;
    eprintln!("\nxtask: all tests passed");
    Ok(())
}

fn run_steps(args: &Args, timings: &mut Timings) -> anyhow::Result<()> {
    let root = operator::root();
    // The tools download and install while cargo compiles.
    let tools = (!args.unit).then(|| std::thread::spawn(operator::base::tools::ensure));
    let lint = !args.no_lint;
    let wrapper = if lint { clippy_wrapper()? } else { Vec::new() };
    let with_wrapper = |mut cmd: Command| {
        cmd.envs(wrapper.iter().map(|(k, v)| (*k, v)));
        cmd
    };
    if lint {
        timings.time("rustfmt --check", || {
            step("rustfmt", cargo().args(["fmt", "--all", "--", "--check"]))
        })?;
        timings.time("hygiene (dependencies, public API)", || {
            crate::hygiene::check(&root)
        })?;
    }
    if args.unit {
        return timings.time("unit tests (no emulator)", || {
            step(
                "cargo test --lib --bins",
                with_wrapper(cargo())
                    .args(["test", "--workspace", "--lib", "--bins"])
                    .env("PROPTEST_CASES", args.proptest_cases.to_string()),
            )
        });
    }
    timings.time(
        if lint {
            "build tests and Lambdas (with clippy)"
        } else {
            "build tests and Lambdas"
        },
        || {
            // This also builds the Lambda binaries the end-to-end tests
            // drive (`target/debug`), for the reconciler's own integration
            // tests (`functions/reconciler/tests/binaries.rs`): the same
            // build and features as every test, so nothing compiles twice.
            step(
                "cargo test --no-run",
                with_wrapper(cargo()).args(["test", "--workspace", "--all-targets", "--no-run"]),
            )
        },
    )?;
    let tools = timings.time("python tools (pip, in the background)", || {
        tools
            .expect("started above")
            .join()
            .map_err(|_| anyhow::anyhow!("installing the tools panicked"))?
    })?;
    let moto = timings.time("moto server", || Moto::start(&tools))?;
    eprintln!("xtask: moto server at {}", moto.endpoint);
    let bin_dir = target_dir(&root).join("debug");
    let result = timings.time("cargo test --workspace", || {
        step(
            "cargo test --workspace",
            with_wrapper(cargo())
                .args(["test", "--workspace", "--all-targets", "--no-fail-fast"])
                // A changed snapshot fails the run without leaving `.snap.new`
                // files behind: review it with `cargo test -p infra`.
                .env("INSTA_UPDATE", "no")
                .env("MOTO_ENDPOINT", &moto.endpoint)
                .env("LAMBDA_BIN_DIR", &bin_dir)
                .env("CFN_LINT", tools.tool("cfn-lint"))
                .env("CHECKOV", tools.tool("checkov"))
                .env("PROPTEST_CASES", args.proptest_cases.to_string())
                .env("SIM_SEEDS", args.sim_seeds.to_string())
                // The end-to-end tests mostly wait on the emulator: more of
                // them at once than cores (measured: 124 s → 104 s on 2 cores).
                .env(
                    "RUST_TEST_THREADS",
                    std::env::var("RUST_TEST_THREADS").unwrap_or_else(|_| "6".to_owned()),
                )
                .env("PATH", tools.path_env()),
        )
    });
    drop(moto);
    result
}
