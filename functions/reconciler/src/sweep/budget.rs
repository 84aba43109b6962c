//! The time budget: stop starting new work early enough before the Lambda
//! deadline to finish the item in hand, summarize, log and answer.

use std::time::Duration;

/// How much of the invocation to keep in reserve: the larger of `min` and
/// `fraction` of the time the invocation had when the sweep started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Margin {
    pub min: Duration,
    pub fraction: f64,
}

impl Default for Margin {
    /// 10 s or 15 %: 45 s of a 300 s sweep.
    fn default() -> Self {
        Margin {
            min: Duration::from_secs(10),
            fraction: 0.15,
        }
    }
}

impl Margin {
    /// The reserve of an invocation that had `total` when the sweep started.
    pub fn reserve(&self, total: Duration) -> Duration {
        self.min.max(total.mul_f64(self.fraction.clamp(0.0, 1.0)))
    }
}

/// When to stop, on a given clock (milliseconds since the Unix epoch).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    deadline_ms: i64,
    stop_at_ms: i64,
    clock: fn() -> i64,
}

impl Budget {
    /// A budget ending `margin` before `deadline_ms`, measured from now.
    pub fn new(deadline_ms: i64, margin: Margin, clock: fn() -> i64) -> Budget {
        let total_ms = (deadline_ms - clock()).max(0);
        let reserve_ms = margin
            .reserve(Duration::from_millis(total_ms as u64))
            .as_millis() as i64;
        Budget {
            deadline_ms,
            stop_at_ms: deadline_ms - reserve_ms,
            clock,
        }
    }

    /// Whether to stop starting new work.
    pub fn exhausted(&self) -> bool {
        (self.clock)() >= self.stop_at_ms
    }

    /// Time left until the deadline itself (zero once past it).
    pub fn until_deadline(&self) -> Duration {
        Duration::from_millis((self.deadline_ms - (self.clock)()).max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_1000() -> i64 {
        1_000_000
    }

    #[test]
    fn the_reserve_is_the_larger_of_the_minimum_and_the_fraction() {
        let margin = Margin::default();
        // 300 s left: 15 % = 45 s reserve.
        let b = Budget::new(1_000_000 + 300_000, margin, at_1000);
        assert_eq!(b.stop_at_ms, 1_000_000 + 255_000);
        assert!(!b.exhausted());
        assert_eq!(b.until_deadline(), Duration::from_secs(300));
        // 20 s left: the 10 s minimum wins.
        let b = Budget::new(1_000_000 + 20_000, margin, at_1000);
        assert_eq!(b.stop_at_ms, 1_000_000 + 10_000);
        // 5 s left: exhausted from the start.
        assert!(Budget::new(1_000_000 + 5_000, margin, at_1000).exhausted());
        // Past the deadline: nothing left.
        let late = Budget::new(1_000_000 - 1, margin, at_1000);
        assert!(late.exhausted());
        assert_eq!(late.until_deadline(), Duration::ZERO);
    }

    #[test]
    fn a_zero_margin_uses_the_whole_invocation() {
        let none = Margin {
            min: Duration::ZERO,
            fraction: 0.0,
        };
        assert!(!Budget::new(1_000_001, none, at_1000).exhausted());
        assert!(Budget::new(1_000_000, none, at_1000).exhausted());
    }
}
