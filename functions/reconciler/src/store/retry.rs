//! How long a command keeps trying, and how it waits between tries.

use std::time::{Duration, Instant};

/// How long a command keeps trying, and how it backs off.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Time one command may spend on contention, throttling and lost
    /// responses before it fails as `LedgerUnavailable` (and Lambda retries
    /// the event). Below the handler's timeout.
    pub budget: Duration,
    /// First backoff ceiling; it doubles with every loss.
    pub base: Duration,
    /// Largest backoff ceiling.
    pub cap: Duration,
    /// How long a command waits before it stops backing off and retries at
    /// once on each loss (so the oldest waiters go first).
    pub patience: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            budget: Duration::from_secs(20),
            base: Duration::from_millis(10),
            cap: Duration::from_millis(500),
            patience: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Whether a command started at `started` has spent its budget.
    pub(super) fn spent(&self, started: Instant) -> bool {
        started.elapsed() > self.budget
    }

    /// Exponential backoff with full jitter: up to `base · 2^attempt`, capped.
    pub(super) async fn backoff(&self, attempt: u32) {
        tokio::time::sleep(self.delay(attempt, Duration::ZERO)).await;
    }

    /// The backoff before attempt `attempt + 1` of a command that has waited
    /// `waited` already: full jitter up to `base · 2^attempt` (capped), shrunk
    /// as the wait grows towards [`RetryPolicy::patience`], after which it
    /// retries at once. Plain exponential backoff lets the unluckiest waiter
    /// wait longest and lose again (on a busy account, some events starve);
    /// this favours the oldest waiters, so an account's writers take turns
    /// roughly in the order they arrived.
    pub(super) fn delay(&self, attempt: u32, waited: Duration) -> Duration {
        let cap = self.base.saturating_mul(1 << attempt.min(16)).min(self.cap);
        let left = 1.0 - (waited.as_secs_f64() / self.patience.as_secs_f64().max(1e-3)).min(1.0);
        let ceiling = (cap.as_millis() as f64 * left) as u64;
        Duration::from_millis(fastrand::u64(0..=ceiling))
    }
}
