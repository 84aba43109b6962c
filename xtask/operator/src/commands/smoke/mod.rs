//! `cargo xtask smoke --stage <s>`: proves a deployed stage's whole chain end
//! to end (SPEC §7).
//!
//! It puts two events on the stage's bus: a good one (a `credits.granted` of 0
//! credits, grant `smoke-<unix ms>`, account `smoke-<stage>`: applying it
//! moves no money) and a forced-bad one (a `video.requested` whose `credits` is
//! `"not-a-number"`, job `smoke-bad-<unix ms>`). Then it checks, concurrently
//! and each bounded by `--timeout-seconds`, with progress as it waits:
//!
//! 1. the good event was **applied**: its grant record is in the ledger table
//!    (the handler's response is not visible through the bus; the ledger is);
//! 2. the bad event tripped the **errors alarm** (an alarm already in ALARM
//!    before the run proves nothing and is reported as such, not passed);
//! 3. the alarm's **SNS action ran**: its history (`DescribeAlarmHistory`,
//!    `Action` items) shows a successful publish to the ops-alerts topic after
//!    the run started ([`sns_action_verdict`], pure);
//! 4. the bad event arrived in the **dead-letter queue**; smoke then deletes
//!    exactly that dead letter, by its message id.
//!
//! On staging and prod it warns loudly when nobody has confirmed a
//! subscription to the ops-alerts topic ([`crate::models::alerts`]). Every name comes
//! from the stack's outputs.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::StateValue;
use infra::{StackOutputs, Stage};
use reconciler::store::items::{GrantItem, from_item};
use reconciler::store::keys;
use serde_json::{Value, json};

use crate::aws::Target;
use crate::aws::sdk_error;
use crate::base::ui::{Act, Given};
use crate::commands::{Console, run_command};
use crate::models::alarms::{ActionRecord, action_history, alarm_state};
use crate::models::events::put_event;
use crate::models::queues::{self, Queue, ReceiveOptions};

/// The `source` of the smoke events.
pub const SOURCE: &str = "cc-agent-reconciler.smoke";

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
    pub fn new(stage: Stage, unix_ms: i64) -> SmokeEvents {
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
    /// Not passed within the timeout; the last status or error seen.
    TimedOut(Option<String>),
    /// Failed outright (e.g. PutEvents refused the event, the SNS action failed).
    Failed(String),
    /// Cannot tell (e.g. the alarm was already in ALARM before the run): not a pass.
    Inconclusive(String),
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
    /// A remark (e.g. the dead letter was deleted).
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
                CheckOutcome::TimedOut(Some(e)) => format!("TIMED OUT (last seen: {e})"),
                CheckOutcome::Failed(e) => format!("FAILED: {e}"),
                CheckOutcome::Inconclusive(why) => format!("NOT CONCLUSIVE: {why}"),
            };
            out.push_str(&format!("{:<64} {status}\n", c.name));
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

/// What one look of a check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The check passed.
    Passed,
    /// Not yet; what it looks like now (shown as progress).
    Waiting(String),
    /// It cannot pass any more.
    Failed(String),
}

/// Calls `check` every `interval` until it passes, fails, or `timeout` has
/// passed (the check runs at least once). AWS errors are retried; the last
/// status or error is reported with the timeout. `progress` hears each new
/// status, and the same one again every minute.
pub async fn poll_until<F, Fut>(
    timeout: Duration,
    interval: Duration,
    progress: &(dyn Fn(&str) + Sync),
    mut check: F,
) -> CheckOutcome
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Probe>>,
{
    let start = Instant::now();
    let deadline = start + timeout;
    let mut last: Option<String> = None;
    let mut said_at = start;
    loop {
        let status = match tokio::time::timeout_at(deadline.into(), check()).await {
            Ok(Ok(Probe::Passed)) => return CheckOutcome::Ok(start.elapsed()),
            Ok(Ok(Probe::Failed(why))) => return CheckOutcome::Failed(why),
            Ok(Ok(Probe::Waiting(status))) => status,
            Ok(Err(e)) => format!("error: {e:#}"),
            Err(_) => return CheckOutcome::TimedOut(last),
        };
        if last.as_deref() != Some(status.as_str()) || said_at.elapsed() >= Duration::from_secs(60)
        {
            progress(&format!("{status} ({}s)", start.elapsed().as_secs()));
            said_at = Instant::now();
        }
        last = Some(status);
        let now = Instant::now();
        if now >= deadline {
            return CheckOutcome::TimedOut(last);
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
    }
}

/// Whether the alarm's SNS action ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionVerdict {
    /// A publish to the topic succeeded at this time, for the ALARM transition.
    Ran {
        /// When.
        at_ms: i64,
    },
    /// The publish to the topic failed: why.
    Failed(String),
    /// No action on the topic since the run started.
    NotYet,
}

/// Decides from the alarm's `Action` history items whether its SNS action
/// published to `topic_arn` at or after `since_ms` for a transition to
/// ALARM (pure). A success wins over a failure (the action may have been
/// retried); an item about another topic, or before the run, does not count.
pub fn sns_action_verdict(items: &[ActionRecord], topic_arn: &str, since_ms: i64) -> ActionVerdict {
    let mut failure = None;
    let mut ran = None;
    for item in items.iter().filter(|i| i.at_ms >= since_ms) {
        let data: Option<Value> = item
            .data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok());
        let resource = data
            .as_ref()
            .and_then(|d| d["notificationResource"].as_str())
            .map(str::to_owned);
        let about_topic = match &resource {
            Some(r) => r == topic_arn,
            None => item.summary.contains(topic_arn),
        };
        if !about_topic {
            continue;
        }
        let state = data
            .as_ref()
            .and_then(|d| d["actionState"].as_str())
            .map(str::to_owned);
        let succeeded = match state.as_deref() {
            Some(s) => s == "Succeeded",
            None => item.summary.starts_with("Successfully executed action"),
        };
        // The message it published: a transition to ALARM (an OK transition
        // notifies the topic too).
        let new_state = data
            .as_ref()
            .and_then(|d| d["publishedMessage"].as_str())
            .and_then(|m| serde_json::from_str::<Value>(m).ok())
            .and_then(|m| {
                let inner = m
                    .get("default")
                    .and_then(Value::as_str)
                    .and_then(|s| serde_json::from_str::<Value>(s).ok())
                    .unwrap_or(m);
                inner["NewStateValue"].as_str().map(str::to_owned)
            });
        if new_state.as_deref().is_some_and(|s| s != "ALARM") {
            continue;
        }
        if succeeded {
            ran = Some(ran.map_or(item.at_ms, |at: i64| at.min(item.at_ms)));
        } else {
            let error = data
                .as_ref()
                .and_then(|d| d["error"].as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| item.summary.clone());
            failure = Some(error);
        }
    }
    match (ran, failure) {
        (Some(at_ms), _) => ActionVerdict::Ran { at_ms },
        (None, Some(error)) => ActionVerdict::Failed(error),
        (None, None) => ActionVerdict::NotYet,
    }
}

/// Whether the ledger table holds the grant record of `grant_id`.
///
/// # Errors
/// DynamoDB failed, or the item is malformed.
pub async fn grant_recorded(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    grant_id: &str,
) -> anyhow::Result<bool> {
    let out = dynamodb
        .get_item()
        .table_name(table)
        .set_key(Some(keys::grant_key(grant_id)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("GetItem on {table}: {}", sdk_error(&e)))?;
    match out.item {
        None => Ok(false),
        Some(item) => {
            from_item::<GrantItem>(item, "grant")
                .and_then(|g| g.grant())
                .map_err(anyhow::Error::msg)?;
            Ok(true)
        }
    }
}

/// The clients a smoke run needs.
#[derive(Clone, Debug)]
pub struct SmokeClients {
    /// To put the events.
    pub events: aws_sdk_eventbridge::Client,
    /// To read the dead-letter queue.
    pub sqs: aws_sdk_sqs::Client,
    /// To read the alarm and its history.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// To read the ledger.
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl SmokeClients {
    /// The clients of a console.
    pub fn of(clients: &crate::aws::Clients) -> SmokeClients {
        SmokeClients {
            events: clients.events.clone(),
            sqs: clients.sqs.clone(),
            cloudwatch: clients.cloudwatch.clone(),
            dynamodb: clients.dynamodb.clone(),
        }
    }
}

/// How a smoke run goes: where (names from the stack's outputs) and how long.
#[derive(Clone, Debug)]
pub struct SmokeOptions {
    /// The stage.
    pub stage: Stage,
    /// The bus to put the events on.
    pub bus_name: String,
    /// The dead-letter queue.
    pub dead_letters: Queue,
    /// The handler errors alarm.
    pub alarm_name: String,
    /// The ops-alerts topic the alarm notifies.
    pub topic_arn: String,
    /// The ledger table.
    pub ledger_table: String,
    /// How long to wait for each check (concurrently).
    pub timeout: Duration,
    /// How often to look.
    pub poll_interval: Duration,
    /// How to read the dead-letter queue.
    pub receive: ReceiveOptions,
}

impl SmokeOptions {
    /// The stack's names, the given timeout, a look every 10 seconds.
    pub fn new(stage: Stage, outputs: &StackOutputs, timeout: Duration) -> SmokeOptions {
        SmokeOptions {
            stage,
            bus_name: outputs.bus_name.clone(),
            dead_letters: Queue::dead_letters(outputs),
            alarm_name: outputs.errors_alarm_name.clone(),
            topic_arn: outputs.ops_alerts_topic_arn.clone(),
            ledger_table: outputs.ledger_table_name.clone(),
            timeout,
            poll_interval: Duration::from_secs(10)
                .min(timeout / 4)
                .max(Duration::from_millis(200)),
            receive: ReceiveOptions {
                wait_seconds: 2,
                ..ReceiveOptions::default()
            },
        }
    }
}

async fn put_check(
    clients: &SmokeClients,
    bus: &str,
    name: String,
    detail_type: &str,
    detail: &Value,
) -> Check {
    let start = Instant::now();
    let outcome = match put_event(&clients.events, bus, SOURCE, detail_type, detail, None).await {
        Ok(()) => CheckOutcome::Ok(start.elapsed()),
        Err(why) => CheckOutcome::Failed(why),
    };
    Check {
        name,
        outcome,
        note: None,
    }
}

/// Runs the smoke test: sends both events, then waits for every check
/// concurrently, telling `progress` what each is waiting for.
///
/// # Errors
/// Never for a failed check (that is in the report).
pub async fn smoke(
    clients: &SmokeClients,
    opts: &SmokeOptions,
    events: &SmokeEvents,
    started_ms: i64,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<SmokeReport> {
    let alarm_before = alarm_state(&clients.cloudwatch, &opts.alarm_name)
        .await
        .ok()
        .map(|(state, _)| state);
    let good = put_check(
        clients,
        &opts.bus_name,
        format!(
            "good event put on {} (credits.granted {})",
            opts.bus_name, events.grant_id
        ),
        "credits.granted",
        &events.good_detail,
    )
    .await;
    let bad = put_check(
        clients,
        &opts.bus_name,
        format!(
            "bad event put on {} (video.requested {})",
            opts.bus_name, events.bad_job_id
        ),
        "video.requested",
        &events.bad_detail,
    )
    .await;
    let names = [
        format!(
            "good event applied (grant {} in {})",
            events.grant_id, opts.ledger_table
        ),
        format!("alarm {} in ALARM", opts.alarm_name),
        format!("alarm action ran (SNS publish to {})", opts.topic_arn),
        format!(
            "dead letter for {} in {}",
            events.bad_job_id, opts.dead_letters.name
        ),
    ];
    let skip = |why: &str| CheckOutcome::Failed(format!("skipped: {why}"));
    let said = |label: &'static str| move |status: &str| progress(&format!("{label}: {status}"));
    let (say_good, say_alarm, say_action, say_letter) = (
        said("good event"),
        said("alarm"),
        said("alarm action"),
        said("dead letter"),
    );
    let was_alarm = alarm_before == Some(StateValue::Alarm);
    let already = format!(
        "{} was already in ALARM before the run, so neither its state nor a notification can \
         be caused by this run; wait until it is OK again (or reset it: `aws cloudwatch \
         set-alarm-state --alarm-name {} --state-value OK --state-reason smoke`) and run again",
        opts.alarm_name, opts.alarm_name
    );
    let good_applied = async {
        if !good.outcome.is_ok() {
            return skip("the good event was not sent");
        }
        poll_until(opts.timeout, opts.poll_interval, &say_good, || async {
            Ok(
                if grant_recorded(&clients.dynamodb, &opts.ledger_table, &events.grant_id).await? {
                    Probe::Passed
                } else {
                    Probe::Waiting("not in the ledger yet".into())
                },
            )
        })
        .await
    };
    let alarm = async {
        if !bad.outcome.is_ok() {
            return skip("the bad event was not sent");
        }
        if was_alarm {
            return CheckOutcome::Inconclusive(already.clone());
        }
        poll_until(opts.timeout, opts.poll_interval, &say_alarm, || async {
            let (state, _) = alarm_state(&clients.cloudwatch, &opts.alarm_name).await?;
            Ok(if state == StateValue::Alarm {
                Probe::Passed
            } else {
                Probe::Waiting(format!("state {}", state.as_str()))
            })
        })
        .await
    };
    let action = async {
        if !bad.outcome.is_ok() {
            return skip("the bad event was not sent");
        }
        if was_alarm {
            return CheckOutcome::Inconclusive(already.clone());
        }
        poll_until(opts.timeout, opts.poll_interval, &say_action, || async {
            let items = action_history(&clients.cloudwatch, &opts.alarm_name, started_ms).await?;
            Ok(
                match sns_action_verdict(&items, &opts.topic_arn, started_ms) {
                    ActionVerdict::Ran { .. } => Probe::Passed,
                    ActionVerdict::Failed(why) => {
                        Probe::Failed(format!("the alarm's SNS action failed: {why}"))
                    }
                    ActionVerdict::NotYet => Probe::Waiting("no notification yet".into()),
                },
            )
        })
        .await
    };
    let letter = async {
        if !bad.outcome.is_ok() {
            return (skip("the bad event was not sent"), None);
        }
        let found = std::sync::Mutex::new(None);
        let outcome = poll_until(opts.timeout, opts.poll_interval, &say_letter, || async {
            let letters = queues::list(&clients.sqs, &opts.dead_letters.url, &opts.receive).await?;
            let mine = letters.letters.into_iter().find(|l| {
                let c = &l.classification;
                c.detail_type.as_deref() == Some("video.requested")
                    && c.business_key.as_deref() == Some(events.bad_job_id.as_str())
            });
            let passed = mine.is_some();
            *found.lock().unwrap_or_else(|p| p.into_inner()) = mine;
            Ok(if passed {
                Probe::Passed
            } else {
                Probe::Waiting("not in the queue yet".into())
            })
        })
        .await;
        let found = found.into_inner().unwrap_or_else(|p| p.into_inner());
        (outcome, found)
    };
    let (good_applied, alarm, action, (letter, found)) =
        tokio::join!(good_applied, alarm, action, letter);
    // The smoke run's own dead letter, and only it, goes.
    let letter_note = match found {
        None => None,
        Some(l) => Some(
            match queues::delete(
                &clients.sqs,
                &opts.dead_letters.url,
                std::slice::from_ref(&l.message_id),
                &opts.receive,
            )
            .await
            {
                Ok(outcomes)
                    if outcomes
                        .iter()
                        .all(|o| o.action == queues::DeleteAction::Deleted) =>
                {
                    format!(
                        "deleted it (message {}); nothing else was touched",
                        l.message_id
                    )
                }
                Ok(_) | Err(_) => format!(
                    "could not delete it: remove it with `cargo xtask dlq delete --stage {} --id {}`",
                    opts.stage, l.message_id
                ),
            },
        ),
    };
    let [n_good, n_alarm, n_action, n_letter] = names;
    let check = |name, outcome| Check {
        name,
        outcome,
        note: None,
    };
    Ok(SmokeReport {
        checks: vec![
            good,
            bad,
            check(n_good, good_applied),
            check(n_alarm, alarm),
            check(n_action, action),
            Check {
                name: n_letter,
                outcome: letter,
                note: letter_note,
            },
        ],
    })
}

/// `cargo xtask smoke`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  cargo xtask smoke --stage staging\n  \
                        cargo xtask smoke --stage prod --yes --timeout-seconds 900")]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    /// How long to wait for each check.
    #[arg(long, default_value_t = 600)]
    pub timeout_seconds: u64,
    /// Do not ask for confirmation (prod pages the on-call person).
    #[arg(long)]
    pub yes: bool,
}

/// Runs `cargo xtask smoke`; fails if any check failed.
///
/// # Errors
/// The stage is not deployed, not confirmed, or a check failed.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    run_command(async {
        let console = Console::open(&args.target).await?;
        console.session.before_writing()?;
        let stage = console.stage();
        let given = Given {
            yes: args.yes,
            interactive: crate::base::ui::interactive(),
            confirm_stack: None,
        };
        Act::Smoke
            .confirmation(
                stage,
                given,
                &format!(
                    "{}: the smoke test fires the errors alarm, which pages the on-call person. \
                     Go on?",
                    console.session.who_and_where()
                ),
                "a smoke test of prod",
            )
            .resolve("no smoke test run")?;
        if let Some(warning) = crate::models::alerts::check_ops_alerts(
            &console.clients.sns,
            stage,
            &console.outputs.ops_alerts_topic_arn,
        )
        .await
        {
            eprintln!(
                "{}",
                crate::base::ui::paint(
                    &warning,
                    crate::base::ui::Tone::Danger,
                    crate::base::ui::color()
                )
            );
        }
        let opts = SmokeOptions::new(
            stage,
            &console.outputs,
            Duration::from_secs(args.timeout_seconds),
        );
        let started_ms = crate::base::when::now_ms();
        let events = SmokeEvents::new(stage, started_ms);
        println!(
            "Smoke test of {stage}: a good and a forced-bad event on {}, then waiting up to {}s \
             for the ledger, alarm {} and its notification, and a dead letter in {}.",
            opts.bus_name, args.timeout_seconds, opts.alarm_name, opts.dead_letters.name
        );
        let report = smoke(
            &SmokeClients::of(&console.clients),
            &opts,
            &events,
            started_ms,
            &|line| eprintln!("  … {line}"),
        )
        .await?;
        print!("{}", report.render());
        if !report.passed() {
            anyhow::bail!("the smoke test failed");
        }
        Ok(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};

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
    }

    fn quiet(_: &str) {}

    #[tokio::test]
    async fn polling_stops_at_the_first_success() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let outcome = poll_until(
            Duration::from_secs(5),
            Duration::from_millis(10),
            &quiet,
            move || {
                let c = c.clone();
                async move {
                    Ok(if c.fetch_add(1, Ordering::SeqCst) >= 2 {
                        Probe::Passed
                    } else {
                        Probe::Waiting("no".into())
                    })
                }
            },
        )
        .await;
        assert!(outcome.is_ok(), "{outcome:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn polling_times_out_with_the_last_status_and_says_each_new_one() {
        let start = Instant::now();
        let heard = Mutex::new(Vec::new());
        let outcome = poll_until(
            Duration::from_millis(200),
            Duration::from_millis(20),
            &|line: &str| heard.lock().unwrap().push(line.to_owned()),
            || async { anyhow::bail!("no alarm x") },
        )
        .await;
        assert_eq!(
            outcome,
            CheckOutcome::TimedOut(Some("error: no alarm x".into()))
        );
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(heard.lock().unwrap().len(), 1, "said once, not every poll");
        let outcome = poll_until(
            Duration::from_millis(100),
            Duration::from_millis(20),
            &quiet,
            || async { Ok(Probe::Failed("boom".into())) },
        )
        .await;
        assert_eq!(outcome, CheckOutcome::Failed("boom".into()));
    }

    #[tokio::test]
    async fn a_check_that_hangs_is_cut_at_the_timeout() {
        let start = Instant::now();
        let outcome = poll_until(
            Duration::from_millis(100),
            Duration::from_millis(10),
            &quiet,
            || async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(Probe::Passed)
            },
        )
        .await;
        assert_eq!(outcome, CheckOutcome::TimedOut(None));
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn the_report_fails_if_any_check_failed_or_proved_nothing() {
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
            checks: vec![ok.clone(), late],
        };
        assert!(!failed.passed());
        let text = failed.render();
        assert!(text.contains("TIMED OUT") && text.contains("note: n") && text.contains("FAILED"));
        let unsure = SmokeReport {
            checks: vec![
                ok,
                Check {
                    name: "alarm".into(),
                    outcome: CheckOutcome::Inconclusive("already in ALARM".into()),
                    note: None,
                },
            ],
        };
        assert!(
            !unsure.passed(),
            "an alarm in ALARM before the run is no pass"
        );
        assert!(unsure.render().contains("NOT CONCLUSIVE: already in ALARM"));
    }

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:cc-agent-reconciler-ops-alerts-dev";

    fn item(at_ms: i64, state: &str, topic: &str, new_state: &str) -> ActionRecord {
        let message = json!({"AlarmName": "a", "NewStateValue": new_state}).to_string();
        ActionRecord {
            at_ms,
            summary: format!(
                "{} action {topic}",
                if state == "Succeeded" {
                    "Successfully executed"
                } else {
                    "Failed to execute"
                }
            ),
            data: Some(
                json!({"actionState": state, "notificationResource": topic,
                       "stateUpdateTimestamp": at_ms,
                       "publishedMessage": json!({"default": message}).to_string(),
                       "error": if state == "Succeeded" { Value::Null } else { json!("AuthorizationError: not allowed") }})
                .to_string(),
            ),
        }
    }

    #[test]
    fn the_action_ran_only_with_a_successful_publish_to_the_topic_after_the_start() {
        assert_eq!(
            sns_action_verdict(&[item(2_000, "Succeeded", TOPIC, "ALARM")], TOPIC, 1_000),
            ActionVerdict::Ran { at_ms: 2_000 }
        );
        assert_eq!(sns_action_verdict(&[], TOPIC, 1_000), ActionVerdict::NotYet);
        // Before the run: an earlier incident's notification proves nothing.
        assert_eq!(
            sns_action_verdict(&[item(500, "Succeeded", TOPIC, "ALARM")], TOPIC, 1_000),
            ActionVerdict::NotYet
        );
        // Another topic.
        assert_eq!(
            sns_action_verdict(
                &[item(
                    2_000,
                    "Succeeded",
                    "arn:aws:sns:us-east-1:1:other",
                    "ALARM"
                )],
                TOPIC,
                1_000
            ),
            ActionVerdict::NotYet
        );
        // The OK transition's notification is not the alarm's.
        assert_eq!(
            sns_action_verdict(&[item(2_000, "Succeeded", TOPIC, "OK")], TOPIC, 1_000),
            ActionVerdict::NotYet
        );
        // A failed publish says why; a later success wins.
        assert_eq!(
            sns_action_verdict(&[item(2_000, "Failed", TOPIC, "ALARM")], TOPIC, 1_000),
            ActionVerdict::Failed("AuthorizationError: not allowed".into())
        );
        assert_eq!(
            sns_action_verdict(
                &[
                    item(2_000, "Failed", TOPIC, "ALARM"),
                    item(3_000, "Succeeded", TOPIC, "ALARM")
                ],
                TOPIC,
                1_000
            ),
            ActionVerdict::Ran { at_ms: 3_000 }
        );
        // Without machine-readable data, the summary decides.
        let bare = ActionRecord {
            at_ms: 2_000,
            summary: format!("Successfully executed action {TOPIC}"),
            data: None,
        };
        assert_eq!(
            sns_action_verdict(&[bare], TOPIC, 1_000),
            ActionVerdict::Ran { at_ms: 2_000 }
        );
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
        assert_eq!(cli.smoke.target.stage, Stage::Prod);
        assert!(!cli.smoke.yes);
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
            cli.smoke.target.aws.endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert!(
            Cli::try_parse_from(["x", "--stage", "dev", "--bus", "b"]).is_err(),
            "the bus comes from the stack's outputs"
        );
    }

    #[test]
    fn the_names_come_from_the_outputs_and_the_poll_interval_fits_the_timeout() {
        let outputs: std::collections::BTreeMap<String, String> = StackOutputs::REQUIRED_KEYS
            .iter()
            .map(|k| ((*k).to_owned(), format!("<{k}>")))
            .collect();
        let outputs = StackOutputs::from_outputs(&outputs).unwrap();
        let o = SmokeOptions::new(Stage::Dev, &outputs, Duration::from_secs(600));
        assert_eq!(o.poll_interval, Duration::from_secs(10));
        assert_eq!(o.bus_name, "<BusName>");
        assert_eq!(o.dead_letters.url, "<DeadLetterQueueUrl>");
        assert_eq!(o.alarm_name, "<ErrorsAlarmName>");
        assert_eq!(o.topic_arn, "<OpsAlertsTopicArn>");
        assert_eq!(o.ledger_table, "<LedgerTableName>");
        let o = SmokeOptions::new(Stage::Dev, &outputs, Duration::from_secs(2));
        assert_eq!(o.poll_interval, Duration::from_millis(500));
    }
}
