//! What the services report and deliver on the plane's behalf:
//!
//! - metrics into CloudWatch (moto's store, which `status`, the dashboard
//!   and the alarm evaluator read): Lambda's per invocation
//!   (<https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html>),
//!   EventBridge's per rule
//!   (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-monitoring.html>),
//!   SQS's each minute for active queues
//!   (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html>),
//!   and the functions' own EMF lines
//!   (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>);
//! - the functions' output into their log group, one stream per instance,
//!   with the platform's records around each invocation, written with the
//!   function's role (<https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html>);
//! - messages to queues, authorized first: as a role (Lambda's on-failure
//!   record) or as a service (EventBridge), against the queue's policy and
//!   its KMS key's.

use std::time::Duration;

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_sqs::types::MessageAttributeValue;
use aws_smithy_types::DateTime;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

use super::Ctx;
use super::iam::{self, Denied};
use super::lambda::FunctionConfig;

/// One datapoint of `name` with exactly `dimensions`, at `at_ms` of the
/// plane's clock.
pub fn datum(
    name: &str,
    dimensions: &[(&str, &str)],
    value: f64,
    unit: &str,
    at_ms: i64,
) -> MetricDatum {
    MetricDatum::builder()
        .metric_name(name)
        .set_dimensions(Some(
            dimensions
                .iter()
                .map(|(n, v)| Dimension::builder().name(*n).value(*v).build())
                .collect(),
        ))
        .value(value)
        .unit(StandardUnit::from(unit))
        .timestamp(DateTime::from_millis(at_ms))
        .build()
}

/// Puts datapoints of `namespace` in one request.
pub async fn put_metrics(ctx: &Ctx, namespace: &str, data: Vec<MetricDatum>) {
    if data.is_empty() {
        return;
    }
    let put = ctx
        .aws
        .cloudwatch
        .put_metric_data()
        .namespace(namespace)
        .set_metric_data(Some(data))
        .send()
        .await;
    if let Err(e) = put {
        eprintln!("local plane: PutMetricData {namespace}: {e}");
    }
}

/// Puts one datapoint of `namespace`/`name` with exactly `dimensions`, at
/// `at_ms` of the plane's clock.
pub async fn put_metric(
    ctx: &Ctx,
    namespace: &str,
    name: &str,
    dimensions: &[(&str, &str)],
    value: f64,
    unit: &str,
    at_ms: i64,
) {
    put_metrics(
        ctx,
        namespace,
        vec![datum(name, dimensions, value, unit, at_ms)],
    )
    .await;
}

/// One of Lambda's metrics of `function`, now.
pub async fn lambda_metric(ctx: &Ctx, function: &str, name: &str, value: f64, unit: &str) {
    let now = ctx.clock.now_ms();
    put_metric(
        ctx,
        "AWS/Lambda",
        name,
        &[("FunctionName", function)],
        value,
        unit,
        now,
    )
    .await;
}

/// One of EventBridge's metrics of a rule, now: dimensions `EventBusName`
/// and `RuleName` for a custom bus, `RuleName` alone for the default bus.
pub async fn events_metric(ctx: &Ctx, bus: &str, rule: &str, name: &str) {
    let now = ctx.clock.now_ms();
    let dims: Vec<(&str, &str)> = if bus == "default" {
        vec![("RuleName", rule)]
    } else {
        vec![("EventBusName", bus), ("RuleName", rule)]
    };
    put_metric(ctx, "AWS/Events", name, &dims, 1.0, "Count", now).await;
}

/// An invocation's metrics (`Invocations`, `Errors`, `Duration`).
pub async fn invocation(ctx: &Ctx, config: &FunctionConfig, took: Duration, failed: bool) {
    let dims = [("FunctionName", config.name.as_str())];
    let now = ctx.clock.now_ms();
    let errors = if failed { 1.0 } else { 0.0 };
    let ms = took.as_secs_f64() * 1000.0;
    let data = vec![
        datum("Invocations", &dims, 1.0, "Count", now),
        datum("Errors", &dims, errors, "Count", now),
        datum("Duration", &dims, ms, "Milliseconds", now),
    ];
    put_metrics(ctx, "AWS/Lambda", data).await;
}

/// Lambda's JSON platform record of `kind` (pure).
pub fn platform_record(kind: &str, record: Value, now_ms: i64) -> String {
    json!({"time": super::lambda::iso_millis(now_ms), "type": kind, "record": record}).to_string()
}

/// Ships what an instance prints to `config`'s log group, in a stream of
/// its own, as its role; EMF lines also become metrics.
pub fn ship_logs(
    ctx: Ctx,
    config: FunctionConfig,
    stream: String,
    mut lines: UnboundedReceiver<String>,
) {
    tokio::spawn(async move {
        let allowed = may_log(&ctx, &config, &stream).await;
        if let Err(why) = &allowed {
            eprintln!("local plane: {}'s logs are lost: {why}", config.name);
        }
        let logs = &ctx.aws.logs;
        let group = &config.log_group;
        if allowed.is_ok() {
            let _ = logs.create_log_group().log_group_name(group).send().await;
            let _ = logs
                .create_log_stream()
                .log_group_name(group)
                .log_stream_name(&stream)
                .send()
                .await;
        }
        while let Some(line) = lines.recv().await {
            for datum in super::emf::parse(&line) {
                let dims: Vec<(&str, &str)> = datum
                    .dimensions
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let unit = datum.unit.as_deref().unwrap_or("None");
                let at = datum.timestamp_ms + ctx.clock.offset_ms();
                put_metric(
                    &ctx,
                    &datum.namespace,
                    &datum.name,
                    &dims,
                    datum.value,
                    unit,
                    at,
                )
                .await;
            }
            if allowed.is_err() {
                continue;
            }
            let event = aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(ctx.clock.now_ms())
                .message(line)
                .build();
            if let Ok(event) = event {
                let _ = logs
                    .put_log_events()
                    .log_group_name(group)
                    .log_stream_name(&stream)
                    .log_events(event)
                    .send()
                    .await;
            }
        }
    });
}

/// Whether `config`'s role may create `stream` and put events in it.
async fn may_log(ctx: &Ctx, config: &FunctionConfig, stream: &str) -> Result<(), Denied> {
    let group = format!(
        "arn:aws:logs:{}:{}:log-group:{}",
        ctx.region, ctx.account, config.log_group
    );
    let stream_arn = format!("{group}:log-stream:{stream}");
    for (action, resource) in [
        ("logs:CreateLogStream", &stream_arn),
        ("logs:PutLogEvents", &stream_arn),
    ] {
        iam::role_may(ctx, &config.role_arn, &config.name, action, resource).await?;
    }
    Ok(())
}

/// A queue's URL, attributes and policy, by its ARN.
struct Queue {
    url: String,
    arn: String,
    policy: Option<infra::policy::Policy>,
    key: Option<String>,
}

async fn queue(ctx: &Ctx, arn: &str) -> Result<Queue, Denied> {
    let name = arn.rsplit(':').next().unwrap_or(arn);
    let deny = |what: String| Denied { message: what };
    let url = ctx
        .aws
        .sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| deny(format!("the queue {arn} does not exist: {e}")))?
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    let attributes = ctx
        .aws
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .map_err(|e| deny(format!("{arn}: {e}")))?;
    let attribute = |name: &str| {
        attributes
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::from(name)))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    let policy = match attribute("Policy") {
        Some(document) => Some(iam::parse(&format!("{name} policy"), &document)?),
        None => None,
    };
    Ok(Queue {
        url,
        arn: arn.to_owned(),
        policy,
        key: attribute("KmsMasterKeyId"),
    })
}

/// Sends `body` to the queue `queue_arn` as the role `role_arn` (its
/// session `session`) would: the role must allow `sqs:SendMessage`, and an
/// encrypted queue's key must let it generate a data key through SQS. The
/// message id.
///
/// # Errors
/// Refused, with AWS's reason, or the queue is gone.
pub async fn send_as_role(
    ctx: &Ctx,
    role_arn: &str,
    session: &str,
    queue_arn: &str,
    body: &str,
    attributes: &[(&str, &str)],
) -> Result<String, Denied> {
    let queue = queue(ctx, queue_arn).await?;
    iam::role_may(ctx, role_arn, session, "sqs:SendMessage", &queue.arn).await?;
    if let Some(key) = &queue.key {
        let identity = iam::identity_of(ctx, role_arn).await?;
        let via = format!("sqs.{}.amazonaws.com", ctx.region);
        let caller = infra::policy::Caller::Iam(role_arn.to_owned());
        iam::key_may_live(
            ctx,
            caller,
            &identity,
            key,
            &[
                ("kms:ViaService", via.as_str()),
                ("kms:CallerAccount", ctx.account.as_str()),
                ("kms:EncryptionContext:aws:sqs:arn", queue.arn.as_str()),
            ],
        )
        .await?;
    }
    send(ctx, &queue, body, attributes).await
}

/// Sends `body` to the queue `queue_arn` as the service `service` on
/// behalf of `source_arn` (e.g. a rule): the queue's policy must allow it,
/// and an encrypted queue's key policy must let the service use the key.
///
/// # Errors
/// Refused, with the reason, or the queue is gone.
pub async fn send_as_service(
    ctx: &Ctx,
    service: &str,
    source_arn: &str,
    queue_arn: &str,
    body: &str,
    attributes: &[(&str, &str)],
) -> Result<String, Denied> {
    let queue = queue(ctx, queue_arn).await?;
    iam::service_may(
        service,
        "sqs:SendMessage",
        &queue.arn,
        queue.policy.as_ref(),
        &[
            ("aws:SourceArn", source_arn),
            ("aws:SourceAccount", &ctx.account),
        ],
    )?;
    if let Some(key) = &queue.key {
        let via = format!("sqs.{}.amazonaws.com", ctx.region);
        let caller = infra::policy::Caller::Service(service.to_owned());
        iam::key_may_live(
            ctx,
            caller,
            &[],
            key,
            &[
                ("kms:ViaService", via.as_str()),
                ("kms:EncryptionContext:aws:sqs:arn", queue.arn.as_str()),
            ],
        )
        .await?;
    }
    send(ctx, &queue, body, attributes).await
}

async fn send(
    ctx: &Ctx,
    queue: &Queue,
    body: &str,
    attributes: &[(&str, &str)],
) -> Result<String, Denied> {
    let mut request = ctx
        .aws
        .sqs
        .send_message()
        .queue_url(&queue.url)
        .message_body(body);
    for (name, value) in attributes {
        let value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(*value)
            .build()
            .map_err(|e| Denied {
                message: e.to_string(),
            })?;
        request = request.message_attributes(*name, value);
    }
    let sent = request.send().await.map_err(|e| Denied {
        message: format!("SendMessage to {}: {e}", queue.arn),
    })?;
    Ok(sent.message_id().unwrap_or_default().to_owned())
}

/// SQS's metrics of every active queue, for the minute that ends at
/// `minute_ms` (SQS reports each minute, for queues active in the last six
/// hours).
pub async fn sample_queues(ctx: &Ctx, minute_ms: i64) {
    let stats = match ctx.moto.sqs_stats().await {
        Ok(stats) => stats,
        Err(e) => {
            eprintln!("local plane: sqs-stats: {e:#}");
            return;
        }
    };
    for queue in stats["queues"].as_array().into_iter().flatten() {
        let active = queue["last_activity_ms"]
            .as_i64()
            .is_some_and(|at| minute_ms - at <= 6 * 3_600_000)
            || queue["visible"].as_i64().unwrap_or(0) > 0;
        if active {
            sample_queue(ctx, queue, minute_ms).await;
        }
    }
}

async fn sample_queue(ctx: &Ctx, queue: &Value, minute_ms: i64) {
    let name = queue["name"].as_str().unwrap_or_default();
    let dims = [("QueueName", name)];
    let count = |key: &str| queue[key].as_f64().unwrap_or(0.0);
    let mut data: Vec<MetricDatum> = [
        ("ApproximateNumberOfMessagesVisible", "visible"),
        ("ApproximateNumberOfMessagesNotVisible", "not_visible"),
        ("ApproximateNumberOfMessagesDelayed", "delayed"),
        ("NumberOfMessagesSent", "sent"),
        ("NumberOfMessagesReceived", "received"),
        ("NumberOfMessagesDeleted", "deleted"),
        ("NumberOfEmptyReceives", "empty_receives"),
    ]
    .into_iter()
    .map(|(metric, key)| datum(metric, &dims, count(key), "Count", minute_ms))
    .collect();
    if let Some(oldest) = queue["oldest_sent_timestamp_ms"].as_i64() {
        let age = ((minute_ms - oldest).max(0) / 1000) as f64;
        data.push(datum(
            "ApproximateAgeOfOldestMessage",
            &dims,
            age,
            "Seconds",
            minute_ms,
        ));
    }
    put_metrics(ctx, "AWS/SQS", data).await;
}
