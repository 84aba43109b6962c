//! `cargo xtask status --stage S`: one screen about a deployed stage — who
//! and where, the stack, the code deployed against the local build, every
//! alarm, the dead-letter queue (depth, and its oldest message's age against
//! SQS's 14-day deletion), the unrouted queue, the last sweep's report, the
//! holds older than the hold timeout now, and the dashboard. It exits 2 when
//! something needs a person ([`StatusReport::needs_a_person`]), with the
//! reasons and the runbook entry of each.
//!
//! [`gather`] reads (every name from the stack's outputs; a section that
//! cannot be read says why instead of failing the whole screen); [`render`]
//! and [`StatusReport::needs_a_person`] are pure.

use std::time::Duration;

use aws_sdk_cloudformation::types::Stack;
use infra::{StackOutputs, Stage, StageConfig};
use reconciler::store::Ledger;
use serde_json::Value;

use crate::aws::{Clients, sdk_error};
use crate::aws::{Session, Target};
use crate::base::ui::{Tone, clip, paint, table};
use crate::base::when::{age, format_age, format_time};
use crate::console::run_command;
use crate::dlq::{Queue, ReceiveOptions, approximate_counts};
use crate::logs::{LogGroup, LogLine};
use crate::sweep::SweepSummary;

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
    pub status: String,
    /// Why, when CloudFormation says.
    pub reason: Option<String>,
    /// Created (ms since the epoch).
    pub created_ms: Option<i64>,
    /// Last updated.
    pub updated_ms: Option<i64>,
}

/// The local build of a function, against what is deployed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalBuild {
    /// No local build of the stage's architecture.
    Missing,
    /// The local zip's content is what is deployed.
    Same,
    /// The local zip differs from what is deployed (its content hash).
    Differs(String),
    /// Cannot tell: why.
    Unknown(String),
}

/// One function's code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeVersion {
    /// `handler` or `sweep`.
    pub function: &'static str,
    /// The stack's code key (`<function>/<content sha256>.zip`).
    pub deployed_key: Option<String>,
    /// Lambda's `CodeSha256` (of the zip's bytes).
    pub code_sha256: Option<String>,
    /// The `CodeSha256` of the zip the stack names (`None`: unknown).
    pub stack_sha256: Option<String>,
    /// Why the code could not be compared with the stack's (the zip
    /// unreadable: no permission on the artifacts bucket, the object gone).
    pub code_check: Option<String>,
    /// Lambda's `LastModified`.
    pub last_modified: Option<String>,
    /// The local build.
    pub local: LocalBuild,
    /// The local build's sources changed since it was built.
    pub local_stale: bool,
}

impl CodeVersion {
    /// The function runs other code than the zip the stack names: a hotswap
    /// (dev), or a hand update (anywhere else: a person looks).
    pub fn runs_other_code(&self) -> bool {
        matches!((&self.code_sha256, &self.stack_sha256), (Some(live), Some(stack)) if live != stack)
    }
}

/// The content hash in a code key (`<function>/<sha256>.zip`).
pub fn key_hash(key: &str) -> Option<&str> {
    key.rsplit('/').next().and_then(|f| f.strip_suffix(".zip"))
}

/// One alarm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmView {
    /// Its name (from `AlarmNames`).
    pub name: String,
    /// `OK`, `ALARM`, `INSUFFICIENT_DATA`; `None`: it does not exist.
    pub state: Option<String>,
    /// Why it is in that state.
    pub reason: Option<String>,
    /// Since when.
    pub since_ms: Option<i64>,
}

/// A queue's depth and its oldest message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueView {
    /// Its name.
    pub name: String,
    /// Visible messages.
    pub visible: u64,
    /// Messages someone is reading.
    pub in_flight: u64,
    /// When the oldest message arrived.
    pub oldest_sent_ms: Option<i64>,
    /// How many messages were read to find it (0: from the queue's
    /// `ApproximateAgeOfOldestMessage` metric, which reads none).
    pub read: usize,
}

impl QueueView {
    /// Messages in the queue.
    pub fn depth(&self) -> u64 {
        self.visible + self.in_flight
    }
}

/// The last sweep report in the sweep's log group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastSweep {
    /// When it was logged.
    pub at_ms: i64,
    /// Its figures.
    pub summary: SweepSummary,
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

/// Whether a stack status means something failed.
pub fn failed_stack_status(status: &str) -> bool {
    status.contains("FAILED") || status.contains("ROLLBACK")
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
        let mut why = Vec::new();
        if failed_stack_status(&self.stack.status) {
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
        let unread = |what: &str, e: &String| format!("{what} could not be read: {e}");
        if config.stage != infra::Stage::Dev
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
        if let Err(e) = &self.outputs {
            why.push(unread("the stack's outputs", e));
        }
        match &self.alarms {
            Err(e) => why.push(unread("the alarms", e)),
            Ok(alarms) => {
                for a in alarms {
                    let runbook = runbook_of(&a.name, config)
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default();
                    match a.state.as_deref() {
                        Some("ALARM") => {
                            why.push(format!("alarm {} is in ALARM{runbook}", a.name));
                        }
                        None => why.push(format!(
                            "alarm {} does not exist (nobody would be paged){runbook}",
                            a.name
                        )),
                        _ => {}
                    }
                }
            }
        }
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
        match &self.last_sweep {
            Err(e) => why.push(unread("the last sweep report", e)),
            Ok(Some(last)) => {
                why.extend(
                    last.summary
                        .needs_a_person()
                        .into_iter()
                        .map(|r| format!("the last sweep ({}) found {r}", format_time(last.at_ms))),
                );
                if age(last.at_ms, self.now_ms) > SWEEP_OVERDUE {
                    why.push(format!(
                        "the last sweep report is from {} ({} ago): the 6-hourly sweep is not \
                         running (docs/operations.md#alarm-sweep-errors)",
                        format_time(last.at_ms),
                        format_age(age(last.at_ms, self.now_ms))
                    ));
                }
            }
            Ok(None) => {
                let old_enough = self
                    .stack
                    .created_ms
                    .is_some_and(|c| age(c, self.now_ms) > SWEEP_OVERDUE);
                if old_enough {
                    why.push(format!(
                        "no sweep report in the last {}: the 6-hourly sweep is not running \
                         (docs/operations.md#alarm-sweep-errors)",
                        format_age(SWEEP_LOOKBACK)
                    ));
                }
            }
        }
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
}

fn queue_line(q: &Result<QueueView, String>, now_ms: i64, color: bool, deadline: bool) -> String {
    match q {
        Err(e) => paint(&format!("unknown: {e}"), Tone::Warning, color),
        Ok(q) if q.depth() == 0 => paint(&format!("{}: empty", q.name), Tone::Good, color),
        Ok(q) => {
            let mut line = format!(
                "{}: {} message(s) ({} visible, {} in flight)",
                q.name,
                q.depth(),
                q.visible,
                q.in_flight
            );
            let mut tone = Tone::Warning;
            if let Some(sent) = q.oldest_sent_ms {
                let oldest = age(sent, now_ms);
                let left = RETENTION.saturating_sub(oldest);
                line.push_str(&format!(", oldest {}", format_age(oldest)));
                if q.read > 0 {
                    line.push_str(&format!(" (of {} read)", q.read));
                }
                if deadline {
                    line.push_str(&format!("; SQS deletes it in {}", format_age(left)));
                    match age_tone(oldest) {
                        Some(Tone::Danger) => {
                            line.push_str(" — CRITICAL: act now");
                            tone = Tone::Danger;
                        }
                        Some(_) => line.push_str(" — WARNING: act before it is lost"),
                        None => {}
                    }
                }
            }
            paint(&line, tone, color)
        }
    }
}

/// The screen (pure): `color` paints states when on a terminal.
pub fn render(r: &StatusReport, config: &StageConfig, color: bool) -> String {
    let mut out = format!("{}\n\n", r.who_and_where);
    let label = |name: &str| format!("{name:<11}");
    let stack_tone = if failed_stack_status(&r.stack.status) {
        Tone::Danger
    } else if r.stack.status.ends_with("_COMPLETE") {
        Tone::Good
    } else {
        Tone::Warning
    };
    out.push_str(&format!(
        "{}{} {}{}{}\n",
        label("Stack"),
        r.stack.name,
        paint(&r.stack.status, stack_tone, color),
        r.stack
            .updated_ms
            .or(r.stack.created_ms)
            .map(|t| format!(", last update {}", format_time(t)))
            .unwrap_or_default(),
        r.stack
            .reason
            .as_deref()
            .map(|x| format!(" ({})", clip(x, 200)))
            .unwrap_or_default()
    ));
    match &r.code {
        Err(e) => out.push_str(&format!("{}unknown: {e}\n", label("Code"))),
        Ok(code) => {
            for (i, c) in code.iter().enumerate() {
                let local = match &c.local {
                    LocalBuild::Missing => "no local build".to_owned(),
                    LocalBuild::Same => "same as the local build".to_owned(),
                    LocalBuild::Differs(h) => {
                        format!("differs from the local build ({})", clip(h, 13))
                    }
                    LocalBuild::Unknown(why) => format!("local build unknown ({why})"),
                };
                let stale = if c.local_stale {
                    " (its sources changed since it was built)"
                } else {
                    ""
                };
                let hot = if c.runs_other_code() {
                    "  RUNS OTHER CODE THAN THE STACK NAMES (a hotswap?)".to_owned()
                } else if let Some(why) = &c.code_check {
                    format!("  (not compared with the stack's code: {})", clip(why, 120))
                } else {
                    String::new()
                };
                out.push_str(&format!(
                    "{}{:<8} {}  CodeSha256 {}  modified {}  {local}{stale}{hot}\n",
                    label(if i == 0 { "Code" } else { "" }),
                    c.function,
                    c.deployed_key
                        .as_deref()
                        .map(|k| clip(k, 30))
                        .unwrap_or_else(|| "unknown".into()),
                    c.code_sha256
                        .as_deref()
                        .map(|s| clip(s, 13))
                        .unwrap_or_else(|| "unknown".into()),
                    c.last_modified
                        .as_deref()
                        .map(|m| m.get(..19).unwrap_or(m))
                        .unwrap_or("unknown"),
                ));
            }
        }
    }
    if let Ok(code) = &r.code {
        // The release these keys make (`cargo xtask releases` lists them).
        let keys: std::collections::BTreeMap<String, String> = code
            .iter()
            .filter_map(|c| {
                let f = crate::base::build::FUNCTIONS
                    .iter()
                    .find(|f| f.name == c.function)?;
                Some((f.code_key_parameter.to_owned(), c.deployed_key.clone()?))
            })
            .collect();
        if !keys.is_empty() && keys.len() == code.len() {
            out.push_str(&format!(
                "{}{} (cargo xtask releases)\n",
                label("Release"),
                crate::deploy::releases::version_of(&keys)
            ));
        }
    }
    match &r.alarms {
        Err(e) => out.push_str(&format!("{}unknown: {e}\n", label("Alarms"))),
        Ok(alarms) => {
            let rows: Vec<Vec<String>> = alarms
                .iter()
                .map(|a| {
                    let state = a.state.as_deref().unwrap_or("MISSING");
                    let tone = match state {
                        "OK" => Tone::Good,
                        "ALARM" | "MISSING" => Tone::Danger,
                        _ => Tone::Warning,
                    };
                    vec![
                        paint(state, tone, color),
                        a.name.clone(),
                        a.since_ms.map(format_time).unwrap_or_default(),
                        clip(a.reason.as_deref().unwrap_or(""), 80),
                    ]
                })
                .collect();
            out.push_str("Alarms\n");
            for line in table(&["STATE", "ALARM", "SINCE", "REASON"], &rows).lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
    }
    out.push_str(&format!(
        "{}{}\n",
        label("DLQ"),
        queue_line(&r.dead_letters, r.now_ms, color, true)
    ));
    out.push_str(&format!(
        "{}{}\n",
        label("Unrouted"),
        queue_line(&r.unrouted, r.now_ms, color, true)
    ));
    let sweep = match &r.last_sweep {
        Err(e) => format!("unknown: {e}"),
        Ok(None) => format!("no sweep report in the last {}", format_age(SWEEP_LOOKBACK)),
        Ok(Some(last)) => {
            let s = &last.summary;
            format!(
                "{} ({} ago{}): stragglers {}, expired {}, conflicts {}, drift {}, failed {}{}",
                format_time(last.at_ms),
                format_age(age(last.at_ms, r.now_ms)),
                if s.dry_run { ", dry run" } else { "" },
                s.stragglers,
                s.expired,
                s.conflicts,
                if s.drift_accounts.is_empty() && s.drifted_accounts == 0 {
                    "none".to_owned()
                } else {
                    format!("{} ({})", s.drifted_accounts, s.drift_accounts.join(", "))
                },
                s.failed_items,
                if s.summary.is_empty() {
                    String::new()
                } else {
                    format!("\n{}{}", label(""), clip(&s.summary, 200))
                }
            )
        }
    };
    out.push_str(&format!("{}{sweep}\n", label("Last sweep")));
    out.push_str(&format!(
        "{}{}\n",
        label("Stragglers"),
        match &r.stragglers {
            Err(e) => format!("unknown: {e}"),
            Ok(n) => format!(
                "{n} HELD job(s) older than the hold timeout ({}) now",
                format_age(r.hold_timeout)
            ),
        }
    ));
    if let Some(url) = &r.dashboard_url {
        out.push_str(&format!("{}{url}\n", label("Dashboard")));
    }
    let why = r.needs_a_person(config);
    if why.is_empty() {
        out.push_str(&format!("\n{}\n", paint("All clear.", Tone::Good, color)));
    } else {
        out.push_str(&format!(
            "\n{}\n",
            paint("NEEDS A PERSON (exit code 2):", Tone::Danger, color)
        ));
        for reason in why {
            out.push_str(&format!("  - {reason}\n"));
        }
    }
    out
}

/// The stack as DescribeStacks tells it.
fn stack_state(name: &str, stack: &Stack) -> StackState {
    StackState {
        name: name.to_owned(),
        status: stack
            .stack_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_else(|| "UNKNOWN".into()),
        reason: stack.stack_status_reason().map(str::to_owned),
        created_ms: stack.creation_time().and_then(|t| t.to_millis().ok()),
        updated_ms: stack.last_updated_time().and_then(|t| t.to_millis().ok()),
    }
}

/// The local build of `function` for `arch` against `deployed_hash`.
fn local_build(
    root: &std::path::Path,
    arch: infra::Architecture,
    bin: &str,
    deployed_hash: Option<&str>,
) -> (LocalBuild, bool) {
    let dir = crate::base::build::lambda_dir(root, arch);
    let zip = dir.join(bin).join("bootstrap.zip");
    if !zip.is_file() {
        return (LocalBuild::Missing, false);
    }
    let stale = match (
        std::fs::read_to_string(dir.join(".inputs.sha256")),
        crate::base::build::inputs_fingerprint(root, arch),
    ) {
        (Ok(stamp), Ok(now)) => stamp.trim() != now,
        _ => false,
    };
    let local = match std::fs::read(&zip)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            crate::base::build::zip_content_sha256(&bytes).map_err(|e| format!("{e:#}"))
        }) {
        Err(e) => LocalBuild::Unknown(e),
        Ok(hash) => match deployed_hash {
            None => LocalBuild::Unknown("the deployed code key is unknown".into()),
            Some(d) if d == hash => LocalBuild::Same,
            Some(_) => LocalBuild::Differs(hash),
        },
    };
    (local, stale)
}

async fn code_versions(
    clients: &Clients,
    session: &Session,
    stack: &Stack,
    outputs: &StackOutputs,
) -> Vec<CodeVersion> {
    let config = &session.stage;
    let artifacts = crate::aws::Clients::new(&session.config);
    let bucket = crate::artifacts::Bucket::of(&session.identity.account, &session.identity.region);
    let parameter = |key: &str| {
        stack
            .parameters()
            .iter()
            .find(|p| p.parameter_key() == Some(key))
            .and_then(|p| p.parameter_value())
            .map(str::to_owned)
    };
    let mut versions = Vec::new();
    for (function, function_name) in crate::base::build::FUNCTIONS
        .iter()
        .zip([&outputs.handler_function_name, &outputs.sweep_function_name])
    {
        let deployed_key = parameter(function.code_key_parameter);
        let configuration = clients
            .lambda
            .get_function_configuration()
            .function_name(function_name)
            .send()
            .await
            .ok();
        let (local, local_stale) = local_build(
            &crate::root(),
            config.architecture,
            function.bin,
            deployed_key.as_deref().and_then(key_hash),
        );
        let (stack_sha256, code_check) = match &deployed_key {
            Some(key) => match crate::deploy::code::expected_sha256(&artifacts, &bucket, key).await
            {
                Ok(sha) => (Some(sha), None),
                Err(e) => (None, Some(format!("{e:#}"))),
            },
            None => (None, None),
        };
        versions.push(CodeVersion {
            function: function.name,
            deployed_key,
            stack_sha256,
            code_check,
            code_sha256: configuration
                .as_ref()
                .and_then(|c| c.code_sha256())
                .map(str::to_owned),
            last_modified: configuration
                .as_ref()
                .and_then(|c| c.last_modified())
                .map(str::to_owned),
            local,
            local_stale,
        });
    }
    versions
}

async fn alarms(clients: &Clients, outputs: &StackOutputs) -> Result<Vec<AlarmView>, String> {
    let names = outputs.alarm_name_list();
    let out = clients
        .cloudwatch
        .describe_alarms()
        .set_alarm_names(Some(names.iter().map(|n| (*n).to_owned()).collect()))
        .max_records(100)
        .send()
        .await
        .map_err(|e| sdk_error(&e))?;
    Ok(names
        .iter()
        .map(|name| {
            let found = out
                .metric_alarms()
                .iter()
                .find(|a| a.alarm_name() == Some(name));
            AlarmView {
                name: (*name).to_owned(),
                state: found
                    .and_then(|a| a.state_value())
                    .map(|s| s.as_str().to_owned()),
                reason: found.and_then(|a| a.state_reason()).map(str::to_owned),
                since_ms: found
                    .and_then(|a| a.state_updated_timestamp())
                    .and_then(|t| t.to_millis().ok()),
            }
        })
        .collect())
}

/// The queue's depth, and its oldest message's arrival (reading at most 100
/// messages, then releasing them).
///
/// # Errors
/// SQS failed (one line).
/// The queue's oldest message by CloudWatch (`AWS/SQS`
/// `ApproximateAgeOfOldestMessage`, the latest datapoint of the last 15
/// minutes): when it was sent (the datapoint's time less the age); `None`
/// without a datapoint (a new queue, the emulator). SQS leaves out of this
/// metric a message received three times or more without being deleted
/// (every `dlq list` receives): a lower bound, not the answer.
pub async fn oldest_sent_by_metric(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    queue_name: &str,
    now_ms: i64,
) -> Option<i64> {
    use aws_sdk_cloudwatch::types::{Dimension, Statistic};
    let out = cloudwatch
        .get_metric_statistics()
        .namespace("AWS/SQS")
        .metric_name("ApproximateAgeOfOldestMessage")
        .dimensions(
            Dimension::builder()
                .name("QueueName")
                .value(queue_name)
                .build(),
        )
        .start_time(aws_smithy_types::DateTime::from_millis(
            now_ms - 15 * 60_000,
        ))
        .end_time(aws_smithy_types::DateTime::from_millis(now_ms))
        .period(60)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .ok()?;
    out.datapoints()
        .iter()
        .filter_map(|d| Some((d.timestamp()?.to_millis().ok()?, d.maximum()?)))
        .max_by_key(|(at, _)| *at)
        .map(|(at, age)| at - (age * 1000.0) as i64)
}

/// The queue's depth and when its oldest message was sent: the older of
/// the queue's CloudWatch metric (sees messages however many there are,
/// but not those received three times or more) and a sample of at most 100
/// messages (sees those, but with more messages may miss the oldest: said
/// as "of N read").
///
/// # Errors
/// SQS failed.
pub async fn queue_view(
    sqs: &aws_sdk_sqs::Client,
    cloudwatch: &aws_sdk_cloudwatch::Client,
    queue: &Queue,
    now_ms: i64,
) -> Result<QueueView, String> {
    let (visible, in_flight) = approximate_counts(sqs, &queue.url)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let mut view = QueueView {
        name: queue.name.clone(),
        visible,
        in_flight,
        ..QueueView::default()
    };
    if visible + in_flight == 0 {
        return Ok(view);
    }
    let by_metric = oldest_sent_by_metric(cloudwatch, &queue.name, now_ms).await;
    let mut by_sample = None;
    if visible > 0 {
        let opts = ReceiveOptions {
            max_messages: 100,
            wait_seconds: 2,
            visibility_timeout: 30,
            ..ReceiveOptions::default()
        };
        let received = crate::dlq::list(sqs, &queue.url, &opts)
            .await
            .map_err(|e| format!("{e:#}"))?;
        view.read = received.letters.len();
        by_sample = received.letters.iter().filter_map(|l| l.sent_at_ms).min();
    }
    view.oldest_sent_ms = match (by_metric, by_sample) {
        (Some(m), Some(s)) => Some(m.min(s)),
        (m, s) => m.or(s),
    };
    Ok(view)
}

/// The last "sweep report" line of the sweep's log group since `since_ms`
/// (pure): its time and figures (the `report` JSON it carries, else the
/// line's own fields).
pub fn last_sweep_report(lines: &[LogLine]) -> Option<LastSweep> {
    lines
        .iter()
        .filter_map(|l| Some((l.timestamp_ms, l.json()?)))
        .filter(|(_, j)| j.get("message").and_then(Value::as_str) == Some("sweep report"))
        .max_by_key(|(at, _)| *at)
        .map(|(at_ms, j)| {
            let report = j
                .get("report")
                .and_then(Value::as_str)
                .and_then(|r| serde_json::from_str::<Value>(r).ok())
                .unwrap_or(j);
            LastSweep {
                at_ms,
                summary: SweepSummary::from_report(&report),
            }
        })
}

async fn last_sweep(
    clients: &Clients,
    outputs: &StackOutputs,
    now_ms: i64,
) -> Result<Option<LastSweep>, String> {
    let group = LogGroup {
        function: "sweep",
        name: outputs.sweep_log_group_name.clone(),
    };
    let lookback = i64::try_from(SWEEP_LOOKBACK.as_millis()).unwrap_or(i64::MAX);
    let lines = crate::logs::fetch(
        &clients.logs,
        &[group],
        now_ms - lookback,
        None,
        Some("\"sweep report\""),
        10_000,
    )
    .await
    .map_err(|e| format!("{e:#}"))?;
    Ok(last_sweep_report(&lines))
}

/// HELD jobs older than the hold timeout: one query of the `open-items`
/// index's `HELD` partition, counted by DynamoDB (no scan, no item read).
async fn stragglers(ledger: &Ledger, cutoff_ms: i64) -> Result<u64, String> {
    ledger
        .count_held_before(cutoff_ms)
        .await
        .map_err(|e| e.to_string())
}

/// Reads everything `status` shows. Sections that cannot be read say why.
///
/// # Errors
/// The stack does not exist (deploy it first), or CloudFormation failed.
pub async fn gather(
    session: &Session,
    clients: &Clients,
    now_ms: i64,
) -> anyhow::Result<StatusReport> {
    let name = infra::stack_name(session.stage.stage);
    let Some(stack) = crate::cfn::stack::describe_stack(&clients.cfn, &name).await? else {
        anyhow::bail!(
            "{name} does not exist in {} {}: deploy it first (`cargo xtask deploy --stage {}`)",
            session.identity.account,
            session.identity.region,
            session.stage.stage
        );
    };
    let hold_timeout = Duration::from_secs(session.stage.hold_timeout_seconds);
    let outputs: Result<StackOutputs, String> = StackOutputs::from_outputs(
        &stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect(),
    )
    .map_err(|e| e.to_string());
    let mut report = StatusReport {
        stage: session.stage.stage,
        who_and_where: session.who_and_where(),
        stack: stack_state(&name, &stack),
        outputs: outputs.as_ref().map(|_| ()).map_err(Clone::clone),
        code: Err("the stack has no outputs".into()),
        alarms: Err("the stack has no outputs".into()),
        dead_letters: Err("the stack has no outputs".into()),
        unrouted: Err("the stack has no outputs".into()),
        last_sweep: Err("the stack has no outputs".into()),
        stragglers: Err("the stack has no outputs".into()),
        hold_timeout,
        dashboard_url: None,
        now_ms,
    };
    let Ok(outputs) = outputs else {
        return Ok(report);
    };
    let ledger = Ledger::new(clients.dynamodb.clone(), outputs.ledger_table_name.clone());
    let cutoff = now_ms - i64::try_from(hold_timeout.as_millis()).unwrap_or(i64::MAX);
    let (dlq, unrouted_queue) = (Queue::dead_letters(&outputs), Queue::unrouted(&outputs));
    let (code, alarms, dead_letters, unrouted, last_sweep, stragglers) = tokio::join!(
        code_versions(clients, session, &stack, &outputs),
        alarms(clients, &outputs),
        queue_view(&clients.sqs, &clients.cloudwatch, &dlq, now_ms),
        queue_view(&clients.sqs, &clients.cloudwatch, &unrouted_queue, now_ms),
        last_sweep(clients, &outputs, now_ms),
        stragglers(&ledger, cutoff),
    );
    report.code = Ok(code);
    report.alarms = alarms;
    report.dead_letters = dead_letters;
    report.unrouted = unrouted;
    report.last_sweep = last_sweep;
    report.stragglers = stragglers;
    report.dashboard_url = Some(dashboard_url(
        &session.identity.region,
        &outputs.dashboard_name,
    ));
    Ok(report)
}

/// `cargo xtask status`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  cargo xtask status --stage prod\n  \
                        cargo xtask status --stage staging || echo \"needs a person\"\n\n\
                        Exit codes: 0 all clear, 2 something needs a person (listed), 1 the \
                        command failed.")]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
}

/// Runs `cargo xtask status`: exit code 2 when something needs a person.
///
/// # Errors
/// Unusable credentials, or the stack does not exist.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    run_command(async {
        let session = Session::open(&args.target).await?;
        let clients = Clients::new(&session.config);
        let report = gather(&session, &clients, crate::base::when::now_ms()).await?;
        print!(
            "{}",
            render(&report, &session.stage, crate::base::ui::color())
        );
        Ok(!report.needs_a_person(&session.stage).is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_796_000_000_000;
    const DAY: i64 = 86_400_000;

    fn config() -> StageConfig {
        StageConfig::for_stage(Stage::Dev)
    }

    fn clean() -> StatusReport {
        let cfg = config();
        StatusReport {
            stage: Stage::Dev,
            who_and_where: "cc-agent-reconciler-dev: account 1, region us-east-1, as me".into(),
            stack: StackState {
                name: "cc-agent-reconciler-dev".into(),
                status: "UPDATE_COMPLETE".into(),
                reason: None,
                created_ms: Some(NOW - 30 * DAY),
                updated_ms: Some(NOW - DAY),
            },
            outputs: Ok(()),
            code: Ok(vec![CodeVersion {
                function: "handler",
                deployed_key: Some("handler/abcdef0123456789.zip".into()),
                code_sha256: Some("q1w2e3r4t5y6u7i8o9p0=".into()),
                stack_sha256: Some("q1w2e3r4t5y6u7i8o9p0=".into()),
                code_check: None,
                last_modified: Some("2026-11-29T10:00:00.000+0000".into()),
                local: LocalBuild::Missing,
                local_stale: false,
            }]),
            alarms: Ok(infra::names::ALARMS
                .iter()
                .map(|(_, p)| AlarmView {
                    name: p.resolve(&cfg),
                    state: Some("OK".into()),
                    reason: None,
                    since_ms: Some(NOW - DAY),
                })
                .collect()),
            dead_letters: Ok(QueueView {
                name: "cc-agent-reconciler-dlq-dev".into(),
                ..QueueView::default()
            }),
            unrouted: Ok(QueueView {
                name: "cc-agent-reconciler-unrouted-dev".into(),
                ..QueueView::default()
            }),
            last_sweep: Ok(Some(LastSweep {
                at_ms: NOW - 3_600_000,
                summary: SweepSummary::default(),
            })),
            stragglers: Ok(0),
            hold_timeout: Duration::from_secs(21_600),
            dashboard_url: Some(dashboard_url("eu-west-1", "cc-agent-reconciler-dev")),
            now_ms: NOW,
        }
    }

    #[test]
    fn a_clean_stage_needs_nobody_and_says_so() {
        let r = clean();
        assert!(r.needs_a_person(&config()).is_empty());
        let text = render(&r, &config(), false);
        assert!(
            text.starts_with("cc-agent-reconciler-dev: account 1"),
            "{text}"
        );
        for part in [
            "Stack      cc-agent-reconciler-dev UPDATE_COMPLETE",
            "handler  handler/abcdef0123456789.zip",
            "no local build",
            "cc-agent-reconciler-errors-dev",
            "DLQ        cc-agent-reconciler-dlq-dev: empty",
            "Unrouted   cc-agent-reconciler-unrouted-dev: empty",
            "stragglers 0, expired 0, conflicts 0, drift none",
            "0 HELD job(s) older than the hold timeout (6h0m)",
            "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/cc-agent-reconciler-dev",
            "All clear.",
        ] {
            assert!(text.contains(part), "{part:?} in\n{text}");
        }
    }

    #[test]
    fn every_problem_is_a_reason_with_its_runbook() {
        let mut r = clean();
        r.stack.status = "UPDATE_ROLLBACK_COMPLETE".into();
        if let Ok(alarms) = &mut r.alarms {
            alarms[0].state = Some("ALARM".into());
            alarms[6].state = None;
        }
        r.dead_letters = Ok(QueueView {
            name: "dlq".into(),
            visible: 3,
            oldest_sent_ms: Some(NOW - 11 * DAY),
            read: 3,
            ..QueueView::default()
        });
        r.unrouted = Ok(QueueView {
            name: "unrouted".into(),
            visible: 1,
            ..QueueView::default()
        });
        r.last_sweep = Ok(Some(LastSweep {
            at_ms: NOW - 3_600_000,
            summary: SweepSummary::from_report(
                &json!({"drift": [{"account_id": "a2"}], "drifted_accounts": 1}),
            ),
        }));
        r.stragglers = Ok(2);
        let why = r.needs_a_person(&config());
        let all = why.join("\n");
        for part in [
            "the stack is UPDATE_ROLLBACK_COMPLETE",
            "alarm cc-agent-reconciler-errors-dev is in ALARM: docs/operations.md#alarm-errors",
            "alarm cc-agent-reconciler-unrouted-dev does not exist",
            "3 dead letter(s) in dlq: docs/operations.md#alarm-dlq-messages; the oldest is 11d0h old",
            "1 unrouted event(s) in unrouted: docs/operations.md#alarm-unrouted",
            "found ledger drift in 1 account(s): a2",
            "2 hold(s) older than the hold timeout",
        ] {
            assert!(all.contains(part), "{part:?} in\n{all}");
        }
        assert_eq!(why.len(), 7, "{all}");
        let text = render(&r, &config(), false);
        assert!(text.contains("NEEDS A PERSON (exit code 2):"));
        assert!(text.contains("WARNING: act before it is lost"), "{text}");
        assert!(text.contains("SQS deletes it in 3d0h"), "{text}");
    }

    #[test]
    fn code_other_than_the_stacks_is_shown_and_needs_a_person_beyond_dev() {
        let mut r = clean();
        if let Ok(code) = &mut r.code {
            code[0].code_sha256 = Some("hotswapped=".into());
        }
        let text = render(&r, &config(), false);
        assert!(
            text.contains("RUNS OTHER CODE THAN THE STACK NAMES"),
            "{text}"
        );
        assert!(
            r.needs_a_person(&config()).is_empty(),
            "a hotswap on dev is how dev works"
        );
        let mut prod = config();
        prod.stage = Stage::Prod;
        let why = r.needs_a_person(&prod);
        assert!(
            why.iter()
                .any(|w| w.contains("the handler function runs other code than the stack names")),
            "{why:?}"
        );
        // Unknown is not a difference, and says why it is unknown.
        if let Ok(code) = &mut r.code {
            code[0].stack_sha256 = None;
            code[0].code_check = Some("look up s3://b/handler/x.zip: AccessDenied".into());
        }
        let text = render(&r, &config(), false);
        assert!(!text.contains("RUNS OTHER CODE"), "{text}");
        assert!(
            text.contains(
                "not compared with the stack's code: look up s3://b/handler/x.zip: AccessDenied"
            ),
            "{text}"
        );
    }

    /// Dead letters all in flight (someone is reading them: no sample can
    /// be taken): the age comes from the queue's CloudWatch metric, its
    /// latest datapoint's time less its age (the SQS mock has no
    /// ReceiveMessage: one would fail the call).
    #[tokio::test]
    async fn the_oldest_dead_letter_is_aged_by_the_queues_metric_without_reading_any() {
        use aws_sdk_cloudwatch::operation::get_metric_statistics::GetMetricStatisticsOutput;
        use aws_sdk_cloudwatch::types::Datapoint;
        use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput;
        use aws_sdk_sqs::types::QueueAttributeName;
        use aws_smithy_mocks::mock;

        let counts = mock!(aws_sdk_sqs::Client::get_queue_attributes).then_output(|| {
            GetQueueAttributesOutput::builder()
                .attributes(QueueAttributeName::ApproximateNumberOfMessages, "0")
                .attributes(
                    QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                    "640",
                )
                .build()
        });
        let point = |minutes_ago: i64, age: f64| {
            Datapoint::builder()
                .timestamp(aws_smithy_types::DateTime::from_millis(
                    NOW - minutes_ago * 60_000,
                ))
                .maximum(age)
                .build()
        };
        let metric = mock!(aws_sdk_cloudwatch::Client::get_metric_statistics)
            .match_requests(|r| {
                r.namespace() == Some("AWS/SQS")
                    && r.metric_name() == Some("ApproximateAgeOfOldestMessage")
                    && r.dimensions()[0].value() == Some("cc-agent-reconciler-dlq-prod")
            })
            .then_output(move || {
                GetMetricStatisticsOutput::builder()
                    // Out of order, as CloudWatch may answer: the latest counts.
                    .datapoints(point(1, 12.0 * 86_400.0))
                    .datapoints(point(5, 11.9 * 86_400.0))
                    .build()
            });
        let queue = Queue {
            name: "cc-agent-reconciler-dlq-prod".into(),
            url: "https://sqs.eu-west-1.amazonaws.com/1/cc-agent-reconciler-dlq-prod".into(),
        };
        let view = queue_view(
            &crate::aws::mocks::sqs(&[&counts]),
            &crate::aws::mocks::cloudwatch(&[&metric]),
            &queue,
            NOW,
        )
        .await
        .expect("read");
        assert_eq!(view.in_flight, 640);
        assert_eq!(view.read, 0, "no message received");
        assert_eq!(view.oldest_sent_ms, Some(NOW - 60_000 - 12 * DAY));
        let mut r = clean();
        r.dead_letters = Ok(view);
        let text = render(&r, &config(), false);
        assert!(
            text.contains("oldest 12d0h; SQS deletes it in 1d23h — CRITICAL"),
            "{text}"
        );
    }

    #[test]
    fn the_dead_letter_deadline_warns_at_10_days_and_is_critical_at_12() {
        assert_eq!(age_tone(Duration::from_secs(9 * 86_400)), None);
        assert_eq!(
            age_tone(Duration::from_secs(10 * 86_400)),
            Some(Tone::Warning)
        );
        assert_eq!(
            age_tone(Duration::from_secs(12 * 86_400)),
            Some(Tone::Danger)
        );
        let mut r = clean();
        r.dead_letters = Ok(QueueView {
            name: "dlq".into(),
            visible: 1,
            oldest_sent_ms: Some(NOW - 13 * DAY),
            read: 1,
            ..QueueView::default()
        });
        assert!(render(&r, &config(), false).contains("CRITICAL: act now"));
        // A young dead letter needs a person, without the deadline.
        r.dead_letters = Ok(QueueView {
            name: "dlq".into(),
            visible: 1,
            oldest_sent_ms: Some(NOW - DAY),
            read: 1,
            ..QueueView::default()
        });
        let why = r.needs_a_person(&config());
        assert_eq!(why.len(), 1);
        assert!(!why[0].contains("14 days"), "{why:?}");
    }

    #[test]
    fn unreadable_sections_and_a_silent_sweep_need_a_person() {
        let mut r = clean();
        r.alarms = Err("AccessDenied: not allowed".into());
        r.last_sweep = Ok(None);
        let why = r.needs_a_person(&config());
        assert!(
            why[0].contains("the alarms could not be read: AccessDenied"),
            "{why:?}"
        );
        assert!(why[1].contains("no sweep report"), "{why:?}");
        // A fresh stack has not swept yet: fine.
        r.stack.created_ms = Some(NOW - 3_600_000);
        assert_eq!(r.needs_a_person(&config()).len(), 1);
        // A report from long ago: the schedule stopped.
        r.last_sweep = Ok(Some(LastSweep {
            at_ms: NOW - DAY,
            summary: SweepSummary::default(),
        }));
        assert!(r.needs_a_person(&config())[1].contains("not running"));
    }

    #[test]
    fn the_last_sweep_report_is_the_newest_report_line() {
        let line = |ts: i64, v: Value| LogLine {
            function: "sweep",
            timestamp_ms: ts,
            event_id: ts.to_string(),
            message: v.to_string(),
        };
        let report =
            json!({"stragglers": 3, "expired": 1, "conflicts": 2, "drift": [], "summary": "s"});
        let lines = vec![
            line(
                2,
                json!({"message": "sweep report", "report": report.to_string()}),
            ),
            line(1, json!({"message": "sweep report", "stragglers": 9})),
            line(3, json!({"message": "something else"})),
        ];
        let last = last_sweep_report(&lines).unwrap();
        assert_eq!(last.at_ms, 2);
        assert_eq!(
            (
                last.summary.stragglers,
                last.summary.expired,
                last.summary.conflicts
            ),
            (3, 1, 2)
        );
        assert_eq!(last_sweep_report(&lines[2..]), None);
        // Without the report string, the line's own fields.
        assert_eq!(
            last_sweep_report(&lines[1..2]).unwrap().summary.stragglers,
            9
        );
    }

    #[test]
    fn alarms_map_to_their_runbook_entries() {
        let cfg = StageConfig::for_stage(Stage::Prod);
        assert_eq!(
            runbook_of("cc-agent-reconciler-dlq-messages-prod", &cfg).as_deref(),
            Some("docs/operations.md#alarm-dlq-messages")
        );
        assert_eq!(runbook_of("someone-elses-alarm", &cfg), None);
        assert!(failed_stack_status("UPDATE_ROLLBACK_COMPLETE"));
        assert!(failed_stack_status("CREATE_FAILED"));
        assert!(!failed_stack_status("UPDATE_COMPLETE"));
        assert_eq!(key_hash("sweep/0011.zip"), Some("0011"));
        assert_eq!(key_hash("sweep/0011"), None);
    }
}
