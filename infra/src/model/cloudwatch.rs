//! `AWS::CloudWatch::Alarm` and `AWS::CloudWatch::Dashboard`.

use serde::Serialize;

use super::Expr;

/// `AWS::CloudWatch::Alarm` on one metric or on a metric-math expression.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Alarm {
    /// The alarm name.
    pub alarm_name: Expr,
    /// What the alarm means and what to do.
    pub alarm_description: String,
    /// What is watched.
    #[serde(flatten)]
    pub metric: AlarmMetric,
    /// Periods evaluated.
    pub evaluation_periods: u32,
    /// Breaching periods (of `EvaluationPeriods`) that trigger.
    pub datapoints_to_alarm: u32,
    /// The threshold.
    pub threshold: f64,
    /// How the value compares to the threshold.
    pub comparison_operator: ComparisonOperator,
    /// How periods without data count.
    pub treat_missing_data: TreatMissingData,
    /// A percentile alarm with too few samples: `evaluate` them anyway, or
    /// `ignore` them (keep the state).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluate_low_sample_count_percentile: Option<&'static str>,
    /// Notified on ALARM.
    pub alarm_actions: Vec<Expr>,
    /// Notified on the return to OK.
    #[serde(rename = "OKActions")]
    pub ok_actions: Vec<Expr>,
}

/// The metric an alarm watches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AlarmMetric {
    /// One metric with a statistic.
    Single(MetricStatProperties),
    /// A metric-math expression over several metrics.
    Math {
        /// The queries; exactly one has `ReturnData: true`.
        #[serde(rename = "Metrics")]
        metrics: Vec<MetricDataQuery>,
    },
}

/// The properties of an alarm on one metric.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricStatProperties {
    /// The metric's namespace.
    pub namespace: String,
    /// The metric's name.
    pub metric_name: String,
    /// The metric's dimensions.
    pub dimensions: Vec<Dimension>,
    /// The statistic, or a percentile.
    #[serde(flatten)]
    pub statistic: AlarmStatistic,
    /// Seconds per period.
    pub period: u32,
}

/// An alarm's `Statistic`, or its `ExtendedStatistic` (a percentile).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum AlarmStatistic {
    /// `Statistic`.
    Statistic(Statistic),
    /// `ExtendedStatistic`, e.g. `p99`.
    ExtendedStatistic(String),
}

/// One dimension of a metric.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dimension {
    /// The dimension's name.
    pub name: String,
    /// Its value.
    pub value: Expr,
}

/// `Statistic`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Statistic {
    /// Sum of the data points.
    Sum,
    /// Largest data point.
    Maximum,
}

/// One of an alarm's `Metrics`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricDataQuery {
    /// Referenced by expressions (lower-case first letter).
    pub id: String,
    /// A metric-math expression (instead of `MetricStat`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// A human label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// A metric (instead of `Expression`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_stat: Option<MetricStat>,
    /// Whether the alarm watches this query.
    pub return_data: bool,
}

/// `MetricStat`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricStat {
    /// The metric.
    pub metric: Metric,
    /// Seconds per period.
    pub period: u32,
    /// The statistic.
    pub stat: Statistic,
}

/// `Metric`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metric {
    /// The namespace.
    pub namespace: String,
    /// The name.
    pub metric_name: String,
    /// The dimensions.
    pub dimensions: Vec<Dimension>,
}

/// `ComparisonOperator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ComparisonOperator {
    /// value ≥ threshold.
    GreaterThanOrEqualToThreshold,
    /// value > threshold.
    GreaterThanThreshold,
    /// value < threshold.
    LessThanThreshold,
}

/// `TreatMissingData`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TreatMissingData {
    /// A period without data is good.
    NotBreaching,
    /// A period without data is bad (the metric should be there).
    Breaching,
    /// A period without data keeps the alarm's state.
    Ignore,
}

/// `AWS::CloudWatch::Dashboard`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dashboard {
    /// The dashboard name.
    pub dashboard_name: Expr,
    /// The body as JSON text: [`Expr::sub_json`] of a
    /// [`super::dashboard::DashboardBody`].
    pub dashboard_body: Expr,
}
