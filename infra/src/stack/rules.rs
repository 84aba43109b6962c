//! The stage's event bus, its rules and the archive. The ledger-events rule
//! and one replay rule per detail-type invoke the handler, the schedule
//! invokes the sweep, and every other event on the bus goes to the
//! unrouted queue; on stages with customer managed keys, a rule on the
//! default bus tells the ops-alerts topic when one of them is disabled or
//! scheduled for deletion. Every target retries
//! ([`super::RULE_TARGET_RETRY_ATTEMPTS`]) and then dead-letters to the
//! dead-letter queue. The archive keeps every event of the bus for `cargo
//! xtask replay`. The patterns and the bus policy come from the stage's
//! producers (`producers`).

use reconciler_core::event::DETAIL_TYPES;

use super::{
    RULE_TARGET_MAX_EVENT_AGE_SECONDS, RULE_TARGET_RETRY_ATTEMPTS, SWEEP_SCHEDULE, ids, producers,
    stateful_policy,
};
use crate::model::events::{
    Archive, DeadLetterConfig, EventBus, EventPattern, InputTransformer, RetryPolicy, Rule,
    RuleState, Target,
};
use crate::model::lambda::Permission;
use crate::model::{Expr, Resource, Template};
use crate::names;
use crate::stage::StageConfig;

/// The bus and its rules, each with its targets (and the permissions of
/// those invoking a function). The bus is kept like its archive: replays
/// need both.
pub(super) fn add_rules(t: &mut Template, cfg: &StageConfig) {
    let bus = EventBus {
        name: names::EVENT_BUS.expr(),
        policy: Some(producers::bus_policy(cfg)),
    };
    t.add_resource(
        ids::EVENT_BUS,
        Resource::new(bus).with_policies(stateful_policy(cfg)),
    );
    add_ledger_events_rule(t, cfg);
    add_replay_rules(t, cfg);
    add_sweep_schedule_rule(t);
    add_unrouted_events_rule(t, cfg);
}

/// Enabled with `pattern`; disabled (with `otherwise`, which nothing on the
/// bus can match: the bus refuses it) when there is none.
fn routed(pattern: Option<EventPattern>, otherwise: EventPattern) -> (EventPattern, RuleState) {
    match pattern {
        Some(pattern) => (pattern, RuleState::Enabled),
        None => (otherwise, RuleState::Disabled),
    }
}

/// The ledger events, each from its producers' sources, to the handler.
fn add_ledger_events_rule(t: &mut Template, cfg: &StageConfig) {
    let (pattern, state) = routed(
        producers::ledger_pattern(cfg),
        EventPattern::detail_types(&DETAIL_TYPES),
    );
    let events = Rule {
        name: names::LEDGER_EVENTS_RULE.expr(),
        description: "Ledger events from their producers' sources to the handler (disabled \
                      while no detail-type has a producer)."
            .to_owned(),
        // GetAtt, not Ref: the local emulator fails on a Ref here; both are valid on AWS.
        event_bus_name: Some(Expr::get_att(ids::EVENT_BUS, "Name")),
        event_pattern: Some(pattern),
        schedule_expression: None,
        state,
        targets: vec![function_target("handler", ids::HANDLER_FUNCTION, None)],
    };
    add_rule(
        t,
        ids::LEDGER_EVENTS_RULE,
        events,
        ids::HANDLER_FUNCTION,
        ids::HANDLER_INVOKE_PERMISSION,
    );
}

/// One rule per detail-type for its replays only (`cargo xtask replay
/// --detail-type`): no live event has `replay-name`, and a replay
/// evaluates only the rules it names, so each sees exactly what a replay
/// onto it sends; delivered like the ledger-events rule's.
fn add_replay_rules(t: &mut Template, cfg: &StageConfig) {
    for (i, detail_type) in DETAIL_TYPES.iter().enumerate() {
        let (pattern, state) = routed(
            producers::replay_pattern(cfg, detail_type),
            EventPattern::replays_of(detail_type),
        );
        let replays = Rule {
            name: names::REPLAY_RULES[i].expr(),
            description: format!(
                "Replays of {detail_type} from its producers' sources only (cargo xtask \
                 replay) to the handler."
            ),
            event_bus_name: Some(Expr::get_att(ids::EVENT_BUS, "Name")),
            event_pattern: Some(pattern),
            schedule_expression: None,
            state,
            targets: vec![function_target("handler", ids::HANDLER_FUNCTION, None)],
        };
        add_rule(
            t,
            ids::REPLAY_RULES[i],
            replays,
            ids::HANDLER_FUNCTION,
            ids::REPLAY_PERMISSIONS[i],
        );
    }
}

fn add_sweep_schedule_rule(t: &mut Template) {
    let schedule = Rule {
        name: names::SWEEP_SCHEDULE_RULE.expr(),
        description: "Runs the sweep every 6 hours.".to_owned(),
        event_bus_name: None,
        event_pattern: None,
        schedule_expression: Some(SWEEP_SCHEDULE.to_owned()),
        state: RuleState::Enabled,
        // `{}`: a scheduled sweep with the stage's defaults (no overrides).
        targets: vec![function_target("sweep", ids::SWEEP_FUNCTION, Some("{}"))],
    };
    add_rule(
        t,
        ids::SWEEP_SCHEDULE_RULE,
        schedule,
        ids::SWEEP_FUNCTION,
        ids::SWEEP_INVOKE_PERMISSION,
    );
}

/// The bus is the reconciler's own: every event the ledger-events rule
/// does not match is unrouted (a producer's typo, another case, a source
/// that is not the detail-type's producer's). It waits in its queue, and
/// its alarm pages, until someone looks.
fn add_unrouted_events_rule(t: &mut Template, cfg: &StageConfig) {
    let unrouted = Rule {
        name: names::UNROUTED_EVENTS_RULE.expr(),
        description: "Every other event on the bus (another detail-type, or another source) \
                      to the unrouted queue."
            .to_owned(),
        event_bus_name: Some(Expr::get_att(ids::EVENT_BUS, "Name")),
        event_pattern: Some(producers::unrouted_pattern(cfg)),
        schedule_expression: None,
        state: RuleState::Enabled,
        targets: vec![Target {
            id: "unrouted-queue".to_owned(),
            arn: Expr::get_att(ids::UNROUTED_QUEUE, "Arn"),
            input: None,
            input_transformer: None,
            retry_policy: Some(retry_policy()),
            dead_letter_config: Some(DeadLetterConfig {
                arn: Expr::get_att(ids::DEAD_LETTER_QUEUE, "Arn"),
            }),
        }],
    };
    t.add_resource(ids::UNROUTED_EVENTS_RULE, unrouted);
}

/// Someone disabled one of the stage's keys or scheduled its deletion:
/// KMS has no metric for a key's state, so the alert is the API call
/// itself, which CloudTrail puts on the default bus as an `AWS API Call via
/// CloudTrail` event (a trail with logging on must record the region's
/// management events:
/// <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html>).
/// `requestParameters.keyId` is what the caller passed, a key id or a key
/// ARN (`DisableKey` and `ScheduleKeyDeletion` take no alias), so both are
/// listed. The topic gets one sentence naming the call, the key and who.
pub(super) fn add_key_state_rule(t: &mut Template) {
    let keys: Vec<serde_json::Value> = [ids::STAGE_KEY, ids::ALERTS_KEY]
        .into_iter()
        .flat_map(|key| [Expr::reference(key), Expr::get_att(key, "Arn")])
        .map(|expr| serde_json::to_value(expr).expect("an expression serializes"))
        .collect();
    let detail = [
        ("eventSource", serde_json::json!(["kms.amazonaws.com"])),
        ("eventName", serde_json::json!(KEY_STATE_CALLS)),
        ("requestParameters", serde_json::json!({ "keyId": keys })),
    ];
    let pattern = EventPattern {
        detail: detail
            .into_iter()
            .map(|(field, matchers)| (field.to_owned(), matchers))
            .collect(),
        ..EventPattern::detail_types(&["AWS API Call via CloudTrail"]).from_sources(&["aws.kms"])
    };
    let paths = [
        ("call", "$.detail.eventName"),
        ("key", "$.detail.requestParameters.keyId"),
        ("who", "$.detail.userIdentity.arn"),
        ("time", "$.time"),
    ];
    let alert = Target {
        id: "ops-alerts".to_owned(),
        arn: Expr::reference(ids::OPS_ALERTS_TOPIC),
        input: None,
        input_transformer: Some(InputTransformer {
            input_paths_map: paths
                .into_iter()
                .map(|(name, path)| (name.to_owned(), path.to_owned()))
                .collect(),
            input_template: Expr::sub(format!(
                "\"cc-agent-reconciler ${{Stage}}: <call> on KMS key <key> by <who> at <time>. \
                 Until it is enabled (or its deletion cancelled) the stage cannot read what \
                 the key encrypts. Runbook: {}#key-state\"",
                super::RUNBOOK_FILE
            )),
        }),
        retry_policy: Some(retry_policy()),
        dead_letter_config: Some(DeadLetterConfig {
            arn: Expr::get_att(ids::DEAD_LETTER_QUEUE, "Arn"),
        }),
    };
    let rule = Rule {
        name: names::KEY_STATE_RULE.expr(),
        description: "A stage key disabled or scheduled for deletion (CloudTrail) to the \
                      ops-alerts topic."
            .to_owned(),
        event_bus_name: None,
        event_pattern: Some(pattern),
        schedule_expression: None,
        state: RuleState::Enabled,
        targets: vec![alert],
    };
    t.add_resource(ids::KEY_STATE_RULE, rule);
}

/// The KMS calls that make a key unusable.
const KEY_STATE_CALLS: [&str; 2] = ["DisableKey", "ScheduleKeyDeletion"];

/// EventBridge's retries of a target.
fn retry_policy() -> RetryPolicy {
    RetryPolicy {
        maximum_retry_attempts: RULE_TARGET_RETRY_ATTEMPTS,
        maximum_event_age_in_seconds: RULE_TARGET_MAX_EVENT_AGE_SECONDS,
    }
}

/// The archive of every event on the bus, unrouted ones included (what
/// `cargo xtask replay` replays: a replay reaches only the rules it names,
/// whose patterns still decide what the handler gets).
pub(super) fn add_archive(t: &mut Template, cfg: &StageConfig, key: Option<&Expr>) {
    let archive = Archive {
        archive_name: names::ARCHIVE.expr(),
        description: "Every event of the stage's bus, for replays.".to_owned(),
        source_arn: Expr::get_att(ids::EVENT_BUS, "Arn"),
        // No pattern: every event.
        event_pattern: None,
        retention_days: cfg.archive_retention_days,
        kms_key_identifier: key.cloned(),
    };
    t.add_resource(
        ids::EVENT_ARCHIVE,
        Resource::new(archive).with_policies(stateful_policy(cfg)),
    );
}

/// A rule target invoking a function, with retries and the dead-letter queue.
fn function_target(id: &str, function_id: &str, input: Option<&str>) -> Target {
    Target {
        id: id.to_owned(),
        arn: Expr::get_att(function_id, "Arn"),
        input: input.map(str::to_owned),
        input_transformer: None,
        retry_policy: Some(retry_policy()),
        dead_letter_config: Some(DeadLetterConfig {
            arn: Expr::get_att(ids::DEAD_LETTER_QUEUE, "Arn"),
        }),
    }
}

/// Adds a rule and the permission letting it invoke its function.
fn add_rule(t: &mut Template, rule_id: &str, rule: Rule, function_id: &str, permission_id: &str) {
    t.add_resource(rule_id, rule);
    t.add_resource(
        permission_id,
        Permission {
            action: "lambda:InvokeFunction".to_owned(),
            function_name: Expr::get_att(function_id, "Arn"),
            principal: "events.amazonaws.com".to_owned(),
            source_arn: Expr::get_att(rule_id, "Arn"),
        },
    );
}
