//! What a function does between `main` and its first poll of the Runtime
//! API, and what its first event builds, step by step, timed.
//!
//! A cold start is billed and waited for, so `cargo xtask bench` shows
//! where it goes. Each binary marks its steps on a [`StartTimer`]; just
//! before the first poll it logs them once ([`START_UP`]), at debug level
//! under the target [`TARGET`], which the default filter (`info`) leaves
//! out: in production the timing costs a few clock reads and nothing is
//! written.
//!
//! The AWS SDK's clients are not built at start but by the first event
//! ([`FIRST_USE`]): building one loads the system's root certificates
//! (the SDK does it when the client is built, not at its first request),
//! which took most of the start. Deferred, it no longer delays the
//! instance's readiness; the first event pays it instead, once, and an
//! instance that is started and never invoked does not pay it at all.

use std::time::{Duration, Instant};

/// The log target of the start-up timing: `RUST_LOG=info,reconciler::start=debug`
/// prints it.
pub const TARGET: &str = "reconciler::start";

/// The message of the line that times the start, before the first poll.
pub const START_UP: &str = "start-up";

/// The message of the line that times what the first event builds.
pub const FIRST_USE: &str = "first-use";

/// Times the steps of a function's start.
pub struct StartTimer {
    last: Instant,
    steps: Vec<(&'static str, Duration)>,
}

impl StartTimer {
    /// Starts timing (at the top of `main`).
    pub fn new() -> StartTimer {
        StartTimer {
            last: Instant::now(),
            steps: Vec::with_capacity(8),
        }
    }

    /// Ends the step `name`: the time since the previous step ended.
    pub fn step(&mut self, name: &'static str) {
        let now = Instant::now();
        self.steps.push((name, now - self.last));
        self.last = now;
    }

    /// The steps so far, in order, with their durations in microseconds.
    pub fn micros(&self) -> Vec<(&'static str, u64)> {
        self.steps
            .iter()
            .map(|(name, took)| (*name, u64::try_from(took.as_micros()).unwrap_or(u64::MAX)))
            .collect()
    }

    /// Logs the steps as one JSON object (`{"step": µs, …}`) in the field
    /// `steps_us`, with `message` ([`START_UP`] or [`FIRST_USE`]), if the
    /// debug level of [`TARGET`] is enabled.
    pub fn log(&self, message: &'static str) {
        if tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
            let steps: serde_json::Map<String, serde_json::Value> = self
                .micros()
                .into_iter()
                .map(|(name, us)| (name.to_owned(), us.into()))
                .collect();
            let steps_us = serde_json::Value::Object(steps).to_string();
            tracing::debug!(target: TARGET, steps_us, "{message}");
        }
    }
}

impl Default for StartTimer {
    fn default() -> Self {
        StartTimer::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_kept_in_order_and_each_is_measured_from_the_previous() {
        let mut timer = StartTimer::new();
        std::thread::sleep(Duration::from_millis(3));
        timer.step("first");
        timer.step("second");
        let steps = timer.micros();
        let names: Vec<&str> = steps.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["first", "second"]);
        // The sleep belongs to the first step only.
        assert!(steps[0].1 >= 3_000, "{steps:?}");
    }
}
