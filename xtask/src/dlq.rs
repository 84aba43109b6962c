//! `cargo xtask dlq list|replay|delete|purge`: the stage's dead-letter queue
//! `cc-agent-reconciler-dlq-<stage>` (SPEC §6, §7).
//!
//! Dead letters arrive in two shapes, and [`classify`] tells them apart:
//!
//! - **EventBridge target DLQ**: the rule could not deliver the event to the
//!   function. The body is the original EventBridge event; the message
//!   attributes `ERROR_CODE`, `ERROR_MESSAGE`, `RULE_ARN`, `TARGET_ARN` say why.
//! - **Lambda on-failure destination record**: the function was invoked and
//!   failed on every attempt. The body is a record whose `requestPayload` is the
//!   original event and whose `responsePayload` holds the error
//!   (`errorType`, `errorMessage`).
//!
//! Anything else is [`Shape::Unknown`]: listed, never replayed.
//!
//! A business event that is invalid — its original event fails
//! [`parse_envelope`], the handler's own validation, or the handler refused it
//! with `InvalidEvent` — is [`Replay::Invalid`]: never re-sent (it would fail
//! again, page again and come back). Fix the producer, send a corrected
//! event, and remove the letter with `dlq delete --id`. Replay is for letters
//! that failed for transient reasons (`LedgerUnavailable`, delivery failures).
//!
//! Replaying is safe: the reconciler keys every effect on the business key
//! (`grant_id`, `job_id` + transition), never on the EventBridge `id`, so a
//! replayed event that was in fact applied is a `duplicate` and moves no money.

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use infra::Stage;
use reconciler_core::event::{DETAIL_TYPES, InvalidEvent, parse_envelope};
use serde_json::{Value, json};

use crate::aws::AwsArgs;

/// Said wherever events are replayed.
pub const REPLAY_IS_SAFE: &str = "Replaying is safe: the reconciler keys every effect on the \
     business key (grant_id, job_id + transition), so an event that was already applied \
     is a duplicate and moves no money.";

/// The stage's dead-letter queue's name.
pub fn queue_name(stage: Stage) -> String {
    format!("cc-agent-reconciler-dlq-{stage}")
}

/// The stage's event bus's default name (the template's parameter default).
pub fn default_bus_name(stage: Stage) -> String {
    infra::StageConfig::for_stage(stage).event_bus_name
}

/// The `source` of a replayed event whose original had none.
pub const FALLBACK_SOURCE: &str = "cc-agent-reconciler.dlq-replay";

/// The shape of a dead letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// EventBridge could not deliver to the rule's target.
    EventBridgeTarget,
    /// Lambda's on-failure destination after the retries of an async invoke.
    LambdaOnFailure,
    /// Neither: shown, never replayed.
    Unknown,
}

impl Shape {
    /// A short name for tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::EventBridgeTarget => "eventbridge-target",
            Shape::LambdaOnFailure => "lambda-on-failure",
            Shape::Unknown => "unknown",
        }
    }
}

/// What a replay would do with a dead letter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replay {
    /// A business event (one of SPEC §2's detail-types): put it back on the bus.
    Event {
        /// The original `source` (or [`FALLBACK_SOURCE`]).
        source: String,
        /// The original `detail-type`.
        detail_type: String,
        /// The original `detail`, unchanged.
        detail: Value,
        /// The original `time`, if any.
        time: Option<String>,
    },
    /// A business event that is invalid: its original event fails
    /// [`parse_envelope`] (the handler's validation), or the handler refused
    /// it with `InvalidEvent`. Not re-sent: it would fail again.
    Invalid {
        /// Why: the validation's message, else the recorded error message.
        message: String,
    },
    /// A failed sweep invocation (or another non-business payload of a known
    /// shape): not re-sent; invoke the sweep instead.
    Sweep,
    /// An unknown message: not re-sent.
    Unknown,
}

/// A dead letter, classified: a pure function of its body and attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Classification {
    /// Which of the two shapes (or neither).
    pub shape: Shape,
    /// The original EventBridge event, if the shape carries one.
    pub original: Option<Value>,
    /// The original event's `detail-type`.
    pub detail_type: Option<String>,
    /// `grant_id` or `job_id` of the original `detail`.
    pub business_key: Option<String>,
    /// EventBridge's `ERROR_CODE` or Lambda's `errorType` (else `functionError`).
    pub error_type: Option<String>,
    /// EventBridge's `ERROR_MESSAGE` or Lambda's `errorMessage`.
    pub error_message: Option<String>,
    /// Where it failed: the rule's target or the function's ARN.
    pub target: Option<String>,
    /// What a replay does with it.
    pub replay: Replay,
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
}

/// Classifies a dead letter from its body and its message attributes
/// (string values by name).
pub fn classify(body: &str, attributes: &BTreeMap<String, String>) -> Classification {
    let parsed: Option<Value> = serde_json::from_str(body).ok().filter(Value::is_object);
    let unknown = Classification {
        shape: Shape::Unknown,
        original: None,
        detail_type: None,
        business_key: None,
        error_type: attributes.get("ERROR_CODE").cloned(),
        error_message: attributes.get("ERROR_MESSAGE").cloned(),
        target: attributes.get("TARGET_ARN").cloned(),
        replay: Replay::Unknown,
    };
    let Some(value) = parsed else {
        return unknown;
    };
    let is_on_failure_record = value.get("requestContext").is_some_and(Value::is_object)
        && value.get("requestPayload").is_some();
    let (shape, original, error_type, error_message, target) = if is_on_failure_record {
        let error_type = str_at(&value, &["responsePayload", "errorType"])
            .or_else(|| str_at(&value, &["responseContext", "functionError"]))
            .or_else(|| str_at(&value, &["requestContext", "condition"]))
            .map(str::to_owned);
        let error_message = str_at(&value, &["responsePayload", "errorMessage"])
            .map(str::to_owned)
            .or_else(|| {
                str_at(&value, &["requestContext", "condition"]).map(|c| format!("condition {c}"))
            });
        let target = str_at(&value, &["requestContext", "functionArn"]).map(str::to_owned);
        (
            Shape::LambdaOnFailure,
            value["requestPayload"].clone(),
            error_type,
            error_message,
            target,
        )
    } else if ["ERROR_CODE", "ERROR_MESSAGE", "RULE_ARN", "TARGET_ARN"]
        .iter()
        .any(|a| attributes.contains_key(*a))
    {
        (
            Shape::EventBridgeTarget,
            value,
            attributes.get("ERROR_CODE").cloned(),
            attributes.get("ERROR_MESSAGE").cloned(),
            attributes
                .get("TARGET_ARN")
                .or_else(|| attributes.get("RULE_ARN"))
                .cloned(),
        )
    } else {
        return unknown;
    };
    let detail_type = str_at(&original, &["detail-type"]).map(str::to_owned);
    let business_key = ["grant_id", "job_id"]
        .iter()
        .find_map(|k| str_at(&original, &["detail", k]))
        .map(str::to_owned);
    let replay = match &detail_type {
        Some(dt) if DETAIL_TYPES.contains(&dt.as_str()) => {
            match invalid_reason(&original, error_type.as_deref(), error_message.as_deref()) {
                Some(message) => Replay::Invalid { message },
                None => Replay::Event {
                    source: str_at(&original, &["source"])
                        .filter(|s| !s.is_empty())
                        .unwrap_or(FALLBACK_SOURCE)
                        .to_owned(),
                    detail_type: dt.clone(),
                    detail: original["detail"].clone(),
                    time: str_at(&original, &["time"]).map(str::to_owned),
                },
            }
        }
        _ => Replay::Sweep,
    };
    Classification {
        shape,
        detail_type,
        business_key,
        error_type,
        error_message,
        target,
        replay,
        original: Some(original),
    }
}

/// Why a dead business event must not be re-sent, if it must not: its
/// original event fails [`parse_envelope`] (the same validation the handler
/// runs; its message), or the recorded error type is `InvalidEvent` (the
/// recorded message). `None`: it failed for a transient reason (e.g.
/// `LedgerUnavailable`, a delivery failure) and may be replayed.
pub fn invalid_reason(
    original: &Value,
    error_type: Option<&str>,
    error_message: Option<&str>,
) -> Option<String> {
    match parse_envelope(original) {
        Err(invalid) => Some(invalid.to_string()),
        Ok(_) if error_type == Some(InvalidEvent::ERROR_TYPE) => Some(
            error_message
                .filter(|m| !m.trim().is_empty())
                .unwrap_or("the handler refused it (InvalidEvent)")
                .to_owned(),
        ),
        Ok(_) => None,
    }
}

/// A message of the queue, classified.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    /// SQS's message id.
    pub message_id: String,
    /// The latest receipt handle (to delete it).
    pub receipt_handle: String,
    /// When SQS received it (milliseconds since the epoch), if reported.
    pub sent_at_ms: Option<u64>,
    /// The raw body.
    pub body: String,
    /// What it is.
    pub classification: Classification,
}

impl DeadLetter {
    /// Its age at `now_ms`, if its send time is known.
    pub fn age(&self, now_ms: u64) -> Option<Duration> {
        self.sent_at_ms
            .map(|sent| Duration::from_millis(now_ms.saturating_sub(sent)))
    }

    /// The machine-readable form `list --json` prints.
    pub fn to_json(&self, now_ms: u64) -> Value {
        let c = &self.classification;
        json!({
            "message_id": self.message_id,
            "shape": c.shape.as_str(),
            "detail_type": c.detail_type,
            "business_key": c.business_key,
            "error_type": c.error_type,
            "error_message": c.error_message,
            "target": c.target,
            "age_seconds": self.age(now_ms).map(|a| a.as_secs()),
            "replay": match c.replay {
                Replay::Event { .. } => "event",
                Replay::Invalid { .. } => "never-invalid",
                Replay::Sweep => "invoke-sweep",
                Replay::Unknown => "never",
            },
            "invalid": match &c.replay {
                Replay::Invalid { message } => Some(message),
                _ => None,
            },
            "original_event": c.original,
            "body": if c.original.is_none() { Some(&self.body) } else { None },
        })
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An AWS error in one line: `Code: message`, or the whole chain when the
/// service sent no code (e.g. a connection error).
pub fn sdk_error<E>(e: &E) -> String
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error,
{
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
    }
}

/// The queue's URL, from its name.
///
/// # Errors
/// The queue does not exist (the stage is not deployed?) or SQS failed.
pub async fn queue_url(sqs: &aws_sdk_sqs::Client, name: &str) -> anyhow::Result<String> {
    let out = sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "no queue {name} (is the stage deployed?): {}",
                sdk_error(&e)
            )
        })?;
    out.queue_url()
        .map(str::to_owned)
        .with_context(|| format!("GetQueueUrl of {name} returned no URL"))
}

/// How [`receive_all`] reads the queue.
#[derive(Clone, Copy, Debug)]
pub struct ReceiveOptions {
    /// Seconds a received message stays invisible (short: nothing is consumed).
    pub visibility_timeout: i32,
    /// At most this many distinct messages.
    pub max_messages: usize,
    /// At most this many ReceiveMessage calls.
    pub max_rounds: usize,
}

impl Default for ReceiveOptions {
    fn default() -> Self {
        ReceiveOptions {
            visibility_timeout: 30,
            max_messages: 1000,
            max_rounds: 200,
        }
    }
}

/// Reads the queue without consuming it: [`receive_all`], then [`release`]
/// every message at once, so that the next `list` or `replay` sees them all.
///
/// # Errors
/// SQS failed.
pub async fn list(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    max_messages: usize,
) -> anyhow::Result<Vec<DeadLetter>> {
    let letters = receive_all(
        sqs,
        queue_url,
        ReceiveOptions {
            max_messages,
            ..ReceiveOptions::default()
        },
    )
    .await?;
    release(sqs, queue_url, letters.iter()).await;
    Ok(letters)
}

/// Makes received messages visible again right away (visibility timeout 0).
/// Best effort: a message not released reappears when its visibility timeout
/// ends anyway.
pub async fn release<'a>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    letters: impl Iterator<Item = &'a DeadLetter>,
) {
    let letters: Vec<&DeadLetter> = letters.collect();
    for chunk in letters.chunks(10) {
        let entries = chunk.iter().enumerate().filter_map(|(i, l)| {
            aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(&l.receipt_handle)
                .visibility_timeout(0)
                .build()
                .ok()
        });
        let _ = sqs
            .change_message_visibility_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries.collect()))
            .send()
            .await;
    }
}

/// Receives every message of the queue, each once: receives with a visibility
/// timeout (so that later rounds bring the others), deduplicates by message
/// id (keeping the latest receipt handle) and stops when a round brings no
/// new message, or at the bounds. The messages stay invisible until their
/// timeout ends or they are [`release`]d.
///
/// # Errors
/// SQS failed.
pub async fn receive_all(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    opts: ReceiveOptions,
) -> anyhow::Result<Vec<DeadLetter>> {
    receive_until(sqs, queue_url, opts, |_| false).await
}

/// [`receive_all`], stopping early once `done` holds for the messages
/// received so far.
async fn receive_until(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    opts: ReceiveOptions,
    done: impl Fn(&[DeadLetter]) -> bool,
) -> anyhow::Result<Vec<DeadLetter>> {
    let mut letters: Vec<DeadLetter> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for _ in 0..opts.max_rounds {
        if letters.len() >= opts.max_messages || done(&letters) {
            break;
        }
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(opts.visibility_timeout)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .context("receive from the dead-letter queue")?;
        let mut new = 0;
        for m in out.messages() {
            let (Some(id), Some(handle)) = (m.message_id(), m.receipt_handle()) else {
                continue;
            };
            if !seen.insert(id.to_owned()) {
                if let Some(l) = letters.iter_mut().find(|l| l.message_id == id) {
                    l.receipt_handle = handle.to_owned();
                }
                continue;
            }
            new += 1;
            let attributes: BTreeMap<String, String> = m
                .message_attributes()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| v.string_value().map(|s| (k.clone(), s.to_owned())))
                .collect();
            let body = m.body().unwrap_or_default().to_owned();
            let sent_at_ms = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                .and_then(|s| s.parse().ok());
            letters.push(DeadLetter {
                message_id: id.to_owned(),
                receipt_handle: handle.to_owned(),
                sent_at_ms,
                classification: classify(&body, &attributes),
                body,
            });
        }
        if new == 0 {
            break;
        }
    }
    letters.sort_by_key(|l| (l.sent_at_ms, l.message_id.clone()));
    Ok(letters)
}

/// The approximate number of messages in the queue (visible + in flight).
///
/// # Errors
/// SQS failed.
pub async fn approximate_count(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> anyhow::Result<u64> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .context("read the dead-letter queue's attributes")?;
    Ok(out
        .attributes()
        .into_iter()
        .flatten()
        .filter_map(|(_, v)| v.parse::<u64>().ok())
        .sum())
}

/// `3d4h`, `5m12s`, `42s`.
pub fn format_age(age: Duration) -> String {
    let s = age.as_secs();
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

fn clip(s: &str, max: usize) -> String {
    let one_line = s.replace(['\n', '\r'], " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut out: String = one_line.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// The table `list` prints: one line a dead letter.
pub fn table(letters: &[DeadLetter], now_ms: u64) -> String {
    let rows: Vec<[String; 6]> = letters
        .iter()
        .map(|l| {
            let c = &l.classification;
            let error = match (&c.error_type, &c.error_message) {
                (Some(t), Some(m)) => format!("{t}: {m}"),
                (Some(t), None) => t.clone(),
                (None, Some(m)) => m.clone(),
                (None, None) => "-".to_owned(),
            };
            [
                l.message_id.clone(),
                c.shape.as_str().to_owned(),
                c.detail_type.clone().unwrap_or_else(|| "-".into()),
                clip(c.business_key.as_deref().unwrap_or("-"), 40),
                clip(&error, 100),
                l.age(now_ms).map(format_age).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let header = ["MESSAGE ID", "SHAPE", "DETAIL-TYPE", "KEY", "ERROR", "AGE"];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 6]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i == 5 {
                s.push_str(cell);
            } else {
                s.push_str(cell);
                s.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header);
    for row in &rows {
        out.push_str(&line([
            &row[0], &row[1], &row[2], &row[3], &row[4], &row[5],
        ]));
    }
    out
}

/// Which dead letters `replay` handles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Every dead letter in the queue.
    All,
    /// These message ids.
    Ids(Vec<String>),
}

/// What `replay` did (or, with `dry_run`, would do) with one dead letter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayAction {
    /// Put back on the bus and deleted from the queue.
    Replayed,
    /// Would be put back on the bus (dry run).
    WouldReplay,
    /// Put on the bus, but deleting it from the queue failed (it may be replayed again: harmless).
    ReplayedNotDeleted(String),
    /// Kept in the queue: why.
    Kept(String),
    /// PutEvents refused it; kept in the queue.
    Failed(String),
    /// No such message id in the queue.
    NotFound,
}

/// One line of a replay report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayOutcome {
    /// The SQS message id.
    pub message_id: String,
    /// The event's detail-type, if any.
    pub detail_type: Option<String>,
    /// The event's business key, if any.
    pub business_key: Option<String>,
    /// What happened.
    pub action: ReplayAction,
}

impl ReplayOutcome {
    /// Whether this outcome means the replay did not do what was asked.
    pub fn is_failure(&self) -> bool {
        matches!(
            self.action,
            ReplayAction::Failed(_) | ReplayAction::NotFound | ReplayAction::ReplayedNotDeleted(_)
        )
    }
}

/// How `replay` runs.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Which dead letters.
    pub selection: Selection,
    /// Only say what would happen.
    pub dry_run: bool,
    /// The bus to put the events on.
    pub bus_name: String,
    /// The stage (for the sweep's function name in messages).
    pub stage: Stage,
}

/// Why `replay` keeps a dead letter whose event is invalid, and what to do.
pub fn invalid_kept_reason(message: &str, stage: Stage, message_id: &str) -> String {
    format!(
        "invalid: {message}; fix the producer and send a corrected event, or delete this \
         letter with `cargo xtask dlq delete --stage {stage} --id {message_id}`"
    )
}

/// Replays dead letters: each valid business event goes back on the bus with
/// its original source, detail-type and detail; its message is deleted only
/// when PutEvents reports no failed entry. Invalid events (see
/// [`invalid_reason`]), sweep failures and unknown messages stay.
///
/// # Errors
/// SQS failed while reading the queue (per-message failures are outcomes).
pub async fn replay(
    sqs: &aws_sdk_sqs::Client,
    events: &aws_sdk_eventbridge::Client,
    queue_url: &str,
    opts: &ReplayOptions,
) -> anyhow::Result<Vec<ReplayOutcome>> {
    let letters = receive_all(sqs, queue_url, ReceiveOptions::default()).await?;
    let selected: Vec<&DeadLetter> = match &opts.selection {
        Selection::All => letters.iter().collect(),
        Selection::Ids(ids) => letters
            .iter()
            .filter(|l| ids.contains(&l.message_id))
            .collect(),
    };
    let mut outcomes = Vec::new();
    for letter in selected {
        let c = &letter.classification;
        let action = match &c.replay {
            Replay::Unknown => ReplayAction::Kept(
                "unknown message shape: never replayed automatically; inspect it with `dlq list --json`"
                    .to_owned(),
            ),
            Replay::Invalid { message } => {
                ReplayAction::Kept(invalid_kept_reason(message, opts.stage, &letter.message_id))
            }
            Replay::Sweep => ReplayAction::Kept(format!(
                "not a business event (a sweep failure): not re-sent; invoke the sweep instead \
                 (function cc-agent-reconciler-{stage}-sweep), then delete this letter with \
                 `cargo xtask dlq delete --stage {stage} --id {id}`",
                stage = opts.stage,
                id = letter.message_id
            )),
            Replay::Event { .. } if opts.dry_run => ReplayAction::WouldReplay,
            Replay::Event {
                source,
                detail_type,
                detail,
                time,
            } => put_back(sqs, events, queue_url, &opts.bus_name, letter, source, detail_type, detail, time.as_deref()).await,
        };
        outcomes.push(ReplayOutcome {
            message_id: letter.message_id.clone(),
            detail_type: c.detail_type.clone(),
            business_key: c.business_key.clone(),
            action,
        });
    }
    let deleted: HashSet<&str> = outcomes
        .iter()
        .filter(|o| o.action == ReplayAction::Replayed)
        .map(|o| o.message_id.as_str())
        .collect();
    release(
        sqs,
        queue_url,
        letters
            .iter()
            .filter(|l| !deleted.contains(l.message_id.as_str())),
    )
    .await;
    if let Selection::Ids(ids) = &opts.selection {
        for id in ids {
            if !letters.iter().any(|l| &l.message_id == id) {
                outcomes.push(ReplayOutcome {
                    message_id: id.clone(),
                    detail_type: None,
                    business_key: None,
                    action: ReplayAction::NotFound,
                });
            }
        }
    }
    Ok(outcomes)
}

#[allow(clippy::too_many_arguments)]
async fn put_back(
    sqs: &aws_sdk_sqs::Client,
    events: &aws_sdk_eventbridge::Client,
    queue_url: &str,
    bus_name: &str,
    letter: &DeadLetter,
    source: &str,
    detail_type: &str,
    detail: &Value,
    time: Option<&str>,
) -> ReplayAction {
    let mut entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name(bus_name)
        .source(source)
        .detail_type(detail_type)
        .detail(detail.to_string());
    if let Some(t) = time.and_then(|t| {
        aws_smithy_types::DateTime::from_str(t, aws_smithy_types::date_time::Format::DateTime).ok()
    }) {
        entry = entry.time(t);
    }
    let out = match events.put_events().entries(entry.build()).send().await {
        Ok(out) => out,
        Err(e) => {
            return ReplayAction::Failed(format!("PutEvents failed: {}", sdk_error(&e)));
        }
    };
    let failed =
        out.failed_entry_count() > 0 || out.entries().iter().any(|e| e.error_code().is_some());
    if failed {
        let why = out
            .entries()
            .iter()
            .find_map(|e| {
                e.error_code()
                    .map(|c| format!("{c}: {}", e.error_message().unwrap_or_default()))
            })
            .unwrap_or_else(|| "a failed entry".to_owned());
        return ReplayAction::Failed(format!("PutEvents reported {why}"));
    }
    match sqs
        .delete_message()
        .queue_url(queue_url)
        .receipt_handle(&letter.receipt_handle)
        .send()
        .await
    {
        Ok(_) => ReplayAction::Replayed,
        Err(e) => ReplayAction::ReplayedNotDeleted(sdk_error(&e)),
    }
}

/// The report `replay` prints.
pub fn replay_report(outcomes: &[ReplayOutcome], dry_run: bool) -> String {
    let mut out = String::new();
    for o in outcomes {
        let what = format!(
            "{} ({}, {})",
            o.message_id,
            o.detail_type.as_deref().unwrap_or("-"),
            o.business_key.as_deref().unwrap_or("-")
        );
        let line = match &o.action {
            ReplayAction::Replayed => {
                format!("replayed     {what}: put on the bus, deleted from the queue")
            }
            ReplayAction::WouldReplay => format!("would replay {what}"),
            ReplayAction::ReplayedNotDeleted(e) => {
                format!(
                    "replayed     {what}, but not deleted from the queue ({e}); replaying it again is harmless"
                )
            }
            ReplayAction::Kept(why) => format!("kept         {what}: {why}"),
            ReplayAction::Failed(why) => format!("FAILED       {what}: {why}; kept in the queue"),
            ReplayAction::NotFound => format!("NOT FOUND    {what}: no such message in the queue"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    let count = |f: fn(&ReplayAction) -> bool| outcomes.iter().filter(|o| f(&o.action)).count();
    let replayed = count(|a| {
        matches!(
            a,
            ReplayAction::Replayed | ReplayAction::ReplayedNotDeleted(_)
        )
    });
    let would = count(|a| matches!(a, ReplayAction::WouldReplay));
    let kept = count(|a| matches!(a, ReplayAction::Kept(_)));
    let failed = count(|a| matches!(a, ReplayAction::Failed(_) | ReplayAction::NotFound));
    if dry_run {
        out.push_str(&format!(
            "Dry run: {would} would be replayed, {kept} kept, {failed} not found.\n"
        ));
    } else {
        out.push_str(&format!(
            "{replayed} replayed, {kept} kept, {failed} failed or not found.\n"
        ));
    }
    out.push_str(REPLAY_IS_SAFE);
    out.push('\n');
    out
}

/// What `delete` did with one message id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeleteAction {
    /// Deleted from the queue.
    Deleted,
    /// No such message id in the queue.
    NotFound,
    /// DeleteMessage failed; the message stays.
    Failed(String),
}

/// One line of a delete report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// The SQS message id asked for.
    pub message_id: String,
    /// The event's detail-type, if found and any.
    pub detail_type: Option<String>,
    /// The event's business key, if found and any.
    pub business_key: Option<String>,
    /// What happened.
    pub action: DeleteAction,
}

/// Deletes exactly the messages with these ids: receives until every id is
/// found (or the queue is exhausted), deletes each found one by its receipt
/// handle, makes every other received message visible again at once, and
/// reports ids that are not in the queue as [`DeleteAction::NotFound`].
///
/// # Errors
/// SQS failed while reading the queue (per-message failures are outcomes).
pub async fn delete(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    ids: &[String],
) -> anyhow::Result<Vec<DeleteOutcome>> {
    let mut wanted: Vec<&String> = Vec::new();
    for id in ids {
        if !wanted.contains(&id) {
            wanted.push(id);
        }
    }
    let letters = receive_until(sqs, queue_url, ReceiveOptions::default(), |got| {
        wanted
            .iter()
            .all(|id| got.iter().any(|l| &l.message_id == *id))
    })
    .await?;
    let mut outcomes = Vec::new();
    let mut deleted: HashSet<&str> = HashSet::new();
    for id in &wanted {
        let Some(letter) = letters.iter().find(|l| &l.message_id == *id) else {
            outcomes.push(DeleteOutcome {
                message_id: (*id).clone(),
                detail_type: None,
                business_key: None,
                action: DeleteAction::NotFound,
            });
            continue;
        };
        let action = match sqs
            .delete_message()
            .queue_url(queue_url)
            .receipt_handle(&letter.receipt_handle)
            .send()
            .await
        {
            Ok(_) => {
                deleted.insert(letter.message_id.as_str());
                DeleteAction::Deleted
            }
            Err(e) => DeleteAction::Failed(sdk_error(&e)),
        };
        outcomes.push(DeleteOutcome {
            message_id: letter.message_id.clone(),
            detail_type: letter.classification.detail_type.clone(),
            business_key: letter.classification.business_key.clone(),
            action,
        });
    }
    release(
        sqs,
        queue_url,
        letters
            .iter()
            .filter(|l| !deleted.contains(l.message_id.as_str())),
    )
    .await;
    Ok(outcomes)
}

/// The report `delete` prints.
pub fn delete_report(outcomes: &[DeleteOutcome]) -> String {
    let mut out = String::new();
    for o in outcomes {
        let what = format!(
            "{} ({}, {})",
            o.message_id,
            o.detail_type.as_deref().unwrap_or("-"),
            o.business_key.as_deref().unwrap_or("-")
        );
        let line = match &o.action {
            DeleteAction::Deleted => format!("deleted      {what}"),
            DeleteAction::NotFound => {
                format!(
                    "NOT FOUND    {}: no such message in the queue",
                    o.message_id
                )
            }
            DeleteAction::Failed(e) => format!("FAILED       {what}: {e}; kept in the queue"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    let deleted = outcomes
        .iter()
        .filter(|o| o.action == DeleteAction::Deleted)
        .count();
    out.push_str(&format!(
        "{deleted} deleted, {} not found or failed.\n",
        outcomes.len() - deleted
    ));
    out
}

/// What `purge` does about confirming.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PurgeConfirmation {
    /// Purge.
    Proceed,
    /// Ask on the terminal first.
    Ask,
    /// Refuse, with the reason.
    Refuse(String),
}

/// Whether `purge` may go ahead: `--yes` always; prod only with `--yes`;
/// otherwise ask, never without a terminal.
pub fn purge_confirmation(stage: Stage, yes: bool, interactive: bool) -> PurgeConfirmation {
    confirmation(
        stage,
        yes,
        interactive,
        "purging the prod dead-letter queue",
        "the purge",
    )
}

/// Whether `delete` may go ahead: the same rules as [`purge_confirmation`].
pub fn delete_confirmation(stage: Stage, yes: bool, interactive: bool) -> PurgeConfirmation {
    confirmation(
        stage,
        yes,
        interactive,
        "deleting from the prod dead-letter queue",
        "the deletion",
    )
}

fn confirmation(
    stage: Stage,
    yes: bool,
    interactive: bool,
    prod_doing: &str,
    what: &str,
) -> PurgeConfirmation {
    match (yes, stage, interactive) {
        (true, _, _) => PurgeConfirmation::Proceed,
        (false, Stage::Prod, _) => PurgeConfirmation::Refuse(format!(
            "{prod_doing} deletes its messages for good: pass --yes"
        )),
        (false, _, true) => PurgeConfirmation::Ask,
        (false, _, false) => {
            PurgeConfirmation::Refuse(format!("no terminal to confirm {what} on: pass --yes"))
        }
    }
}

/// Asks `question [y/N]` on the terminal; `Ok(())` only for yes.
fn confirm(confirmation: PurgeConfirmation, question: &str, refused: &str) -> anyhow::Result<()> {
    match confirmation {
        PurgeConfirmation::Proceed => Ok(()),
        PurgeConfirmation::Refuse(why) => bail!(why),
        PurgeConfirmation::Ask => {
            print!("{question} [y/N] ");
            std::io::stdout().flush()?;
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer)?;
            if matches!(answer.trim(), "y" | "Y" | "yes") {
                Ok(())
            } else {
                bail!("{refused}")
            }
        }
    }
}

/// Deletes every message of the queue (PurgeQueue).
///
/// # Errors
/// SQS failed (e.g. another purge less than 60 seconds ago).
pub async fn purge(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> anyhow::Result<()> {
    sqs.purge_queue()
        .queue_url(queue_url)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "purge {queue_url}: {} (SQS allows one purge per queue every 60 seconds)",
                sdk_error(&e)
            )
        })?;
    Ok(())
}

// ----- the command line -----

/// `cargo xtask dlq`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// The stage and where it runs.
#[derive(clap::Args, Clone, Debug)]
pub struct Target {
    /// dev, staging or prod.
    #[arg(long)]
    pub stage: Stage,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `dlq list|replay|delete|purge`.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Show the dead letters (without consuming them): shape, detail-type,
    /// business key, error, age.
    List {
        #[command(flatten)]
        target: Target,
        /// Print JSON (one array) instead of a table.
        #[arg(long)]
        json: bool,
        /// Read at most this many messages.
        #[arg(long, default_value_t = 1000)]
        max: usize,
    },
    /// Put dead business events back on the bus, deleting each once
    /// accepted. Safe: effects are keyed on business keys. Invalid events
    /// are kept (fix the producer, then `delete` them).
    Replay {
        #[command(flatten)]
        target: Target,
        /// Replay this message id (repeatable).
        #[arg(long = "id", value_name = "MESSAGE_ID", conflicts_with = "all")]
        ids: Vec<String>,
        /// Replay every business event in the queue.
        #[arg(long)]
        all: bool,
        /// Only say what would be replayed.
        #[arg(long)]
        dry_run: bool,
        /// The bus to replay onto (default: `cc-agent-reconciler-<stage>`).
        #[arg(long, value_name = "NAME")]
        bus: Option<String>,
    },
    /// Delete exactly these messages, e.g. an invalid event once its producer
    /// is fixed (prod: --yes required).
    Delete {
        #[command(flatten)]
        target: Target,
        /// Delete this message id (repeatable).
        #[arg(long = "id", value_name = "MESSAGE_ID", required = true)]
        ids: Vec<String>,
        /// Do not ask (required for prod and without a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Delete every message of the queue (prod: --yes required).
    Purge {
        #[command(flatten)]
        target: Target,
        /// Do not ask (required for prod and without a terminal).
        #[arg(long)]
        yes: bool,
    },
}

/// Clients for the dead-letter commands.
async fn clients(
    aws: &AwsArgs,
) -> anyhow::Result<(aws_sdk_sqs::Client, aws_sdk_eventbridge::Client)> {
    let config = crate::aws::sdk_config(aws).await?;
    Ok((
        aws_sdk_sqs::Client::new(&config),
        aws_sdk_eventbridge::Client::new(&config),
    ))
}

/// Runs `cargo xtask dlq …`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match args.command {
            Command::List { target, json, max } => {
                let (sqs, _) = clients(&target.aws).await?;
                let url = queue_url(&sqs, &queue_name(target.stage)).await?;
                let letters = list(&sqs, &url, max).await?;
                let now = now_ms();
                if json {
                    let all: Vec<Value> = letters.iter().map(|l| l.to_json(now)).collect();
                    println!("{}", serde_json::to_string_pretty(&all)?);
                } else if letters.is_empty() {
                    println!("{}: no dead letters.", queue_name(target.stage));
                } else {
                    print!("{}", table(&letters, now));
                    println!(
                        "{} dead letter(s) in {}. Replay business events that failed for \
                         transient reasons with `cargo xtask dlq replay --stage {} --all` (safe: \
                         keyed on business keys). Invalid events are not replayed: fix the \
                         producer, then `cargo xtask dlq delete --stage {} --id <MESSAGE_ID>`.",
                        letters.len(),
                        queue_name(target.stage),
                        target.stage,
                        target.stage
                    );
                }
                Ok(())
            }
            Command::Replay {
                target,
                ids,
                all,
                dry_run,
                bus,
            } => {
                let selection = match (all, ids.is_empty()) {
                    (true, _) => Selection::All,
                    (false, false) => Selection::Ids(ids),
                    (false, true) => {
                        bail!("say which dead letters: --id MESSAGE_ID (repeatable) or --all")
                    }
                };
                let (sqs, events) = clients(&target.aws).await?;
                let url = queue_url(&sqs, &queue_name(target.stage)).await?;
                let opts = ReplayOptions {
                    selection,
                    dry_run,
                    bus_name: bus.unwrap_or_else(|| default_bus_name(target.stage)),
                    stage: target.stage,
                };
                println!("Replaying onto bus {}:", opts.bus_name);
                let outcomes = replay(&sqs, &events, &url, &opts).await?;
                print!("{}", replay_report(&outcomes, dry_run));
                if outcomes.iter().any(ReplayOutcome::is_failure) {
                    bail!("some dead letters were not replayed (see above)");
                }
                Ok(())
            }
            Command::Delete { target, ids, yes } => {
                let name = queue_name(target.stage);
                confirm(
                    delete_confirmation(target.stage, yes, std::io::stdin().is_terminal()),
                    &format!(
                        "Delete {} message(s) of {name} for good ({})?",
                        ids.len(),
                        ids.join(", ")
                    ),
                    "nothing deleted",
                )?;
                let (sqs, _) = clients(&target.aws).await?;
                let url = queue_url(&sqs, &name).await?;
                let outcomes = delete(&sqs, &url, &ids).await?;
                print!("{}", delete_report(&outcomes));
                if outcomes.iter().any(|o| o.action != DeleteAction::Deleted) {
                    bail!("some dead letters were not deleted (see above)");
                }
                Ok(())
            }
            Command::Purge { target, yes } => {
                let name = queue_name(target.stage);
                confirm(
                    purge_confirmation(target.stage, yes, std::io::stdin().is_terminal()),
                    &format!("Delete every message of {name}?"),
                    "not purged",
                )?;
                let (sqs, _) = clients(&target.aws).await?;
                let url = queue_url(&sqs, &name).await?;
                let before = approximate_count(&sqs, &url).await.ok();
                purge(&sqs, &url).await?;
                match before {
                    Some(n) => println!("Purged {name} (about {n} message(s))."),
                    None => println!("Purged {name}."),
                }
                Ok(())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn event(detail_type: &str, detail: Value) -> Value {
        json!({"version": "0", "id": "e-1", "detail-type": detail_type, "source": "video.service",
               "account": "123456789012", "time": "2026-11-29T10:00:00Z", "region": "us-east-1",
               "resources": [], "detail": detail})
    }

    fn on_failure(payload: Value, error: Value) -> String {
        json!({
            "version": "1.0",
            "timestamp": "2026-11-29T10:00:05.000Z",
            "requestContext": {
                "requestId": "r-1",
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:cc-agent-reconciler-dev-handler:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3
            },
            "requestPayload": payload,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": error
        })
        .to_string()
    }

    #[test]
    fn an_eventbridge_target_dead_letter_is_recognised_by_its_attributes() {
        let body = event(
            "video.requested",
            json!({"job_id": "j1", "account_id": "a", "credits": 5}),
        );
        let c = classify(
            &body.to_string(),
            &attrs(&[
                ("ERROR_CODE", "SDK_CLIENT_ERROR"),
                ("ERROR_MESSAGE", "Lambda throttled"),
                ("RULE_ARN", "arn:aws:events:us-east-1:1:rule/b/r"),
                ("TARGET_ARN", "arn:aws:lambda:us-east-1:1:function:f"),
            ]),
        );
        assert_eq!(c.shape, Shape::EventBridgeTarget);
        assert_eq!(c.detail_type.as_deref(), Some("video.requested"));
        assert_eq!(c.business_key.as_deref(), Some("j1"));
        assert_eq!(c.error_type.as_deref(), Some("SDK_CLIENT_ERROR"));
        assert_eq!(c.error_message.as_deref(), Some("Lambda throttled"));
        assert_eq!(
            c.target.as_deref(),
            Some("arn:aws:lambda:us-east-1:1:function:f")
        );
        assert_eq!(c.original.as_ref(), Some(&body));
        assert_eq!(
            c.replay,
            Replay::Event {
                source: "video.service".into(),
                detail_type: "video.requested".into(),
                detail: json!({"job_id": "j1", "account_id": "a", "credits": 5}),
                time: Some("2026-11-29T10:00:00Z".into()),
            }
        );
    }

    #[test]
    fn a_lambda_on_failure_record_carries_the_event_and_the_error() {
        let payload = event(
            "credits.granted",
            json!({"grant_id": "g1", "account_id": "a", "credits": "x"}),
        );
        let body = on_failure(
            payload.clone(),
            json!({"errorType": "InvalidEvent", "errorMessage": "invalid event: field `detail.credits` must be an integer"}),
        );
        let c = classify(&body, &BTreeMap::new());
        assert_eq!(c.shape, Shape::LambdaOnFailure);
        assert_eq!(c.detail_type.as_deref(), Some("credits.granted"));
        assert_eq!(c.business_key.as_deref(), Some("g1"));
        assert_eq!(c.error_type.as_deref(), Some("InvalidEvent"));
        assert!(c.error_message.unwrap().contains("detail.credits"));
        assert!(c.target.unwrap().contains("handler"));
        assert_eq!(c.original, Some(payload));
        assert!(
            matches!(c.replay, Replay::Invalid { ref message } if message.contains("detail.credits")),
            "{:?}",
            c.replay
        );
    }

    fn lambda_letter(payload: Value, error_type: &str, message: &str) -> Classification {
        classify(
            &on_failure(
                payload,
                json!({"errorType": error_type, "errorMessage": message}),
            ),
            &BTreeMap::new(),
        )
    }

    #[test]
    fn an_event_failing_the_handlers_validation_is_never_re_sent() {
        // Whatever the recorded error: the event itself is invalid.
        let bad = event(
            "video.requested",
            json!({"job_id": "j1", "account_id": "a", "credits": -3}),
        );
        let c = lambda_letter(bad.clone(), "LedgerUnavailable", "timeout");
        let expected = parse_envelope(&bad).unwrap_err().to_string();
        assert!(expected.contains("detail.credits"), "{expected}");
        assert_eq!(
            c.replay,
            Replay::Invalid {
                message: expected.clone()
            }
        );
        // The same event dead-lettered by EventBridge (a delivery failure).
        let c = classify(&bad.to_string(), &attrs(&[("ERROR_CODE", "THROTTLING")]));
        assert_eq!(c.replay, Replay::Invalid { message: expected });
        // A business detail-type without a detail.
        let mut no_detail = event("video.failed", json!({}));
        no_detail.as_object_mut().unwrap().remove("detail");
        let c = classify(&no_detail.to_string(), &attrs(&[("ERROR_CODE", "X")]));
        assert!(
            matches!(&c.replay, Replay::Invalid { message } if message.contains("`detail` is missing")),
            "{:?}",
            c.replay
        );
    }

    #[test]
    fn an_event_the_handler_refused_as_invalid_is_never_re_sent() {
        // Valid by today's validation, but the handler said InvalidEvent: keep it.
        let ok = event(
            "credits.granted",
            json!({"grant_id": "g1", "account_id": "a", "credits": 5}),
        );
        let c = lambda_letter(
            ok.clone(),
            "InvalidEvent",
            "invalid event: field `detail.x` odd",
        );
        assert_eq!(
            c.replay,
            Replay::Invalid {
                message: "invalid event: field `detail.x` odd".into()
            }
        );
        let c = lambda_letter(ok, "InvalidEvent", "");
        assert!(
            matches!(&c.replay, Replay::Invalid { message } if message.contains("InvalidEvent"))
        );
    }

    #[test]
    fn valid_events_that_failed_for_transient_reasons_are_replayed() {
        let ok = event(
            "video.rendered",
            json!({"job_id": "j1", "account_id": "a", "credits": 5}),
        );
        for error_type in ["LedgerUnavailable", "LedgerError", "Unhandled"] {
            let c = lambda_letter(ok.clone(), error_type, "x");
            assert!(matches!(c.replay, Replay::Event { .. }), "{error_type}");
        }
        let c = classify(
            &ok.to_string(),
            &attrs(&[
                ("ERROR_CODE", "SDK_CLIENT_ERROR"),
                ("ERROR_MESSAGE", "Rate Exceeded."),
            ]),
        );
        assert!(matches!(c.replay, Replay::Event { .. }));
        assert_eq!(invalid_reason(&ok, Some("LedgerUnavailable"), None), None);
    }

    #[test]
    fn the_reason_an_invalid_letter_is_kept_says_what_to_do() {
        let why = invalid_kept_reason(
            "invalid event: field `detail.credits` is negative (-3)",
            Stage::Prod,
            "m-7",
        );
        assert!(
            why.starts_with("invalid: invalid event: field `detail.credits` is negative"),
            "{why}"
        );
        assert!(why.contains("fix the producer and send a corrected event"));
        assert!(why.contains("`cargo xtask dlq delete --stage prod --id m-7`"));
        let letter = DeadLetter {
            message_id: "m-7".into(),
            receipt_handle: "h".into(),
            sent_at_ms: None,
            body: String::new(),
            classification: lambda_letter(
                event("video.failed", json!({"job_id": "j", "account_id": 7})),
                "InvalidEvent",
                "bad",
            ),
        };
        let j = letter.to_json(0);
        assert_eq!(j["replay"], "never-invalid");
        assert!(j["invalid"].as_str().unwrap().contains("detail.account_id"));
    }

    #[test]
    fn the_delete_report_names_what_was_not_found() {
        let outcomes = vec![
            DeleteOutcome {
                message_id: "m1".into(),
                detail_type: Some("video.requested".into()),
                business_key: Some("j1".into()),
                action: DeleteAction::Deleted,
            },
            DeleteOutcome {
                message_id: "nope".into(),
                detail_type: None,
                business_key: None,
                action: DeleteAction::NotFound,
            },
        ];
        let r = delete_report(&outcomes);
        assert!(r.contains("deleted      m1 (video.requested, j1)"), "{r}");
        assert!(r.contains("NOT FOUND    nope"), "{r}");
        assert!(r.contains("1 deleted, 1 not found or failed."), "{r}");
    }

    #[test]
    fn a_failed_sweep_is_not_a_business_event() {
        let body = on_failure(
            json!({"older_than_seconds": 60, "dry_run": false}),
            json!({"errorType": "SweepError", "errorMessage": "table missing"}),
        );
        let c = classify(&body, &BTreeMap::new());
        assert_eq!(c.shape, Shape::LambdaOnFailure);
        assert_eq!(c.replay, Replay::Sweep);
        assert_eq!(c.business_key, None);
        assert_eq!(c.error_type.as_deref(), Some("SweepError"));
        // The schedule's target DLQ: body `{}` with EventBridge's attributes.
        let c = classify("{}", &attrs(&[("ERROR_CODE", "RESOURCE_NOT_FOUND")]));
        assert_eq!(
            (c.shape, c.replay),
            (Shape::EventBridgeTarget, Replay::Sweep)
        );
    }

    #[test]
    fn without_an_error_payload_the_record_falls_back_to_the_function_error() {
        let mut record: Value = serde_json::from_str(&on_failure(
            event("video.failed", json!({"job_id": "j9", "account_id": "a"})),
            Value::Null,
        ))
        .unwrap();
        record.as_object_mut().unwrap().remove("responsePayload");
        let c = classify(&record.to_string(), &BTreeMap::new());
        assert_eq!(c.error_type.as_deref(), Some("Unhandled"));
        assert_eq!(
            c.error_message.as_deref(),
            Some("condition RetriesExhausted")
        );
    }

    #[test]
    fn anything_else_is_unknown_and_never_replayed() {
        for body in [
            "not json",
            "[1, 2]",
            "\"a string\"",
            r#"{"hello": "world"}"#,
            // A business event without the DLQ's attributes did not come from EventBridge's DLQ.
            &event("video.requested", json!({"job_id": "j1"})).to_string(),
        ] {
            let c = classify(body, &BTreeMap::new());
            assert_eq!(c.shape, Shape::Unknown, "{body}");
            assert_eq!(c.replay, Replay::Unknown, "{body}");
            assert_eq!(c.original, None);
        }
        // Unknown detail-types in a known shape are not business events either.
        let c = classify(
            &event("video.deleted", json!({"job_id": "j1"})).to_string(),
            &attrs(&[("ERROR_CODE", "X")]),
        );
        assert_eq!(c.replay, Replay::Sweep);
    }

    #[test]
    fn a_missing_source_gets_the_fallback() {
        let mut e = event(
            "video.rendered",
            json!({"job_id": "j", "account_id": "a", "credits": 1}),
        );
        e.as_object_mut().unwrap().remove("source");
        let c = classify(&e.to_string(), &attrs(&[("RULE_ARN", "r")]));
        assert!(matches!(c.replay, Replay::Event { ref source, .. } if source == FALLBACK_SOURCE));
    }

    #[test]
    fn names_follow_the_stack() {
        assert_eq!(queue_name(Stage::Prod), "cc-agent-reconciler-dlq-prod");
        assert_eq!(
            default_bus_name(Stage::Staging),
            "cc-agent-reconciler-staging"
        );
    }

    #[test]
    fn ages_are_short() {
        assert_eq!(format_age(Duration::from_secs(42)), "42s");
        assert_eq!(format_age(Duration::from_secs(312)), "5m12s");
        assert_eq!(format_age(Duration::from_secs(3 * 3600 + 120)), "3h2m");
        assert_eq!(
            format_age(Duration::from_secs(3 * 86_400 + 4 * 3600 + 5)),
            "3d4h"
        );
    }

    #[test]
    fn the_table_has_a_line_per_dead_letter() {
        let letter = DeadLetter {
            message_id: "m-1".into(),
            receipt_handle: "h".into(),
            sent_at_ms: Some(1_000),
            body: String::new(),
            classification: classify(
                &on_failure(
                    event(
                        "video.requested",
                        json!({"job_id": "j1", "account_id": "a", "credits": "x"}),
                    ),
                    json!({"errorType": "InvalidEvent", "errorMessage": "bad credits"}),
                ),
                &BTreeMap::new(),
            ),
        };
        let t = table(std::slice::from_ref(&letter), 61_000);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("MESSAGE ID"));
        for part in [
            "m-1",
            "lambda-on-failure",
            "video.requested",
            "j1",
            "InvalidEvent: bad credits",
            "1m0s",
        ] {
            assert!(lines[1].contains(part), "{part} in {}", lines[1]);
        }
        let j = letter.to_json(61_000);
        assert_eq!(j["age_seconds"], 60);
        assert_eq!(j["replay"], "never-invalid");
        assert!(j["invalid"].as_str().unwrap().contains("`detail.credits`"));
        assert_eq!(j["business_key"], "j1");
    }

    #[test]
    fn purging_prod_needs_yes_and_nothing_prompts_without_a_terminal() {
        assert_eq!(
            purge_confirmation(Stage::Prod, true, false),
            PurgeConfirmation::Proceed
        );
        assert!(matches!(
            purge_confirmation(Stage::Prod, false, true),
            PurgeConfirmation::Refuse(_)
        ));
        assert!(matches!(
            purge_confirmation(Stage::Prod, false, false),
            PurgeConfirmation::Refuse(_)
        ));
        assert_eq!(
            purge_confirmation(Stage::Dev, false, true),
            PurgeConfirmation::Ask
        );
        assert!(matches!(
            purge_confirmation(Stage::Staging, false, false),
            PurgeConfirmation::Refuse(_)
        ));
        assert_eq!(
            purge_confirmation(Stage::Dev, true, false),
            PurgeConfirmation::Proceed
        );
        // delete: the same rules.
        for stage in [Stage::Dev, Stage::Staging, Stage::Prod] {
            for yes in [true, false] {
                for interactive in [true, false] {
                    assert_eq!(
                        std::mem::discriminant(&delete_confirmation(stage, yes, interactive)),
                        std::mem::discriminant(&purge_confirmation(stage, yes, interactive)),
                        "{stage:?} {yes} {interactive}"
                    );
                }
            }
        }
        assert!(matches!(
            delete_confirmation(Stage::Prod, false, true),
            PurgeConfirmation::Refuse(why) if why.contains("--yes")
        ));
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[test]
    fn the_command_lines_parse() {
        use clap::Parser;
        let cli = Cli::parse_from([
            "x",
            "replay",
            "--stage",
            "prod",
            "--id",
            "m1",
            "--id",
            "m2",
            "--dry-run",
            "--bus",
            "b",
            "--endpoint-url",
            "http://127.0.0.1:5000",
            "--region",
            "eu-west-1",
            "--profile",
            "ops",
        ]);
        let Command::Replay {
            target,
            ids,
            all,
            dry_run,
            bus,
        } = cli.command
        else {
            panic!("not replay");
        };
        assert_eq!(target.stage, Stage::Prod);
        assert_eq!(ids, ["m1", "m2"]);
        assert!(!all && dry_run);
        assert_eq!(bus.as_deref(), Some("b"));
        assert_eq!(
            target.aws.endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(target.aws.region.as_deref(), Some("eu-west-1"));
        assert_eq!(target.aws.profile.as_deref(), Some("ops"));
        assert!(
            Cli::try_parse_from(["x", "replay", "--stage", "dev", "--id", "m", "--all"]).is_err()
        );
        assert!(matches!(
            Cli::parse_from(["x", "list", "--stage", "dev", "--json"]).command,
            Command::List {
                json: true,
                max: 1000,
                ..
            }
        ));
        assert!(matches!(
            Cli::parse_from(["x", "purge", "--stage", "staging", "--yes"]).command,
            Command::Purge { yes: true, .. }
        ));
        assert!(Cli::try_parse_from(["x", "purge"]).is_err());
        let Command::Delete { target, ids, yes } = Cli::parse_from([
            "x", "delete", "--stage", "prod", "--id", "m1", "--id", "m2", "--yes",
        ])
        .command
        else {
            panic!("not delete");
        };
        assert_eq!(
            (target.stage, ids, yes),
            (Stage::Prod, vec!["m1".to_owned(), "m2".to_owned()], true)
        );
        assert!(
            Cli::try_parse_from(["x", "delete", "--stage", "dev"]).is_err(),
            "an id is required"
        );
    }

    #[test]
    fn the_replay_report_says_replaying_is_safe() {
        let outcomes = vec![
            ReplayOutcome {
                message_id: "m1".into(),
                detail_type: Some("video.failed".into()),
                business_key: Some("j1".into()),
                action: ReplayAction::Replayed,
            },
            ReplayOutcome {
                message_id: "m2".into(),
                detail_type: None,
                business_key: None,
                action: ReplayAction::Kept("invoke the sweep instead".into()),
            },
        ];
        let r = replay_report(&outcomes, false);
        assert!(r.contains("1 replayed, 1 kept, 0 failed"));
        assert!(r.contains("invoke the sweep instead"));
        assert!(r.contains("business key"));
        assert!(!outcomes.iter().any(ReplayOutcome::is_failure));
    }
}
