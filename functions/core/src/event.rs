//! The four business events of contract §2 and their validation.
//!
//! Validation works on raw JSON (`serde_json::Value`), not through a derived
//! `Deserialize`, so that every way an event can be wrong produces one
//! [`InvalidEvent`] naming the offending field, in words an operator can act on.

use std::fmt;

use serde_json::{Map, Value};

use crate::key::{BusinessKey, JobStep};

/// Ids are non-empty strings of at most this many characters.
pub const MAX_ID_CHARS: usize = 256;
/// `credits` is an integer in `0..=MAX_CREDITS`; an adjustment's in
/// `-MAX_CREDITS..=MAX_CREDITS`, not 0.
pub const MAX_CREDITS: i64 = 1_000_000_000_000;
/// An adjustment's `reason` has 1 to this many characters; a failure's is
/// kept to this many ([`REASON_CUT`]).
pub const MAX_REASON_CHARS: usize = 512;
/// What follows a failure's `reason` that was longer than
/// [`MAX_REASON_CHARS`] characters: its first ones are kept, then this, so
/// whoever reads it (the job item, `ledger job`, a conflict's listing)
/// sees it was cut. A long reason is never a reason to refuse the refund.
pub const REASON_CUT: &str = "…[cut]";

/// A purchase or top-up.
pub const CREDITS_GRANTED: &str = "credits.granted";
/// A job asks to hold its estimated cost.
pub const VIDEO_REQUESTED: &str = "video.requested";
/// A job finished: debit its actual cost.
pub const VIDEO_RENDERED: &str = "video.rendered";
/// A job failed: refund its hold.
pub const VIDEO_FAILED: &str = "video.failed";

/// The `detail-type`s the reconciler consumes from the bus (the rule's
/// pattern), in this order (the replay rules follow it).
pub const DETAIL_TYPES: [&str; 4] = [
    CREDITS_GRANTED,
    VIDEO_REQUESTED,
    VIDEO_RENDERED,
    VIDEO_FAILED,
];

/// An operator's correction (contract §3 "Corrections"). It reaches the handler
/// only by a direct invocation (`cargo xtask ledger adjust`), never through
/// the bus: the rule does not match it, and on the bus it is an unrouted event.
pub const CREDITS_ADJUSTED: &str = "credits.adjusted";

/// One validated business event (the envelope's `detail`, typed by its `detail-type`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Event {
    /// `credits.granted`: a purchase or top-up.
    Granted {
        grant_id: String,
        account_id: String,
        credits: i64,
    },
    /// `video.requested`: hold the estimated cost.
    Requested {
        job_id: String,
        account_id: String,
        credits: i64,
    },
    /// `video.rendered`: debit the actual cost.
    Rendered {
        job_id: String,
        account_id: String,
        credits: i64,
    },
    /// `video.failed`: refund the hold.
    Failed {
        job_id: String,
        account_id: String,
        reason: Option<String>,
    },
    /// `credits.adjusted`: an operator moves `available` by `credits` (signed).
    Adjusted {
        adjustment_id: String,
        account_id: String,
        credits: i64,
        reason: String,
    },
}

impl Event {
    pub fn account_id(&self) -> &str {
        match self {
            Event::Granted { account_id, .. }
            | Event::Requested { account_id, .. }
            | Event::Rendered { account_id, .. }
            | Event::Failed { account_id, .. }
            | Event::Adjusted { account_id, .. } => account_id,
        }
    }

    /// The job this event is about; `None` for grants and adjustments.
    pub fn job_id(&self) -> Option<&str> {
        match self {
            Event::Granted { .. } | Event::Adjusted { .. } => None,
            Event::Requested { job_id, .. }
            | Event::Rendered { job_id, .. }
            | Event::Failed { job_id, .. } => Some(job_id),
        }
    }

    pub fn detail_type(&self) -> &'static str {
        match self {
            Event::Granted { .. } => CREDITS_GRANTED,
            Event::Requested { .. } => VIDEO_REQUESTED,
            Event::Rendered { .. } => VIDEO_RENDERED,
            Event::Failed { .. } => VIDEO_FAILED,
            Event::Adjusted { .. } => CREDITS_ADJUSTED,
        }
    }

    /// The key its effect is applied once by: its grant, its adjustment, or
    /// its job and transition.
    pub fn business_key(&self) -> BusinessKey {
        match self {
            Event::Granted { grant_id, .. } => BusinessKey::grant(grant_id),
            Event::Adjusted { adjustment_id, .. } => BusinessKey::adjustment(adjustment_id),
            Event::Requested { job_id, .. } => BusinessKey::job(job_id, JobStep::Requested),
            Event::Rendered { job_id, .. } => BusinessKey::job(job_id, JobStep::Rendered),
            Event::Failed { job_id, .. } => BusinessKey::job(job_id, JobStep::Failed),
        }
    }

    /// The event's `detail` as it travels on the bus (the inverse of [`parse_detail`]).
    pub fn to_detail(&self) -> Value {
        match self {
            Event::Granted {
                grant_id,
                account_id,
                credits,
            } => {
                serde_json::json!({"grant_id": grant_id, "account_id": account_id, "credits": credits})
            }
            Event::Requested {
                job_id,
                account_id,
                credits,
            }
            | Event::Rendered {
                job_id,
                account_id,
                credits,
            } => {
                serde_json::json!({"job_id": job_id, "account_id": account_id, "credits": credits})
            }
            Event::Failed {
                job_id,
                account_id,
                reason,
            } => {
                let mut detail = serde_json::json!({"job_id": job_id, "account_id": account_id});
                if let Some(reason) = reason {
                    detail["reason"] = Value::String(reason.clone());
                }
                detail
            }
            Event::Adjusted {
                adjustment_id,
                account_id,
                credits,
                reason,
            } => serde_json::json!({
                "adjustment_id": adjustment_id,
                "account_id": account_id,
                "credits": credits,
                "reason": reason,
            }),
        }
    }
}

/// An EventBridge envelope whose `detail` has been validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// EventBridge's `id`. Used for tracing only: a redelivery or DLQ replay may
    /// carry a new one, so exactly-once effect never depends on it.
    pub id: Option<String>,
    /// EventBridge's `time`, if present (informational).
    pub time: Option<String>,
    /// The archive replay that delivered it (EventBridge's `replay-name`),
    /// if it is a replayed event.
    pub replay_name: Option<String>,
    pub event: Event,
}

/// Why an event was refused. `field` is the JSON path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEvent {
    pub field: String,
    pub problem: String,
}

impl InvalidEvent {
    /// The error type reported to Lambda (and so to the DLQ and the logs).
    pub const ERROR_TYPE: &'static str = "InvalidEvent";

    fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        InvalidEvent {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for InvalidEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid event: field `{}` {}", self.field, self.problem)
    }
}

impl std::error::Error for InvalidEvent {}

/// Parses raw invocation bytes: JSON that is an EventBridge envelope.
pub fn parse_envelope_bytes(raw: &[u8]) -> Result<Envelope, InvalidEvent> {
    let value: Value = serde_json::from_slice(raw).map_err(|e| {
        InvalidEvent::new(
            "$",
            format!("is not valid JSON ({e}); expected an EventBridge event"),
        )
    })?;
    parse_envelope(&value)
}

/// The `id` and `replay-name` of a payload, as far as it has them (for the
/// log line and the metrics of an event refused as invalid): never fails.
pub fn envelope_labels(raw: &[u8]) -> (Option<String>, Option<String>) {
    let value: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
    let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
    (text("id"), text("replay-name"))
}

/// Validates an EventBridge envelope (`detail-type` + `detail`, optional `id` and `time`).
pub fn parse_envelope(value: &Value) -> Result<Envelope, InvalidEvent> {
    let obj = value.as_object().ok_or_else(|| {
        InvalidEvent::new(
            "$",
            format!(
                "must be a JSON object (an EventBridge event), got {}",
                kind(value)
            ),
        )
    })?;
    let id = optional_string(obj, "id", "id")?;
    let time = optional_string(obj, "time", "time")?;
    let replay_name = optional_string(obj, "replay-name", "replay-name")?;
    let detail_type = match obj.get("detail-type") {
        None => return Err(InvalidEvent::new("detail-type", "is missing")),
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(InvalidEvent::new(
                "detail-type",
                format!("must be a string, got {}", kind(other)),
            ));
        }
    };
    let detail = obj
        .get("detail")
        .ok_or_else(|| InvalidEvent::new("detail", "is missing"))?;
    let event = parse_detail(detail_type, detail)?;
    Ok(Envelope {
        id,
        time,
        replay_name,
        event,
    })
}

/// Validates a `detail` for the given `detail-type`.
pub fn parse_detail(detail_type: &str, detail: &Value) -> Result<Event, InvalidEvent> {
    if !DETAIL_TYPES.contains(&detail_type) && detail_type != CREDITS_ADJUSTED {
        return Err(InvalidEvent::new(
            "detail-type",
            format!(
                "is {detail_type:?}, which is not one of {} (or {CREDITS_ADJUSTED}, by direct invocation)",
                DETAIL_TYPES.join(", ")
            ),
        ));
    }
    let d = detail.as_object().ok_or_else(|| {
        InvalidEvent::new(
            "detail",
            format!("must be a JSON object, got {}", kind(detail)),
        )
    })?;
    let event = match detail_type {
        CREDITS_GRANTED => Event::Granted {
            grant_id: id(d, "grant_id")?,
            account_id: id(d, "account_id")?,
            credits: credits(d)?,
        },
        VIDEO_REQUESTED => Event::Requested {
            job_id: id(d, "job_id")?,
            account_id: id(d, "account_id")?,
            credits: credits(d)?,
        },
        VIDEO_RENDERED => Event::Rendered {
            job_id: id(d, "job_id")?,
            account_id: id(d, "account_id")?,
            credits: credits(d)?,
        },
        VIDEO_FAILED => Event::Failed {
            job_id: id(d, "job_id")?,
            account_id: id(d, "account_id")?,
            reason: optional_string(d, "reason", "detail.reason")?.map(cut_reason),
        },
        CREDITS_ADJUSTED => Event::Adjusted {
            adjustment_id: id(d, "adjustment_id")?,
            account_id: id(d, "account_id")?,
            credits: signed_credits(d)?,
            reason: reason(d)?,
        },
        _ => unreachable!("checked against DETAIL_TYPES above"),
    };
    Ok(event)
}

fn id(d: &Map<String, Value>, name: &str) -> Result<String, InvalidEvent> {
    let field = format!("detail.{name}");
    match d.get(name) {
        None | Some(Value::Null) => Err(InvalidEvent::new(field, "is missing")),
        Some(Value::String(s)) if s.is_empty() => Err(InvalidEvent::new(field, "is empty")),
        Some(Value::String(s)) if s.chars().count() > MAX_ID_CHARS => Err(InvalidEvent::new(
            field,
            format!(
                "is {} characters long; at most {MAX_ID_CHARS} are allowed",
                s.chars().count()
            ),
        )),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(InvalidEvent::new(
            field,
            format!("must be a string, got {}", kind(other)),
        )),
    }
}

fn credits(d: &Map<String, Value>) -> Result<i64, InvalidEvent> {
    let field = "detail.credits";
    let range = format!("an integer from 0 to {MAX_CREDITS}");
    match d.get("credits") {
        None | Some(Value::Null) => Err(InvalidEvent::new(field, "is missing")),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                if (0..=MAX_CREDITS).contains(&i) {
                    return Ok(i);
                }
                let side = if i < 0 { "negative" } else { "too large" };
                return Err(InvalidEvent::new(
                    field,
                    format!("is {side} ({i}); it must be {range}"),
                ));
            }
            if n.is_u64() {
                return Err(InvalidEvent::new(
                    field,
                    format!("is too large ({n}); it must be {range}"),
                ));
            }
            Err(InvalidEvent::new(
                field,
                format!("is not an integer ({n}); it must be {range}"),
            ))
        }
        Some(other) => Err(InvalidEvent::new(
            field,
            format!("must be a JSON number ({range}), got {}", kind(other)),
        )),
    }
}

/// An adjustment's `credits`: a signed integer, not 0, at most
/// [`MAX_CREDITS`] either way.
fn signed_credits(d: &Map<String, Value>) -> Result<i64, InvalidEvent> {
    let field = "detail.credits";
    let range = format!("a non-zero integer from -{MAX_CREDITS} to {MAX_CREDITS}");
    match d.get("credits") {
        None | Some(Value::Null) => Err(InvalidEvent::new(field, "is missing")),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(0) => Err(InvalidEvent::new(
                field,
                format!("is 0; an adjustment must move credits: {range}"),
            )),
            Some(i) if (-MAX_CREDITS..=MAX_CREDITS).contains(&i) => Ok(i),
            Some(i) => Err(InvalidEvent::new(
                field,
                format!("is too large ({i}); it must be {range}"),
            )),
            None if n.is_u64() => Err(InvalidEvent::new(
                field,
                format!("is too large ({n}); it must be {range}"),
            )),
            None => Err(InvalidEvent::new(
                field,
                format!("is not an integer ({n}); it must be {range}"),
            )),
        },
        Some(other) => Err(InvalidEvent::new(
            field,
            format!("must be a JSON number ({range}), got {}", kind(other)),
        )),
    }
}

/// An adjustment's `reason`: 1 to [`MAX_REASON_CHARS`] characters, not blank.
fn reason(d: &Map<String, Value>) -> Result<String, InvalidEvent> {
    let field = "detail.reason";
    match d.get("reason") {
        None | Some(Value::Null) => Err(InvalidEvent::new(
            field,
            "is missing: say why the account is corrected",
        )),
        Some(Value::String(s)) if s.trim().is_empty() => Err(InvalidEvent::new(field, "is empty")),
        Some(Value::String(s)) if s.chars().count() > MAX_REASON_CHARS => Err(InvalidEvent::new(
            field,
            format!(
                "is {} characters long; at most {MAX_REASON_CHARS} are allowed",
                s.chars().count()
            ),
        )),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(InvalidEvent::new(
            field,
            format!("must be a string, got {}", kind(other)),
        )),
    }
}

/// A failure's reason as stored: at most [`MAX_REASON_CHARS`] characters
/// of it, then [`REASON_CUT`] if it was longer (counted in characters, so
/// a character is never split).
fn cut_reason(reason: String) -> String {
    match reason.char_indices().nth(MAX_REASON_CHARS) {
        Some((end, _)) => format!("{}{REASON_CUT}", &reason[..end]),
        None => reason,
    }
}

fn optional_string(
    obj: &Map<String, Value>,
    name: &str,
    field: &str,
) -> Result<Option<String>, InvalidEvent> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(InvalidEvent::new(
            field,
            format!("must be a string, got {}", kind(other)),
        )),
    }
}

/// What a JSON value is, for messages (`a string ("5")`).
pub(crate) fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) => format!("a string ({s:?})"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope(detail_type: &str, detail: Value) -> Value {
        json!({"version": "0", "id": "e-1", "detail-type": detail_type, "source": "video",
               "time": "2026-11-29T00:00:00Z", "detail": detail})
    }

    fn invalid(v: Value) -> InvalidEvent {
        parse_envelope(&v).expect_err("event must be refused")
    }

    /// A failure's reason longer than 512 characters is kept to its first
    /// 512, marked as cut — never refused, so the refund is never held up
    /// for it — and so is the detail a conflict record copies. Characters,
    /// not bytes: one of four bytes is never split.
    #[test]
    fn a_long_failure_reason_is_kept_to_512_characters_marked_as_cut() {
        let reason_of = |reason: &str| {
            let detail = json!({"job_id": "j1", "account_id": "a1", "reason": reason});
            match parse_envelope(&envelope(VIDEO_FAILED, detail))
                .unwrap()
                .event
            {
                Event::Failed { reason, .. } => reason.unwrap(),
                other => panic!("{other:?}"),
            }
        };
        let exact = "é".repeat(512);
        assert_eq!(reason_of(&exact), exact, "512 characters are kept whole");
        let long = format!("{}{}", "😀".repeat(512), "x".repeat(100_000));
        let kept = reason_of(&long);
        assert_eq!(kept, format!("{}…[cut]", "😀".repeat(512)));
        let event = parse_envelope(&envelope(
            VIDEO_FAILED,
            json!({"job_id": "j1", "account_id": "a1", "reason": long}),
        ))
        .unwrap()
        .event;
        assert_eq!(
            event.to_detail()["reason"],
            json!(kept),
            "a conflict's detail too"
        );
    }

    #[test]
    fn parses_each_detail_type() {
        let cases = [
            (
                "credits.granted",
                json!({"grant_id": "g1", "account_id": "a1", "credits": 100}),
                Event::Granted {
                    grant_id: "g1".into(),
                    account_id: "a1".into(),
                    credits: 100,
                },
            ),
            (
                "video.requested",
                json!({"job_id": "j1", "account_id": "a1", "credits": 0}),
                Event::Requested {
                    job_id: "j1".into(),
                    account_id: "a1".into(),
                    credits: 0,
                },
            ),
            (
                "video.rendered",
                json!({"job_id": "j1", "account_id": "a1", "credits": MAX_CREDITS}),
                Event::Rendered {
                    job_id: "j1".into(),
                    account_id: "a1".into(),
                    credits: MAX_CREDITS,
                },
            ),
            (
                "video.failed",
                json!({"job_id": "j1", "account_id": "a1"}),
                Event::Failed {
                    job_id: "j1".into(),
                    account_id: "a1".into(),
                    reason: None,
                },
            ),
            (
                "video.failed",
                json!({"job_id": "j1", "account_id": "a1", "reason": "gpu"}),
                Event::Failed {
                    job_id: "j1".into(),
                    account_id: "a1".into(),
                    reason: Some("gpu".into()),
                },
            ),
        ];
        for (dt, detail, expected) in cases {
            let env = parse_envelope(&envelope(dt, detail.clone())).unwrap();
            assert_eq!(env.event, expected);
            assert_eq!(env.id.as_deref(), Some("e-1"));
            assert_eq!(expected.detail_type(), dt);
            assert_eq!(parse_detail(dt, &expected.to_detail()).unwrap(), expected);
        }
    }

    #[test]
    fn unknown_fields_in_detail_are_ignored() {
        let v = envelope(
            "credits.granted",
            json!({"grant_id": "g", "account_id": "a", "credits": 1, "currency": "EUR"}),
        );
        assert!(parse_envelope(&v).is_ok());
    }

    #[test]
    fn every_invalid_class_names_its_field() {
        let ok = json!({"job_id": "j1", "account_id": "a1", "credits": 5});
        let with = |k: &str, v: Value| {
            let mut d = ok.clone();
            d[k] = v;
            envelope("video.requested", d)
        };
        let without = |k: &str| {
            let mut d = ok.clone();
            d.as_object_mut().unwrap().remove(k);
            envelope("video.requested", d)
        };
        let long = "x".repeat(MAX_ID_CHARS + 1);
        let cases: Vec<(Value, &str, &str)> = vec![
            (without("credits"), "detail.credits", "missing"),
            (with("credits", Value::Null), "detail.credits", "missing"),
            (
                with("credits", json!(1.5)),
                "detail.credits",
                "not an integer",
            ),
            (
                with("credits", json!(2.0)),
                "detail.credits",
                "not an integer",
            ),
            (
                with("credits", json!(1e3)),
                "detail.credits",
                "not an integer",
            ),
            (
                with("credits", json!("5")),
                "detail.credits",
                "got a string",
            ),
            (
                with("credits", json!(true)),
                "detail.credits",
                "got a boolean",
            ),
            (with("credits", json!(-1)), "detail.credits", "negative"),
            (
                with("credits", json!(MAX_CREDITS + 1)),
                "detail.credits",
                "too large",
            ),
            (
                with("credits", json!(u64::MAX)),
                "detail.credits",
                "too large",
            ),
            (without("job_id"), "detail.job_id", "missing"),
            (with("job_id", json!("")), "detail.job_id", "empty"),
            (
                with("job_id", json!(7)),
                "detail.job_id",
                "must be a string",
            ),
            (
                with("job_id", json!(long)),
                "detail.job_id",
                "257 characters",
            ),
            (without("account_id"), "detail.account_id", "missing"),
            (
                with("account_id", json!(["a"])),
                "detail.account_id",
                "an array",
            ),
            (
                envelope("video.exploded", ok.clone()),
                "detail-type",
                "not one of",
            ),
            (json!({"detail": ok.clone()}), "detail-type", "missing"),
            (
                json!({"detail-type": 5, "detail": ok.clone()}),
                "detail-type",
                "must be a string",
            ),
            (
                json!({"detail-type": "video.requested"}),
                "detail",
                "missing",
            ),
            (
                envelope("video.requested", json!("j1")),
                "detail",
                "must be a JSON object",
            ),
            (json!([1, 2]), "$", "must be a JSON object"),
            (
                envelope("credits.granted", json!({"account_id": "a1", "credits": 1})),
                "detail.grant_id",
                "missing",
            ),
            (
                envelope(
                    "video.failed",
                    json!({"job_id": "j", "account_id": "a", "reason": 3}),
                ),
                "detail.reason",
                "must be a string",
            ),
            (
                json!({"id": 3, "detail-type": "video.requested", "detail": ok.clone()}),
                "id",
                "must be a string",
            ),
        ];
        for (input, field, words) in cases {
            let err = invalid(input.clone());
            assert_eq!(err.field, field, "input {input}");
            assert!(
                err.to_string().contains(words) && err.to_string().contains(field),
                "message {:?} should name {field} and say {words:?}",
                err.to_string()
            );
        }
    }

    #[test]
    fn adjustments_parse_and_every_invalid_one_names_its_field() {
        let ok = json!({"adjustment_id": "adj-1", "account_id": "a1", "credits": -25,
                        "reason": "double charge on job j9"});
        let event = parse_envelope(&envelope(CREDITS_ADJUSTED, ok.clone()))
            .unwrap()
            .event;
        assert_eq!(
            event,
            Event::Adjusted {
                adjustment_id: "adj-1".into(),
                account_id: "a1".into(),
                credits: -25,
                reason: "double charge on job j9".into(),
            }
        );
        assert_eq!(event.business_key().transition(), "adjustment:adj-1");
        assert_eq!(
            parse_detail(CREDITS_ADJUSTED, &event.to_detail()).unwrap(),
            event
        );
        assert!(
            !DETAIL_TYPES.contains(&CREDITS_ADJUSTED),
            "never on the bus rule"
        );
        let with = |k: &str, v: Value| {
            let mut d = ok.clone();
            d[k] = v;
            envelope(CREDITS_ADJUSTED, d)
        };
        let cases: Vec<(Value, &str, &str)> = vec![
            (with("credits", json!(0)), "detail.credits", "is 0"),
            (
                with("credits", json!(-MAX_CREDITS - 1)),
                "detail.credits",
                "too large",
            ),
            (
                with("credits", json!(1.5)),
                "detail.credits",
                "not an integer",
            ),
            (
                with("credits", json!("-5")),
                "detail.credits",
                "got a string",
            ),
            (with("reason", json!("")), "detail.reason", "empty"),
            (with("reason", json!("  ")), "detail.reason", "empty"),
            (
                with("reason", json!("x".repeat(513))),
                "detail.reason",
                "513 characters",
            ),
            (with("reason", Value::Null), "detail.reason", "missing"),
            (
                with("adjustment_id", json!("")),
                "detail.adjustment_id",
                "empty",
            ),
        ];
        for (input, field, words) in cases {
            let err = invalid(input.clone());
            assert_eq!(err.field, field, "input {input}");
            assert!(
                err.to_string().contains(words),
                "{err} should say {words:?}"
            );
        }
        assert_eq!(
            parse_envelope(&with("credits", json!(MAX_CREDITS)))
                .unwrap()
                .event
                .to_detail()["credits"],
            json!(MAX_CREDITS)
        );
    }

    #[test]
    fn a_replayed_event_carries_its_replay_name() {
        let mut v = envelope(
            "credits.granted",
            json!({"grant_id": "g", "account_id": "a", "credits": 1}),
        );
        assert_eq!(parse_envelope(&v).unwrap().replay_name, None);
        v["replay-name"] = json!("window-2026-11-30");
        assert_eq!(
            parse_envelope(&v).unwrap().replay_name.as_deref(),
            Some("window-2026-11-30")
        );
    }

    #[test]
    fn unparseable_json_is_invalid() {
        let err = parse_envelope_bytes(b"{not json").unwrap_err();
        assert_eq!(err.field, "$");
        assert!(err.to_string().contains("not valid JSON"));
        let err = parse_envelope_bytes(b"").unwrap_err();
        assert_eq!(err.field, "$");
    }

    #[test]
    fn id_length_counts_characters_not_bytes() {
        let ok = "é".repeat(MAX_ID_CHARS);
        let v = envelope(
            "credits.granted",
            json!({"grant_id": ok, "account_id": "a", "credits": 1}),
        );
        assert!(parse_envelope(&v).is_ok());
    }
}
