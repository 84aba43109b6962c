//! `cargo xtask test`: everything CI runs, on a fresh machine too.
//!
//! One build serves every step: the workspace's tests and the Lambda binaries
//! the end-to-end tests drive are built once, in the dev profile, with clippy
//! as the workspace's compiler wrapper (so linting costs no second build and
//! no crate is compiled twice). The Python tools install in the background
//! meanwhile. Every step is timed, the runner's own build included; the
//! times and the number of tests that ran are printed at the end.
//!
//! The tests' scratch files (packed Lambda zips, fake homes, moto's port
//! files, the Python tools' temporary files) go to a directory of the run
//! under the target directory (`TMPDIR`), removed when the run ends: a run
//! leaves nothing in `/tmp`.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use testkit::emulator::moto::Moto;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  cargo xtask test            # everything CI runs
  cargo xtask test --unit     # every test that needs no emulator, seconds
  cargo xtask test --mutants  # mutation testing of the core and the store (hours)")]
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
    /// Every test that needs no emulator: the pure core and its property
    /// tests, the adapter and the sweep against mocked SDK responses, the
    /// stack (snapshots, structure, cfn-lint, checkov), the CLI's pure
    /// functions and its binary.
    #[arg(long)]
    unit: bool,
    /// Mutation testing (cargo-mutants, installed when missing) of the pure
    /// core and the DynamoDB adapter's store against their unit tests;
    /// hours, so never part of the default run. Only this runs.
    #[arg(long, conflicts_with = "unit")]
    mutants: bool,
    /// With `--mutants`: only the mutants of the lines this diff touches
    /// (`git diff main > change.diff`).
    #[arg(long, value_name = "DIFF", requires = "mutants")]
    in_diff: Option<PathBuf>,
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

/// The runner's own build, before its first step: `cargo xtask` reports it
/// (`XTASK_RUNNER_BUILD_SECONDS`: its build, then `xtask-dev`'s).
fn runner_builds(report: Option<&str>) -> Vec<(String, Duration)> {
    let Some(report) = report else {
        return Vec::new();
    };
    let names = ["runner build (cargo xtask)", "runner build (xtask-dev)"];
    names
        .iter()
        .zip(report.split(','))
        .filter_map(|(name, secs)| {
            let secs: f64 = secs.trim().parse().ok()?;
            Some(((*name).to_owned(), Duration::from_secs_f64(secs.max(0.0))))
        })
        .collect()
}

/// The scratch directory of one run: created empty, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(root: &Path) -> anyhow::Result<Scratch> {
        let dir = operator::base::build::target_dir(root)
            .join(format!("xtask-test-tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
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

/// Runs `cargo test …`, passing its output through, and counts the tests
/// that passed (libtest's `test result:` lines). Fails when it fails.
fn tests(what: &str, cmd: &mut Command) -> anyhow::Result<u64> {
    let mut child = cmd
        .current_dir(operator::root())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("start: {what}"))?;
    let mut passed = 0;
    if let Some(out) = child.stdout.take() {
        for line in std::io::BufReader::new(out).lines() {
            let line = line.context("read the tests' output")?;
            println!("{line}");
            passed += passed_in(&line);
        }
    }
    let status = child.wait().with_context(|| format!("wait: {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(passed)
}

/// The number of passed tests a libtest summary line reports (0 otherwise).
fn passed_in(line: &str) -> u64 {
    let Some(rest) = line.strip_prefix("test result: ") else {
        return 0;
    };
    rest.split(". ")
        .nth(1)
        .and_then(|part| {
            part.strip_suffix(" passed")
                .or_else(|| part.split(" passed").next())
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// The environment that makes every cargo command of the run lint the
/// workspace's crates with clippy while it compiles them (what `cargo clippy`
/// does for `cargo check`), denying warnings. The same in every step, so the
/// steps share one build.
///
/// `CLIPPY_ARGS` is how `cargo clippy` hands its `-- <args>` to
/// `clippy-driver` (arguments joined by `__CLIPPY_HACKERY__`): not a
/// documented interface, so `the_clippy_wrapper_denies_warnings` pins it and
/// fails loudly the day clippy changes it.
fn clippy_wrapper() -> anyhow::Result<Vec<(&'static str, String)>> {
    let driver = clippy_driver()?;
    Ok(vec![
        ("RUSTC_WORKSPACE_WRAPPER", driver.display().to_string()),
        ("CLIPPY_ARGS", DENY_WARNINGS.to_owned()),
    ])
}

/// `-D warnings` in `CLIPPY_ARGS`' encoding.
const DENY_WARNINGS: &str = "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__";

fn clippy_driver() -> anyhow::Result<PathBuf> {
    let driver = operator::base::build::sysroot()?.join("bin/clippy-driver");
    if !driver.is_file() {
        bail!(
            "{} is missing: the toolchain needs its clippy component (rust-toolchain.toml lists it)",
            driver.display()
        );
    }
    Ok(driver)
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let root = operator::root();
    if args.mutants {
        let result = crate::mutants::run(
            &operator::base::build::target_dir(&root),
            args.in_diff.as_deref(),
        );
        eprintln!(
            "\nxtask: mutation testing took {:.0} s",
            started.elapsed().as_secs_f64()
        );
        return result;
    }
    let scratch = Scratch::new(&root)?;
    let runner = runner_builds(std::env::var("XTASK_RUNNER_BUILD_SECONDS").ok().as_deref());
    let runner_time: Duration = runner.iter().map(|(_, took)| *took).sum();
    let mut timings = Timings(runner);
    let result = run_steps(&args, &mut timings, &scratch.0);
    timings.print(runner_time + started.elapsed());
    drop(scratch);
    let passed = result?;
    eprintln!("\nxtask: all {passed} tests passed");
    Ok(())
}

/// The steps; the number of tests that passed.
fn run_steps(args: &Args, timings: &mut Timings, scratch: &Path) -> anyhow::Result<u64> {
    let root = operator::root();
    // The tools download and install while cargo compiles.
    let tools = std::thread::spawn(operator::base::tools::ensure);
    let lint = !args.no_lint;
    let wrapper = if lint { clippy_wrapper()? } else { Vec::new() };
    let with_wrapper = |mut cmd: Command| {
        cmd.envs(wrapper.iter().map(|(k, v)| (*k, v)))
            .env("TMPDIR", scratch);
        cmd
    };
    if lint {
        timings.time("rustfmt --check", || {
            step("rustfmt", cargo().args(["fmt", "--all", "--", "--check"]))
        })?;
        timings.time("hygiene (dependencies, public API, rooms)", || {
            crate::hygiene::check(&root)
        })?;
    }
    // `--unit` leaves out the end-to-end tests' package, whose binary is
    // the longest to link.
    let scope: &[&str] = if args.unit {
        &["--workspace", "--exclude", "e2e", "--all-targets"]
    } else {
        &["--workspace", "--all-targets"]
    };
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
                with_wrapper(cargo())
                    .args(["test"])
                    .args(scope)
                    .arg("--no-run"),
            )
        },
    )?;
    let tools = timings.time("python tools (pip, in the background)", || {
        tools
            .join()
            .map_err(|_| anyhow::anyhow!("installing the tools panicked"))?
    })?;
    let mut cmd = with_wrapper(cargo());
    cmd.arg("test")
        .args(scope)
        .arg("--no-fail-fast")
        // A changed snapshot fails the run without leaving `.snap.new`
        // files behind: review it with `cargo test -p infra`.
        .env("INSTA_UPDATE", "no")
        .env(
            "LAMBDA_BIN_DIR",
            operator::base::build::target_dir(&root).join("debug"),
        )
        .env("CFN_LINT", tools.tool("cfn-lint"))
        .env("CHECKOV", tools.tool("checkov"))
        .env("PROPTEST_CASES", args.proptest_cases.to_string())
        .env("SIM_SEEDS", args.sim_seeds.to_string())
        // The end-to-end tests mostly wait on the emulator: more of them at
        // once than cores (measured: 124 s → 104 s on 2 cores).
        .env(
            "RUST_TEST_THREADS",
            std::env::var("RUST_TEST_THREADS").unwrap_or_else(|_| "6".to_owned()),
        )
        .env("PATH", tools.path_env());
    if args.unit {
        return timings.time("cargo test (no emulator)", || tests("cargo test", &mut cmd));
    }
    let moto = timings.time("moto server", || {
        Moto::start_with(&tools, 0, &[("TMPDIR", &scratch.display().to_string())])
    })?;
    eprintln!("xtask: moto server at {}", moto.endpoint);
    cmd.env("MOTO_ENDPOINT", &moto.endpoint);
    let result = timings.time("cargo test --workspace", || tests("cargo test", &mut cmd));
    drop(moto);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_summaries_are_counted() {
        assert_eq!(
            passed_in(
                "test result: ok. 79 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 170.25s"
            ),
            79
        );
        assert_eq!(
            passed_in("test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured"),
            3
        );
        assert_eq!(passed_in("test sim::a ... ok"), 0);
        assert_eq!(passed_in("running 79 tests"), 0);
    }

    #[test]
    fn the_runner_build_report_becomes_two_steps() {
        let steps = runner_builds(Some("201.5,12.0"));
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].0, "runner build (cargo xtask)");
        assert_eq!(steps[0].1, Duration::from_millis(201_500));
        assert_eq!(steps[1].1, Duration::from_secs(12));
        assert!(runner_builds(None).is_empty());
        assert!(runner_builds(Some("garbage")).is_empty());
    }

    /// `cargo xtask test` denies warnings through clippy's private
    /// `CLIPPY_ARGS` encoding: a crate with a warning must fail under the
    /// wrapper and pass without it, or the lint step has silently stopped
    /// linting.
    #[test]
    fn the_clippy_wrapper_denies_warnings() {
        let driver = clippy_driver().unwrap();
        let dir = std::env::temp_dir().join(format!("clippy-pin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = dir.join("warns.rs");
        std::fs::write(&source, "pub fn f() -> u32 { let unused = 1; 2 }\n").unwrap();
        let compile = |deny: bool| {
            let mut cmd = Command::new(&driver);
            // clippy-driver takes rustc's command line, rustc's path first.
            cmd.args([
                "rustc",
                "--crate-type=lib",
                "--edition=2024",
                "--emit=metadata",
            ])
            .arg("--out-dir")
            .arg(&dir)
            .arg(&source);
            // The run that runs this test sets CLIPPY_ARGS for everything.
            cmd.env_remove("CLIPPY_ARGS");
            if deny {
                cmd.env("CLIPPY_ARGS", DENY_WARNINGS);
            }
            cmd.output().unwrap()
        };
        let denied = compile(true);
        let allowed = compile(false);
        let _ = std::fs::remove_dir_all(&dir);
        let said = String::from_utf8_lossy(&denied.stderr);
        assert!(
            !denied.status.success() && said.contains("unused"),
            "clippy-driver no longer reads `-D warnings` from CLIPPY_ARGS: {said}"
        );
        assert!(
            allowed.status.success(),
            "{}",
            String::from_utf8_lossy(&allowed.stderr)
        );
    }
}
