//! One home for every physical name of the stack (contract §6 fixes them).
//!
//! Each name is one [`NamePattern`] over the template parameters `Stage`,
//! `TableSuffix` and `EventBusName`. The stack uses it as the resource's
//! `Fn::Sub` ([`NamePattern::expr`]); the tooling resolves it for a stage's
//! config ([`NamePattern::resolve`]) when it needs a name without a deployed
//! stack. Deployed names are better read from the stack's outputs
//! ([`crate::outputs::StackOutputs`]).
//!
//! ```
//! use infra::{Stage, StageConfig, names};
//! let prod = StageConfig::for_stage(Stage::Prod);
//! assert_eq!(names::DEAD_LETTER_QUEUE.resolve(&prod), "cc-agent-reconciler-dlq-prod");
//! assert_eq!(names::LEDGER_TABLE.resolve(&prod), "cc-agent-reconciler-ledger_prod");
//! ```

use crate::model::Expr;
use crate::stage::StageConfig;

/// A physical name: a `Fn::Sub` template over the parameters `Stage`,
/// `TableSuffix` and `EventBusName` (and nothing else).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NamePattern(&'static str);

/// A parameter's value for a config.
type Resolver = fn(&StageConfig) -> String;

/// The parameters a name may use, with how a config resolves each.
const PARAMETERS: [(&str, Resolver); 3] = [
    ("${Stage}", |cfg| cfg.stage.as_str().to_owned()),
    ("${TableSuffix}", |cfg| cfg.table_suffix.clone()),
    ("${EventBusName}", |cfg| cfg.event_bus_name.clone()),
];

impl NamePattern {
    /// The pattern, e.g. `cc-agent-reconciler-dlq-${Stage}`.
    pub const fn pattern(self) -> &'static str {
        self.0
    }

    /// The name in a template: `{"Ref": Param}` when the name is exactly one
    /// parameter, else `{"Fn::Sub": pattern}`.
    pub fn expr(self) -> Expr {
        match self.0.strip_prefix("${").and_then(|p| p.strip_suffix('}')) {
            Some(parameter) if !parameter.contains(['$', '{', '}']) => Expr::reference(parameter),
            _ => Expr::sub(self.0),
        }
    }

    /// The name for `cfg`, as the deployed stack has it with the default
    /// parameter values.
    pub fn resolve(self, cfg: &StageConfig) -> String {
        PARAMETERS
            .iter()
            .fold(self.0.to_owned(), |name, (placeholder, value)| {
                name.replace(placeholder, &value(cfg))
            })
    }

    /// The resource's ARN in this account and region, as a `Fn::Sub`:
    /// `arn:${AWS::Partition}:<service>:${AWS::Region}:${AWS::AccountId}:<prefix><name>`.
    /// For ARNs that must not reference the resource itself (key policies,
    /// dashboards: no dependency cycle, nothing the emulator must resolve).
    pub fn arn(self, service: &str, prefix: &str) -> Expr {
        Expr::sub(format!(
            "arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{prefix}{}",
            self.0
        ))
    }
}

impl std::fmt::Display for NamePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// The ledger table.
pub const LEDGER_TABLE: NamePattern = NamePattern("cc-agent-reconciler-ledger${TableSuffix}");
/// The stage's event bus.
pub const EVENT_BUS: NamePattern = NamePattern("${EventBusName}");
/// Rule: the ledger events on the bus → the handler.
pub const LEDGER_EVENTS_RULE: NamePattern =
    NamePattern("cc-agent-reconciler-${Stage}-ledger-events");
/// Rule: every 6 hours → the sweep (on the default bus).
pub const SWEEP_SCHEDULE_RULE: NamePattern =
    NamePattern("cc-agent-reconciler-${Stage}-sweep-schedule");
/// Rule: every other event on the bus → the unrouted queue.
pub const UNROUTED_EVENTS_RULE: NamePattern =
    NamePattern("cc-agent-reconciler-${Stage}-unrouted-events");
/// Rules: replayed events of one detail-type → the handler, one per
/// detail-type in [`reconciler_core::event::DETAIL_TYPES`] order. They match
/// only replayed events (`replay-name` exists), and a replay evaluates only
/// the rules it names: `cargo xtask replay --detail-type T` replays onto
/// T's rule alone.
pub const REPLAY_RULES: [NamePattern; 4] = [
    NamePattern("cc-agent-reconciler-${Stage}-replay-credits-granted"),
    NamePattern("cc-agent-reconciler-${Stage}-replay-video-requested"),
    NamePattern("cc-agent-reconciler-${Stage}-replay-video-rendered"),
    NamePattern("cc-agent-reconciler-${Stage}-replay-video-failed"),
];
/// The archive of the ledger events (at most 48 characters).
pub const ARCHIVE: NamePattern = NamePattern("cc-agent-reconciler-${Stage}-ledger-archive");
/// The handler function.
pub const HANDLER_FUNCTION: NamePattern = NamePattern("cc-agent-reconciler-${Stage}-handler");
/// The sweep function.
pub const SWEEP_FUNCTION: NamePattern = NamePattern("cc-agent-reconciler-${Stage}-sweep");
/// The handler's log group.
pub const HANDLER_LOG_GROUP: NamePattern =
    NamePattern("/aws/lambda/cc-agent-reconciler-${Stage}-handler");
/// The sweep's log group.
pub const SWEEP_LOG_GROUP: NamePattern =
    NamePattern("/aws/lambda/cc-agent-reconciler-${Stage}-sweep");
/// The dead-letter queue.
pub const DEAD_LETTER_QUEUE: NamePattern = NamePattern("cc-agent-reconciler-dlq-${Stage}");
/// The queue of unrouted events.
pub const UNROUTED_QUEUE: NamePattern = NamePattern("cc-agent-reconciler-unrouted-${Stage}");
/// The ops-alerts topic.
pub const OPS_ALERTS_TOPIC: NamePattern = NamePattern("cc-agent-reconciler-ops-alerts-${Stage}");
/// The dashboard.
pub const DASHBOARD: NamePattern = NamePattern("cc-agent-reconciler-${Stage}");
/// The alias of the stage's customer managed key.
pub const KEY_ALIAS: NamePattern = NamePattern("alias/cc-agent-reconciler-${Stage}");
/// The alias of the ops-alerts topic's key.
pub const ALERTS_KEY_ALIAS: NamePattern =
    NamePattern("alias/cc-agent-reconciler-ops-alerts-${Stage}");
/// Rule on the default bus: a stage key disabled or scheduled for deletion
/// → the ops-alerts topic (stages with customer managed keys).
pub const KEY_STATE_RULE: NamePattern = NamePattern("cc-agent-reconciler-${Stage}-kms-key-state");

/// Declares each alarm's name constant, `cc-agent-reconciler-<short
/// name>-${Stage}`, and [`ALARMS`], every alarm by short name in this order.
macro_rules! alarms {
    ($($(#[$doc:meta])* $name:ident = $short:literal,)*) => {
        $(
            $(#[$doc])*
            pub const $name: NamePattern =
                NamePattern(concat!("cc-agent-reconciler-", $short, "-${Stage}"));
        )*

        /// Every alarm any stage has, by short name, in the fixed order of the
        /// `AlarmNames` output: `cc-agent-reconciler-<short name>-<stage>`.
        /// [`stage_alarms`]: those of one stage.
        pub const ALARMS: &[(&str, NamePattern)] = &[$(($short, $name)),*];
    };
}

alarms! {
    /// Alarm: handler errors ≥ 1 in 5 minutes.
    ERRORS_ALARM = "errors",
    /// Alarm: sweep errors.
    SWEEP_ERRORS_ALARM = "sweep-errors",
    /// Alarm: messages in the dead-letter queue.
    DLQ_MESSAGES_ALARM = "dlq-messages",
    /// Alarm: ledger drift.
    DRIFT_ALARM = "drift",
    /// Alarm: conflicting events.
    CONFLICTS_ALARM = "conflicts",
    /// Alarm: throttled invocations of the handler.
    THROTTLES_ALARM = "throttles",
    /// Alarm: unrouted events waiting in their queue.
    UNROUTED_ALARM = "unrouted",
    /// Alarm: throttled invocations of the sweep.
    SWEEP_THROTTLES_ALARM = "sweep-throttles",
    /// Alarm: the ledger-events rule failed to deliver to the handler.
    FAILED_INVOCATIONS_LEDGER_EVENTS_ALARM = "failed-invocations-ledger-events",
    /// Alarm: the unrouted rule failed to deliver to its queue.
    FAILED_INVOCATIONS_UNROUTED_EVENTS_ALARM = "failed-invocations-unrouted-events",
    /// Alarm: a replay rule failed to deliver (one per detail-type).
    FAILED_INVOCATIONS_REPLAY_CREDITS_GRANTED_ALARM = "failed-invocations-replay-credits-granted",
    /// Alarm: see [`FAILED_INVOCATIONS_REPLAY_CREDITS_GRANTED_ALARM`].
    FAILED_INVOCATIONS_REPLAY_VIDEO_REQUESTED_ALARM = "failed-invocations-replay-video-requested",
    /// Alarm: see [`FAILED_INVOCATIONS_REPLAY_CREDITS_GRANTED_ALARM`].
    FAILED_INVOCATIONS_REPLAY_VIDEO_RENDERED_ALARM = "failed-invocations-replay-video-rendered",
    /// Alarm: see [`FAILED_INVOCATIONS_REPLAY_CREDITS_GRANTED_ALARM`].
    FAILED_INVOCATIONS_REPLAY_VIDEO_FAILED_ALARM = "failed-invocations-replay-video-failed",
    /// Alarm: the schedule failed to invoke the sweep.
    FAILED_INVOCATIONS_SWEEP_SCHEDULE_ALARM = "failed-invocations-sweep-schedule",
    /// Alarm: the key-state rule failed to publish (stages with keys).
    FAILED_INVOCATIONS_KEY_STATE_ALARM = "failed-invocations-kms-key-state",
    /// Alarm: an event of the ledger-events rule could not reach the DLQ either.
    DLQ_SEND_FAILED_LEDGER_EVENTS_ALARM = "dlq-send-failed-ledger-events",
    /// Alarm: the same, for the unrouted rule.
    DLQ_SEND_FAILED_UNROUTED_EVENTS_ALARM = "dlq-send-failed-unrouted-events",
    /// Alarm: the same, for a replay rule (one per detail-type).
    DLQ_SEND_FAILED_REPLAY_CREDITS_GRANTED_ALARM = "dlq-send-failed-replay-credits-granted",
    /// Alarm: see [`DLQ_SEND_FAILED_REPLAY_CREDITS_GRANTED_ALARM`].
    DLQ_SEND_FAILED_REPLAY_VIDEO_REQUESTED_ALARM = "dlq-send-failed-replay-video-requested",
    /// Alarm: see [`DLQ_SEND_FAILED_REPLAY_CREDITS_GRANTED_ALARM`].
    DLQ_SEND_FAILED_REPLAY_VIDEO_RENDERED_ALARM = "dlq-send-failed-replay-video-rendered",
    /// Alarm: see [`DLQ_SEND_FAILED_REPLAY_CREDITS_GRANTED_ALARM`].
    DLQ_SEND_FAILED_REPLAY_VIDEO_FAILED_ALARM = "dlq-send-failed-replay-video-failed",
    /// Alarm: the same, for the sweep's schedule.
    DLQ_SEND_FAILED_SWEEP_SCHEDULE_ALARM = "dlq-send-failed-sweep-schedule",
    /// Alarm: the same, for the key-state rule (stages with keys).
    DLQ_SEND_FAILED_KEY_STATE_ALARM = "dlq-send-failed-kms-key-state",
    /// Alarm: the handler's on-failure destination could not be written.
    DESTINATION_FAILURES_HANDLER_ALARM = "destination-failures-handler",
    /// Alarm: the sweep's on-failure destination could not be written.
    DESTINATION_FAILURES_SWEEP_ALARM = "destination-failures-sweep",
    /// Alarm: Lambda dropped asynchronous events of the handler.
    ASYNC_DROPPED_HANDLER_ALARM = "async-dropped-handler",
    /// Alarm: Lambda dropped asynchronous events of the sweep.
    ASYNC_DROPPED_SWEEP_ALARM = "async-dropped-sweep",
    /// Alarm: the rules matched more events than the handler received.
    BUS_TO_HANDLER_GAP_ALARM = "bus-to-handler-gap",
    /// Alarm: the sweep did not run for longer than its schedule.
    SWEEP_NOT_RUNNING_ALARM = "sweep-not-running",
    /// Alarm: the oldest dead letter is days old.
    DLQ_OLDEST_ALARM = "dlq-oldest",
    /// Alarm: the oldest unrouted event is days old.
    UNROUTED_OLDEST_ALARM = "unrouted-oldest",
    /// Alarm: DynamoDB failed the functions' requests on the ledger table.
    LEDGER_SYSTEM_ERRORS_ALARM = "ledger-system-errors",
    /// Alarm: DynamoDB throttled requests on the ledger table.
    LEDGER_THROTTLED_ALARM = "ledger-throttled",
    /// Alarm: the handler's p99 duration nears its timeout.
    HANDLER_DURATION_ALARM = "handler-duration-p99",
}

/// The alarms only stages with customer managed keys have (those of the
/// key-state rule).
const KEY_ALARMS: [NamePattern; 2] = [
    FAILED_INVOCATIONS_KEY_STATE_ALARM,
    DLQ_SEND_FAILED_KEY_STATE_ALARM,
];

/// The alarms `cfg`'s stage has, in [`ALARMS`] order.
pub fn stage_alarms(cfg: &StageConfig) -> Vec<(&'static str, NamePattern)> {
    ALARMS
        .iter()
        .copied()
        .filter(|(_, pattern)| cfg.customer_managed_key || !KEY_ALARMS.contains(pattern))
        .collect()
}

/// Every name of the stack (for tests and tooling), alarms included.
pub fn all() -> Vec<NamePattern> {
    let mut all = vec![
        LEDGER_TABLE,
        EVENT_BUS,
        LEDGER_EVENTS_RULE,
        SWEEP_SCHEDULE_RULE,
        UNROUTED_EVENTS_RULE,
        ARCHIVE,
        HANDLER_FUNCTION,
        SWEEP_FUNCTION,
        HANDLER_LOG_GROUP,
        SWEEP_LOG_GROUP,
        DEAD_LETTER_QUEUE,
        UNROUTED_QUEUE,
        OPS_ALERTS_TOPIC,
        DASHBOARD,
        KEY_ALIAS,
        ALERTS_KEY_ALIAS,
        KEY_STATE_RULE,
    ];
    all.extend(REPLAY_RULES);
    all.extend(ALARMS.iter().map(|(_, pattern)| *pattern));
    all
}

/// The replay rules' names as one comma-joined `Fn::Sub`, in
/// [`REPLAY_RULES`] order (the `ReplayRuleNames` output).
pub fn replay_rule_names_expr() -> Expr {
    let patterns: Vec<&str> = REPLAY_RULES.iter().map(|p| p.pattern()).collect();
    Expr::sub(patterns.join(","))
}

/// The stage's alarm names as one comma-joined `Fn::Sub`, in [`ALARMS`]
/// order (the `AlarmNames` output; built from the patterns, not from `Ref`s
/// to the alarms, which the local emulator skips).
pub fn alarm_names_expr(cfg: &StageConfig) -> Expr {
    let patterns: Vec<&str> = stage_alarms(cfg).iter().map(|(_, p)| p.pattern()).collect();
    Expr::sub(patterns.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Stage;

    #[test]
    fn patterns_resolve_for_a_config() {
        let prod = StageConfig::for_stage(Stage::Prod);
        assert_eq!(
            DEAD_LETTER_QUEUE.resolve(&prod),
            "cc-agent-reconciler-dlq-prod"
        );
        assert_eq!(
            LEDGER_TABLE.resolve(&prod),
            "cc-agent-reconciler-ledger_prod"
        );
        assert_eq!(EVENT_BUS.resolve(&prod), "cc-agent-reconciler-prod");
        assert_eq!(
            ERRORS_ALARM.resolve(&prod),
            "cc-agent-reconciler-errors-prod"
        );
        assert_eq!(
            UNROUTED_ALARM.resolve(&prod),
            "cc-agent-reconciler-unrouted-prod"
        );
        assert_eq!(DASHBOARD.resolve(&prod), "cc-agent-reconciler-prod");
        assert_eq!(
            HANDLER_FUNCTION.resolve(&prod),
            "cc-agent-reconciler-prod-handler"
        );
    }

    #[test]
    fn a_single_parameter_is_a_ref_anything_else_a_sub() {
        assert_eq!(EVENT_BUS.expr(), Expr::reference("EventBusName"));
        assert_eq!(
            DEAD_LETTER_QUEUE.expr(),
            Expr::sub("cc-agent-reconciler-dlq-${Stage}")
        );
    }

    #[test]
    fn names_use_only_the_stage_parameters_and_fit_their_limits() {
        for stage in Stage::ALL {
            let cfg = StageConfig::for_stage(stage);
            for pattern in all() {
                let resolved = pattern.resolve(&cfg);
                assert!(!resolved.contains("${"), "{pattern}: {resolved}");
                assert!(resolved.contains(stage.as_str()), "{pattern}");
                assert!(resolved.contains("cc-agent-reconciler"), "{pattern}");
            }
            // EventBridge: archive names ≤ 48, rule names ≤ 64; Lambda ≤ 64;
            // SQS ≤ 80.
            assert!(ARCHIVE.resolve(&cfg).len() <= 48);
            for rule in [
                LEDGER_EVENTS_RULE,
                SWEEP_SCHEDULE_RULE,
                UNROUTED_EVENTS_RULE,
                KEY_STATE_RULE,
            ]
            .into_iter()
            .chain(REPLAY_RULES)
            {
                assert!(rule.resolve(&cfg).len() <= 64);
            }
        }
        let mut patterns: Vec<&str> = all().iter().map(|p| p.pattern()).collect();
        patterns.sort_unstable();
        let count = patterns.len();
        patterns.dedup();
        // The unrouted queue and its alarm share the name the contract gives
        // them (different resource types).
        assert_eq!(patterns.len(), count - 1, "names are unique per type");
    }

    #[test]
    fn each_replay_rule_is_named_for_its_detail_type_in_order() {
        for (rule, detail_type) in REPLAY_RULES
            .iter()
            .zip(reconciler_core::event::DETAIL_TYPES)
        {
            assert_eq!(
                rule.pattern(),
                format!(
                    "cc-agent-reconciler-${{Stage}}-replay-{}",
                    detail_type.replace('.', "-")
                )
            );
        }
        let Expr::Sub(joined) = replay_rule_names_expr() else {
            panic!("a Sub");
        };
        assert_eq!(
            joined.split(',').collect::<Vec<_>>(),
            REPLAY_RULES.map(|p| p.pattern()).to_vec()
        );
    }

    #[test]
    fn the_alarm_names_output_joins_the_stages_alarms_in_order() {
        for stage in Stage::ALL {
            let cfg = StageConfig::for_stage(stage);
            let Expr::Sub(joined) = alarm_names_expr(&cfg) else {
                panic!("a Sub");
            };
            let names: Vec<&str> = joined.split(',').collect();
            let with_keys = stage != Stage::Dev;
            assert_eq!(names.len(), ALARMS.len() - if with_keys { 0 } else { 2 });
            assert_eq!(
                names.contains(&"cc-agent-reconciler-failed-invocations-kms-key-state-${Stage}"),
                with_keys
            );
            // The historical alarms keep their names and their place.
            assert_eq!(
                names[..7],
                [
                    "cc-agent-reconciler-errors-${Stage}",
                    "cc-agent-reconciler-sweep-errors-${Stage}",
                    "cc-agent-reconciler-dlq-messages-${Stage}",
                    "cc-agent-reconciler-drift-${Stage}",
                    "cc-agent-reconciler-conflicts-${Stage}",
                    "cc-agent-reconciler-throttles-${Stage}",
                    "cc-agent-reconciler-unrouted-${Stage}",
                ]
            );
        }
        for (short, pattern) in ALARMS {
            assert_eq!(
                pattern.pattern(),
                format!("cc-agent-reconciler-{short}-${{Stage}}")
            );
        }
    }
}
