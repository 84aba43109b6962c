//! Putting one event on the stage's bus, accepted or not: what replaying a
//! dead letter, resending an unrouted event and the smoke test do.

use crate::aws::sdk_error;

/// Puts one event on a bus: `Ok` only when PutEvents accepted it (no failed
/// entry).
///
/// # Errors
/// PutEvents failed or reported the entry failed (one line).
pub async fn put_event(
    events: &aws_sdk_eventbridge::Client,
    bus_name: &str,
    source: &str,
    detail_type: &str,
    detail: &serde_json::Value,
    time: Option<&str>,
) -> Result<(), String> {
    let mut entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name(bus_name)
        .source(source)
        .detail_type(detail_type)
        .detail(detail.to_string());
    if let Some(t) = time.and_then(|t| {
        aws_smithy_types::DateTime::from_str(t, aws_smithy_types::date_time::Format::DateTime).ok()
    }) {
        entry = entry.time(t);
    }
    let out = events
        .put_events()
        .entries(entry.build())
        .send()
        .await
        .map_err(|e| format!("PutEvents failed: {}", sdk_error(&e)))?;
    if let Some(e) = out.entries().iter().find(|e| e.error_code().is_some()) {
        return Err(format!(
            "PutEvents reported {}: {}",
            e.error_code().unwrap_or_default(),
            e.error_message().unwrap_or_default()
        ));
    }
    if out.failed_entry_count() > 0 {
        return Err("PutEvents reported a failed entry".to_owned());
    }
    Ok(())
}
