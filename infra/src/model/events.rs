//! `AWS::Events::EventBus`, `AWS::Events::Rule` and `AWS::Events::Archive`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Expr;

/// `AWS::Events::EventBus`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventBus {
    /// The bus name.
    pub name: Expr,
    /// The bus's resource policy, all of it (one document, set at once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::model::iam::PolicyDocument>,
}

/// `AWS::Events::Rule`: an event pattern on a bus, or a schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Rule {
    /// The rule name.
    pub name: Expr,
    /// What the rule is for.
    pub description: String,
    /// The bus; `None`: the account's default bus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_bus_name: Option<Expr>,
    /// Which events match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_pattern: Option<EventPattern>,
    /// A `rate(...)` or `cron(...)` expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_expression: Option<String>,
    /// Whether the rule delivers.
    pub state: RuleState,
    /// Where matching events go.
    pub targets: Vec<Target>,
}

/// `State` of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RuleState {
    /// Delivering.
    Enabled,
    /// Not delivering.
    Disabled,
}

/// An event pattern: the fields it matches on (all must match), or any of
/// several patterns (`$or`). An empty field matches anything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EventPattern {
    /// The sources that match (any of the matchers).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<Matcher>,
    /// The detail-types that match (any of the matchers).
    #[serde(rename = "detail-type", skip_serializing_if = "Vec::is_empty")]
    pub detail_type: Vec<Matcher>,
    /// `replay-name`, the field EventBridge adds to a replayed event: empty,
    /// any event; `[Exists(true)]`, replayed events only.
    #[serde(rename = "replay-name", skip_serializing_if = "Vec::is_empty")]
    pub replay_name: Vec<Matcher>,
    /// A pattern on `detail`, field by field (sorted: the JSON is the same
    /// whatever `serde_json`'s map order in this build); a value may hold
    /// intrinsics.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub detail: BTreeMap<String, serde_json::Value>,
    /// `$or`: the event matches if it matches any of these.
    #[serde(rename = "$or", skip_serializing_if = "Vec::is_empty")]
    pub any_of: Vec<EventPattern>,
}

/// Exact-match matchers for these values.
fn exactly(values: &[&str]) -> Vec<Matcher> {
    values
        .iter()
        .map(|value| Matcher::Exactly((*value).to_owned()))
        .collect()
}

impl EventPattern {
    /// Matches exactly these detail-types.
    pub fn detail_types(names: &[&str]) -> Self {
        Self {
            detail_type: exactly(names),
            ..Self::default()
        }
    }

    /// Matches every detail-type but these.
    pub fn detail_types_except(names: &[&str]) -> Self {
        Self {
            detail_type: vec![Matcher::AnythingBut(
                names.iter().map(|name| (*name).to_owned()).collect(),
            )],
            ..Self::default()
        }
    }

    /// Matches replayed events of exactly this detail-type (never a live
    /// one: only a replay adds `replay-name`).
    pub fn replays_of(name: &str) -> Self {
        Self {
            detail_type: exactly(&[name]),
            replay_name: vec![Matcher::Exists(true)],
            ..Self::default()
        }
    }

    /// Matches every event (every event has a `source`, and every string
    /// starts with the empty prefix).
    pub fn everything() -> Self {
        Self {
            source: vec![Matcher::Prefix(String::new())],
            ..Self::default()
        }
    }

    /// The pattern, matching only events from these sources too.
    pub fn from_sources(mut self, sources: &[&str]) -> Self {
        self.source = exactly(sources);
        self
    }

    /// Matches events matching any of `patterns`; one pattern is itself.
    ///
    /// # Panics
    /// If `patterns` is empty (a pattern must match something).
    pub fn any_of(mut patterns: Vec<EventPattern>) -> Self {
        assert!(!patterns.is_empty(), "an $or of no pattern matches nothing");
        if patterns.len() == 1 {
            return patterns.remove(0);
        }
        Self {
            any_of: patterns,
            ..Self::default()
        }
    }

    /// The pattern as compact JSON text (what `AWS::Events::Archive` gets:
    /// the local emulator fails on an object there).
    ///
    /// # Panics
    /// Never: a pattern always serializes.
    pub fn to_json_text(&self) -> String {
        serde_json::to_string(self).expect("a pattern serializes")
    }
}

/// One matcher of a pattern field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matcher {
    /// The value is exactly this string.
    Exactly(String),
    /// `{"anything-but": [...]}`: the value is none of these strings.
    AnythingBut(Vec<String>),
    /// `{"exists": …}`: the field is there (or not).
    Exists(bool),
    /// `{"prefix": …}`: the value starts with this.
    Prefix(String),
}

impl Serialize for Matcher {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Self::Exactly(value) => serializer.serialize_str(value),
            Self::AnythingBut(values) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("anything-but", values)?;
                map.end()
            }
            Self::Exists(exists) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("exists", exists)?;
                map.end()
            }
            Self::Prefix(prefix) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("prefix", prefix)?;
                map.end()
            }
        }
    }
}

/// `AWS::Events::Archive`: events of a bus kept for replay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Archive {
    /// The archive name (at most 48 characters).
    pub archive_name: Expr,
    /// What is archived.
    pub description: String,
    /// The bus's ARN.
    pub source_arn: Expr,
    /// Which events are kept, as JSON text (the local emulator fails on an
    /// object here); `None`: every event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_pattern: Option<String>,
    /// Days events are kept (0: forever; not used here).
    pub retention_days: u32,
    /// The customer managed key encrypting the archive; `None`: an AWS owned key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_identifier: Option<Expr>,
}

/// One of a rule's `Targets`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    /// Unique within the rule.
    pub id: String,
    /// The target's ARN.
    pub arn: Expr,
    /// A constant JSON text sent instead of the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// A text built from the event instead of the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_transformer: Option<InputTransformer>,
    /// How long and how often EventBridge retries a failed delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    /// Where undeliverable events go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_config: Option<DeadLetterConfig>,
}

/// `InputTransformer` of a target: `<name>` placeholders of the template
/// filled from the event's JSON paths.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InputTransformer {
    /// Placeholder name → JSON path in the event (`$.detail.eventName`).
    pub input_paths_map: std::collections::BTreeMap<String, String>,
    /// The text sent (for an SNS target, a JSON string: quoted).
    pub input_template: Expr,
}

/// `RetryPolicy` of a target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetryPolicy {
    /// Retries after the first attempt (0–185).
    pub maximum_retry_attempts: u32,
    /// Age after which an event is no longer retried (60–86400 s).
    pub maximum_event_age_in_seconds: u32,
}

/// `DeadLetterConfig` of a target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterConfig {
    /// The SQS queue's ARN.
    pub arn: Expr,
}
