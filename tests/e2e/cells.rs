//! A split account end to end on moto: the store's reads and transactions
//! of cells (ARCHITECTURE.md, "Cells"), the sweep's audit of every cell,
//! the operator's statement and split. The cells each event lands in are
//! FNV-1a of its id modulo 4, computed apart (`g1` 1, `g2` 0, `j1` 0,
//! `j2` 1, `j3` 2, `j5` 0, `over` 3); every expected figure is worked by
//! hand from them.

use aws_sdk_dynamodb::Client;
use reconciler::config::{StragglerAction, SweepConfig};
use reconciler::store::{Applied, Ledger, StoreError, now_ms};
use reconciler::sweep::{Sweep, SweepInput};
use reconciler_core::ledger::{Account, EntryKind, Outcome};
use testkit::events::*;

const FARM: &str = "farm";

async fn env() -> (Client, String) {
    let sdk = testkit::emulator::sdk_config(testkit::emulator::moto::shared_endpoint()).await;
    let client = Client::new(&sdk);
    let table = testkit::fresh_table(&client, "cells").await;
    (client, table)
}

/// The account's balances as a response says them.
fn balances(applied: &Applied) -> (i64, i64) {
    (applied.account.available, applied.account.held)
}

/// Every cell of the farm as stored: (available, held, owing).
async fn cells(ledger: &Ledger) -> Vec<Option<(i64, i64, bool)>> {
    let mut all = Vec::new();
    for k in 0..4 {
        let cell = ledger.account(FARM, k).await.unwrap();
        all.push(cell.map(|c: Account| (c.available, c.held, c.owing)));
    }
    all
}

#[tokio::test]
async fn a_split_account_holds_gathers_owes_and_is_audited_per_cell() {
    let (client, table) = env().await;
    let ledger = Ledger::new(client.clone(), table.clone());
    let home = ledger.split_account(FARM, 4).await.unwrap();
    assert_eq!((home.cells, home.seq), (4, 0));

    let step = |event| {
        let ledger = &ledger;
        async move {
            ledger
                .apply(&event, &format!("e-{}", fastrand::u32(..)))
                .await
                .unwrap()
        }
    };
    let a = step(grant("g1", FARM, 1_000)).await;
    assert_eq!((a.outcome, balances(&a)), (Outcome::Granted, (1_000, 0)));
    // j1 lands in cell 0, empty: a quarter of the 1,000 moves in first.
    let a = step(req("j1", FARM, 100)).await;
    assert_eq!((a.outcome, balances(&a)), (Outcome::Held, (900, 100)));
    // j3 in cell 2, which does not exist: its share of 900 (225) moves in.
    let a = step(req("j3", FARM, 100)).await;
    assert_eq!((a.outcome, balances(&a)), (Outcome::Held, (800, 200)));
    assert_eq!(
        cells(&ledger).await,
        [
            Some((150, 100, false)),
            Some((525, 0, false)),
            Some((125, 100, false)),
            None
        ]
    );
    // j2 in cell 1, known to this instance and rich enough: the hold and the
    // response's read of every cell, nothing else.
    let a = step(req("j2", FARM, 100)).await;
    assert_eq!(
        (a.outcome, balances(&a), a.requests),
        (Outcome::Held, (700, 300), 2)
    );
    // More than the whole account has: rejected on a read of every cell.
    let a = step(req("over", FARM, 750)).await;
    assert_eq!((a.outcome, balances(&a)), (Outcome::Rejected, (700, 300)));

    // j1 is rendered for 1,500 on its hold of 100: the account goes below
    // zero, so every cell is marked owing first (cell 3 created marked).
    let a = step(rendered("j1", FARM, 1_500)).await;
    assert_eq!(
        (a.outcome, balances(&a), a.overdraft),
        (Outcome::Debited, (-700, 200), 1_400)
    );
    assert_eq!(
        cells(&ledger).await,
        [
            Some((-1_250, 0, true)),
            Some((425, 100, true)),
            Some((125, 100, true)),
            Some((0, 0, true))
        ]
    );
    let a = step(grant("g2", FARM, 1_000)).await;
    assert_eq!(balances(&a), (300, 200));
    // j5 in marked cell 0: every cell read; the account covers it, so cell
    // 0 is paid its 350 from cell 1's surplus and every mark is cleared.
    let a = step(req("j5", FARM, 100)).await;
    assert_eq!((a.outcome, balances(&a)), (Outcome::Held, (200, 300)));
    assert_eq!(
        cells(&ledger).await,
        [
            Some((0, 100, false)),
            Some((75, 100, false)),
            Some((125, 100, false)),
            Some((0, 0, false))
        ]
    );

    // The sweep audits each cell as an account: four marks, no drift.
    let config = SweepConfig {
        stage: "cells".into(),
        table: table.clone(),
        hold_timeout_seconds: 21_600,
        straggler_action: StragglerAction::Report,
        summarizer: None,
    };
    let report = Sweep::new(Ledger::new(client.clone(), table.clone()), &config, None)
        .run(&SweepInput::default(), now_ms() + 60_000, "sweep-cells")
        .await
        .unwrap();
    assert_eq!((report.audited_accounts, report.audit_marks_kept), (4, 0));
    assert!(report.drift.is_empty(), "{:?}", report.drift);

    // The operator's statement: the account's sums, every cell's entries.
    let s = operator::commands::ledger::statement(&ledger, &table, FARM, None)
        .await
        .unwrap();
    assert_eq!(
        (s.account.available, s.account.held, s.account.cells),
        (200, 300, 4)
    );
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    let transfers = s.entries.iter().filter(|e| e.kind == EntryKind::Transfer);
    assert_eq!(transfers.map(|e| e.transferred_delta).sum::<i64>(), 0);
    assert_eq!(s.open_holds.len(), 3, "j2, j3, j5");
    assert!(
        operator::commands::ledger::render_statement(&s, &table, now_ms())
            .contains("split over 4 cells")
    );

    // A split only adds cells; more cells, and the account goes on.
    let fewer = ledger.split_account(FARM, 2).await.unwrap_err();
    assert!(
        matches!(&fewer, StoreError::Refused { message, .. } if message.contains("4..=32")),
        "{fewer}"
    );
    assert_eq!(ledger.split_account(FARM, 8).await.unwrap().cells, 8);
    let a = Ledger::new(client, table)
        .apply(&failed("j3", FARM), "e-late")
        .await
        .unwrap();
    assert_eq!(
        (a.outcome, balances(&a), a.account.cells),
        (Outcome::Refunded, (300, 200), 8)
    );
}

/// An instance that knew an account whole (its home cell cached) meets it
/// split and below zero: its guess in the home cell is cancelled by the
/// guard on the count of cells and the mark, and it reads again and
/// decides on every cell. Deciding on the learnt home cell as if the
/// account still had one would hold 30 of an account at -400.
#[tokio::test]
async fn an_instance_that_knew_the_account_whole_learns_it_was_split() {
    let (client, table) = env().await;
    let warm = Ledger::new(client.clone(), table.clone());
    let a = warm.apply(&grant("g1", "farm2", 100), "e1").await.unwrap();
    assert_eq!(balances(&a), (100, 0));
    let other = Ledger::new(client, table);
    other.split_account("farm2", 2).await.unwrap();
    // j2 lands in cell 1 of 2, empty: the account goes to -400, every cell
    // marked owing first.
    let a = other
        .apply(&rendered("j2", "farm2", 500), "e2")
        .await
        .unwrap();
    assert_eq!((a.outcome, balances(&a)), (Outcome::Debited, (-400, 0)));

    // j1 lands in cell 0 of 2 (and of 1): the warm instance's home cell.
    let a = warm.apply(&req("j1", "farm2", 30), "e3").await.unwrap();
    assert_eq!(
        (a.outcome, balances(&a), a.account.cells),
        (Outcome::Rejected, (-400, 0), 2)
    );
}

/// A redelivered request whose job another instance created meanwhile in
/// another cell (it knew the account split into 3, this instance into 2):
/// the cancellation shows the job in cell 2 while this instance decided in
/// cell 1 (`j6`: FNV-1a modulo 2 is 1, modulo 3 is 2). It reads again and
/// answers `duplicate`; deciding on the two pictures together would call
/// the account broken.
#[tokio::test]
async fn a_job_created_in_another_cell_meanwhile_is_read_where_it_is() {
    let (client, table) = env().await;
    let first = Ledger::new(client.clone(), table.clone());
    first.split_account("farm3", 2).await.unwrap();
    let warm = Ledger::new(client.clone(), table.clone());
    for (grant_id, event_id) in [("g1", "e1"), ("g2", "e2")] {
        warm.apply(&grant(grant_id, "farm3", 100), event_id)
            .await
            .unwrap();
    }
    let other = Ledger::new(client, table);
    other.split_account("farm3", 3).await.unwrap();
    let a = other.apply(&req("j6", "farm3", 30), "e3").await.unwrap();
    assert_eq!((a.outcome, balances(&a)), (Outcome::Held, (170, 30)));

    let a = warm
        .apply(&req("j6", "farm3", 30), "e3-again")
        .await
        .unwrap();
    assert_eq!(
        (a.outcome, balances(&a), a.account.cells),
        (Outcome::Duplicate, (170, 30), 3)
    );
}
