//! `cargo xtask test`: everything CI runs, on a fresh machine too.

use std::process::Command;

use anyhow::{Context, bail};
use infra::Architecture;

use crate::local::Moto;

#[derive(clap::Args)]
pub struct Args {
    /// Property-test cases (the full run uses 10,000).
    #[arg(long, default_value_t = 10_000)]
    proptest_cases: u32,
    /// Skip clippy and rustfmt (faster local iterations).
    #[arg(long)]
    no_lint: bool,
}

/// Runs a command, echoing it; fails with its name if it fails.
pub fn step(what: &str, cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("\nxtask: {what}");
    let status = cmd
        .current_dir(crate::root())
        .status()
        .with_context(|| format!("start: {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let root = crate::root();
    let tools = crate::tools::ensure()?;
    if !args.no_lint {
        step("rustfmt", cargo().args(["fmt", "--all", "--", "--check"]))?;
    }
    // One release build of the Lambdas, with cargo-lambda for x86_64 (what
    // this machine can run): the end-to-end tests drive these binaries, and
    // the deploy tests reuse the zips (`target/lambda/x86_64`, skipped while
    // their inputs are unchanged).
    eprintln!("\nxtask: build the release Lambdas (cargo lambda build --x86-64)");
    crate::build::ensure_built(&tools, Architecture::X86_64)?;
    let binary = |bin: &str| crate::build::release_binary(&root, Architecture::X86_64, bin);
    let moto = Moto::start(&tools)?;
    eprintln!("xtask: moto server at {}", moto.endpoint);
    let result = step(
        "cargo test --workspace",
        cargo()
            .args(["test", "--workspace"])
            .env("MOTO_ENDPOINT", &moto.endpoint)
            .env("RECONCILER_HANDLER_BIN", binary("reconciler-handler"))
            .env("RECONCILER_SWEEP_BIN", binary("reconciler-sweep"))
            .env("CFN_LINT", tools.tool("cfn-lint"))
            .env("PROPTEST_CASES", args.proptest_cases.to_string())
            .env("PATH", tools.path_env()),
    );
    drop(moto);
    result?;
    if !args.no_lint {
        step(
            "clippy",
            cargo().args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]),
        )?;
    }
    eprintln!("\nxtask: all tests passed");
    Ok(())
}
