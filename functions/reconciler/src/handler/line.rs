//! The handler's log line, written once per invocation, and the metrics
//! counted from it: both say what one [`LogLine`] says.
//!
//! `tracing` takes field names as identifiers, not constants, so [`write`]
//! spells them; the test below reads what it writes back through the
//! contract's [`LogLine::from_json`], which reads them by the contract's
//! names ([`reconciler_core::contract::log`]).

use reconciler_core::contract::Outcome;
use reconciler_core::contract::log::{EventFields, LogLine, NOT_APPLIED, REFUSED};
use reconciler_core::contract::metrics as names;
use reconciler_core::event::InvalidEvent;

/// Counts and logs `line`.
pub(super) fn record(line: &LogLine) {
    count(line);
    write(line);
}

/// The handler's metrics of one invocation: `Events` by outcome (and
/// `ReplayedEvents` for a replayed event, `not-applied` when it was not),
/// plus `InvalidEvents`, `Conflicts` or `Overdrafts` when it was one.
fn count(line: &LogLine) {
    let replayed = line.replay_name().is_some();
    match line.outcome() {
        Some(outcome) => {
            metrics::counter!(names::EVENTS, names::OUTCOME_DIMENSION => outcome.as_str())
                .increment(1);
            if replayed {
                metrics::counter!(names::REPLAYED_EVENTS, names::OUTCOME_DIMENSION => outcome.as_str())
                    .increment(1);
            }
        }
        None if replayed => {
            metrics::counter!(names::REPLAYED_EVENTS, names::OUTCOME_DIMENSION => names::NOT_APPLIED_OUTCOME)
                .increment(1);
        }
        None => {}
    }
    match line {
        LogLine::Refused { .. } => metrics::counter!(names::INVALID_EVENTS).increment(1),
        LogLine::Conflict { .. } => metrics::counter!(names::CONFLICTS).increment(1),
        LogLine::Applied { overdraft, .. } if *overdraft > 0 => {
            metrics::counter!(names::OVERDRAFTS).increment(1);
        }
        LogLine::Applied { .. } | LogLine::NotApplied { .. } => {}
    }
}

/// Writes `line` as one JSON object (see `telemetry::init_tracing`).
fn write(line: &LogLine) {
    let message = line.message();
    match line {
        LogLine::Applied {
            event: e,
            outcome,
            cost,
            available,
            held,
            overdraft,
        } => tracing::info!(
            event_id = %e.event_id,
            detail_type = %e.detail_type,
            account_id = %e.account_id,
            job_id = e.job_id.as_deref(),
            business_key = %e.business_key.transition(),
            outcome = outcome.as_str(),
            replay_name = e.replay_name.as_deref(),
            latency_ms = cost.latency_ms,
            requests = cost.requests,
            attempts = cost.attempts,
            available = *available,
            held = *held,
            overdraft = *overdraft,
            "{message}"
        ),
        LogLine::Conflict {
            event: e,
            cost,
            reason,
        } => tracing::warn!(
            event_id = %e.event_id,
            detail_type = %e.detail_type,
            account_id = %e.account_id,
            job_id = e.job_id.as_deref(),
            business_key = %e.business_key.transition(),
            outcome = Outcome::Conflict.as_str(),
            replay_name = e.replay_name.as_deref(),
            latency_ms = cost.latency_ms,
            requests = cost.requests,
            attempts = cost.attempts,
            %reason,
            "{message}"
        ),
        LogLine::NotApplied {
            event,
            latency_ms,
            error_type,
            error,
        } => write_not_applied(event, *latency_ms, error_type, error),
        LogLine::Refused {
            event_id,
            replay_name,
            field,
            error,
        } => write_refused(event_id, replay_name.as_deref(), field, error),
    }
}

/// The line of an event the ledger failed to apply (Lambda retries it).
fn write_not_applied(e: &EventFields, latency_ms: f64, error_type: &str, error: &str) {
    tracing::error!(
        event_id = %e.event_id,
        detail_type = %e.detail_type,
        account_id = %e.account_id,
        job_id = e.job_id.as_deref(),
        business_key = %e.business_key.transition(),
        replay_name = e.replay_name.as_deref(),
        latency_ms,
        error_type,
        error,
        "{NOT_APPLIED}"
    );
}

/// The line of a payload refused as invalid.
fn write_refused(event_id: &str, replay_name: Option<&str>, field: &str, error: &str) {
    tracing::error!(
        event_id,
        replay_name,
        error_type = InvalidEvent::ERROR_TYPE,
        field,
        error,
        "{REFUSED}"
    );
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use reconciler_core::contract::log::Cost;
    use reconciler_core::key::{BusinessKey, JobStep};
    use serde_json::{Value, json};

    use super::*;

    /// What the formatter writes, kept.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'w self) -> Buffer {
            self.clone()
        }
    }

    /// The lines `write` writes, through the functions' own formatter.
    fn written(lines: &[LogLine]) -> Vec<Value> {
        let buffer = Buffer::default();
        let subscriber = crate::telemetry::json_lines(
            tracing_subscriber::EnvFilter::new("info"),
            buffer.clone(),
        );
        tracing::subscriber::with_default(subscriber, || lines.iter().for_each(write));
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn event(replay_name: Option<&str>) -> EventFields {
        EventFields {
            event_id: "evt-1".into(),
            detail_type: "video.rendered".into(),
            account_id: "acme".into(),
            job_id: Some("j1".into()),
            business_key: BusinessKey::job("j1", JobStep::Rendered),
            replay_name: replay_name.map(str::to_owned),
        }
    }

    /// Every kind of line is written with the contract's field names: read
    /// back, it is the line that was written, and it is exactly the
    /// contract's JSON of it (plus the formatter's `timestamp`).
    #[test]
    fn each_line_is_written_as_the_contract_reads_it() {
        let cost = Cost {
            latency_ms: 4.5,
            requests: 2,
            attempts: 1,
        };
        let lines = [
            LogLine::Applied {
                event: event(Some("window-1")),
                outcome: Outcome::Debited,
                cost,
                available: 75,
                held: 0,
                overdraft: 5,
            },
            LogLine::Conflict {
                event: event(None),
                cost,
                reason: "the job is already REFUNDED".into(),
            },
            LogLine::NotApplied {
                event: event(None),
                latency_ms: 20_000.0,
                error_type: "LedgerUnavailable".into(),
                error: "gave up after 9 attempts".into(),
            },
            LogLine::Refused {
                event_id: "none".into(),
                replay_name: None,
                field: "detail.credits".into(),
                error: "invalid event: field `detail.credits` is missing".into(),
            },
        ];
        let written = written(&lines);
        assert_eq!(written.len(), lines.len());
        for (line, mut json) in lines.iter().zip(written) {
            let fields = json.as_object_mut().unwrap();
            assert!(fields.remove("timestamp").is_some(), "{fields:?}");
            assert_eq!(json, line.to_json());
            assert_eq!(LogLine::from_json(&json).as_ref(), Ok(line));
        }
    }

    /// The applied line, field by field, as operators and their tools
    /// have read it.
    #[test]
    fn an_applied_line_carries_what_the_operator_reads() {
        let line = LogLine::Applied {
            event: event(None),
            outcome: Outcome::Duplicate,
            cost: Cost {
                latency_ms: 1.0,
                requests: 1,
                attempts: 0,
            },
            available: 10,
            held: 5,
            overdraft: 0,
        };
        let mut json = written(&[line]).remove(0);
        json.as_object_mut().unwrap().remove("timestamp");
        assert_eq!(
            json,
            json!({"level": "INFO", "message": "event applied", "event_id": "evt-1",
                   "detail_type": "video.rendered", "account_id": "acme", "job_id": "j1",
                   "business_key": "job:j1:video.rendered", "outcome": "duplicate",
                   "latency_ms": 1.0, "requests": 1, "attempts": 0,
                   "available": 10, "held": 5, "overdraft": 0})
        );
    }
}
