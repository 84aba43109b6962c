//! Work on many accounts at once, never on two items of one account at once.
//!
//! The sweep expires stragglers and audits accounts one DynamoDB round trip
//! after another: one at a time, 100,000 stragglers take longer than a run
//! (docs/sweep.md, "Keeping up"). Their accounts are independent, so the
//! sweep keeps up to [`Lanes::new`]'s `cap` of them in flight. Two items of
//! one account would write the same account item and contend for it (a
//! `TransactionConflict` and a backoff for one of them), so an account's
//! next item waits for its last to finish, in the order they came.
//!
//! The work runs in the caller's task (no spawn: it may borrow the sweep);
//! it makes progress while the caller awaits [`Lanes::next`], which is what
//! the sweep does whenever the lanes are [`Lanes::full`].

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

/// One item's work, whatever borrows it keeps.
pub type Work<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Items in flight, keyed by account.
pub struct Lanes<'a, T> {
    cap: usize,
    running: FuturesUnordered<Work<'a, (String, T)>>,
    busy: HashSet<String>,
    /// Items whose account was busy when they came, oldest first.
    waiting: VecDeque<(String, Work<'a, T>)>,
}

impl<'a, T: 'a> Lanes<'a, T> {
    /// At most `cap` items in flight (at least one), and at most `4 × cap`
    /// waiting for their account: memory stays bounded when one account
    /// has most of the items.
    pub fn new(cap: usize) -> Self {
        Lanes {
            cap: cap.max(1),
            running: FuturesUnordered::new(),
            busy: HashSet::new(),
            waiting: VecDeque::new(),
        }
    }

    /// Whether the caller should wait for an item ([`Lanes::next`]) before
    /// it adds one.
    pub fn full(&self) -> bool {
        self.running.len() >= self.cap || self.waiting.len() >= 4 * self.cap
    }

    /// Adds an item of `account`: it starts now if its account is idle and
    /// a lane is free, else when [`Lanes::next`] frees one.
    pub fn push(&mut self, account: String, work: Work<'a, T>) {
        self.waiting.push_back((account, work));
        self.start_waiting();
    }

    /// The output of the next item to finish; `None` when none is left.
    pub async fn next(&mut self) -> Option<T> {
        let (account, out) = self.running.next().await?;
        self.busy.remove(&account);
        self.start_waiting();
        Some(out)
    }

    /// Starts the oldest waiting items whose accounts are idle, while a
    /// lane is free.
    fn start_waiting(&mut self) {
        let mut i = 0;
        while i < self.waiting.len() && self.running.len() < self.cap {
            if self.busy.contains(&self.waiting[i].0) {
                i += 1;
                continue;
            }
            let (account, work) = self.waiting.remove(i).expect("index checked");
            self.busy.insert(account.clone());
            self.running
                .push(Box::pin(async move { (account, work.await) }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// What the items did, in order: `+id` when one started, `-id` when it
    /// ended.
    type Log = Arc<Mutex<Vec<String>>>;

    fn item(log: &Log, id: &str, ms: u64) -> Work<'static, String> {
        let (log, id) = (Arc::clone(log), id.to_owned());
        Box::pin(async move {
            log.lock().unwrap().push(format!("+{id}"));
            tokio::time::sleep(Duration::from_millis(ms)).await;
            log.lock().unwrap().push(format!("-{id}"));
            id
        })
    }

    /// The caller's loop: push while not full, else wait for one.
    async fn drive(cap: usize, items: &[(&str, &str, u64)], log: &Log) -> Vec<String> {
        let mut lanes = Lanes::new(cap);
        let mut done = Vec::new();
        for (account, id, ms) in items {
            while lanes.full() {
                done.extend(lanes.next().await);
            }
            lanes.push((*account).to_owned(), item(log, id, *ms));
        }
        while let Some(id) = lanes.next().await {
            done.push(id);
        }
        done
    }

    /// Per account, the ids in the order they started, and whether any
    /// started before the last of its account ended; and the most in
    /// flight at once.
    fn check(log: &[String], account_of: impl Fn(&str) -> char) -> (usize, bool) {
        let (mut running, mut most, mut overlap) = (Vec::<String>::new(), 0, false);
        for event in log {
            let id = &event[1..];
            if event.starts_with('+') {
                let a = account_of(id);
                overlap |= running.iter().any(|r| account_of(r) == a);
                running.push(id.to_owned());
                most = most.max(running.len());
            } else {
                running.retain(|r| r != id);
            }
        }
        (most, overlap)
    }

    /// Six items of three accounts (`a1` is account `a`), two lanes: at most
    /// two in flight, never two of one account, every item done, and each
    /// account's items in the order they came.
    #[tokio::test]
    async fn items_of_one_account_never_overlap_and_lanes_stay_within_the_cap() {
        let log = Log::default();
        let items = [
            ("a", "a1", 30),
            ("a", "a2", 10),
            ("b", "b1", 5),
            ("b", "b2", 5),
            ("c", "c1", 50),
            ("a", "a3", 5),
        ];
        let mut done = drive(2, &items, &log).await;
        let log = log.lock().unwrap().clone();
        let (most, overlap) = check(&log, |id| id.chars().next().unwrap());
        assert_eq!(most, 2, "{log:?}");
        assert!(!overlap, "{log:?}");
        let started: Vec<&str> = log.iter().filter_map(|e| e.strip_prefix('+')).collect();
        for account in ["a", "b"] {
            let order: Vec<&&str> = started
                .iter()
                .filter(|id| id.starts_with(account))
                .collect();
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(order, sorted, "{log:?}");
        }
        done.sort();
        assert_eq!(done, ["a1", "a2", "a3", "b1", "b2", "c1"]);
    }

    /// One lane: the items run one after another, in the order they came.
    #[tokio::test]
    async fn one_lane_runs_the_items_in_order() {
        let log = Log::default();
        let items = [("a", "a1", 5), ("b", "b1", 1), ("a", "a2", 1)];
        let done = drive(1, &items, &log).await;
        assert_eq!(done, ["a1", "b1", "a2"]);
        let log = log.lock().unwrap().clone();
        assert_eq!(log, ["+a1", "-a1", "+b1", "-b1", "+a2", "-a2"]);
    }

    /// Pushed without asking whether the lanes are full, items of idle
    /// accounts still wait for a free lane: never more in flight than the
    /// cap.
    #[tokio::test]
    async fn the_cap_holds_whoever_pushes() {
        let log = Log::default();
        let mut lanes = Lanes::new(2);
        for (account, id) in [("a", "a1"), ("b", "b1"), ("c", "c1"), ("d", "d1")] {
            lanes.push(account.into(), item(&log, id, 5));
        }
        let mut done = Vec::new();
        while let Some(id) = lanes.next().await {
            done.push(id);
        }
        let log = log.lock().unwrap().clone();
        let (most, _) = check(&log, |id| id.chars().next().unwrap());
        assert_eq!(most, 2, "{log:?}");
        done.sort();
        assert_eq!(done, ["a1", "b1", "c1", "d1"]);
    }

    /// Items of one busy account wait without taking lanes, up to four
    /// times the cap: then the lanes are full.
    #[test]
    fn waiting_items_are_bounded() {
        let log = Log::default();
        let mut lanes = Lanes::new(2);
        lanes.push("a".into(), item(&log, "a0", 1));
        assert!(!lanes.full(), "one lane is free");
        for n in 1..8 {
            lanes.push("a".into(), item(&log, &format!("a{n}"), 1));
            assert!(!lanes.full(), "{n} waiting");
        }
        lanes.push("a".into(), item(&log, "a8", 1));
        assert!(lanes.full(), "eight waiting");
    }
}
