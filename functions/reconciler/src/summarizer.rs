//! The optional summarizer: turns a sweep report into a few sentences through
//! an OpenAI-compatible chat-completions endpoint (contract §5).
//!
//! - `POST {base_url}/chat/completions` with `{"model", "messages": [system,
//!   user], "max_tokens"}`; the user message is the report's JSON, capped by the
//!   caller (`Report::for_summarizer`).
//! - The API key is read at run time from SSM Parameter Store
//!   (`GetParameter`, `WithDecryption`), sent only in the `Authorization`
//!   header, and never logged: it lives in an [`ApiKey`] whose `Debug` is
//!   redacted, and no error message carries it.
//! - The whole call — SSM and HTTP — is bounded by one timeout. Every failure
//!   is a [`SummarizerError`]; the sweep then uses its deterministic summary.
//!
//! HTTP goes through hyper 1 and rustls with aws-lc-rs: the stack the AWS SDK
//! already brings in, so no second TLS implementation is linked. Plain
//! `http://` works too (a local fake server in tests).

use std::time::Duration;

use aws_sdk_ssm::error::DisplayErrorContext;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::config::SummarizerConfig;

/// The instructions given to the model.
pub const SYSTEM_PROMPT: &str = "You summarize the report of a credit ledger's reconciliation \
sweep for the engineer on call. Answer in plain text, in at most three short sentences: the \
stragglers found and expired, the conflicts to look at, and any ledger drift (name the \
accounts). Use only the numbers in the report; if it says the sweep is incomplete, say so.";

/// Upper bound on the reply's length in tokens.
pub const MAX_TOKENS: u32 = 300;
/// Replies larger than this are refused (a summary is a few hundred bytes).
pub const MAX_REPLY_BYTES: usize = 256 * 1024;
/// A longer summary is cut to this many characters.
pub const MAX_SUMMARY_CHARS: usize = 2_000;

/// Why no summary came back. Messages never contain the API key.
#[derive(Debug, thiserror::Error)]
pub enum SummarizerError {
    #[error("no answer within {0} ms")]
    Timeout(u128),
    #[error("API key parameter {parameter}: {problem}")]
    ApiKey { parameter: String, problem: String },
    #[error("base URL {url:?}: {problem}")]
    BaseUrl { url: String, problem: String },
    #[error("TLS setup failed: {0}")]
    Tls(String),
    #[error("request failed: {0}")]
    Transport(String),
    #[error("HTTP status {status}: {body}")]
    Status { status: u16, body: String },
    #[error("malformed reply: {0}")]
    Malformed(String),
}

/// The API key; its `Debug` never shows it.
struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// A chat-completions client for sweep reports.
pub struct Summarizer {
    config: SummarizerConfig,
    ssm: aws_sdk_ssm::Client,
}

impl Summarizer {
    pub fn new(config: SummarizerConfig, ssm: aws_sdk_ssm::Client) -> Self {
        Summarizer { config, ssm }
    }

    /// Summarizes `report_json` within the configured timeout, or within
    /// `at_most` if that is shorter (the sweep's own deadline).
    pub async fn summarize(
        &self,
        report_json: &str,
        at_most: Duration,
    ) -> Result<String, SummarizerError> {
        let limit = Duration::from_millis(self.config.timeout_ms).min(at_most);
        tokio::time::timeout(limit, self.call(report_json))
            .await
            .map_err(|_| SummarizerError::Timeout(limit.as_millis()))?
    }

    async fn call(&self, report_json: &str) -> Result<String, SummarizerError> {
        let uri = endpoint(&self.config.base_url)?;
        let key = self.api_key().await?;
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {}", key.0)).map_err(|_| {
                SummarizerError::ApiKey {
                    parameter: self.config.api_key_parameter.clone(),
                    problem: "is not usable in an HTTP header".into(),
                }
            })?;
        authorization.set_sensitive(true);
        let body = request_body(&self.config.model, report_json);
        let request = hyper::Request::post(uri)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, "cc-agent-reconciler-sweep")
            .header(AUTHORIZATION, authorization)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| SummarizerError::Transport(e.to_string()))?;
        let response = http_client()?
            .request(request)
            .await
            .map_err(|e| SummarizerError::Transport(error_chain(&e)))?;
        let status = response.status();
        let bytes = Limited::new(response.into_body(), MAX_REPLY_BYTES)
            .collect()
            .await
            .map_err(|e| SummarizerError::Transport(format!("reading the reply: {e}")))?
            .to_bytes();
        if !status.is_success() {
            return Err(SummarizerError::Status {
                status: status.as_u16(),
                body: snippet(&bytes),
            });
        }
        parse_reply(&bytes)
    }

    async fn api_key(&self) -> Result<ApiKey, SummarizerError> {
        let parameter = &self.config.api_key_parameter;
        let problem = |problem: String| SummarizerError::ApiKey {
            parameter: parameter.clone(),
            problem,
        };
        let out = self
            .ssm
            .get_parameter()
            .name(parameter)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| problem(DisplayErrorContext(e).to_string()))?;
        out.parameter()
            .and_then(|p| p.value())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| ApiKey(v.to_string()))
            .ok_or_else(|| problem("has no value".into()))
    }
}

/// `{base_url}/chat/completions`, for an `http` or `https` base URL.
pub fn endpoint(base_url: &str) -> Result<hyper::Uri, SummarizerError> {
    let bad = |problem: String| SummarizerError::BaseUrl {
        url: base_url.into(),
        problem,
    };
    let uri: hyper::Uri = format!("{}/chat/completions", base_url.trim_end_matches('/'))
        .parse()
        .map_err(|e| bad(format!("{e}")))?;
    match uri.scheme_str() {
        Some("https" | "http") if uri.host().is_some() => Ok(uri),
        _ => Err(bad("must be an http:// or https:// URL with a host".into())),
    }
}

/// The chat-completions request for a report.
pub fn request_body(model: &str, report_json: &str) -> String {
    json!({
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": report_json},
        ],
        "max_tokens": MAX_TOKENS,
    })
    .to_string()
}

/// The summary in a chat-completions reply: `choices[0].message.content`,
/// trimmed, non-empty, at most [`MAX_SUMMARY_CHARS`] characters.
pub fn parse_reply(body: &[u8]) -> Result<String, SummarizerError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| SummarizerError::Malformed(format!("not JSON ({e}): {}", snippet(body))))?;
    let content = value
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .map(str::trim)
        .ok_or_else(|| {
            SummarizerError::Malformed(format!(
                "no choices[0].message.content string in {}",
                snippet(body)
            ))
        })?;
    if content.is_empty() {
        return Err(SummarizerError::Malformed("the summary is empty".into()));
    }
    Ok(content.chars().take(MAX_SUMMARY_CHARS).collect())
}

type HttpsClient = Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// An HTTP/1.1 client for `http` and `https` (rustls, aws-lc-rs, the system's roots).
fn http_client() -> Result<HttpsClient, SummarizerError> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| SummarizerError::Tls(e.to_string()))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// The start of a body, for error messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        s.push('…');
    }
    s
}

/// An error and its sources, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_a_chat_completion_with_the_report_as_user_message() {
        let body: Value =
            serde_json::from_str(&request_body("gpt-x", r#"{"stragglers":2}"#)).unwrap();
        assert_eq!(body["model"], "gpt-x");
        assert_eq!(body["max_tokens"], MAX_TOKENS);
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(
            body["messages"][1],
            json!({"role": "user", "content": "{\"stragglers\":2}"})
        );
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            endpoint("https://api.openai.com/v1/").unwrap().to_string(),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:8080/v1").unwrap().to_string(),
            "http://127.0.0.1:8080/v1/chat/completions"
        );
        for bad in ["api.openai.com/v1", "ftp://x/v1", "", "https://"] {
            assert!(
                matches!(endpoint(bad), Err(SummarizerError::BaseUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn replies() {
        let ok = br#"{"id":"c1","choices":[{"index":0,"message":{"role":"assistant","content":"  All quiet.\n"},"finish_reason":"stop"}]}"#;
        assert_eq!(parse_reply(ok).unwrap(), "All quiet.");
        let long = json!({"choices": [{"message": {"content": "y".repeat(5000)}}]}).to_string();
        assert_eq!(
            parse_reply(long.as_bytes()).unwrap().len(),
            MAX_SUMMARY_CHARS
        );
        for bad in [
            &b"<html>bad gateway</html>"[..],
            br#"{"choices":[]}"#,
            br#"{"choices":[{"message":{"content":42}}]}"#,
            br#"{"choices":[{"message":{"content":"   "}}]}"#,
            br#"{"error":{"message":"quota"}}"#,
        ] {
            assert!(
                matches!(parse_reply(bad), Err(SummarizerError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn the_key_is_never_shown() {
        assert_eq!(
            format!("{:?}", ApiKey("sk-secret".into())),
            "ApiKey(<redacted>)"
        );
    }
}
