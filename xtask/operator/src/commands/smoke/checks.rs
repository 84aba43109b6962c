//! A smoke run: both events put on the bus, then every check at once, each
//! bounded by the timeout; the run's own dead letter deleted at the end.

use std::time::{Duration, Instant};

use infra::{StackOutputs, Stage};

use aws_sdk_cloudwatch::types::StateValue;
use reconciler::store::Ledger;
use reconciler_core::ledger::JobStatus;
use serde_json::Value;

use super::poll::{Probe, poll_until};
use super::report::{Check, CheckOutcome, SmokeReport};
use super::verdict::{ActionVerdict, sns_action_verdict};
use super::{DETAIL_TYPE, SmokeEvents};
use crate::aws::sdk_error;
use crate::models::alarms::{action_history, alarm_state};
use crate::models::events::put_event;
use crate::models::queues::{self, DeadLetter, Queue, ReceiveOptions};

/// Whether the ledger holds `job_id`, refunded.
///
/// # Errors
/// DynamoDB failed, or the item is malformed.
pub async fn job_refunded(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    job_id: &str,
) -> anyhow::Result<bool> {
    let ledger = Ledger::new(dynamodb.clone(), table.to_owned());
    let item = ledger
        .job_item(job_id)
        .await
        .map_err(|e| anyhow::anyhow!("the job {job_id} in {table}: {e}"))?;
    match item {
        None => Ok(false),
        Some(item) => Ok(item.job().map_err(anyhow::Error::msg)?.status == JobStatus::Refunded),
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
    /// The rule that delivers the events to the handler.
    pub ledger_rule: String,
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
            ledger_rule: outputs.ledger_events_rule_name.clone(),
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
    source: &str,
    name: String,
    detail_type: &str,
    detail: &Value,
) -> Check {
    let start = Instant::now();
    let outcome = match put_event(&clients.events, bus, source, detail_type, detail, None).await {
        Ok(()) => CheckOutcome::Ok(start.elapsed()),
        Err(why) if why.contains("NotAuthorizedFor") => CheckOutcome::Failed(format!(
            "{why} (the bus's policy admits only the stage's producers: run smoke with the \
             credentials of its producer of {detail_type}, source {source})"
        )),
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
    if let Some(broken) = broken_link(clients, opts).await {
        return Ok(SmokeReport {
            checks: vec![broken],
        });
    }
    let alarm_before = alarm_state(&clients.cloudwatch, &opts.alarm_name)
        .await
        .ok()
        .map(|(state, _)| state);
    let (bus, source) = (&opts.bus_name, &events.source);
    let good = put_check(
        clients,
        bus,
        source,
        format!(
            "good event put on {bus} ({DETAIL_TYPE} {})",
            events.good_job_id
        ),
        DETAIL_TYPE,
        &events.good_detail,
    )
    .await;
    let bad = put_check(
        clients,
        bus,
        source,
        format!(
            "bad event put on {bus} ({DETAIL_TYPE} {})",
            events.bad_job_id
        ),
        DETAIL_TYPE,
        &events.bad_detail,
    )
    .await;
    let run = Run {
        clients,
        opts,
        events,
        started_ms,
        progress,
        good_sent: good.outcome.is_ok(),
        bad_sent: bad.outcome.is_ok(),
        was_alarm: alarm_before == Some(StateValue::Alarm),
    };
    let (good_applied, alarm, action, (letter, found)) =
        tokio::join!(run.good_applied(), run.alarm(), run.action(), run.letter());
    // The smoke run's own dead letter, and only it, goes.
    let letter_note = match found {
        None => None,
        Some(l) => Some(delete_own_letter(clients, opts, &l).await),
    };
    let [n_good, n_alarm, n_action, n_letter] = check_names(opts, events);
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

/// The four waiting checks, as the report names them.
fn check_names(opts: &SmokeOptions, events: &SmokeEvents) -> [String; 4] {
    [
        format!(
            "good event applied (job {} refunded in {})",
            events.good_job_id, opts.ledger_table
        ),
        format!("alarm {} in ALARM", opts.alarm_name),
        format!("alarm action ran (SNS publish to {})", opts.topic_arn),
        format!(
            "dead letter for {} in {}",
            events.bad_job_id, opts.dead_letters.name
        ),
    ]
}

fn skip(why: &str) -> CheckOutcome {
    CheckOutcome::Failed(format!("skipped: {why}"))
}

/// A smoke run, its events sent.
struct Run<'a> {
    clients: &'a SmokeClients,
    opts: &'a SmokeOptions,
    events: &'a SmokeEvents,
    started_ms: i64,
    progress: &'a (dyn Fn(&str) + Sync),
    good_sent: bool,
    bad_sent: bool,
    /// The alarm was in ALARM before the run: nothing it does proves anything.
    was_alarm: bool,
}

impl Run<'_> {
    /// Progress of the check `label`.
    fn say(&self, label: &'static str) -> impl Fn(&str) + Sync + '_ {
        move |status: &str| (self.progress)(&format!("{label}: {status}"))
    }

    fn already(&self) -> String {
        let name = &self.opts.alarm_name;
        format!(
            "{name} was already in ALARM before the run, so neither its state nor a \
             notification can be caused by this run; wait until it is OK again (or reset it: \
             `aws cloudwatch set-alarm-state --alarm-name {name} --state-value OK \
             --state-reason smoke`) and run again"
        )
    }

    /// The good event's job is in the ledger, refunded; a good event in
    /// the dead-letter queue fails with the error it carries.
    async fn good_applied(&self) -> CheckOutcome {
        if !self.good_sent {
            return skip("the good event was not sent");
        }
        let (opts, events) = (self.opts, self.events);
        let say = self.say("good event");
        poll_until(opts.timeout, opts.poll_interval, &say, || async {
            let table = &opts.ledger_table;
            if job_refunded(&self.clients.dynamodb, table, &events.good_job_id).await? {
                return Ok(Probe::Passed);
            }
            Ok(match self.dead_letter_of(&events.good_job_id).await? {
                Some(letter) => Probe::Failed(format!(
                    "the good event is in {} instead: {}: {}",
                    opts.dead_letters.name,
                    letter
                        .classification
                        .error_type
                        .as_deref()
                        .unwrap_or("an error"),
                    letter
                        .classification
                        .error_message
                        .as_deref()
                        .unwrap_or("-")
                )),
                None => Probe::Waiting("not in the ledger yet".into()),
            })
        })
        .await
    }

    /// The dead letter of the smoke event of job `job_id`, if it is there.
    async fn dead_letter_of(&self, job_id: &str) -> anyhow::Result<Option<DeadLetter>> {
        let opts = self.opts;
        let letters =
            queues::list(&self.clients.sqs, &opts.dead_letters.url, &opts.receive).await?;
        Ok(letters.letters.into_iter().find(|l| {
            let c = &l.classification;
            c.detail_type.as_deref() == Some(DETAIL_TYPE)
                && c.business_key.as_deref() == Some(job_id)
        }))
    }

    /// The bad event tripped the errors alarm.
    async fn alarm(&self) -> CheckOutcome {
        if !self.bad_sent {
            return skip("the bad event was not sent");
        }
        if self.was_alarm {
            return CheckOutcome::Inconclusive(self.already());
        }
        let opts = self.opts;
        let say = self.say("alarm");
        poll_until(opts.timeout, opts.poll_interval, &say, || async {
            let (state, _) = alarm_state(&self.clients.cloudwatch, &opts.alarm_name).await?;
            Ok(if state == StateValue::Alarm {
                Probe::Passed
            } else {
                Probe::Waiting(format!("state {}", state.as_str()))
            })
        })
        .await
    }

    /// The alarm's SNS action published to the topic after the start.
    async fn action(&self) -> CheckOutcome {
        if !self.bad_sent {
            return skip("the bad event was not sent");
        }
        if self.was_alarm {
            return CheckOutcome::Inconclusive(self.already());
        }
        let opts = self.opts;
        let say = self.say("alarm action");
        poll_until(opts.timeout, opts.poll_interval, &say, || async {
            let cloudwatch = &self.clients.cloudwatch;
            let items = action_history(cloudwatch, &opts.alarm_name, self.started_ms).await?;
            Ok(
                match sns_action_verdict(&items, &opts.topic_arn, self.started_ms) {
                    ActionVerdict::Ran { .. } => Probe::Passed,
                    ActionVerdict::Failed(why) => {
                        Probe::Failed(format!("the alarm's SNS action failed: {why}"))
                    }
                    ActionVerdict::NotYet => Probe::Waiting("no notification yet".into()),
                },
            )
        })
        .await
    }

    /// The bad event's dead letter arrived; the letter found, to delete.
    async fn letter(&self) -> (CheckOutcome, Option<DeadLetter>) {
        if !self.bad_sent {
            return (skip("the bad event was not sent"), None);
        }
        let (opts, events) = (self.opts, self.events);
        let say = self.say("dead letter");
        let found = std::sync::Mutex::new(None);
        let outcome = poll_until(opts.timeout, opts.poll_interval, &say, || async {
            let mine = self.dead_letter_of(&events.bad_job_id).await?;
            let passed = mine.is_some();
            *found.lock().unwrap_or_else(|p| p.into_inner()) = mine;
            Ok(if passed {
                Probe::Passed
            } else {
                Probe::Waiting("not in the queue yet".into())
            })
        })
        .await;
        (
            outcome,
            found.into_inner().unwrap_or_else(|p| p.into_inner()),
        )
    }
}

/// The first link of the chain that is surely broken before anything is
/// sent, as a failed check naming it: the ledger rule not enabled, the
/// errors alarm missing, or without its action to the ops-alerts topic.
async fn broken_link(clients: &SmokeClients, opts: &SmokeOptions) -> Option<Check> {
    let failed = |name: String, why: String| Check {
        name,
        outcome: CheckOutcome::Failed(why),
        note: None,
    };
    let rule =
        crate::models::rules::ledger_rule_named(&clients.events, &opts.bus_name, &opts.ledger_rule)
            .await;
    match rule {
        Ok(rule) if rule.enabled() => {}
        Ok(rule) => {
            return Some(failed(
                format!("rule {} delivers to the handler", opts.ledger_rule),
                format!(
                    "it is {}: nothing reaches the handler (a stage file without producers disables it)",
                    rule.state.as_deref().unwrap_or("missing")
                ),
            ));
        }
        Err(e) => return Some(failed(format!("rule {}", opts.ledger_rule), e)),
    }
    let alarms = match clients
        .cloudwatch
        .describe_alarms()
        .alarm_names(&opts.alarm_name)
        .send()
        .await
    {
        Ok(found) => found,
        Err(e) => return Some(failed(format!("alarm {}", opts.alarm_name), sdk_error(&e))),
    };
    let name = format!("alarm {} notifies {}", opts.alarm_name, opts.topic_arn);
    let Some(alarm) = alarms.metric_alarms().first() else {
        return Some(failed(
            name,
            "the alarm does not exist: redeploy the stage".into(),
        ));
    };
    let notifies = alarm.actions_enabled() != Some(false)
        && alarm.alarm_actions().iter().any(|a| a == &opts.topic_arn);
    (!notifies).then(|| {
        failed(
            name,
            format!(
                "its ALARM actions are {:?}{}: no notification can come",
                alarm.alarm_actions(),
                if alarm.actions_enabled() == Some(false) {
                    " (disabled)"
                } else {
                    ""
                }
            ),
        )
    })
}

/// Deletes the smoke run's own dead letter, by its message id; the note
/// says whether it went.
async fn delete_own_letter(clients: &SmokeClients, opts: &SmokeOptions, l: &DeadLetter) -> String {
    let deleted = queues::delete(
        &clients.sqs,
        &opts.dead_letters.url,
        std::slice::from_ref(&l.message_id),
        &opts.receive,
    )
    .await;
    match deleted {
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
    }
}
