//! The ledger commands' pure parts, from hand-written entries.

use reconciler::store::items::JobItem;
use reconciler_core::ledger::{Account, Entry, EntryKind, Job, JobStatus};
use serde_json::json;

use super::statement::first_seq_since;
use super::*;

fn entry(
    seq: u64,
    kind: EntryKind,
    key: &str,
    available_delta: i64,
    held_delta: i64,
    at_ms: i64,
    after: (i64, i64),
) -> Entry {
    Entry {
        cell: 0,
        transferred_delta: 0,
        account_id: "acme".into(),
        seq,
        kind,
        key: key.into(),
        amount: available_delta.abs().max(held_delta.abs()),
        available_delta,
        held_delta,
        granted_delta: if kind == EntryKind::Grant {
            available_delta
        } else {
            0
        },
        debited_delta: 0,
        adjusted_delta: 0,
        overdraft: 0,
        available_after: after.0,
        held_after: after.1,
        event_id: format!("evt-{seq}"),
        at_ms,
    }
}

const HOUR: i64 = 3_600_000;
const T0: i64 = 1_795_946_400_000; // 2026-11-29T10:00:00Z

fn sample() -> Statement {
    let entries = vec![
        entry(1, EntryKind::Grant, "grant:g1", 100, 0, T0, (100, 0)),
        entry(
            2,
            EntryKind::Hold,
            "job:j1:video.requested",
            -30,
            30,
            T0 + HOUR,
            (70, 30),
        ),
        entry(
            3,
            EntryKind::Hold,
            "job:j2:video.requested",
            -20,
            20,
            T0 + 2 * HOUR,
            (50, 50),
        ),
    ];
    Statement {
        account: Account {
            account_id: "acme".into(),
            available: 50,
            held: 50,
            granted: 100,
            seq: 3,
            ..Account::default()
        },
        entries,
        since_ms: None,
        open_holds: vec![OpenHold {
            job: Job {
                cell: 0,
                job_id: "j1".into(),
                account_id: "acme".into(),
                status: JobStatus::Held,
                requested: Some(30),
                hold: Some(30),
                debited: None,
                reason: None,
                entries: vec![2],
            },
            hold: 30,
            held_at_ms: T0 + HOUR,
        }],
        problems: vec![],
    }
}

#[tokio::test]
async fn the_window_starts_at_the_first_entry_at_or_after_since() {
    let times = [10, 20, 20, 30];
    let reads = std::sync::atomic::AtomicUsize::new(0);
    let at = |seq: u64| {
        reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let t = times[usize::try_from(seq).unwrap() - 1];
        async move { anyhow::Ok(t) }
    };
    assert_eq!(first_seq_since(4, 20, at).await.unwrap(), 2);
    assert_eq!(first_seq_since(4, 5, at).await.unwrap(), 1);
    assert_eq!(
        first_seq_since(4, 31, at).await.unwrap(),
        5,
        "none: after the last"
    );
    assert_eq!(first_seq_since(0, 5, at).await.unwrap(), 1, "no entries");
    reads.store(0, std::sync::atomic::Ordering::SeqCst);
    let many = |seq: u64| {
        reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move { anyhow::Ok(i64::try_from(seq).unwrap()) }
    };
    assert_eq!(
        first_seq_since(1_000_000, 765_432, many).await.unwrap(),
        765_432
    );
    assert!(
        reads.load(std::sync::atomic::Ordering::SeqCst) <= 21,
        "log2 of a million reads, not a million"
    );
}

#[test]
fn a_statement_shows_balances_running_balances_and_open_holds() {
    let text = render_statement(&sample(), "cc-agent-reconciler-ledger_dev", T0 + 3 * HOUR);
    assert!(
        text.contains("Account acme (cc-agent-reconciler-ledger_dev)"),
        "{text}"
    );
    assert!(
        text.contains("available 50, held 50; granted 100"),
        "{text}"
    );
    let entry_line = text.lines().find(|l| l.starts_with("2 ")).unwrap();
    for part in [
        "2026-11-29T11:00:00Z",
        "hold",
        "job:j1:video.requested",
        "-30",
        "+30",
        "70",
        "evt-2",
    ] {
        assert!(entry_line.contains(part), "{part} in {entry_line}");
    }
    assert!(text.contains("Open holds (1):"), "{text}");
    let hold_line = text.lines().find(|l| l.starts_with("j1 ")).unwrap();
    assert!(
        hold_line.contains("2h0m") && hold_line.contains("30"),
        "{hold_line}"
    );
    assert!(text.contains("Ledger check: the entries sum to the balances"));
}

#[test]
fn since_hides_earlier_entries_and_says_the_balances_before_them() {
    let mut s = sample();
    s.since_ms = Some(T0 + 90 * 60_000);
    let text = render_statement(&s, "t", T0 + 3 * HOUR);
    assert!(
        text.contains("(2 earlier; balances before them: available 70, held 30)"),
        "{text}"
    );
    assert!(!text.lines().any(|l| l.starts_with("1 ")));
    assert!(text.lines().any(|l| l.starts_with("3 ")));
    let csv = statement_csv(&s);
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .starts_with("3,2026-11-29T12:00:00Z,hold,")
    );
}

#[test]
fn drift_is_said_loudly() {
    let mut s = sample();
    s.problems = vec!["available: stored 50, the ledger entries sum to 40".into()];
    let text = render_statement(&s, "t", T0);
    assert!(text.contains("LEDGER CHECK FAILED"));
    assert!(text.contains("stored 50, the ledger entries sum to 40"));
}

#[test]
fn csv_quotes_what_needs_quoting() {
    let mut s = sample();
    s.entries[0].key = "grant:a,\"b\"".into();
    let csv = statement_csv(&s);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "seq,time,kind,key,amount,available_delta,held_delta,available_after,held_after,overdraft,event_id"
    );
    assert_eq!(
        lines[1],
        "1,2026-11-29T10:00:00Z,grant,\"grant:a,\"\"b\"\"\",100,100,0,100,0,0,evt-1"
    );
    assert_eq!(lines.len(), 4);
}

fn job_history() -> JobHistory {
    JobHistory {
        item: JobItem {
            cell: 0,
            pk: "JOB#j1".into(),
            sk: "JOB".into(),
            v: 1,
            job_id: "j1".into(),
            account_id: "acme".into(),
            status: "DEBITED".into(),
            requested: Some(30),
            hold: Some(30),
            debited: Some(25),
            reason: None,
            entries: vec![2, 4],
            request_event: Some("evt-req".into()),
            settle_event: Some("evt-render".into()),
            held_at_ms: None,
            request_id: None,
            updated_at_ms: T0,
            open_kind: None,
            open_key: None,
        },
        entries: vec![entry(
            2,
            EntryKind::Hold,
            "job:j1:video.requested",
            -30,
            30,
            T0,
            (70, 30),
        )],
    }
}

#[test]
fn a_job_history_says_who_moved_it() {
    let h = job_history();
    let text = render_job(&h, "t");
    assert!(
        text.starts_with("Job j1 of account acme (t): DEBITED"),
        "{text}"
    );
    assert!(text.contains("requested 30, hold 30, debited 25"));
    assert!(text.contains("request event evt-req, settle event evt-render"));
    assert!(text.contains("MISSING: the job names entries 4"), "{text}");
}

#[test]
fn an_adjustment_is_validated_before_it_is_sent_and_its_envelope_is_stable() {
    let a = Adjustment {
        adjustment_id: "adj-1".into(),
        account_id: "acme".into(),
        credits: -25,
        reason: "double top-up".into(),
    };
    assert_eq!(a.validate(), Ok(()));
    let e = a.envelope(T0);
    assert_eq!(e["detail-type"], "credits.adjusted");
    assert_eq!(e["source"], OPERATOR_SOURCE);
    assert_eq!(e["id"], "operator-adj-1");
    assert_eq!(
        e["detail"],
        json!({"adjustment_id": "adj-1", "account_id": "acme", "credits": -25, "reason": "double top-up"})
    );
    assert_eq!(a.envelope(T0), e, "a retry sends the same envelope");
    let zero = Adjustment {
        credits: 0,
        ..a.clone()
    };
    assert!(zero.validate().unwrap_err().contains("detail.credits"));
    let no_reason = Adjustment {
        reason: String::new(),
        ..a.clone()
    };
    assert!(no_reason.validate().unwrap_err().contains("detail.reason"));
    let huge = Adjustment {
        credits: 1_000_000_000_001,
        ..a
    };
    assert!(huge.validate().is_err());
    let id = new_adjustment_id(T0, 0xdead_beef);
    assert_eq!(id, "adj-20261129t100000z-deadbeef");
    assert!(
        Adjustment {
            adjustment_id: id,
            account_id: "a".into(),
            credits: 1,
            reason: "r".into()
        }
        .validate()
        .is_ok()
    );
}

#[test]
fn the_response_is_spelled_out() {
    let r = json!({"outcome": "adjusted", "account": {"account_id": "acme", "available": 75, "held": 0}});
    let text = render_response(&r);
    assert!(
        text.starts_with("outcome adjusted: account acme available 75, held 0"),
        "{text}"
    );
    assert!(render_response(&json!({"outcome": "conflict", "account": {}})).contains("CONFLICT"));
}

#[test]
fn the_command_lines_parse() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }
    let Command::Adjust {
        account,
        credits,
        reason,
        id,
        yes,
        ..
    } = Cli::parse_from([
        "x",
        "adjust",
        "--stage",
        "prod",
        "acme",
        "--credits",
        "-25",
        "--reason",
        "r",
    ])
    .command
    else {
        panic!("not adjust");
    };
    assert_eq!(
        (account.as_str(), credits, reason.as_str(), id, yes),
        ("acme", -25, "r", None, false)
    );
    assert!(
        Cli::try_parse_from(["x", "adjust", "--stage", "dev", "acme", "--credits", "5"]).is_err(),
        "a reason is required"
    );
    assert!(matches!(
        Cli::parse_from([
            "x",
            "statement",
            "--stage",
            "dev",
            "acme",
            "--csv",
            "--since",
            "7d"
        ])
        .command,
        Command::Statement {
            csv: true,
            since: Some(_),
            ..
        }
    ));
    assert!(matches!(
        Cli::parse_from(["x", "job", "--stage", "dev", "j1"]).command,
        Command::Job { .. }
    ));
}

/// The JSON a script reads, field by field as docs/operations.md#json
/// documents it.
#[test]
fn statement_and_job_json_follow_their_schemas() {
    let v = json::statement(&sample(), "cc-agent-reconciler-ledger_dev", T0 + 3 * HOUR);
    assert_eq!(v["table"], "cc-agent-reconciler-ledger_dev");
    assert_eq!(
        v["account"],
        json!({"account_id": "acme", "available": 50, "held": 50, "granted": 100,
               "debited": 0, "adjusted": 0, "entries": 3, "overdrafts": 0})
    );
    assert_eq!(v["since"], json!(null));
    assert_eq!(v["entries"].as_array().unwrap().len(), 3);
    assert_eq!(
        v["entries"][1],
        json!({"cell": 0, "seq": 2, "at": "2026-11-29T11:00:00Z", "kind": "hold",
               "key": "job:j1:video.requested", "amount": 30, "available_delta": -30,
               "held_delta": 30, "available_after": 70, "held_after": 30, "overdraft": 0,
               "event_id": "evt-2"})
    );
    assert_eq!(
        v["open_holds"],
        json!([{"job_id": "j1", "hold": 30, "held_at": "2026-11-29T11:00:00Z",
                "age_seconds": 7200, "requested": 30}])
    );
    assert_eq!(
        (v["balanced"].clone(), v["problems"].clone()),
        (json!(true), json!([]))
    );

    let v = json::job(&job_history(), "t");
    assert_eq!(
        (
            v["job_id"].as_str(),
            v["status"].as_str(),
            v["debited"].as_i64()
        ),
        (Some("j1"), Some("DEBITED"), Some(25))
    );
    assert_eq!(v["entries"][0]["seq"], 2);
    assert_eq!(v["missing_entries"], json!([4]));
    assert_eq!(v["held_at"], json!(null));
}

/// `ledger adjust` on a misspelt account: refused, not a new funded
/// account; the balance before and after otherwise.
#[test]
fn an_adjustment_shows_the_balance_and_refuses_an_account_with_no_entries() {
    let adjustment = Adjustment {
        adjustment_id: "adj-1".into(),
        account_id: "acmee".into(),
        credits: 500,
        reason: "goodwill".into(),
    };
    let refused = preview(None, &adjustment, false, "t").unwrap_err();
    assert!(
        refused.starts_with("account \"acmee\" has no entries in t")
            && refused.contains("--create-account"),
        "{refused}"
    );
    assert_eq!(
        preview(None, &adjustment, true, "t").unwrap(),
        "Account acmee has no entries in t: --create-account opens it; after the correction \
         (+500): available 500, held 0."
    );
    let acme = sample().account;
    let adjustment = Adjustment {
        account_id: "acme".into(),
        credits: -25,
        ..adjustment
    };
    assert_eq!(
        preview(Some(&acme), &adjustment, false, "t").unwrap(),
        "Account acme: available 50, held 50; after the correction (-25): available 25, held 50."
    );
}
