//! A change set, as data: the rows of the table `diff` and `deploy` print,
//! and the guard that refuses to lose data. Pure functions, unit-tested.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::replacement::Evidence;
use crate::base::ui::Tone;
use crate::cfn::change_set::{Action, Replacement, ResourceChange};

/// Resource types holding data: `infra::stateful_resource_types()`.
pub fn is_stateful(resource_type: &str) -> bool {
    infra::stateful_resource_types().contains(&resource_type)
}

/// A template parameter whose value changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterChange {
    /// The parameter.
    pub name: String,
    /// The deployed value (`None`: a new parameter).
    pub old: Option<String>,
    /// The value this deploy passes.
    pub new: String,
}

/// The parameters whose values differ between the deployed stack and this
/// deploy, by name.
pub fn parameter_changes(
    deployed: &BTreeMap<String, String>,
    proposed: &BTreeMap<String, String>,
) -> Vec<ParameterChange> {
    proposed
        .iter()
        .filter(|(name, value)| deployed.get(*name) != Some(value))
        .map(|(name, value)| ParameterChange {
            name: name.clone(),
            old: deployed.get(name).cloned(),
            new: value.clone(),
        })
        .collect()
}

/// The printed replacement column.
fn replacement_cell(change: &ResourceChange) -> String {
    match (&change.action, change.replacement) {
        (Action::Modify, Some(r)) => r.to_string(),
        // Modify without details: the emulator's change sets.
        (Action::Modify, None) => "?".to_owned(),
        _ => "-".to_owned(),
    }
}

/// The change-set table: action, logical id, type, replacement; stateful
/// resources marked with `!` (and in bold red/yellow when `color`), parameter
/// changes and the evidence of replacements below. Rows are in action order
/// (Add, Modify, Remove, others), then by logical id.
pub fn render(changes: &[ResourceChange], parameters: &[ParameterChange], color: bool) -> String {
    let mut rows: Vec<&ResourceChange> = changes.iter().collect();
    rows.sort_by(|a, b| (&a.action, &a.logical_id).cmp(&(&b.action, &b.logical_id)));
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|c| {
            vec![
                if is_stateful(&c.resource_type) {
                    "!"
                } else {
                    ""
                }
                .to_owned(),
                c.action.to_string(),
                c.logical_id.clone(),
                c.resource_type.clone(),
                replacement_cell(c),
            ]
        })
        .collect();
    let mut out = String::new();
    if rows.is_empty() {
        out.push_str("No resource changes.\n");
    } else {
        let table =
            crate::base::ui::table(&["", "Action", "Logical ID", "Type", "Replacement"], &cells);
        let mut lines = table.lines();
        out.push_str(lines.next().unwrap_or_default());
        out.push('\n');
        for (change, text) in rows.iter().zip(lines) {
            let text = match (
                color,
                is_stateful(&change.resource_type),
                destructive_reason(change),
            ) {
                (true, true, Some(_)) => crate::base::ui::paint(text, Tone::Danger, true),
                (true, true, None) => crate::base::ui::paint(text, Tone::Warning, true),
                _ => text.to_owned(),
            };
            out.push_str(&text);
            out.push('\n');
        }
        let holding: Vec<&str> = infra::stateful_resource_types()
            .iter()
            .copied()
            .filter(|t| rows.iter().any(|c| c.resource_type == *t))
            .collect();
        if !holding.is_empty() {
            out.push_str(&format!("  ! holds data ({})\n", holding.join(", ")));
        }
        if rows
            .iter()
            .any(|c| c.action == Action::Modify && c.replacement.is_none())
        {
            out.push_str(
                "  ? the endpoint reported no replacement details (an emulator); a stateful \
                 resource is then treated as possibly replaced\n",
            );
        }
    }
    for change in rows.iter().filter(|c| c.evidence.is_some()) {
        let verb = if change.replacement == Some(Replacement::Conditional) {
            "may be replaced"
        } else {
            "is replaced"
        };
        out.push_str(&format!(
            "  {} {verb}: {}\n",
            change.logical_id,
            change.evidence.as_deref().unwrap_or_default()
        ));
    }
    if !parameters.is_empty() {
        out.push_str("Parameters:\n");
        for p in parameters {
            out.push_str(&format!(
                "  {}: {} -> {}\n",
                p.name,
                p.old.as_deref().unwrap_or("(new)"),
                p.new
            ));
        }
    }
    out
}

/// Why a change loses data, if it does: a stateful resource removed, or
/// replaced (`True` or `Conditional`, or not reported at all).
pub fn destructive_reason(change: &ResourceChange) -> Option<String> {
    if !is_stateful(&change.resource_type) {
        return None;
    }
    match (&change.action, change.replacement) {
        (Action::Remove, _) => Some(
            "it would be removed from the stack (deleted, or left unmanaged if retained)"
                .to_owned(),
        ),
        (Action::Modify, Some(Replacement::True)) => Some(match &change.evidence {
            Some(evidence) => format!("it would be replaced by a new, empty one ({evidence})"),
            None => "it would be replaced by a new, empty one (Replacement: True)".to_owned(),
        }),
        (Action::Modify, Some(Replacement::Conditional)) => Some(match &change.evidence {
            Some(evidence) => format!("it may be replaced by a new, empty one ({evidence})"),
            None => "it may be replaced by a new, empty one (Replacement: Conditional)".to_owned(),
        }),
        (Action::Modify, None) => Some(
            "it may be replaced: the endpoint did not report whether it is (treated as Conditional)"
                .to_owned(),
        ),
        _ => None,
    }
}

/// A refused change: which resource, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destructive {
    /// The logical id.
    pub logical_id: String,
    /// Its type.
    pub resource_type: String,
    /// What would happen to it.
    pub why: String,
}

impl fmt::Display for Destructive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.logical_id, self.resource_type, self.why
        )
    }
}

/// The changes that would lose data, in logical-id order.
pub fn destructive_changes(changes: &[ResourceChange]) -> Vec<Destructive> {
    let mut found: Vec<Destructive> = changes
        .iter()
        .filter_map(|c| {
            destructive_reason(c).map(|why| Destructive {
                logical_id: c.logical_id.clone(),
                resource_type: c.resource_type.clone(),
                why,
            })
        })
        .collect();
    found.sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    found
}

/// The deploy guard: refuses a change set that removes or replaces a table or
/// the queue, unless `allow_destructive`. Returns the destructive changes let
/// through (empty when there are none).
///
/// # Errors
/// The refusal, naming each resource and why, and how to override.
pub fn guard(
    changes: &[ResourceChange],
    allow_destructive: bool,
) -> Result<Vec<Destructive>, String> {
    let destructive = destructive_changes(changes);
    if destructive.is_empty() || allow_destructive {
        return Ok(destructive);
    }
    let mut message = String::from("refusing to deploy: this change set would lose data:\n");
    for d in &destructive {
        message.push_str(&format!("  - {d}\n"));
    }
    message.push_str(
        "Nothing was changed. If this is intended (the data is backed up or disposable), \
         deploy again with --allow-destructive.",
    );
    Err(message)
}

/// Adds the replacements found from the templates
/// ([`super::replacement::replacements`]) to the change set: a listed
/// `Modify` takes the stronger of the two verdicts and the evidence; a
/// resource the endpoint did not list at all (moto, for a change of
/// parameters only) is added as a `Modify` row.
pub fn merge_evidence(
    changes: &mut Vec<ResourceChange>,
    evidence: &BTreeMap<String, Evidence>,
    template: &Value,
) {
    for (id, found) in evidence {
        if let Some(change) = changes.iter_mut().find(|c| &c.logical_id == id) {
            if change.action == Action::Modify {
                if change.replacement != Some(Replacement::True) {
                    change.replacement = Some(found.replacement);
                }
                change.evidence = Some(found.why.clone());
            }
        } else {
            changes.push(ResourceChange {
                action: Action::Modify,
                logical_id: id.clone(),
                resource_type: template["Resources"][id]["Type"]
                    .as_str()
                    .unwrap_or("?")
                    .to_owned(),
                replacement: Some(found.replacement),
                evidence: Some(found.why.clone()),
            });
        }
    }
}

/// Parameter values: the given ones over the template's defaults.
pub(super) fn effective_parameters(
    template: &Value,
    given: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut values: BTreeMap<String, String> = template["Parameters"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, p)| p["Default"].as_str().map(|d| (name.clone(), d.to_owned())))
        .collect();
    values.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
    values
}

/// Resolves `Ref` to a parameter and `${Parameter}` in `Fn::Sub` strings;
/// everything else is compared as written.
pub(super) fn resolve(value: &Value, params: &BTreeMap<String, String>) -> Value {
    if let Some(name) = value.get("Ref").and_then(Value::as_str)
        && let Some(v) = params.get(name)
    {
        return Value::String(v.clone());
    }
    if let Some(Value::String(template)) = value.get("Fn::Sub") {
        let mut out = template.clone();
        for (name, v) in params {
            out = out.replace(&format!("${{{name}}}"), v);
        }
        return Value::String(out);
    }
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, params)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), resolve(v, params)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Resources a stack deletion leaves behind (`DeletionPolicy: Retain` or
/// `RetainExceptOnCreate`): `(logical id, type)`, by logical id.
pub fn retained_resources(template: &Value) -> Vec<(String, String)> {
    template["Resources"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, r)| {
            matches!(
                r["DeletionPolicy"].as_str(),
                Some("Retain" | "RetainExceptOnCreate")
            )
        })
        .map(|(id, r)| (id.clone(), r["Type"].as_str().unwrap_or("?").to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::types::{ChangeAction, Replacement as SdkReplacement};
    use serde_json::json;

    fn change(action: &str, id: &str, ty: &str, replacement: Option<&str>) -> ResourceChange {
        ResourceChange {
            action: Action::of(&ChangeAction::from(action)),
            logical_id: id.into(),
            resource_type: ty.into(),
            replacement: replacement.and_then(|r| Replacement::of(&SdkReplacement::from(r))),
            evidence: None,
        }
    }

    const TABLE: &str = "AWS::DynamoDB::Table";
    const QUEUE: &str = "AWS::SQS::Queue";
    const FUNCTION: &str = "AWS::Lambda::Function";

    #[test]
    fn the_table_lists_every_change_with_stateful_resources_marked() {
        let changes = vec![
            change("Modify", "LedgerTable", TABLE, Some("Conditional")),
            change("Add", "SweepFunction", FUNCTION, None),
            change("Modify", "HandlerFunction", FUNCTION, Some("False")),
            change("Remove", "DeadLetterQueue", QUEUE, None),
        ];
        let params = vec![ParameterChange {
            name: "HandlerCodeKey".into(),
            old: Some("handler/aa.zip".into()),
            new: "handler/bb.zip".into(),
        }];
        let expected = "   Action  Logical ID       Type                   Replacement
   Add     SweepFunction    AWS::Lambda::Function  -
   Modify  HandlerFunction  AWS::Lambda::Function  False
!  Modify  LedgerTable      AWS::DynamoDB::Table   Conditional
!  Remove  DeadLetterQueue  AWS::SQS::Queue        -
  ! holds data (AWS::DynamoDB::Table, AWS::SQS::Queue)
Parameters:
  HandlerCodeKey: handler/aa.zip -> handler/bb.zip
";
        assert_eq!(render(&changes, &params, false), expected);
        let colored = render(&changes, &params, true);
        let danger = |line: &str| crate::base::ui::paint(line, Tone::Danger, true);
        assert!(
            colored.contains(&danger(
                "!  Modify  LedgerTable      AWS::DynamoDB::Table   Conditional"
            )),
            "{colored}"
        );
        assert!(colored.contains(&crate::base::ui::paint(
            "   Modify  HandlerFunction  AWS::Lambda::Function  False",
            Tone::Good,
            false
        )));
        assert_ne!(colored, expected, "colored on a terminal");
    }

    #[test]
    fn missing_replacement_details_and_evidence_are_explained() {
        let mut changes = vec![change("Modify", "DeadLetterQueue", QUEUE, None)];
        let evidence = BTreeMap::from([(
            "LedgerTable".to_owned(),
            found(Replacement::True, "TableName ledger_dev -> ledger_x"),
        )]);
        let template = json!({"Resources": {"LedgerTable": {"Type": TABLE}}});
        merge_evidence(&mut changes, &evidence, &template);
        let text = render(&changes, &[], false);
        assert!(
            text.contains("!  Modify  DeadLetterQueue  AWS::SQS::Queue       ?"),
            "{text}"
        );
        assert!(
            text.contains("!  Modify  LedgerTable      AWS::DynamoDB::Table  True"),
            "{text}"
        );
        assert!(text.contains("no replacement details"), "{text}");
        assert!(
            text.contains("LedgerTable is replaced: TableName ledger_dev -> ledger_x"),
            "{text}"
        );
        assert_eq!(render(&[], &[], false), "No resource changes.\n");
    }

    #[test]
    fn the_guard_refuses_removing_or_replacing_tables_and_queues() {
        let refused = [
            change("Remove", "LedgerTable", TABLE, None),
            change("Remove", "DeadLetterQueue", QUEUE, None),
            change("Modify", "LedgerTable", TABLE, Some("True")),
            change("Modify", "LedgerTable", TABLE, Some("Conditional")),
            change("Modify", "DeadLetterQueue", QUEUE, Some("Conditional")),
            change("Modify", "LedgerTable", TABLE, None),
        ];
        for c in refused {
            let error = guard(std::slice::from_ref(&c), false).unwrap_err();
            assert!(error.contains(&c.logical_id), "{error}");
            assert!(error.contains("--allow-destructive"), "{error}");
            let allowed = guard(std::slice::from_ref(&c), true).unwrap();
            assert_eq!(allowed.len(), 1, "{c:?}");
        }
        let error = guard(
            &[change("Modify", "LedgerTable", TABLE, Some("Conditional"))],
            false,
        )
        .unwrap_err();
        assert!(error.contains("may be replaced"), "{error}");
        assert!(error.contains("Conditional"), "{error}");
    }

    #[test]
    fn the_guard_lets_everything_else_through() {
        let fine = [
            change("Add", "LedgerTable", TABLE, None),
            change("Modify", "LedgerTable", TABLE, Some("False")),
            change("Modify", "HandlerFunction", FUNCTION, Some("True")),
            change("Modify", "HandlerFunction", FUNCTION, None),
            change("Remove", "HandlerFunction", FUNCTION, None),
            change("Import", "LedgerTable", TABLE, None),
        ];
        assert_eq!(guard(&fine, false), Ok(Vec::new()));
        assert_eq!(guard(&[], false), Ok(Vec::new()));
    }

    #[test]
    fn the_guard_names_every_resource_and_why() {
        let error = guard(
            &[
                change("Remove", "DeadLetterQueue", QUEUE, None),
                change("Modify", "LedgerTable", TABLE, Some("True")),
                change("Modify", "HandlerFunction", FUNCTION, Some("True")),
            ],
            false,
        )
        .unwrap_err();
        assert!(
            error.contains("DeadLetterQueue (AWS::SQS::Queue): it would be removed from the stack"),
            "{error}"
        );
        assert!(error.contains(
            "LedgerTable (AWS::DynamoDB::Table): it would be replaced by a new, empty one (Replacement: True)"
        ), "{error}");
        assert!(!error.contains("HandlerFunction"), "{error}");
    }

    fn found(replacement: Replacement, why: &str) -> Evidence {
        Evidence {
            replacement,
            why: why.to_owned(),
        }
    }

    #[test]
    fn evidence_turns_into_replacement_rows() {
        let template = json!({"Resources": {"LedgerTable": {"Type": TABLE}}});
        let evidence = BTreeMap::from([(
            "LedgerTable".to_owned(),
            found(Replacement::True, "TableName a -> b"),
        )]);
        let mut listed = vec![change("Modify", "LedgerTable", TABLE, None)];
        merge_evidence(&mut listed, &evidence, &template);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].replacement, Some(Replacement::True));
        let mut unlisted = Vec::new();
        merge_evidence(&mut unlisted, &evidence, &template);
        assert_eq!(unlisted[0].action, Action::Modify);
        assert_eq!(unlisted[0].resource_type, TABLE);
        let error = guard(&unlisted, false).unwrap_err();
        assert!(error.contains("(TableName a -> b)"), "{error}");
        // A conditional replacement found by us: said so, and refused too.
        let conditional = BTreeMap::from([(
            "LedgerTable".to_owned(),
            found(Replacement::Conditional, "KeySchema a -> b"),
        )]);
        let mut rows = vec![change("Modify", "LedgerTable", TABLE, Some("False"))];
        merge_evidence(&mut rows, &conditional, &template);
        assert_eq!(rows[0].replacement, Some(Replacement::Conditional));
        assert!(
            render(&rows, &[], false).contains("LedgerTable may be replaced: KeySchema a -> b"),
            "{}",
            render(&rows, &[], false)
        );
        let error = guard(&rows, false).unwrap_err();
        assert!(
            error.contains("may be replaced by a new, empty one (KeySchema a -> b)"),
            "{error}"
        );
        // CloudFormation's True is not weakened by our Conditional.
        let mut sure = vec![change("Modify", "LedgerTable", TABLE, Some("True"))];
        merge_evidence(&mut sure, &conditional, &template);
        assert_eq!(sure[0].replacement, Some(Replacement::True));
    }

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parameter_changes_list_new_and_changed_values() {
        let deployed = params(&[("A", "1"), ("B", "2")]);
        let proposed = params(&[("A", "1"), ("B", "3"), ("C", "4")]);
        assert_eq!(
            parameter_changes(&deployed, &proposed),
            vec![
                ParameterChange {
                    name: "B".into(),
                    old: Some("2".into()),
                    new: "3".into()
                },
                ParameterChange {
                    name: "C".into(),
                    old: None,
                    new: "4".into()
                },
            ]
        );
        assert!(parameter_changes(&proposed, &proposed).is_empty());
    }

    #[test]
    fn staging_and_prod_retain_their_data_and_dev_retains_nothing() {
        let parse = |stage| serde_json::from_str::<Value>(&infra::synth(stage)).unwrap();
        assert!(retained_resources(&parse(infra::Stage::Dev)).is_empty());
        for stage in [infra::Stage::Staging, infra::Stage::Prod] {
            let retained = retained_resources(&parse(stage));
            let ids: Vec<&str> = retained.iter().map(|(id, _)| id.as_str()).collect();
            assert_eq!(
                ids,
                [
                    "AlertsKey",
                    "DeadLetterQueue",
                    "EventBus",
                    "HandlerLogGroup",
                    "LedgerEventsArchive",
                    "LedgerTable",
                    "StageKey",
                    "SweepLogGroup",
                    "UnroutedQueue"
                ],
                "{stage}"
            );
        }
    }
}
