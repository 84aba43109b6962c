//! The unit tests' reading of a request, independent of how the adapter
//! builds it: a transaction item spelled out in plain words — which item,
//! what it writes, on which conditions — with every placeholder replaced by
//! the name or value it stands for. The tests compare that with what
//! ARCHITECTURE.md's table ("One transaction per event") says, written by
//! hand ([`guard`], [`absent`], the lists in each test), never with what the
//! adapter's own builders make: deleting a condition from the adapter fails
//! them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};

use super::keys::Item;

/// One transaction item, spelled out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spelled {
    /// `Put`, `Update` or `ConditionCheck`.
    pub(crate) op: &'static str,
    /// `pk / sk`.
    pub(crate) key: String,
    /// The conditions, each `name = value` (or as written), sorted.
    pub(crate) when: Vec<String>,
    /// What it writes, each `name = value`, sorted: a `Put`'s every
    /// attribute but its key, an `Update`'s `SET` actions.
    pub(crate) writes: Vec<String>,
    /// An `Update`'s `REMOVE` actions, sorted.
    pub(crate) removes: Vec<String>,
}

impl Spelled {
    /// Whether it writes each of `attributes` (`name = value`), besides
    /// whatever else.
    #[track_caller]
    pub(crate) fn assert_writes(&self, attributes: &[&str]) {
        for a in attributes {
            assert!(
                self.writes.iter().any(|w| w == a),
                "{} does not write {a}: {:?}",
                self.key,
                self.writes
            );
        }
    }
}

/// A value as the tests spell it: numbers bare, strings quoted, lists in
/// brackets.
pub(crate) fn value(v: &AttributeValue) -> String {
    match v {
        AttributeValue::N(n) => n.clone(),
        AttributeValue::S(s) => format!("{s:?}"),
        AttributeValue::Bool(b) => b.to_string(),
        AttributeValue::L(l) => format!("[{}]", l.iter().map(value).collect::<Vec<_>>().join(", ")),
        other => format!("{other:?}"),
    }
}

fn key_of(item: &Item) -> String {
    let part = |k: &str| match item.get(k) {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => "?".into(),
    };
    format!("{} / {}", part("pk"), part("sk"))
}

/// `text` with its placeholders replaced, longest first (`#held_at_ms`
/// before `#held`, `:v10` before `:v1`).
fn resolve(
    text: &str,
    names: Option<&HashMap<String, String>>,
    values: Option<&HashMap<String, AttributeValue>>,
) -> String {
    let mut pairs: Vec<(String, String)> = names
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .chain(
            values
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), value(v))),
        )
        .collect();
    pairs.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    pairs
        .iter()
        .fold(text.to_owned(), |t, (k, v)| t.replace(k.as_str(), v))
}

/// The clauses of a resolved expression joined by `separator` (outside
/// brackets and parentheses, so a list value stays whole), sorted.
fn clauses(resolved: Option<String>, separator: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in resolved.iter() {
        let (mut depth, mut start, mut i) = (0i32, 0, 0);
        while i < e.len() {
            match e.as_bytes()[i] {
                b'[' | b'(' => depth += 1,
                b']' | b')' => depth -= 1,
                _ => {}
            }
            if depth == 0 && e[i..].starts_with(separator) {
                out.push(e[start..i].trim().to_owned());
                i += separator.len();
                start = i;
                continue;
            }
            i += 1;
        }
        out.push(e[start..].trim().to_owned());
    }
    out.retain(|c| !c.is_empty());
    out.sort();
    out
}

/// An update expression's `SET` and `REMOVE` clauses, resolved.
fn update_clauses(resolved: &str) -> (Vec<String>, Vec<String>) {
    let (set, remove) = match resolved.split_once("REMOVE ") {
        Some((set, remove)) => (set, Some(remove)),
        None => (resolved, None),
    };
    let set = clauses(set.strip_prefix("SET ").map(str::to_owned), ", ");
    (set, clauses(remove.map(str::to_owned), ", "))
}

/// One transaction item, spelled out.
pub(crate) fn spell(item: &TransactWriteItem) -> Spelled {
    if let Some(p) = item.put() {
        let when = p.condition_expression().map(|c| {
            resolve(
                c,
                p.expression_attribute_names(),
                p.expression_attribute_values(),
            )
        });
        let mut writes: Vec<String> = p
            .item()
            .iter()
            .filter(|(k, _)| *k != "pk" && *k != "sk")
            .map(|(k, v)| format!("{k} = {}", value(v)))
            .collect();
        writes.sort();
        return Spelled {
            op: "Put",
            key: key_of(p.item()),
            when: clauses(when, " AND "),
            writes,
            removes: Vec::new(),
        };
    }
    if let Some(u) = item.update() {
        let names = u.expression_attribute_names();
        let values = u.expression_attribute_values();
        let when = u.condition_expression().map(|c| resolve(c, names, values));
        let (writes, removes) = update_clauses(&resolve(u.update_expression(), names, values));
        return Spelled {
            op: "Update",
            key: key_of(u.key()),
            when: clauses(when, " AND "),
            writes,
            removes,
        };
    }
    if let Some(c) = item.condition_check() {
        let when = resolve(
            c.condition_expression(),
            c.expression_attribute_names(),
            c.expression_attribute_values(),
        );
        return Spelled {
            op: "ConditionCheck",
            key: key_of(c.key()),
            when: clauses(Some(when), " AND "),
            writes: Vec::new(),
            removes: Vec::new(),
        };
    }
    panic!("a transaction item of an unexpected kind: {item:?}");
}

/// Every item of a transaction, spelled out, in order.
pub(crate) fn spell_all(items: &[TransactWriteItem]) -> Vec<Spelled> {
    items.iter().map(spell).collect()
}

/// The guard of an account write, as the table spells it: the whole
/// account as decided on — its format version, `seq`, every balance and
/// the overdraft count; an account never split has none of the attributes
/// of cells.
pub(crate) fn guard(
    seq: u64,
    [available, held, granted, debited, adjusted]: [i64; 5],
    overdrafts: u64,
) -> Vec<String> {
    let mut g = vec![
        "v <= 3".to_owned(),
        "(attribute_not_exists(transferred) OR transferred = 0)".to_owned(),
        "(attribute_not_exists(cells) OR cells <= 1)".to_owned(),
        "(attribute_not_exists(owing) OR owing = false)".to_owned(),
        format!("seq = {seq}"),
        format!("available = {available}"),
        format!("held = {held}"),
        format!("granted = {granted}"),
        format!("debited = {debited}"),
        format!("adjusted = {adjusted}"),
        format!("overdrafts = {overdrafts}"),
    ];
    g.sort();
    g
}

/// The condition of a new item: it must not exist.
pub(crate) fn absent() -> Vec<String> {
    vec!["attribute_not_exists(pk)".to_owned()]
}

/// Conditions given as written, sorted (for comparison with [`Spelled::when`]).
pub(crate) fn when(conditions: &[&str]) -> Vec<String> {
    let mut c: Vec<String> = conditions.iter().map(|s| (*s).to_owned()).collect();
    c.sort();
    c
}
