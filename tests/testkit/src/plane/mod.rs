//! The local data plane (`cargo xtask up`): what AWS runs around the
//! emulator — functions, deliveries, retries, metrics, alarm evaluation.
//! Here, the pure parts: no I/O, no clock, no async, each checked against
//! AWS's documentation (the page is cited in each module).
//!
//! - [`alarm`]: CloudWatch alarm evaluation (M of N, missing data, reasons);
//! - [`emf`]: the embedded metric format, log line → metric data;
//! - [`math`]: CloudWatch metric math for alarms;
//! - [`schedule`]: EventBridge `rate(...)` and `cron(...)` expressions.

// The crate allows `unwrap` for its test tooling; the plane must not panic
// on what a function prints or an operator writes.
#![deny(clippy::unwrap_used)]

pub mod alarm;
pub mod emf;
pub mod math;
pub mod schedule;
