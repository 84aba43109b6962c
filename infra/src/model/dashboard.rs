//! The body of a CloudWatch dashboard (the JSON CloudWatch documents as
//! "Dashboard Body Structure and Syntax"): only the widgets the stack uses.
//! [`super::Expr::sub_json`] turns it into the `DashboardBody` string.

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

use super::Expr;

/// The whole dashboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DashboardBody {
    /// The default time range, e.g. `-PT24H`.
    pub start: String,
    /// The widgets, on a grid 24 units wide.
    pub widgets: Vec<Widget>,
}

/// One widget and its place on the grid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Widget {
    /// `metric`, `alarm` or `text`.
    #[serde(rename = "type")]
    pub widget_type: WidgetType,
    /// Column (0–23).
    pub x: u32,
    /// Row.
    pub y: u32,
    /// Width (1–24).
    pub width: u32,
    /// Height.
    pub height: u32,
    /// What the widget shows.
    pub properties: WidgetProperties,
}

/// The widget types used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WidgetType {
    /// A graph of metrics.
    Metric,
    /// The states of alarms.
    Alarm,
}

/// The properties of a widget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum WidgetProperties {
    /// A graph.
    Metric(MetricWidget),
    /// Alarm states.
    Alarm(AlarmWidget),
}

/// A time-series graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MetricWidget {
    /// The title.
    pub title: String,
    /// The metrics' region (`${AWS::Region}`).
    pub region: Expr,
    /// `timeSeries`.
    pub view: &'static str,
    /// Whether lines are stacked.
    pub stacked: bool,
    /// Seconds per data point.
    pub period: u32,
    /// The default statistic of the lines.
    pub stat: String,
    /// The lines.
    pub metrics: Vec<MetricLine>,
}

/// An alarm-status widget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlarmWidget {
    /// The title.
    pub title: String,
    /// The alarms' ARNs.
    pub alarms: Vec<Expr>,
}

/// One line of a graph: `[namespace, name, dim, value, ..., {options}]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricLine {
    /// The namespace.
    pub namespace: String,
    /// The metric name.
    pub metric_name: String,
    /// Dimension name and value pairs.
    pub dimensions: Vec<(String, Expr)>,
    /// The line's statistic, if not the widget's.
    pub stat: Option<String>,
    /// The legend.
    pub label: Option<String>,
}

impl MetricLine {
    /// A line of `namespace`/`metric_name` with `dimensions`.
    pub fn new(namespace: &str, metric_name: &str, dimensions: Vec<(&str, Expr)>) -> Self {
        Self {
            namespace: namespace.to_owned(),
            metric_name: metric_name.to_owned(),
            dimensions: dimensions
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
            stat: None,
            label: None,
        }
    }

    /// Sets the legend.
    pub fn labelled(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Sets the statistic (e.g. `p99`).
    pub fn with_stat(mut self, stat: impl Into<String>) -> Self {
        self.stat = Some(stat.into());
        self
    }
}

impl Serialize for MetricLine {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        seq.serialize_element(&self.namespace)?;
        seq.serialize_element(&self.metric_name)?;
        for (name, value) in &self.dimensions {
            seq.serialize_element(name)?;
            seq.serialize_element(value)?;
        }
        if self.stat.is_some() || self.label.is_some() {
            seq.serialize_element(&LineOptions(self))?;
        }
        seq.end()
    }
}

/// The trailing `{"label", "stat"}` object of a line.
struct LineOptions<'a>(&'a MetricLine);

impl Serialize for LineOptions<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(label) = &self.0.label {
            map.serialize_entry("label", label)?;
        }
        if let Some(stat) = &self.0.stat {
            map.serialize_entry("stat", stat)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metric_line_is_an_array_with_its_options_last() {
        let line = MetricLine::new(
            "AWS/Lambda",
            "Duration",
            vec![("FunctionName", Expr::sub("f-${Stage}"))],
        )
        .with_stat("p99")
        .labelled("handler p99");
        assert_eq!(
            serde_json::to_value(&line).unwrap(),
            serde_json::json!(["AWS/Lambda", "Duration", "FunctionName", {"Fn::Sub": "f-${Stage}"}, {"label": "handler p99", "stat": "p99"}])
        );
        let bare = MetricLine::new("N", "M", Vec::new());
        assert_eq!(
            serde_json::to_value(&bare).unwrap(),
            serde_json::json!(["N", "M"])
        );
    }
}
