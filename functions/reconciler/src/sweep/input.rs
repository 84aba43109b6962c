//! What a sweep invocation may ask for.
//!
//! Three shapes are accepted (contract §5):
//! - `{}` (what the schedule rule sends), or an empty / `null` payload;
//! - the EventBridge scheduled event itself (`"detail-type": "Scheduled Event"`),
//!   should a rule ever send the whole envelope;
//! - the manual `{"older_than_seconds": N, "dry_run": true|false}`, both optional.
//!
//! Anything else is refused with the field named. Unknown options are refused
//! too: a misspelt `"dryrun": true` must not turn into a real run.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

/// The longest `older_than_seconds` accepted: ten years.
pub const MAX_OLDER_THAN_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// The detail-type of EventBridge scheduled events.
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// How the sweep was started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// `{}` or options: a manual invoke (or the schedule rule's constant input).
    #[default]
    Invoke,
    /// An EventBridge scheduled event envelope.
    Schedule,
}

/// One sweep's options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepInput {
    /// A HELD job older than this is a straggler; `None`: the stage's hold timeout.
    pub older_than_seconds: Option<u64>,
    /// Find and report only; write nothing at all.
    pub dry_run: bool,
    pub trigger: Trigger,
}

/// Why a payload was refused. `field` is the offending field (`$`: the whole payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInput {
    pub field: String,
    pub problem: String,
}

impl InvalidInput {
    /// The error type reported to Lambda.
    pub const ERROR_TYPE: &'static str = "InvalidInput";

    fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        InvalidInput {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid sweep input: field `{}` {}",
            self.field, self.problem
        )
    }
}

impl std::error::Error for InvalidInput {}

const EXPECTED: &str = "expected {}, an EventBridge scheduled event, or \
                        {\"older_than_seconds\": N, \"dry_run\": true|false}";

/// Parses a raw invocation payload.
pub fn parse_input(raw: &str) -> Result<SweepInput, InvalidInput> {
    if raw.trim().is_empty() {
        return Ok(SweepInput::default());
    }
    let value: Value = serde_json::from_str(raw)
        .map_err(|e| InvalidInput::new("$", format!("is not valid JSON ({e}); {EXPECTED}")))?;
    let object = match value {
        Value::Null => return Ok(SweepInput::default()),
        Value::Object(object) => object,
        other => {
            return Err(InvalidInput::new(
                "$",
                format!("is {}, not an object; {EXPECTED}", kind(&other)),
            ));
        }
    };
    if let Some(detail_type) = object.get("detail-type") {
        return match detail_type.as_str() {
            Some(SCHEDULED_EVENT) => Ok(SweepInput {
                trigger: Trigger::Schedule,
                ..SweepInput::default()
            }),
            _ => Err(InvalidInput::new(
                "detail-type",
                format!("is {detail_type}; the sweep accepts only {SCHEDULED_EVENT:?} events"),
            )),
        };
    }
    let mut input = SweepInput::default();
    for (field, value) in &object {
        match field.as_str() {
            "older_than_seconds" => {
                let seconds = value
                    .as_u64()
                    .filter(|s| *s <= MAX_OLDER_THAN_SECONDS)
                    .ok_or_else(|| {
                        InvalidInput::new(
                            field,
                            format!(
                                "must be an integer from 0 to {MAX_OLDER_THAN_SECONDS}, got {value}"
                            ),
                        )
                    })?;
                input.older_than_seconds = Some(seconds);
            }
            "dry_run" => {
                input.dry_run = value.as_bool().ok_or_else(|| {
                    InvalidInput::new(field, format!("must be true or false, got {value}"))
                })?;
            }
            _ => {
                return Err(InvalidInput::new(
                    field,
                    "is not a sweep option (the options are older_than_seconds and dry_run)",
                ));
            }
        }
    }
    Ok(input)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> SweepInput {
        parse_input(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    fn refused(raw: &str) -> InvalidInput {
        match parse_input(raw) {
            Ok(input) => panic!("{raw} was accepted as {input:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn empty_and_default_payloads_use_the_stage_defaults() {
        for raw in ["{}", "", "  ", "null", " { } "] {
            assert_eq!(ok(raw), SweepInput::default(), "{raw:?}");
        }
    }

    #[test]
    fn the_scheduled_event_envelope_is_accepted() {
        let raw = r#"{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type":"Scheduled Event","source":"aws.events","account":"123456789012",
            "time":"2026-11-29T00:00:00Z","region":"us-east-1",
            "resources":["arn:aws:events:us-east-1:123456789012:rule/cc-agent-reconciler-dev-sweep-schedule"],
            "detail":{}}"#;
        assert_eq!(
            ok(raw),
            SweepInput {
                trigger: Trigger::Schedule,
                ..SweepInput::default()
            }
        );
        let other = refused(r#"{"detail-type":"video.rendered","detail":{}}"#);
        assert_eq!(other.field, "detail-type");
        assert!(other.problem.contains("video.rendered"), "{other}");
    }

    #[test]
    fn manual_options() {
        assert_eq!(
            ok(r#"{"older_than_seconds": 0, "dry_run": true}"#),
            SweepInput {
                older_than_seconds: Some(0),
                dry_run: true,
                trigger: Trigger::Invoke,
            }
        );
        assert_eq!(
            ok(r#"{"older_than_seconds": 3600}"#).older_than_seconds,
            Some(3600)
        );
        assert_eq!(ok(r#"{"dry_run": false}"#), SweepInput::default());
        assert_eq!(
            ok(&format!(
                r#"{{"older_than_seconds": {MAX_OLDER_THAN_SECONDS}}}"#
            ))
            .older_than_seconds,
            Some(MAX_OLDER_THAN_SECONDS)
        );
    }

    #[test]
    fn bad_input_names_the_field() {
        let cases = [
            (r#"{"older_than_seconds": -1}"#, "older_than_seconds"),
            (r#"{"older_than_seconds": 1.5}"#, "older_than_seconds"),
            (r#"{"older_than_seconds": "60"}"#, "older_than_seconds"),
            (r#"{"older_than_seconds": null}"#, "older_than_seconds"),
            (r#"{"older_than_seconds": 315360001}"#, "older_than_seconds"),
            (r#"{"dry_run": "yes"}"#, "dry_run"),
            (r#"{"dry_run": 1}"#, "dry_run"),
            (r#"{"dryrun": true}"#, "dryrun"),
            (r#"{"older_than_seconds": 5, "extra": 1}"#, "extra"),
            ("[1]", "$"),
            ("42", "$"),
            ("\"{}\"", "$"),
            ("{oops", "$"),
        ];
        for (raw, field) in cases {
            let e = refused(raw);
            assert_eq!(e.field, field, "{raw}: {e}");
            assert!(e.to_string().contains(&format!("`{field}`")), "{e}");
        }
    }
}
