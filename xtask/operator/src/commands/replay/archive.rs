//! The EventBridge calls of a replay: the archive read, the replay started
//! and followed to its end.

use std::time::Duration;

use anyhow::bail;
use aws_sdk_eventbridge::types::{ReplayDestination, ReplayState};

use crate::aws::sdk_error;
use crate::base::when::format_time;

use super::plan::{ArchiveInfo, ReplayPlan};

/// Reads the archive.
///
/// # Errors
/// No such archive, or EventBridge failed.
pub async fn describe_archive(
    events: &aws_sdk_eventbridge::Client,
    archive_name: &str,
) -> anyhow::Result<ArchiveInfo> {
    let out = events
        .describe_archive()
        .archive_name(archive_name)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("describe the archive {archive_name}: {}", sdk_error(&e)))?;
    Ok(ArchiveInfo {
        name: archive_name.to_owned(),
        state: out
            .state()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        event_count: out.event_count(),
        size_bytes: out.size_bytes(),
        retention_days: out.retention_days(),
        created_ms: out.creation_time().and_then(|t| t.to_millis().ok()),
    })
}

/// Starts the replay.
///
/// # Errors
/// EventBridge refused it (e.g. a replay of that name exists, a bad window).
pub async fn start(events: &aws_sdk_eventbridge::Client, plan: &ReplayPlan) -> anyhow::Result<()> {
    let destination = ReplayDestination::builder()
        .arn(&plan.bus_arn)
        .filter_arns(&plan.rule_arn)
        .build()
        .map_err(|e| anyhow::anyhow!("replay destination: {e}"))?;
    events
        .start_replay()
        .replay_name(&plan.name)
        .event_source_arn(&plan.archive_arn)
        .event_start_time(aws_smithy_types::DateTime::from_millis(plan.from_ms))
        .event_end_time(aws_smithy_types::DateTime::from_millis(plan.to_ms))
        .destination(destination)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("start the replay {}: {}", plan.name, sdk_error(&e)))?;
    Ok(())
}

/// Where a replay is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// `STARTING`, `RUNNING`, `COMPLETED`, `FAILED`, `CANCELLING`, `CANCELLED`.
    pub state: String,
    /// Why (a failure's reason).
    pub reason: Option<String>,
    /// The time of the last event replayed so far.
    pub last_replayed_ms: Option<i64>,
}

impl Progress {
    /// Whether the replay has ended.
    pub fn finished(&self) -> bool {
        matches!(self.state.as_str(), "COMPLETED" | "FAILED" | "CANCELLED")
    }
}

/// A progress line (pure): the state, and how far through the window.
pub fn progress_line(plan: &ReplayPlan, p: &Progress) -> String {
    let mut line = format!("replay {}: {}", plan.name, p.state);
    if let Some(last) = p.last_replayed_ms {
        let span = (plan.to_ms - plan.from_ms).max(1);
        let done = ((last - plan.from_ms).clamp(0, span) * 100) / span;
        line.push_str(&format!(", replayed up to {} ({done}%)", format_time(last)));
    }
    if let Some(reason) = &p.reason {
        line.push_str(&format!(": {reason}"));
    }
    line
}

/// Reads the replay's progress.
///
/// # Errors
/// EventBridge failed.
pub async fn describe(
    events: &aws_sdk_eventbridge::Client,
    name: &str,
) -> anyhow::Result<Progress> {
    let out = events
        .describe_replay()
        .replay_name(name)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("describe the replay {name}: {}", sdk_error(&e)))?;
    Ok(Progress {
        state: out
            .state()
            .map(ReplayState::as_str)
            .unwrap_or("UNKNOWN")
            .to_owned(),
        reason: out.state_reason().map(str::to_owned),
        last_replayed_ms: out
            .event_last_replayed_time()
            .and_then(|t| t.to_millis().ok()),
    })
}

/// Follows the replay until it ends, telling `progress` each change.
///
/// # Errors
/// EventBridge failed.
pub async fn wait(
    events: &aws_sdk_eventbridge::Client,
    plan: &ReplayPlan,
    interval: Duration,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<Progress> {
    let mut last = None;
    loop {
        let p = describe(events, &plan.name).await?;
        if last.as_ref() != Some(&p) {
            progress(&progress_line(plan, &p));
        }
        if p.finished() {
            return Ok(p);
        }
        last = Some(p);
        tokio::time::sleep(interval).await;
    }
}

/// Starts the replay and follows it to its end (see [`wait`]).
///
/// # Errors
/// EventBridge refused or failed, or the replay ended other than
/// `COMPLETED` (its state and reason, one line).
pub async fn execute(
    events: &aws_sdk_eventbridge::Client,
    plan: &ReplayPlan,
    interval: Duration,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<Progress> {
    start(events, plan).await?;
    let done = wait(events, plan, interval, progress).await?;
    if done.state != "COMPLETED" {
        bail!(
            "the replay {} ended {}{}",
            plan.name,
            done.state,
            done.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    Ok(done)
}
