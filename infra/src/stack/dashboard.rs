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
use crate::stage::StageConfig;

/// The outcomes of contract §4, the values of the `Outcome` dimension.
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
pub(super) fn add_dashboard(t: &mut Template, cfg: &StageConfig) {
    t.add_resource(
        ids::DASHBOARD,
        Dashboard {
            dashboard_name: names::DASHBOARD.expr(),
            dashboard_body: Expr::sub_json(&dashboard_body(cfg)),
        },
    );
}

/// The widgets, two per row, the alarms on top.
fn dashboard_body(cfg: &StageConfig) -> DashboardBody {
    let mut widgets = vec![alarms_widget(cfg)];
    for (i, graph) in graphs().into_iter().enumerate() {
        widgets.push(graph_widget(i, graph));
    }
    DashboardBody {
        start: "-PT24H".to_owned(),
        widgets,
    }
}

/// Every alarm of the stage, across the top (ALARM states sort first).
fn alarms_widget(cfg: &StageConfig) -> Widget {
    Widget {
        widget_type: WidgetType::Alarm,
        x: 0,
        y: 0,
        width: 24,
        height: ALARMS_HEIGHT,
        properties: WidgetProperties::Alarm(AlarmWidget {
            title: "Alarms".to_owned(),
            alarms: names::stage_alarms(cfg)
                .iter()
                .map(|(_, name)| name.arn("cloudwatch", "alarm:"))
                .collect(),
        }),
    }
}

/// Rows of the alarms widget: room for the stage's 30-odd alarms.
const ALARMS_HEIGHT: u32 = 8;

/// The `i`th graph's widget, under the alarms, two per row.
fn graph_widget(i: usize, graph: Graph) -> Widget {
    let (column, row) = (i % 2, i / 2);
    Widget {
        widget_type: WidgetType::Metric,
        x: u32::try_from(column).unwrap_or_default() * 12,
        y: ALARMS_HEIGHT + u32::try_from(row).unwrap_or_default() * 6,
        width: 12,
        height: 6,
        properties: WidgetProperties::Metric(MetricWidget {
            title: graph.title.to_owned(),
            region: Expr::reference("AWS::Region"),
            view: "timeSeries",
            stacked: false,
            period: graph.period,
            stat: graph.stat.to_owned(),
            metrics: graph.metrics,
        }),
    }
}

/// One graph: its title, default statistic, period (seconds) and lines.
struct Graph {
    title: &'static str,
    stat: &'static str,
    period: u32,
    metrics: Vec<MetricLine>,
}

/// The graphs in reading order, one row of two each.
fn graphs() -> Vec<Graph> {
    [
        outcome_graphs(),
        function_graphs(),
        queue_and_rule_graphs(),
        sweep_and_conflict_graphs(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn outcome_graphs() -> [Graph; 2] {
    [
        Graph {
            title: "Events by outcome",
            stat: "Sum",
            period: FIVE_MINUTES,
            metrics: by_outcome(metrics::EVENTS),
        },
        Graph {
            title: "Replayed events by outcome",
            stat: "Sum",
            period: FIVE_MINUTES,
            metrics: [
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
        },
    ]
}

fn function_graphs() -> [Graph; 2] {
    [
        Graph {
            title: "Errors and throttles",
            stat: "Sum",
            period: FIVE_MINUTES,
            metrics: [lambda("Errors", None), lambda("Throttles", None)].concat(),
        },
        Graph {
            title: "Duration p50 / p99 (ms)",
            stat: "p50",
            period: FIVE_MINUTES,
            metrics: [
                lambda("Duration", Some("p50")),
                lambda("Duration", Some("p99")),
            ]
            .concat(),
        },
    ]
}

fn queue_and_rule_graphs() -> [Graph; 2] {
    [
        Graph {
            title: "Queue depth",
            stat: "Maximum",
            period: FIVE_MINUTES,
            metrics: vec![
                queue("dead-letter queue", names::DEAD_LETTER_QUEUE),
                queue("unrouted queue", names::UNROUTED_QUEUE),
            ],
        },
        Graph {
            title: "Rule matches (unrouted: no ledger detail-type)",
            stat: "Sum",
            period: FIVE_MINUTES,
            metrics: vec![
                rule("unrouted events", names::UNROUTED_EVENTS_RULE),
                rule("ledger events", names::LEDGER_EVENTS_RULE),
            ],
        },
    ]
}

fn sweep_and_conflict_graphs() -> [Graph; 2] {
    [
        Graph {
            title: "Sweep: stragglers, expired, drift",
            stat: "Maximum",
            period: 3_600,
            metrics: [
                metrics::STRAGGLERS,
                metrics::STRAGGLER_CREDITS,
                metrics::EXPIRED,
                metrics::LEDGER_DRIFT,
            ]
            .map(custom)
            .to_vec(),
        },
        Graph {
            title: "Conflicts",
            stat: "Sum",
            period: FIVE_MINUTES,
            metrics: [metrics::CONFLICTS, metrics::SWEEP_CONFLICTS]
                .map(custom)
                .to_vec(),
        },
    ]
}

/// The custom metrics' stage dimension, for this stage.
fn stage() -> (&'static str, Expr) {
    (metrics::STAGE_DIMENSION, Expr::reference(params::STAGE))
}

/// One of the functions' custom metrics, labelled with its name.
fn custom(metric: &str) -> MetricLine {
    MetricLine::new(metrics::NAMESPACE, metric, vec![stage()]).labelled(metric)
}

/// A custom metric, one line per outcome.
fn by_outcome(metric: &str) -> Vec<MetricLine> {
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
}

/// A Lambda metric, one line per function; `stat` overrides the graph's.
fn lambda(metric: &str, stat: Option<&str>) -> Vec<MetricLine> {
    let functions = [
        ("handler", names::HANDLER_FUNCTION),
        ("sweep", names::SWEEP_FUNCTION),
    ];
    functions
        .iter()
        .map(|(short, name)| {
            let line = MetricLine::new("AWS/Lambda", metric, vec![("FunctionName", name.expr())]);
            match stat {
                Some(stat) => line.with_stat(stat).labelled(format!("{short} {stat}")),
                None => line.labelled(format!("{short} {metric}")),
            }
        })
        .collect()
}

/// The messages waiting in a queue.
fn queue(label: &str, name: NamePattern) -> MetricLine {
    MetricLine::new(
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        vec![("QueueName", name.expr())],
    )
    .labelled(label)
}

/// The events a rule on the stage's bus matched.
fn rule(label: &str, name: NamePattern) -> MetricLine {
    MetricLine::new(
        "AWS/Events",
        "MatchedEvents",
        vec![
            ("EventBusName", names::EVENT_BUS.expr()),
            ("RuleName", name.expr()),
        ],
    )
    .labelled(label)
}
