//! The template's `Outputs` and `infra::StackOutputs` come from one list:
//! every output of every stage parses into the struct, and every field of
//! the struct has an output.

use std::collections::{BTreeMap, BTreeSet};

use infra::StackOutputs;
use infra::stack::outputs;

use crate::support::{Synth, all_configs};

/// The stack's outputs as `DescribeStacks` would give them: key → a value.
fn deployed_outputs(synth: &Synth) -> BTreeMap<String, String> {
    synth.json["Outputs"]
        .as_object()
        .expect("Outputs")
        .keys()
        .map(|key| (key.clone(), format!("deployed {key}")))
        .collect()
}

#[test]
fn every_output_of_every_stage_parses_into_stack_outputs() {
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        let deployed = deployed_outputs(&synth);
        let parsed =
            StackOutputs::from_outputs(&deployed).unwrap_or_else(|e| panic!("{}: {e}", cfg.stage));
        // Nothing in the template that the struct does not carry.
        assert_eq!(parsed.to_outputs(), deployed, "{}", cfg.stage);
        assert_eq!(
            parsed.kms_key_arn.is_some(),
            cfg.customer_managed_key,
            "{}: the key ARN only with a key",
            cfg.stage
        );
    }
}

#[test]
fn every_field_has_an_output() {
    let known: BTreeSet<&str> = StackOutputs::REQUIRED_KEYS
        .iter()
        .chain(StackOutputs::OPTIONAL_KEYS)
        .copied()
        .collect();
    let mut seen = BTreeSet::new();
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        let keys: BTreeSet<String> = deployed_outputs(&synth).into_keys().collect();
        for key in StackOutputs::REQUIRED_KEYS {
            assert!(keys.contains(*key), "{}: no output {key}", cfg.stage);
        }
        seen.extend(keys);
    }
    let seen: BTreeSet<&str> = seen.iter().map(String::as_str).collect();
    assert_eq!(seen, known, "every optional output appears on some stage");
}

#[test]
fn the_existing_output_keys_keep_their_names() {
    for (constant, name) in [
        (outputs::LEDGER_TABLE_NAME, "LedgerTableName"),
        (outputs::BUS_NAME, "BusName"),
        (outputs::BUS_ARN, "BusArn"),
        (outputs::DEAD_LETTER_QUEUE_URL, "DeadLetterQueueUrl"),
        (outputs::DEAD_LETTER_QUEUE_ARN, "DeadLetterQueueArn"),
        (outputs::OPS_ALERTS_TOPIC_ARN, "OpsAlertsTopicArn"),
        (outputs::HANDLER_FUNCTION_NAME, "HandlerFunctionName"),
        (outputs::SWEEP_FUNCTION_NAME, "SweepFunctionName"),
    ] {
        assert_eq!(constant, name);
    }
}

#[test]
fn names_and_alarm_lists_are_built_from_the_name_patterns() {
    let synth = Synth::of(infra::Stage::Prod);
    let value = |key: &str| synth.json["Outputs"][key]["Value"].clone();
    assert_eq!(
        value(outputs::ERRORS_ALARM_NAME),
        serde_json::json!({ "Fn::Sub": "cc-agent-reconciler-errors-${Stage}" })
    );
    let all = value(outputs::ALARM_NAMES);
    let joined = all["Fn::Sub"].as_str().expect("one Sub, no Ref to alarms");
    assert_eq!(
        joined.split(',').collect::<Vec<_>>(),
        infra::names::ALARMS
            .iter()
            .map(|(_, p)| p.pattern())
            .collect::<Vec<_>>(),
        "prod has every alarm"
    );
    assert_eq!(
        value(outputs::DASHBOARD_NAME),
        serde_json::json!({ "Fn::Sub": "cc-agent-reconciler-${Stage}" })
    );
}
