//! Invoking a deployed function directly (`RequestResponse`) and reading
//! its answer: a JSON response, or the function's error (`FunctionError`
//! set, the payload `{"errorType", "errorMessage"}`), one line.

use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde_json::Value;

use crate::aws::sdk_error;

/// What a function answered.
#[derive(Clone, Debug, PartialEq)]
pub enum Invoked {
    /// It returned this JSON.
    Response(Value),
    /// It failed: Lambda set `FunctionError`.
    FunctionError {
        /// `errorType` (e.g. `InvalidEvent`), else Lambda's `FunctionError`.
        error_type: String,
        /// `errorMessage`, else the payload as text.
        message: String,
    },
}

impl Invoked {
    /// The function's error as one line: `errorType: errorMessage`.
    pub fn error_line(error_type: &str, message: &str) -> String {
        format!(
            "{error_type}: {}",
            crate::base::ui::clip(message.trim(), 2_000)
        )
    }
}

/// Reads an invocation's answer (pure): `function_error` is Lambda's
/// `FunctionError` (`Unhandled`, `Handled`), `payload` the body.
pub fn decode(function_error: Option<&str>, payload: &[u8]) -> Invoked {
    let parsed: Option<Value> = serde_json::from_slice(payload).ok();
    match function_error {
        None => Invoked::Response(
            parsed.unwrap_or_else(|| Value::String(String::from_utf8_lossy(payload).into_owned())),
        ),
        Some(kind) => {
            let text = |key: &str| {
                parsed
                    .as_ref()
                    .and_then(|v| v.get(key))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            Invoked::FunctionError {
                error_type: text("errorType").unwrap_or_else(|| kind.to_owned()),
                message: text("errorMessage").unwrap_or_else(|| match &parsed {
                    Some(Value::String(s)) => s.clone(),
                    _ => String::from_utf8_lossy(payload).into_owned(),
                }),
            }
        }
    }
}

/// How long past a function's own timeout its answer is waited for.
const ANSWER_MARGIN: Duration = Duration::from_secs(30);

/// Invokes `function` with `payload` and waits for its answer: as long as
/// the function may run (`runs_up_to`, its timeout) and a margin, not the
/// usual wait for an answer. `retry`: whether the SDK may send the
/// invocation again after a transient failure (only for payloads whose
/// effect is idempotent).
///
/// # Errors
/// The invocation itself failed (no such function, no permission, a network
/// error, no answer in time): one line.
pub async fn invoke(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    payload: &Value,
    retry: bool,
    runs_up_to: Duration,
) -> anyhow::Result<Invoked> {
    let mut config = aws_sdk_lambda::config::Builder::default()
        .timeout_config(crate::aws::http::timeouts(runs_up_to + ANSWER_MARGIN));
    if !retry {
        config = config.retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled());
    }
    let request = lambda
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::RequestResponse)
        .payload(Blob::new(payload.to_string()))
        .customize()
        .config_override(config);
    let out = request
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("invoke {function}: {}", sdk_error(&e)))?;
    Ok(decode(
        out.function_error(),
        out.payload().map(Blob::as_ref).unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_response_is_its_json() {
        assert_eq!(
            decode(None, br#"{"outcome":"adjusted"}"#),
            Invoked::Response(json!({"outcome": "adjusted"}))
        );
        assert_eq!(decode(None, b"plain"), Invoked::Response(json!("plain")));
    }

    #[test]
    fn a_function_error_carries_the_handlers_type_and_message() {
        assert_eq!(
            decode(
                Some("Unhandled"),
                br#"{"errorType":"InvalidEvent","errorMessage":"invalid event: field `detail.credits` is 0"}"#
            ),
            Invoked::FunctionError {
                error_type: "InvalidEvent".into(),
                message: "invalid event: field `detail.credits` is 0".into()
            }
        );
        // moto without Docker: a JSON string, no errorType.
        assert_eq!(
            decode(Some("Handled"), br#""error running docker: ...""#),
            Invoked::FunctionError {
                error_type: "Handled".into(),
                message: "error running docker: ...".into()
            }
        );
        assert_eq!(
            Invoked::error_line("LedgerUnavailable", "timed out\nretry"),
            "LedgerUnavailable: timed out retry"
        );
    }
}
