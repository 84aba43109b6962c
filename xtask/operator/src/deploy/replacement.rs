//! Which resources a deploy replaces, found from the templates themselves
//! and the resource provider schemas ([`super::schemas`]), not only from
//! what the change set says: an emulator gives no replacement details (and,
//! for a change of parameters only, may list nothing at all), and AWS says
//! `Conditional` where the cause can be named.
//!
//! A resource is replaced when its type changes, or when one of its
//! `createOnlyProperties` changes (`conditionalCreateOnlyProperties`: it may
//! be). Values are compared with each side's parameters resolved (`Ref`,
//! `${Name}` in `Fn::Sub`), so a parameter that flows into a create-only
//! property is named as the cause. A create-only property that refers to a
//! replaced resource (`Ref`, `Fn::GetAtt`, `${X.Arn}`) changes with it: the
//! archive follows the bus whose ARN it names. Pure, unit-tested.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::changes::{effective_parameters, resolve};
use super::schemas;
use crate::cfn::change_set::Replacement;

/// Why a resource is replaced, and how surely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// `True` or `Conditional`.
    pub replacement: Replacement,
    /// The property that causes it, e.g. `Name a -> b (parameter EventBusName)`.
    pub why: String,
}

/// `True` outranks `Conditional`.
fn strength(r: Replacement) -> u8 {
    match r {
        Replacement::True => 2,
        Replacement::Conditional => 1,
        Replacement::False => 0,
    }
}

/// The weaker of two.
fn weaker(a: Replacement, b: Replacement) -> Replacement {
    if strength(a) <= strength(b) { a } else { b }
}

/// Every name a value refers to: `Ref`, `Fn::GetAtt`'s resource, `${X}` and
/// `${X.Attr}` in `Fn::Sub` (parameters and resources alike).
pub(super) fn references(value: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    collect(value, &mut found);
    found
}

fn collect(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("Ref", Value::String(name)) => {
                        found.insert(name.clone());
                    }
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        if let Some(Value::String(name)) = parts.first() {
                            found.insert(name.clone());
                        }
                    }
                    ("Fn::GetAtt", Value::String(dotted)) => {
                        found.insert(dotted.split('.').next().unwrap_or_default().to_owned());
                    }
                    ("Fn::Sub", sub) => {
                        let text = sub
                            .as_str()
                            .or_else(|| sub.get(0).and_then(Value::as_str))
                            .unwrap_or_default();
                        found.extend(sub_names(text));
                        if let Some(vars) = sub.get(1) {
                            collect(vars, found);
                        }
                    }
                    _ => collect(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, found)),
        _ => {}
    }
}

/// `${Name}` and `${Name.Attr}` of an `Fn::Sub` string (not `${!Literal}`).
fn sub_names(text: &str) -> Vec<String> {
    text.split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .filter(|name| !name.starts_with('!'))
        .map(|name| name.split('.').next().unwrap_or_default().to_owned())
        .collect()
}

/// The value at `path` below `Properties`.
fn at<'a>(properties: &'a Value, path: &[String]) -> &'a Value {
    path.iter().fold(properties, |v, key| &v[key.as_str()])
}

fn brief(value: &Value) -> String {
    match value {
        Value::Null => "(none)".to_owned(),
        Value::String(s) => s.clone(),
        other => crate::base::ui::clip(&other.to_string(), 80),
    }
}

/// Both sides of a comparison: a template and its parameter values.
struct Side<'a> {
    template: &'a Value,
    params: BTreeMap<String, String>,
}

/// The resources replaced going from the deployed template (with its
/// parameters) to the new one: logical id → evidence.
pub fn replacements(
    deployed_template: &Value,
    deployed_parameters: &BTreeMap<String, String>,
    template: &Value,
    parameters: &BTreeMap<String, String>,
) -> BTreeMap<String, Evidence> {
    let old = Side {
        template: deployed_template,
        params: effective_parameters(deployed_template, deployed_parameters),
    };
    let new = Side {
        template,
        params: effective_parameters(template, parameters),
    };
    let changed: BTreeSet<String> = new
        .params
        .iter()
        .filter(|(name, value)| old.params.get(*name) != Some(value))
        .map(|(name, _)| name.clone())
        .collect();
    let mut found: BTreeMap<String, Evidence> = BTreeMap::new();
    // Each round may find resources that follow ones found in the last.
    loop {
        let before = found.clone();
        for (id, resource) in template["Resources"].as_object().into_iter().flatten() {
            if let Some(evidence) = replaced(id, resource, &old, &new, &changed, &before)
                && found
                    .get(id)
                    .is_none_or(|e| strength(evidence.replacement) > strength(e.replacement))
            {
                found.insert(id.clone(), evidence);
            }
        }
        if found == before {
            return found;
        }
    }
}

/// Whether `id` is replaced, given the resources already known to be.
fn replaced(
    id: &str,
    resource: &Value,
    old: &Side<'_>,
    new: &Side<'_>,
    changed: &BTreeSet<String>,
    known: &BTreeMap<String, Evidence>,
) -> Option<Evidence> {
    let deployed = &old.template["Resources"][id];
    let (old_type, new_type) = (deployed["Type"].as_str()?, resource["Type"].as_str()?);
    if old_type != new_type {
        return Some(Evidence {
            replacement: Replacement::True,
            why: format!("type {old_type} -> {new_type}"),
        });
    }
    let schema = schemas::of(new_type)?;
    let kinds = [
        (&schema.create_only, Replacement::True),
        (&schema.conditional_create_only, Replacement::Conditional),
    ];
    let mut best: Option<Evidence> = None;
    for (paths, kind) in kinds {
        for path in paths {
            let raw = at(&resource["Properties"], path);
            let Some(evidence) =
                property_change(path, raw, deployed, old, new, changed, known, kind)
            else {
                continue;
            };
            if best
                .as_ref()
                .is_none_or(|b| strength(evidence.replacement) > strength(b.replacement))
            {
                best = Some(evidence);
            }
        }
    }
    best
}

/// Whether the property at `path` changes (or follows a replaced resource).
#[allow(clippy::too_many_arguments)]
fn property_change(
    path: &[String],
    raw: &Value,
    deployed: &Value,
    old: &Side<'_>,
    new: &Side<'_>,
    changed: &BTreeSet<String>,
    known: &BTreeMap<String, Evidence>,
    kind: Replacement,
) -> Option<Evidence> {
    let name = path.join(".");
    let before = resolve(at(&deployed["Properties"], path), &old.params);
    let after = resolve(raw, &new.params);
    let names = references(raw);
    if before != after {
        let via: Vec<&str> = names
            .iter()
            .filter(|n| changed.contains(*n))
            .map(String::as_str)
            .collect();
        let cause = match via.as_slice() {
            [] => String::new(),
            [one] => format!(" (parameter {one})"),
            many => format!(" (parameters {})", many.join(", ")),
        };
        return Some(Evidence {
            replacement: kind,
            why: format!("{name} {} -> {}{cause}", brief(&before), brief(&after)),
        });
    }
    let (target, evidence) = names
        .iter()
        .filter_map(|n| known.get(n).map(|e| (n, e)))
        .max_by_key(|(_, e)| strength(e.replacement))?;
    Some(Evidence {
        replacement: weaker(kind, evidence.replacement),
        why: format!("{name} names {target}, which is replaced"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A bus named by a parameter, a rule on it, an archive of it, a
    /// function that is not touched, and a table named by another parameter.
    fn stack() -> Value {
        json!({
            "Parameters": {"EventBusName": {"Type": "String", "Default": "bus"},
                           "TableSuffix": {"Type": "String", "Default": "_dev"}},
            "Resources": {
                "EventBus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": {"Ref": "EventBusName"}}},
                "Rule": {"Type": "AWS::Events::Rule", "Properties": {
                    "Name": "ledger-events", "EventBusName": {"Ref": "EventBus"}}},
                "Archive": {"Type": "AWS::Events::Archive", "Properties": {
                    "ArchiveName": "archive", "SourceArn": {"Fn::GetAtt": ["EventBus", "Arn"]}}},
                "Handler": {"Type": "AWS::Lambda::Function", "Properties": {
                    "FunctionName": "handler", "MemorySize": 256}},
                "Permission": {"Type": "AWS::Lambda::Permission", "Properties": {
                    "FunctionName": {"Ref": "Handler"}, "Action": "lambda:InvokeFunction",
                    "Principal": "events.amazonaws.com", "SourceArn": {"Fn::Sub": "${Rule.Arn}"}}},
                "LedgerTable": {"Type": "AWS::DynamoDB::Table", "Properties": {
                    "TableName": {"Fn::Sub": "ledger${TableSuffix}"},
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}},
            }
        })
    }

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn renaming_the_bus_replaces_it_and_what_names_it() {
        let t = stack();
        let found = replacements(&t, &params(&[]), &t, &params(&[("EventBusName", "other")]));
        let expected = BTreeMap::from([
            (
                "EventBus".to_owned(),
                Evidence {
                    replacement: Replacement::True,
                    why: "Name bus -> other (parameter EventBusName)".to_owned(),
                },
            ),
            (
                "Archive".to_owned(),
                Evidence {
                    replacement: Replacement::True,
                    why: "SourceArn names EventBus, which is replaced".to_owned(),
                },
            ),
            (
                "Rule".to_owned(),
                Evidence {
                    replacement: Replacement::Conditional,
                    why: "EventBusName names EventBus, which is replaced".to_owned(),
                },
            ),
            (
                "Permission".to_owned(),
                Evidence {
                    replacement: Replacement::Conditional,
                    why: "SourceArn names Rule, which is replaced".to_owned(),
                },
            ),
        ]);
        assert_eq!(found, expected);
    }

    #[test]
    fn nothing_is_replaced_by_the_same_values_or_a_mutable_property() {
        let t = stack();
        assert!(replacements(&t, &params(&[]), &t, &params(&[])).is_empty());
        // The same name through a parameter instead of its default.
        assert!(replacements(&t, &params(&[("TableSuffix", "_dev")]), &t, &params(&[])).is_empty());
        let mut bigger = t.clone();
        bigger["Resources"]["Handler"]["Properties"]["MemorySize"] = json!(512);
        assert!(replacements(&t, &params(&[]), &bigger, &params(&[])).is_empty());
    }

    #[test]
    fn names_keys_and_types_replace_a_table() {
        let t = stack();
        let renamed = replacements(&t, &params(&[]), &t, &params(&[("TableSuffix", "_x")]));
        assert_eq!(
            renamed["LedgerTable"].why,
            "TableName ledger_dev -> ledger_x (parameter TableSuffix)"
        );
        assert_eq!(renamed["LedgerTable"].replacement, Replacement::True);
        let mut rekeyed = t.clone();
        rekeyed["Resources"]["LedgerTable"]["Properties"]["KeySchema"][0]["AttributeName"] =
            json!("id");
        let found = replacements(&t, &params(&[]), &rekeyed, &params(&[]));
        assert_eq!(found["LedgerTable"].replacement, Replacement::Conditional);
        assert!(
            found["LedgerTable"].why.starts_with("KeySchema "),
            "{found:?}"
        );
        let mut retyped = t.clone();
        retyped["Resources"]["LedgerTable"]["Type"] = json!("AWS::SNS::Topic");
        let found = replacements(&t, &params(&[]), &retyped, &params(&[]));
        assert_eq!(
            found["LedgerTable"].why,
            "type AWS::DynamoDB::Table -> AWS::SNS::Topic"
        );
    }

    #[test]
    fn references_are_read_from_every_intrinsic() {
        let value = json!({"A": {"Ref": "P"}, "B": {"Fn::GetAtt": "Bus.Arn"},
            "C": {"Fn::Sub": ["${X.Arn}/${Y}/${!Literal}", {"Y": {"Ref": "Q"}}]}});
        assert_eq!(
            references(&value),
            BTreeSet::from(["P", "Bus", "X", "Y", "Q"].map(str::to_owned))
        );
    }
}
