//! The release binaries' figures: package sizes, cold start (process start
//! to the first poll of the Lambda Runtime API) beside a bare
//! `lambda_runtime` function built the same way, and the handler's latency
//! per event against the emulator, through a Runtime API.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use infra::Architecture;
use reconciler_core::contract::{handler_env, sweep_env};

use operator::base::tools::Tools;
use testkit::emulator::runtime_api::{Reply, RuntimeApi};

/// The bare function (`functions/reconciler/examples/lambda-hello.rs`).
pub(super) const HELLO: &str = "lambda-hello";

/// Builds the bare function with cargo-lambda, release profile, like the
/// reconciler's; returns its package and binary.
///
/// # Errors
/// The build failed.
pub(super) fn build_hello(tools: &Tools, arch: Architecture) -> anyhow::Result<(PathBuf, PathBuf)> {
    let root = operator::root();
    let dir = root
        .join("target/lambda/bench")
        .join(operator::base::build::arch_dir(arch));
    let status = Command::new(tools.tool("cargo-lambda"))
        .args(["lambda", "build", "--release", "--output-format", "zip"])
        .arg("--lambda-dir")
        .arg(&dir)
        .arg(match arch {
            Architecture::Arm64 => "--arm64",
            Architecture::X86_64 => "--x86-64",
        })
        .args([
            "--package",
            operator::base::build::PACKAGE,
            "--example",
            HELLO,
        ])
        .current_dir(&root)
        .env("PATH", tools.path_env())
        .status()
        .context("start cargo-lambda")?;
    if !status.success() {
        bail!("cargo lambda build --example {HELLO} failed ({status})");
    }
    let binary = root
        .join("target")
        .join(operator::base::build::target_triple(arch))
        .join("release/examples")
        .join(HELLO);
    Ok((dir.join(HELLO).join("bootstrap.zip"), binary))
}

/// The environment Lambda gives a function, plus the emulator's endpoint.
fn lambda_env(cmd: &mut Command, runtime_api: &str, endpoint: &str, table: &str) {
    testkit::emulator::lambda_env(cmd, runtime_api, "bench", 256, endpoint);
    cmd.env(handler_env::STAGE, "bench")
        .env(handler_env::LEDGER_TABLE, table)
        // The sweep's variables (the handler ignores them).
        .env(sweep_env::HOLD_TIMEOUT_SECONDS, "21600")
        .env(sweep_env::STRAGGLER_ACTION, "expire")
        .env(sweep_env::SUMMARIZER_BASE_URL, "")
        .env(sweep_env::SUMMARIZER_MODEL, "")
        .env(sweep_env::SUMMARIZER_API_KEY_PARAMETER, "")
        .env(sweep_env::SUMMARIZER_TIMEOUT_MS, "")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
}

/// Process start to the first `GET …/invocation/next`: the median of `runs`.
///
/// # Errors
/// The binary did not start or never polled.
pub(super) async fn cold_start(
    binary: &Path,
    endpoint: &str,
    table: &str,
    runs: usize,
) -> anyhow::Result<Duration> {
    let mut times = Vec::new();
    for _ in 0..runs {
        let (polls, mut polled_paths) = tokio::sync::mpsc::unbounded_channel();
        // Records the first request's path and never answers it.
        let api = testkit::http::serve(testkit::http::handler(move |request| {
            let _ = polls.send((Instant::now(), request.path));
            std::future::pending()
        }))
        .await?;
        let mut cmd = Command::new(binary);
        lambda_env(&mut cmd, &api.address.to_string(), endpoint, table);
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let polled = tokio::time::timeout(Duration::from_secs(10), async {
            let (at, path) = polled_paths
                .recv()
                .await
                .context("the API stopped before the first poll")?;
            anyhow::ensure!(path.contains("/invocation/next"), "first request: {path}");
            anyhow::Ok(at - started)
        })
        .await;
        let _ = child.kill();
        let _ = child.wait();
        times.push(polled.context("no poll within 10 s")??);
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// The handler's latency per event (invocation to reply, through a Runtime
/// API, against the emulator): p50 and p99 of `events` grants.
///
/// # Errors
/// The binary failed an event.
pub(super) async fn handler_latency(
    binary: &Path,
    endpoint: &str,
    table: &str,
    events: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let api = RuntimeApi::start().await;
    let mut cmd = Command::new(binary);
    lambda_env(&mut cmd, &api.address, endpoint, table);
    let mut child = cmd.spawn().context("start the handler")?;
    let mut times = Vec::with_capacity(events);
    let mut result = Ok(());
    for n in 0..events {
        let payload = serde_json::json!({
            "id": format!("bench-{n}"),
            "detail-type": "credits.granted",
            "detail": {"grant_id": format!("bench-g{n}"), "account_id": format!("bench-a{}", n % 8), "credits": 1},
        });
        let started = Instant::now();
        match api.invoke(payload.to_string().as_bytes()).await {
            Reply::Ok(_) => times.push(started.elapsed()),
            Reply::Error {
                error_type,
                message,
            } => {
                result = Err(anyhow::anyhow!("{error_type}: {message}"));
                break;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    result?;
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    Ok((pct(0.5), pct(0.99)))
}
