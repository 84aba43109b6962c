//! A small assertion helper over a template's JSON, in the spirit of CDK's
//! `Template` assertions.

use infra::{AlertProtocol, AlertSubscription, Stage, StageConfig, SummarizerConfig};
use serde_json::Value;

/// A synthesized template, parsed back from its JSON.
pub(crate) struct Synth {
    pub stage: Stage,
    pub json: Value,
}

impl Synth {
    /// The template of a stage (its stage file over the defaults), parsed
    /// from `infra::synth`.
    pub(crate) fn of(stage: Stage) -> Self {
        Self::parse(stage, &infra::synth(stage))
    }

    /// The template of any config.
    pub(crate) fn of_config(cfg: &StageConfig) -> Self {
        Self::parse(cfg.stage, &infra::template(cfg).to_json())
    }

    fn parse(stage: Stage, json: &str) -> Self {
        let json = serde_json::from_str(json).expect("the template is JSON");
        Self { stage, json }
    }

    /// Every resource, with its logical id.
    pub(crate) fn resources(&self) -> Vec<(&str, &Value)> {
        self.json["Resources"]
            .as_object()
            .expect("Resources is an object")
            .iter()
            .map(|(id, resource)| (id.as_str(), resource))
            .collect()
    }

    /// The resources of one type, with their logical ids.
    pub(crate) fn of_type(&self, type_name: &str) -> Vec<(&str, &Value)> {
        self.resources()
            .into_iter()
            .filter(|(_, resource)| resource["Type"] == type_name)
            .collect()
    }

    /// One resource by logical id.
    pub(crate) fn resource(&self, logical_id: &str) -> &Value {
        let resource = &self.json["Resources"][logical_id];
        assert!(
            !resource.is_null(),
            "{}: no resource {logical_id}",
            self.stage
        );
        resource
    }

    /// The default value of a parameter.
    pub(crate) fn parameter_default(&self, name: &str) -> &str {
        self.json["Parameters"][name]["Default"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: parameter {name} has no default", self.stage))
    }
}

/// `{"Ref": id}`.
pub(crate) fn reference(id: &str) -> Value {
    serde_json::json!({ "Ref": id })
}

/// `{"Fn::GetAtt": [id, attribute]}`.
pub(crate) fn get_att(id: &str, attribute: &str) -> Value {
    serde_json::json!({ "Fn::GetAtt": [id, attribute] })
}

/// Whether `value` refers to the resource `logical_id` (Ref, GetAtt or in a Sub).
pub(crate) fn refers_to(value: &Value, logical_id: &str) -> bool {
    if value == &reference(logical_id) {
        return true;
    }
    if value["Fn::GetAtt"][0] == logical_id {
        return true;
    }
    value["Fn::Sub"].as_str().is_some_and(|template| {
        template.contains(&format!("${{{logical_id}}}"))
            || template.contains(&format!("${{{logical_id}."))
    })
}

/// The stage's config as `synth` uses it (defaults and stage file).
pub(crate) fn loaded(stage: Stage) -> StageConfig {
    StageConfig::load(stage).unwrap_or_else(|e| panic!("{e}"))
}

/// Every stage's config, plus prod with every optional feature on
/// (summarizer, one subscription of each protocol) and dev with the key
/// and reserved concurrency on, so the optional parts are checked too.
pub(crate) fn all_configs() -> Vec<StageConfig> {
    let mut configs: Vec<StageConfig> = Stage::ALL.map(loaded).to_vec();
    configs.push(everything_on());
    configs.push(StageConfig {
        customer_managed_key: true,
        handler_reserved_concurrency: Some(2),
        sweep_reserved_concurrency: Some(1),
        ..loaded(Stage::Dev)
    });
    configs
}

/// One subscription of each protocol.
pub(crate) fn every_subscription() -> Vec<AlertSubscription> {
    [
        (AlertProtocol::Email, "ops@example.com"),
        (AlertProtocol::Https, "https://hooks.example.com/alerts"),
        (
            AlertProtocol::Sqs,
            "arn:aws:sqs:us-east-1:123456789012:ops-alerts",
        ),
        (
            AlertProtocol::Lambda,
            "arn:aws:lambda:us-east-1:123456789012:function:page-oncall",
        ),
    ]
    .map(|(protocol, endpoint)| AlertSubscription {
        protocol,
        endpoint: endpoint.to_owned(),
    })
    .to_vec()
}

/// Prod with the summarizer and a subscription of each protocol.
pub(crate) fn everything_on() -> StageConfig {
    StageConfig {
        alert_subscriptions: every_subscription(),
        summarizer: Some(SummarizerConfig {
            base_url: "https://api.openai.com/v1".to_owned(),
            model: "gpt-4o-mini".to_owned(),
            api_key_parameter: "/cc-agent-reconciler/prod/summarizer-api-key".to_owned(),
            timeout_ms: 10_000,
        }),
        ..loaded(Stage::Prod)
    }
}

/// The JSON text inside a `Fn::Sub` (a key policy, a dashboard body), parsed
/// with every `${...}` placeholder left as a string.
pub(crate) fn sub_json(value: &Value) -> Value {
    let text = value["Fn::Sub"]
        .as_str()
        .unwrap_or_else(|| panic!("not a Sub: {value}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
