//! Looking again and again until a check passes, fails, or its time is up.

use std::future::Future;
use std::time::{Duration, Instant};

use super::report::CheckOutcome;

/// What one look of a check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The check passed.
    Passed,
    /// Not yet; what it looks like now (shown as progress).
    Waiting(String),
    /// It cannot pass any more.
    Failed(String),
}

/// Calls `check` every `interval` until it passes, fails, or `timeout` has
/// passed (the check runs at least once). AWS errors are retried; the last
/// status or error is reported with the timeout. `progress` hears each new
/// status, and the same one again every minute.
pub async fn poll_until<F, Fut>(
    timeout: Duration,
    interval: Duration,
    progress: &(dyn Fn(&str) + Sync),
    mut check: F,
) -> CheckOutcome
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Probe>>,
{
    let start = Instant::now();
    let deadline = start + timeout;
    let mut last: Option<String> = None;
    let mut said_at = start;
    loop {
        let status = match tokio::time::timeout_at(deadline.into(), check()).await {
            Ok(Ok(Probe::Passed)) => return CheckOutcome::Ok(start.elapsed()),
            Ok(Ok(Probe::Failed(why))) => return CheckOutcome::Failed(why),
            Ok(Ok(Probe::Waiting(status))) => status,
            Ok(Err(e)) => format!("error: {e:#}"),
            Err(_) => return CheckOutcome::TimedOut(last),
        };
        if last.as_deref() != Some(status.as_str()) || said_at.elapsed() >= Duration::from_secs(60)
        {
            progress(&format!("{status} ({}s)", start.elapsed().as_secs()));
            said_at = Instant::now();
        }
        last = Some(status);
        let now = Instant::now();
        if now >= deadline {
            return CheckOutcome::TimedOut(last);
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
    }
}
