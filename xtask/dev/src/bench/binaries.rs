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
use serde_json::{Value, json};

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
    let binary = operator::base::build::target_dir(&root)
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

/// A binary's cold start: process start to its first `GET …/invocation/next`
/// (the median of the runs), and the steps its own start-up logged
/// ([`reconciler::start`], the median of each; none for the bare function).
pub(super) struct ColdStart {
    pub(super) total: Duration,
    pub(super) steps: Vec<(String, Duration)>,
}

impl ColdStart {
    /// What the steps leave: loading the process, the async runtime, the
    /// Runtime API client and its first poll (what the bare function has too).
    pub(super) fn outside_steps(&self) -> Duration {
        self.total
            .saturating_sub(self.steps.iter().map(|(_, took)| *took).sum())
    }
}

/// The cold start of each binary, `runs` times each, taking turns so that
/// the machine's load falls on all of them alike. Each binary is first
/// started `runs` times as Lambda starts it (the totals), then `runs` times
/// with its start-up timing logged (the steps).
///
/// # Errors
/// A binary did not start or never polled.
pub(super) async fn cold_starts(
    binaries: &[&Path],
    endpoint: &str,
    table: &str,
    runs: usize,
) -> anyhow::Result<Vec<ColdStart>> {
    let mut totals = vec![Vec::new(); binaries.len()];
    let mut steps = vec![Vec::new(); binaries.len()];
    for timed in [false, true] {
        for _ in 0..runs {
            for (i, binary) in binaries.iter().enumerate() {
                let (took, logged) = first_poll(binary, endpoint, table, timed).await?;
                if timed {
                    steps[i].extend(logged);
                } else {
                    totals[i].push(took);
                }
            }
        }
    }
    Ok(collect(totals, &steps))
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// Each step's median, in the order the start-up took them.
fn median_steps(runs: &[Vec<(String, Duration)>]) -> Vec<(String, Duration)> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    first
        .iter()
        .map(|(name, _)| {
            let times = runs
                .iter()
                .filter_map(|run| run.iter().find(|(n, _)| n == name).map(|(_, t)| *t))
                .collect();
            (name.clone(), median(times))
        })
        .collect()
}

/// One start: the time to the first poll and, when `timed`, the steps the
/// binary logged before it.
async fn first_poll(
    binary: &Path,
    endpoint: &str,
    table: &str,
    timed: bool,
) -> anyhow::Result<(Duration, Option<Vec<(String, Duration)>>)> {
    let (polls, mut polled_paths) = tokio::sync::mpsc::unbounded_channel();
    // Records the first request's path and never answers it.
    let api = testkit::http::serve(testkit::http::handler(move |request| {
        let _ = polls.send((Instant::now(), request.path));
        std::future::pending()
    }))
    .await?;
    let mut cmd = Command::new(binary);
    lambda_env(&mut cmd, &api.address.to_string(), endpoint, table);
    if timed {
        timed_logs(&mut cmd);
    }
    let started = Instant::now();
    let child = cmd
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
    let out = stop(child);
    let took = polled.context("no poll within 10 s")??;
    Ok((took, logged_steps(&out, reconciler::start::START_UP)))
}

/// The steps of the timing line with `message`
/// ([`reconciler::start::StartTimer::log`]) among a function's log lines;
/// `None` without one.
fn logged_steps(log: &str, message: &str) -> Option<Vec<(String, Duration)>> {
    let line = log.lines().find_map(|l| {
        let v: Value = serde_json::from_str(l).ok()?;
        (v["message"] == message).then_some(v)
    })?;
    let steps: serde_json::Map<String, Value> =
        serde_json::from_str(line["steps_us"].as_str()?).ok()?;
    Some(
        steps
            .into_iter()
            .map(|(name, us)| (name, Duration::from_micros(us.as_u64().unwrap_or(0))))
            .collect(),
    )
}

/// A release binary running under its own Runtime API against the emulator.
struct Running {
    api: RuntimeApi,
    child: std::process::Child,
}

impl Running {
    /// Starts `binary`; `timed`: with its start-up timing logged to a pipe.
    async fn start(
        binary: &Path,
        endpoint: &str,
        table: &str,
        timed: bool,
    ) -> anyhow::Result<Running> {
        let api = RuntimeApi::start().await;
        let mut cmd = Command::new(binary);
        lambda_env(&mut cmd, &api.address, endpoint, table);
        if timed {
            timed_logs(&mut cmd);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        Ok(Running { api, child })
    }

    /// Invokes it with `event` and expects a successful reply.
    async fn invoke(&self, event: &Value) -> anyhow::Result<Value> {
        expect_ok(self.api.invoke(event.to_string().as_bytes()).await)
    }

    fn peak_rss_kib(&self) -> Option<u64> {
        peak_rss_kib(self.child.id())
    }

    fn cpu_time(&self) -> Option<Duration> {
        cpu_time(self.child.id())
    }

    /// Stops it; returns what it wrote to a piped stdout.
    fn stop(self) -> String {
        stop(self.child)
    }
}

/// Logs the start-up timing ([`reconciler::start`]) to a pipe.
fn timed_logs(cmd: &mut Command) {
    let filter = format!("info,{}=debug", reconciler::start::TARGET);
    cmd.env("RUST_LOG", filter).stdout(Stdio::piped());
}

/// Kills `child`; returns what it wrote to a piped stdout.
fn stop(mut child: std::process::Child) -> String {
    let _ = child.kill();
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
    }
    let _ = child.wait();
    out
}

/// A cold instance's first event: process start to the reply to one grant
/// (through a Runtime API, against the emulator), the median of `runs`
/// (taking turns like [`cold_starts`]), with the steps the binary logged as
/// it built what the first event needs ([`reconciler::start::FIRST_USE`]).
///
/// # Errors
/// A binary did not start or failed the event.
pub(super) async fn first_replies(
    binaries: &[&Path],
    endpoint: &str,
    table: &str,
    runs: usize,
) -> anyhow::Result<Vec<ColdStart>> {
    let mut totals = vec![Vec::new(); binaries.len()];
    let mut steps = vec![Vec::new(); binaries.len()];
    for run in 0..runs {
        for (i, binary) in binaries.iter().enumerate() {
            let event = json!({"id": format!("first-{run}-{i}"), "detail-type": "credits.granted",
                "detail": {"grant_id": format!("first-g{run}-{i}"), "account_id": format!("first-a{run}-{i}"), "credits": 1}});
            let started = Instant::now();
            let running = Running::start(binary, endpoint, table, true).await?;
            let reply = running.invoke(&event).await;
            totals[i].push(started.elapsed());
            let out = running.stop();
            reply.with_context(|| format!("{}'s first event", binary.display()))?;
            steps[i].extend(logged_steps(&out, reconciler::start::FIRST_USE));
        }
    }
    Ok(collect(totals, &steps))
}

fn collect(totals: Vec<Vec<Duration>>, steps: &[Vec<Vec<(String, Duration)>>]) -> Vec<ColdStart> {
    totals
        .into_iter()
        .zip(steps)
        .map(|(totals, steps)| ColdStart {
            total: median(totals),
            steps: median_steps(steps),
        })
        .collect()
}

/// The highest resident set a process has had (`VmHWM` in
/// `/proc/<pid>/status`), in KiB; `None` where there is no `/proc`.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    vm_hwm_kib(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// The CPU time a process has used so far (user and system, `/proc/<pid>/stat`).
fn cpu_time(pid: u32) -> Option<Duration> {
    let ticks = cpu_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
    // USER_HZ: 100 on every Linux Lambda and CI runs on.
    Some(Duration::from_millis(ticks * 10))
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line; the
/// command name (field 2) may hold spaces, so fields count after its `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is field 3 (the state).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// A burst of events through the handler, one after another as one
/// instance takes them (invocation to reply, through a Runtime API, against
/// the emulator): p50 and p99 of `events` grants, and its peak memory.
pub(super) struct Burst {
    pub(super) p50: Duration,
    pub(super) p99: Duration,
    pub(super) peak_rss_kib: Option<u64>,
    /// CPU time per event (the process's, averaged over the burst).
    pub(super) cpu_per_event: Option<Duration>,
}

/// Runs [`Burst`].
///
/// # Errors
/// The binary failed an event.
pub(super) async fn handler_burst(
    binary: &Path,
    endpoint: &str,
    table: &str,
    events: usize,
) -> anyhow::Result<Burst> {
    let handler = Running::start(binary, endpoint, table, false).await?;
    // The first event (a cold instance's reads) is outside the CPU figure.
    let first = json!({"id": "w", "detail-type": "credits.granted",
        "detail": {"grant_id": "bench-w", "account_id": "bench-a0", "credits": 1}});
    handler.invoke(&first).await?;
    let cpu_before = handler.cpu_time();
    let mut times = Vec::with_capacity(events);
    let mut result = Ok(());
    for n in 0..events {
        let event = json!({
            "id": format!("bench-{n}"),
            "detail-type": "credits.granted",
            "detail": {"grant_id": format!("bench-g{n}"), "account_id": format!("bench-a{}", n % 8), "credits": 1},
        });
        let started = Instant::now();
        if let Err(e) = handler.invoke(&event).await {
            result = Err(e);
            break;
        }
        times.push(started.elapsed());
    }
    let peak_rss_kib = handler.peak_rss_kib();
    let cpu = handler
        .cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    handler.stop();
    result?;
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    Ok(Burst {
        p50: pct(0.5),
        p99: pct(0.99),
        peak_rss_kib,
        cpu_per_event: cpu.map(|c| c / u32::try_from(events).unwrap_or(u32::MAX)),
    })
}

fn expect_ok(reply: Reply) -> anyhow::Result<Value> {
    match reply {
        Reply::Ok(body) => Ok(body),
        Reply::Error {
            error_type,
            message,
        } => Err(anyhow::anyhow!("{error_type}: {message}")),
    }
}

/// One sweep over many stragglers: what it expired, how long it took, its
/// peak memory.
pub(super) struct SweepRun {
    pub(super) expired: u64,
    /// Accounts its audit went through.
    pub(super) audited: u64,
    pub(super) took: Duration,
    pub(super) peak_rss_kib: Option<u64>,
    /// The sweep process's CPU time, start-up included.
    pub(super) cpu: Option<Duration>,
}

/// Puts `stragglers` holds on `accounts` accounts through the release
/// handler, then invokes the release sweep once, as the schedule would but
/// with every hold already old enough (`older_than_seconds: 0`), with
/// `budget` before its deadline.
///
/// # Errors
/// A binary failed an event or the sweep.
pub(super) async fn sweep_stragglers(
    (handler, sweep): (&Path, &Path),
    endpoint: &str,
    table: &str,
    (stragglers, accounts): (usize, usize),
    budget: Duration,
) -> anyhow::Result<SweepRun> {
    let running = Running::start(handler, endpoint, table, false).await?;
    let events = (0..accounts)
        .map(|a| json!({"detail-type": "credits.granted", "detail": {"grant_id": format!("sweep-g{a}"), "account_id": format!("sweep-a{a}"), "credits": 1_000_000}}))
        .chain((0..stragglers).map(|n| json!({"detail-type": "video.requested", "detail": {"job_id": format!("sweep-j{n}"), "account_id": format!("sweep-a{}", n % accounts), "credits": 3}})));
    let mut seeded = Ok(());
    for (n, mut event) in events.enumerate() {
        event["id"] = json!(format!("sweep-{n}"));
        if let Err(e) = running.invoke(&event).await {
            seeded = Err(e);
            break;
        }
    }
    running.stop();
    seeded.context("seeding the stragglers")?;

    let running = Running::start(sweep, endpoint, table, false).await?;
    let deadline_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis()
        + budget.as_millis();
    let started = Instant::now();
    let reply = running
        .api
        .invoke_as(
            "bench-sweep",
            br#"{"older_than_seconds": 0}"#,
            i64::try_from(deadline_ms)?,
            budget + Duration::from_secs(30),
        )
        .await;
    let took = started.elapsed();
    let peak_rss_kib = running.peak_rss_kib();
    let cpu = running.cpu_time();
    running.stop();
    let report = expect_ok(reply.context("the sweep did not answer")?)?;
    Ok(SweepRun {
        expired: report["expired"].as_u64().unwrap_or(0),
        audited: report["audited_accounts"].as_u64().unwrap_or(0),
        took,
        peak_rss_kib,
        cpu,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_resident_set_is_read_from_vm_hwm() {
        let status =
            "Name:\tbootstrap\nVmPeak:\t  712340 kB\nVmHWM:\t   18232 kB\nVmRSS:\t   17920 kB\n";
        assert_eq!(vm_hwm_kib(status), Some(18_232));
        assert_eq!(vm_hwm_kib("Name:\tx\n"), None);
    }

    #[test]
    fn cpu_ticks_are_user_plus_system_after_the_command_name() {
        let stat =
            "4242 (reconciler handler) S 1 4242 4242 0 -1 4194560 1207 0 0 0 37 5 0 0 20 0 3 0";
        assert_eq!(cpu_ticks(stat), Some(42));
        assert_eq!(cpu_ticks("4242 (x) S 1"), None);
    }

    #[test]
    fn the_start_up_line_gives_the_steps_in_order() {
        let log = concat!(
            r#"{"level":"INFO","message":"something else"}"#,
            "\n",
            r#"{"level":"DEBUG","message":"start-up","steps_us":"{\"tracing\":40,\"sdk config\":310}"}"#,
            "\n"
        );
        assert_eq!(
            logged_steps(log, "start-up"),
            Some(vec![
                ("tracing".to_owned(), Duration::from_micros(40)),
                ("sdk config".to_owned(), Duration::from_micros(310)),
            ])
        );
        assert_eq!(logged_steps(log, "first-use"), None);
        assert_eq!(logged_steps("not json\n", "start-up"), None);
    }

    #[test]
    fn each_steps_median_is_taken_across_runs() {
        let run = |a: u64, b: u64| {
            vec![
                ("a".to_owned(), Duration::from_micros(a)),
                ("b".to_owned(), Duration::from_micros(b)),
            ]
        };
        let steps = median_steps(&[run(1, 30), run(5, 10), run(3, 20)]);
        assert_eq!(
            steps,
            vec![
                ("a".to_owned(), Duration::from_micros(3)),
                ("b".to_owned(), Duration::from_micros(20)),
            ]
        );
        let cold = ColdStart {
            total: Duration::from_micros(100),
            steps,
        };
        assert_eq!(cold.outside_steps(), Duration::from_micros(77));
    }
}
