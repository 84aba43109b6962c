//! Whether the alarm's SNS action ran, from its history items (pure).

use aws_sdk_cloudwatch::types::StateValue;
use serde_json::Value;

use crate::models::alarms::ActionRecord;

/// Whether the alarm's SNS action ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionVerdict {
    /// A publish to the topic succeeded at this time, for the ALARM transition.
    Ran {
        /// When.
        at_ms: i64,
    },
    /// The publish to the topic failed: why.
    Failed(String),
    /// No action on the topic since the run started.
    NotYet,
}

/// Decides from the alarm's `Action` history items whether its SNS action
/// published to `topic_arn` at or after `since_ms` for a transition to
/// ALARM (pure). A success wins over a failure (the action may have been
/// retried); an item about another topic, or before the run, does not count.
pub fn sns_action_verdict(items: &[ActionRecord], topic_arn: &str, since_ms: i64) -> ActionVerdict {
    let mut failure = None;
    let mut ran = None;
    for item in items.iter().filter(|i| i.at_ms >= since_ms) {
        let data: Option<Value> = item
            .data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok());
        let resource = data
            .as_ref()
            .and_then(|d| d["notificationResource"].as_str())
            .map(str::to_owned);
        let about_topic = match &resource {
            Some(r) => r == topic_arn,
            None => item.summary.contains(topic_arn),
        };
        if !about_topic {
            continue;
        }
        let state = data
            .as_ref()
            .and_then(|d| d["actionState"].as_str())
            .map(str::to_owned);
        let succeeded = match state.as_deref() {
            Some(s) => s == "Succeeded",
            None => item.summary.starts_with("Successfully executed action"),
        };
        // The message it published: a transition to ALARM (an OK transition
        // notifies the topic too).
        let new_state = data
            .as_ref()
            .and_then(|d| d["publishedMessage"].as_str())
            .and_then(|m| serde_json::from_str::<Value>(m).ok())
            .and_then(|m| {
                let inner = m
                    .get("default")
                    .and_then(Value::as_str)
                    .and_then(|s| serde_json::from_str::<Value>(s).ok())
                    .unwrap_or(m);
                inner["NewStateValue"].as_str().map(str::to_owned)
            });
        if new_state
            .as_deref()
            .is_some_and(|s| s != StateValue::Alarm.as_str())
        {
            continue;
        }
        if succeeded {
            ran = Some(ran.map_or(item.at_ms, |at: i64| at.min(item.at_ms)));
        } else {
            let error = data
                .as_ref()
                .and_then(|d| d["error"].as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| item.summary.clone());
            failure = Some(error);
        }
    }
    match (ran, failure) {
        (Some(at_ms), _) => ActionVerdict::Ran { at_ms },
        (None, Some(error)) => ActionVerdict::Failed(error),
        (None, None) => ActionVerdict::NotYet,
    }
}
