//! Nothing stored can crash a run, at the adapter: any item the table may
//! hold — missing attributes, attributes of the wrong type, numbers out of
//! range, keys that disagree with the content, items of one kind where
//! another was expected, valid items that contradict each other — is
//! decoded into what this code reads or refused naming the item, and a
//! command deciding on any such items answers or fails with an error,
//! never a panic. (The core's own property tests, `tests/stored.rs`, feed
//! `decide`, the expiry and the audit every state.)

use aws_sdk_dynamodb::types::AttributeValue;
use proptest::prelude::*;
use reconciler_core::event::Event;

use super::items::{
    AccountItem, AdjustmentItem, AuditCheckpointItem, ConflictItem, EntryItem, GrantItem, JobItem,
    OpenHold, SweepStateItem, describe_key, from_item,
};
use super::keys::Item;
use super::mock::{Dynamo, account_item, after, grant, job_item, requested};

// The test (not the code) reads its knob from the environment.
#[allow(clippy::disallowed_methods)]
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
        .min(2_000);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// The names the ledger's items use, and one they never do.
const NAMES: [&str; 22] = [
    "pk",
    "sk",
    "v",
    "account_id",
    "job_id",
    "grant_id",
    "status",
    "available",
    "held",
    "granted",
    "debited",
    "adjusted",
    "seq",
    "overdrafts",
    "hold",
    "requested",
    "entries",
    "kind",
    "key",
    "held_delta",
    "audited_seq",
    "unknown",
];

/// An attribute value as a table may hold one: the right type or not,
/// numbers in range or not.
fn value() -> impl Strategy<Value = AttributeValue> {
    let number = prop_oneof![
        (-5..200i64).prop_map(|n| n.to_string()),
        Just(i64::MAX.to_string()),
        Just(u64::MAX.to_string()),
        Just("99999999999999999999999".to_owned()),
        Just("-1".to_owned()),
        Just("1.5".to_owned()),
        Just("1e3".to_owned()),
    ];
    let text = prop_oneof![
        Just("ACCOUNT#a1".to_owned()),
        Just("ACCOUNT".to_owned()),
        Just("JOB#j1".to_owned()),
        Just("JOB".to_owned()),
        Just("HELD".to_owned()),
        Just("hold".to_owned()),
        Just("job:j1:hold".to_owned()),
        Just("a1".to_owned()),
        Just("j1".to_owned()),
        "[a-zA-Z0-9#:]{0,6}",
    ];
    let leaf = prop_oneof![
        4 => number.prop_map(AttributeValue::N),
        4 => text.prop_map(AttributeValue::S),
        1 => any::<bool>().prop_map(AttributeValue::Bool),
        1 => Just(AttributeValue::Null(true)),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(AttributeValue::L),
            prop::collection::hash_map("[a-z]{1,3}", inner, 0..3).prop_map(AttributeValue::M),
        ]
    })
}

/// An item made of any of the ledger's names with any values.
fn any_item() -> impl Strategy<Value = Item> {
    prop::collection::hash_map(
        prop::sample::select(NAMES.to_vec()),
        value(),
        0..NAMES.len(),
    )
    .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// A valid item with one attribute replaced by anything, or removed.
fn bent(valid: Item) -> impl Strategy<Value = Item> {
    let names: Vec<String> = valid.keys().cloned().collect();
    (prop::sample::select(names), prop::option::of(value())).prop_map(move |(name, v)| {
        let mut item = valid.clone();
        match v {
            Some(v) => item.insert(name, v),
            None => item.remove(&name),
        };
        item
    })
}

/// What a read may find at a key: nothing, the valid item, a bent one,
/// another valid item (of another kind), or anything.
fn stored(valid: Item, other: Item) -> impl Strategy<Value = Option<Item>> {
    prop_oneof![
        Just(None),
        Just(Some(valid.clone())),
        bent(valid).prop_map(Some),
        Just(Some(other)),
        any_item().prop_map(Some),
    ]
}

/// Decodes `item` as every kind of ledger item, validating what has rules.
fn decode_all(item: &Item) -> Vec<Result<(), String>> {
    vec![
        from_item::<AccountItem>(item.clone(), "account").and_then(|i| i.account().map(drop)),
        from_item::<JobItem>(item.clone(), "job").and_then(|i| i.job().map(drop)),
        from_item::<EntryItem>(item.clone(), "entry").and_then(|i| i.entry().map(drop)),
        from_item::<GrantItem>(item.clone(), "grant").and_then(|i| i.grant().map(drop)),
        from_item::<AdjustmentItem>(item.clone(), "adjustment")
            .and_then(|i| i.adjustment().map(drop)),
        from_item::<AuditCheckpointItem>(item.clone(), "audit checkpoint").map(drop),
        from_item::<SweepStateItem>(item.clone(), "sweep state").map(drop),
        from_item::<OpenHold>(item.clone(), "held job (index)").map(drop),
        from_item::<ConflictItem>(item.clone(), "conflict").map(drop),
    ]
}

/// Runs `f` on a fresh single-threaded runtime (one per case).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(f)
}

fn commands() -> Vec<Event> {
    vec![
        grant("g1", "a1", 10),
        requested("j1", "a1", 30),
        super::mock::rendered("j1", "a1", 25),
        super::mock::failed_job("j1", "a1"),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Any item decodes as any kind, or is refused with a message naming
    /// it (its key, when it has one): never a panic.
    #[test]
    fn any_stored_item_decodes_or_is_refused_naming_it(item in any_item()) {
        let key = describe_key(&item);
        for decoded in decode_all(&item) {
            if let Err(why) = decoded {
                prop_assert!(!why.is_empty());
                if item.contains_key("pk") && why.starts_with("malformed") {
                    prop_assert!(why.contains(&key), "{} does not name {}", why, key);
                }
            }
        }
    }

    /// Any event or expiry, decided on whatever a consistent read finds at
    /// its keys: an answer, or an error — never a panic.
    #[test]
    fn a_command_on_any_stored_items_answers_or_fails(
        n in 0..5usize,
        account in stored(
            account_item(&after(&[grant("g1", "a1", 100), requested("j1", "a1", 30)]).accounts["a1"]),
            job_item(&after(&[grant("g1", "a1", 100), requested("j1", "a1", 30)]).jobs["j1"]),
        ),
        job in stored(
            job_item(&after(&[grant("g1", "a1", 100), requested("j1", "a1", 30)]).jobs["j1"]),
            account_item(&after(&[grant("g1", "a1", 100)]).accounts["a1"]),
        ),
        record in prop::option::of(any_item()),
    ) {
        let commands = commands();
        let items = match commands.get(n) {
            Some(Event::Granted { .. }) => vec![account, record],
            _ => vec![account, job],
        };
        let dynamo = Dynamo::any_order(items);
        let ledger = dynamo.ledger();
        let _ = block_on(async {
            match commands.get(n) {
                Some(event) => ledger.apply(event, "e").await.map(drop),
                None => ledger.expire("j1", "a1", "sweep").await.map(drop),
            }
        });
    }
}

/// The decoding of a valid item still works (the generators above would
/// pass on code that refused everything).
#[test]
fn valid_items_decode() {
    let state = after(&[grant("g1", "a1", 100), requested("j1", "a1", 30)]);
    let account = account_item(&state.accounts["a1"]);
    assert!(decode_all(&account)[0].is_ok());
    assert!(decode_all(&job_item(&state.jobs["j1"]))[1].is_ok());
}
