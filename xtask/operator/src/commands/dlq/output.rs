//! What the dead-letter commands print (pure).

use crate::base::ui::{clip, table as ui_table};
use crate::base::when::format_age;
use crate::models::queues::DeadLetter;

/// The table `list` prints: one line a dead letter.
pub fn table(letters: &[DeadLetter], now_ms: i64) -> String {
    let rows: Vec<Vec<String>> = letters
        .iter()
        .map(|l| {
            let c = &l.classification;
            let error = match (&c.error_type, &c.error_message) {
                (Some(t), Some(m)) => format!("{t}: {m}"),
                (Some(t), None) => t.clone(),
                (None, Some(m)) => m.clone(),
                (None, None) => "-".to_owned(),
            };
            vec![
                l.message_id.clone(),
                c.shape.as_str().to_owned(),
                c.detail_type.clone().unwrap_or_else(|| "-".into()),
                clip(c.business_key.as_deref().unwrap_or("-"), 40),
                clip(&error, 100),
                l.age(now_ms).map(format_age).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    ui_table(
        &["MESSAGE ID", "SHAPE", "DETAIL-TYPE", "KEY", "ERROR", "AGE"],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::queues::classify;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn the_table_has_a_line_per_dead_letter() {
        let record = json!({
            "requestContext": {"functionArn": "arn:aws:lambda:us-east-1:1:function:h",
                               "condition": "RetriesExhausted"},
            "requestPayload": {"detail-type": "video.requested", "source": "s",
                               "detail": {"job_id": "j1", "account_id": "a", "credits": "x"}},
            "responsePayload": {"errorType": "InvalidEvent", "errorMessage": "bad credits"}
        });
        let letter = DeadLetter {
            message_id: "m-1".into(),
            receipt_handle: "h".into(),
            sent_at_ms: Some(1_000),
            body: String::new(),
            classification: classify(&record.to_string(), &BTreeMap::new()),
        };
        let t = table(std::slice::from_ref(&letter), 61_000);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("MESSAGE ID"));
        for part in [
            "m-1",
            "lambda-on-failure",
            "video.requested",
            "j1",
            "InvalidEvent: bad credits",
            "1m0s",
        ] {
            assert!(lines[1].contains(part), "{part} in {}", lines[1]);
        }
        let j = letter.to_json(61_000);
        assert_eq!(j["age_seconds"], 60);
        assert_eq!(j["replay"], "never-invalid");
        assert!(j["invalid"].as_str().unwrap().contains("`detail.credits`"));
        assert_eq!(j["business_key"], "j1");
    }
}
