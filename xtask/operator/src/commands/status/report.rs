//! What `status` found, and what of it needs a person (pure).

use std::time::Duration;

use aws_sdk_cloudformation::types::StackStatus;
use aws_sdk_cloudwatch::types::StateValue;
use infra::{Stage, StageConfig};

use crate::base::ui::Tone;
use crate::base::when::{age, format_age, format_time};
use crate::cfn;
use crate::models::alarms::AlarmView;
use crate::models::code::CodeVersion;
use crate::models::queues::QueueView;
use crate::models::rules::RuleView;
use crate::models::sweep_report::LastSweep;

/// SQS deletes a message this long after it arrived (the queues' retention).
pub const RETENTION: Duration = Duration::from_secs(14 * 86_400);
/// A dead letter this old is a warning: four days before SQS deletes it.
pub const AGE_WARNING: Duration = Duration::from_secs(10 * 86_400);
/// A dead letter this old is critical: two days before SQS deletes it.
pub const AGE_CRITICAL: Duration = Duration::from_secs(12 * 86_400);
/// How far back `status` looks for the last sweep report.
pub const SWEEP_LOOKBACK: Duration = Duration::from_secs(2 * 86_400);
/// No sweep report for this long (two missed 6-hour runs) needs a person.
pub const SWEEP_OVERDUE: Duration = Duration::from_secs(13 * 3_600);

/// The stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackState {
    /// `cc-agent-reconciler-<stage>`.
    pub name: String,
    /// Its status, e.g. `UPDATE_COMPLETE`.
    pub status: StackStatus,
    /// Why, when CloudFormation says.
    pub reason: Option<String>,
    /// Created (ms since the epoch).
    pub created_ms: Option<i64>,
    /// Last updated.
    pub updated_ms: Option<i64>,
}

/// Everything `status` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusReport {
    /// The stage.
    pub stage: Stage,
    /// Who and where.
    pub who_and_where: String,
    /// The stack.
    pub stack: StackState,
    /// Its outputs could be read (else why not).
    pub outputs: Result<(), String>,
    /// Each function's code.
    pub code: Result<Vec<CodeVersion>, String>,
    /// Every alarm of `AlarmNames`.
    pub alarms: Result<Vec<AlarmView>, String>,
    /// The dead-letter queue.
    pub dead_letters: Result<QueueView, String>,
    /// The unrouted queue.
    pub unrouted: Result<QueueView, String>,
    /// The bus's ledger, replay and unrouted rules.
    pub rules: Result<Vec<RuleView>, String>,
    /// The last sweep report (`None`: none in [`SWEEP_LOOKBACK`]).
    pub last_sweep: Result<Option<LastSweep>, String>,
    /// HELD jobs older than the hold timeout, now.
    pub stragglers: Result<u64, String>,
    /// The stage's hold timeout.
    pub hold_timeout: Duration,
    /// The dashboard's console URL.
    pub dashboard_url: Option<String>,
    /// When this was read.
    pub now_ms: i64,
}

/// The runbook anchor of an alarm name: `alarm-<short name>`.
pub fn runbook_of(alarm_name: &str, config: &StageConfig) -> Option<String> {
    infra::names::ALARMS
        .iter()
        .find(|(_, pattern)| pattern.resolve(config) == alarm_name)
        .map(|(short, _)| format!("docs/operations.md#alarm-{short}"))
}

/// The CloudWatch console URL of a dashboard.
pub fn dashboard_url(region: &str, name: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/{name}"
    )
}

/// How loud a queue's oldest message is, by its age.
pub fn age_tone(oldest: Duration) -> Option<Tone> {
    if oldest >= AGE_CRITICAL {
        Some(Tone::Danger)
    } else if oldest >= AGE_WARNING {
        Some(Tone::Warning)
    } else {
        None
    }
}

impl StatusReport {
    /// What needs a person, each with where to look (pure); empty: nothing.
    pub fn needs_a_person(&self, config: &StageConfig) -> Vec<String> {
        let mut why = self.stack_and_code(config);
        if let Err(e) = &self.outputs {
            why.push(unread("the stack's outputs", e));
        }
        why.extend(self.alarms(config));
        why.extend(self.rules());
        why.extend(self.queues());
        why.extend(self.sweep());
        match &self.stragglers {
            Err(e) => why.push(unread("the open holds", e)),
            Ok(n) if *n > 0 => why.push(format!(
                "{n} hold(s) older than the hold timeout ({}): the sweep expires them (or only \
                 reports them); `cargo xtask sweep --stage {} --dry-run` lists them \
                 (docs/sweep.md#operations)",
                format_age(self.hold_timeout),
                self.stage
            )),
            Ok(_) => {}
        }
        why
    }

    /// A failed stack; beyond dev, code other than the stack names.
    fn stack_and_code(&self, config: &StageConfig) -> Vec<String> {
        let mut why = Vec::new();
        if cfn::status::failed(&self.stack.status) {
            why.push(format!(
                "the stack is {}{}: see docs/operations.md#rolling-back",
                self.stack.status,
                self.stack
                    .reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
        if let Ok(code) = &self.code {
            for c in code {
                if let Some(e) = &c.configuration_error {
                    why.push(unread(
                        &format!("the {} function's configuration", c.function),
                        e,
                    ));
                }
            }
        }
        if config.stage != Stage::Dev
            && let Ok(code) = &self.code
        {
            for c in code.iter().filter(|c| c.runs_other_code()) {
                why.push(format!(
                    "the {} function runs other code than the stack names (changed outside \
                     the stack; hotswaps are dev only): docs/operations.md#stack-drift",
                    c.function
                ));
            }
        }
        why
    }

    /// Alarms in ALARM, or missing (nobody would be paged).
    fn alarms(&self, config: &StageConfig) -> Vec<String> {
        let alarms = match &self.alarms {
            Err(e) => return vec![unread("the alarms", e)],
            Ok(alarms) => alarms,
        };
        let mut why = Vec::new();
        for a in alarms {
            let runbook = runbook_of(&a.name, config)
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            match &a.state {
                Some(StateValue::Alarm) => {
                    why.push(format!("alarm {} is in ALARM{runbook}", a.name));
                }
                None => why.push(format!(
                    "alarm {} does not exist (nobody would be paged){runbook}",
                    a.name
                )),
                _ => {}
            }
        }
        why
    }

    /// A ledger or unrouted rule that is not enabled, or a rule that is
    /// missing: events on the bus reach nobody.
    fn rules(&self) -> Vec<String> {
        let rules = match &self.rules {
            Err(e) => return vec![unread("the bus's rules", e)],
            Ok(rules) => rules,
        };
        let mut why = Vec::new();
        for r in rules {
            match r.state.as_deref() {
                None => why.push(format!(
                    "rule {} ({}) does not exist: docs/operations.md#rules",
                    r.name, r.role
                )),
                Some(_) if r.enabled() || r.role.starts_with("replay ") => {}
                Some(state) if r.role == "ledger" => why.push(format!(
                    "the ledger rule {} is {state}: no event on the bus reaches the handler \
                     (does the stage file name its producers?): docs/operations.md#rules",
                    r.name
                )),
                Some(state) => why.push(format!(
                    "the {} rule {} is {state}: docs/operations.md#rules",
                    r.role, r.name
                )),
            }
        }
        why
    }

    /// Dead letters (and how close SQS is to deleting them), unrouted events.
    fn queues(&self) -> Vec<String> {
        let mut why = Vec::new();
        match &self.dead_letters {
            Err(e) => why.push(unread("the dead-letter queue", e)),
            Ok(q) if q.depth() > 0 => {
                let mut line = format!(
                    "{} dead letter(s) in {}: docs/operations.md#alarm-dlq-messages",
                    q.depth(),
                    q.name
                );
                if let Some(sent) = q.oldest_sent_ms {
                    let oldest = age(sent, self.now_ms);
                    if age_tone(oldest).is_some() {
                        line.push_str(&format!(
                            "; the oldest is {} old and SQS deletes it at 14 days \
                             (docs/operations.md#dlq-deadline)",
                            format_age(oldest)
                        ));
                    }
                }
                why.push(line);
            }
            Ok(_) => {}
        }
        match &self.unrouted {
            Err(e) => why.push(unread("the unrouted queue", e)),
            Ok(q) if q.depth() > 0 => why.push(format!(
                "{} unrouted event(s) in {}: docs/operations.md#alarm-unrouted",
                q.depth(),
                q.name
            )),
            Ok(_) => {}
        }
        why
    }

    /// What the last sweep found, and a sweep that stopped running.
    fn sweep(&self) -> Vec<String> {
        let last = match &self.last_sweep {
            Err(e) => return vec![unread("the last sweep report", e)],
            Ok(last) => last,
        };
        let Some(last) = last else {
            let old_enough = self
                .stack
                .created_ms
                .is_some_and(|c| age(c, self.now_ms) > SWEEP_OVERDUE);
            return if old_enough {
                vec![format!(
                    "no sweep report in the last {}: the 6-hourly sweep is not running \
                     (docs/operations.md#alarm-sweep-errors)",
                    format_age(SWEEP_LOOKBACK)
                )]
            } else {
                Vec::new()
            };
        };
        let mut why: Vec<String> = last
            .summary
            .needs_a_person()
            .into_iter()
            .map(|r| format!("the last sweep ({}) found {r}", format_time(last.at_ms)))
            .collect();
        if age(last.at_ms, self.now_ms) > SWEEP_OVERDUE {
            why.push(format!(
                "the last sweep report is from {} ({} ago): the 6-hourly sweep is not \
                 running (docs/operations.md#alarm-sweep-errors)",
                format_time(last.at_ms),
                format_age(age(last.at_ms, self.now_ms))
            ));
        }
        why
    }
}

fn unread(what: &str, e: &String) -> String {
    format!("{what} could not be read: {e}")
}
