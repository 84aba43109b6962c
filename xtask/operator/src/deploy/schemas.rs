//! What CloudFormation's resource provider schemas say of the resource types
//! the stack uses: which properties cannot change without replacing the
//! resource (`createOnlyProperties`; `conditionalCreateOnlyProperties`,
//! which replace it depending on the change) and which property identifies
//! an existing one (`primaryIdentifier`, what an import names it by).
//!
//! The schemas are AWS's; cfn-lint ships them
//! (`cfnlint/data/schemas/resources/*.json`, indexed by
//! `providers/us-east-1.json`). The few types the stack uses are extracted
//! into `resource_schemas.json` beside this file, so a deploy needs no Python;
//! a test checks the extract against the pinned cfn-lint's copy and that
//! every type of every stage's template is in it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;

/// The extract: type → its three lists of JSON pointers.
const EXTRACT: &str = include_str!("resource_schemas.json");

/// What the schema of one resource type says (each property as its path
/// below `Properties`, e.g. `["TableName"]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schema {
    /// The properties that identify an existing resource.
    pub primary_identifier: Vec<Vec<String>>,
    /// A change replaces the resource.
    pub create_only: Vec<Vec<String>>,
    /// A change may replace the resource.
    pub conditional_create_only: Vec<Vec<String>>,
}

/// `/properties/A/B` → `["A", "B"]`; a path into a list (`/*/`) stops
/// there, so the whole list is compared.
fn property_path(pointer: &str) -> Option<Vec<String>> {
    let rest = pointer.strip_prefix("/properties/")?;
    Some(
        rest.split('/')
            .take_while(|part| *part != "*")
            .map(str::to_owned)
            .collect(),
    )
}

fn paths(entry: &Value, key: &str) -> Vec<Vec<String>> {
    entry[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(property_path)
        .collect()
}

fn all() -> &'static BTreeMap<String, Schema> {
    static SCHEMAS: OnceLock<BTreeMap<String, Schema>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let extract: BTreeMap<String, Value> =
            serde_json::from_str(EXTRACT).expect("resource_schemas.json is JSON (tested)");
        extract
            .into_iter()
            .map(|(resource_type, entry)| {
                let schema = Schema {
                    primary_identifier: paths(&entry, "primaryIdentifier"),
                    create_only: paths(&entry, "createOnlyProperties"),
                    conditional_create_only: paths(&entry, "conditionalCreateOnlyProperties"),
                };
                (resource_type, schema)
            })
            .collect()
    })
}

/// The schema of `resource_type`, `None` for a type the stack does not use.
pub fn of(resource_type: &str) -> Option<&'static Schema> {
    all().get(resource_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// cfn-lint's schema folder in the pinned virtualenv.
    fn cfn_lint_schemas() -> PathBuf {
        let lib = crate::root().join(".venv/lib");
        let python = std::fs::read_dir(&lib)
            .unwrap_or_else(|e| panic!("{} (cargo xtask tools): {e}", lib.display()))
            .filter_map(Result::ok)
            .find(|d| d.file_name().to_string_lossy().starts_with("python3"))
            .expect("a python3.x folder in .venv/lib");
        python.path().join("site-packages/cfnlint/data/schemas")
    }

    #[test]
    fn the_extract_matches_the_pinned_cfn_lint_and_covers_every_type_of_the_stack() {
        let dir = cfn_lint_schemas();
        let read = |path: PathBuf| -> Value {
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
        };
        let index = read(dir.join("providers/us-east-1.json"));
        let extract: BTreeMap<String, Value> = serde_json::from_str(EXTRACT).unwrap();
        for (resource_type, entry) in &extract {
            let hash = index[resource_type].as_str().expect(resource_type);
            let schema = read(dir.join(format!("resources/{hash}.json")));
            for key in [
                "primaryIdentifier",
                "createOnlyProperties",
                "conditionalCreateOnlyProperties",
            ] {
                let theirs = schema.get(key).cloned().unwrap_or(Value::Array(Vec::new()));
                assert_eq!(
                    entry[key], theirs,
                    "{resource_type} {key}: resource_schemas.json differs from cfn-lint's"
                );
            }
        }
        for stage in infra::Stage::ALL {
            let template: Value = serde_json::from_str(&infra::synth(stage)).unwrap();
            for resource in template["Resources"].as_object().unwrap().values() {
                let resource_type = resource["Type"].as_str().unwrap();
                assert!(
                    of(resource_type).is_some(),
                    "{stage}: {resource_type} is not in resource_schemas.json: extract it"
                );
            }
        }
    }

    #[test]
    fn paths_are_read_below_properties() {
        let table = of("AWS::DynamoDB::Table").unwrap();
        assert!(table.create_only.contains(&vec!["TableName".to_owned()]));
        assert_eq!(
            table.conditional_create_only,
            vec![vec!["KeySchema".to_owned()]]
        );
        assert_eq!(table.primary_identifier, vec![vec!["TableName".to_owned()]]);
        assert_eq!(
            of("AWS::SQS::Queue").unwrap().primary_identifier,
            vec![vec!["QueueUrl".to_owned()]]
        );
        assert_eq!(
            property_path("/properties/Tags/*/Key"),
            Some(vec!["Tags".to_owned()])
        );
        assert_eq!(property_path("/Arn"), None);
        assert!(of("AWS::S3::Bucket").is_none());
    }
}
