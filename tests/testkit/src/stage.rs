//! A stage's resources built by hand on the emulator, under unique names, and
//! the [`StackOutputs`] naming them: what the operator commands act on,
//! without a stack. moto cannot deliver events to a Lambda target (PutEvents
//! fails), so here the ledger-events rule targets a *capture queue* (the
//! events the handler would receive), and the alarms, which moto skips in
//! CloudFormation, are created with `PutMetricAlarm`.
//!
//! Unique names let every test share one moto server.

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
use aws_sdk_sqs::types::QueueAttributeName;
use infra::model::events::EventPattern;
use infra::names::{self, NamePattern};
use infra::stack::outputs as keys;
use infra::{StackOutputs, Stage};
use reconciler_core::event::DETAIL_TYPES;
use serde_json::Value;

/// A hand-built stage.
pub struct HandBuilt {
    /// The emulator's configuration.
    pub config: SdkConfig,
    /// The stage the names stand for.
    pub stage: Stage,
    /// The names, as a deployed stack's outputs would give them.
    pub outputs: StackOutputs,
    /// The ledger-events rule's target: the events the handler would get.
    pub capture_url: String,
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    (url, arn)
}

async fn rule_to_queue(
    events: &aws_sdk_eventbridge::Client,
    bus: &str,
    rule: &str,
    pattern: &str,
    queue_arn: &str,
) -> String {
    let arn = events
        .put_rule()
        .name(rule)
        .event_bus_name(bus)
        .event_pattern(pattern)
        .send()
        .await
        .unwrap()
        .rule_arn()
        .unwrap()
        .to_owned();
    let out = events
        .put_targets()
        .rule(rule)
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_entry_count(), 0);
    arn
}

impl HandBuilt {
    /// Builds the stage's resources on the emulator `config` points at.
    pub async fn create(config: &SdkConfig, stage: Stage) -> HandBuilt {
        let label = format!("{stage}-{:06x}", fastrand::u32(..0x0100_0000));
        // The stack's names (`infra::names`), with the fixture's label for
        // the stage, so that fixtures sharing an emulator never share one.
        let name = |pattern: NamePattern| {
            pattern
                .pattern()
                .replace("${Stage}", &label)
                .replace("${EventBusName}", &format!("cc-agent-reconciler-{label}"))
        };
        let sqs = aws_sdk_sqs::Client::new(config);
        let events = aws_sdk_eventbridge::Client::new(config);
        let sns = aws_sdk_sns::Client::new(config);
        let cloudwatch = aws_sdk_cloudwatch::Client::new(config);
        let logs = aws_sdk_cloudwatchlogs::Client::new(config);
        let dynamodb = aws_sdk_dynamodb::Client::new(config);

        let table = crate::fresh_table(&dynamodb, &label).await;
        let (dlq_url, dlq_arn) = queue(&sqs, &name(names::DEAD_LETTER_QUEUE)).await;
        let (unrouted_url, unrouted_arn) = queue(&sqs, &name(names::UNROUTED_QUEUE)).await;
        let (capture_url, capture_arn) = queue(&sqs, &format!("capture-{label}")).await;
        let bus = name(names::EVENT_BUS);
        let bus_arn = events
            .create_event_bus()
            .name(&bus)
            .send()
            .await
            .unwrap()
            .event_bus_arn()
            .unwrap()
            .to_owned();
        // Not `names::ARCHIVE`: with the fixture's longer stage label it
        // would pass EventBridge's 48 characters for an archive name.
        let archive = format!("cc-agent-reconciler-{label}-archive");
        let archive_arn = events
            .create_archive()
            .archive_name(&archive)
            .event_source_arn(&bus_arn)
            .event_pattern(EventPattern::detail_types(&DETAIL_TYPES).to_json_text())
            .retention_days(7)
            .send()
            .await
            .unwrap()
            .archive_arn()
            .unwrap()
            .to_owned();
        let ledger_rule = name(names::LEDGER_EVENTS_RULE);
        let ledger_rule_arn = rule_to_queue(
            &events,
            &bus,
            &ledger_rule,
            &EventPattern::detail_types(&DETAIL_TYPES).to_json_text(),
            &capture_arn,
        )
        .await;
        let unrouted_rule = name(names::UNROUTED_EVENTS_RULE);
        rule_to_queue(
            &events,
            &bus,
            &unrouted_rule,
            &EventPattern::detail_types_except(&DETAIL_TYPES).to_json_text(),
            &unrouted_arn,
        )
        .await;
        // The replay rules, one per detail-type, replayed events only.
        let mut replay_rules = Vec::new();
        for (rule, detail_type) in infra::names::REPLAY_RULES.iter().zip(DETAIL_TYPES) {
            let rule = name(*rule);
            rule_to_queue(
                &events,
                &bus,
                &rule,
                &EventPattern::replays_of(detail_type).to_json_text(),
                &capture_arn,
            )
            .await;
            replay_rules.push(rule);
        }
        let topic_arn = sns
            .create_topic()
            .name(name(names::OPS_ALERTS_TOPIC))
            .send()
            .await
            .unwrap()
            .topic_arn()
            .unwrap()
            .to_owned();
        let handler = name(names::HANDLER_FUNCTION);
        let sweep = name(names::SWEEP_FUNCTION);
        let alarms: Vec<String> = infra::names::ALARMS
            .iter()
            .map(|(_, pattern)| name(*pattern))
            .collect();
        for alarm in &alarms {
            cloudwatch
                .put_metric_alarm()
                .alarm_name(alarm)
                .namespace("AWS/Lambda")
                .metric_name("Errors")
                .dimensions(
                    aws_sdk_cloudwatch::types::Dimension::builder()
                        .name("FunctionName")
                        .value(&handler)
                        .build(),
                )
                .statistic(Statistic::Sum)
                .period(300)
                .evaluation_periods(1)
                .threshold(1.0)
                .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
                .alarm_actions(&topic_arn)
                .ok_actions(&topic_arn)
                .send()
                .await
                .unwrap();
        }
        let handler_logs = name(names::HANDLER_LOG_GROUP);
        let sweep_logs = name(names::SWEEP_LOG_GROUP);
        for group in [&handler_logs, &sweep_logs] {
            logs.create_log_group()
                .log_group_name(group)
                .send()
                .await
                .unwrap();
        }
        let queue_name = |url: &str| url.rsplit('/').next().unwrap().to_owned();
        let values: [(&str, String); 23] = [
            (keys::LEDGER_TABLE_NAME, table),
            (keys::BUS_NAME, bus),
            (keys::BUS_ARN, bus_arn),
            (keys::LEDGER_EVENTS_RULE_NAME, ledger_rule),
            (keys::LEDGER_EVENTS_RULE_ARN, ledger_rule_arn),
            (keys::UNROUTED_EVENTS_RULE_NAME, unrouted_rule),
            (keys::REPLAY_RULE_NAMES, replay_rules.join(",")),
            (keys::ARCHIVE_NAME, archive),
            (keys::ARCHIVE_ARN, archive_arn),
            (keys::DEAD_LETTER_QUEUE_NAME, queue_name(&dlq_url)),
            (keys::DEAD_LETTER_QUEUE_URL, dlq_url),
            (keys::DEAD_LETTER_QUEUE_ARN, dlq_arn),
            (keys::UNROUTED_QUEUE_NAME, queue_name(&unrouted_url)),
            (keys::UNROUTED_QUEUE_URL, unrouted_url),
            (keys::UNROUTED_QUEUE_ARN, unrouted_arn),
            (keys::OPS_ALERTS_TOPIC_ARN, topic_arn),
            (keys::HANDLER_FUNCTION_NAME, handler),
            (keys::SWEEP_FUNCTION_NAME, sweep),
            (keys::HANDLER_LOG_GROUP_NAME, handler_logs),
            (keys::SWEEP_LOG_GROUP_NAME, sweep_logs),
            (keys::ERRORS_ALARM_NAME, alarms[0].clone()),
            (keys::ALARM_NAMES, alarms.join(",")),
            (keys::DASHBOARD_NAME, name(names::DASHBOARD)),
        ];
        let outputs = StackOutputs::from_outputs(
            &values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        )
        .unwrap();
        HandBuilt {
            config: config.clone(),
            stage,
            outputs,
            capture_url,
        }
    }

    /// The clients of the operator commands, on the emulator.
    pub fn clients(&self) -> operator::aws::Clients {
        operator::aws::Clients::new(&self.config)
    }

    /// The ledger table, through the store.
    pub fn ledger(&self) -> reconciler::store::Ledger {
        reconciler::store::Ledger::new(
            aws_sdk_dynamodb::Client::new(&self.config),
            self.outputs.ledger_table_name.clone(),
        )
    }

    /// Sends `body` (with string message attributes) to the queue at `url`;
    /// its message id.
    pub async fn send(&self, url: &str, body: &str, attributes: &[(&str, &str)]) -> String {
        let sqs = aws_sdk_sqs::Client::new(&self.config);
        let mut send = sqs.send_message().queue_url(url).message_body(body);
        for (name, value) in attributes {
            send = send.message_attributes(
                *name,
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(*value)
                    .build()
                    .unwrap(),
            );
        }
        send.send().await.unwrap().message_id().unwrap().to_owned()
    }

    /// Every message waiting in the queue at `url` (consumed), as JSON.
    pub async fn drain(&self, url: &str) -> Vec<Value> {
        let sqs = aws_sdk_sqs::Client::new(&self.config);
        let mut all = Vec::new();
        loop {
            let out = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            if out.messages().is_empty() {
                return all;
            }
            for m in out.messages() {
                all.push(serde_json::from_str(m.body().unwrap()).unwrap_or(Value::Null));
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    /// Writes `lines` to a new stream of `group`, now.
    pub async fn log(&self, group: &str, lines: &[String]) {
        let logs = aws_sdk_cloudwatchlogs::Client::new(&self.config);
        let stream = format!("test/{:08x}", fastrand::u32(..));
        logs.create_log_stream()
            .log_group_name(group)
            .log_stream_name(&stream)
            .send()
            .await
            .unwrap();
        let now = reconciler::store::now_ms();
        let events: Vec<_> = lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                    .timestamp(now + i as i64)
                    .message(line)
                    .build()
                    .unwrap()
            })
            .collect();
        logs.put_log_events()
            .log_group_name(group)
            .log_stream_name(&stream)
            .set_log_events(Some(events))
            .send()
            .await
            .unwrap();
    }
}

/// An EventBridge envelope as a producer's event arrives.
pub fn envelope(detail_type: &str, detail: Value) -> Value {
    serde_json::json!({"version": "0", "id": format!("evt-{:08x}", fastrand::u32(..)),
        "detail-type": detail_type, "source": "video.service", "account": "123456789012",
        "time": "2026-11-29T10:00:00Z", "region": "us-east-1", "resources": [], "detail": detail})
}

/// A Lambda on-failure destination record of `payload` failing with `error_type`.
pub fn on_failure_record(payload: Value, error_type: &str, message: &str) -> String {
    serde_json::json!({
        "version": "1.0",
        "timestamp": "2026-11-29T10:00:05.000Z",
        "requestContext": {
            "requestId": "5e0b1c1e-0000-4000-8000-000000000001",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:cc-agent-reconciler-dev-handler:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": error_type, "errorMessage": message}
    })
    .to_string()
}
