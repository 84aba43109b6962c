//! Adopting what a destroyed stage left behind. On staging and prod the
//! table, queues, log groups, archive, bus and keys have `DeletionPolicy:
//! Retain`: `destroy` leaves them, with their data and their names, and a
//! plain create would then fail on every name (`AlreadyExists`), forever.
//! Instead, when the stack does not exist and CloudFormation's record of a
//! deleted stack of the same name lists resources it skipped
//! (`cfn::retained`), the deploy first creates the stack from them with an
//! `IMPORT` change set (what `cdk import` does), then updates it with the
//! whole template as usual.
//!
//! [`plan`] decides, purely, which of them to import and builds the
//! import's template. CloudFormation's rules for an import
//! (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import.html>):
//! the template holds the imported resources and nothing new, each with a
//! `DeletionPolicy`, and no outputs ("As part of the import operation, you
//! cannot modify or add [Outputs]"); each resource is named by its type's
//! primary identifier ([`super::schemas`]), whose value is the physical id
//! CloudFormation recorded (a table's name, a queue's URL, a key's id…).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::changes::{effective_parameters, resolve};
use super::replacement::references;
use super::schemas;
use crate::cfn::change_set::ToImport;
use crate::cfn::retained::Left;

/// What a deploy imports before it updates.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Adoption {
    /// The resources to import, by logical id.
    pub(super) resources: Vec<Adopted>,
    /// The import's template: the parameters, conditions and mappings of
    /// the stage's, its imported resources only, no outputs.
    pub(super) template: Value,
    /// What was left behind but is not imported, and why.
    pub(super) skipped: Vec<String>,
}

/// One resource to import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Adopted {
    /// For the change set.
    pub(super) import: ToImport,
    /// Its physical id, as the deleted stack recorded it.
    pub(super) physical_id: String,
}

/// Whether a resource's retention policy lets it be imported.
fn retained(resource: &Value) -> bool {
    matches!(
        resource["DeletionPolicy"].as_str(),
        Some("Retain" | "RetainExceptOnCreate")
    )
}

/// What the deploy shows before it imports.
pub(super) fn render(stack: &str, adoption: &Adoption) -> String {
    let rows: Vec<Vec<String>> = adoption
        .resources
        .iter()
        .map(|a| {
            vec![
                a.import.logical_id.clone(),
                a.import.resource_type.clone(),
                a.physical_id.clone(),
            ]
        })
        .collect();
    format!(
        "{stack} does not exist, but a deleted {stack} left these behind (DeletionPolicy: \
         Retain): importing them into a new stack, data and all, then deploying the rest:\n{}",
        crate::base::ui::table(&["Logical ID", "Type", "Physical ID"], &rows)
    )
}

/// A failed create's error, with what to do when a name was taken by a
/// resource nobody recorded as retained (CloudFormation's reason says
/// "already exists"): deleting and creating the stack again would fail the
/// same way.
pub(super) fn advise(error: anyhow::Error, stack: &str) -> anyhow::Error {
    let text = format!("{error:#}");
    if !text.to_lowercase().contains("already exists") {
        return error;
    }
    anyhow::anyhow!(
        "{text}\nA resource of that name exists outside any stack, and no deleted {stack} \
         recorded it as retained (CloudFormation keeps a deleted stack's record 90 days), so \
         every create fails on it: import it into the stack by hand (a change set of type \
         IMPORT, docs/deploy.md#after-a-destroy) or, if its data is not needed, delete it; \
         then deploy again"
    )
}

/// Why the new template's `resource` is not the one left behind as
/// `physical_id`: a create-only name that resolves to another name.
fn renamed(
    resource: &Value,
    physical_id: &str,
    params: &BTreeMap<String, String>,
) -> Option<String> {
    let schema = schemas::of(resource["Type"].as_str()?)?;
    schema
        .create_only
        .iter()
        .filter(|path| path.len() == 1 && path[0].ends_with("Name"))
        .find_map(|path| {
            let value = resolve(&resource["Properties"][path[0].as_str()], params);
            let name = value.as_str()?;
            let same = physical_id == name || physical_id.ends_with(&format!("/{name}"));
            (!same).then(|| format!("{} is {name} now", path[0]))
        })
}

/// The resources of `template` to import from what deleted stacks left
/// (`left`), and the import's template. A resource is imported when the
/// template has it under the same logical id and type, retained, with the
/// same name, and everything it refers to is imported too.
pub(super) fn plan(
    template: &Value,
    parameters: &BTreeMap<String, String>,
    left: &[Left],
) -> Adoption {
    let params = effective_parameters(template, parameters);
    let resources = &template["Resources"];
    let mut skipped = Vec::new();
    let mut chosen: BTreeMap<String, &Left> = BTreeMap::new();
    for l in left {
        let resource = &resources[l.logical_id.as_str()];
        let why = if resource.is_null() {
            Some("the template has no such resource".to_owned())
        } else if resource["Type"] != l.resource_type.as_str() {
            Some(format!("the template's is a {}", resource["Type"]))
        } else if !retained(resource) {
            Some("the template does not retain it (no DeletionPolicy: Retain)".to_owned())
        } else if schemas::of(&l.resource_type).is_none_or(|s| s.primary_identifier.len() != 1) {
            Some("its type has no single identifier to import it by".to_owned())
        } else {
            renamed(resource, &l.physical_id, &params)
        };
        match why {
            Some(why) => skipped.push(format!(
                "{} ({}, {}): not imported: {why}",
                l.logical_id, l.resource_type, l.physical_id
            )),
            None => {
                chosen.insert(l.logical_id.clone(), l);
            }
        }
    }
    drop_unclosed(resources, &mut chosen, &mut skipped);
    let adopted: Vec<Adopted> = chosen.values().map(|l| adopted(l)).collect();
    Adoption {
        template: import_template(template, &chosen),
        resources: adopted,
        skipped,
    }
}

/// Drops what refers to a resource of the template that is not imported
/// (an import cannot create it), until nothing does.
fn drop_unclosed(
    resources: &Value,
    chosen: &mut BTreeMap<String, &Left>,
    skipped: &mut Vec<String>,
) {
    loop {
        let names: BTreeSet<String> = chosen.keys().cloned().collect();
        let outside = chosen.iter().find_map(|(id, l)| {
            references(&resources[id.as_str()])
                .into_iter()
                .find(|r| !resources[r.as_str()].is_null() && !names.contains(r))
                .map(|r| (id.clone(), (*l).clone(), r))
        });
        let Some((id, l, target)) = outside else {
            return;
        };
        chosen.remove(&id);
        skipped.push(format!(
            "{id} ({}, {}): not imported: it refers to {target}, which is not",
            l.resource_type, l.physical_id
        ));
    }
}

fn adopted(l: &Left) -> Adopted {
    let key = schemas::of(&l.resource_type)
        .and_then(|s| s.primary_identifier.first())
        .map(|path| path.join("/"))
        .unwrap_or_default();
    Adopted {
        import: ToImport {
            logical_id: l.logical_id.clone(),
            resource_type: l.resource_type.clone(),
            identifier: BTreeMap::from([(key, l.physical_id.clone())]),
        },
        physical_id: l.physical_id.clone(),
    }
}

/// The template's header, parameters, conditions and mappings, and the
/// chosen resources; no outputs.
fn import_template(template: &Value, chosen: &BTreeMap<String, &Left>) -> Value {
    let mut out = Map::new();
    for key in [
        "AWSTemplateFormatVersion",
        "Description",
        "Parameters",
        "Conditions",
        "Mappings",
    ] {
        if let Some(value) = template.get(key) {
            out.insert(key.to_owned(), value.clone());
        }
    }
    let resources: Map<String, Value> = chosen
        .keys()
        .map(|id| (id.clone(), template["Resources"][id.as_str()].clone()))
        .collect();
    out.insert("Resources".to_owned(), Value::Object(resources));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use infra::Stage;
    use serde_json::json;

    fn left(id: &str, resource_type: &str, physical: &str) -> Left {
        Left {
            logical_id: id.into(),
            resource_type: resource_type.into(),
            physical_id: physical.into(),
            stack_id: "arn:deleted".into(),
        }
    }

    /// What `destroy` of staging leaves behind on AWS, by the names the
    /// staging template gives (written out by hand).
    fn staging_left() -> Vec<Left> {
        vec![
            left("AlertsKey", "AWS::KMS::Key", "1111-alerts"),
            left(
                "DeadLetterQueue",
                "AWS::SQS::Queue",
                "https://sqs.us-east-1.amazonaws.com/123456789012/cc-agent-reconciler-dlq-staging",
            ),
            left(
                "EventBus",
                "AWS::Events::EventBus",
                "cc-agent-reconciler-staging",
            ),
            left(
                "HandlerLogGroup",
                "AWS::Logs::LogGroup",
                "/aws/lambda/cc-agent-reconciler-staging-handler",
            ),
            left(
                "LedgerEventsArchive",
                "AWS::Events::Archive",
                "cc-agent-reconciler-staging-ledger-archive",
            ),
            left(
                "LedgerTable",
                "AWS::DynamoDB::Table",
                "cc-agent-reconciler-ledger_staging",
            ),
            left("StageKey", "AWS::KMS::Key", "2222-stage"),
            left(
                "SweepLogGroup",
                "AWS::Logs::LogGroup",
                "/aws/lambda/cc-agent-reconciler-staging-sweep",
            ),
            left(
                "UnroutedQueue",
                "AWS::SQS::Queue",
                "https://sqs.us-east-1.amazonaws.com/123456789012/cc-agent-reconciler-unrouted-staging",
            ),
        ]
    }

    #[test]
    fn everything_staging_retains_is_imported_by_its_identifier() {
        let template: Value = serde_json::from_str(&infra::synth(Stage::Staging)).unwrap();
        let adoption = plan(&template, &BTreeMap::new(), &staging_left());
        assert_eq!(adoption.skipped, Vec::<String>::new());
        let imported: Vec<(&str, &str, &str)> = adoption
            .resources
            .iter()
            .map(|a| {
                let (key, value) = a.import.identifier.iter().next().unwrap();
                (a.import.logical_id.as_str(), key.as_str(), value.as_str())
            })
            .collect();
        assert_eq!(
            imported,
            [
                ("AlertsKey", "KeyId", "1111-alerts"),
                (
                    "DeadLetterQueue",
                    "QueueUrl",
                    "https://sqs.us-east-1.amazonaws.com/123456789012/cc-agent-reconciler-dlq-staging"
                ),
                ("EventBus", "Name", "cc-agent-reconciler-staging"),
                (
                    "HandlerLogGroup",
                    "LogGroupName",
                    "/aws/lambda/cc-agent-reconciler-staging-handler"
                ),
                (
                    "LedgerEventsArchive",
                    "ArchiveName",
                    "cc-agent-reconciler-staging-ledger-archive"
                ),
                (
                    "LedgerTable",
                    "TableName",
                    "cc-agent-reconciler-ledger_staging"
                ),
                ("StageKey", "KeyId", "2222-stage"),
                (
                    "SweepLogGroup",
                    "LogGroupName",
                    "/aws/lambda/cc-agent-reconciler-staging-sweep"
                ),
                (
                    "UnroutedQueue",
                    "QueueUrl",
                    "https://sqs.us-east-1.amazonaws.com/123456789012/cc-agent-reconciler-unrouted-staging"
                ),
            ]
        );
        let t = &adoption.template;
        assert!(t.get("Outputs").is_none(), "an import adds no outputs");
        assert_eq!(t["Parameters"], template["Parameters"]);
        let resources = t["Resources"].as_object().unwrap();
        assert_eq!(resources.len(), 9);
        assert!(resources.values().all(|r| r["DeletionPolicy"] == "Retain"));
        assert_eq!(
            resources["LedgerTable"],
            template["Resources"]["LedgerTable"]
        );
    }

    #[test]
    fn a_renamed_or_unretained_resource_is_left_alone_with_the_reason() {
        let template: Value = serde_json::from_str(&infra::synth(Stage::Staging)).unwrap();
        let suffix = BTreeMap::from([("TableSuffix".to_owned(), "_restored".to_owned())]);
        let mut found = staging_left();
        found.push(left("HandlerFunction", "AWS::Lambda::Function", "fn"));
        found.push(left("Gone", "AWS::SQS::Queue", "q"));
        let adoption = plan(&template, &suffix, &found);
        let skipped = adoption.skipped.join("\n");
        assert!(
            skipped.contains("LedgerTable (AWS::DynamoDB::Table, cc-agent-reconciler-ledger_staging): not imported: TableName is cc-agent-reconciler-ledger_restored now"),
            "{skipped}"
        );
        assert!(skipped.contains("HandlerFunction (AWS::Lambda::Function, fn): not imported: the template does not retain it"), "{skipped}");
        assert!(
            skipped.contains(
                "Gone (AWS::SQS::Queue, q): not imported: the template has no such resource"
            ),
            "{skipped}"
        );
        assert_eq!(adoption.resources.len(), 8);
    }

    #[test]
    fn a_resource_that_refers_to_one_not_imported_is_not_imported() {
        let template = json!({"Resources": {
            "Key": {"Type": "AWS::KMS::Key", "DeletionPolicy": "Retain", "Properties": {}},
            "Queue": {"Type": "AWS::SQS::Queue", "DeletionPolicy": "Retain", "Properties": {
                "QueueName": "q", "KmsMasterKeyId": {"Ref": "Key"}}},
        }});
        let adoption = plan(
            &template,
            &BTreeMap::new(),
            &[left("Queue", "AWS::SQS::Queue", "https://x/q")],
        );
        assert!(adoption.resources.is_empty());
        assert_eq!(
            adoption.skipped,
            ["Queue (AWS::SQS::Queue, https://x/q): not imported: it refers to Key, which is not"]
        );
        let both = plan(
            &template,
            &BTreeMap::new(),
            &[
                left("Queue", "AWS::SQS::Queue", "https://x/q"),
                left("Key", "AWS::KMS::Key", "k"),
            ],
        );
        assert_eq!(both.resources.len(), 2);
    }
}
