//! The stage's alarms: their states (status), one alarm's state and the
//! `Action` items of its history (smoke).

use aws_sdk_cloudwatch::types::{HistoryItemType, StateValue};
use infra::StackOutputs;

use crate::aws::sdk_error;

/// One alarm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmView {
    /// Its name (from `AlarmNames`).
    pub name: String,
    /// `OK`, `ALARM`, `INSUFFICIENT_DATA`; `None`: it does not exist.
    pub state: Option<StateValue>,
    /// Why it is in that state.
    pub reason: Option<String>,
    /// Since when.
    pub since_ms: Option<i64>,
}

/// Every alarm the stack names (`AlarmNames`), as CloudWatch has it (one
/// `DescribeAlarms`); an alarm CloudWatch does not know is listed without a
/// state.
///
/// # Errors
/// CloudWatch failed (one line).
pub async fn read(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    outputs: &StackOutputs,
) -> Result<Vec<AlarmView>, String> {
    let names = outputs.alarm_name_list();
    let out = cloudwatch
        .describe_alarms()
        .set_alarm_names(Some(names.iter().map(|n| (*n).to_owned()).collect()))
        .max_records(100)
        .send()
        .await
        .map_err(|e| sdk_error(&e))?;
    Ok(names
        .iter()
        .map(|name| {
            let found = out
                .metric_alarms()
                .iter()
                .find(|a| a.alarm_name() == Some(name));
            AlarmView {
                name: (*name).to_owned(),
                state: found.and_then(|a| a.state_value()).cloned(),
                reason: found.and_then(|a| a.state_reason()).map(str::to_owned),
                since_ms: found
                    .and_then(|a| a.state_updated_timestamp())
                    .and_then(|t| t.to_millis().ok()),
            }
        })
        .collect())
}

/// The alarm's state and when it last changed (ms since the epoch).
///
/// # Errors
/// CloudWatch failed, or there is no such alarm.
pub async fn alarm_state(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    alarm_name: &str,
) -> anyhow::Result<(StateValue, Option<i64>)> {
    let out = cloudwatch
        .describe_alarms()
        .alarm_names(alarm_name)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("DescribeAlarms: {}", sdk_error(&e)))?;
    let alarm = out
        .metric_alarms()
        .iter()
        .find(|a| a.alarm_name() == Some(alarm_name))
        .ok_or_else(|| anyhow::anyhow!("no alarm {alarm_name}"))?;
    Ok((
        alarm
            .state_value()
            .cloned()
            .unwrap_or(StateValue::InsufficientData),
        alarm
            .state_updated_timestamp()
            .and_then(|t| t.to_millis().ok()),
    ))
}

/// One `Action` item of an alarm's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionRecord {
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// `HistorySummary`: "Successfully executed action arn:…" or "Failed to execute action arn:…".
    pub summary: String,
    /// `HistoryData`: JSON with `actionState`, `notificationResource`,
    /// `publishedMessage`, `error`.
    pub data: Option<String>,
}

/// The alarm's `Action` history items since `since_ms`.
///
/// # Errors
/// CloudWatch failed.
pub async fn action_history(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    alarm_name: &str,
    since_ms: i64,
) -> anyhow::Result<Vec<ActionRecord>> {
    let out = cloudwatch
        .describe_alarm_history()
        .alarm_name(alarm_name)
        .history_item_type(HistoryItemType::Action)
        .start_date(aws_smithy_types::DateTime::from_millis(since_ms))
        .max_records(100)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("DescribeAlarmHistory: {}", sdk_error(&e)))?;
    Ok(out
        .alarm_history_items()
        .iter()
        .map(|i| ActionRecord {
            at_ms: i.timestamp().and_then(|t| t.to_millis().ok()).unwrap_or(0),
            summary: i.history_summary().unwrap_or_default().to_owned(),
            data: i.history_data().map(str::to_owned),
        })
        .collect())
}
