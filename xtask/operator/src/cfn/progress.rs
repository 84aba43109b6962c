//! Following a stack operation to its end: stack events as they arrive, a
//! progress bar of resources done (on a terminal), and the failed resources
//! with their reasons.

use std::collections::HashSet;
use std::time::Duration;

use crate::aws::sdk_error;
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{StackEvent, StackStatus};
use indicatif::{ProgressBar, ProgressStyle};

/// A resource that failed, with CloudFormation's reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The logical id.
    pub logical_id: String,
    /// Its type.
    pub resource_type: String,
    /// `CREATE_FAILED`, `UPDATE_FAILED`, …
    pub status: String,
    /// Why.
    pub reason: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}) {}: {}",
            self.logical_id, self.resource_type, self.status, self.reason
        )
    }
}

/// How an operation ended.
#[derive(Clone, Debug)]
pub struct Finished {
    /// The stack's final status (`DELETE_COMPLETE` once it is gone).
    pub status: StackStatus,
    /// Every resource event ending in `_FAILED`, in order.
    pub failures: Vec<Failure>,
}

/// The id of the stack's newest event: where [`follow`] starts reading.
///
/// # Errors
/// CloudFormation refused.
pub async fn latest_event_id(cfn: &Client, stack: &str) -> anyhow::Result<Option<String>> {
    let out = cfn
        .describe_stack_events()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("read the events of {stack}: {}", sdk_error(&e)))?;
    Ok(out
        .stack_events()
        .first()
        .and_then(|e| e.event_id())
        .map(str::to_owned))
}

/// Polls the stack (by id, so a deleted stack can still be read) until it
/// is settled ([`super::status::is_settled`]), printing each new event after
/// `after_event` and advancing a bar of `resources` steps.
///
/// # Errors
/// CloudFormation refused.
pub async fn follow(
    cfn: &Client,
    stack_id: &str,
    after_event: Option<&str>,
    resources: usize,
    what: &str,
) -> anyhow::Result<Finished> {
    let bar = ProgressBar::new(resources.max(1) as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {prefix} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
        )
        .expect("a valid template"),
    );
    bar.set_prefix(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut seen: HashSet<String> = HashSet::new();
    let mut failures = Vec::new();
    let mut delay = Duration::from_millis(200);
    loop {
        // Status first, then events: every event before a final status is read.
        let status = super::stack::status(cfn, stack_id)
            .await?
            .unwrap_or(StackStatus::DeleteComplete);
        for event in new_events(cfn, stack_id, after_event, &mut seen).await {
            let line = event_line(&event);
            if bar.is_hidden() {
                eprintln!("{line}");
            } else {
                bar.println(line);
            }
            let resource_status = event.resource_status().map(|s| s.as_str()).unwrap_or("");
            let is_stack = event.resource_type() == Some("AWS::CloudFormation::Stack");
            // Every resource status ends so (`ResourceStatus`): a step done,
            // or failed.
            if !is_stack && resource_status.ends_with("_COMPLETE") {
                bar.inc(1);
            }
            if !is_stack && resource_status.ends_with("_FAILED") {
                failures.push(Failure {
                    logical_id: event.logical_resource_id().unwrap_or("?").to_owned(),
                    resource_type: event.resource_type().unwrap_or("?").to_owned(),
                    status: resource_status.to_owned(),
                    reason: event
                        .resource_status_reason()
                        .unwrap_or("(no reason given)")
                        .to_owned(),
                });
            }
            bar.set_message(format!(
                "{} {}",
                event.logical_resource_id().unwrap_or(""),
                resource_status
            ));
        }
        if super::status::is_settled(&status) {
            bar.finish_and_clear();
            return Ok(Finished { status, failures });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Events newer than `after_event` not yet seen, oldest first. Read errors
/// (a stack deleted meanwhile) end the list: the status decides.
async fn new_events(
    cfn: &Client,
    stack_id: &str,
    after_event: Option<&str>,
    seen: &mut HashSet<String>,
) -> Vec<StackEvent> {
    let mut fresh = Vec::new();
    let mut pages = cfn
        .describe_stack_events()
        .stack_name(stack_id)
        .into_paginator()
        .send();
    'pages: while let Some(Ok(page)) = pages.next().await {
        for event in page.stack_events() {
            let id = event.event_id().unwrap_or_default();
            if Some(id) == after_event || seen.contains(id) {
                break 'pages;
            }
            fresh.push(event.clone());
        }
    }
    for event in &fresh {
        seen.insert(event.event_id().unwrap_or_default().to_owned());
    }
    fresh.reverse();
    fresh
}

fn event_line(event: &StackEvent) -> String {
    let time = event
        .timestamp()
        .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
        .unwrap_or_default();
    let reason = event.resource_status_reason().unwrap_or("");
    format!(
        "  {time:<20} {:<32} {:<28} {:<24} {reason}",
        event.logical_resource_id().unwrap_or("?"),
        event.resource_type().unwrap_or("?"),
        event.resource_status().map(|s| s.as_str()).unwrap_or("?"),
    )
    .trim_end()
    .to_owned()
}

/// The failed resources, one per line after the error's first line.
pub fn failures(failures: &[Failure]) -> String {
    if failures.is_empty() {
        return "; no resource reported a failure: see the stack's events".to_owned();
    }
    failures
        .iter()
        .map(|f| format!("\n  failed: {f}"))
        .collect()
}
