//! The plane's clock: the wall clock plus an offset that only grows. Time
//! flows as it does; a test (or `POST /_local/clock/advance`) jumps it
//! ahead to see a minute of retries, six hours of schedule or fourteen days
//! of retention at once, and moto follows through its patched clock.
//!
//! Everything in the plane that waits for a time (Lambda's retry delays,
//! EventBridge's backoff, the schedule, the minute of alarm evaluation)
//! waits on [`Clock::sleep_until`], which wakes on the wall clock or on a
//! jump, whichever comes first. [`Clock::advance`] jumps minute by minute
//! and lets the work each minute starts finish ([`Work`]) before the next:
//! what CloudWatch and Lambda would have done in those minutes is done, in
//! order, just faster. The functions' own clocks are not moved (a Lambda
//! binary reads the wall clock): `docs/local.md` says what that leaves out.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Milliseconds in a minute, the tick of CloudWatch's evaluations.
pub const MINUTE_MS: i64 = 60_000;

/// The clock, shared by every part of the plane (clones share it).
#[derive(Clone, Debug, Default)]
pub struct Clock {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    offset_ms: AtomicI64,
    jumped: Notify,
}

impl Clock {
    /// Now, in ms since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        wall_ms() + self.offset_ms()
    }

    /// How far ahead of the wall clock the plane is.
    pub fn offset_ms(&self) -> i64 {
        self.inner.offset_ms.load(Ordering::SeqCst)
    }

    /// Moves the clock `ms` ahead at once and wakes every sleeper.
    pub fn jump(&self, ms: i64) {
        self.inner.offset_ms.fetch_add(ms.max(0), Ordering::SeqCst);
        self.inner.jumped.notify_waiters();
    }

    /// Waits until the clock reads `at_ms` (at once if it does already).
    pub async fn sleep_until(&self, at_ms: i64) {
        loop {
            let jumped = self.inner.jumped.notified();
            let left = at_ms - self.now_ms();
            if left <= 0 {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(left.unsigned_abs())) => {}
                () = jumped => {}
            }
        }
    }
}

/// The wall clock, in ms since the Unix epoch.
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The start of the minute `ms` falls in.
pub fn minute_of(ms: i64) -> i64 {
    ms - ms.rem_euclid(MINUTE_MS)
}

/// Work in flight (a delivery, an invocation, an evaluation): what
/// [`Work::settled`] waits for. Clones share the count.
#[derive(Clone, Debug, Default)]
pub struct Work {
    inner: Arc<WorkInner>,
}

#[derive(Debug, Default)]
struct WorkInner {
    running: AtomicUsize,
    idle: Notify,
}

/// One piece of work, done when dropped.
#[derive(Debug)]
pub struct Busy(Work);

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.inner.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.inner.idle.notify_waiters();
        }
    }
}

impl Work {
    /// Marks one piece of work as started.
    pub fn start(&self) -> Busy {
        self.inner.running.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    /// How many pieces are running.
    pub fn running(&self) -> usize {
        self.inner.running.load(Ordering::SeqCst)
    }

    /// Waits until nothing has been running for `quiet` (work often starts
    /// more work a moment after it ends: a delivery, then an invocation),
    /// or `limit` passed; whether it settled.
    pub async fn settled(&self, quiet: Duration, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            while self.running() > 0 {
                let idle = self.inner.idle.notified();
                if self.running() == 0 {
                    break;
                }
                if tokio::time::timeout_at(deadline, idle).await.is_err() {
                    return false;
                }
            }
            tokio::time::sleep(quiet).await;
            if self.running() == 0 {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_start_on_the_minute() {
        assert_eq!(minute_of(120_000), 120_000);
        assert_eq!(minute_of(179_999), 120_000);
        assert_eq!(minute_of(-1), -60_000);
    }

    #[tokio::test]
    async fn a_jump_wakes_a_sleeper_whose_time_it_passes() {
        let clock = Clock::default();
        let at = clock.now_ms() + 3_600_000;
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until(at).await }
        });
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.jump(3_600_000);
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("woken by the jump")
            .unwrap();
        assert!(clock.now_ms() >= at);
    }

    #[tokio::test]
    async fn work_settles_when_the_last_piece_ends() {
        let work = Work::default();
        let busy = work.start();
        assert_eq!(work.running(), 1);
        let waiting = tokio::spawn({
            let work = work.clone();
            async move {
                work.settled(Duration::from_millis(10), Duration::from_secs(5))
                    .await
            }
        });
        tokio::task::yield_now().await;
        drop(busy);
        assert!(waiting.await.unwrap());
        assert_eq!(work.running(), 0);
    }

    #[tokio::test]
    async fn work_that_never_ends_does_not_settle() {
        let work = Work::default();
        let _busy = work.start();
        assert!(
            !work
                .settled(Duration::from_millis(1), Duration::from_millis(50))
                .await
        );
    }
}
