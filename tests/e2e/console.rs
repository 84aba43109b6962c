//! The console's guard rails against a running stage, through the `cargo
//! xtask` binary as a person on call runs it (no terminal, so every
//! question that is not answered by a flag is refused): the writes nobody
//! asked for, and the commands that would put events on a bus whose ledger
//! rule reaches nobody.

use infra::{Stage, StageConfig};
use serde_json::Value;

use crate::plane::{start, start_with};
use crate::rehearsals::xtask;

/// On staging a sweep that writes says how many open holds it would take
/// and asks; an age below the hold timeout needs its flag; a correction of
/// an account with no entries (a misspelt id) is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_nobody_asked_for_are_refused_on_staging() {
    let plane = start(Stage::Staging).await;

    let swept = xtask(&plane, &["sweep"]).await;
    assert_eq!(
        swept.code,
        Some(1),
        "asked, and nobody answered: {}",
        swept.out
    );
    assert!(
        swept
            .out
            .contains("Sweep: expire and refund 0 open hold(s) older than 6h0m"),
        "{}",
        swept.out
    );

    let young = xtask(&plane, &["sweep", "--older-than", "10m", "--yes"]).await;
    assert_eq!(young.code, Some(1), "{}", young.out);
    assert!(
        young
            .out
            .contains("is below the stage's hold timeout (6h0m)")
            && young.out.contains("--below-hold-timeout"),
        "{}",
        young.out
    );

    let args = [
        "ledger",
        "adjust",
        "acmee",
        "--credits",
        "500",
        "--reason",
        "goodwill",
        "--yes",
    ];
    let adjusted = xtask(&plane, &args).await;
    assert_eq!(adjusted.code, Some(1), "{}", adjusted.out);
    assert!(
        adjusted.out.contains("account \"acmee\" has no entries")
            && adjusted.out.contains("--create-account"),
        "{}",
        adjusted.out
    );
}

/// A stage whose stage file names no producer deploys its ledger rule
/// disabled: `status` says so and needs a person, and `dlq replay` refuses
/// (what it puts on the bus would reach nobody, and its letters would be
/// deleted as delivered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_ledger_rule_is_said_and_refuses_replays() {
    let mut config = StageConfig::load(Stage::Dev).unwrap();
    config.producers.clear();
    let plane = start_with(config).await;

    let status = xtask(&plane, &["status"]).await;
    assert_eq!(status.code, Some(2), "{}", status.out);
    assert!(
        status.out.contains("the ledger rule") && status.out.contains("is DISABLED"),
        "{}",
        status.out
    );

    let replayed = xtask(&plane, &["dlq", "replay", "--all"]).await;
    assert_eq!(replayed.code, Some(1), "{}", replayed.out);
    assert!(
        replayed.out.contains("dlq replay refused: the ledger rule"),
        "{}",
        replayed.out
    );
}

/// `--json` prints one JSON document on standard output, whatever else is
/// said on standard error; `logs` says what it showed of which window, and
/// refuses an inverted one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_on_standard_output_and_the_logs_window_said() {
    let plane = start(Stage::Dev).await;
    let json = |ran: &crate::rehearsals::Ran| -> Value {
        serde_json::from_str(&ran.stdout)
            .unwrap_or_else(|e| panic!("JSON on standard output ({e}): {}", ran.out))
    };

    let status = xtask(&plane, &["status", "--json"]).await;
    let report = json(&status);
    assert_eq!(report["stage"], "dev", "{report}");
    let roles: Vec<&str> = report["rules"]
        .as_array()
        .unwrap_or_else(|| panic!("rules read: {report}"))
        .iter()
        .filter_map(|r| r["role"].as_str())
        .collect();
    assert!(
        roles.contains(&"ledger") && roles.contains(&"unrouted"),
        "{roles:?}"
    );
    let needs = report["needs_a_person"].as_array().unwrap();
    assert_eq!(
        status.code,
        Some(if needs.is_empty() { 0 } else { 2 }),
        "the exit code is the verdict's: {}",
        status.out
    );

    let swept = xtask(&plane, &["sweep", "--dry-run", "--json"]).await;
    assert_eq!(swept.code, Some(0), "{}", swept.out);
    let swept = json(&swept);
    assert_eq!(swept["report"]["dry_run"], true, "{swept}");
    assert_eq!(swept["needs_a_person"], serde_json::json!([]));

    let unrouted = xtask(&plane, &["unrouted", "list", "--json"]).await;
    assert_eq!(
        json(&unrouted)["events"],
        serde_json::json!([]),
        "{}",
        unrouted.out
    );

    // An error prints no JSON, only its line on standard error.
    let statement = xtask(&plane, &["ledger", "statement", "nobody", "--json"]).await;
    assert_eq!(statement.code, Some(1), "{}", statement.out);
    assert_eq!(statement.stdout, "", "{}", statement.out);
    assert!(
        statement.out.contains("no account \"nobody\""),
        "{}",
        statement.out
    );

    let logs = xtask(
        &plane,
        &["logs", "--since", "1m", "--filter", "no line says this"],
    )
    .await;
    assert_eq!(logs.code, Some(0), "{}", logs.out);
    assert!(logs.out.contains("0 lines from "), "{}", logs.out);
    let inverted = xtask(&plane, &["logs", "--since", "1h", "--until", "2h"]).await;
    assert_eq!(inverted.code, Some(1), "{}", inverted.out);
    assert!(
        inverted.out.contains("is not before --until"),
        "{}",
        inverted.out
    );
}
