//! The one `TransactWriteItems` of a decision, and the token that makes
//! resending it safe.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use reconciler_core::contract::table;
use reconciler_core::key::BusinessKey;
use reconciler_core::ledger::{Account, Change, Gather, Job, JobStatus, Meta};

use super::expr::{Expr, num, text};
use super::items::{
    AccountItem, AdjustmentItem, EntryItem, FORMAT_VERSION, GrantItem, JobItem, to_item,
};
use super::keys;

/// Which item of a transaction a cancellation reason is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Account,
    Job,
    /// The grant's or the adjustment's idempotency record.
    Record,
    Entry,
}

/// A transaction ready to send, and to resend unchanged.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub items: Vec<(Role, TransactWriteItem)>,
    /// The `ClientRequestToken`: derived from the invocation, the business
    /// key and the state the decision was taken on, so that resending this
    /// very request (after a lost response or
    /// `TransactionInProgressException`) returns the original success
    /// instead of applying it twice or answering `duplicate` for what this
    /// invocation did — and so that another invocation's request, however
    /// alike, is never answered with this one's success.
    pub token: String,
}

/// The token of a decision: the invocation that took it (`request_id`),
/// its business key (transition spelling) and the state it was decided on
/// (at most 36 characters, DynamoDB's limit). Two invocations of one event
/// decided on one cached state in one millisecond would otherwise send the
/// same request, and DynamoDB would answer both as applied.
pub fn token(business_key: &BusinessKey, change: &Change, request_id: &str) -> String {
    let before = format!(
        "{request_id}\n{}\n{:?}\n{:?}",
        business_key.transition(),
        change.account_before,
        change.job.as_ref().map(|(before, _)| before)
    );
    keys::fingerprint(&before)[..36].to_owned()
}

/// The guard of an account write: the account exactly as the decision saw
/// it — every field it carries, not only its version — so that a change
/// made out of band (by hand, or by a restore) is never overwritten by a
/// decision taken on an older picture; the write is cancelled and the real
/// item comes back.
///
/// The attributes of cells are absent when they hold their unsplit value
/// (`items::AccountItem`), and guarded so: absent or that value, else equal.
pub fn account_guard(before: Option<&Account>) -> Expr {
    let Some(a) = before else {
        return Expr::new().absent(table::PARTITION_KEY);
    };
    let e = Expr::new()
        .at_most("v", num(FORMAT_VERSION))
        .eq("seq", num(a.seq))
        .eq("available", num(a.available))
        .eq("held", num(a.held))
        .eq("granted", num(a.granted))
        .eq("debited", num(a.debited))
        .eq("adjusted", num(a.adjusted))
        .eq("overdrafts", num(a.overdrafts));
    let e = match a.transferred {
        0 => e.absent_or("transferred", "=", num(0)),
        t => e.eq("transferred", num(t)),
    };
    let e = match a.cells {
        0 | 1 => e.absent_or("cells", "<=", num(1)),
        n => e.eq("cells", num(n)),
    };
    if a.owing {
        e.eq("owing", AttributeValue::Bool(true))
    } else {
        e.absent_or("owing", "=", AttributeValue::Bool(false))
    }
}

/// The update moving an existing job from `before` to `after`: conditioned
/// on the job still being in `before`'s status, account and hold (the hold
/// the account's `held` releases in the same transaction: invariant 2).
pub fn job_transition(
    before: &Job,
    after: &Job,
    event_id: &str,
    request_id: &str,
    now_ms: i64,
) -> Expr {
    assert_eq!(before.job_id, after.job_id);
    assert_ne!(
        before.status, after.status,
        "a transition changes the status"
    );
    assert_ne!(
        after.status,
        JobStatus::Held,
        "a job is HELD only when created"
    );
    let mut e = Expr::new()
        .at_most("v", num(FORMAT_VERSION))
        .eq("status", text(before.status.as_str()))
        .eq("account_id", text(before.account_id.clone()));
    if let (JobStatus::Held, Some(hold)) = (before.status, before.hold) {
        e = e.eq("hold", num(hold));
    }
    e = e
        .set("status", text(after.status.as_str()))
        .set("updated_at_ms", num(now_ms))
        .set("settle_event", text(event_id))
        .set("request_id", text(request_id));
    let changed = [
        ("requested", before.requested, after.requested),
        ("hold", before.hold, after.hold),
        ("debited", before.debited, after.debited),
    ];
    for (attr, was, is) in changed {
        if was != is
            && let Some(v) = is
        {
            e = e.set(attr, num(v));
        }
    }
    if before.reason != after.reason
        && let Some(r) = &after.reason
    {
        e = e.set("reason", text(r.clone()));
    }
    if before.entries != after.entries {
        e = e.set(
            "entries",
            AttributeValue::L(after.entries.iter().map(num).collect()),
        );
    }
    if before.status == JobStatus::Held {
        e = e
            .remove(table::OPEN_INDEX_PARTITION_KEY)
            .remove(table::OPEN_INDEX_SORT_KEY);
    }
    e
}

/// The transaction of a change: the account (put, or only checked when no
/// money moves, guarded by its content as decided on), the job (created, or
/// moved from the status the decision assumed), the grant's or adjustment's
/// record, and the ledger entry. At most four items, each small and of a
/// size that does not depend on the account's history or open jobs. The
/// invocation (`request_id`) is written on the job and the entry — one of
/// them is in every transaction — and in the token.
pub fn transaction(
    table: &str,
    change: &Change,
    meta: &Meta,
    business_key: &BusinessKey,
    request_id: &str,
) -> Transaction {
    let now = meta.at_ms;
    let absent = || Expr::new().absent(table::PARTITION_KEY);
    let mut items = Vec::new();
    let account = &change.account_after;
    let guard = account_guard(change.account_before.as_ref());
    items.push((
        Role::Account,
        if change.moves_money() {
            guard.put(table, to_item(&AccountItem::new(account, now)))
        } else {
            guard.check(table, keys::cell_key(&account.account_id, account.cell))
        },
    ));
    if let Some((before, after)) = &change.job {
        let write = match before {
            None => absent().put(
                table,
                to_item(&JobItem::new(after, &meta.event_id, now).by(request_id)),
            ),
            Some(before) => job_transition(before, after, &meta.event_id, request_id, now)
                .update(table, keys::job_key(&after.job_id)),
        };
        items.push((Role::Job, write));
    }
    if let Some(grant) = &change.grant {
        let item = to_item(&GrantItem::new(grant, &meta.event_id, now));
        items.push((Role::Record, absent().put(table, item)));
    }
    if let Some(adjustment) = &change.adjustment {
        let item = to_item(&AdjustmentItem::new(adjustment, &meta.event_id, now));
        items.push((Role::Record, absent().put(table, item)));
    }
    if let Some(entry) = &change.entry {
        let item = to_item(&EntryItem::new(entry).by(request_id));
        items.push((Role::Entry, absent().put(table, item)));
    }
    Transaction {
        items,
        token: token(business_key, change, request_id),
    }
}

/// The transaction of a change between an account's cells: each cell put
/// as it is after, guarded by what it was read as (or absent), and the
/// `transfer` entry of each that moved credits. Resent unchanged after a
/// lost answer; its token is the invocation's and the cells' as read, so
/// a resend of a committed one answers with its success.
pub fn gather_transaction(
    table: &str,
    gather: &Gather,
    meta: &Meta,
    request_id: &str,
) -> Transaction {
    let mut items = Vec::new();
    for leg in &gather.legs {
        let put = to_item(&AccountItem::new(&leg.after, meta.at_ms));
        items.push((
            Role::Account,
            account_guard(leg.before.as_ref()).put(table, put),
        ));
        if let Some(entry) = &leg.entry {
            let item = to_item(&EntryItem::new(entry).by(request_id));
            items.push((
                Role::Entry,
                Expr::new().absent(table::PARTITION_KEY).put(table, item),
            ));
        }
    }
    let befores: Vec<_> = gather.legs.iter().map(|l| &l.before).collect();
    let token = keys::fingerprint(&format!("{request_id}\ngather\n{befores:?}"))[..36].to_owned();
    Transaction { items, token }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::expr::assert_write_grammar;
    use crate::store::spell::{absent, guard, spell_all, when};
    use reconciler_core::event::Event;
    use reconciler_core::key::JobStep;
    use reconciler_core::ledger::{Decision, decide, decide_expiry};
    use reconciler_core::memory::MemoryLedger;

    fn meta() -> Meta {
        Meta {
            event_id: "e".into(),
            at_ms: 1,
        }
    }

    fn grant(id: &str, c: i64) -> Event {
        Event::Granted {
            grant_id: id.into(),
            account_id: "a".into(),
            credits: c,
        }
    }
    fn req(c: i64) -> Event {
        Event::Requested {
            job_id: "j".into(),
            account_id: "a".into(),
            credits: c,
        }
    }
    fn rendered(c: i64) -> Event {
        Event::Rendered {
            job_id: "j".into(),
            account_id: "a".into(),
            credits: c,
        }
    }
    fn failed() -> Event {
        Event::Failed {
            job_id: "j".into(),
            account_id: "a".into(),
            reason: Some("x".into()),
        }
    }
    fn adjust(c: i64) -> Event {
        Event::Adjusted {
            adjustment_id: "adj".into(),
            account_id: "a".into(),
            credits: c,
            reason: "fix".into(),
        }
    }

    /// Every transaction the adapter can build, for every kind of change,
    /// follows DynamoDB's expression grammar (the emulator is more lenient),
    /// and no two of its actions touch one item.
    #[test]
    fn every_transaction_follows_the_aws_grammar() {
        let histories: Vec<Vec<Event>> = vec![
            vec![grant("g", 10)],
            vec![grant("g", 10), req(5)],
            vec![req(5)],
            vec![grant("g", 10), req(5), rendered(5)],
            vec![grant("g", 10), req(5), rendered(7)],
            vec![grant("g", 10), req(5), failed()],
            vec![failed()],
            vec![rendered(3)],
            vec![req(50), rendered(3)],
            vec![adjust(-4)],
            vec![grant("g", 10), adjust(4)],
        ];
        let mut checked = 0;
        let mut check = |change: &Change, key: &BusinessKey| {
            let txn = transaction("t", change, &meta(), key, "r");
            let mut keys_seen = Vec::new();
            for (_, item) in &txn.items {
                assert_write_grammar(item);
                let key = item
                    .put()
                    .map(|p| {
                        (
                            p.item()[table::PARTITION_KEY].clone(),
                            p.item()[table::SORT_KEY].clone(),
                        )
                    })
                    .or_else(|| {
                        item.update().map(|u| {
                            (
                                u.key()[table::PARTITION_KEY].clone(),
                                u.key()[table::SORT_KEY].clone(),
                            )
                        })
                    })
                    .or_else(|| {
                        item.condition_check().map(|c| {
                            (
                                c.key()[table::PARTITION_KEY].clone(),
                                c.key()[table::SORT_KEY].clone(),
                            )
                        })
                    })
                    .expect("every item has a key");
                assert!(!keys_seen.contains(&key), "two actions on {key:?}");
                keys_seen.push(key);
                checked += 1;
            }
            assert!(txn.token.len() <= 36);
        };
        for history in histories {
            let mut ledger = MemoryLedger::default();
            for event in &history {
                if let Decision::Apply(change) =
                    decide(event, &ledger.known(event), &meta()).unwrap()
                {
                    check(&change, &event.business_key());
                }
                ledger.apply(event, &meta()).unwrap();
            }
        }
        let mut ledger = MemoryLedger::default();
        for event in [grant("g", 10), req(5)] {
            ledger.apply(&event, &meta()).unwrap();
        }
        let Decision::Apply(change) = decide_expiry("j", &ledger.known(&req(5)), &meta()).unwrap()
        else {
            panic!("a HELD job expires");
        };
        check(&change, &BusinessKey::job("j", JobStep::Expired));
        assert!(checked >= 25, "checked {checked} items");
    }

    #[test]
    fn the_token_is_the_decision_not_the_moment() {
        let ledger = MemoryLedger::default();
        let event = grant("g", 10);
        let Decision::Apply(change) = decide(&event, &ledger.known(&event), &meta()).unwrap()
        else {
            panic!("a grant applies");
        };
        let later = Meta {
            event_id: "e2".into(),
            at_ms: 99,
        };
        let Decision::Apply(again) = decide(&event, &ledger.known(&event), &later).unwrap() else {
            panic!("a grant applies");
        };
        let (g, h) = (BusinessKey::grant("g"), BusinessKey::grant("h"));
        assert_eq!(token(&g, &change, "r1"), token(&g, &again, "r1"));
        assert_ne!(token(&g, &change, "r1"), token(&h, &change, "r1"));
        assert_ne!(
            token(&g, &change, "r1"),
            token(&g, &change, "r2"),
            "another invocation, another token"
        );
    }

    /// The change `last` makes after `history` (or the expiry of j, for
    /// `None`), as the adapter sends it (request `r`).
    fn sent(history: &[Event], last: Option<Event>) -> Vec<crate::store::spell::Spelled> {
        let mut ledger = MemoryLedger::default();
        for event in history {
            ledger.apply(event, &meta()).unwrap();
        }
        let (decision, key) = match &last {
            Some(event) => (
                decide(event, &ledger.known(event), &meta()).unwrap(),
                event.business_key(),
            ),
            None => (
                decide_expiry("j", &ledger.known(&req(5)), &meta()).unwrap(),
                BusinessKey::job("j", JobStep::Expired),
            ),
        };
        let Decision::Apply(change) = decision else {
            panic!("{last:?} applies: {decision:?}");
        };
        let txn = transaction("t", &change, &meta(), &key, "r");
        let items: Vec<TransactWriteItem> = txn.items.into_iter().map(|(_, w)| w).collect();
        spell_all(&items)
    }

    fn entry(seq: u64) -> String {
        format!("ACCOUNT#a / ENTRY#{seq:020}")
    }

    /// ARCHITECTURE.md's table, "One transaction per event", row by row,
    /// written by hand: which items a change writes, each on which
    /// conditions — the account guarded by its whole self as decided on
    /// (or its absence), a new job, record or entry by its absence, a job
    /// moved by its version, status and account, and its hold when it
    /// leaves HELD.
    #[test]
    fn each_change_writes_what_the_table_says_on_its_conditions() {
        let account = |seq, b, o| ("Put", "ACCOUNT#a / ACCOUNT".to_owned(), guard(seq, b, o));
        let new = |key: &str| ("Put", key.to_owned(), absent());
        // A HELD job's hold of 5 released: the job, the account, the entry.
        let released = || {
            vec![
                account(2, [5, 5, 10, 0, 0], 0),
                (
                    "Update",
                    "JOB#j / JOB".to_owned(),
                    when(&[
                        "v <= 3",
                        "status = \"HELD\"",
                        "account_id = \"a\"",
                        "hold = 5",
                    ]),
                ),
                new(&entry(3)),
            ]
        };
        type Shape = Vec<(&'static str, String, Vec<String>)>;
        let cases: Vec<(&str, Vec<Event>, Option<Event>, Shape)> = vec![
            (
                "a grant on a new account",
                vec![],
                Some(grant("g", 10)),
                vec![
                    new("ACCOUNT#a / ACCOUNT"),
                    new("GRANT#g / GRANT"),
                    new(&entry(1)),
                ],
            ),
            (
                "a hold",
                vec![grant("g", 10)],
                Some(req(5)),
                vec![
                    account(1, [10, 0, 10, 0, 0], 0),
                    new("JOB#j / JOB"),
                    new(&entry(2)),
                ],
            ),
            (
                "a rejection: the account only checked",
                vec![grant("g", 10)],
                Some(req(50)),
                vec![
                    (
                        "ConditionCheck",
                        "ACCOUNT#a / ACCOUNT".into(),
                        guard(1, [10, 0, 10, 0, 0], 0),
                    ),
                    new("JOB#j / JOB"),
                ],
            ),
            (
                "a debit of a HELD job, overdrawn",
                vec![grant("g", 10), req(5)],
                Some(rendered(7)),
                released(),
            ),
            (
                "a refund of a HELD job",
                vec![grant("g", 10), req(5)],
                Some(failed()),
                released(),
            ),
            (
                "a tombstone: no account, nothing moves",
                vec![],
                Some(failed()),
                vec![
                    ("ConditionCheck", "ACCOUNT#a / ACCOUNT".into(), absent()),
                    new("JOB#j / JOB"),
                ],
            ),
            (
                "an adjustment",
                vec![grant("g", 10)],
                Some(adjust(-4)),
                vec![
                    account(1, [10, 0, 10, 0, 0], 0),
                    new("ADJUSTMENT#adj / ADJUSTMENT"),
                    new(&entry(2)),
                ],
            ),
            (
                "the sweep's expiry",
                vec![grant("g", 10), req(5)],
                None,
                released(),
            ),
        ];
        for (what, history, last, expected) in cases {
            let got: Vec<(&str, String, Vec<String>)> = sent(&history, last)
                .into_iter()
                .map(|s| (s.op, s.key, s.when))
                .collect();
            assert_eq!(got, expected, "{what}");
        }
    }

    /// What the writes carry, spelled by hand: the balances after, the
    /// job's new status and the entry's deltas, the invocation and the
    /// event; a job leaving HELD leaves the open-items index.
    #[test]
    fn a_debit_writes_the_balances_after_the_job_and_the_entry() {
        let spelled = sent(&[grant("g", 10), req(5)], Some(rendered(7)));
        spelled[0].assert_writes(&[
            "available = 3",
            "held = 0",
            "granted = 10",
            "debited = 7",
            "seq = 3",
            "overdrafts = 1",
            "open_kind = \"AUDIT#18\"",
        ]);
        assert_eq!(
            spelled[1].writes,
            when(&[
                "status = \"DEBITED\"",
                "debited = 7",
                "entries = [2, 3]",
                "settle_event = \"e\"",
                "request_id = \"r\"",
                "updated_at_ms = 1",
            ])
        );
        assert_eq!(spelled[1].removes, when(&["open_kind", "open_key"]));
        spelled[2].assert_writes(&[
            "seq = 3",
            "kind = \"debit\"",
            "key = \"job:j:debit\"",
            "available_delta = -2",
            "held_delta = -5",
            "debited_delta = 7",
            "overdraft = 2",
            "available_after = 3",
            "held_after = 0",
            "event_id = \"e\"",
            "request_id = \"r\"",
        ]);
        let late = sent(&[grant("g", 10), req(5)], None);
        late[1].assert_writes(&["status = \"EXPIRED\"", "request_id = \"r\""]);
    }

    /// A late capture moves an EXPIRED job: conditioned on its version,
    /// status and account, not on a hold it no longer has.
    #[test]
    fn a_late_capture_is_conditioned_on_the_expired_job() {
        let mut ledger = MemoryLedger::default();
        for event in [grant("g", 10), req(5)] {
            ledger.apply(&event, &meta()).unwrap();
        }
        ledger.expire("j", &meta()).unwrap();
        let event = rendered(7);
        let Decision::Apply(change) = decide(&event, &ledger.known(&event), &meta()).unwrap()
        else {
            panic!("a late capture applies");
        };
        let txn = transaction("t", &change, &meta(), &event.business_key(), "r");
        let items: Vec<TransactWriteItem> = txn.items.into_iter().map(|(_, w)| w).collect();
        let spelled = spell_all(&items);
        assert_eq!(spelled[0].when, guard(3, [10, 0, 10, 0, 0], 0));
        assert_eq!(
            spelled[1].when,
            when(&["v <= 3", "status = \"EXPIRED\"", "account_id = \"a\""])
        );
        spelled[1].assert_writes(&["status = \"DEBITED\"", "debited = 7", "entries = [2, 3, 4]"]);
    }

    /// A change between a split account's cells, by hand: its home cell
    /// holds 100 of 2 cells, a hold of 10 lands in cell 1, which does not
    /// exist: half the credits move in. Each cell is put as it was read
    /// (cell 1 absent; the home cell by its whole self, its count of cells
    /// included), each with its `transfer` entry, under the invocation's
    /// token.
    #[test]
    fn a_change_between_cells_puts_each_cell_as_read_with_its_entry() {
        let home = Account {
            available: 100,
            granted: 100,
            seq: 1,
            cells: 2,
            ..Account::new("a")
        };
        let gather = reconciler_core::cells::rebalance(
            &Account::in_cell("a", 1),
            false,
            &[home],
            2,
            10,
            &BusinessKey::transfer("j"),
            &meta(),
        )
        .unwrap();
        let txn = gather_transaction("t", &gather, &meta(), "r");
        let items: Vec<TransactWriteItem> = txn.items.into_iter().map(|(_, w)| w).collect();
        let spelled = spell_all(&items);
        let shape: Vec<(&str, &str)> = spelled.iter().map(|s| (s.op, s.key.as_str())).collect();
        assert_eq!(
            shape,
            [
                ("Put", "CELL#1#a / ACCOUNT"),
                ("Put", "CELL#1#a / ENTRY#00000000000000000001"),
                ("Put", "ACCOUNT#a / ACCOUNT"),
                ("Put", "ACCOUNT#a / ENTRY#00000000000000000002"),
            ]
        );
        assert_eq!(spelled[0].when, absent());
        assert_eq!(spelled[1].when, absent());
        let mut home_guard = guard(1, [100, 0, 100, 0, 0], 0);
        home_guard.retain(|c| !c.contains("cells"));
        home_guard.push("cells = 2".to_owned());
        home_guard.sort();
        assert_eq!(spelled[2].when, home_guard);
        spelled[0].assert_writes(&["available = 50", "transferred = 50", "cell = 1"]);
        spelled[2].assert_writes(&["available = 50", "transferred = -50", "cells = 2"]);
        spelled[3].assert_writes(&["kind = \"transfer\"", "key = \"transfer:j\""]);
        assert_eq!(txn.token.len(), 36);
    }
}
