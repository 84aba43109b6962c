//! The metrics the alarms watch, with the dimensions each service
//! documents for them.

use reconciler_core::contract::metrics;

use super::super::{ids, params};
use crate::model::Expr;
use crate::model::cloudwatch::{
    AlarmMetric, AlarmStatistic, Dimension, Metric, MetricDataQuery, MetricStat,
    MetricStatProperties, Statistic,
};
use crate::names::{self, NamePattern};

fn dimension(name: &str, value: Expr) -> Dimension {
    Dimension {
        name: name.to_owned(),
        value,
    }
}

/// One metric with a statistic.
pub(super) fn single(
    namespace: &str,
    metric_name: &str,
    dimensions: Vec<Dimension>,
    statistic: AlarmStatistic,
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

/// A Lambda metric of one function (`FunctionName`).
pub(super) fn function(
    metric_name: &str,
    function_id: &str,
    statistic: AlarmStatistic,
    period: u32,
) -> AlarmMetric {
    single(
        "AWS/Lambda",
        metric_name,
        function_dimension(function_id),
        statistic,
        period,
    )
}

fn function_dimension(function_id: &str) -> Vec<Dimension> {
    vec![dimension("FunctionName", Expr::reference(function_id))]
}

/// A queue's metric (`QueueName`).
pub(super) fn queue(metric_name: &str, queue_id: &str, period: u32) -> AlarmMetric {
    single(
        "AWS/SQS",
        metric_name,
        vec![dimension("QueueName", Expr::get_att(queue_id, "QueueName"))],
        AlarmStatistic::Statistic(Statistic::Maximum),
        period,
    )
}

/// One of the functions' custom metrics, for this stage.
pub(super) fn custom(metric_name: &str, statistic: Statistic, period: u32) -> AlarmMetric {
    let stage = vec![dimension(
        metrics::STAGE_DIMENSION,
        Expr::reference(params::STAGE),
    )];
    single(
        metrics::NAMESPACE,
        metric_name,
        stage,
        AlarmStatistic::Statistic(statistic),
        period,
    )
}

/// A rule of the stack, as EventBridge's metrics name it: "Metrics that
/// specify only the `RuleName` dimension refer to the default event bus.
/// Metrics that specify both the `EventBusName` and `RuleName` dimensions
/// refer to a custom event bus"
/// (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-monitoring.html>).
#[derive(Clone, Copy)]
pub(super) struct RuleRef {
    pub name: NamePattern,
    pub on_stage_bus: bool,
}

fn rule_dimensions(rule: RuleRef) -> Vec<Dimension> {
    let mut dimensions = Vec::new();
    if rule.on_stage_bus {
        dimensions.push(dimension("EventBusName", names::EVENT_BUS.expr()));
    }
    // The name, not the rule's `Ref` (on a custom bus that is
    // `<bus>|<rule>`).
    dimensions.push(dimension("RuleName", rule.name.expr()));
    dimensions
}

/// An EventBridge metric of one rule, summed.
pub(super) fn rule(metric_name: &str, rule: RuleRef, period: u32) -> AlarmMetric {
    single(
        "AWS/Events",
        metric_name,
        rule_dimensions(rule),
        AlarmStatistic::Statistic(Statistic::Sum),
        period,
    )
}

/// One query of a metric-math alarm: a metric summed over `period`.
fn sum_query(
    id: &str,
    namespace: &str,
    metric_name: &str,
    dimensions: Vec<Dimension>,
    period: u32,
) -> MetricDataQuery {
    MetricDataQuery {
        id: id.to_owned(),
        expression: None,
        label: None,
        metric_stat: Some(MetricStat {
            metric: Metric {
                namespace: namespace.to_owned(),
                metric_name: metric_name.to_owned(),
                dimensions,
            },
            period,
            stat: Statistic::Sum,
        }),
        return_data: false,
    }
}

fn expression(id: &str, expression: String, label: &str) -> MetricDataQuery {
    MetricDataQuery {
        id: id.to_owned(),
        expression: Some(expression),
        label: Some(label.to_owned()),
        metric_stat: None,
        return_data: true,
    }
}

/// The operations the functions send to the ledger table: the handler's
/// transactions and puts, the sweep's queries, batch reads and updates.
const TABLE_OPERATIONS: [&str; 7] = [
    "TransactWriteItems",
    "TransactGetItems",
    "GetItem",
    "PutItem",
    "UpdateItem",
    "Query",
    "BatchGetItem",
];

/// A DynamoDB metric of the ledger table summed over the operations the
/// functions send. `SystemErrors` and `ThrottledRequests` have only
/// `TableName` + `Operation` dimensions, so one alarm on the table adds
/// them up with metric math (seven metrics: math alarms take at most ten of
/// one period); `FILL(…, 0)` gives the sum a value when an operation has
/// none, so the alarm can return to OK.
pub(super) fn table_operations(metric_name: &str, label: &str, period: u32) -> AlarmMetric {
    let mut queries: Vec<MetricDataQuery> = TABLE_OPERATIONS
        .iter()
        .map(|operation| {
            sum_query(
                &operation.to_ascii_lowercase(),
                "AWS/DynamoDB",
                metric_name,
                vec![
                    dimension("TableName", Expr::reference(ids::LEDGER_TABLE)),
                    dimension("Operation", Expr::lit(*operation)),
                ],
                period,
            )
        })
        .collect();
    let filled: Vec<String> = TABLE_OPERATIONS
        .iter()
        .map(|operation| format!("FILL({}, 0)", operation.to_ascii_lowercase()))
        .collect();
    queries.push(expression(
        "total",
        format!("SUM([{}])", filled.join(", ")),
        label,
    ));
    AlarmMetric::Math { metrics: queries }
}

/// Events the rules delivering to the handler matched (`MatchedEvents` of
/// the ledger-events rule and the replay rules) less the asynchronous
/// events the handler received (`AsyncEventsReceived`: counted once when
/// Lambda queues an event, not per retry, and not for the synchronous
/// `ledger adjust` invocations, as the handler's `Invocations` would be).
/// Two metrics compared need metric math; six metrics and one expression,
/// all of one period, within CloudWatch's limit of ten for an alarm.
pub(super) fn bus_to_handler_gap(period: u32) -> AlarmMetric {
    let mut rules = vec![RuleRef {
        name: names::LEDGER_EVENTS_RULE,
        on_stage_bus: true,
    }];
    rules.extend(names::REPLAY_RULES.map(|name| RuleRef {
        name,
        on_stage_bus: true,
    }));
    let mut queries: Vec<MetricDataQuery> = rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            sum_query(
                &format!("matched{i}"),
                "AWS/Events",
                "MatchedEvents",
                rule_dimensions(*rule),
                period,
            )
        })
        .collect();
    queries.push(sum_query(
        "received",
        "AWS/Lambda",
        "AsyncEventsReceived",
        function_dimension(ids::HANDLER_FUNCTION),
        period,
    ));
    let matched: Vec<String> = (0..rules.len())
        .map(|i| format!("FILL(matched{i}, 0)"))
        .collect();
    queries.push(expression(
        "gap",
        format!("SUM([{}]) - FILL(received, 0)", matched.join(", ")),
        "Matched by the rules, not received by the handler",
    ));
    AlarmMetric::Math { metrics: queries }
}
