//! A smoke run: both events put on the bus, then every check at once, each
//! bounded by the timeout; the run's own dead letter deleted at the end.

use std::time::{Duration, Instant};

use infra::{StackOutputs, Stage};

use reconciler::store::items::{GrantItem, from_item};
use reconciler::store::keys;
use serde_json::Value;

use super::poll::{Probe, poll_until};
use super::report::{Check, CheckOutcome, SmokeReport};
use super::verdict::{ActionVerdict, AlarmBefore, alarm_probe, missing_alarm, sns_action_verdict};
use super::{SOURCE, SmokeEvents};
use crate::aws::sdk_error;
use crate::models::alarms::{action_history, alarm_state};
use crate::models::events::put_event;
use crate::models::queues::{self, DeadLetter, Queue, ReceiveOptions};

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
    let alarm_before = AlarmBefore::of(
        alarm_state(&clients.cloudwatch, &opts.alarm_name)
            .await
            .ok()
            .map(|read| read.map(|(state, _)| state)),
    );
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
    let run = Run {
        clients,
        opts,
        events,
        started_ms,
        progress,
        good_sent: good.outcome.is_ok(),
        bad_sent: bad.outcome.is_ok(),
        alarm_before,
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
            "good event applied (grant {} in {})",
            events.grant_id, opts.ledger_table
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
    /// The alarm before the run: missing, or in ALARM (nothing the run
    /// does proves anything), decides both alarm checks at once.
    alarm_before: AlarmBefore,
}

impl Run<'_> {
    /// Progress of the check `label`.
    fn say(&self, label: &'static str) -> impl Fn(&str) + Sync + '_ {
        move |status: &str| (self.progress)(&format!("{label}: {status}"))
    }

    /// The alarm checks' outcome decided before they wait: the alarm does
    /// not exist, or was already in ALARM.
    fn decided(&self) -> Option<CheckOutcome> {
        match self.alarm_before {
            AlarmBefore::Missing => Some(CheckOutcome::Failed(missing_alarm(
                &self.opts.alarm_name,
                self.opts.stage,
            ))),
            AlarmBefore::InAlarm => Some(CheckOutcome::Inconclusive(self.already())),
            AlarmBefore::Other => None,
        }
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

    /// The good event's grant record is in the ledger.
    async fn good_applied(&self) -> CheckOutcome {
        if !self.good_sent {
            return skip("the good event was not sent");
        }
        let (opts, events) = (self.opts, self.events);
        let say = self.say("good event");
        poll_until(opts.timeout, opts.poll_interval, &say, || async {
            let table = &opts.ledger_table;
            Ok(
                if grant_recorded(&self.clients.dynamodb, table, &events.grant_id).await? {
                    Probe::Passed
                } else {
                    Probe::Waiting("not in the ledger yet".into())
                },
            )
        })
        .await
    }

    /// The bad event tripped the errors alarm.
    async fn alarm(&self) -> CheckOutcome {
        if !self.bad_sent {
            return skip("the bad event was not sent");
        }
        if let Some(outcome) = self.decided() {
            return outcome;
        }
        let opts = self.opts;
        let say = self.say("alarm");
        poll_until(opts.timeout, opts.poll_interval, &say, || async {
            let read = alarm_state(&self.clients.cloudwatch, &opts.alarm_name).await?;
            let state = read.map(|(state, _)| state);
            Ok(alarm_probe(state, &opts.alarm_name, opts.stage))
        })
        .await
    }

    /// The alarm's SNS action published to the topic after the start.
    async fn action(&self) -> CheckOutcome {
        if !self.bad_sent {
            return skip("the bad event was not sent");
        }
        if let Some(outcome) = self.decided() {
            return outcome;
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
            let sqs = &self.clients.sqs;
            let letters = queues::list(sqs, &opts.dead_letters.url, &opts.receive).await?;
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
        (
            outcome,
            found.into_inner().unwrap_or_else(|p| p.into_inner()),
        )
    }
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
