//! Cells: one account's money spread over several items, so that a busy
//! account's writes spread over several partition keys (ARCHITECTURE.md,
//! "Cells"). Pure: where an event lands, how credits move between cells
//! when a hold does not fit in its own, and what the account's balances
//! are.
//!
//! A DynamoDB partition takes about 1,000 write units a second, and one
//! item cannot be split between partitions: an account whose every event
//! writes its one item (and its entry, under the same partition key) tops
//! out near 250 events a second. Split into `n` cells, each event writes
//! one cell, and the account takes `n` times that.

use crate::event::Event;
use crate::key::BusinessKey;
use crate::ledger::{Account, Gather, Job, LedgerError, Leg, Meta, Movement};

/// The account's balances: the sums over `cells` (every cell of one
/// account), as `account_id`'s home cell would hold them were it the only
/// one. Saturating: a sum past `i64` cannot be stored, and each cell's own
/// balances are checked before anything is decided on them.
pub fn total<'a>(account_id: &str, cells: impl IntoIterator<Item = &'a Account>) -> Account {
    let mut sum = Account::new(account_id);
    for c in cells {
        sum.available = sum.available.saturating_add(c.available);
        sum.held = sum.held.saturating_add(c.held);
        sum.granted = sum.granted.saturating_add(c.granted);
        sum.debited = sum.debited.saturating_add(c.debited);
        sum.adjusted = sum.adjusted.saturating_add(c.adjusted);
        sum.transferred = sum.transferred.saturating_add(c.transferred);
        sum.seq = sum.seq.saturating_add(c.seq);
        sum.overdrafts = sum.overdrafts.saturating_add(c.overdrafts);
        sum.cells = sum.cells.max(c.cells);
    }
    sum
}

/// The cell an id lands in among `cells`: FNV-1a of its bytes, so every
/// instance and every language computes the same, and ids spread evenly.
pub fn cell_of_id(id: &str, cells: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    u32::try_from(hash % u64::from(cells.max(1))).unwrap_or(0)
}

/// The cell `event` is decided in, for an account of `cells` cells: a
/// known job's own cell (where its hold is), else the cell its job, grant
/// or adjustment id lands in.
pub fn cell_of(event: &Event, job: Option<&Job>, cells: u32) -> u32 {
    if let Some(job) = job.filter(|j| Some(j.job_id.as_str()) == event.job_id()) {
        return job.cell;
    }
    let id = match event {
        Event::Granted { grant_id, .. } => grant_id,
        Event::Adjusted { adjustment_id, .. } => adjustment_id,
        Event::Requested { job_id, .. }
        | Event::Rendered { job_id, .. }
        | Event::Failed { job_id, .. } => job_id,
    };
    cell_of_id(id, cells)
}

/// The most cells an account may have: a transaction that writes every
/// cell (and a transfer entry for each) stays within DynamoDB's 100 items.
pub const MAX_CELLS: u32 = 32;

/// The cells a split of `account_id` into `cells` writes, given its home
/// cell as stored: the home with its new count, and, when the account is
/// below zero or marked owing, every new cell marked owing (a cell is below
/// zero only while every cell is marked). A split only adds cells.
pub fn split(account_id: &str, home: Option<&Account>, cells: u32) -> Result<Vec<Account>, String> {
    let home = home.cloned().unwrap_or_else(|| Account::new(account_id));
    let has = home.cell_count();
    if !(has..=MAX_CELLS).contains(&cells) {
        return Err(format!(
            "account {account_id} has {has} cell{}: a split takes it to {has}..={MAX_CELLS} cells, not {cells}",
            if has == 1 { "" } else { "s" }
        ));
    }
    let owing = cells > 1 && (home.owing || home.available < 0);
    let mut written = vec![Account {
        cells,
        owing,
        ..home
    }];
    if owing {
        written.extend((has..cells).map(|k| Account {
            owing,
            ..Account::in_cell(account_id, k)
        }));
    }
    Ok(written)
}

/// Where a decision on a split account needs more than its own cell.
///
/// A cell decides alone when that cannot change an answer: a hold fits in
/// the account if it fits in its cell *and no cell is below zero*. So a cell
/// never goes below zero on its own. A debit or an adjustment that would
/// take it there first gathers credits from the other cells
/// ([`rebalance`]); if the whole account is going below zero, every cell is
/// first marked `owing` ([`owe`]), and while it is marked, a hold in it
/// looks at every cell (and, if the account can pay, clears the marks as it
/// gathers). The invariant, kept by writing every cell in the same
/// transaction: a cell is below zero only while every cell is marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// A hold of this much.
    Hold(i64),
    /// A movement taking this much from `available` (a debit past its
    /// hold, a negative adjustment).
    Take(i64),
}

/// The credits the receiving cell must have for `need`, before it moves.
fn floor(need: Need) -> i64 {
    match need {
        Need::Hold(c) | Need::Take(c) => c,
    }
}

/// Whether `cell` can meet `need` without looking at the other cells.
pub(crate) fn alone(cell: &Account, cells: u32, need: Need) -> bool {
    if cells <= 1 {
        return true;
    }
    match need {
        Need::Hold(c) => !cell.owing && cell.available >= c,
        Need::Take(x) => cell.owing || x <= 0 || cell.available >= x,
    }
}

/// What `need` does across the cells when its cell cannot meet it alone,
/// given every other cell of the account as read together with `target`
/// (`exists`: whether `target` is stored). `None`: nothing to move, decide
/// as the cell is (a hold the account cannot cover is rejected).
pub(crate) fn across(
    target: &Account,
    exists: bool,
    others: &[Account],
    cells: u32,
    need: Need,
    key: &BusinessKey,
    meta: &Meta,
) -> Result<Option<Gather>, LedgerError> {
    let all =
        others.iter().map(|o| i128::from(o.available)).sum::<i128>() + i128::from(target.available);
    let enough = all >= i128::from(floor(need));
    match need {
        Need::Hold(_) if !enough => Ok(None),
        Need::Take(_) if !enough => Ok(Some(owe(target, exists, others, cells))),
        _ => rebalance(target, exists, others, cells, floor(need), key, meta).map(Some),
    }
}

/// Marks every cell of the account `owing`, creating those that do not
/// exist: the account is about to go below zero in `target`. Moves nothing.
/// Every cell is written, a marked one as it was, so that each is guarded
/// as read: marks set on some cells only would break the invariant.
pub fn owe(target: &Account, exists: bool, others: &[Account], cells: u32) -> Gather {
    let mut legs = Vec::new();
    for k in 0..cells.max(1) {
        let (before, stored) = if k == target.cell {
            (target.clone(), exists)
        } else {
            match others.iter().find(|o| o.cell == k) {
                Some(o) => (o.clone(), true),
                None => (Account::in_cell(target.account_id.clone(), k), false),
            }
        };
        let after = Account {
            owing: true,
            ..before.clone()
        };
        legs.push(Leg {
            before: stored.then_some(before),
            after,
            entry: None,
        });
    }
    Gather { legs }
}

/// Moves credits between the cells so that `target` has at least `floor`
/// and every cell at least zero, clearing every `owing` mark; `target`
/// gets up to its fair share of what the account has available (the sum
/// over `cells`), so that the next holds landing in it need no gather.
/// Richest cells give first, and first only what they have above their own
/// share. The caller made sure the cells hold at least `floor` in all.
/// When a mark is cleared every cell is written, each guarded as read, so
/// that no cell below zero, nor one marked since, is left behind.
pub fn rebalance(
    target: &Account,
    exists: bool,
    others: &[Account],
    cells: u32,
    floor: i64,
    key: &BusinessKey,
    meta: &Meta,
) -> Result<Gather, LedgerError> {
    let all: i128 =
        others.iter().map(|o| i128::from(o.available)).sum::<i128>() + i128::from(target.available);
    let fair = all.div_euclid(i128::from(cells.max(1))).max(0);
    let (has, floor) = (i128::from(target.available), i128::from(floor));
    // What the cells below zero must receive: first from what the target
    // has past its floor (a target that gives gets no top-up), then from
    // the others, with what the target lacks and, up to its share, wants.
    let owed_all: i128 = others
        .iter()
        .map(|o| (-i128::from(o.available)).max(0))
        .sum();
    let from_target = (has - floor).max(0).min(owed_all);
    let owed = owed_all - from_target;
    let need = (floor - has).max(0);
    let want = if from_target > 0 {
        0
    } else {
        (fair.max(floor) - has).max(need)
    };
    let mut givers: Vec<&Account> = others.iter().filter(|o| o.available > 0).collect();
    givers.sort_by(|a, b| b.available.cmp(&a.available).then(a.cell.cmp(&b.cell)));
    let gives = gives(&givers, [(fair, owed + want), (0, owed + need)]);
    let moved: i128 = gives.iter().sum();
    if moved < owed + need {
        return Err(LedgerError::Inconsistent(format!(
            "{} needs {floor} and the cells below zero {owed_all}; the other cells can give {moved}",
            target.name()
        )));
    }
    let mut deltas: Vec<(&Account, bool, i128)> =
        vec![(target, exists, moved - owed - from_target)];
    for other in others {
        let delta = match givers.iter().position(|g| g.cell == other.cell) {
            Some(i) => -gives[i],
            None => (-i128::from(other.available)).max(0),
        };
        deltas.push((other, true, delta));
    }
    let clearing = deltas.iter().any(|(cell, _, _)| cell.owing);
    let mut legs = Vec::new();
    for (before, stored, delta) in deltas {
        if delta != 0 || clearing {
            legs.push(leg(before, stored, delta, key, meta)?);
        }
    }
    let net: i64 = legs
        .iter()
        .filter_map(|l| l.entry.as_ref())
        .map(|e| e.transferred_delta)
        .sum();
    assert_eq!(net, 0, "a rebalance moves credits, it does not make them");
    Ok(Gather { legs })
}

/// What each of `givers` (richest first) gives, pass by pass: in each,
/// what it has above `keep`, until the passes' total reaches `goal` —
/// first what the richest have above their share, then what is still
/// lacking from whatever they have.
fn gives(givers: &[&Account], passes: [(i128, i128); 2]) -> Vec<i128> {
    let mut gives = vec![0i128; givers.len()];
    let mut moved = 0i128;
    for (keep, goal) in passes {
        for (giver, give) in givers.iter().zip(gives.iter_mut()) {
            let spare = (i128::from(giver.available) - *give - keep).max(0);
            let more = spare.min(goal - moved).max(0);
            *give += more;
            moved += more;
        }
    }
    gives
}

/// One cell's part of a rebalance: `credits` moved in (out if negative),
/// its `owing` mark cleared.
fn leg(
    before: &Account,
    stored: bool,
    credits: i128,
    key: &BusinessKey,
    meta: &Meta,
) -> Result<Leg, LedgerError> {
    let credits = i64::try_from(credits).map_err(|_| LedgerError::Overflow {
        account_id: before.account_id.clone(),
    })?;
    let mut after = Account {
        owing: false,
        ..before.clone()
    };
    let entry = (credits != 0)
        .then(|| {
            Movement {
                available: credits,
                transferred: credits,
                ..Movement::of(key.clone(), credits.saturating_abs())
            }
            .apply(&mut after, meta)
        })
        .transpose()?;
    if let Err(broken) = after.check() {
        panic!("ledger invariant broken by a transfer: {broken}");
    }
    Ok(Leg {
        before: stored.then(|| before.clone()),
        after,
        entry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(k: u32, available: i64) -> Account {
        Account {
            available,
            granted: available.max(0),
            adjusted: available.min(0),
            seq: 1,
            ..Account::in_cell("a", k)
        }
    }

    fn meta() -> Meta {
        Meta {
            event_id: "e".into(),
            at_ms: 1,
        }
    }

    fn key() -> BusinessKey {
        BusinessKey::transfer("j1")
    }

    /// (cell, credits moved in) of each leg, the receiving cell first;
    /// every leg clears its cell's `owing` mark.
    fn legs(gather: &Gather) -> Vec<(u32, Option<i64>)> {
        assert!(gather.legs.iter().all(|l| !l.after.owing));
        gather
            .legs
            .iter()
            .map(|l| (l.after.cell, l.entry.as_ref().map(|e| e.transferred_delta)))
            .collect()
    }

    /// Worked by hand: cells holding 100, 0, 30 and 0 (130 in all, a fair
    /// share of 32). A hold of 25 in the empty cell takes its share from
    /// the richest cell's surplus alone.
    #[test]
    fn a_short_cell_takes_its_share_from_the_richest_surplus() {
        let others = [cell(0, 100), cell(2, 30), cell(3, 0)];
        let g = rebalance(&cell(1, 0), true, &others, 4, 25, &key(), &meta()).unwrap();
        assert_eq!(legs(&g), [(1, Some(32)), (0, Some(-32))]);
        let to = &g.legs[0];
        assert_eq!(to.before, Some(cell(1, 0)));
        assert_eq!(
            (to.after.available, to.after.transferred, to.after.seq),
            (32, 32, 2)
        );
        let entry = to.entry.as_ref().unwrap();
        assert_eq!(entry.key, "transfer:j1");
        assert_eq!(entry.kind, crate::ledger::EntryKind::Transfer);
        assert_eq!((entry.cell, entry.seq, entry.amount), (1, 2, 32));
        assert_eq!(g.legs[1].entry.as_ref().unwrap().amount, 32);
        assert_eq!(g.legs[1].after.available, 68);
    }

    /// Worked by hand: 50, 20 and 0 in the other cells of 4 (70 in all, a
    /// share of 17); a hold of 60 in a new cell. Surpluses first (33, 3),
    /// then what is still lacking, richest first (17 more, then 7).
    #[test]
    fn a_hold_past_the_share_takes_what_it_lacks_richest_first() {
        let others = [cell(0, 50), cell(2, 20), cell(3, 0)];
        let new = Account::in_cell("a", 1);
        let g = rebalance(&new, false, &others, 4, 60, &key(), &meta()).unwrap();
        assert_eq!(legs(&g), [(1, Some(60)), (0, Some(-50)), (2, Some(-10))]);
        assert_eq!(g.legs[0].before, None);
        assert!(g.legs.iter().all(|l| l.after.check().is_ok()));
    }

    /// Worked by hand, on an account marked owing: 100, -30 and 0 in the
    /// other cells, -5 in the target (65 in all, a share of 16), a hold of
    /// 10. The cell below zero gets its 30, the target its share (21 to
    /// reach 16), all from the richest; every mark is cleared, the empty
    /// cell's without an entry.
    #[test]
    fn clearing_the_marks_pays_every_cell_below_zero() {
        let owing = |k, available| Account {
            owing: true,
            ..cell(k, available)
        };
        let others = [owing(0, 100), owing(2, -30), owing(3, 0)];
        let g = rebalance(&owing(1, -5), true, &others, 4, 10, &key(), &meta()).unwrap();
        assert_eq!(
            legs(&g),
            [(1, Some(21)), (0, Some(-51)), (2, Some(30)), (3, None)]
        );
        let after: Vec<i64> = g.legs.iter().map(|l| l.after.available).collect();
        assert_eq!(after, [16, 49, 0, 0]);
    }

    /// Worked by hand: a target with 20, 15 past its hold of 5, pays the
    /// cell at -10 itself, and so takes no top-up though its share (110 /
    /// 3 = 36) is more than it keeps; the rich cell moves nothing.
    #[test]
    fn a_target_with_a_surplus_pays_the_cells_below_zero_itself() {
        let owing = |k, available| Account {
            owing: true,
            ..cell(k, available)
        };
        let others = [owing(0, 100), owing(2, -10)];
        let g = rebalance(&owing(1, 20), true, &others, 3, 5, &key(), &meta()).unwrap();
        assert_eq!(legs(&g), [(1, Some(-10)), (0, None), (2, Some(10))]);
    }

    /// Clearing the marks writes every cell, even one that moves nothing
    /// and was read unmarked: each is guarded as read.
    #[test]
    fn clearing_the_marks_writes_every_cell() {
        let owing = Account {
            owing: true,
            ..cell(0, 100)
        };
        let g = rebalance(
            &cell(1, 0),
            true,
            &[owing, cell(2, 0)],
            3,
            10,
            &key(),
            &meta(),
        )
        .unwrap();
        assert_eq!(legs(&g), [(1, Some(33)), (0, Some(-33)), (2, None)]);
        assert_eq!(g.legs[2].before, Some(cell(2, 0)));
    }

    /// What a cell that cannot decide alone does, given every other cell:
    /// a debit the account covers gathers credits (it does not mark the
    /// cells owing); one it does not marks every cell; a hold it does not
    /// cover is left to be rejected where it is.
    #[test]
    fn across_the_cells_a_need_gathers_owes_or_is_short() {
        let others = [cell(0, 100)];
        let target = cell(1, 0);
        let take = |x| across(&target, true, &others, 2, Need::Take(x), &key(), &meta());
        let gathered = take(30).unwrap().unwrap();
        assert_eq!(legs(&gathered), [(1, Some(50)), (0, Some(-50))]);
        let owed = take(150).unwrap().unwrap();
        assert!(owed.legs.iter().all(|l| l.after.owing && l.entry.is_none()));
        assert_eq!(owed.legs.len(), 2);
        let hold = |c| across(&target, true, &others, 2, Need::Hold(c), &key(), &meta());
        assert_eq!(hold(150).unwrap(), None);
        assert_eq!(
            legs(&hold(100).unwrap().unwrap()),
            [(1, Some(100)), (0, Some(-100))]
        );
    }

    #[test]
    fn cells_that_cannot_cover_the_need_are_an_error_not_a_rebalance() {
        let others = [cell(0, 10)];
        let err = rebalance(&cell(1, 0), true, &others, 2, 25, &key(), &meta()).unwrap_err();
        assert!(err.to_string().contains("needs 25"), "{err}");
    }

    #[test]
    fn going_below_zero_marks_every_cell_creating_the_missing() {
        let owing_home = Account {
            owing: true,
            ..cell(0, 10)
        };
        let g = owe(&cell(1, 5), true, &[owing_home, cell(3, 0)], 4);
        let marked: Vec<(u32, bool, bool)> = g
            .legs
            .iter()
            .map(|l| (l.after.cell, l.before.is_some(), l.entry.is_some()))
            .collect();
        // Cell 0 is marked already, and written as it is; cell 2 does not
        // exist.
        assert_eq!(
            marked,
            [
                (0, true, false),
                (1, true, false),
                (2, false, false),
                (3, true, false)
            ]
        );
        assert!(g.legs.iter().all(|l| l.after.owing));
        assert_eq!(g.legs[1].after.available, 5);
        assert_eq!(g.legs[0].after, g.legs[0].before.clone().unwrap());
    }

    #[test]
    fn a_split_only_adds_cells_and_marks_them_when_the_account_owes() {
        let home = cell(0, 10);
        let grown = split("a", Some(&home), 4).unwrap();
        assert_eq!(grown.len(), 1);
        assert_eq!(
            (grown[0].cells, grown[0].owing, grown[0].available),
            (4, false, 10)
        );
        let owes = cell(0, -5);
        let grown = split("a", Some(&owes), 3).unwrap();
        let cells: Vec<(u32, bool)> = grown.iter().map(|c| (c.cell, c.owing)).collect();
        assert_eq!(cells, [(0, true), (1, true), (2, true)]);
        assert_eq!(split("a", None, 2).unwrap()[0].seq, 0);
        let four = Account { cells: 4, ..home };
        assert!(
            split("a", Some(&four), 2)
                .unwrap_err()
                .contains("4..=32 cells, not 2")
        );
        assert!(split("a", Some(&four), 33).is_err());
        assert!(split("a", Some(&four), 4).is_ok());
        // One cell is no split: an account below zero is not marked.
        let whole = split("a", Some(&owes), 1).unwrap();
        assert_eq!((whole.len(), whole[0].owing), (1, false));
    }

    /// FNV-1a 64 of the id's bytes, modulo the cells: values computed
    /// independently (Python: the same three lines) so that a change of
    /// the hash, which would move every job's cell, cannot pass unseen.
    #[test]
    fn ids_land_in_the_cells_their_hash_names() {
        assert_eq!(cell_of_id("j1", 1), 0);
        assert_eq!(cell_of_id("", 8), (0xcbf2_9ce4_8422_2325u64 % 8) as u32);
        assert_eq!(
            cell_of_id("a", 1_000_003),
            (0xaf63_dc4c_8601_ec8cu64 % 1_000_003) as u32
        );
        let spread: std::collections::BTreeSet<u32> = (0..64)
            .map(|n| cell_of_id(&format!("job-{n}"), 8))
            .collect();
        assert_eq!(spread.len(), 8, "64 ids reach every one of 8 cells");
    }

    #[test]
    fn a_known_job_is_decided_in_its_own_cell_whatever_the_count() {
        let event = Event::Rendered {
            job_id: "j1".into(),
            account_id: "a".into(),
            credits: 1,
        };
        let job = Job {
            job_id: "j1".into(),
            account_id: "a".into(),
            cell: 5,
            status: crate::ledger::JobStatus::Held,
            requested: Some(1),
            hold: Some(1),
            debited: None,
            reason: None,
            entries: vec![1],
        };
        assert_eq!(cell_of(&event, Some(&job), 8), 5);
        assert_eq!(cell_of(&event, Some(&job), 1), 5);
        assert_eq!(cell_of(&event, None, 8), cell_of_id("j1", 8));
        assert_eq!(cell_of(&event, None, 1), 0);
    }

    #[test]
    fn the_total_sums_every_balance_of_every_cell() {
        let mut home = cell(0, 100);
        home.cells = 3;
        home.transferred = -40;
        home.available = 60;
        let mut other = cell(2, 0);
        other.transferred = 40;
        other.available = 30;
        other.held = 10;
        let sum = total("a", [&home, &other]);
        assert_eq!(
            (
                sum.available,
                sum.held,
                sum.granted,
                sum.transferred,
                sum.seq,
                sum.cells,
                sum.cell
            ),
            (90, 10, 100, 0, 2, 3, 0)
        );
    }
}
