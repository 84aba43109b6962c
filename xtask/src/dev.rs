//! The developer tasks (`test`, `run`, `moto`, `simulate`, `bench`,
//! `bench-deploy`) live in the `xtask-dev` binary, which links the testkit
//! (emulator launcher, fault proxy, simulator). This binary builds it with
//! cargo, then runs it with the command line as given: its own `--help`
//! answers for each task.
//!
//! How long the runner took to build is part of what a newcomer waits for,
//! so `xtask-dev` is told: this binary's own build (the time between cargo's
//! start and ours, from `/proc`) and the build of `xtask-dev`, in
//! [`RUNNER_BUILD_ENV`], which `cargo xtask test` prints in its step table.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, bail};

/// `seconds of cargo xtask's build,seconds of xtask-dev's build`.
const RUNNER_BUILD_ENV: &str = "XTASK_RUNNER_BUILD_SECONDS";

/// A developer task's arguments, passed on untouched (`--help` included).
#[derive(clap::Args)]
pub(crate) struct Forward {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    args: Vec<String>,
}

/// Builds `xtask-dev` (unless `XTASK_DEV` names a built one) and runs
/// `task` with `args` in it; its exit code is this command's.
pub(crate) fn run(task: &str, args: Forward, verbose: bool) -> anyhow::Result<ExitCode> {
    let own_build = own_build_seconds();
    let started = Instant::now();
    let binary = match std::env::var_os("XTASK_DEV") {
        Some(path) => PathBuf::from(path),
        None => build()?,
    };
    let dev_build = started.elapsed().as_secs_f64();
    let mut cmd = Command::new(&binary);
    if verbose {
        cmd.arg("--verbose");
    }
    let status = cmd
        .arg(task)
        .args(&args.args)
        .env(
            RUNNER_BUILD_ENV,
            format!("{:.1},{dev_build:.1}", own_build.unwrap_or(0.0)),
        )
        .current_dir(operator::root())
        .status()
        .with_context(|| format!("start {}", binary.display()))?;
    Ok(match status.code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

/// `cargo build --package xtask-dev`, with cargo's progress shown: the
/// binary's path.
fn build() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = operator::root();
    let status = Command::new(cargo)
        .args(["build", "--package", "xtask-dev"])
        .current_dir(&root)
        .status()
        .context("start cargo to build xtask-dev")?;
    if !status.success() {
        bail!("building xtask-dev failed ({status})");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(target.join("debug/xtask-dev"))
}

/// The seconds between the start of our parent (cargo, which built this
/// binary before running it) and our own start, from `/proc`; `None`
/// elsewhere or when the parent is not cargo.
fn own_build_seconds() -> Option<f64> {
    let ours = std::fs::read_to_string("/proc/self/stat").ok()?;
    let (parent, our_start) = stat_fields(&ours)?;
    let theirs = std::fs::read_to_string(format!("/proc/{parent}/stat")).ok()?;
    if !theirs.contains("(cargo)") {
        return None;
    }
    let (_, their_start) = stat_fields(&theirs)?;
    // Start times are in clock ticks: USER_HZ, 100 on Linux's x86 and arm ABIs.
    Some(our_start.saturating_sub(their_start) as f64 / 100.0)
}

/// `(parent pid, start time in ticks)` of a `/proc/<pid>/stat` line. The
/// command name (field 2) may hold spaces, so fields count from its `)`.
fn stat_fields(stat: &str) -> Option<(u32, u64)> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // After the name: state (3), ppid (4), …, starttime (22).
    let parent = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((parent, start))
}

#[cfg(test)]
mod tests {
    use super::stat_fields;

    #[test]
    fn stat_fields_count_from_the_end_of_the_command_name() {
        let line = "4242 (cargo run (x)) S 17 4242 17 0 -1 4194560 1 0 0 0 5 3 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(stat_fields(line), Some((17, 987_654)));
        assert_eq!(stat_fields("garbage"), None);
    }
}
