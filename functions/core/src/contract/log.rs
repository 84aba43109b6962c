//! The handler's log line: one JSON object per invocation (CloudWatch Logs,
//! `tracing`'s JSON format, fields flattened), written by the handler and
//! read by the operator's `logs` and `replay` commands.
//!
//! The constants are its field names and its messages; [`LogLine`] is its
//! typed form. The handler builds a `LogLine` and writes it, and a test
//! there reads what it wrote back through [`LogLine::from_json`], so the
//! names here are the names on the wire. A line also carries `timestamp`
//! (the formatter's), which nothing here reads.

use serde_json::{Map, Value};

use super::json::{BadField, Object};
use super::response::Outcome;
use crate::event::InvalidEvent;
use crate::key::BusinessKey;

/// `INFO`, `WARN` or `ERROR`.
pub const LEVEL: &str = "level";
/// What happened, in words: one of the messages below.
pub const MESSAGE: &str = "message";
/// The EventBridge `id` ([`NO_EVENT_ID`] without one): traced, never a key.
pub const EVENT_ID: &str = "event_id";
pub const DETAIL_TYPE: &str = "detail_type";
pub const ACCOUNT_ID: &str = "account_id";
/// Absent for grants and adjustments.
pub const JOB_ID: &str = "job_id";
/// The business key, transition spelling (`job:<id>:video.rendered`).
pub const BUSINESS_KEY: &str = "business_key";
/// The response's outcome word.
pub const OUTCOME: &str = "outcome";
/// The archive replay that delivered the event; absent otherwise.
pub const REPLAY_NAME: &str = "replay_name";
/// Milliseconds from the payload to the answer.
pub const LATENCY_MS: &str = "latency_ms";
/// AWS requests the event cost.
pub const REQUESTS: &str = "requests";
/// Attempts at committing it.
pub const ATTEMPTS: &str = "attempts";
/// The account's balances after the event.
pub const AVAILABLE: &str = "available";
pub const HELD: &str = "held";
/// Credits of a debit not covered by a hold.
pub const OVERDRAFT: &str = "overdraft";
/// Why an event was a conflict.
pub const REASON: &str = "reason";
/// The Lambda error type of a failed invocation.
pub const ERROR_TYPE: &str = "error_type";
pub const ERROR: &str = "error";
/// The field an invalid event was refused for.
pub const FIELD: &str = "field";

/// The `message` of an applied event (a duplicate too).
pub const APPLIED: &str = "event applied";
/// The `message` of a conflict.
pub const CONFLICT: &str = "conflict: recorded for the sweep report, no money moved";
/// The `message` of an event that could not be applied (Lambda retries it).
pub const NOT_APPLIED: &str = "event not applied";
/// The `message` of an event refused as invalid.
pub const REFUSED: &str = "event refused; nothing written";
/// The `event_id` of an event that carries none.
pub const NO_EVENT_ID: &str = "none";

/// What every line about a valid event says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFields {
    pub event_id: String,
    pub detail_type: String,
    pub account_id: String,
    pub job_id: Option<String>,
    pub business_key: BusinessKey,
    pub replay_name: Option<String>,
}

/// What committing an event cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    pub latency_ms: f64,
    pub requests: u32,
    pub attempts: u32,
}

/// One line of the handler's log: what it did with one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum LogLine {
    /// `INFO`: applied, or found already applied (`duplicate`).
    Applied {
        event: EventFields,
        outcome: Outcome,
        cost: Cost,
        available: i64,
        held: i64,
        overdraft: i64,
    },
    /// `WARN`: a conflict (outcome `conflict`), recorded for the sweep.
    Conflict {
        event: EventFields,
        cost: Cost,
        reason: String,
    },
    /// `ERROR`: the ledger failed; `error_type` is the Lambda error type.
    NotApplied {
        event: EventFields,
        latency_ms: f64,
        error_type: String,
        error: String,
    },
    /// `ERROR`: refused as invalid (error type `InvalidEvent`); only what
    /// the payload had of an envelope is known.
    Refused {
        event_id: String,
        replay_name: Option<String>,
        field: String,
        error: String,
    },
}

impl LogLine {
    /// The line's `level`.
    pub fn level(&self) -> &'static str {
        match self {
            LogLine::Applied { .. } => "INFO",
            LogLine::Conflict { .. } => "WARN",
            LogLine::NotApplied { .. } | LogLine::Refused { .. } => "ERROR",
        }
    }

    /// The line's `message`.
    pub fn message(&self) -> &'static str {
        match self {
            LogLine::Applied { .. } => APPLIED,
            LogLine::Conflict { .. } => CONFLICT,
            LogLine::NotApplied { .. } => NOT_APPLIED,
            LogLine::Refused { .. } => REFUSED,
        }
    }

    /// The outcome it reports; `None` for an event not applied or refused.
    pub fn outcome(&self) -> Option<Outcome> {
        match self {
            LogLine::Applied { outcome, .. } => Some(*outcome),
            LogLine::Conflict { .. } => Some(Outcome::Conflict),
            LogLine::NotApplied { .. } | LogLine::Refused { .. } => None,
        }
    }

    /// The archive replay that delivered the event, if any.
    pub fn replay_name(&self) -> Option<&str> {
        match self {
            LogLine::Applied { event, .. }
            | LogLine::Conflict { event, .. }
            | LogLine::NotApplied { event, .. } => event.replay_name.as_deref(),
            LogLine::Refused { replay_name, .. } => replay_name.as_deref(),
        }
    }

    /// The line as written, without the formatter's `timestamp`.
    pub fn to_json(&self) -> Value {
        let mut line = Map::new();
        line.insert(LEVEL.into(), self.level().into());
        line.insert(MESSAGE.into(), self.message().into());
        match self {
            LogLine::Applied {
                event,
                outcome,
                cost,
                available,
                held,
                overdraft,
            } => {
                write_event(&mut line, event);
                line.insert(OUTCOME.into(), outcome.as_str().into());
                write_cost(&mut line, cost);
                line.insert(AVAILABLE.into(), (*available).into());
                line.insert(HELD.into(), (*held).into());
                line.insert(OVERDRAFT.into(), (*overdraft).into());
            }
            LogLine::Conflict {
                event,
                cost,
                reason,
            } => {
                write_event(&mut line, event);
                line.insert(OUTCOME.into(), Outcome::Conflict.as_str().into());
                write_cost(&mut line, cost);
                line.insert(REASON.into(), reason.clone().into());
            }
            LogLine::NotApplied {
                event,
                latency_ms,
                error_type,
                error,
            } => {
                write_event(&mut line, event);
                line.insert(LATENCY_MS.into(), (*latency_ms).into());
                line.insert(ERROR_TYPE.into(), error_type.clone().into());
                line.insert(ERROR.into(), error.clone().into());
            }
            LogLine::Refused {
                event_id,
                replay_name,
                field,
                error,
            } => {
                line.insert(EVENT_ID.into(), event_id.clone().into());
                if let Some(replay_name) = replay_name {
                    line.insert(REPLAY_NAME.into(), replay_name.clone().into());
                }
                line.insert(ERROR_TYPE.into(), InvalidEvent::ERROR_TYPE.into());
                line.insert(FIELD.into(), field.clone().into());
                line.insert(ERROR.into(), error.clone().into());
            }
        }
        Value::Object(line)
    }

    /// Reads one of the handler's lines, told apart by its `message`
    /// (the inverse of [`LogLine::to_json`]; `level`, `timestamp` and
    /// unknown fields are not read). A sweep's line, or any other, is a
    /// [`BadField`] naming `message`.
    pub fn from_json(value: &Value) -> Result<LogLine, BadField> {
        let line = Object::of(value, "")?;
        let message = line.string(MESSAGE)?;
        Ok(match message.as_str() {
            APPLIED => LogLine::Applied {
                event: read_event(&line)?,
                outcome: line.word(OUTCOME, "an outcome", Outcome::parse)?,
                cost: read_cost(&line)?,
                available: line.integer(AVAILABLE)?,
                held: line.integer(HELD)?,
                overdraft: line.integer(OVERDRAFT)?,
            },
            CONFLICT => LogLine::Conflict {
                event: read_event(&line)?,
                cost: read_cost(&line)?,
                reason: line.string(REASON)?,
            },
            NOT_APPLIED => LogLine::NotApplied {
                event: read_event(&line)?,
                latency_ms: line.number(LATENCY_MS)?,
                error_type: line.string(ERROR_TYPE)?,
                error: line.string(ERROR)?,
            },
            REFUSED => LogLine::Refused {
                event_id: line.string(EVENT_ID)?,
                replay_name: line.optional_string(REPLAY_NAME)?,
                field: line.string(FIELD)?,
                error: line.string(ERROR)?,
            },
            other => {
                return Err(line.bad(
                    MESSAGE,
                    format!("is {other:?}, which is not one of the handler's lines"),
                ));
            }
        })
    }
}

fn write_event(line: &mut Map<String, Value>, event: &EventFields) {
    line.insert(EVENT_ID.into(), event.event_id.clone().into());
    line.insert(DETAIL_TYPE.into(), event.detail_type.clone().into());
    line.insert(ACCOUNT_ID.into(), event.account_id.clone().into());
    if let Some(job_id) = &event.job_id {
        line.insert(JOB_ID.into(), job_id.clone().into());
    }
    line.insert(BUSINESS_KEY.into(), event.business_key.transition().into());
    if let Some(replay_name) = &event.replay_name {
        line.insert(REPLAY_NAME.into(), replay_name.clone().into());
    }
}

fn write_cost(line: &mut Map<String, Value>, cost: &Cost) {
    line.insert(LATENCY_MS.into(), cost.latency_ms.into());
    line.insert(REQUESTS.into(), cost.requests.into());
    line.insert(ATTEMPTS.into(), cost.attempts.into());
}

fn read_event(line: &Object<'_>) -> Result<EventFields, BadField> {
    let key = line.string(BUSINESS_KEY)?;
    Ok(EventFields {
        event_id: line.string(EVENT_ID)?,
        detail_type: line.string(DETAIL_TYPE)?,
        account_id: line.string(ACCOUNT_ID)?,
        job_id: line.optional_string(JOB_ID)?,
        business_key: BusinessKey::parse_transition(&key)
            .map_err(|e| line.bad(BUSINESS_KEY, e.problem))?,
        replay_name: line.optional_string(REPLAY_NAME)?,
    })
}

fn read_cost(line: &Object<'_>) -> Result<Cost, BadField> {
    Ok(Cost {
        latency_ms: line.number(LATENCY_MS)?,
        requests: line.count(REQUESTS)?,
        attempts: line.count(ATTEMPTS)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::JobStep;
    use serde_json::json;

    fn rendered() -> EventFields {
        EventFields {
            event_id: "evt-1".into(),
            detail_type: "video.rendered".into(),
            account_id: "acme".into(),
            job_id: Some("j1".into()),
            business_key: BusinessKey::job("j1", JobStep::Rendered),
            replay_name: Some("window-1".into()),
        }
    }

    /// Lines as the operator's tools have read them, written by hand.
    #[test]
    fn each_line_reads_back_from_the_json_it_writes() {
        let applied = json!({"level": "INFO", "message": "event applied",
            "event_id": "evt-1", "detail_type": "video.rendered", "account_id": "acme",
            "job_id": "j1", "business_key": "job:j1:video.rendered", "replay_name": "window-1",
            "outcome": "debited", "latency_ms": 12.5, "requests": 1, "attempts": 1,
            "available": 75, "held": 0, "overdraft": 0});
        let line = LogLine::Applied {
            event: rendered(),
            outcome: Outcome::Debited,
            cost: Cost {
                latency_ms: 12.5,
                requests: 1,
                attempts: 1,
            },
            available: 75,
            held: 0,
            overdraft: 0,
        };
        assert_eq!(line.to_json(), applied);
        assert_eq!(LogLine::from_json(&applied), Ok(line.clone()));
        assert_eq!(line.outcome(), Some(Outcome::Debited));
        assert_eq!(line.replay_name(), Some("window-1"));

        let refused = json!({"level": "ERROR", "message": "event refused; nothing written",
            "event_id": "none", "error_type": "InvalidEvent", "field": "detail.credits",
            "error": "invalid event: field `detail.credits` is missing",
            "timestamp": "2026-11-29T10:00:00Z"});
        let line = LogLine::from_json(&refused).unwrap();
        assert_eq!(
            line,
            LogLine::Refused {
                event_id: "none".into(),
                replay_name: None,
                field: "detail.credits".into(),
                error: "invalid event: field `detail.credits` is missing".into(),
            }
        );
        let mut written = refused.clone();
        written.as_object_mut().unwrap().remove("timestamp");
        assert_eq!(line.to_json(), written);
        assert_eq!((line.outcome(), line.level()), (None, "ERROR"));
    }

    #[test]
    fn a_conflict_and_a_failure_carry_their_reason_and_error() {
        let conflict = LogLine::Conflict {
            event: rendered(),
            cost: Cost {
                latency_ms: 3.0,
                requests: 2,
                attempts: 0,
            },
            reason: "the job is already REFUNDED".into(),
        };
        let json = conflict.to_json();
        assert_eq!(json["outcome"], "conflict");
        assert_eq!(json["level"], "WARN");
        assert_eq!(LogLine::from_json(&json), Ok(conflict));
        let failed = LogLine::NotApplied {
            event: rendered(),
            latency_ms: 20_000.0,
            error_type: "LedgerUnavailable".into(),
            error: "gave up".into(),
        };
        let json = failed.to_json();
        assert_eq!(json.get("outcome"), None);
        assert_eq!(LogLine::from_json(&json), Ok(failed));
    }

    #[test]
    fn a_line_that_is_not_the_handlers_names_its_field() {
        let cases = [
            (
                json!({"message": "sweep report"}),
                "message",
                "not one of the handler's lines",
            ),
            (json!({"level": "INFO"}), "message", "is missing"),
            (
                json!({"message": "event applied", "event_id": "e", "detail_type": "credits.granted",
                       "account_id": "a", "business_key": "order:1"}),
                "business_key",
                "expected grant:<id>",
            ),
            (
                json!({"message": "event refused; nothing written", "event_id": 7}),
                "event_id",
                "must be a string",
            ),
        ];
        for (value, field, words) in cases {
            let err = LogLine::from_json(&value).unwrap_err();
            assert_eq!(err.field, field, "{value}");
            assert!(
                err.to_string().contains(words),
                "{err} should say {words:?}"
            );
        }
    }
}
