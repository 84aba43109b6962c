//! Property-level changes of an update: for each modified resource, the
//! paths whose values change, old → new. Two sources: the templates
//! themselves (the deployed one with its parameters against the new one with
//! its parameters, a `Ref` to a parameter resolved to its value), always
//! there; and the change set's own details (`IncludePropertyValues`), which
//! AWS gives and an emulator does not, and which also know values
//! CloudFormation resolves itself. Pure functions, unit-tested.

use std::collections::BTreeMap;

use serde_json::Value;

use super::changes::{effective_parameters, resolve};
use crate::cfn::change_set::Detail;

/// One property that changes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PropertyChange {
    /// `Properties.Environment.Variables.LOG_LEVEL`, `DeletionPolicy`, …
    pub path: String,
    /// The deployed value (`None`: absent).
    pub old: Option<String>,
    /// The new value (`None`: removed).
    pub new: Option<String>,
}

/// The longest value shown; longer ones are cut with `…`.
const SHOWN: usize = 120;

/// The changed properties of every resource present in both templates,
/// by logical id (resources without changes are left out).
pub fn from_templates(
    deployed_template: &Value,
    deployed_parameters: &BTreeMap<String, String>,
    template: &Value,
    parameters: &BTreeMap<String, String>,
) -> BTreeMap<String, Vec<PropertyChange>> {
    let old_params = effective_parameters(deployed_template, deployed_parameters);
    let new_params = effective_parameters(template, parameters);
    let mut out = BTreeMap::new();
    let Some(resources) = template["Resources"].as_object() else {
        return out;
    };
    for (id, new) in resources {
        let Some(old) = deployed_template["Resources"].get(id) else {
            continue;
        };
        let old = without_type(&resolve(old, &old_params));
        let new = without_type(&resolve(new, &new_params));
        let mut changes = Vec::new();
        compare("", &old, &new, &mut changes);
        if !changes.is_empty() {
            out.insert(id.clone(), changes);
        }
    }
    out
}

/// A resource without its `Type` (a type change is a replacement, shown as
/// such, not as a property).
fn without_type(resource: &Value) -> Value {
    let mut resource = resource.clone();
    if let Some(map) = resource.as_object_mut() {
        map.remove("Type");
    }
    resource
}

/// Whether a value is an intrinsic function (`{"Ref": …}`, `{"Fn::…": …}`):
/// compared whole, never descended into.
pub(super) fn is_intrinsic(value: &Value) -> bool {
    value.as_object().is_some_and(|map| {
        map.len() == 1
            && map
                .keys()
                .all(|k| k == "Ref" || k == "Condition" || k.starts_with("Fn::"))
    })
}

fn compare(path: &str, old: &Value, new: &Value, out: &mut Vec<PropertyChange>) {
    if old == new {
        return;
    }
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match (old, new) {
        (Value::Object(a), Value::Object(b)) if !is_intrinsic(old) && !is_intrinsic(new) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                compare(
                    &join(key),
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if keyed(a).is_some() && keyed(b).is_some() => {
            // Statements (and anything else with a `Sid`): by Sid, so one
            // added statement is one change, not the whole list.
            let (a, b) = (keyed(a).unwrap_or_default(), keyed(b).unwrap_or_default());
            let sids: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for sid in sids {
                compare(
                    &format!("{path}[Sid={sid}]"),
                    a.get(sid).copied().unwrap_or(&Value::Null),
                    b.get(sid).copied().unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                compare(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ => out.push(PropertyChange {
            path: path.to_owned(),
            old: shown(old),
            new: shown(new),
        }),
    }
}

/// The elements of a list by their `Sid`, when every element has a
/// distinct one.
fn keyed(items: &[Value]) -> Option<BTreeMap<String, &Value>> {
    let keyed: BTreeMap<String, &Value> = items
        .iter()
        .map(|item| Some((item.get("Sid")?.as_str()?.to_owned(), item)))
        .collect::<Option<_>>()?;
    (!items.is_empty() && keyed.len() == items.len()).then_some(keyed)
}

/// A value as shown in a table: strings as they are, the rest as compact
/// JSON, cut at [`SHOWN`] characters; `None` for an absent value.
pub fn shown(value: &Value) -> Option<String> {
    let text = match value {
        Value::Null => return None,
        Value::String(s) if s.is_empty() => "\"\"".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(crate::base::ui::clip(&text, SHOWN))
}

/// The change set's details as property changes: the JSON pointer path
/// turned into the dotted one of [`from_templates`], details without a
/// value on either side (an emulator, or an older API) dropped.
pub fn from_details(details: &[Detail]) -> Vec<PropertyChange> {
    let mut out: Vec<PropertyChange> = details
        .iter()
        .filter(|d| d.before.is_some() || d.after.is_some())
        .map(|d| {
            let path = match (&d.path, &d.attribute, &d.name) {
                (Some(p), _, _) => dotted(p),
                (None, Some(a), Some(n)) => format!("{a}.{n}"),
                (None, Some(a), None) => a.clone(),
                (None, None, n) => n.clone().unwrap_or_default(),
            };
            PropertyChange {
                path,
                old: d.before.as_deref().map(|v| crate::base::ui::clip(v, SHOWN)),
                new: d.after.as_deref().map(|v| crate::base::ui::clip(v, SHOWN)),
            }
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.dedup();
    out
}

/// `/Properties/Tags/0/Value` → `Properties.Tags[0].Value`.
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.trim_start_matches('/').split('/') {
        if segment.chars().all(|c| c.is_ascii_digit()) && !segment.is_empty() {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment.replace("~1", "/").replace("~0", "~"));
        }
    }
    out
}

/// The changes to show for one resource: the change set's own when it gave
/// any values, the templates' otherwise.
pub fn best(
    from_change_set: Vec<PropertyChange>,
    from_templates: &[PropertyChange],
) -> Vec<PropertyChange> {
    if from_change_set.is_empty() {
        from_templates.to_vec()
    } else {
        from_change_set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn change(path: &str, old: Option<&str>, new: Option<&str>) -> PropertyChange {
        PropertyChange {
            path: path.to_owned(),
            old: old.map(str::to_owned),
            new: new.map(str::to_owned),
        }
    }

    #[test]
    fn changed_leaves_are_listed_with_their_paths() {
        let old = json!({"Resources": {
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
                "MemorySize": 256,
                "Environment": {"Variables": {"LOG_LEVEL": "info", "GONE": "x"}},
                "Code": {"S3Key": {"Ref": "CodeKey"}},
                "Tags": [{"Key": "a", "Value": "1"}],
            }},
            "Same": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q"}},
        }});
        let new = json!({"Resources": {
            "Fn": {"Type": "AWS::Lambda::Function", "DeletionPolicy": "Retain", "Properties": {
                "MemorySize": 512,
                "Environment": {"Variables": {"LOG_LEVEL": "debug"}},
                "Code": {"S3Key": {"Ref": "CodeKey"}},
                "Tags": [{"Key": "a", "Value": "2"}],
            }},
            "Same": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q"}},
            "Added": {"Type": "AWS::SQS::Queue"},
        }});
        let found = from_templates(
            &old,
            &params(&[("CodeKey", "handler/aaa.zip")]),
            &new,
            &params(&[("CodeKey", "handler/bbb.zip")]),
        );
        assert_eq!(found.keys().collect::<Vec<_>>(), ["Fn"]);
        assert_eq!(
            found["Fn"],
            [
                change("DeletionPolicy", None, Some("Retain")),
                change(
                    "Properties.Code.S3Key",
                    Some("handler/aaa.zip"),
                    Some("handler/bbb.zip")
                ),
                change("Properties.Environment.Variables.GONE", Some("x"), None),
                change(
                    "Properties.Environment.Variables.LOG_LEVEL",
                    Some("info"),
                    Some("debug")
                ),
                change("Properties.MemorySize", Some("256"), Some("512")),
                change("Properties.Tags[0].Value", Some("1"), Some("2")),
            ]
        );
    }

    #[test]
    fn intrinsics_are_compared_whole_and_lists_of_other_lengths_too() {
        let old = json!({"Resources": {"R": {"Type": "T", "Properties": {
            "Arn": {"Fn::GetAtt": ["A", "Arn"]}, "List": [1, 2]}}}});
        let new = json!({"Resources": {"R": {"Type": "T", "Properties": {
            "Arn": {"Fn::GetAtt": ["B", "Arn"]}, "List": [1, 2, 3]}}}});
        let found = from_templates(&old, &BTreeMap::new(), &new, &BTreeMap::new());
        assert_eq!(
            found["R"],
            [
                change(
                    "Properties.Arn",
                    Some(r#"{"Fn::GetAtt":["A","Arn"]}"#),
                    Some(r#"{"Fn::GetAtt":["B","Arn"]}"#)
                ),
                change("Properties.List", Some("[1,2]"), Some("[1,2,3]")),
            ]
        );
    }

    #[test]
    fn statements_are_compared_by_sid_and_empty_strings_show() {
        let old = json!({"Resources": {"R": {"Type": "T", "Properties": {"Statement": [
            {"Sid": "A", "Action": "x"}, {"Sid": "B", "Action": "y"}], "Env": "v"}}}});
        let new = json!({"Resources": {"R": {"Type": "T", "Properties": {"Statement": [
            {"Sid": "A", "Action": "x"}], "Env": ""}}}});
        let found = from_templates(&old, &BTreeMap::new(), &new, &BTreeMap::new());
        assert_eq!(
            found["R"],
            [
                change("Properties.Env", Some("v"), Some("\"\"")),
                change(
                    "Properties.Statement[Sid=B]",
                    Some(r#"{"Sid":"B","Action":"y"}"#),
                    None
                ),
            ]
        );
    }

    #[test]
    fn a_type_change_is_not_a_property_change() {
        let old = json!({"Resources": {"R": {"Type": "A", "Properties": {"X": 1}}}});
        let new = json!({"Resources": {"R": {"Type": "B", "Properties": {"X": 1}}}});
        assert!(from_templates(&old, &BTreeMap::new(), &new, &BTreeMap::new()).is_empty());
    }

    #[test]
    fn long_values_are_cut() {
        let long = "x".repeat(500);
        let shown = shown(&Value::String(long)).unwrap();
        assert!(shown.chars().count() <= SHOWN, "{}", shown.len());
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn change_set_details_become_dotted_paths_and_empty_ones_are_dropped() {
        let details = [
            Detail {
                attribute: Some("Properties".into()),
                name: Some("LOG_LEVEL".into()),
                path: Some("/Properties/Environment/Variables/LOG_LEVEL".into()),
                before: Some("info".into()),
                after: Some("debug".into()),
            },
            Detail {
                attribute: Some("Tags".into()),
                path: Some("/Properties/Tags/0/Value".into()),
                before: Some("1".into()),
                after: None,
                ..Detail::default()
            },
            // An emulator's detail: no values.
            Detail {
                attribute: Some("Properties".into()),
                name: Some("MemorySize".into()),
                ..Detail::default()
            },
        ];
        assert_eq!(
            from_details(&details),
            [
                change(
                    "Properties.Environment.Variables.LOG_LEVEL",
                    Some("info"),
                    Some("debug")
                ),
                change("Properties.Tags[0].Value", Some("1"), None),
            ]
        );
        let templates = [change("Properties.MemorySize", Some("1"), Some("2"))];
        assert_eq!(best(Vec::new(), &templates), templates);
        assert_eq!(best(from_details(&details), &templates).len(), 2);
    }
}
