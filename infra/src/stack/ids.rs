//! Logical ids of the resources: the keys of the template's `Resources`,
//! by which `xtask` and the tests find a resource.

/// The ledger table.
pub const LEDGER_TABLE: &str = "LedgerTable";
/// The stage's event bus.
pub const EVENT_BUS: &str = "EventBus";
/// Rule: business events on the bus → handler.
pub const LEDGER_EVENTS_RULE: &str = "LedgerEventsRule";
/// Rule: every 6 hours → sweep.
pub const SWEEP_SCHEDULE_RULE: &str = "SweepScheduleRule";
/// The handler function.
pub const HANDLER_FUNCTION: &str = "HandlerFunction";
/// The handler's execution role.
pub const HANDLER_ROLE: &str = "HandlerRole";
/// The handler's log group.
pub const HANDLER_LOG_GROUP: &str = "HandlerLogGroup";
/// The handler's asynchronous-invoke config.
pub const HANDLER_EVENT_INVOKE_CONFIG: &str = "HandlerEventInvokeConfig";
/// Lets the events rule invoke the handler.
pub const HANDLER_INVOKE_PERMISSION: &str = "HandlerInvokePermission";
/// The replay rules, in `DETAIL_TYPES` order (see `names::REPLAY_RULES`).
pub const REPLAY_RULES: [&str; 4] = [
    "ReplayCreditsGrantedRule",
    "ReplayVideoRequestedRule",
    "ReplayVideoRenderedRule",
    "ReplayVideoFailedRule",
];
/// Let each replay rule invoke the handler.
pub const REPLAY_PERMISSIONS: [&str; 4] = [
    "ReplayCreditsGrantedPermission",
    "ReplayVideoRequestedPermission",
    "ReplayVideoRenderedPermission",
    "ReplayVideoFailedPermission",
];
/// The sweep function.
pub const SWEEP_FUNCTION: &str = "SweepFunction";
/// The sweep's execution role.
pub const SWEEP_ROLE: &str = "SweepRole";
/// The sweep's log group.
pub const SWEEP_LOG_GROUP: &str = "SweepLogGroup";
/// The sweep's asynchronous-invoke config.
pub const SWEEP_EVENT_INVOKE_CONFIG: &str = "SweepEventInvokeConfig";
/// Lets the schedule rule invoke the sweep.
pub const SWEEP_INVOKE_PERMISSION: &str = "SweepInvokePermission";
/// The dead-letter queue.
pub const DEAD_LETTER_QUEUE: &str = "DeadLetterQueue";
/// The dead-letter queue's resource policy.
pub const DEAD_LETTER_QUEUE_POLICY: &str = "DeadLetterQueuePolicy";
/// Rule: every other event on the bus → the unrouted queue.
pub const UNROUTED_EVENTS_RULE: &str = "UnroutedEventsRule";
/// The queue of unrouted events.
pub const UNROUTED_QUEUE: &str = "UnroutedQueue";
/// The unrouted queue's resource policy.
pub const UNROUTED_QUEUE_POLICY: &str = "UnroutedQueuePolicy";
/// The archive of the ledger events on the bus.
pub const EVENT_ARCHIVE: &str = "LedgerEventsArchive";
/// The stage's customer managed KMS key (staging and prod).
pub const STAGE_KEY: &str = "StageKey";
/// The key's alias `alias/cc-agent-reconciler-<stage>`.
pub const STAGE_KEY_ALIAS: &str = "StageKeyAlias";
/// The ops-alerts topic's own customer managed KMS key (staging and prod).
pub const ALERTS_KEY: &str = "AlertsKey";
/// Its alias `alias/cc-agent-reconciler-ops-alerts-<stage>`.
pub const ALERTS_KEY_ALIAS: &str = "AlertsKeyAlias";
/// Rule on the default bus: a stage key disabled or scheduled for deletion
/// (CloudTrail) → the ops-alerts topic (staging and prod).
pub const KEY_STATE_RULE: &str = "KeyStateRule";
/// The ops-alerts topic.
pub const OPS_ALERTS_TOPIC: &str = "OpsAlertsTopic";
/// The ops-alerts topic's access policy.
pub const OPS_ALERTS_TOPIC_POLICY: &str = "OpsAlertsTopicPolicy";
/// Prefix of the subscriptions to the ops-alerts topic: each is
/// `OpsAlertsSubscription<8 hex digits of its protocol and endpoint>`,
/// stable when the list is reordered.
pub const OPS_ALERTS_SUBSCRIPTION_PREFIX: &str = "OpsAlertsSubscription";
/// The stage's dashboard.
pub const DASHBOARD: &str = "Dashboard";
/// Alarm: handler errors.
pub const HANDLER_ERRORS_ALARM: &str = "HandlerErrorsAlarm";
/// Alarm: sweep errors.
pub const SWEEP_ERRORS_ALARM: &str = "SweepErrorsAlarm";
/// Alarm: messages in the dead-letter queue.
pub const DEAD_LETTER_MESSAGES_ALARM: &str = "DeadLetterMessagesAlarm";
/// Alarm: ledger drift found by the sweep.
pub const LEDGER_DRIFT_ALARM: &str = "LedgerDriftAlarm";
/// Alarm: conflicting events.
pub const CONFLICTS_ALARM: &str = "ConflictsAlarm";
/// Alarm: throttled invocations of the handler.
pub const THROTTLES_ALARM: &str = "ThrottlesAlarm";
/// Alarm: unrouted events are waiting in their queue.
pub const UNROUTED_EVENTS_ALARM: &str = "UnroutedEventsAlarm";

/// The logical id of the alarm `short_name` (see `infra::names::ALARMS`).
/// The seven first alarms keep their ids (a new id would make CloudFormation
/// replace an alarm whose name is fixed, which it cannot: the name is
/// taken); the others are `<short name in CamelCase>Alarm`, e.g.
/// `FailedInvocationsLedgerEventsAlarm`.
pub fn alarm(short_name: &str) -> String {
    let kept = match short_name {
        "errors" => HANDLER_ERRORS_ALARM,
        "sweep-errors" => SWEEP_ERRORS_ALARM,
        "dlq-messages" => DEAD_LETTER_MESSAGES_ALARM,
        "drift" => LEDGER_DRIFT_ALARM,
        "conflicts" => CONFLICTS_ALARM,
        "throttles" => THROTTLES_ALARM,
        "unrouted" => UNROUTED_EVENTS_ALARM,
        _ => "",
    };
    if !kept.is_empty() {
        return kept.to_owned();
    }
    let camel: String = short_name
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect();
    format!("{camel}Alarm")
}
