//! EventBridge's deliveries, as its user guide describes them
//! (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html>):
//! moto matched the event to a rule; the plane delivers it to each target.
//!
//! - A Lambda target is invoked asynchronously, authorized by the
//!   function's resource policy (`events.amazonaws.com`, the rule as
//!   `aws:SourceArn`); once Lambda accepted the event, a function error is
//!   Lambda's to retry, not EventBridge's
//!   (<https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html>).
//! - An SQS target gets the event, authorized by the queue's policy (and
//!   its key's, when encrypted).
//! - A missing permission or target is not retried: the event goes to the
//!   target's dead-letter queue at once. Other failures are retried with
//!   exponential backoff and jitter until the target's `RetryPolicy`
//!   (attempts, maximum age) runs out, then go to the dead-letter queue,
//!   with the attributes EventBridge adds (`RULE_ARN`, `TARGET_ARN`,
//!   `ERROR_CODE`, `ERROR_MESSAGE`, `EXHAUSTED_RETRY_CONDITION`,
//!   `RETRY_ATTEMPTS`). A dead-letter queue that refuses the message loses
//!   the event: `InvocationsFailedToBeSentToDlq`.
//!
//! Metrics: `MatchedEvents` and `TriggeredRules` per rule, `Invocations`,
//! `FailedInvocations`, `InvocationsSentToDlq`,
//! `InvocationsFailedToBeSentToDlq` (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-monitoring.html>).

use std::time::Duration;

use serde_json::Value;

use super::Ctx;
use super::iam::Denied;
use super::telemetry::events_metric;

/// The service principal EventBridge acts as.
const EVENTS: &str = "events.amazonaws.com";

/// One delivery moto asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub rule_arn: String,
    pub rule_name: String,
    pub bus: String,
    pub target_arn: String,
    pub payload: String,
    pub event_id: String,
    pub max_attempts: u32,
    pub max_age_s: u32,
    pub dead_letter_arn: Option<String>,
}

impl Delivery {
    /// The delivery in the hook's JSON (`plane_patches.py`), with
    /// EventBridge's defaults (185 retries, 24 hours).
    pub fn from_hook(body: &Value) -> Option<Delivery> {
        let target = &body["target"];
        let retry = &target["RetryPolicy"];
        Some(Delivery {
            rule_arn: body["rule_arn"].as_str()?.to_owned(),
            rule_name: body["rule_name"].as_str().unwrap_or_default().to_owned(),
            bus: body["event_bus_name"]
                .as_str()
                .unwrap_or("default")
                .to_owned(),
            target_arn: target["Arn"].as_str()?.to_owned(),
            payload: body["payload"].as_str()?.to_owned(),
            event_id: body["event"]["id"].as_str().unwrap_or_default().to_owned(),
            max_attempts: retry["MaximumRetryAttempts"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(185),
            max_age_s: retry["MaximumEventAgeInSeconds"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(86_400),
            dead_letter_arn: target["DeadLetterConfig"]["Arn"]
                .as_str()
                .map(str::to_owned),
        })
    }
}

/// Why a target did not take the event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// One of the codes EventBridge documents (`NO_PERMISSIONS`, …).
    pub code: &'static str,
    pub message: String,
    /// Whether EventBridge retries it.
    pub retried: bool,
}

/// A rule matched an event: its metrics.
pub async fn matched(ctx: &Ctx, body: &Value) {
    if !body["managed_by"].is_null() {
        return;
    }
    let bus = body["event_bus_name"].as_str().unwrap_or("default");
    let rule = body["rule_name"].as_str().unwrap_or_default();
    ctx.trace
        .matched(body["event_id"].as_str().unwrap_or_default(), rule);
    events_metric(ctx, bus, rule, "MatchedEvents").await;
    events_metric(ctx, bus, rule, "TriggeredRules").await;
}

/// Delivers one (rule, target) of an event moto matched.
pub async fn deliver(ctx: &Ctx, body: &Value) {
    match Delivery::from_hook(body) {
        Some(delivery) => run(ctx, delivery).await,
        None => eprintln!("local plane: a delivery moto sent cannot be read: {body}"),
    }
}

/// Delivers one (rule, target) of an event, retrying as its policy says.
pub async fn run(ctx: &Ctx, delivery: Delivery) {
    let ingested = ctx.clock.now_ms();
    let mut retries = 0u32;
    loop {
        let failure = match attempt(ctx, &delivery).await {
            Ok(()) => {
                events_metric(ctx, &delivery.bus, &delivery.rule_name, "Invocations").await;
                return;
            }
            Err(failure) => failure,
        };
        let age_s = (ctx.clock.now_ms() - ingested) / 1000;
        let exhausted = if !failure.retried {
            None
        } else if retries >= delivery.max_attempts {
            Some("MaximumRetryAttempts")
        } else if age_s >= i64::from(delivery.max_age_s) {
            Some("MaximumEventAgeInSeconds")
        } else {
            retries += 1;
            let wait = backoff(retries);
            ctx.clock
                .sleep_until(ctx.clock.now_ms() + i64::try_from(wait.as_millis()).unwrap_or(0))
                .await;
            continue;
        };
        events_metric(ctx, &delivery.bus, &delivery.rule_name, "Invocations").await;
        events_metric(ctx, &delivery.bus, &delivery.rule_name, "FailedInvocations").await;
        dead_letter(ctx, &delivery, &failure, exhausted, retries).await;
        return;
    }
}

/// The wait before retry `n` (pure): "exponential back off and jitter";
/// the base and cap are not documented: 1 s doubling, at most 5 minutes,
/// with full jitter.
pub fn backoff(n: u32) -> Duration {
    let cap = Duration::from_secs(1u64 << n.saturating_sub(1).min(9)).min(Duration::from_secs(300));
    cap.mul_f64(fastrand::f64().max(0.1))
}

/// One try at the target.
async fn attempt(ctx: &Ctx, delivery: &Delivery) -> Result<(), Failure> {
    let arn = &delivery.target_arn;
    if arn.starts_with("arn:aws:lambda:") {
        return to_function(ctx, delivery).await;
    }
    if arn.starts_with("arn:aws:sns:") {
        return to_topic(ctx, delivery).await;
    }
    if arn.starts_with("arn:aws:sqs:") {
        let sent = super::telemetry::send_as_service(
            ctx,
            EVENTS,
            &delivery.rule_arn,
            arn,
            &delivery.payload,
            &[],
        )
        .await;
        return sent.map(|_| ()).map_err(|denied| refused(denied, arn));
    }
    Err(Failure {
        code: "INVALID_PARAMETER",
        message: format!("the local plane delivers to Lambda, SQS and SNS targets, not {arn}"),
        retried: false,
    })
}

fn refused(denied: Denied, arn: &str) -> Failure {
    let missing = denied.message.contains("does not exist");
    Failure {
        code: if missing {
            "NO_RESOURCE"
        } else {
            "NO_PERMISSIONS"
        },
        message: if missing {
            format!("Target {arn} does not exist")
        } else {
            denied.message
        },
        retried: false,
    }
}

/// A Lambda target: the function must exist and its policy let the rule
/// invoke it; then Lambda queues the event.
async fn to_function(ctx: &Ctx, delivery: &Delivery) -> Result<(), Failure> {
    let name = super::lambda::function_name(&delivery.target_arn);
    let Some(function) = ctx.functions.get(&name) else {
        return Err(refused(
            Denied {
                message: format!("{name} does not exist"),
            },
            &delivery.target_arn,
        ));
    };
    let policy = ctx
        .aws
        .lambda
        .get_policy()
        .function_name(&name)
        .send()
        .await
        .ok()
        .and_then(|p| p.policy().map(str::to_owned));
    let policy = match policy {
        Some(document) => Some(
            super::iam::parse(&format!("{name} policy"), &document)
                .map_err(|d| refused(d, &delivery.target_arn))?,
        ),
        None => None,
    };
    super::iam::service_may(
        EVENTS,
        "lambda:InvokeFunction",
        &function.config.arn,
        policy.as_ref(),
        &[
            ("aws:SourceArn", &delivery.rule_arn),
            ("aws:SourceAccount", &ctx.account),
        ],
    )
    .map_err(|d| refused(d, &delivery.target_arn))?;
    let request = ctx
        .functions
        .enqueue(ctx, &name, delivery.payload.clone().into_bytes())
        .map_err(|e| Failure {
            code: "NO_RESOURCE",
            message: format!("{e:?}"),
            retried: false,
        })?;
    ctx.trace
        .accepted(&delivery.event_id, &delivery.rule_name, &request);
    Ok(())
}

/// An SNS target: the topic's policy (and its key's, when encrypted) must
/// let EventBridge publish; the payload is the message
/// (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions>).
async fn to_topic(ctx: &Ctx, delivery: &Delivery) -> Result<(), Failure> {
    let topic = &delivery.target_arn;
    let attributes = ctx
        .aws
        .sns
        .get_topic_attributes()
        .topic_arn(topic)
        .send()
        .await
        .map_err(|_| {
            refused(
                Denied {
                    message: format!("the topic {topic} does not exist"),
                },
                topic,
            )
        })?;
    let attribute = |name: &str| {
        attributes
            .attributes()
            .and_then(|a| a.get(name))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    let policy = match attribute("Policy") {
        Some(document) => {
            Some(super::iam::parse("topic policy", &document).map_err(|d| refused(d, topic))?)
        }
        None => None,
    };
    super::iam::service_may(
        EVENTS,
        "sns:Publish",
        topic,
        policy.as_ref(),
        &[
            ("aws:SourceArn", &delivery.rule_arn),
            ("aws:SourceAccount", &ctx.account),
        ],
    )
    .map_err(|d| refused(d, topic))?;
    if let Some(key) = attribute("KmsMasterKeyId") {
        let caller = infra::policy::Caller::Service(EVENTS.to_owned());
        super::iam::key_may_live(
            ctx,
            caller,
            &[],
            &key,
            &[("kms:EncryptionContext:aws:sns:topicArn", topic)],
        )
        .await
        .map_err(|d| refused(d, topic))?;
    }
    ctx.aws
        .sns
        .publish()
        .topic_arn(topic)
        .message(&delivery.payload)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| Failure {
            code: "SDK_CLIENT_ERROR",
            message: format!("Publish to {topic}: {e}"),
            retried: true,
        })
}

/// The event to the target's dead-letter queue, with EventBridge's
/// attributes; counted either way.
async fn dead_letter(
    ctx: &Ctx,
    delivery: &Delivery,
    failure: &Failure,
    exhausted: Option<&str>,
    retries: u32,
) {
    let (bus, rule) = (&delivery.bus, &delivery.rule_name);
    let Some(queue) = &delivery.dead_letter_arn else {
        ctx.trace.lost(&delivery.event_id, rule, &failure.message);
        return;
    };
    let retries = retries.to_string();
    let mut attributes = vec![
        ("RULE_ARN", delivery.rule_arn.as_str()),
        ("TARGET_ARN", delivery.target_arn.as_str()),
        ("ERROR_CODE", failure.code),
        ("ERROR_MESSAGE", failure.message.as_str()),
        ("RETRY_ATTEMPTS", retries.as_str()),
    ];
    if let Some(condition) = exhausted {
        attributes.push(("EXHAUSTED_RETRY_CONDITION", condition));
    }
    let sent = super::telemetry::send_as_service(
        ctx,
        EVENTS,
        &delivery.rule_arn,
        queue,
        &delivery.payload,
        &attributes,
    )
    .await;
    match sent {
        Ok(message) => {
            ctx.trace
                .dead_lettered(&delivery.event_id, rule, failure.code, &message);
            events_metric(ctx, bus, rule, "InvocationsSentToDlq").await;
        }
        Err(why) => {
            ctx.trace.lost(&delivery.event_id, rule, &why.message);
            events_metric(ctx, bus, rule, "InvocationsFailedToBeSentToDlq").await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_delivery_reads_the_targets_policy_with_eventbridges_defaults() {
        let body = json!({
            "rule_arn": "arn:aws:events:us-east-1:1:rule/bus/r",
            "rule_name": "r",
            "event_bus_name": "bus",
            "target": {"Id": "h", "Arn": "arn:aws:lambda:us-east-1:1:function:f",
                       "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
                       "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:1:dlq"}},
            "event": {"id": "e1"},
            "payload": "{}"
        });
        let d = Delivery::from_hook(&body).unwrap();
        assert_eq!((d.max_attempts, d.max_age_s), (3, 3600));
        assert_eq!(
            d.dead_letter_arn.as_deref(),
            Some("arn:aws:sqs:us-east-1:1:dlq")
        );
        assert_eq!(d.event_id, "e1");
        let mut bare = body.clone();
        bare["target"] = json!({"Arn": "arn:aws:sqs:us-east-1:1:q"});
        let d = Delivery::from_hook(&bare).unwrap();
        assert_eq!(
            (d.max_attempts, d.max_age_s, d.dead_letter_arn),
            (185, 86_400, None)
        );
        assert!(Delivery::from_hook(&json!({})).is_none());
    }

    #[test]
    fn the_backoff_grows_to_five_minutes_with_jitter() {
        for n in 1..20 {
            let wait = backoff(n);
            let cap = Duration::from_secs(1u64 << (n - 1).min(9)).min(Duration::from_secs(300));
            assert!(wait <= cap && wait >= cap.mul_f64(0.1), "{n}: {wait:?}");
        }
    }

    #[test]
    fn a_missing_target_and_a_refusal_are_not_retried() {
        let gone = refused(
            Denied {
                message: "the queue q does not exist: x".into(),
            },
            "arn:q",
        );
        assert_eq!((gone.code, gone.retried), ("NO_RESOURCE", false));
        let no = refused(
            Denied {
                message: "events.amazonaws.com is not authorized".into(),
            },
            "arn:q",
        );
        assert_eq!((no.code, no.retried), ("NO_PERMISSIONS", false));
    }
}
