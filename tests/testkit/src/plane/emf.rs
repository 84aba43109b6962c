//! The CloudWatch embedded metric format (EMF): the metric data a log line
//! carries, as specified on
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>.
//!
//! A line is a document when it is one JSON object whose `_aws` member
//! holds `Timestamp` (epoch ms, an integer in the spec's schema) and
//! `CloudWatchMetrics`, an array of directives, each with `Namespace` (1–255
//! characters), `Dimensions` (at least one dimension set, each an array of at
//! most 30 dimension keys, possibly empty) and `Metrics` (at most 100
//! definitions: `Name`, optional `Unit` from the spec's list, optional
//! `StorageResolution` 1 or 60). Every referenced key is a *target member*
//! at the root: dimension targets must be strings, metric targets a number
//! or an array of at most 100 numbers. Members the spec does not know are
//! ignored.
//!
//! [`parse`] gives one [`Datum`] per directive × dimension set × metric ×
//! value. A line that is not EMF, or that breaks any of the rules above,
//! gives none: the spec says nothing of partial extraction, and CloudWatch
//! counts such a document as one validation error, so the whole line is
//! dropped (a choice, documented here). The dimension limit is the current
//! spec's 30 (older versions of the page said 9). Lambda may prefix a line
//! with metadata; the plane reads the function's own stdout, so no prefix
//! is expected and none is stripped.

use serde_json::{Map, Value};

/// One metric value extracted from an EMF document (one `PutMetricData` datum).
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    /// The directive's `Namespace`.
    pub namespace: String,
    /// The metric's `Name`.
    pub name: String,
    /// The dimension set, in the order the set lists its keys, with the
    /// values of their target members.
    pub dimensions: Vec<(String, String)>,
    /// One value (an array target gives one datum per element).
    pub value: f64,
    /// The metric's `Unit`, `None` when absent (CloudWatch's `None` unit).
    pub unit: Option<String>,
    /// `_aws.Timestamp`, epoch milliseconds.
    pub timestamp_ms: i64,
}

const MAX_DIMENSIONS: usize = 30;
const MAX_METRICS: usize = 100;
const MAX_VALUES: usize = 100;

/// The units the spec's schema allows.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// The metric data of one log line: empty when the line is not an EMF
/// document or is not a valid one.
pub fn parse(line: &str) -> Vec<Datum> {
    document(line).unwrap_or_default()
}

/// `None`: not EMF, or invalid.
fn document(line: &str) -> Option<Vec<Datum>> {
    let Ok(Value::Object(root)) = serde_json::from_str::<Value>(line.trim()) else {
        return None;
    };
    let aws = root.get("_aws")?.as_object()?;
    let timestamp_ms = aws.get("Timestamp")?.as_i64()?;
    let mut data = Vec::new();
    for directive in aws.get("CloudWatchMetrics")?.as_array()? {
        data.extend(extract(directive.as_object()?, &root, timestamp_ms)?);
    }
    Some(data)
}

/// The data of one directive.
fn extract(
    directive: &Map<String, Value>,
    root: &Map<String, Value>,
    timestamp_ms: i64,
) -> Option<Vec<Datum>> {
    let namespace = directive
        .get("Namespace")?
        .as_str()
        .filter(|n| name_length(n))?;
    let sets = directive
        .get("Dimensions")?
        .as_array()
        .filter(|s| !s.is_empty())?;
    let sets: Vec<Vec<(String, String)>> = sets
        .iter()
        .map(|set| dimension_set(set, root))
        .collect::<Option<_>>()?;
    let metrics = directive
        .get("Metrics")?
        .as_array()
        .filter(|m| m.len() <= MAX_METRICS)?;
    let metrics: Vec<(&str, Option<&str>, Vec<f64>)> = metrics
        .iter()
        .map(|metric| definition(metric, root))
        .collect::<Option<_>>()?;
    let mut data = Vec::new();
    for dimensions in &sets {
        for (name, unit, values) in &metrics {
            data.extend(values.iter().map(|value| Datum {
                namespace: namespace.to_owned(),
                name: (*name).to_owned(),
                dimensions: dimensions.clone(),
                value: *value,
                unit: unit.map(str::to_owned),
                timestamp_ms,
            }));
        }
    }
    Some(data)
}

/// A dimension set's keys with their (string) target values.
fn dimension_set(set: &Value, root: &Map<String, Value>) -> Option<Vec<(String, String)>> {
    let keys = set.as_array().filter(|k| k.len() <= MAX_DIMENSIONS)?;
    keys.iter()
        .map(|key| {
            let key = key.as_str().filter(|k| name_length(k))?;
            let value = root.get(key)?.as_str()?;
            Some((key.to_owned(), value.to_owned()))
        })
        .collect()
}

/// A metric definition: its name, its unit and the values of its target.
fn definition<'a>(
    metric: &'a Value,
    root: &Map<String, Value>,
) -> Option<(&'a str, Option<&'a str>, Vec<f64>)> {
    let metric = metric.as_object()?;
    let name = metric.get("Name")?.as_str().filter(|n| name_length(n))?;
    let unit = match metric.get("Unit") {
        None => None,
        Some(unit) => Some(unit.as_str().filter(|u| UNITS.contains(u))?),
    };
    if let Some(resolution) = metric.get("StorageResolution") {
        resolution.as_i64().filter(|r| *r == 1 || *r == 60)?;
    }
    let values = match root.get(name)? {
        Value::Array(values) if values.len() <= MAX_VALUES => values
            .iter()
            .map(Value::as_f64)
            .collect::<Option<Vec<f64>>>()?,
        value => vec![value.as_f64()?],
    };
    Some((name, unit, values))
}

/// 1 to 255 characters: namespaces, dimension keys and metric names.
fn name_length(name: &str) -> bool {
    (1..=255).contains(&name.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reconciler_core::contract::metrics as names;

    fn datum(
        name: &str,
        dimensions: &[(&str, &str)],
        value: f64,
        unit: Option<&str>,
        ts: i64,
    ) -> Datum {
        Datum {
            namespace: "CcAgentReconciler".into(),
            name: name.into(),
            dimensions: dimensions
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            value,
            unit: unit.map(str::to_owned),
            timestamp_ms: ts,
        }
    }

    // The spec's "valid example" (URL in the module's header).
    #[test]
    fn the_specs_example_gives_its_one_metric() {
        let line = r#"{
          "_aws": {
            "Timestamp": 1574109732004,
            "CloudWatchMetrics": [
              {
                "Namespace": "lambda-function-metrics",
                "Dimensions": [["functionVersion"]],
                "Metrics": [
                  {
                    "Name": "time",
                    "Unit": "Milliseconds"
                  }
                ]
              }
            ]
          },
          "functionVersion": "$LATEST",
          "time": 100,
          "requestId": "989ffbf8-9ace-4817-a57c-e4dd734019ee"
        }"#;
        assert_eq!(
            parse(line),
            vec![Datum {
                namespace: "lambda-function-metrics".into(),
                name: "time".into(),
                dimensions: vec![("functionVersion".into(), "$LATEST".into())],
                value: 100.0,
                unit: Some("Milliseconds".into()),
                timestamp_ms: 1_574_109_732_004,
            }]
        );
    }

    // The lines the project's functions print: `functions/reconciler/src/
    // telemetry.rs` flushes `metrics_cloudwatch_embedded` 0.10's collector,
    // which writes one document per label set: `_aws`, then the dimension
    // members, then the values (counters as integers, gauges as floats),
    // metrics without a unit, the `Stage` dimension first. Written here by
    // hand in that shape.
    #[test]
    fn the_handlers_lines_give_events_by_outcome() {
        let by_outcome = r#"{"_aws":{"Timestamp":1733335200000,"CloudWatchMetrics":[{"Namespace":"CcAgentReconciler","Dimensions":[["Stage","Outcome"]],"Metrics":[{"Name":"Events"},{"Name":"ReplayedEvents"}]}]},"Outcome":"duplicate","Stage":"dev","Events":3,"ReplayedEvents":1}"#;
        let dims = [("Stage", "dev"), ("Outcome", "duplicate")];
        assert_eq!(
            parse(by_outcome),
            vec![
                datum(names::EVENTS, &dims, 3.0, None, 1_733_335_200_000),
                datum(names::REPLAYED_EVENTS, &dims, 1.0, None, 1_733_335_200_000),
            ]
        );
        let unlabelled = r#"{"_aws":{"Timestamp":1733335200000,"CloudWatchMetrics":[{"Namespace":"CcAgentReconciler","Dimensions":[["Stage"]],"Metrics":[{"Name":"Conflicts"},{"Name":"InvalidEvents"}]}]},"Stage":"prod","Conflicts":1,"InvalidEvents":2}"#;
        assert_eq!(
            parse(unlabelled),
            vec![
                datum(
                    names::CONFLICTS,
                    &[("Stage", "prod")],
                    1.0,
                    None,
                    1_733_335_200_000
                ),
                datum(
                    names::INVALID_EVENTS,
                    &[("Stage", "prod")],
                    2.0,
                    None,
                    1_733_335_200_000
                ),
            ]
        );
    }

    #[test]
    fn the_sweeps_line_gives_its_gauges() {
        // The values `tests/e2e/sweep_binary.rs` expects of a sweep.
        let line = r#"{"_aws":{"Timestamp":1733335260123,"CloudWatchMetrics":[{"Namespace":"CcAgentReconciler","Dimensions":[["Stage"]],"Metrics":[{"Name":"Expired"},{"Name":"LedgerDrift"},{"Name":"Stragglers"},{"Name":"SweepConflicts"}]}]},"Stage":"dev","Expired":2.0,"LedgerDrift":0.0,"Stragglers":2.0,"SweepConflicts":0.0}"#;
        let dev = [("Stage", "dev")];
        assert_eq!(
            parse(line),
            vec![
                datum("Expired", &dev, 2.0, None, 1_733_335_260_123),
                datum("LedgerDrift", &dev, 0.0, None, 1_733_335_260_123),
                datum("Stragglers", &dev, 2.0, None, 1_733_335_260_123),
                datum("SweepConflicts", &dev, 0.0, None, 1_733_335_260_123),
            ]
        );
    }

    #[test]
    fn every_directive_set_metric_and_value_gives_a_datum() {
        let line = r#"{"_aws":{"Timestamp":1733335200000,"CloudWatchMetrics":[
            {"Namespace":"CcAgentReconciler","Dimensions":[["Stage","Outcome"],["Stage"],[]],
             "Metrics":[{"Name":"Events","Unit":"Count","StorageResolution":60}]},
            {"Namespace":"Other","Dimensions":[[]],"Metrics":[{"Name":"Latency","Unit":"Milliseconds","StorageResolution":1}]}]},
          "Stage":"dev","Outcome":"granted","Events":1,"Latency":[4.5,5]}"#;
        let ts = 1_733_335_200_000;
        let mut latency = datum("Latency", &[], 4.5, Some("Milliseconds"), ts);
        latency.namespace = "Other".into();
        let mut latency_2 = latency.clone();
        latency_2.value = 5.0;
        assert_eq!(
            parse(line),
            vec![
                datum(
                    "Events",
                    &[("Stage", "dev"), ("Outcome", "granted")],
                    1.0,
                    Some("Count"),
                    ts
                ),
                datum("Events", &[("Stage", "dev")], 1.0, Some("Count"), ts),
                datum("Events", &[], 1.0, Some("Count"), ts),
                latency,
                latency_2,
            ]
        );
    }

    #[test]
    fn thirty_dimensions_are_allowed_and_thirty_one_are_not() {
        let line = |n: usize| {
            let keys: Vec<String> = (0..n).map(|i| format!("d{i}")).collect();
            let mut root = serde_json::json!({
                "_aws": {"Timestamp": 1, "CloudWatchMetrics": [
                    {"Namespace": "N", "Dimensions": [keys], "Metrics": [{"Name": "M"}]}]},
                "M": 7
            });
            for key in &keys {
                root[key] = Value::String("v".into());
            }
            root.to_string()
        };
        assert_eq!(parse(&line(30)).len(), 1);
        assert_eq!(parse(&line(30))[0].dimensions.len(), 30);
        assert_eq!(parse(&line(31)), vec![]);
    }

    #[test]
    fn lines_that_are_not_valid_emf_give_nothing() {
        let valid = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["D"]],"Metrics":[{"Name":"M"}]}]},"D":"d","M":1}"#;
        assert_eq!(parse(valid).len(), 1, "the baseline is valid");
        let hundred: Vec<u32> = (0..100).collect();
        let hundred_and_one: Vec<u32> = (0..101).collect();
        assert_eq!(
            parse(&valid.replace(r#""M":1}"#, &format!(r#""M":{hundred:?}}}"#))).len(),
            100
        );
        for (why, line) in [
            (
                "plain text",
                "START RequestId: 8f5 Version: $LATEST".to_owned(),
            ),
            (
                "a JSON log line",
                r#"{"level":"INFO","message":"event applied","Events":1}"#.into(),
            ),
            ("a JSON array", format!("[{valid}]")),
            ("text after the object", format!("{valid} trailing")),
            ("no Timestamp", valid.replace(r#""Timestamp":1,"#, "")),
            (
                "a string Timestamp",
                valid.replace(r#""Timestamp":1"#, r#""Timestamp":"1""#),
            ),
            (
                "a fractional Timestamp",
                valid.replace(r#""Timestamp":1"#, r#""Timestamp":1.5"#),
            ),
            (
                "no CloudWatchMetrics",
                r#"{"_aws":{"Timestamp":1},"M":1}"#.into(),
            ),
            ("no Namespace", valid.replace(r#""Namespace":"N","#, "")),
            (
                "an empty Namespace",
                valid.replace(r#""Namespace":"N""#, r#""Namespace":"""#),
            ),
            (
                "no Dimensions",
                valid.replace(r#""Dimensions":[["D"]],"#, ""),
            ),
            ("no dimension set", valid.replace(r#"[["D"]]"#, "[]")),
            (
                "a missing dimension member",
                valid.replace(r#""D":"d","#, ""),
            ),
            (
                "a numeric dimension value",
                valid.replace(r#""D":"d""#, r#""D":4"#),
            ),
            (
                "a dimension key not a string",
                valid.replace(r#"[["D"]]"#, "[[4]]"),
            ),
            (
                "no Metrics",
                valid.replace(r#","Metrics":[{"Name":"M"}]"#, ""),
            ),
            ("a missing metric member", valid.replace(r#","M":1"#, "")),
            (
                "a string metric value",
                valid.replace(r#""M":1"#, r#""M":"1""#),
            ),
            (
                "a non-numeric array element",
                valid.replace(r#""M":1"#, r#""M":[1,"2"]"#),
            ),
            (
                "101 values",
                valid.replace(r#""M":1}"#, &format!(r#""M":{hundred_and_one:?}}}"#)),
            ),
            (
                "an unknown unit",
                valid.replace(r#"{"Name":"M"}"#, r#"{"Name":"M","Unit":"Apples"}"#),
            ),
            (
                "a storage resolution of 5",
                valid.replace(r#"{"Name":"M"}"#, r#"{"Name":"M","StorageResolution":5}"#),
            ),
            (
                "a nested target",
                valid.replace(r#""M":1"#, r#""M":{"value":1}"#),
            ),
        ] {
            assert_eq!(parse(&line), vec![], "{why}: {line}");
        }
    }

    #[test]
    fn an_invalid_directive_drops_the_whole_line() {
        let line = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[
            {"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"Good"}]},
            {"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"Absent"}]}]},"Good":1}"#;
        assert_eq!(parse(line), vec![]);
    }
}
