//! DynamoDB expressions, built with placeholders for every name and value.
//!
//! The local emulator accepts expressions AWS refuses (chained arithmetic,
//! arithmetic in conditions); [`assert_aws_grammar`] checks what we build
//! against AWS's rules so a unit test catches what the emulator would not.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use reconciler_core::ledger::{Job, JobStatus};

use super::items::{OPEN_HELD, held_open_key};

/// A condition expression under construction: `(expression, names)`, values.
pub struct Expr {
    parts: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

pub type Condition = (String, HashMap<String, String>);

impl Expr {
    pub fn new() -> Self {
        Expr {
            parts: Vec::new(),
            names: HashMap::new(),
            values: HashMap::new(),
        }
    }

    fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#{attr}");
        self.names.insert(placeholder.clone(), attr.into());
        placeholder
    }

    /// `attribute_not_exists(attr)`.
    pub fn condition_absent(mut self, attr: &str) -> Self {
        let n = self.name(attr);
        self.parts.push(format!("attribute_not_exists({n})"));
        self
    }

    /// `attr = value` (a number).
    pub fn condition_eq(mut self, attr: &str, value: i64) -> Self {
        let n = self.name(attr);
        let v = format!(":{attr}");
        self.values
            .insert(v.clone(), AttributeValue::N(value.to_string()));
        self.parts.push(format!("{n} = {v}"));
        self
    }

    /// The expression (conjunction), its names, and its values (`None` if there are none:
    /// DynamoDB refuses an empty value map).
    pub fn into_parts(self) -> (Condition, Option<HashMap<String, AttributeValue>>) {
        let values = (!self.values.is_empty()).then_some(self.values);
        ((self.parts.join(" AND "), self.names), values)
    }
}

impl Default for Expr {
    fn default() -> Self {
        Expr::new()
    }
}

/// An update of a job item from one status to another.
pub struct JobUpdate {
    pub update: String,
    pub condition: String,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

/// Moves an existing job from `before` to `after`: conditioned on the job still
/// being in `before`'s status and account; sets what changed; leaves the HELD
/// index when the hold ends.
pub fn job_transition(before: &Job, after: &Job, now_ms: i64) -> JobUpdate {
    assert_eq!(before.job_id, after.job_id);
    assert_ne!(
        before.status, after.status,
        "a transition changes the status"
    );
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let mut set = Vec::new();
    let mut n = |attr: &str| {
        let p = format!("#{attr}");
        names.insert(p.clone(), attr.to_string());
        p
    };
    let mut sets: Vec<(&str, AttributeValue)> = vec![
        ("status", AttributeValue::S(after.status.as_str().into())),
        ("updated_at_ms", AttributeValue::N(now_ms.to_string())),
    ];
    let optional = [
        ("requested", before.requested, after.requested),
        ("hold", before.hold, after.hold),
        ("debited", before.debited, after.debited),
    ];
    for (attr, was, is) in optional {
        if was != is
            && let Some(v) = is
        {
            sets.push((attr, AttributeValue::N(v.to_string())));
        }
    }
    if before.reason != after.reason
        && let Some(r) = &after.reason
    {
        sets.push(("reason", AttributeValue::S(r.clone())));
    }
    if after.status == JobStatus::Held {
        sets.push(("held_at_ms", AttributeValue::N(now_ms.to_string())));
        sets.push(("open_kind", AttributeValue::S(OPEN_HELD.into())));
        sets.push((
            "open_key",
            AttributeValue::S(held_open_key(now_ms, &after.job_id)),
        ));
    }
    for (attr, value) in sets {
        let p = n(attr);
        let v = format!(":{attr}");
        set.push(format!("{p} = {v}"));
        values.insert(v, value);
    }
    let mut update = format!("SET {}", set.join(", "));
    if before.status == JobStatus::Held {
        update.push_str(&format!(" REMOVE {}, {}", n("open_kind"), n("open_key")));
    }
    let condition = format!(
        "{} = :expected_status AND {} = :account",
        n("status"),
        n("account_id")
    );
    values.insert(
        ":expected_status".into(),
        AttributeValue::S(before.status.as_str().into()),
    );
    values.insert(
        ":account".into(),
        AttributeValue::S(before.account_id.clone()),
    );
    JobUpdate {
        update,
        condition,
        names,
        values,
    }
}

/// Panics if a write does not follow DynamoDB's grammar as AWS enforces it:
/// every name and value through a placeholder, every placeholder used and
/// defined, at most one `+`/`-` per SET action, no arithmetic in conditions,
/// no path updated twice.
pub fn assert_aws_grammar(item: &TransactWriteItem) {
    let (update, condition, names, values) = if let Some(p) = item.put() {
        (
            None,
            p.condition_expression(),
            p.expression_attribute_names(),
            p.expression_attribute_values(),
        )
    } else if let Some(u) = item.update() {
        (
            Some(u.update_expression()),
            u.condition_expression(),
            u.expression_attribute_names(),
            u.expression_attribute_values(),
        )
    } else if let Some(c) = item.condition_check() {
        (
            None,
            Some(c.condition_expression()),
            c.expression_attribute_names(),
            c.expression_attribute_values(),
        )
    } else {
        panic!("unexpected write {item:?}")
    };
    let names = names.cloned().unwrap_or_default();
    let values = values.cloned().unwrap_or_default();
    let text = format!("{} {}", update.unwrap_or(""), condition.unwrap_or(""));
    let tokens: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '#' || c == ':'))
        .filter(|t| !t.is_empty())
        .collect();
    const KEYWORDS: [&str; 6] = [
        "SET",
        "REMOVE",
        "AND",
        "attribute_not_exists",
        "attribute_exists",
        "OR",
    ];
    for t in &tokens {
        if t.starts_with('#') {
            assert!(
                names.contains_key(*t),
                "name {t} is not defined in {text:?}"
            );
        } else if t.starts_with(':') {
            assert!(
                values.contains_key(*t),
                "value {t} is not defined in {text:?}"
            );
        } else {
            assert!(
                KEYWORDS.contains(t),
                "bare word {t:?} (attribute names go through placeholders) in {text:?}"
            );
        }
    }
    for placeholder in names.keys().chain(values.keys()) {
        assert!(
            tokens.contains(&placeholder.as_str()),
            "placeholder {placeholder} defined but unused in {text:?}"
        );
    }
    if let Some(cond) = condition {
        assert!(
            !cond.contains('+') && !cond.contains(" - "),
            "arithmetic in a condition: {cond:?}"
        );
    }
    if let Some(update) = update {
        let mut paths = Vec::new();
        for clause in update.split(" REMOVE ") {
            let clause = clause.trim_start_matches("SET ");
            for action in clause.split(", ") {
                let (path, value) = action.split_once(" = ").unwrap_or((action, ""));
                let ops = value.matches(" + ").count() + value.matches(" - ").count();
                assert!(ops <= 1, "chained arithmetic in {action:?}");
                assert!(
                    !paths.contains(&path),
                    "path {path} updated twice in {update:?}"
                );
                paths.push(path);
            }
        }
    }
}
