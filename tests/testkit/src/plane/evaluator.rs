//! CloudWatch's alarms, evaluated each minute as CloudWatch evaluates them
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html>):
//! the datapoints of the evaluation range are read from CloudWatch (moto,
//! where the plane put them), judged by [`super::alarm::evaluate`] (metric
//! math by [`super::math`]), and a change of state is set on the alarm
//! (moto records it in the alarm's history) and runs the new state's
//! actions: a notification to each SNS topic, as `cloudwatch.amazonaws.com`,
//! allowed by the topic's policy (and its key's, when encrypted)
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html>),
//! with the outcome in the alarm's history as an `Action` item.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{Dimension, MetricAlarm, StateValue, Statistic};
use aws_smithy_types::DateTime;
use serde_json::{Value, json};

use super::Ctx;
use super::alarm::{self, AlarmSpec, Datapoint, Decision, State};

/// The service principal CloudWatch acts as.
const CLOUDWATCH: &str = "cloudwatch.amazonaws.com";

/// Evaluates every alarm at the end of the minute `now_ms`.
pub async fn evaluate_all(ctx: &Ctx, now_ms: i64) {
    let mut token = None;
    loop {
        let page = ctx
            .aws
            .cloudwatch
            .describe_alarms()
            .set_next_token(token)
            .send()
            .await;
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                eprintln!("local plane: DescribeAlarms: {e}");
                return;
            }
        };
        // Each alarm on its own (CloudWatch evaluates them independently).
        token = page.next_token().map(str::to_owned);
        let mut evaluations = tokio::task::JoinSet::new();
        for found in page.metric_alarms.unwrap_or_default() {
            let ctx = ctx.clone();
            evaluations.spawn(async move {
                if let Err(why) = evaluate_one(&ctx, &found, now_ms).await {
                    eprintln!(
                        "local plane: alarm {} not evaluated: {why}",
                        found.alarm_name().unwrap_or_default()
                    );
                }
            });
        }
        while evaluations.join_next().await.is_some() {}
        if token.is_none() {
            return;
        }
    }
}

/// The alarm as the pure evaluation reads it.
fn spec_of(found: &MetricAlarm) -> Result<AlarmSpec, String> {
    let period = found
        .period()
        .or_else(|| {
            found
                .metrics()
                .iter()
                .find_map(|m| m.metric_stat().and_then(|s| s.period()))
        })
        .ok_or("no period")?;
    Ok(AlarmSpec {
        name: found.alarm_name().unwrap_or_default().to_owned(),
        comparison: alarm::Comparison::parse(
            found
                .comparison_operator()
                .map(|c| c.as_str())
                .unwrap_or_default(),
        )?,
        threshold: found.threshold().ok_or("no threshold")?,
        period_s: u32::try_from(period).map_err(|_| "a negative period")?,
        evaluation_periods: found
            .evaluation_periods()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(1),
        datapoints_to_alarm: found
            .datapoints_to_alarm()
            .or(found.evaluation_periods())
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(1),
        treat_missing: alarm::TreatMissing::parse(found.treat_missing_data().unwrap_or("missing"))?,
        statistic_label: found
            .extended_statistic()
            .map(str::to_owned)
            .or_else(|| found.statistic().map(|s| s.as_str().to_owned()))
            .unwrap_or_else(|| "Expression".to_owned()),
    })
}

async fn evaluate_one(ctx: &Ctx, found: &MetricAlarm, now_ms: i64) -> Result<(), String> {
    let spec = spec_of(found)?;
    let range = alarm::evaluation_range(&spec);
    let window = window(ctx, found, &spec, range, now_ms).await?;
    let current = State::parse(
        found
            .state_value()
            .map(|s| s.as_str())
            .unwrap_or("INSUFFICIENT_DATA"),
    )?;
    let decision = alarm::evaluate(&spec, &window, current, now_ms);
    if decision.state == current {
        return Ok(());
    }
    ctx.aws
        .cloudwatch
        .set_alarm_state()
        .alarm_name(&spec.name)
        .state_value(StateValue::from(decision.state.as_str()))
        .state_reason(&decision.reason)
        .state_reason_data(decision.reason_data.to_string())
        .send()
        .await
        .map_err(|e| format!("SetAlarmState: {e}"))?;
    if found.actions_enabled().unwrap_or(true) {
        for arn in actions_of(found, decision.state) {
            notify(ctx, found, &spec, current, &decision, &arn, now_ms).await;
        }
    }
    Ok(())
}

/// The actions of `state` (pure).
fn actions_of(found: &MetricAlarm, state: State) -> Vec<String> {
    match state {
        State::Alarm => found.alarm_actions().to_vec(),
        State::Ok => found.ok_actions().to_vec(),
        State::InsufficientData => found.insufficient_data_actions().to_vec(),
    }
}

/// The datapoints of the last `range` periods ending at `now_ms`, oldest
/// first.
async fn window(
    ctx: &Ctx,
    found: &MetricAlarm,
    spec: &AlarmSpec,
    range: usize,
    now_ms: i64,
) -> Result<Vec<Datapoint>, String> {
    let period_ms = i64::from(spec.period_s) * 1000;
    let start = now_ms - period_ms * i64::try_from(range).unwrap_or(1);
    let starts: Vec<i64> = (0..range)
        .map(|i| start + period_ms * i64::try_from(i).unwrap_or(0))
        .collect();
    let values = if found.metrics().is_empty() {
        let query = Query {
            namespace: found.namespace().unwrap_or_default().to_owned(),
            name: found.metric_name().unwrap_or_default().to_owned(),
            dimensions: found.dimensions().to_vec(),
            statistic: found.statistic().map(|s| s.as_str().to_owned()),
            extended: found.extended_statistic().map(str::to_owned),
        };
        series(ctx, &query, spec.period_s, &starts).await?
    } else {
        math_series(ctx, found, spec.period_s, &starts).await?
    };
    Ok(starts
        .into_iter()
        .zip(values)
        .map(|(start_ms, value)| Datapoint { start_ms, value })
        .collect())
}

/// One metric to read.
struct Query {
    namespace: String,
    name: String,
    dimensions: Vec<Dimension>,
    statistic: Option<String>,
    extended: Option<String>,
}

/// The statistic of `query` in each period starting at `starts`.
async fn series(
    ctx: &Ctx,
    query: &Query,
    period_s: u32,
    starts: &[i64],
) -> Result<Vec<Option<f64>>, String> {
    let period_ms = i64::from(period_s) * 1000;
    let (Some(first), Some(last)) = (starts.first(), starts.last()) else {
        return Ok(Vec::new());
    };
    let mut request = ctx
        .aws
        .cloudwatch
        .get_metric_statistics()
        .namespace(&query.namespace)
        .metric_name(&query.name)
        .set_dimensions(Some(query.dimensions.clone()))
        .start_time(DateTime::from_millis(*first))
        .end_time(DateTime::from_millis(last + period_ms))
        .period(i32::try_from(period_s).unwrap_or(i32::MAX));
    match (&query.statistic, &query.extended) {
        (_, Some(extended)) => request = request.extended_statistics(extended),
        (Some(statistic), None) => {
            request = request.statistics(Statistic::from(statistic.as_str()))
        }
        (None, None) => return Err("neither a statistic nor an extended statistic".into()),
    }
    let got = request
        .send()
        .await
        .map_err(|e| format!("GetMetricStatistics: {e}"))?;
    let mut by_start = BTreeMap::new();
    for point in got.datapoints() {
        let at = point
            .timestamp()
            .map(|t| t.to_millis().unwrap_or(0))
            .unwrap_or(0);
        let value = match (&query.statistic, &query.extended) {
            (_, Some(extended)) => point
                .extended_statistics()
                .and_then(|e| e.get(extended).copied()),
            (Some(s), None) => statistic_of(point, s),
            _ => None,
        };
        by_start.insert(at, value);
    }
    Ok(starts
        .iter()
        .map(|s| by_start.get(s).copied().flatten())
        .collect())
}

fn statistic_of(point: &aws_sdk_cloudwatch::types::Datapoint, statistic: &str) -> Option<f64> {
    match statistic {
        "Sum" => point.sum(),
        "Average" => point.average(),
        "Maximum" => point.maximum(),
        "Minimum" => point.minimum(),
        "SampleCount" => point.sample_count(),
        _ => None,
    }
}

/// The series of a metric-math alarm: its queries read, its expression
/// (the query that returns data) evaluated.
async fn math_series(
    ctx: &Ctx,
    found: &MetricAlarm,
    period_s: u32,
    starts: &[i64],
) -> Result<Vec<Option<f64>>, String> {
    let mut inputs = BTreeMap::new();
    let mut expression = None;
    for query in found.metrics() {
        let id = query.id().unwrap_or_default().to_owned();
        if let Some(stat) = query.metric_stat() {
            let metric = stat.metric().ok_or("a query without its metric")?;
            let read = Query {
                namespace: metric.namespace().unwrap_or_default().to_owned(),
                name: metric.metric_name().unwrap_or_default().to_owned(),
                dimensions: metric.dimensions().to_vec(),
                statistic: stat.stat().map(str::to_owned),
                extended: None,
            };
            let read = if read
                .statistic
                .as_deref()
                .is_some_and(|s| s.starts_with('p'))
            {
                Query {
                    extended: read.statistic.clone(),
                    statistic: None,
                    ..read
                }
            } else {
                read
            };
            inputs.insert(id.clone(), series(ctx, &read, period_s, starts).await?);
        }
        if let Some(text) = query.expression()
            && query.return_data().unwrap_or(true)
        {
            expression = Some(text.to_owned());
        }
    }
    let text = expression.ok_or("a metric-math alarm without an expression that returns data")?;
    let parsed = super::math::parse(&text)?;
    parsed.evaluate(&inputs)
}

/// Runs one action of a state change: a notification to a topic.
async fn notify(
    ctx: &Ctx,
    found: &MetricAlarm,
    spec: &AlarmSpec,
    old: State,
    decision: &Decision,
    topic: &str,
    now_ms: i64,
) {
    let message = notification(ctx, found, spec, old, decision, now_ms);
    let subject = subject(&spec.name, decision.state, &ctx.region);
    let published = publish(ctx, found, topic, &subject, &message).await;
    let (state, summary, error) = match &published {
        Ok(()) => (
            "Succeeded",
            format!("Successfully executed action {topic}"),
            Value::Null,
        ),
        Err(why) => (
            "Failed",
            format!("Failed to execute action {topic}"),
            Value::String(why.clone()),
        ),
    };
    let data = json!({
        "actionState": state,
        "stateUpdateTimestamp": now_ms,
        "notificationResource": topic,
        "publishedMessage": published.is_ok().then(|| message.to_string()),
        "error": error,
    });
    if let Err(e) = ctx.moto.alarm_action(&spec.name, &summary, &data).await {
        eprintln!("local plane: alarm history of {}: {e:#}", spec.name);
    }
}

/// The publish, authorized as CloudWatch's.
async fn publish(
    ctx: &Ctx,
    found: &MetricAlarm,
    topic: &str,
    subject: &str,
    message: &Value,
) -> Result<(), String> {
    if !topic.starts_with("arn:aws:sns:") {
        return Err(format!(
            "the local plane runs SNS actions only, not {topic}"
        ));
    }
    let attributes = ctx
        .aws
        .sns
        .get_topic_attributes()
        .topic_arn(topic)
        .send()
        .await
        .map_err(|e| format!("NotFound: {topic}: {e}"))?;
    let attribute = |name: &str| {
        attributes
            .attributes()
            .and_then(|a| a.get(name))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    let policy = match attribute("Policy") {
        Some(document) => {
            Some(super::iam::parse("topic policy", &document).map_err(|d| d.message)?)
        }
        None => None,
    };
    let alarm_arn = found.alarm_arn().unwrap_or_default();
    super::iam::service_may(
        CLOUDWATCH,
        "sns:Publish",
        topic,
        policy.as_ref(),
        &[
            ("aws:SourceArn", alarm_arn),
            ("aws:SourceAccount", &ctx.account),
        ],
    )
    .map_err(|d| format!("AuthorizationError: {d}"))?;
    if let Some(key) = attribute("KmsMasterKeyId") {
        let caller = infra::policy::Caller::Service(CLOUDWATCH.to_owned());
        super::iam::key_may_live(
            ctx,
            caller,
            &[],
            &key,
            &[("kms:EncryptionContext:aws:sns:topicArn", topic)],
        )
        .await
        .map_err(|d| format!("KMSAccessDenied: {d}"))?;
    }
    ctx.aws
        .sns
        .publish()
        .topic_arn(topic)
        .subject(subject)
        .message_structure("json")
        .message(message.to_string())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("Publish: {e}"))
}

/// The region's name as CloudWatch writes it in notifications.
fn region_name(region: &str) -> &str {
    match region {
        "us-east-1" => "US East (N. Virginia)",
        "us-east-2" => "US East (Ohio)",
        "us-west-2" => "US West (Oregon)",
        "eu-west-1" => "EU (Ireland)",
        "eu-central-1" => "EU (Frankfurt)",
        other => other,
    }
}

/// `ALARM: "<name>" in <region name>`, at most 100 characters (SNS's limit).
pub fn subject(name: &str, state: State, region: &str) -> String {
    let text = format!("{}: \"{name}\" in {}", state.as_str(), region_name(region));
    text.chars().take(100).collect()
}

/// The message CloudWatch publishes (`MessageStructure: json`): the alarm
/// JSON for every protocol, a sentence for e-mail.
fn notification(
    ctx: &Ctx,
    found: &MetricAlarm,
    spec: &AlarmSpec,
    old: State,
    decision: &Decision,
    now_ms: i64,
) -> Value {
    let time = super::lambda::iso_millis(now_ms).replace('Z', "+0000");
    let alarm = json!({
        "AlarmName": spec.name,
        "AlarmDescription": found.alarm_description(),
        "AWSAccountId": ctx.account,
        "NewStateValue": decision.state.as_str(),
        "NewStateReason": decision.reason,
        "StateChangeTime": time,
        "Region": region_name(&ctx.region),
        "AlarmArn": found.alarm_arn(),
        "OldStateValue": old.as_str(),
        "OKActions": found.ok_actions(),
        "AlarmActions": found.alarm_actions(),
        "InsufficientDataActions": found.insufficient_data_actions(),
        "Trigger": trigger(found, spec),
    });
    let email = format!(
        "You are receiving this email because your Amazon CloudWatch Alarm \"{}\" in the {} region has entered the {} state, because \"{}\" at \"{time}\".",
        spec.name,
        region_name(&ctx.region),
        decision.state.as_str(),
        decision.reason
    );
    json!({"default": alarm.to_string(), "email": email})
}

fn trigger(found: &MetricAlarm, spec: &AlarmSpec) -> Value {
    let common = json!({
        "Period": spec.period_s,
        "EvaluationPeriods": spec.evaluation_periods,
        "DatapointsToAlarm": spec.datapoints_to_alarm,
        "ComparisonOperator": found.comparison_operator().map(|c| c.as_str()),
        "Threshold": spec.threshold,
        "TreatMissingData": found.treat_missing_data(),
        "EvaluateLowSampleCountPercentile": found.evaluate_low_sample_count_percentile().unwrap_or(""),
    });
    let mut out = if found.metrics().is_empty() {
        json!({
            "MetricName": found.metric_name(),
            "Namespace": found.namespace(),
            "StatisticType": if found.extended_statistic().is_some() { "ExtendedStatistic" } else { "Statistic" },
            "Statistic": spec.statistic_label.to_uppercase(),
            "Unit": found.unit().map(|u| u.as_str()),
            "Dimensions": found.dimensions().iter().map(|d| json!({"value": d.value(), "name": d.name()})).collect::<Vec<_>>(),
        })
    } else {
        json!({"Metrics": found.metrics().iter().map(|m| json!({"Id": m.id(), "Expression": m.expression(), "ReturnData": m.return_data()})).collect::<Vec<_>>()})
    };
    if let (Some(out), Some(common)) = (out.as_object_mut(), common.as_object()) {
        out.extend(common.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_names_the_state_the_alarm_and_the_region() {
        assert_eq!(
            subject("cc-agent-reconciler-errors-dev", State::Alarm, "us-east-1"),
            "ALARM: \"cc-agent-reconciler-errors-dev\" in US East (N. Virginia)"
        );
        assert_eq!(
            subject(&"x".repeat(200), State::Ok, "us-east-1")
                .chars()
                .count(),
            100
        );
    }
}
