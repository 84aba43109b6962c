//! What a reviewer sees before a deploy, and what `diff` prints: the change
//! set's rows (with the replacements we can prove ourselves), the parameter
//! changes, each modified resource's property changes (old → new), the
//! security table, and what the data guard would refuse. One value, printed
//! as text or JSON (`diff --json`). Pure, unit-tested.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::changes::{self, Destructive, ParameterChange};
use super::properties::{self, PropertyChange};
use super::replacement;
use super::security::{self, SecurityChange};
use crate::cfn::change_set::ChangeSet;
use crate::cfn::change_set::{Action, ResourceChange};

/// A proposed change of a stack, reviewed.
#[derive(Clone, Debug, Default)]
pub struct Review {
    /// `cc-agent-reconciler-<stage>`.
    pub stack_name: String,
    /// Whether the stack is created (nothing deployed yet).
    pub create: bool,
    /// One row per resource.
    pub changes: Vec<ResourceChange>,
    /// Parameters whose values change.
    pub parameters: Vec<ParameterChange>,
    /// Property changes of modified resources, by logical id.
    pub properties: BTreeMap<String, Vec<PropertyChange>>,
    /// IAM statements and resource policies added, removed or changed.
    pub security: Vec<SecurityChange>,
    /// What loses data (the guard refuses it without `--allow-destructive`).
    pub destructive: Vec<Destructive>,
}

/// What is deployed now (nothing, for a new stack).
#[derive(Clone, Copy, Debug)]
pub struct Before<'a> {
    pub template: &'a Value,
    pub parameters: &'a BTreeMap<String, String>,
}

/// Reviews the change from `before` (`None`: a new stack) to `template`
/// with `parameters`, given the change set (`None`: none, every resource of
/// the template is added).
pub fn review(
    stack_name: &str,
    before: Option<Before<'_>>,
    template: &Value,
    parameters: &BTreeMap<String, String>,
    change_set: Option<&ChangeSet>,
) -> Review {
    let empty_template = json!({});
    let no_parameters = BTreeMap::new();
    let before_template = before.map_or(&empty_template, |b| b.template);
    let before_parameters = before.map_or(&no_parameters, |b| b.parameters);
    let (mut rows, details) = match change_set {
        Some(set) => (set.rows.clone(), set.details.clone()),
        None => (all_added(template), BTreeMap::new()),
    };
    let mut properties = BTreeMap::new();
    let mut parameter_changes = Vec::new();
    if before.is_some() {
        let evidence =
            replacement::replacements(before_template, before_parameters, template, parameters);
        changes::merge_evidence(&mut rows, &evidence, template);
        parameter_changes = changes::parameter_changes(before_parameters, parameters);
        let from_templates =
            properties::from_templates(before_template, before_parameters, template, parameters);
        for row in rows.iter().filter(|r| r.action == Action::Modify) {
            let from_change_set =
                properties::from_details(details.get(&row.logical_id).map_or(&[], Vec::as_slice));
            let best = properties::best(
                from_change_set,
                from_templates
                    .get(&row.logical_id)
                    .map_or(&[], Vec::as_slice),
            );
            if !best.is_empty() {
                properties.insert(row.logical_id.clone(), best);
            }
        }
    }
    let security = security::changes(before_template, before_parameters, template, parameters);
    let destructive = changes::destructive_changes(&rows);
    Review {
        stack_name: stack_name.to_owned(),
        create: before.is_none(),
        changes: rows,
        parameters: parameter_changes,
        properties,
        security,
        destructive,
    }
}

/// Every resource of a template, as `Add` rows.
fn all_added(template: &Value) -> Vec<ResourceChange> {
    template["Resources"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(id, resource)| ResourceChange {
            action: Action::Add,
            logical_id: id.clone(),
            resource_type: resource["Type"].as_str().unwrap_or("?").to_owned(),
            replacement: None,
            evidence: None,
        })
        .collect()
}

impl Review {
    /// Nothing would change.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.parameters.is_empty()
    }

    /// Whether someone may do more afterwards (a deploy asks for approval).
    pub fn broadens(&self) -> bool {
        security::any_broadening(&self.security)
    }

    /// The text `diff` and `deploy` print.
    pub fn render(&self, color: bool) -> String {
        let mut out = changes::render(&self.changes, &self.parameters, color);
        if !self.properties.is_empty() {
            out.push_str("Property changes:\n");
            for (id, changes) in &self.properties {
                out.push_str(&format!("  {id}\n"));
                for c in changes {
                    out.push_str(&format!(
                        "    {}: {} -> {}\n",
                        c.path,
                        c.old.as_deref().unwrap_or("(none)"),
                        c.new.as_deref().unwrap_or("(none)")
                    ));
                }
            }
        }
        out.push_str(&security::render(&self.security));
        out
    }

    /// The review for tools (`diff --json`).
    pub fn to_json(&self) -> Value {
        json!({
            "stack": self.stack_name,
            "create": self.create,
            "changes": self.changes.iter().map(|c| json!({
                "action": c.action.to_string(),
                "logical_id": c.logical_id,
                "type": c.resource_type,
                "replacement": c.replacement.map(|r| r.to_string()),
                "replacement_evidence": c.evidence,
                "properties": self.properties.get(&c.logical_id).cloned().unwrap_or_default(),
            })).collect::<Vec<_>>(),
            "parameters": self.parameters.iter().map(|p| json!({
                "name": p.name, "old": p.old, "new": p.new,
            })).collect::<Vec<_>>(),
            "security": self.security,
            "broadens": self.broadens(),
            "destructive": self.destructive.iter().map(|d| json!({
                "logical_id": d.logical_id, "type": d.resource_type, "why": d.why,
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfn::change_set::Replacement;

    fn stack(memory: u32, statements: Value) -> Value {
        json!({
            "Parameters": {"Stage": {"Type": "String"}},
            "Resources": {
                "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": memory}},
                "Role": {"Type": "AWS::IAM::Role", "Properties": {
                    "Policies": [{"PolicyName": "P", "PolicyDocument": {"Statement": statements}}]}},
                "LedgerTable": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": {"Fn::Sub": "ledger${Stage}"}}},
            }
        })
    }

    fn changed(rows: Vec<ResourceChange>) -> ChangeSet {
        ChangeSet {
            id: "cs".into(),
            rows,
            details: BTreeMap::new(),
        }
    }

    fn modify(id: &str, resource_type: &str) -> ResourceChange {
        ResourceChange {
            action: Action::Modify,
            logical_id: id.into(),
            resource_type: resource_type.into(),
            replacement: Some(Replacement::False),
            evidence: None,
        }
    }

    #[test]
    fn an_update_shows_properties_security_and_what_loses_data() {
        let read =
            json!([{"Sid": "S", "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}]);
        let write = json!([{"Sid": "S", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": "*"}]);
        let old = stack(256, read);
        let new = stack(512, write);
        let old_params = BTreeMap::from([("Stage".to_owned(), "_dev".to_owned())]);
        let new_params = BTreeMap::from([("Stage".to_owned(), "_dev2".to_owned())]);
        let set = changed(vec![
            modify("Fn", "AWS::Lambda::Function"),
            modify("Role", "AWS::IAM::Role"),
        ]);
        let r = review(
            "s",
            Some(Before {
                template: &old,
                parameters: &old_params,
            }),
            &new,
            &new_params,
            Some(&set),
        );
        assert!(!r.create && !r.is_empty());
        assert_eq!(r.properties["Fn"][0].path, "Properties.MemorySize");
        assert!(r.broadens(), "PutItem added");
        // The table's name changes with the parameter: a replacement the
        // change set did not list, proven from the templates.
        assert_eq!(r.destructive.len(), 1, "{:?}", r.destructive);
        assert_eq!(r.destructive[0].logical_id, "LedgerTable");
        let text = r.render(false);
        for needle in [
            "Properties.MemorySize: 256 -> 512",
            "Security changes",
            "broadened",
            "Stage: _dev -> _dev2",
        ] {
            assert!(text.contains(needle), "{needle} in:\n{text}");
        }
        let json = r.to_json();
        assert_eq!(json["broadens"], true);
        let fn_row = json["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["logical_id"] == "Fn")
            .unwrap();
        assert_eq!(fn_row["properties"][0]["new"], "512");
        assert_eq!(json["destructive"][0]["logical_id"], "LedgerTable");
    }

    #[test]
    fn a_new_stack_is_all_added_with_every_grant() {
        let new = stack(
            256,
            json!([{"Sid": "S", "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}]),
        );
        let r = review("s", None, &new, &BTreeMap::new(), None);
        assert!(r.create);
        assert_eq!(r.changes.len(), 3);
        assert!(r.changes.iter().all(|c| c.action == Action::Add));
        assert!(r.properties.is_empty() && r.parameters.is_empty());
        assert!(r.broadens());
        assert!(r.destructive.is_empty());
    }

    #[test]
    fn no_change_is_empty_and_broadens_nothing() {
        let t = stack(256, json!([]));
        let p = BTreeMap::new();
        let r = review(
            "s",
            Some(Before {
                template: &t,
                parameters: &p,
            }),
            &t,
            &p,
            Some(&changed(Vec::new())),
        );
        assert!(r.is_empty() && !r.broadens());
        assert!(r.render(false).contains("No resource changes"));
    }
}
