//! The alarms, against a table written by hand: for every alarm of a
//! stage, the metric it watches (namespace, name, dimensions as the service
//! documents them, statistic, period), when it fires and how it treats
//! missing data; each notifies the topic on ALARM and OK.

use std::collections::BTreeMap;

use infra::stack::{ids, params};
use infra::{Stage, StageConfig};
use serde_json::{Value, json};

use crate::support::{Synth, all_configs, get_att, reference};

/// One single-metric alarm as expected.
struct Expected {
    namespace: &'static str,
    metric: &'static str,
    dimensions: Value,
    statistic: (&'static str, &'static str),
    period: u32,
    periods: (u32, u32),
    comparison: &'static str,
    threshold: f64,
    missing: &'static str,
}

fn function(id: &str) -> Value {
    json!([{"Name": "FunctionName", "Value": reference(id)}])
}

fn queue(id: &str) -> Value {
    json!([{"Name": "QueueName", "Value": get_att(id, "QueueName")}])
}

/// A rule on the stage's bus: both dimensions; on the default bus, only
/// `RuleName` (EventBridge's monitoring page).
fn rule(name: &str, on_stage_bus: bool) -> Value {
    let rule_name = json!({"Name": "RuleName", "Value": {"Fn::Sub": format!("cc-agent-reconciler-${{Stage}}-{name}")}});
    if on_stage_bus {
        json!([{"Name": "EventBusName", "Value": reference(params::EVENT_BUS_NAME)}, rule_name])
    } else {
        json!([rule_name])
    }
}

/// `> 0` in one 5-minute sum, missing data not breaching.
fn any(namespace: &'static str, metric: &'static str, dimensions: Value) -> Expected {
    Expected {
        namespace,
        metric,
        dimensions,
        statistic: ("Statistic", "Sum"),
        period: 300,
        periods: (1, 1),
        comparison: "GreaterThanThreshold",
        threshold: 0.0,
        missing: "notBreaching",
    }
}

/// The oldest message of a queue older than three days (of 14), hourly.
fn oldest(queue_id: &str) -> Expected {
    Expected {
        statistic: ("Statistic", "Maximum"),
        period: 3600,
        threshold: 259_200.0,
        ..any("AWS/SQS", "ApproximateAgeOfOldestMessage", queue(queue_id))
    }
}

fn expected_single_metric_alarms(cfg: &StageConfig) -> BTreeMap<String, Expected> {
    let stage = json!([{"Name": "Stage", "Value": reference(params::STAGE)}]);
    let mut alarms = vec![
        (
            "errors",
            Expected {
                comparison: "GreaterThanOrEqualToThreshold",
                threshold: 1.0,
                ..any("AWS/Lambda", "Errors", function(ids::HANDLER_FUNCTION))
            },
        ),
        (
            "sweep-errors",
            Expected {
                comparison: "GreaterThanOrEqualToThreshold",
                threshold: 1.0,
                ..any("AWS/Lambda", "Errors", function(ids::SWEEP_FUNCTION))
            },
        ),
        (
            "dlq-messages",
            Expected {
                statistic: ("Statistic", "Maximum"),
                ..any(
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    queue(ids::DEAD_LETTER_QUEUE),
                )
            },
        ),
        (
            "unrouted",
            Expected {
                statistic: ("Statistic", "Maximum"),
                ..any(
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    queue(ids::UNROUTED_QUEUE),
                )
            },
        ),
        // Keeps its state without a datapoint: only a complete audit reports;
        // the minute's period lets the sweep after a repair decide alone.
        (
            "drift",
            Expected {
                statistic: ("Statistic", "Maximum"),
                period: 60,
                missing: "ignore",
                ..any("CcAgentReconciler", "LedgerDrift", stage.clone())
            },
        ),
        ("conflicts", any("CcAgentReconciler", "Conflicts", stage)),
        // One alarm per function: no metric math.
        (
            "throttles",
            any("AWS/Lambda", "Throttles", function(ids::HANDLER_FUNCTION)),
        ),
        (
            "sweep-throttles",
            any("AWS/Lambda", "Throttles", function(ids::SWEEP_FUNCTION)),
        ),
        (
            "destination-failures-handler",
            any(
                "AWS/Lambda",
                "DestinationDeliveryFailures",
                function(ids::HANDLER_FUNCTION),
            ),
        ),
        (
            "destination-failures-sweep",
            any(
                "AWS/Lambda",
                "DestinationDeliveryFailures",
                function(ids::SWEEP_FUNCTION),
            ),
        ),
        (
            "async-dropped-handler",
            any(
                "AWS/Lambda",
                "AsyncEventsDropped",
                function(ids::HANDLER_FUNCTION),
            ),
        ),
        (
            "async-dropped-sweep",
            any(
                "AWS/Lambda",
                "AsyncEventsDropped",
                function(ids::SWEEP_FUNCTION),
            ),
        ),
        // No invocation for 7 hours, missing data breaching.
        (
            "sweep-not-running",
            Expected {
                period: 3600,
                periods: (7, 7),
                comparison: "LessThanThreshold",
                threshold: 1.0,
                missing: "breaching",
                ..any("AWS/Lambda", "Invocations", function(ids::SWEEP_FUNCTION))
            },
        ),
        ("dlq-oldest", oldest(ids::DEAD_LETTER_QUEUE)),
        ("unrouted-oldest", oldest(ids::UNROUTED_QUEUE)),
        // 80% of the handler's timeout, for 15 minutes.
        (
            "handler-duration-p99",
            Expected {
                statistic: ("ExtendedStatistic", "p99"),
                periods: (3, 3),
                threshold: f64::from(cfg.handler_timeout_seconds) * 1000.0 * 0.8,
                ..any("AWS/Lambda", "Duration", function(ids::HANDLER_FUNCTION))
            },
        ),
    ];
    let mut rules = vec![
        ("ledger-events", true),
        ("unrouted-events", true),
        ("replay-credits-granted", true),
        ("replay-video-requested", true),
        ("replay-video-rendered", true),
        ("replay-video-failed", true),
        ("sweep-schedule", false),
    ];
    if cfg.customer_managed_key {
        rules.push(("kms-key-state", false));
    }
    let mut named: BTreeMap<String, Expected> = alarms
        .drain(..)
        .map(|(short, e)| (short.to_owned(), e))
        .collect();
    for (name, on_bus) in rules {
        named.insert(
            format!("failed-invocations-{name}"),
            any("AWS/Events", "FailedInvocations", rule(name, on_bus)),
        );
        named.insert(
            format!("dlq-send-failed-{name}"),
            any(
                "AWS/Events",
                "InvocationsFailedToBeSentToDlq",
                rule(name, on_bus),
            ),
        );
    }
    named
}

/// The metric-math alarms: their queries' metrics and dimensions.
fn check_math_alarm(short: &str, p: &Value, context: &str) {
    let queries = p["Metrics"]
        .as_array()
        .unwrap_or_else(|| panic!("{context}: no Metrics"));
    assert!(
        queries.len() <= 10,
        "{context}: at most 10 metrics in a math alarm"
    );
    let returned: Vec<&Value> = queries.iter().filter(|q| q["ReturnData"] == true).collect();
    assert_eq!(returned.len(), 1, "{context}: one returned query");
    let metrics: Vec<(&Value, &Value)> = queries
        .iter()
        .filter_map(|q| q.get("MetricStat"))
        .map(|m| (&m["Metric"]["MetricName"], &m["Metric"]["Dimensions"]))
        .collect();
    for query in queries.iter().filter_map(|q| q.get("MetricStat")) {
        assert_eq!(query["Stat"], "Sum", "{context}");
    }
    match short {
        "ledger-system-errors" | "ledger-throttled" => {
            let metric = if short == "ledger-system-errors" {
                "SystemErrors"
            } else {
                "ThrottledRequests"
            };
            let operations: Vec<&str> = metrics
                .iter()
                .map(|(name, dimensions)| {
                    assert_eq!(*name, metric, "{context}");
                    assert_eq!(
                        dimensions[0],
                        json!({"Name": "TableName", "Value": reference(ids::LEDGER_TABLE)})
                    );
                    dimensions[1]["Value"].as_str().unwrap()
                })
                .collect();
            assert_eq!(
                operations,
                [
                    "TransactWriteItems",
                    "TransactGetItems",
                    "GetItem",
                    "PutItem",
                    "UpdateItem",
                    "Query",
                    "BatchGetItem"
                ],
                "{context}: every operation the functions send"
            );
            assert_eq!(
                (&p["EvaluationPeriods"], &p["Threshold"]),
                (&json!(1), &json!(0.0)),
                "{context}"
            );
        }
        "bus-to-handler-gap" => {
            let names: Vec<&Value> = metrics.iter().map(|(name, _)| *name).collect();
            assert_eq!(
                names,
                ["MatchedEvents"; 5]
                    .iter()
                    .chain(["AsyncEventsReceived"].iter())
                    .collect::<Vec<_>>()
            );
            assert_eq!(metrics[5].1, &function(ids::HANDLER_FUNCTION));
            assert_eq!(metrics[0].1, &rule("ledger-events", true));
            assert_eq!(
                (&p["EvaluationPeriods"], &p["DatapointsToAlarm"]),
                (&json!(2), &json!(2)),
                "{context}"
            );
            assert!(
                returned[0]["Expression"]
                    .as_str()
                    .unwrap()
                    .ends_with("- FILL(received, 0)")
            );
        }
        other => panic!("{context}: {other} is not a math alarm"),
    }
    assert_eq!(p["TreatMissingData"], "notBreaching", "{context}");
}

#[test]
fn every_alarm_watches_what_its_name_says_and_notifies_the_topic() {
    let topic = json!([reference(ids::OPS_ALERTS_TOPIC)]);
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        let mut expected = expected_single_metric_alarms(&cfg);
        let math = [
            "ledger-system-errors",
            "ledger-throttled",
            "bus-to-handler-gap",
        ];
        let mut seen = 0;
        for (id, alarm) in synth.of_type("AWS::CloudWatch::Alarm") {
            let p = &alarm["Properties"];
            let name = p["AlarmName"]["Fn::Sub"].as_str().unwrap();
            let short = name
                .strip_prefix("cc-agent-reconciler-")
                .and_then(|n| n.strip_suffix("-${Stage}"))
                .unwrap_or_else(|| panic!("{id}: {name}"));
            let context = format!("{} {short}", cfg.stage);
            assert_eq!(id, ids::alarm(short), "{context}");
            assert_eq!(p["AlarmActions"], topic, "{context}");
            assert_eq!(p["OKActions"], topic, "{context}");
            seen += 1;
            if math.contains(&short) {
                check_math_alarm(short, p, &context);
                continue;
            }
            let e = expected
                .remove(short)
                .unwrap_or_else(|| panic!("{context}: unexpected alarm"));
            assert_eq!(p["Namespace"], e.namespace, "{context}");
            assert_eq!(p["MetricName"], e.metric, "{context}");
            assert_eq!(p["Dimensions"], e.dimensions, "{context}");
            assert_eq!(p[e.statistic.0], e.statistic.1, "{context}");
            assert_eq!(p["Period"], e.period, "{context}");
            assert_eq!(
                (&p["EvaluationPeriods"], &p["DatapointsToAlarm"]),
                (&json!(e.periods.0), &json!(e.periods.1)),
                "{context}"
            );
            assert_eq!(p["ComparisonOperator"], e.comparison, "{context}");
            assert_eq!(p["Threshold"], e.threshold, "{context}");
            assert_eq!(p["TreatMissingData"], e.missing, "{context}");
            let low_samples = if e.statistic.0 == "ExtendedStatistic" {
                json!("evaluate")
            } else {
                Value::Null
            };
            assert_eq!(
                p["EvaluateLowSampleCountPercentile"], low_samples,
                "{context}"
            );
        }
        assert!(
            expected.is_empty(),
            "{}: missing alarms {:?}",
            cfg.stage,
            expected.keys().collect::<Vec<_>>()
        );
        assert_eq!(
            seen,
            33 + if cfg.customer_managed_key { 2 } else { 0 },
            "{}",
            cfg.stage
        );
    }
}

/// The alarm names the tooling reads (`AlarmNames`) are the stage's.
#[test]
fn the_alarm_names_output_lists_the_stages_alarms() {
    for stage in Stage::ALL {
        let synth = Synth::of(stage);
        let listed = synth.json["Outputs"]["AlarmNames"]["Value"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut listed: Vec<&str> = listed.split(',').collect();
        let mut made: Vec<String> = synth
            .of_type("AWS::CloudWatch::Alarm")
            .iter()
            .map(|(_, a)| {
                a["Properties"]["AlarmName"]["Fn::Sub"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        listed.sort_unstable();
        made.sort_unstable();
        assert_eq!(listed, made, "{stage}");
    }
}
