//! The money audit, written once: an account's stored balances against the
//! sum of its ledger entries (contract §3 invariant 3), conservation on the
//! stored account (invariant 1), and the holds its entries took and released
//! against its jobs as they are now (invariant 2, over what changed since a
//! checkpoint). Pure: the sweep, the local run, the reference model and the
//! tests read; this judges.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::ledger::{Account, Entry, EntryKind, Job, JobStatus};

/// Balances as stored, or as the entries sum to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balances {
    pub available: i64,
    pub held: i64,
    pub granted: i64,
    pub debited: i64,
    pub adjusted: i64,
    /// A cell's net transfers from the account's other cells.
    pub transferred: i64,
    /// The account's version; recomputed: the number of entries.
    pub seq: u64,
}

impl Balances {
    /// The balances stored on `account`.
    pub fn of(account: &Account) -> Balances {
        Balances {
            available: account.available,
            held: account.held,
            granted: account.granted,
            debited: account.debited,
            adjusted: account.adjusted,
            transferred: account.transferred,
            seq: account.seq,
        }
    }

    /// These balances plus one entry. Saturating: a corrupted entry must be
    /// reported, not panic the audit.
    pub fn plus(mut self, entry: &Entry) -> Balances {
        self.available = self.available.saturating_add(entry.available_delta);
        self.held = self.held.saturating_add(entry.held_delta);
        self.granted = self.granted.saturating_add(entry.granted_delta);
        self.debited = self.debited.saturating_add(entry.debited_delta);
        self.adjusted = self.adjusted.saturating_add(entry.adjusted_delta);
        self.transferred = self.transferred.saturating_add(entry.transferred_delta);
        self.seq = self.seq.saturating_add(1);
        self
    }
}

/// An account whose ledger and balances disagree, or whose balances break an
/// invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub account_id: String,
    /// The cell of the account that drifted (0: its home, the only one of
    /// an account never split).
    pub cell: u32,
    pub stored: Balances,
    pub recomputed: Balances,
    /// Every disagreement found, for a human.
    pub problems: Vec<String>,
}

/// Audits `account` against `base` (what its entries `1..=base.seq` sum to:
/// zero, or the checkpoint of its last clean audit) plus `entries` (its
/// entries `base.seq + 1..=account.seq`, in order). `None`: no drift.
pub fn audit(account: &Account, base: Balances, entries: &[Entry]) -> Option<Drift> {
    let mut recomputed = base;
    let mut problems = Vec::new();
    let mut position = base.seq;
    for entry in entries {
        position = position.saturating_add(1);
        if entry.seq != position && problems.is_empty() {
            problems.push(format!(
                "entry {position} of the ledger carries seq {}: entries are missing or misnumbered",
                entry.seq
            ));
        }
        recomputed = recomputed.plus(entry);
        problems.extend(after_values(entry, &recomputed));
    }
    problems.extend(compare(account, &recomputed));
    if let Err(broken) = account.check() {
        problems.push(broken);
    }
    (!problems.is_empty()).then(|| Drift {
        account_id: account.account_id.clone(),
        cell: account.cell,
        stored: Balances::of(account),
        recomputed,
        problems,
    })
}

/// Whether `entry` says the balances after it are what its history sums to.
fn after_values(entry: &Entry, recomputed: &Balances) -> Option<String> {
    ((entry.available_after, entry.held_after) != (recomputed.available, recomputed.held)).then(
        || {
            format!(
                "entry {} says the balances after it were ({}, {}), its history sums to ({}, {})",
                entry.seq,
                entry.available_after,
                entry.held_after,
                recomputed.available,
                recomputed.held
            )
        },
    )
}

/// The stored balances against what the entries sum to, field by field.
fn compare(account: &Account, recomputed: &Balances) -> Vec<String> {
    let stored = Balances::of(account);
    let compared: [(&str, i128, i128); 7] = [
        (
            "available",
            stored.available.into(),
            recomputed.available.into(),
        ),
        ("held", stored.held.into(), recomputed.held.into()),
        ("granted", stored.granted.into(), recomputed.granted.into()),
        ("debited", stored.debited.into(), recomputed.debited.into()),
        (
            "adjusted",
            stored.adjusted.into(),
            recomputed.adjusted.into(),
        ),
        (
            "transferred",
            stored.transferred.into(),
            recomputed.transferred.into(),
        ),
        ("seq", stored.seq.into(), recomputed.seq.into()),
    ];
    compared
        .into_iter()
        .filter(|(_, s, r)| s != r)
        .map(|(field, s, r)| {
            let what = if field == "seq" {
                "the number of ledger entries is"
            } else {
                "the ledger entries sum to"
            };
            format!("{field}: stored {s}, {what} {r}")
        })
        .collect()
}

/// Something an audit could not prove because its reads are not a
/// snapshot: `Query` and `BatchGetItem` see each item as of its last
/// commit, so a transaction still being applied can show some of its items
/// and not others. An item expected and not found, or a job older than an
/// entry that moved it, is a doubt, not drift, until one transactional read
/// of it with the account ([`Snapshot`]) shows it for what it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Doubt {
    /// The account's entry `seq` was not found.
    Entry(u64),
    /// Job `job_id` was not found, or does not record entry `seq`, which
    /// moved its hold.
    Job { job_id: String, seq: u64 },
}

impl fmt::Display for Doubt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Doubt::Entry(seq) => write!(f, "entry {seq} of the ledger is missing"),
            Doubt::Job { job_id, seq } => write!(
                f,
                "job {job_id} is missing, or does not record entry {seq}, which moved its hold"
            ),
        }
    }
}

/// Doubts one transactional read can settle at most: `TransactGetItems`
/// takes 100 items, the account among them.
pub const MAX_DOUBTS: usize = 99;

/// What [`audit_holds`] concluded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldsAudit {
    /// Violations of invariant 2 the entries and the jobs prove.
    pub problems: Vec<String>,
    /// Holds taken in the entries whose job moved after them: the job as it
    /// is now says nothing of them. Each is verified when its release is
    /// audited (against the take entry); until then no checkpoint may pass
    /// it. `(job, seq of the take)`.
    pub unverified: Vec<(String, u64)>,
    /// What the reads could not prove yet.
    pub doubts: Vec<Doubt>,
}

/// The jobs whose holds `entries` took or released, each once, in order:
/// what [`audit_holds`] needs to read.
pub fn jobs_holding(entries: &[Entry]) -> Vec<String> {
    let mut jobs: Vec<String> = Vec::new();
    for entry in entries.iter().filter(|e| e.held_delta != 0) {
        if let Some(job) = entry.job_id()
            && !jobs.iter().any(|j| j == job)
        {
            jobs.push(job.to_owned());
        }
    }
    jobs
}

/// The moves of held credits in `entries`, by job: `(seq, held delta)` in
/// order; entries that move held credits without naming a job are problems.
fn holds_by_job<'a>(
    entries: &'a [Entry],
    problems: &mut Vec<String>,
) -> BTreeMap<&'a str, Vec<(u64, i64)>> {
    let mut moves: BTreeMap<&str, Vec<(u64, i64)>> = BTreeMap::new();
    for entry in entries.iter().filter(|e| e.held_delta != 0) {
        match entry.job_id() {
            Some(job) => moves
                .entry(job)
                .or_default()
                .push((entry.seq, entry.held_delta)),
            None => problems.push(format!(
                "entry {} moves held credits ({}) but names no job ({})",
                entry.seq, entry.held_delta, entry.key
            )),
        }
    }
    moves
}

/// Jobs by id.
fn by_id(jobs: &[Job]) -> BTreeMap<&str, &Job> {
    jobs.iter().map(|j| (j.job_id.as_str(), j)).collect()
}

/// The entry before `seq` among the job's own (`job.entries`): where a hold
/// released at `seq` was taken.
fn take_before(job: &Job, seq: u64) -> Option<u64> {
    job.entries.iter().copied().filter(|s| *s < seq).max()
}

/// The take entries [`audit_holds`] needs besides `entries`: for each hold
/// released in `entries` whose take lies before them, the seq of that
/// take, read off its job (`jobs`, as they are now). Read them by key.
pub fn takes_needed(entries: &[Entry], jobs: &[Job]) -> Vec<u64> {
    let first = entries.first().map_or(0, |e| e.seq);
    let jobs = by_id(jobs);
    let mut ignored = Vec::new();
    let mut seqs: Vec<u64> = holds_by_job(entries, &mut ignored)
        .into_iter()
        .filter_map(|(job_id, moves)| match moves.as_slice() {
            [(release, r)] if *r < 0 => {
                let job = jobs.get(job_id)?;
                take_before(job, *release).filter(|take| *take < first)
            }
            _ => None,
        })
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    seqs
}

/// Invariant 2 over what changed: `entries` are consecutive entries of
/// `account` after a checkpoint whose `held` was right; `jobs` are the jobs
/// of [`jobs_holding`] as they are now; `takes` the entries of
/// [`takes_needed`].
///
/// Every job took its hold at most once and released it at most once, for
/// the same amount, in that order — a hold released here and taken before
/// is compared with its take entry, which its job names. A job whose last
/// move here took a hold is HELD with that hold now, one whose last move
/// released it is not; unless the job moved after these entries, which
/// proves nothing about its state yet (a take it moved after is
/// `unverified` until its release is audited). A job not found, or that
/// does not record an entry that moved it, and a take entry not found, are
/// doubts: a write may be in flight. With invariant 3 (the entries' held
/// deltas sum to `held`), this proves `held` = the holds of the account's
/// HELD jobs, reading only what changed.
pub fn audit_holds(
    account: &Account,
    entries: &[Entry],
    jobs: &[Job],
    takes: &[Entry],
) -> HoldsAudit {
    let mut result = HoldsAudit::default();
    let (first, last) = match (entries.first(), entries.last()) {
        (Some(f), Some(l)) => (f.seq, l.seq),
        _ => return result,
    };
    let jobs = by_id(jobs);
    for (job_id, moves) in holds_by_job(entries, &mut result.problems) {
        let Some(job) = jobs.get(job_id) else {
            result.doubts.push(Doubt::Job {
                job_id: job_id.to_owned(),
                seq: moves[0].0,
            });
            continue;
        };
        if let Some((seq, _)) = moves.iter().find(|(s, _)| !job.entries.contains(s)) {
            result.doubts.push(Doubt::Job {
                job_id: job_id.to_owned(),
                seq: *seq,
            });
            continue;
        }
        let hold = match moves.as_slice() {
            [(_, h)] if *h > 0 => Some(*h),
            [(release, r)] if *r < 0 => {
                let taken = take_before(job, *release);
                match check_take(job, taken, *release, *r, first, takes) {
                    Ok(()) => None,
                    Err(Some(doubt)) => {
                        result.doubts.push(doubt);
                        continue;
                    }
                    Err(None) => {
                        result.problems.push(format!(
                            "job {job_id}: {} credits released at entry {release}, but {}",
                            r.unsigned_abs(),
                            describe_take(taken, takes)
                        ));
                        continue;
                    }
                }
            }
            [(_, h), (_, r)] if *h > 0 && *r == -*h => None,
            _ => {
                result.problems.push(format!(
                    "job {job_id}: its holds were taken and released out of order: {moves:?} (seq, held delta)"
                ));
                continue;
            }
        };
        if job.entries.last().is_some_and(|seq| *seq > last) {
            if let (Some(_), Some((take, _))) = (hold, moves.first()) {
                result.unverified.push((job_id.to_owned(), *take));
            }
            continue;
        }
        let holds_now = (job.status == JobStatus::Held)
            .then_some(job.hold)
            .flatten();
        if holds_now != hold || job.account_id != account.account_id || job.cell != account.cell {
            result.problems.push(format!(
                "job {job_id} of account {} cell {} is {} with hold {:?}, but the entries of {} leave it {}",
                job.account_id,
                job.cell,
                job.status,
                job.hold,
                account.name(),
                match hold {
                    Some(h) => format!("holding {h}"),
                    None => "holding nothing".to_owned(),
                }
            ));
        }
    }
    result
}

/// Whether the hold of `job` released (`r`, negative) at `release` was
/// taken, for as much, at `taken` (before the entries, which start at
/// `first`). `Err(Some(doubt))`: the take entry was not read; `Err(None)`:
/// there is no such take.
fn check_take(
    job: &Job,
    taken: Option<u64>,
    release: u64,
    r: i64,
    first: u64,
    takes: &[Entry],
) -> Result<(), Option<Doubt>> {
    let Some(taken) = taken.filter(|t| *t < first) else {
        return Err(None);
    };
    let Some(take) = takes.iter().find(|e| e.seq == taken) else {
        return Err(Some(Doubt::Entry(taken)));
    };
    let matches = take.kind == EntryKind::Hold
        && take.job_id() == Some(job.job_id.as_str())
        && take.account_id == job.account_id
        && take.cell == job.cell
        && Some(take.held_delta) == r.checked_neg()
        && release > taken;
    if matches { Ok(()) } else { Err(None) }
}

/// What the take of a release turned out to be, for a problem's message.
fn describe_take(taken: Option<u64>, takes: &[Entry]) -> String {
    match taken.and_then(|t| takes.iter().find(|e| e.seq == t)) {
        Some(take) => format!(
            "the entry its job names as its take, {} ({}), moved {} held credits",
            take.seq, take.key, take.held_delta
        ),
        None => match taken {
            Some(t) => {
                format!("its job names entry {t}, among these, as its take, which took no hold")
            }
            None => "its job records no entry that took it".to_owned(),
        },
    }
}

/// At most this many problems are kept per account (the count is complete).
const MAX_PROBLEMS: usize = 20;

/// What one transactional read (`TransactGetItems`) of the account and the
/// doubted items found: all of one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The account's `seq` then; `None`: no account.
    pub account_seq: Option<u64>,
    /// The doubted entries that exist.
    pub entries: Vec<Entry>,
    /// The doubted jobs that exist.
    pub jobs: Vec<Job>,
}

/// The audit of one account, folded page by page so that its memory does
/// not grow with the window: invariant 3 (the entries, numbered without a
/// gap, sum to the balances, each saying so), invariant 1 on the stored
/// account, and invariant 2 over the holds each page moved
/// ([`audit_holds`]). After each page it knows how far everything is
/// proven — where a checkpoint may move, so that a window too long for one
/// run is resumed by the next.
#[derive(Debug, Clone)]
pub struct AccountAudit {
    account: Account,
    /// The base plus every entry folded.
    running: Balances,
    /// The seq the next entry must carry.
    next: u64,
    /// Entries `1..=proven.seq` sum to these and their holds are verified.
    proven: Balances,
    /// Takes not verified yet: seq → (job, the balances before it).
    unverified: BTreeMap<u64, (String, Balances)>,
    problems: Vec<String>,
    more_problems: usize,
    /// Doubts of the last page, to settle before the next one.
    doubts: Vec<Doubt>,
    /// A doubt turned out a write in flight: nothing more is proven now.
    unproven: bool,
    /// The whole window was folded.
    ended: bool,
}

/// What an audit proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// What is wrong (invariants 1–3); `None`: nothing found.
    pub drift: Option<Drift>,
    /// Entries `1..=proven.seq` sum to these, every hold among them
    /// verified: where the checkpoint may move (without drift).
    pub proven: Balances,
    /// The whole window, up to the account's version, is proven clean.
    pub clean: bool,
    /// The audit stopped on a doubt a write in flight explained: the next
    /// audit goes on from `proven`.
    pub unproven: bool,
}

impl AccountAudit {
    /// The audit of `account` (as read) from `base`: zero, or its checkpoint.
    pub fn new(account: &Account, base: Balances) -> AccountAudit {
        AccountAudit {
            account: account.clone(),
            running: base,
            next: base.seq.saturating_add(1),
            proven: base,
            unverified: BTreeMap::new(),
            problems: Vec::new(),
            more_problems: 0,
            doubts: Vec::new(),
            unproven: false,
            ended: false,
        }
    }

    /// The account audited.
    pub fn account_id(&self) -> &str {
        &self.account.account_id
    }

    /// The cell of the account audited (0: its home, the whole of an
    /// account never split).
    pub fn cell(&self) -> u32 {
        self.account.cell
    }

    /// The first entry the next page starts at.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// The last entry of the window: the account's version as read.
    pub fn last_seq(&self) -> u64 {
        self.account.seq
    }

    /// Whether there is nothing more to read (stopped, or at the end).
    pub fn done(&self) -> bool {
        self.unproven || self.ended
    }

    fn problem(&mut self, problem: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        } else {
            self.more_problems += 1;
        }
    }

    /// The take entries [`AccountAudit::fold`] needs for `entries`
    /// ([`takes_needed`]).
    pub fn takes_needed(&self, entries: &[Entry], jobs: &[Job]) -> Vec<u64> {
        takes_needed(entries, jobs)
    }

    /// Folds the next page: `entries` in order from [`AccountAudit::next_seq`],
    /// the jobs of [`jobs_holding`] as they are now, the take entries of
    /// [`takes_needed`]. Returns its doubts: settle them
    /// ([`AccountAudit::settle`]) before the next page; none, and the page
    /// is proven.
    pub fn fold(&mut self, entries: &[Entry], jobs: &[Job], takes: &[Entry]) -> Vec<Doubt> {
        if self.done() || !self.doubts.is_empty() {
            // Doubts left unsettled prove nothing.
            self.unproven = true;
            return Vec::new();
        }
        let mut doubts = Vec::new();
        for entry in entries {
            if entry.seq < self.next {
                self.problem(format!(
                    "entry {} comes after entry {}: entries are misnumbered",
                    entry.seq,
                    self.next.saturating_sub(1)
                ));
                continue;
            }
            doubts.extend((self.next..entry.seq).take(MAX_DOUBTS).map(Doubt::Entry));
            let before = self.running;
            self.running = self.running.plus(entry);
            self.next = entry.seq.saturating_add(1);
            if let Some(problem) = after_values(entry, &self.running) {
                self.problem(problem);
            }
            if entry.held_delta > 0 {
                // Recorded for every take; verified ones are removed below.
                self.unverified
                    .insert(entry.seq, (entry.job_id().unwrap_or("").to_owned(), before));
            }
        }
        let holds = audit_holds(&self.account, entries, jobs, takes);
        for problem in holds.problems {
            self.problem(problem);
        }
        let unverified: BTreeSet<u64> = holds.unverified.iter().map(|(_, seq)| *seq).collect();
        let folded: BTreeSet<u64> = entries.iter().map(|e| e.seq).collect();
        // A take in this page is verified unless its job moved after it;
        // a release here settles its take from before.
        let released: BTreeSet<&str> = entries
            .iter()
            .filter(|e| e.held_delta < 0)
            .filter_map(Entry::job_id)
            .collect();
        self.unverified.retain(|seq, (job, _)| {
            if folded.contains(seq) {
                unverified.contains(seq)
            } else {
                !released.contains(job.as_str())
            }
        });
        doubts.extend(holds.doubts);
        doubts.sort();
        doubts.dedup();
        doubts.truncate(MAX_DOUBTS);
        if doubts.is_empty() {
            self.prove();
        }
        self.doubts = doubts.clone();
        doubts
    }

    /// Everything folded so far is proven, up to the first unverified take.
    fn prove(&mut self) {
        self.proven = match self.unverified.values().next() {
            Some((_, before)) => *before,
            None => self.running,
        };
    }

    /// The window's end: every page folded. A tail not found is doubted;
    /// otherwise the balances are compared with the stored ones.
    pub fn end(&mut self) -> Vec<Doubt> {
        if self.done() || !self.doubts.is_empty() {
            self.unproven = true;
            return Vec::new();
        }
        self.ended = true;
        let missing: Vec<Doubt> = (self.next..=self.account.seq)
            .take(MAX_DOUBTS)
            .map(Doubt::Entry)
            .collect();
        if missing.is_empty() {
            self.compare();
        }
        self.doubts = missing.clone();
        missing
    }

    fn compare(&mut self) {
        for problem in compare(&self.account, &self.running) {
            self.problem(problem);
        }
    }

    /// The doubts of the last page (or of the end), judged on one
    /// transactional read of them with the account. A doubt the snapshot
    /// shows gone was a write in flight: the audit stops here, unproven;
    /// one it confirms — an entry missing, or a job not recording an entry
    /// that moved it, while the account is at or past that entry — is drift.
    pub fn settle(&mut self, snapshot: &Snapshot) {
        let doubts = std::mem::take(&mut self.doubts);
        let mut confirmed = Vec::new();
        for doubt in doubts {
            let (seq, found) = match &doubt {
                Doubt::Entry(seq) => (*seq, snapshot.entries.iter().any(|e| e.seq == *seq)),
                Doubt::Job { job_id, seq } => (
                    *seq,
                    snapshot
                        .jobs
                        .iter()
                        .any(|j| j.job_id == *job_id && j.entries.contains(seq)),
                ),
            };
            if found || snapshot.account_seq.is_none_or(|at| at < seq) {
                self.unproven = true;
            } else {
                confirmed.push(doubt);
            }
        }
        for doubt in confirmed {
            self.problem(doubt.to_string());
        }
        if self.ended && !self.unproven {
            self.compare();
        }
    }

    /// What the audit proved so far.
    pub fn verdict(&self) -> Verdict {
        let mut problems = self.problems.clone();
        if self.more_problems > 0 {
            problems.push(format!("… and {} more problems", self.more_problems));
        }
        // Invariant 1 on the stored account, whatever the entries say.
        problems.extend(self.account.check().err());
        let drift = (!problems.is_empty()).then(|| Drift {
            account_id: self.account.account_id.clone(),
            cell: self.account.cell,
            stored: Balances::of(&self.account),
            recomputed: self.running,
            problems,
        });
        let unproven = self.unproven || !self.doubts.is_empty();
        Verdict {
            clean: drift.is_none()
                && self.ended
                && !unproven
                && self.unverified.is_empty()
                && self.proven.seq == self.account.seq,
            drift,
            proven: self.proven,
            unproven,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::ledger::Meta;
    use crate::memory::MemoryLedger;

    /// a1 granted 100, j1 holding 30.
    fn grant_and_hold() -> [Event; 2] {
        [
            Event::Granted {
                grant_id: "g1".into(),
                account_id: "a1".into(),
                credits: 100,
            },
            Event::Requested {
                job_id: "j1".into(),
                account_id: "a1".into(),
                credits: 30,
            },
        ]
    }

    /// An account, its entries and its jobs, through the real state machine.
    fn history() -> MemoryLedger {
        let [granted, held] = grant_and_hold();
        let events = [
            granted,
            held,
            Event::Rendered {
                job_id: "j1".into(),
                account_id: "a1".into(),
                credits: 25,
            },
            Event::Requested {
                job_id: "j2".into(),
                account_id: "a1".into(),
                credits: 10,
            },
        ];
        let meta = Meta {
            event_id: "e".into(),
            at_ms: 1,
        };
        let mut ledger = MemoryLedger::default();
        for event in &events {
            ledger.apply(event, &meta).unwrap();
        }
        ledger
    }

    fn jobs(ledger: &MemoryLedger) -> Vec<Job> {
        ledger.jobs.values().cloned().collect()
    }

    #[test]
    fn an_honest_ledger_has_no_drift() {
        let ledger = history();
        let account = &ledger.accounts["a1"];
        assert_eq!((account.available, account.held, account.seq), (65, 10, 4));
        assert_eq!(audit(account, Balances::default(), &ledger.entries), None);
        assert_eq!(
            audit(&Account::new("a0"), Balances::default(), &[]),
            None,
            "a new account with no entries"
        );
        assert_eq!(jobs_holding(&ledger.entries), ["j1", "j2"]);
        assert_eq!(
            audit_holds(account, &ledger.entries, &jobs(&ledger), &[]),
            HoldsAudit::default()
        );
    }

    #[test]
    fn a_corrupted_balance_is_drift_with_both_views() {
        let ledger = history();
        let mut account = ledger.accounts["a1"].clone();
        account.available += 7;
        let drift = audit(&account, Balances::default(), &ledger.entries).expect("drift");
        assert_eq!(drift.account_id, "a1");
        assert_eq!(
            (drift.stored.available, drift.recomputed.available),
            (72, 65)
        );
        assert_eq!((drift.stored.held, drift.recomputed.held), (10, 10));
        assert!(
            drift.problems[0].starts_with("available: stored 72"),
            "{:?}",
            drift.problems
        );
        assert!(
            drift.problems.iter().any(|p| p.contains("conservation")),
            "invariant 1 is reported too: {:?}",
            drift.problems
        );
    }

    #[test]
    fn a_missing_entry_is_drift() {
        let ledger = history();
        let mut entries = ledger.entries.clone();
        entries.remove(1);
        let drift = audit(&ledger.accounts["a1"], Balances::default(), &entries).expect("drift");
        assert!(
            drift.problems[0].contains("entry 2"),
            "{:?}",
            drift.problems
        );
        assert_eq!(drift.recomputed.seq, 3);
    }

    #[test]
    fn an_audit_from_a_checkpoint_sums_only_the_newer_entries() {
        let ledger = history();
        let account = &ledger.accounts["a1"];
        let checkpoint = ledger.entries[..2]
            .iter()
            .fold(Balances::default(), Balances::plus);
        assert_eq!(audit(account, checkpoint, &ledger.entries[2..]), None);
        let mut corrupted = account.clone();
        corrupted.available += 7;
        let drift = audit(&corrupted, checkpoint, &ledger.entries[2..]).expect("drift");
        assert_eq!(
            (drift.stored.available, drift.recomputed.available),
            (72, 65)
        );
        let drift = audit(account, checkpoint, &ledger.entries[3..]).expect("drift");
        assert!(
            drift.problems[0].contains("entry 3"),
            "{:?}",
            drift.problems
        );
    }

    #[test]
    fn a_hold_the_jobs_do_not_back_is_found_from_the_changes_alone() {
        let ledger = history();
        let account = &ledger.accounts["a1"];
        // Since the checkpoint after entry 2 (j1 held): j1 debited, j2 held.
        let window = &ledger.entries[2..];
        assert_eq!(jobs_holding(window), ["j1", "j2"]);
        // j1's hold was taken before the window: its take entry is read.
        assert_eq!(takes_needed(window, &jobs(&ledger)), [2]);
        let takes = &ledger.entries[1..2];
        assert_eq!(
            audit_holds(account, window, &jobs(&ledger), takes),
            HoldsAudit::default()
        );
        // j2 settled by hand (no entry): the account still holds 10 for it.
        let mut edited = jobs(&ledger);
        edited[1].status = JobStatus::Debited;
        edited[1].debited = Some(10);
        let found = audit_holds(account, window, &edited, takes);
        assert!(found.problems[0].contains("job j2"), "{found:?}");
        // A job that moved after the entries proves nothing about its state
        // yet; the take it moved after is not verified.
        let mut moved = jobs(&ledger);
        moved[1].status = JobStatus::Refunded;
        moved[1].entries.push(account.seq + 1);
        let found = audit_holds(account, window, &moved, takes);
        assert_eq!(found.unverified, [("j2".to_owned(), 4)]);
        assert!(found.problems.is_empty() && found.doubts.is_empty());
    }

    /// The round's scenario: grant 100, hold j1 30, a clean audit; the job's
    /// hold edited to 20 by hand; `video.failed` releases 20. The account
    /// holds 10 with no HELD job, and the balances alone sum right: the
    /// release is compared with its take, before the window, and found out.
    #[test]
    fn a_release_is_compared_with_its_take_from_before_the_window() {
        let mut ledger = MemoryLedger::default();
        let meta = Meta {
            event_id: "e".into(),
            at_ms: 1,
        };
        for event in grant_and_hold() {
            ledger.apply(&event, &meta).unwrap();
        }
        let checkpoint = ledger
            .entries
            .iter()
            .fold(Balances::default(), Balances::plus);
        ledger.jobs.get_mut("j1").unwrap().hold = Some(20);
        let failed = Event::Failed {
            job_id: "j1".into(),
            account_id: "a1".into(),
            reason: None,
        };
        ledger.apply(&failed, &meta).unwrap();
        let account = &ledger.accounts["a1"];
        assert_eq!((account.available, account.held), (90, 10));
        let window = &ledger.entries[2..];
        assert_eq!(audit(account, checkpoint, window), None, "the sums agree");
        let jobs = jobs(&ledger);
        assert_eq!(takes_needed(window, &jobs), [2]);
        let found = audit_holds(account, window, &jobs, &ledger.entries[1..2]);
        assert!(
            found.problems[0].contains("job j1: 20 credits released at entry 3")
                && found.problems[0].contains("moved 30 held credits"),
            "{found:?}"
        );
        // The take entry not read (not found): a doubt, not a verdict.
        let found = audit_holds(account, window, &jobs, &[]);
        assert_eq!(found.doubts, [Doubt::Entry(2)]);
        assert!(found.problems.is_empty());
        // The paged audit reaches the same verdict: drift, nothing proven.
        let mut paged = AccountAudit::new(account, checkpoint);
        assert_eq!(paged.fold(window, &jobs, &ledger.entries[1..2]), []);
        assert_eq!(paged.end(), []);
        let verdict = paged.verdict();
        assert!(verdict.drift.is_some() && !verdict.clean, "{verdict:?}");
    }

    /// A job older than the entry that moved it (the entry's transaction
    /// is still being applied, or the job was edited), or not found: a
    /// doubt. One transactional read settles it: the job recording the
    /// entry was a write in flight (unproven, audited again later); the
    /// job still not recording it with the account past it is drift.
    #[test]
    fn a_job_older_than_its_entries_is_a_doubt_a_snapshot_settles() {
        let ledger = history();
        let account = &ledger.accounts["a1"];
        let mut behind = jobs(&ledger);
        // j2's hold (entry 4) is not on its item yet.
        behind[1].status = JobStatus::Rejected;
        behind[1].entries.clear();
        let found = audit_holds(account, &ledger.entries, &behind, &[]);
        let doubt = Doubt::Job {
            job_id: "j2".into(),
            seq: 4,
        };
        assert_eq!(found.doubts, std::slice::from_ref(&doubt));
        assert!(found.problems.is_empty(), "{found:?}");
        assert_eq!(
            audit_holds(account, &ledger.entries, &behind[..1], &[]).doubts,
            std::slice::from_ref(&doubt),
            "a job not found"
        );

        let in_flight = |jobs: Vec<Job>| {
            let mut paged = AccountAudit::new(account, Balances::default());
            assert_eq!(
                paged.fold(&ledger.entries, &behind, &[]),
                std::slice::from_ref(&doubt)
            );
            paged.settle(&Snapshot {
                account_seq: Some(4),
                entries: Vec::new(),
                jobs,
            });
            paged.verdict()
        };
        let verdict = in_flight(jobs(&ledger));
        assert!(verdict.unproven && verdict.drift.is_none(), "{verdict:?}");
        assert_eq!(verdict.proven, Balances::default(), "nothing proven");
        let verdict = in_flight(behind.clone());
        let drift = verdict.drift.expect("confirmed: drift");
        assert!(drift.problems[0].contains("job j2"), "{:?}", drift.problems);
    }

    /// Folded a page at a time, the audit proves what it can as it goes:
    /// up to the first take whose job moved after its page, until the
    /// release that settles it is folded; the verdict of the whole window
    /// is the one-shot audit's.
    #[test]
    fn a_window_folded_page_by_page_proves_up_to_the_first_unverified_take() {
        let ledger = history();
        let account = &ledger.accounts["a1"];
        let mut paged = AccountAudit::new(account, Balances::default());
        let pages: Vec<&[Entry]> = ledger.entries.chunks(1).collect();
        // Page 1: the grant.
        assert_eq!(paged.fold(pages[0], &[], &[]), []);
        assert_eq!(paged.verdict().proven.seq, 1);
        // Page 2: j1's hold; j1 was debited since (entry 3): unverified.
        let page_jobs = |page: &[Entry]| -> Vec<Job> {
            jobs_holding(page)
                .iter()
                .map(|j| ledger.jobs[j].clone())
                .collect()
        };
        assert_eq!(paged.fold(pages[1], &page_jobs(pages[1]), &[]), []);
        assert_eq!(paged.verdict().proven.seq, 1, "not past j1's take");
        // Page 3: j1's debit releases it, compared with its take (entry 2).
        let takes = paged.takes_needed(pages[2], &page_jobs(pages[2]));
        assert_eq!(takes, [2]);
        assert_eq!(
            paged.fold(pages[2], &page_jobs(pages[2]), &ledger.entries[1..2]),
            []
        );
        assert_eq!(paged.verdict().proven.seq, 3);
        assert_eq!(paged.fold(pages[3], &page_jobs(pages[3]), &[]), []);
        assert_eq!(paged.end(), []);
        let verdict = paged.verdict();
        assert!(verdict.clean && verdict.drift.is_none(), "{verdict:?}");
        assert_eq!(verdict.proven, Balances::of(account));
    }

    /// An entry missing from the pages — in a gap, or at the tail — is a
    /// doubt: a transaction can show its account before its entry. The
    /// snapshot finding it was a write in flight; not finding it, with the
    /// account at or past it, is drift.
    #[test]
    fn a_missing_entry_is_a_doubt_until_a_snapshot_confirms_it() {
        let ledger = history();
        let account = &ledger.accounts["a1"];
        let all_jobs = jobs(&ledger);
        let run = |entries: &[Entry], snapshot: Snapshot| {
            let mut paged = AccountAudit::new(account, Balances::default());
            let doubts = paged.fold(entries, &all_jobs, &[]);
            let doubts = if doubts.is_empty() {
                paged.end()
            } else {
                doubts
            };
            paged.settle(&snapshot);
            (doubts, paged.verdict())
        };
        let tail = &ledger.entries[..3];
        let (doubts, verdict) = run(
            tail,
            Snapshot {
                account_seq: Some(4),
                entries: ledger.entries[3..].to_vec(),
                jobs: Vec::new(),
            },
        );
        assert_eq!(doubts, [Doubt::Entry(4)]);
        assert!(verdict.unproven && verdict.drift.is_none(), "{verdict:?}");
        assert_eq!(verdict.proven.seq, 3, "what the pages proved stands");
        let (_, verdict) = run(
            tail,
            Snapshot {
                account_seq: Some(4),
                ..Snapshot::default()
            },
        );
        let drift = verdict.drift.expect("a missing last entry is drift");
        assert!(
            drift
                .problems
                .iter()
                .any(|p| p == "entry 4 of the ledger is missing"),
            "{:?}",
            drift.problems
        );
        let mut gap = ledger.entries.clone();
        gap.remove(0);
        let (doubts, verdict) = run(
            &gap,
            Snapshot {
                account_seq: Some(4),
                ..Snapshot::default()
            },
        );
        assert_eq!(doubts, [Doubt::Entry(1)]);
        assert!(verdict.drift.is_some());
    }
}
