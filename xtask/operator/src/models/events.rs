//! Putting one event on the stage's bus, accepted or not: what replaying a
//! dead letter, resending an unrouted event, `send` and the smoke test do;
//! and the source a producer of a detail-type puts it with.

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
    put_event_id(events, bus_name, source, detail_type, detail, time)
        .await
        .map(|_| ())
}

/// [`put_event`], giving the event's id.
///
/// # Errors
/// PutEvents failed or reported the entry failed (one line).
pub async fn put_event_id(
    events: &aws_sdk_eventbridge::Client,
    bus_name: &str,
    source: &str,
    detail_type: &str,
    detail: &serde_json::Value,
    time: Option<&str>,
) -> Result<String, String> {
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
    out.entries()
        .first()
        .and_then(|e| e.event_id())
        .map(str::to_owned)
        .ok_or_else(|| "PutEvents gave the event no id".to_owned())
}

/// The source to put `detail_type` with: `given`, else the stage's one
/// producer of it (its stage file's `[[producers]]`; pure).
///
/// # Errors
/// No `given` and the stage names no producer of it, or several.
pub fn producer_source(
    stage: &infra::StageConfig,
    detail_type: &str,
    given: Option<&str>,
) -> Result<String, String> {
    if let Some(source) = given {
        return Ok(source.to_owned());
    }
    let sources: Vec<&str> = stage
        .producers
        .iter()
        .filter(|p| p.detail_type == detail_type)
        .map(|p| p.source.as_str())
        .collect();
    match sources.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Err(format!(
            "stage {} names no producer of {detail_type} (its stage file's [[producers]])",
            stage.stage
        )),
        many => Err(format!(
            "stage {} has several producers of {detail_type} ({})",
            stage.stage,
            many.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use infra::{Producer, ProducerPrincipal, Stage, StageConfig};

    #[test]
    fn the_source_is_the_stages_producer_unless_given() {
        let dev = StageConfig::for_stage(Stage::Dev);
        assert_eq!(
            producer_source(&dev, "credits.granted", None).unwrap(),
            "cc-agent-reconciler.test"
        );
        assert_eq!(
            producer_source(&dev, "credits.granted", Some("mine")).unwrap(),
            "mine"
        );
        let prod = StageConfig::for_stage(Stage::Prod);
        let none = producer_source(&prod, "credits.granted", None).unwrap_err();
        assert_eq!(
            none,
            "stage prod names no producer of credits.granted (its stage file's [[producers]])"
        );
        let mut two = prod.clone();
        for source in ["a", "b"] {
            two.producers.push(Producer {
                detail_type: "video.failed".into(),
                source: source.into(),
                principals: vec![ProducerPrincipal::ThisAccount],
            });
        }
        assert_eq!(
            producer_source(&two, "video.failed", None).unwrap_err(),
            "stage prod has several producers of video.failed (a, b)"
        );
    }
}
