//! The ops alerts: the ops-alerts topic, its policy and subscriptions, and
//! the alarms. Every alarm notifies the topic on ALARM and OK, treats
//! missing data as not breaching, and names its runbook entry in
//! [`RUNBOOK_FILE`] ([`runbook_anchors`]).

use reconciler_core::contract::metrics;

use super::skips::{self, skip_if};
use super::{FIVE_MINUTES, RUNBOOK_FILE, SIX_HOURS, deny_insecure_transport, ids, params};
use crate::model::cloudwatch::{
    Alarm, AlarmMetric, ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricStat,
    MetricStatProperties, Statistic, TreatMissingData,
};
use crate::model::iam::{PolicyDocument, Statement};
use crate::model::sns::{Subscription, Topic, TopicPolicy};
use crate::model::{Expr, Resource, Template};
use crate::names::{self, NamePattern};
use crate::stage::StageConfig;

/// The topic, its policy and subscriptions, and the alarms. `key`: the
/// topic's own key, when the stage has customer managed keys.
pub(super) fn add_alerts(t: &mut Template, cfg: &StageConfig, key: Option<&Expr>) {
    add_topic(t, cfg, key);
    for subscription in &cfg.alert_subscriptions {
        t.add_resource(
            &subscription_id(subscription),
            Subscription {
                topic_arn: Expr::reference(ids::OPS_ALERTS_TOPIC),
                protocol: subscription.protocol,
                endpoint: subscription.endpoint.clone(),
            },
        );
    }
    for spec in alarm_specs() {
        let alarm = Alarm {
            alarm_name: spec.name.expr(),
            alarm_description: format!(
                "{} Runbook: {RUNBOOK_FILE}#{}",
                spec.description,
                runbook_anchor(spec.short_name)
            ),
            metric: spec.metric,
            evaluation_periods: 1,
            datapoints_to_alarm: 1,
            threshold: spec.threshold,
            comparison_operator: spec.comparison_operator,
            treat_missing_data: TreatMissingData::NotBreaching,
            alarm_actions: vec![Expr::reference(ids::OPS_ALERTS_TOPIC)],
            ok_actions: vec![Expr::reference(ids::OPS_ALERTS_TOPIC)],
        };
        t.add_resource(spec.logical_id, alarm);
    }
}

/// The ops-alerts topic and its policy: only this account's CloudWatch
/// alarms publish, and, with the keys, the key-state rule; only over TLS.
fn add_topic(t: &mut Template, cfg: &StageConfig, key: Option<&Expr>) {
    // With the alerts key, encrypted: its policy lets CloudWatch alarms and
    // EventBridge use it. Never the AWS managed `alias/aws/sns`, which
    // alarms cannot use.
    let topic = Topic {
        topic_name: names::OPS_ALERTS_TOPIC.expr(),
        display_name: Some(format!("cc-agent-reconciler {}", cfg.stage)),
        kms_master_key_id: key.cloned(),
    };
    t.add_resource(
        ids::OPS_ALERTS_TOPIC,
        skip_if(Resource::new(topic), key.is_none(), skips::TOPIC_KEY),
    );
    let topic_arn = || vec![Expr::reference(ids::OPS_ALERTS_TOPIC)];
    let mut statements = vec![
        Statement::allow(
            "CloudWatchAlarmsOfThisAccountPublish",
            &["sns:Publish"],
            topic_arn(),
        )
        .for_service("cloudwatch.amazonaws.com")
        .with_condition(
            "StringEquals",
            "aws:SourceAccount",
            vec![Expr::reference("AWS::AccountId")],
        ),
    ];
    if key.is_some() {
        // The key-state rule's target (EventBridge's SNS permissions:
        // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions).
        statements.push(
            Statement::allow("KeyStateRulePublishes", &["sns:Publish"], topic_arn())
                .for_service("events.amazonaws.com")
                .with_condition(
                    "ArnEquals",
                    "aws:SourceArn",
                    vec![Expr::get_att(ids::KEY_STATE_RULE, "Arn")],
                ),
        );
    }
    statements.push(deny_insecure_transport(&["sns:Publish"], topic_arn()));
    t.add_resource(
        ids::OPS_ALERTS_TOPIC_POLICY,
        TopicPolicy {
            policy_document: PolicyDocument::new(statements),
            topics: topic_arn(),
        },
    );
}

/// `OpsAlertsSubscription` + 8 hex digits of FNV-1a over protocol and
/// endpoint: stable when the list is reordered or another entry removed, so
/// CloudFormation does not recreate (and re-confirm) the others.
fn subscription_id(subscription: &crate::stage::AlertSubscription) -> String {
    let text = format!(
        "{}:{}",
        subscription.protocol.as_str(),
        subscription.endpoint
    );
    let hash = text.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    format!("{}{hash:08X}", ids::OPS_ALERTS_SUBSCRIPTION_PREFIX)
}

/// The runbook entry of an alarm: `alarm-<short name>`, an anchor in
/// [`RUNBOOK_FILE`].
fn runbook_anchor(short_name: &str) -> String {
    format!("alarm-{short_name}")
}

/// An alarm and its runbook entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunbookAnchor {
    /// The alarm's short name (`errors`, `unrouted`, ...): the alarm is
    /// `cc-agent-reconciler-<short name>-<stage>`.
    pub alarm: &'static str,
    /// The anchor in [`RUNBOOK_FILE`] its description names: `alarm-<short name>`.
    pub anchor: String,
}

/// Every alarm's runbook entry, in [`names::ALARMS`] order: the operations
/// doc must have each anchor (a docs check can verify it).
pub fn runbook_anchors() -> Vec<RunbookAnchor> {
    names::ALARMS
        .iter()
        .map(|(short_name, _)| RunbookAnchor {
            alarm: short_name,
            anchor: runbook_anchor(short_name),
        })
        .collect()
}

/// What differs between the alarms; all notify the topic on ALARM and OK
/// and treat missing data as not breaching.
struct AlarmSpec {
    logical_id: &'static str,
    /// `errors`, ...: the runbook anchor is `alarm-<short name>`.
    short_name: &'static str,
    name: NamePattern,
    /// What it means; the runbook reference is appended.
    description: &'static str,
    metric: AlarmMetric,
    comparison_operator: ComparisonOperator,
    threshold: f64,
}

/// Every alarm, in [`names::ALARMS`] order.
fn alarm_specs() -> Vec<AlarmSpec> {
    let mut specs = failure_alarm_specs();
    specs.extend(ledger_and_traffic_alarm_specs());
    specs
}

/// Failures: the handler's and the sweep's errors, and what landed in the
/// dead-letter queue.
fn failure_alarm_specs() -> Vec<AlarmSpec> {
    use ComparisonOperator::{GreaterThanOrEqualToThreshold, GreaterThanThreshold};
    vec![
        AlarmSpec {
            logical_id: ids::HANDLER_ERRORS_ALARM,
            short_name: "errors",
            name: names::ERRORS_ALARM,
            description: "The handler failed at least once in 5 minutes (invalid event or AWS \
                          error); the event is retried and then lands in the dead-letter queue.",
            metric: function_errors(ids::HANDLER_FUNCTION),
            comparison_operator: GreaterThanOrEqualToThreshold,
            threshold: 1.0,
        },
        AlarmSpec {
            logical_id: ids::SWEEP_ERRORS_ALARM,
            short_name: "sweep-errors",
            name: names::SWEEP_ERRORS_ALARM,
            description: "The sweep failed; stale holds are not expired until it succeeds.",
            metric: function_errors(ids::SWEEP_FUNCTION),
            comparison_operator: GreaterThanOrEqualToThreshold,
            threshold: 1.0,
        },
        AlarmSpec {
            logical_id: ids::DEAD_LETTER_MESSAGES_ALARM,
            short_name: "dlq-messages",
            name: names::DLQ_MESSAGES_ALARM,
            description: "Events or invocations are in the dead-letter queue: inspect, fix, replay.",
            metric: queue_depth(ids::DEAD_LETTER_QUEUE),
            comparison_operator: GreaterThanThreshold,
            threshold: 0.0,
        },
    ]
}

/// What the ledger and the traffic show: drift and conflicting events in
/// the ledger, throttled invocations, unrouted events.
fn ledger_and_traffic_alarm_specs() -> Vec<AlarmSpec> {
    use ComparisonOperator::GreaterThanThreshold;
    vec![
        AlarmSpec {
            logical_id: ids::LEDGER_DRIFT_ALARM,
            short_name: "drift",
            name: names::DRIFT_ALARM,
            description: "The sweep found accounts whose ledger entries do not sum to their \
                          balances (stays in ALARM until a sweep reports no drift).",
            // One period per sweep: the alarm holds until the next sweep.
            metric: custom_metric(metrics::LEDGER_DRIFT, Statistic::Maximum, SIX_HOURS),
            comparison_operator: GreaterThanThreshold,
            threshold: 0.0,
        },
        AlarmSpec {
            logical_id: ids::CONFLICTS_ALARM,
            short_name: "conflicts",
            name: names::CONFLICTS_ALARM,
            description: "The handler received conflicting events (same business key, other \
                          payload); see the sweep report.",
            metric: custom_metric(metrics::CONFLICTS, Statistic::Sum, FIVE_MINUTES),
            comparison_operator: GreaterThanThreshold,
            threshold: 0.0,
        },
        AlarmSpec {
            logical_id: ids::THROTTLES_ALARM,
            short_name: "throttles",
            name: names::THROTTLES_ALARM,
            description: "Invocations of the handler or the sweep were throttled (concurrency limit).",
            metric: throttles_metric(FIVE_MINUTES),
            comparison_operator: GreaterThanThreshold,
            threshold: 0.0,
        },
        AlarmSpec {
            logical_id: ids::UNROUTED_EVENTS_ALARM,
            short_name: "unrouted",
            name: names::UNROUTED_ALARM,
            description: "Events on the stage's bus match no ledger detail-type (a producer's \
                          typo or an event no producer may send) and wait in the unrouted queue.",
            metric: queue_depth(ids::UNROUTED_QUEUE),
            comparison_operator: GreaterThanThreshold,
            threshold: 0.0,
        },
    ]
}

/// The most messages visible in a queue over 5 minutes.
fn queue_depth(queue_id: &str) -> AlarmMetric {
    single_metric(
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        vec![Dimension {
            name: "QueueName".to_owned(),
            value: Expr::get_att(queue_id, "QueueName"),
        }],
        Statistic::Maximum,
        FIVE_MINUTES,
    )
}

fn single_metric(
    namespace: &str,
    metric_name: &str,
    dimensions: Vec<Dimension>,
    statistic: Statistic,
    period: u32,
) -> AlarmMetric {
    AlarmMetric::Single(MetricStatProperties {
        namespace: namespace.to_owned(),
        metric_name: metric_name.to_owned(),
        dimensions,
        statistic,
        period,
    })
}

fn function_dimension(function_id: &str) -> Vec<Dimension> {
    vec![Dimension {
        name: "FunctionName".to_owned(),
        value: Expr::reference(function_id),
    }]
}

/// A function's `Errors`, summed over 5 minutes.
fn function_errors(function_id: &str) -> AlarmMetric {
    single_metric(
        "AWS/Lambda",
        "Errors",
        function_dimension(function_id),
        Statistic::Sum,
        FIVE_MINUTES,
    )
}

/// One of the functions' custom metrics, for this stage.
fn custom_metric(metric_name: &str, statistic: Statistic, period: u32) -> AlarmMetric {
    let stage = vec![Dimension {
        name: metrics::STAGE_DIMENSION.to_owned(),
        value: Expr::reference(params::STAGE),
    }];
    single_metric(metrics::NAMESPACE, metric_name, stage, statistic, period)
}

/// Throttles of both functions, summed with metric math.
fn throttles_metric(period: u32) -> AlarmMetric {
    let throttles_of = |id: &str, function_id: &str| MetricDataQuery {
        id: id.to_owned(),
        expression: None,
        label: None,
        metric_stat: Some(MetricStat {
            metric: Metric {
                namespace: "AWS/Lambda".to_owned(),
                metric_name: "Throttles".to_owned(),
                dimensions: function_dimension(function_id),
            },
            period,
            stat: Statistic::Sum,
        }),
        return_data: false,
    };
    AlarmMetric::Math {
        metrics: vec![
            throttles_of("handler", ids::HANDLER_FUNCTION),
            throttles_of("sweep", ids::SWEEP_FUNCTION),
            MetricDataQuery {
                id: "throttles".to_owned(),
                expression: Some("SUM([handler, sweep])".to_owned()),
                label: Some("Throttles of both functions".to_owned()),
                metric_stat: None,
                return_data: true,
            },
        ],
    }
}
