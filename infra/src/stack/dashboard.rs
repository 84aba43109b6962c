//! The stage's dashboard: one typed body, serialized into a `Fn::Sub`; the
//! alarms on top, then the graphs two per row.

use reconciler_core::contract::metrics;

use super::{FIVE_MINUTES, ids, params};
use crate::model::cloudwatch::Dashboard;
use crate::model::dashboard::{
    AlarmWidget, DashboardBody, MetricLine, MetricWidget, Widget, WidgetProperties, WidgetType,
};
use crate::model::{Expr, Template};
use crate::names::{self, NamePattern};

/// The outcomes of SPEC §4, the values of the `Outcome` dimension.
const OUTCOMES: [&str; 8] = [
    "granted",
    "held",
    "rejected",
    "debited",
    "refunded",
    "adjusted",
    "duplicate",
    "conflict",
];

/// The stage's dashboard: one typed body, serialized into a `Fn::Sub`.
pub(super) fn add_dashboard(t: &mut Template) {
    t.add_resource(
        ids::DASHBOARD,
        Dashboard {
            dashboard_name: names::DASHBOARD.expr(),
            dashboard_body: Expr::sub_json(&dashboard_body()),
        },
    );
}

/// The widgets, two per row, the alarms on top.
fn dashboard_body() -> DashboardBody {
    let stage = || (metrics::STAGE_DIMENSION, Expr::reference(params::STAGE));
    let custom =
        |metric: &str| MetricLine::new(metrics::NAMESPACE, metric, vec![stage()]).labelled(metric);
    let by_outcome = |metric: &str| -> Vec<MetricLine> {
        OUTCOMES
            .iter()
            .map(|outcome| {
                MetricLine::new(
                    metrics::NAMESPACE,
                    metric,
                    vec![stage(), (metrics::OUTCOME_DIMENSION, Expr::lit(*outcome))],
                )
                .labelled(*outcome)
            })
            .collect()
    };
    let functions = [
        ("handler", names::HANDLER_FUNCTION),
        ("sweep", names::SWEEP_FUNCTION),
    ];
    let lambda = |metric: &str, stat: Option<&str>| -> Vec<MetricLine> {
        functions
            .iter()
            .map(|(short, name)| {
                let line =
                    MetricLine::new("AWS/Lambda", metric, vec![("FunctionName", name.expr())]);
                match stat {
                    Some(stat) => line.with_stat(stat).labelled(format!("{short} {stat}")),
                    None => line.labelled(format!("{short} {metric}")),
                }
            })
            .collect()
    };
    let queue = |label: &str, name: NamePattern| {
        MetricLine::new(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            vec![("QueueName", name.expr())],
        )
        .labelled(label)
    };
    let rule = |label: &str, name: NamePattern| {
        MetricLine::new(
            "AWS/Events",
            "MatchedEvents",
            vec![
                ("EventBusName", names::EVENT_BUS.expr()),
                ("RuleName", name.expr()),
            ],
        )
        .labelled(label)
    };
    let graphs: Vec<(&str, &str, u32, Vec<MetricLine>)> = vec![
        (
            "Events by outcome",
            "Sum",
            FIVE_MINUTES,
            by_outcome(metrics::EVENTS),
        ),
        (
            "Replayed events by outcome",
            "Sum",
            FIVE_MINUTES,
            [
                by_outcome(metrics::REPLAYED_EVENTS),
                vec![
                    MetricLine::new(
                        metrics::NAMESPACE,
                        metrics::REPLAYED_EVENTS,
                        vec![
                            stage(),
                            (
                                metrics::OUTCOME_DIMENSION,
                                Expr::lit(metrics::NOT_APPLIED_OUTCOME),
                            ),
                        ],
                    )
                    .labelled(metrics::NOT_APPLIED_OUTCOME),
                ],
            ]
            .concat(),
        ),
        (
            "Errors and throttles",
            "Sum",
            FIVE_MINUTES,
            [lambda("Errors", None), lambda("Throttles", None)].concat(),
        ),
        (
            "Duration p50 / p99 (ms)",
            "p50",
            FIVE_MINUTES,
            [
                lambda("Duration", Some("p50")),
                lambda("Duration", Some("p99")),
            ]
            .concat(),
        ),
        (
            "Queue depth",
            "Maximum",
            FIVE_MINUTES,
            vec![
                queue("dead-letter queue", names::DEAD_LETTER_QUEUE),
                queue("unrouted queue", names::UNROUTED_QUEUE),
            ],
        ),
        (
            "Rule matches (unrouted: no ledger detail-type)",
            "Sum",
            FIVE_MINUTES,
            vec![
                rule("unrouted events", names::UNROUTED_EVENTS_RULE),
                rule("ledger events", names::LEDGER_EVENTS_RULE),
            ],
        ),
        (
            "Sweep: stragglers, expired, drift",
            "Maximum",
            3_600,
            [
                metrics::STRAGGLERS,
                metrics::STRAGGLER_CREDITS,
                metrics::EXPIRED,
                metrics::LEDGER_DRIFT,
            ]
            .map(custom)
            .to_vec(),
        ),
        (
            "Conflicts",
            "Sum",
            FIVE_MINUTES,
            [metrics::CONFLICTS, metrics::SWEEP_CONFLICTS]
                .map(custom)
                .to_vec(),
        ),
    ];
    let alarms = Widget {
        widget_type: WidgetType::Alarm,
        x: 0,
        y: 0,
        width: 24,
        height: 4,
        properties: WidgetProperties::Alarm(AlarmWidget {
            title: "Alarms".to_owned(),
            alarms: names::ALARMS
                .iter()
                .map(|(_, name)| name.arn("cloudwatch", "alarm:"))
                .collect(),
        }),
    };
    let mut widgets = vec![alarms];
    for (i, (title, stat, period, metrics)) in graphs.into_iter().enumerate() {
        let (column, row) = (i % 2, i / 2);
        widgets.push(Widget {
            widget_type: WidgetType::Metric,
            x: u32::try_from(column).unwrap_or_default() * 12,
            y: 4 + u32::try_from(row).unwrap_or_default() * 6,
            width: 12,
            height: 6,
            properties: WidgetProperties::Metric(MetricWidget {
                title: title.to_owned(),
                region: Expr::reference("AWS::Region"),
                view: "timeSeries",
                stacked: false,
                period,
                stat: stat.to_owned(),
                metrics,
            }),
        });
    }
    DashboardBody {
        start: "-PT24H".to_owned(),
        widgets,
    }
}
