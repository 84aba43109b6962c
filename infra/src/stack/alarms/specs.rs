//! Every alarm: the functions' failures, every way an event or an alert
//! can vanish without an error (a delivery that failed, or whose dead
//! letter could not be written; an asynchronous event Lambda dropped;
//! events matched on the bus that never reached the handler; a sweep that
//! did not run; dead letters and unrouted events nearing SQS's 14 days),
//! and what the ledger and the traffic show.
//!
//! Metric facts (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-monitoring.html>,
//! <https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html>,
//! <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html>,
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html>):
//! EventBridge sends `FailedInvocations` and `InvocationsFailedToBeSentToDlq`
//! only when they are not zero, and Lambda its error and async metrics only
//! when something happened, so those alarms treat missing data as not
//! breaching. The sweep's `Invocations` is missing exactly when it did not
//! run: breaching. An alarm's evaluation periods times its period cannot
//! exceed a day
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html>).

use reconciler_core::contract::metrics as custom;

use super::super::{FIVE_MINUTES, ONE_HOUR, ONE_MINUTE, ids};
use super::metrics::{self, RuleRef};
use crate::model::cloudwatch::{
    AlarmMetric, AlarmStatistic, ComparisonOperator, Statistic, TreatMissingData,
};
use crate::names::{self, NamePattern};
use crate::stage::StageConfig;

/// One alarm; all notify the topic on ALARM and OK.
pub(super) struct AlarmSpec {
    /// `errors`, ...: the alarm is `cc-agent-reconciler-<short name>-<stage>`
    /// and its runbook anchor `alarm-<short name>`.
    pub short_name: &'static str,
    pub name: NamePattern,
    /// What it means; the runbook reference is appended.
    pub description: String,
    pub metric: AlarmMetric,
    pub comparison_operator: ComparisonOperator,
    pub threshold: f64,
    pub periods: Periods,
    pub missing_data: TreatMissingData,
    /// For percentile alarms: whether too few samples still count.
    pub low_sample_count: Option<&'static str>,
}

/// Periods evaluated, and of those, breaching ones that alarm.
#[derive(Clone, Copy)]
pub(super) struct Periods {
    pub evaluated: u32,
    pub to_alarm: u32,
}

const ONE_PERIOD: Periods = Periods {
    evaluated: 1,
    to_alarm: 1,
};

/// `> 0` over one period, missing data not breaching: the shape of most.
fn any_at_all(
    (short_name, name): (&'static str, NamePattern),
    description: String,
    metric: AlarmMetric,
) -> AlarmSpec {
    AlarmSpec {
        short_name,
        name,
        description,
        metric,
        comparison_operator: ComparisonOperator::GreaterThanThreshold,
        threshold: 0.0,
        periods: ONE_PERIOD,
        missing_data: TreatMissingData::NotBreaching,
        low_sample_count: None,
    }
}

fn sum() -> AlarmStatistic {
    AlarmStatistic::Statistic(Statistic::Sum)
}

/// Every alarm of `cfg`'s stage (the key-state rule's only with the keys).
pub(super) fn alarm_specs(cfg: &StageConfig) -> Vec<AlarmSpec> {
    let mut specs = failure_specs();
    specs.extend(ledger_specs());
    specs.extend(traffic_specs(cfg));
    specs.extend(rule_delivery_specs(cfg));
    specs.extend(lambda_delivery_specs());
    specs.extend(staleness_specs());
    specs
}

/// The functions' errors, and what landed in the dead-letter queue.
fn failure_specs() -> Vec<AlarmSpec> {
    let errors = |function_id| metrics::function("Errors", function_id, sum(), FIVE_MINUTES);
    vec![
        AlarmSpec {
            comparison_operator: ComparisonOperator::GreaterThanOrEqualToThreshold,
            threshold: 1.0,
            ..any_at_all(
                ("errors", names::ERRORS_ALARM),
                "The handler failed at least once in 5 minutes (invalid event or AWS error); \
                 the event is retried and then lands in the dead-letter queue."
                    .to_owned(),
                errors(ids::HANDLER_FUNCTION),
            )
        },
        AlarmSpec {
            comparison_operator: ComparisonOperator::GreaterThanOrEqualToThreshold,
            threshold: 1.0,
            ..any_at_all(
                ("sweep-errors", names::SWEEP_ERRORS_ALARM),
                "The sweep failed; stale holds are not expired until it succeeds.".to_owned(),
                errors(ids::SWEEP_FUNCTION),
            )
        },
        any_at_all(
            ("dlq-messages", names::DLQ_MESSAGES_ALARM),
            "Events or invocations are in the dead-letter queue: inspect, fix, replay.".to_owned(),
            metrics::queue(
                "ApproximateNumberOfMessagesVisible",
                ids::DEAD_LETTER_QUEUE,
                FIVE_MINUTES,
            ),
        ),
    ]
}

/// What the ledger shows: drift, conflicting events, and DynamoDB's own
/// failures on the table.
fn ledger_specs() -> Vec<AlarmSpec> {
    vec![
        AlarmSpec {
            // Only a sweep whose audit completed reports; in between, and
            // after a partial audit, the alarm keeps its state. A minute's
            // period: the sweep run after a repair decides it alone (over
            // an hour, the drifting sweep's datapoint would keep it in
            // ALARM until a sweep in a later hour).
            missing_data: TreatMissingData::Ignore,
            ..any_at_all(
                ("drift", names::DRIFT_ALARM),
                "The sweep found accounts whose ledger entries do not sum to their balances. \
                 Keeps its state until a sweep whose audit completed reports again."
                    .to_owned(),
                metrics::custom(custom::LEDGER_DRIFT, Statistic::Maximum, ONE_MINUTE),
            )
        },
        any_at_all(
            ("conflicts", names::CONFLICTS_ALARM),
            "The handler received conflicting events (same business key, other payload); see \
             the sweep report."
                .to_owned(),
            metrics::custom(custom::CONFLICTS, Statistic::Sum, FIVE_MINUTES),
        ),
        any_at_all(
            ("ledger-system-errors", names::LEDGER_SYSTEM_ERRORS_ALARM),
            "DynamoDB answered requests on the ledger table with an internal error \
             (SystemErrors, summed over the operations the functions send)."
                .to_owned(),
            metrics::table_operations("SystemErrors", "Ledger table system errors", FIVE_MINUTES),
        ),
        any_at_all(
            ("ledger-throttled", names::LEDGER_THROTTLED_ALARM),
            "DynamoDB throttled requests on the ledger table (ThrottledRequests, summed over the \
             operations the functions send); the functions retry, then fail."
                .to_owned(),
            metrics::table_operations(
                "ThrottledRequests",
                "Ledger table throttled requests",
                FIVE_MINUTES,
            ),
        ),
    ]
}

/// The traffic: throttled invocations (one alarm per function: no metric
/// math), unrouted events, and a handler nearing its timeout.
fn traffic_specs(cfg: &StageConfig) -> Vec<AlarmSpec> {
    let throttles = |function_id| metrics::function("Throttles", function_id, sum(), FIVE_MINUTES);
    // 80% of the timeout, in milliseconds.
    let slow_ms = f64::from(cfg.handler_timeout_seconds) * 800.0;
    vec![
        any_at_all(
            ("throttles", names::THROTTLES_ALARM),
            "Invocations of the handler were throttled (its reserved concurrency or the \
             account's pool); Lambda retries them for up to 6 hours."
                .to_owned(),
            throttles(ids::HANDLER_FUNCTION),
        ),
        any_at_all(
            ("sweep-throttles", names::SWEEP_THROTTLES_ALARM),
            "Invocations of the sweep were throttled (one at a time: a manual sweep during a \
             scheduled one, or the account's pool)."
                .to_owned(),
            throttles(ids::SWEEP_FUNCTION),
        ),
        any_at_all(
            ("unrouted", names::UNROUTED_ALARM),
            "Events on the stage's bus match no producer's detail-type and source (a typo, an \
             unknown source, an event no producer may send) and wait in the unrouted queue."
                .to_owned(),
            metrics::queue(
                "ApproximateNumberOfMessagesVisible",
                ids::UNROUTED_QUEUE,
                FIVE_MINUTES,
            ),
        ),
        AlarmSpec {
            threshold: slow_ms,
            periods: Periods {
                evaluated: 3,
                to_alarm: 3,
            },
            // A quiet stage has fewer samples than a p99 needs (1000):
            // evaluate them anyway, a slow invocation is what this is for.
            low_sample_count: Some("evaluate"),
            ..any_at_all(
                ("handler-duration-p99", names::HANDLER_DURATION_ALARM),
                format!(
                    "The handler's p99 duration stayed above {slow_ms:.0} ms (80% of its {} s \
                     timeout) for 15 minutes: invocations will soon time out (and be retried).",
                    cfg.handler_timeout_seconds
                ),
                metrics::function(
                    "Duration",
                    ids::HANDLER_FUNCTION,
                    AlarmStatistic::ExtendedStatistic("p99".to_owned()),
                    FIVE_MINUTES,
                ),
            )
        },
    ]
}

/// One rule and its two delivery alarms.
struct RuleAlarms {
    rule: RuleRef,
    /// What its target gets, for the descriptions.
    what: &'static str,
    failed: (&'static str, NamePattern),
    dead_letter_failed: (&'static str, NamePattern),
}

fn rules(cfg: &StageConfig) -> Vec<RuleAlarms> {
    let on_bus = |name| RuleRef {
        name,
        on_stage_bus: true,
    };
    let default_bus = |name| RuleRef {
        name,
        on_stage_bus: false,
    };
    let mut rules = vec![
        RuleAlarms {
            rule: on_bus(names::LEDGER_EVENTS_RULE),
            what: "ledger events to the handler",
            failed: (
                "failed-invocations-ledger-events",
                names::FAILED_INVOCATIONS_LEDGER_EVENTS_ALARM,
            ),
            dead_letter_failed: (
                "dlq-send-failed-ledger-events",
                names::DLQ_SEND_FAILED_LEDGER_EVENTS_ALARM,
            ),
        },
        RuleAlarms {
            rule: on_bus(names::UNROUTED_EVENTS_RULE),
            what: "unrouted events to their queue",
            failed: (
                "failed-invocations-unrouted-events",
                names::FAILED_INVOCATIONS_UNROUTED_EVENTS_ALARM,
            ),
            dead_letter_failed: (
                "dlq-send-failed-unrouted-events",
                names::DLQ_SEND_FAILED_UNROUTED_EVENTS_ALARM,
            ),
        },
    ];
    let replays = [
        (
            "failed-invocations-replay-credits-granted",
            names::FAILED_INVOCATIONS_REPLAY_CREDITS_GRANTED_ALARM,
            "dlq-send-failed-replay-credits-granted",
            names::DLQ_SEND_FAILED_REPLAY_CREDITS_GRANTED_ALARM,
        ),
        (
            "failed-invocations-replay-video-requested",
            names::FAILED_INVOCATIONS_REPLAY_VIDEO_REQUESTED_ALARM,
            "dlq-send-failed-replay-video-requested",
            names::DLQ_SEND_FAILED_REPLAY_VIDEO_REQUESTED_ALARM,
        ),
        (
            "failed-invocations-replay-video-rendered",
            names::FAILED_INVOCATIONS_REPLAY_VIDEO_RENDERED_ALARM,
            "dlq-send-failed-replay-video-rendered",
            names::DLQ_SEND_FAILED_REPLAY_VIDEO_RENDERED_ALARM,
        ),
        (
            "failed-invocations-replay-video-failed",
            names::FAILED_INVOCATIONS_REPLAY_VIDEO_FAILED_ALARM,
            "dlq-send-failed-replay-video-failed",
            names::DLQ_SEND_FAILED_REPLAY_VIDEO_FAILED_ALARM,
        ),
    ];
    for (rule, (failed, failed_name, dlq, dlq_name)) in names::REPLAY_RULES.into_iter().zip(replays)
    {
        rules.push(RuleAlarms {
            rule: on_bus(rule),
            what: "replayed events to the handler",
            failed: (failed, failed_name),
            dead_letter_failed: (dlq, dlq_name),
        });
    }
    rules.push(RuleAlarms {
        rule: default_bus(names::SWEEP_SCHEDULE_RULE),
        what: "the scheduled sweep",
        failed: (
            "failed-invocations-sweep-schedule",
            names::FAILED_INVOCATIONS_SWEEP_SCHEDULE_ALARM,
        ),
        dead_letter_failed: (
            "dlq-send-failed-sweep-schedule",
            names::DLQ_SEND_FAILED_SWEEP_SCHEDULE_ALARM,
        ),
    });
    if cfg.customer_managed_key {
        rules.push(RuleAlarms {
            rule: default_bus(names::KEY_STATE_RULE),
            what: "key-state alerts to the ops-alerts topic",
            failed: (
                "failed-invocations-kms-key-state",
                names::FAILED_INVOCATIONS_KEY_STATE_ALARM,
            ),
            dead_letter_failed: (
                "dlq-send-failed-kms-key-state",
                names::DLQ_SEND_FAILED_KEY_STATE_ALARM,
            ),
        });
    }
    rules
}

/// Per rule: deliveries that failed after EventBridge's retries (then in
/// the DLQ), and those whose dead letter could not be written either
/// (lost); and events the rules matched that the handler never received.
fn rule_delivery_specs(cfg: &StageConfig) -> Vec<AlarmSpec> {
    let mut specs = Vec::new();
    for r in rules(cfg) {
        specs.push(any_at_all(
            r.failed,
            format!(
                "EventBridge gave up delivering {} after its retries (FailedInvocations): \
                 they are in the dead-letter queue, unless {} fired too.",
                r.what, r.dead_letter_failed.0
            ),
            metrics::rule("FailedInvocations", r.rule, FIVE_MINUTES),
        ));
        specs.push(any_at_all(
            r.dead_letter_failed,
            format!(
                "EventBridge could deliver {} neither to the target nor to the dead-letter \
                 queue (InvocationsFailedToBeSentToDlq): those events are lost; replay them \
                 from the archive.",
                r.what
            ),
            metrics::rule("InvocationsFailedToBeSentToDlq", r.rule, FIVE_MINUTES),
        ));
    }
    specs.push(AlarmSpec {
        periods: Periods {
            evaluated: 2,
            to_alarm: 2,
        },
        ..any_at_all(
            ("bus-to-handler-gap", names::BUS_TO_HANDLER_GAP_ALARM),
            "For two hours in a row the ledger and replay rules matched more events than the \
             handler received (MatchedEvents minus AsyncEventsReceived): events reach the bus \
             but not the handler."
                .to_owned(),
            metrics::bus_to_handler_gap(ONE_HOUR),
        )
    });
    specs
}

/// Per function: an on-failure record Lambda could not write, and events
/// it dropped.
fn lambda_delivery_specs() -> Vec<AlarmSpec> {
    let mut specs = Vec::new();
    for (function, function_id, destination, dropped) in [
        (
            "handler",
            ids::HANDLER_FUNCTION,
            (
                "destination-failures-handler",
                names::DESTINATION_FAILURES_HANDLER_ALARM,
            ),
            ("async-dropped-handler", names::ASYNC_DROPPED_HANDLER_ALARM),
        ),
        (
            "sweep",
            ids::SWEEP_FUNCTION,
            (
                "destination-failures-sweep",
                names::DESTINATION_FAILURES_SWEEP_ALARM,
            ),
            ("async-dropped-sweep", names::ASYNC_DROPPED_SWEEP_ALARM),
        ),
    ] {
        specs.push(any_at_all(
            destination,
            format!(
                "Lambda could not write failed {function} invocations to the dead-letter queue, \
                 their on-failure destination (DestinationDeliveryFailures: permissions, the \
                 key, the size): those events are lost."
            ),
            metrics::function(
                "DestinationDeliveryFailures",
                function_id,
                sum(),
                FIVE_MINUTES,
            ),
        ));
        specs.push(any_at_all(
            dropped,
            format!(
                "Lambda discarded asynchronous {function} events after its retries or their \
                 maximum age (AsyncEventsDropped); each went to the dead-letter queue unless \
                 {} fired too.",
                destination.0
            ),
            metrics::function("AsyncEventsDropped", function_id, sum(), FIVE_MINUTES),
        ));
    }
    specs
}

/// Three days: a dead letter or unrouted event this old has been waiting
/// long, well before SQS deletes it at fourteen.
const OLD_SECONDS: f64 = 3.0 * 24.0 * 3600.0;

/// What should have happened and did not: a sweep, and the handling of
/// dead letters and unrouted events before SQS's 14 days.
fn staleness_specs() -> Vec<AlarmSpec> {
    let oldest = |queue_id| metrics::queue("ApproximateAgeOfOldestMessage", queue_id, ONE_HOUR);
    vec![
        AlarmSpec {
            comparison_operator: ComparisonOperator::LessThanThreshold,
            threshold: 1.0,
            // Seven hours without an invocation: the schedule is every 6.
            periods: Periods {
                evaluated: 7,
                to_alarm: 7,
            },
            // No invocation, no datapoint: exactly what this watches.
            missing_data: TreatMissingData::Breaching,
            ..any_at_all(
                ("sweep-not-running", names::SWEEP_NOT_RUNNING_ALARM),
                "The sweep was not invoked for 7 hours although it runs every 6: stale holds \
                 are not expired and drift goes unreported."
                    .to_owned(),
                metrics::function("Invocations", ids::SWEEP_FUNCTION, sum(), ONE_HOUR),
            )
        },
        AlarmSpec {
            threshold: OLD_SECONDS,
            ..any_at_all(
                ("dlq-oldest", names::DLQ_OLDEST_ALARM),
                "The oldest dead letter is more than 3 days old; SQS deletes it at 14 days."
                    .to_owned(),
                oldest(ids::DEAD_LETTER_QUEUE),
            )
        },
        AlarmSpec {
            threshold: OLD_SECONDS,
            ..any_at_all(
                ("unrouted-oldest", names::UNROUTED_OLDEST_ALARM),
                "The oldest unrouted event is more than 3 days old; SQS deletes it at 14 days \
                 (it stays in the archive)."
                    .to_owned(),
                oldest(ids::UNROUTED_QUEUE),
            )
        },
    ]
}
