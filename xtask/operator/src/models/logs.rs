//! The functions' log lines: their log groups (from the stack's outputs),
//! CloudWatch Logs' filter patterns, and reading a window of lines. The
//! logs command shows them; status finds the last sweep report in them;
//! replay counts a replay's outcomes from them.

use serde_json::Value;

use crate::aws::sdk_error;

/// Which function's logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Function {
    /// The event handler.
    Handler,
    /// The sweep.
    Sweep,
}

impl Function {
    /// `handler` or `sweep`.
    pub fn as_str(self) -> &'static str {
        match self {
            Function::Handler => "handler",
            Function::Sweep => "sweep",
        }
    }
}

/// What to show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Lines containing this text.
    pub text: Option<String>,
    /// Lines about this account (`account_id`).
    pub account: Option<String>,
    /// Lines about this job (`job_id`).
    pub job: Option<String>,
}

/// A string value in a CloudWatch Logs filter pattern: quoted, with `\` and
/// `"` escaped.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The CloudWatch Logs filter pattern of `filter` (pure): a JSON pattern for
/// `--account`/`--job` (both: joined with `&&`), else the quoted `--filter`
/// text; `None` for everything.
pub fn filter_pattern(filter: &LogFilter) -> Option<String> {
    let mut terms = Vec::new();
    if let Some(account) = &filter.account {
        terms.push(format!("$.account_id = {}", quoted(account)));
    }
    if let Some(job) = &filter.job {
        terms.push(format!("$.job_id = {}", quoted(job)));
    }
    match terms.as_slice() {
        [] => filter.text.as_deref().map(quoted),
        [one] => Some(format!("{{ {one} }}")),
        many => Some(format!(
            "{{ {} }}",
            many.iter()
                .map(|t| format!("({t})"))
                .collect::<Vec<_>>()
                .join(" && ")
        )),
    }
}

/// One log event of a function.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    /// `handler` or `sweep`.
    pub function: &'static str,
    /// When CloudWatch Logs received it (ms since the epoch).
    pub timestamp_ms: i64,
    /// CloudWatch Logs' event id (the cursor's key).
    pub event_id: String,
    /// The line as written.
    pub message: String,
}

impl LogLine {
    /// The line as JSON, if it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str::<Value>(self.message.trim())
            .ok()
            .filter(Value::is_object)
    }
}

/// Whether `line` is what `filter` asks for, exactly (pure).
pub fn matches(line: &LogLine, filter: &LogFilter) -> bool {
    let json = line.json();
    let field = |key: &str| {
        json.as_ref()
            .and_then(|j| j.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    filter
        .account
        .as_ref()
        .is_none_or(|a| field("account_id").as_ref() == Some(a))
        && filter
            .job
            .as_ref()
            .is_none_or(|j| field("job_id").as_ref() == Some(j))
        && filter
            .text
            .as_ref()
            .is_none_or(|t| line.message.contains(t.as_str()))
}

/// A function's log group (from the stack's outputs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogGroup {
    /// `handler` or `sweep`.
    pub function: &'static str,
    /// The log group's name.
    pub name: String,
}

/// The log groups of `function` (both when `None`).
pub fn log_groups(outputs: &infra::StackOutputs, function: Option<Function>) -> Vec<LogGroup> {
    let all = [
        (Function::Handler, &outputs.handler_log_group_name),
        (Function::Sweep, &outputs.sweep_log_group_name),
    ];
    all.into_iter()
        .filter(|(f, _)| function.is_none_or(|want| want == *f))
        .map(|(f, name)| LogGroup {
            function: f.as_str(),
            name: name.clone(),
        })
        .collect()
}

/// The log events of `groups` from `start_ms` (to `end_ms`), matching
/// `pattern` (every page, at most `limit` lines a group), in time order.
///
/// # Errors
/// A log group does not exist, or CloudWatch Logs failed.
pub async fn fetch(
    logs: &aws_sdk_cloudwatchlogs::Client,
    groups: &[LogGroup],
    start_ms: i64,
    end_ms: Option<i64>,
    pattern: Option<&str>,
    limit: usize,
) -> anyhow::Result<Vec<LogLine>> {
    let mut lines = Vec::new();
    for group in groups {
        let mut got = 0;
        let mut pages = logs
            .filter_log_events()
            .log_group_name(&group.name)
            .start_time(start_ms)
            .set_end_time(end_ms)
            .set_filter_pattern(pattern.map(str::to_owned))
            .into_paginator()
            .send();
        while got < limit
            && let Some(page) = pages.next().await
        {
            let out = page.map_err(|e| {
                anyhow::anyhow!("read the log group {}: {}", group.name, sdk_error(&e))
            })?;
            for e in out.events() {
                lines.push(LogLine {
                    function: group.function,
                    timestamp_ms: e.timestamp().unwrap_or(0),
                    event_id: e.event_id().unwrap_or_default().to_owned(),
                    message: e.message().unwrap_or_default().to_owned(),
                });
                got += 1;
            }
        }
    }
    lines.sort_by(|a, b| (a.timestamp_ms, &a.event_id).cmp(&(b.timestamp_ms, &b.event_id)));
    Ok(lines)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A handler's log line at `ts`, for tests.
    pub(crate) fn line(ts: i64, id: &str, message: Value) -> LogLine {
        LogLine {
            function: "handler",
            timestamp_ms: ts,
            event_id: id.into(),
            message: message.to_string(),
        }
    }

    #[test]
    fn filter_patterns_are_cloudwatch_syntax() {
        let f = |text: Option<&str>, account: Option<&str>, job: Option<&str>| {
            filter_pattern(&LogFilter {
                text: text.map(Into::into),
                account: account.map(Into::into),
                job: job.map(Into::into),
            })
        };
        assert_eq!(f(None, None, None), None);
        assert_eq!(
            f(Some("sweep report"), None, None).as_deref(),
            Some("\"sweep report\"")
        );
        assert_eq!(
            f(Some("say \"hi\" \\o/"), None, None).as_deref(),
            Some(r#""say \"hi\" \\o/""#)
        );
        assert_eq!(
            f(None, Some("acme"), None).as_deref(),
            Some(r#"{ $.account_id = "acme" }"#)
        );
        assert_eq!(
            f(Some("ignored here"), Some("a\"b"), Some("j1")).as_deref(),
            Some(r#"{ ($.account_id = "a\"b") && ($.job_id = "j1") }"#)
        );
        assert_eq!(
            f(None, None, Some("j1")).as_deref(),
            Some(r#"{ $.job_id = "j1" }"#)
        );
    }

    #[test]
    fn lines_are_matched_exactly_here_too() {
        let l = line(
            1,
            "e1",
            json!({"message": "event applied", "account_id": "acme", "job_id": "j1"}),
        );
        let f = |text: Option<&str>, account: Option<&str>, job: Option<&str>| LogFilter {
            text: text.map(Into::into),
            account: account.map(Into::into),
            job: job.map(Into::into),
        };
        assert!(matches(&l, &f(None, None, None)));
        assert!(matches(&l, &f(Some("applied"), Some("acme"), Some("j1"))));
        assert!(
            !matches(&l, &f(None, Some("acm*"), None)),
            "no wildcard here"
        );
        assert!(!matches(&l, &f(None, None, Some("j2"))));
        assert!(!matches(&l, &f(Some("refused"), None, None)));
        let plain = LogLine {
            message: "START RequestId: x".into(),
            ..l
        };
        assert!(!matches(&plain, &f(None, Some("acme"), None)));
    }

    #[test]
    fn the_log_groups_come_from_the_outputs() {
        let outputs: std::collections::BTreeMap<String, String> =
            infra::StackOutputs::REQUIRED_KEYS
                .iter()
                .map(|k| ((*k).to_owned(), format!("<{k}>")))
                .collect();
        let outputs = infra::StackOutputs::from_outputs(&outputs).unwrap();
        assert_eq!(
            log_groups(&outputs, None),
            [
                LogGroup {
                    function: "handler",
                    name: "<HandlerLogGroupName>".into()
                },
                LogGroup {
                    function: "sweep",
                    name: "<SweepLogGroupName>".into()
                },
            ]
        );
        assert_eq!(log_groups(&outputs, Some(Function::Sweep)).len(), 1);
    }
}
