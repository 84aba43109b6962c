//! One source of truth: the environment the template gives each function is
//! exactly what the function's config reader needs (`reconciler_core::contract`).

use std::collections::BTreeSet;

use infra::stack::ids;
use reconciler_core::contract::{handler_env, sweep_env};

use crate::support::{Synth, all_configs, reference};

fn variable_names(synth: &Synth, function_id: &str) -> BTreeSet<String> {
    synth.resource(function_id)["Properties"]["Environment"]["Variables"]
        .as_object()
        .expect("the function has environment variables")
        .keys()
        .cloned()
        .collect()
}

fn names(all: &[&str]) -> BTreeSet<String> {
    all.iter().map(|name| (*name).to_owned()).collect()
}

#[test]
fn each_function_gets_exactly_the_contract_variables() {
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        assert_eq!(
            variable_names(&synth, ids::HANDLER_FUNCTION),
            names(handler_env::ALL),
            "{}: handler",
            cfg.stage
        );
        assert_eq!(
            variable_names(&synth, ids::SWEEP_FUNCTION),
            names(sweep_env::ALL),
            "{}: sweep",
            cfg.stage
        );
    }
}

#[test]
fn variable_values_come_from_the_stage_and_its_config() {
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        let handler =
            &synth.resource(ids::HANDLER_FUNCTION)["Properties"]["Environment"]["Variables"];
        let sweep = &synth.resource(ids::SWEEP_FUNCTION)["Properties"]["Environment"]["Variables"];
        for variables in [handler, sweep] {
            assert_eq!(variables[handler_env::STAGE], reference("Stage"));
            assert_eq!(
                variables[handler_env::LEDGER_TABLE],
                reference(ids::LEDGER_TABLE)
            );
        }
        assert_eq!(
            sweep[sweep_env::HOLD_TIMEOUT_SECONDS],
            cfg.hold_timeout_seconds.to_string()
        );
        assert_eq!(
            sweep[sweep_env::STRAGGLER_ACTION],
            cfg.straggler_action.as_str()
        );
        let summarizer = cfg.summarizer.as_ref();
        let expected = [
            (
                sweep_env::SUMMARIZER_BASE_URL,
                summarizer.map(|s| s.base_url.clone()),
            ),
            (
                sweep_env::SUMMARIZER_MODEL,
                summarizer.map(|s| s.model.clone()),
            ),
            (
                sweep_env::SUMMARIZER_API_KEY_PARAMETER,
                summarizer.map(|s| s.api_key_parameter.clone()),
            ),
            (
                sweep_env::SUMMARIZER_TIMEOUT_MS,
                summarizer.map(|s| s.timeout_ms.to_string()),
            ),
        ];
        for (name, value) in expected {
            assert_eq!(
                sweep[name],
                value.unwrap_or_default(),
                "{}: {name}",
                cfg.stage
            );
        }
    }
}
