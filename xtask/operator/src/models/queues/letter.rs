//! The two shapes of dead letter, told apart ([`classify`]):
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
//! again, page again and come back). Pure: a function of the body and the
//! message attributes.

use std::collections::BTreeMap;
use std::time::Duration;

use reconciler_core::event::{DETAIL_TYPES, InvalidEvent, parse_envelope};
use serde_json::{Value, json};

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
    /// A business event (one of contract §2's detail-types): put it back on the bus.
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
    pub sent_at_ms: Option<i64>,
    /// The raw body.
    pub body: String,
    /// What it is.
    pub classification: Classification,
}

impl DeadLetter {
    /// Its age at `now_ms`, if its send time is known.
    pub fn age(&self, now_ms: i64) -> Option<Duration> {
        self.sent_at_ms
            .map(|sent| crate::base::when::age(sent, now_ms))
    }

    /// The machine-readable form `list --json` prints.
    pub fn to_json(&self, now_ms: i64) -> Value {
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
}
