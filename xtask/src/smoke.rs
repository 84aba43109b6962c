//! `cargo xtask smoke --stage <s>`: proves a deployed stage's failure path
//! end to end (SPEC §7).
//!
//! It puts two events on the stage's bus: a good one (a `credits.granted` of 0
//! credits, grant `smoke-<unix ms>`, account `smoke-<stage>`: applying it
//! moves no money) and a forced-bad one (a `video.requested` whose `credits` is
//! `"not-a-number"`, job `smoke-bad-<unix ms>`). The handler refuses the bad
//! one with `InvalidEvent`; after Lambda's retries its on-failure destination
//! puts it in the dead-letter queue, and the errors alarm fires. The command
//! waits for both, concurrently, each bounded by `--timeout-seconds`, and
//! reports every check.
//!
//! The waiting is [`poll_until`] over a check function, so that it can be
//! tested with short timeouts.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_cloudwatch::types::StateValue;
use infra::Stage;
use serde_json::{Value, json};

use crate::aws::AwsArgs;
use crate::dlq;

/// The `source` of the smoke events.
pub const SOURCE: &str = "cc-agent-reconciler.smoke";

/// The stage's handler-errors alarm's name.
pub fn errors_alarm_name(stage: Stage) -> String {
    format!("cc-agent-reconciler-errors-{stage}")
}

/// The two events a smoke run sends.
#[derive(Clone, Debug, PartialEq)]
pub struct SmokeEvents {
    /// The good event's grant id (`smoke-<unix ms>`).
    pub grant_id: String,
    /// The good event's detail (`credits.granted`, 0 credits).
    pub good_detail: Value,
    /// The bad event's job id (`smoke-bad-<unix ms>`).
    pub bad_job_id: String,
    /// The bad event's detail (`video.requested`, credits not a number).
    pub bad_detail: Value,
}

impl SmokeEvents {
    /// The events for `stage` at `unix_ms`.
    pub fn new(stage: Stage, unix_ms: u64) -> SmokeEvents {
        let account = format!("smoke-{stage}");
        let grant_id = format!("smoke-{unix_ms}");
        let bad_job_id = format!("smoke-bad-{unix_ms}");
        SmokeEvents {
            good_detail: json!({"grant_id": grant_id, "account_id": account, "credits": 0}),
            bad_detail: json!({"job_id": bad_job_id, "account_id": account, "credits": "not-a-number"}),
            grant_id,
            bad_job_id,
        }
    }
}

/// How one check ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Passed, after this long.
    Ok(Duration),
    /// Not passed within the timeout; the last error seen while polling, if any.
    TimedOut(Option<String>),
    /// Failed outright (e.g. PutEvents refused the event).
    Failed(String),
}

impl CheckOutcome {
    /// Whether the check passed.
    pub fn is_ok(&self) -> bool {
        matches!(self, CheckOutcome::Ok(_))
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// How it ended.
    pub outcome: CheckOutcome,
    /// A remark (e.g. the alarm was already in ALARM before the run).
    pub note: Option<String>,
}

/// What a smoke run found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmokeReport {
    /// Every check, in order.
    pub checks: Vec<Check>,
}

impl SmokeReport {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.outcome.is_ok())
    }

    /// The lines the command prints.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let status = match &c.outcome {
                CheckOutcome::Ok(after) => format!("ok ({:.1}s)", after.as_secs_f64()),
                CheckOutcome::TimedOut(None) => "TIMED OUT".to_owned(),
                CheckOutcome::TimedOut(Some(e)) => format!("TIMED OUT (last error: {e})"),
                CheckOutcome::Failed(e) => format!("FAILED: {e}"),
            };
            out.push_str(&format!("{:<60} {status}\n", c.name));
            if let Some(note) = &c.note {
                out.push_str(&format!("    note: {note}\n"));
            }
        }
        out.push_str(if self.passed() {
            "Smoke test passed.\n"
        } else {
            "Smoke test FAILED.\n"
        });
        out
    }
}

/// Calls `check` every `interval` until it returns `Ok(true)` or `timeout`
/// has passed (the check runs at least once). Errors of `check` are retried
/// and the last one is reported with the timeout.
pub async fn poll_until<F, Fut>(timeout: Duration, interval: Duration, mut check: F) -> CheckOutcome
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let start = Instant::now();
    let deadline = start + timeout;
    let mut last_error = None;
    loop {
        match tokio::time::timeout_at(deadline.into(), check()).await {
            Ok(Ok(true)) => return CheckOutcome::Ok(start.elapsed()),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => last_error = Some(format!("{e:#}")),
            Err(_) => return CheckOutcome::TimedOut(last_error),
        }
        let now = Instant::now();
        if now >= deadline {
            return CheckOutcome::TimedOut(last_error);
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
    }
}

/// Whether the alarm is in ALARM now.
///
/// # Errors
/// CloudWatch failed, or there is no such alarm.
pub async fn alarm_in_alarm(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    alarm_name: &str,
) -> anyhow::Result<bool> {
    Ok(alarm_state(cloudwatch, alarm_name).await? == StateValue::Alarm)
}

/// The alarm's state.
///
/// # Errors
/// CloudWatch failed, or there is no such alarm.
pub async fn alarm_state(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    alarm_name: &str,
) -> anyhow::Result<StateValue> {
    let out = cloudwatch
        .describe_alarms()
        .alarm_names(alarm_name)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("DescribeAlarms: {}", dlq::sdk_error(&e)))?;
    out.metric_alarms()
        .iter()
        .find(|a| a.alarm_name() == Some(alarm_name))
        .and_then(|a| a.state_value().cloned())
        .with_context(|| format!("no alarm {alarm_name} (is the stage deployed?)"))
}

/// Whether the queue holds a dead letter whose original event is a
/// `video.requested` for `job_id` (read without consuming).
///
/// # Errors
/// SQS failed.
pub async fn dead_letter_for_job(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    job_id: &str,
) -> anyhow::Result<bool> {
    let letters = dlq::list(sqs, queue_url, dlq::ReceiveOptions::default().max_messages).await?;
    Ok(letters.iter().any(|l| {
        let c = &l.classification;
        c.detail_type.as_deref() == Some("video.requested")
            && c.business_key.as_deref() == Some(job_id)
    }))
}

/// The clients a smoke run needs.
#[derive(Clone, Debug)]
pub struct SmokeClients {
    /// To put the events.
    pub events: aws_sdk_eventbridge::Client,
    /// To read the dead-letter queue.
    pub sqs: aws_sdk_sqs::Client,
    /// To read the alarm.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

impl SmokeClients {
    /// Clients from one configuration.
    pub fn new(config: &aws_config::SdkConfig) -> SmokeClients {
        SmokeClients {
            events: aws_sdk_eventbridge::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
        }
    }
}

/// How a smoke run goes.
#[derive(Clone, Debug)]
pub struct SmokeOptions {
    /// The stage.
    pub stage: Stage,
    /// The bus to put the events on.
    pub bus_name: String,
    /// The dead-letter queue's name.
    pub queue_name: String,
    /// The errors alarm's name.
    pub alarm_name: String,
    /// How long to wait for the alarm and the dead letter (each, concurrently).
    pub timeout: Duration,
    /// How often to look.
    pub poll_interval: Duration,
}

impl SmokeOptions {
    /// The stage's names, the given timeout, a look every 10 seconds.
    pub fn new(stage: Stage, timeout: Duration) -> SmokeOptions {
        SmokeOptions {
            stage,
            bus_name: dlq::default_bus_name(stage),
            queue_name: dlq::queue_name(stage),
            alarm_name: errors_alarm_name(stage),
            timeout,
            poll_interval: Duration::from_secs(10)
                .min(timeout / 4)
                .max(Duration::from_millis(200)),
        }
    }
}

async fn put_event(
    events: &aws_sdk_eventbridge::Client,
    bus: &str,
    detail_type: &str,
    detail: &Value,
) -> CheckOutcome {
    let start = Instant::now();
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(SOURCE)
        .detail_type(detail_type)
        .detail(detail.to_string())
        .build();
    match events.put_events().entries(entry).send().await {
        Err(e) => CheckOutcome::Failed(format!("PutEvents: {}", dlq::sdk_error(&e))),
        Ok(out) => match out.entries().iter().find(|e| e.error_code().is_some()) {
            Some(e) => CheckOutcome::Failed(format!(
                "PutEvents entry failed: {}: {}",
                e.error_code().unwrap_or_default(),
                e.error_message().unwrap_or_default()
            )),
            None if out.failed_entry_count() > 0 => {
                CheckOutcome::Failed("PutEvents reported a failed entry".into())
            }
            None => CheckOutcome::Ok(start.elapsed()),
        },
    }
}

/// Runs the smoke test: sends both events, then waits for the alarm and the
/// dead letter concurrently.
///
/// # Errors
/// Never for a failed check (that is in the report); only if the dead-letter
/// queue's URL cannot be found (the stage is not deployed).
pub async fn smoke(
    clients: &SmokeClients,
    opts: &SmokeOptions,
    events: &SmokeEvents,
) -> anyhow::Result<SmokeReport> {
    let queue_url = dlq::queue_url(&clients.sqs, &opts.queue_name).await?;
    let alarm_before = alarm_state(&clients.cloudwatch, &opts.alarm_name)
        .await
        .ok();
    let mut checks = vec![
        Check {
            name: format!(
                "good event put on {} (credits.granted {})",
                opts.bus_name, events.grant_id
            ),
            outcome: put_event(
                &clients.events,
                &opts.bus_name,
                "credits.granted",
                &events.good_detail,
            )
            .await,
            note: None,
        },
        Check {
            name: format!(
                "bad event put on {} (video.requested {})",
                opts.bus_name, events.bad_job_id
            ),
            outcome: put_event(
                &clients.events,
                &opts.bus_name,
                "video.requested",
                &events.bad_detail,
            )
            .await,
            note: None,
        },
    ];
    if !checks[1].outcome.is_ok() {
        let skipped = CheckOutcome::Failed("skipped: the bad event was not sent".into());
        checks.push(Check {
            name: format!("alarm {} in ALARM", opts.alarm_name),
            outcome: skipped.clone(),
            note: None,
        });
        checks.push(Check {
            name: format!(
                "dead letter for {} in {}",
                events.bad_job_id, opts.queue_name
            ),
            outcome: skipped,
            note: None,
        });
        return Ok(SmokeReport { checks });
    }
    let (alarm, dead_letter) = tokio::join!(
        poll_until(opts.timeout, opts.poll_interval, || alarm_in_alarm(
            &clients.cloudwatch,
            &opts.alarm_name
        )),
        poll_until(opts.timeout, opts.poll_interval, || dead_letter_for_job(
            &clients.sqs,
            &queue_url,
            &events.bad_job_id
        )),
    );
    checks.push(Check {
        name: format!("alarm {} in ALARM", opts.alarm_name),
        outcome: alarm,
        note: (alarm_before == Some(StateValue::Alarm)).then(|| {
            "the alarm was already in ALARM before the events were sent, so this check \
             alone does not prove the bad event triggered it"
                .to_owned()
        }),
    });
    checks.push(Check {
        name: format!("dead letter for {} in {}", events.bad_job_id, opts.queue_name),
        outcome: dead_letter,
        note: Some(format!(
            "remove it with `cargo xtask dlq purge --stage {}` once inspected (replaying it fails again)",
            opts.stage
        )),
    });
    Ok(SmokeReport { checks })
}

/// `cargo xtask smoke`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// dev, staging or prod.
    #[arg(long)]
    pub stage: Stage,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// How long to wait for the alarm and the dead letter.
    #[arg(long, default_value_t = 600)]
    pub timeout_seconds: u64,
    /// The bus to send to (default: `cc-agent-reconciler-<stage>`).
    #[arg(long, value_name = "NAME")]
    pub bus: Option<String>,
}

/// Runs `cargo xtask smoke`; fails if any check failed.
pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let config = crate::aws::sdk_config(&args.aws).await?;
        let clients = SmokeClients::new(&config);
        let mut opts = SmokeOptions::new(args.stage, Duration::from_secs(args.timeout_seconds));
        if let Some(bus) = args.bus {
            opts.bus_name = bus;
        }
        let events = SmokeEvents::new(args.stage, dlq::now_ms());
        println!(
            "Smoke test of {}: a good and a forced-bad event on {}, then waiting up to {}s \
             for alarm {} and a dead letter in {}.",
            args.stage, opts.bus_name, args.timeout_seconds, opts.alarm_name, opts.queue_name
        );
        let report = smoke(&clients, &opts, &events).await?;
        print!("{}", report.render());
        if !report.passed() {
            anyhow::bail!("the smoke test failed");
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn the_events_are_one_good_and_one_invalid() {
        let e = SmokeEvents::new(Stage::Staging, 1_700_000_000_123);
        assert_eq!(e.grant_id, "smoke-1700000000123");
        assert_eq!(e.bad_job_id, "smoke-bad-1700000000123");
        assert!(reconciler_core::event::parse_detail("credits.granted", &e.good_detail).is_ok());
        let err =
            reconciler_core::event::parse_detail("video.requested", &e.bad_detail).unwrap_err();
        assert!(err.field.contains("credits"), "{err}");
        assert_eq!(e.good_detail["account_id"], "smoke-staging");
        assert_eq!(e.good_detail["credits"], 0);
        assert_eq!(
            errors_alarm_name(Stage::Prod),
            "cc-agent-reconciler-errors-prod"
        );
    }

    #[tokio::test]
    async fn polling_stops_at_the_first_success() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let outcome = poll_until(
            Duration::from_secs(5),
            Duration::from_millis(10),
            move || {
                let c = c.clone();
                async move { Ok(c.fetch_add(1, Ordering::SeqCst) >= 2) }
            },
        )
        .await;
        assert!(outcome.is_ok(), "{outcome:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn polling_times_out_with_the_last_error() {
        let start = Instant::now();
        let outcome = poll_until(
            Duration::from_millis(200),
            Duration::from_millis(20),
            || async { anyhow::bail!("no alarm x") },
        )
        .await;
        assert_eq!(outcome, CheckOutcome::TimedOut(Some("no alarm x".into())));
        assert!(start.elapsed() < Duration::from_secs(2));
        let outcome = poll_until(
            Duration::from_millis(100),
            Duration::from_millis(20),
            || async { Ok(false) },
        )
        .await;
        assert_eq!(outcome, CheckOutcome::TimedOut(None));
    }

    #[tokio::test]
    async fn a_check_that_hangs_is_cut_at_the_timeout() {
        let start = Instant::now();
        let outcome = poll_until(
            Duration::from_millis(100),
            Duration::from_millis(10),
            || async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(true)
            },
        )
        .await;
        assert_eq!(outcome, CheckOutcome::TimedOut(None));
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn the_report_fails_if_any_check_failed() {
        let ok = Check {
            name: "a".into(),
            outcome: CheckOutcome::Ok(Duration::from_millis(1500)),
            note: None,
        };
        let late = Check {
            name: "b".into(),
            outcome: CheckOutcome::TimedOut(None),
            note: Some("n".into()),
        };
        let passed = SmokeReport {
            checks: vec![ok.clone()],
        };
        assert!(passed.passed());
        assert!(passed.render().contains("ok (1.5s)"));
        let failed = SmokeReport {
            checks: vec![ok, late],
        };
        assert!(!failed.passed());
        let text = failed.render();
        assert!(text.contains("TIMED OUT") && text.contains("note: n") && text.contains("FAILED"));
    }

    #[test]
    fn the_command_line_parses() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            smoke: Args,
        }
        let cli = Cli::parse_from(["x", "--stage", "prod"]);
        assert_eq!(cli.smoke.timeout_seconds, 600);
        assert_eq!(cli.smoke.stage, Stage::Prod);
        let cli = Cli::parse_from([
            "x",
            "--stage",
            "dev",
            "--timeout-seconds",
            "30",
            "--endpoint-url",
            "http://127.0.0.1:5000",
        ]);
        assert_eq!(cli.smoke.timeout_seconds, 30);
        assert_eq!(
            cli.smoke.aws.endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
    }

    #[test]
    fn the_poll_interval_fits_the_timeout() {
        let o = SmokeOptions::new(Stage::Dev, Duration::from_secs(600));
        assert_eq!(o.poll_interval, Duration::from_secs(10));
        let o = SmokeOptions::new(Stage::Dev, Duration::from_secs(2));
        assert_eq!(o.poll_interval, Duration::from_millis(500));
        assert_eq!(o.queue_name, "cc-agent-reconciler-dlq-dev");
        assert_eq!(o.bus_name, "cc-agent-reconciler-dev");
    }
}
