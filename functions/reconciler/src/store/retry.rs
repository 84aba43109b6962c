//! How long a command keeps trying, and how it waits between tries.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use super::errors::not_now;

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

    /// Sends a request until it answers: again, after a backoff, while
    /// DynamoDB answers "not now" or not at all ([`not_now`]) and the
    /// budget lasts. Only for requests whose second arrival changes
    /// nothing: reads, and the sweep's guarded writes (a resend after a
    /// lost answer writes the same item again, or fails its condition,
    /// which they take as "someone got there first"). Without it, one
    /// throttled page among the sweep's hundred index queries fails the
    /// whole run whenever the SDK's own retries are off or spent. `send`
    /// builds and sends the request anew each time.
    ///
    /// # Errors
    /// Any other failure at once; a "not now" once the budget is spent.
    pub(super) async fn resend<T, E, R, F, Fut>(&self, mut send: F) -> Result<T, SdkError<E, R>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata,
    {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            match send().await {
                Err(e) if not_now(&e) && !self.spent(started) => {
                    self.backoff(attempt).await;
                    attempt += 1;
                }
                answer => return answer,
            }
        }
    }
}
