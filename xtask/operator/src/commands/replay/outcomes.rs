//! What the handler did with a replay's events, counted from its log lines.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::models::logs::{self, LogGroup, LogLine};

/// What the handler did with a replay's events, from its log lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutcomeCounts {
    /// Events handled, by outcome (`granted`, `duplicate`, `conflict`, …).
    pub by_outcome: BTreeMap<String, u64>,
    /// Events the handler failed on (`event not applied`).
    pub failed: u64,
}

impl OutcomeCounts {
    /// Every replayed event the handler logged.
    pub fn total(&self) -> u64 {
        self.by_outcome.values().sum::<u64>() + self.failed
    }

    /// Those that moved or decided something (not duplicates, not conflicts).
    pub fn applied(&self) -> u64 {
        self.by_outcome
            .iter()
            .filter(|(o, _)| !matches!(o.as_str(), "duplicate" | "conflict"))
            .map(|(_, n)| n)
            .sum()
    }

    /// "N replayed: M duplicate, K applied (…), C conflict, F failed" (pure).
    pub fn line(&self) -> String {
        let n = |o: &str| self.by_outcome.get(o).copied().unwrap_or(0);
        let applied: Vec<String> = self
            .by_outcome
            .iter()
            .filter(|(o, _)| !matches!(o.as_str(), "duplicate" | "conflict"))
            .map(|(o, c)| format!("{o} {c}"))
            .collect();
        format!(
            "{} replayed: {} duplicate, {} applied{}, {} conflict, {} failed",
            self.total(),
            n("duplicate"),
            self.applied(),
            if applied.is_empty() {
                String::new()
            } else {
                format!(" ({})", applied.join(", "))
            },
            n("conflict"),
            self.failed
        )
    }
}

/// Counts the events of replay `name` by outcome from the handler's log
/// lines (pure). One count per event (its `event_id`): an event Lambda
/// retried after a failure counts once, with its last outcome (in time
/// order), so "N replayed" is the number of events, not of attempts.
pub fn count_outcomes(lines: &[LogLine], name: &str) -> OutcomeCounts {
    let mut ordered: Vec<&LogLine> = lines.iter().collect();
    ordered.sort_by_key(|l| l.timestamp_ms);
    // event id (or a line number, without one) → outcome (None: failed).
    let mut last: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (i, line) in ordered.iter().enumerate() {
        let Some(j) = line.json() else { continue };
        if j.get("replay_name").and_then(Value::as_str) != Some(name) {
            continue;
        }
        let outcome = match (
            j.get("outcome").and_then(Value::as_str),
            j.get("error_type"),
        ) {
            (Some(outcome), _) => Some(outcome.to_owned()),
            (None, Some(_)) => None,
            (None, None) => continue,
        };
        let event = match j.get("event_id").and_then(Value::as_str) {
            Some(id) if id != "none" => id.to_owned(),
            _ => format!("#line-{i}"),
        };
        last.insert(event, outcome);
    }
    let mut counts = OutcomeCounts::default();
    for outcome in last.into_values() {
        match outcome {
            Some(o) => *counts.by_outcome.entry(o).or_default() += 1,
            None => counts.failed += 1,
        }
    }
    counts
}

/// Reads the handler's log lines of replay `name` since `since_ms`, again
/// every `interval` until the counts stop changing (two reads alike after
/// the first line) or `timeout` passes: the handler applies replayed events
/// after the replay has put them on the bus.
///
/// # Errors
/// CloudWatch Logs failed.
pub async fn handler_outcomes(
    logs: &aws_sdk_cloudwatchlogs::Client,
    handler_log_group: &LogGroup,
    name: &str,
    since_ms: i64,
    interval: Duration,
    timeout: Duration,
) -> anyhow::Result<OutcomeCounts> {
    let start = Instant::now();
    let pattern = logs::filter_pattern(&logs::LogFilter {
        text: Some(name.to_owned()),
        ..Default::default()
    });
    let mut previous: Option<OutcomeCounts> = None;
    loop {
        let lines = logs::fetch(
            logs,
            std::slice::from_ref(handler_log_group),
            since_ms,
            None,
            pattern.as_deref(),
            100_000,
        )
        .await?;
        let counts = count_outcomes(&lines, name);
        let stable = counts.total() > 0 && previous.as_ref() == Some(&counts);
        if stable || start.elapsed() >= timeout {
            return Ok(counts);
        }
        previous = Some(counts);
        tokio::time::sleep(interval).await;
    }
}
