//! The stage's event bus, its rules and the archive. The ledger-events rule
//! and one replay rule per detail-type invoke the handler, the schedule
//! invokes the sweep, and every other event on the bus goes to the
//! unrouted queue. Every target retries ([`super::RULE_TARGET_RETRY_ATTEMPTS`])
//! and then dead-letters to the dead-letter queue. The archive keeps the
//! ledger events for `cargo xtask replay`.

use reconciler_core::event::DETAIL_TYPES;

use super::{
    RULE_TARGET_MAX_EVENT_AGE_SECONDS, RULE_TARGET_RETRY_ATTEMPTS, SWEEP_SCHEDULE, ids,
    stateful_policy,
};
use crate::model::events::{
    Archive, DeadLetterConfig, EventBus, EventPattern, RetryPolicy, Rule, RuleState, Target,
};
use crate::model::lambda::Permission;
use crate::model::{Expr, Resource, Template};
use crate::names;
use crate::stage::StageConfig;

/// The bus and its rules, each with its targets (and the permissions of
/// those invoking a function).
pub(super) fn add_rules(t: &mut Template) {
    t.add_resource(
        ids::EVENT_BUS,
        EventBus {
            name: names::EVENT_BUS.expr(),
        },
    );
    add_ledger_events_rule(t);
    add_replay_rules(t);
    add_sweep_schedule_rule(t);
    add_unrouted_events_rule(t);
}

fn add_ledger_events_rule(t: &mut Template) {
    let events = Rule {
        name: names::LEDGER_EVENTS_RULE.expr(),
        description: "Ledger events of any source to the handler.".to_owned(),
        // GetAtt, not Ref: the local emulator fails on a Ref here; both are valid on AWS.
        event_bus_name: Some(Expr::get_att(ids::EVENT_BUS, "Name")),
        event_pattern: Some(EventPattern::detail_types(&DETAIL_TYPES)),
        schedule_expression: None,
        state: RuleState::Enabled,
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
fn add_replay_rules(t: &mut Template) {
    for (i, detail_type) in DETAIL_TYPES.iter().enumerate() {
        let replays = Rule {
            name: names::REPLAY_RULES[i].expr(),
            description: format!(
                "Replays of {detail_type} only (cargo xtask replay) to the handler."
            ),
            event_bus_name: Some(Expr::get_att(ids::EVENT_BUS, "Name")),
            event_pattern: Some(EventPattern::replays_of(detail_type)),
            schedule_expression: None,
            state: RuleState::Enabled,
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
/// does not match is unrouted (a producer's typo, another case, a
/// `credits.adjusted` no producer may send). It waits in its queue, and
/// its alarm pages, until someone looks.
fn add_unrouted_events_rule(t: &mut Template) {
    let unrouted = Rule {
        name: names::UNROUTED_EVENTS_RULE.expr(),
        description: "Every other event on the bus (no ledger detail-type) to the unrouted \
                      queue."
            .to_owned(),
        event_bus_name: Some(Expr::get_att(ids::EVENT_BUS, "Name")),
        event_pattern: Some(EventPattern::detail_types_except(&DETAIL_TYPES)),
        schedule_expression: None,
        state: RuleState::Enabled,
        targets: vec![Target {
            id: "unrouted-queue".to_owned(),
            arn: Expr::get_att(ids::UNROUTED_QUEUE, "Arn"),
            input: None,
            retry_policy: Some(retry_policy()),
            dead_letter_config: Some(DeadLetterConfig {
                arn: Expr::get_att(ids::DEAD_LETTER_QUEUE, "Arn"),
            }),
        }],
    };
    t.add_resource(ids::UNROUTED_EVENTS_RULE, unrouted);
}

/// EventBridge's retries of a target.
fn retry_policy() -> RetryPolicy {
    RetryPolicy {
        maximum_retry_attempts: RULE_TARGET_RETRY_ATTEMPTS,
        maximum_event_age_in_seconds: RULE_TARGET_MAX_EVENT_AGE_SECONDS,
    }
}

/// The archive of the ledger events (what `cargo xtask replay` replays).
pub(super) fn add_archive(t: &mut Template, cfg: &StageConfig, key: Option<&Expr>) {
    let archive = Archive {
        archive_name: names::ARCHIVE.expr(),
        description: "The ledger events of the stage's bus, for replays.".to_owned(),
        source_arn: Expr::get_att(ids::EVENT_BUS, "Arn"),
        // A JSON string: the local emulator fails on an object here.
        event_pattern: EventPattern::detail_types(&DETAIL_TYPES).to_json_text(),
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
