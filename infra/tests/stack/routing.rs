//! Who may put what on a stage's bus, and where each event goes: the bus
//! policy evaluated with `infra::policy` (an unnamed principal's
//! `credits.granted` is refused, a named producer's allowed, on every
//! stage), and the rules' patterns checked with a small event-pattern
//! matcher written from EventBridge's documentation (every live event goes
//! to exactly one of the ledger-events and unrouted rules; a replay to its
//! detail-type's replay rule only from a producer's source).

use infra::policy::resolve::Environment;
use infra::policy::stack::StackPolicies;
use infra::policy::{Caller, Decision, Policy, Request};
use infra::producers::TEST_PRODUCER_SOURCE;
use infra::stack::ids;
use infra::{Producer, ProducerPrincipal, Stage, StageConfig};
use reconciler_core::event::{CREDITS_ADJUSTED, DETAIL_TYPES};
use serde_json::{Value, json};

use crate::support::{Synth, loaded};

const ACCOUNT: &str = "111122223333";

fn role(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

fn producer(detail_type: &str, source: &str, roles: &[&str]) -> Producer {
    Producer {
        detail_type: detail_type.to_owned(),
        source: source.to_owned(),
        principals: roles
            .iter()
            .map(|r| ProducerPrincipal::Arn(role(r)))
            .collect(),
    }
}

/// `cfg` with more producers.
fn with(cfg: StageConfig, more: Vec<Producer>) -> StageConfig {
    let mut producers = cfg.producers.clone();
    producers.extend(more);
    StageConfig { producers, ..cfg }
}

/// Whether `caller` may put one event of `detail_type` from `source`, given
/// an identity policy that lets it put anything on the bus.
fn may_put(policies: &StackPolicies, caller: &str, detail_type: &str, source: &str) -> Decision {
    let bus = policies.arn(ids::EVENT_BUS).unwrap();
    let put_anything = Policy::parse(
        "producer",
        &json!({"Statement": {"Effect": "Allow", "Action": "events:PutEvents", "Resource": "*"}}),
    )
    .unwrap();
    let request = Request::new(Caller::Iam(caller.to_owned()), "events:PutEvents", &bus)
        .with("events:detail-type", detail_type)
        .with("events:source", source);
    policies.authorize(&request, &[put_anything]).decision
}

fn policies(cfg: &StageConfig) -> StackPolicies {
    StackPolicies::of(cfg, &Environment::example()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn only_a_named_producer_may_put_credits_granted_on_every_stage() {
    for stage in Stage::ALL {
        let cfg = with(
            loaded(stage),
            vec![producer(
                "credits.granted",
                "billing.payments",
                &["billing-webhook"],
            )],
        );
        assert_eq!(cfg.validate(), Ok(()));
        let p = policies(&cfg);
        let named = role("billing-webhook");
        let unnamed = role("render-service");
        assert_eq!(
            may_put(&p, &named, "credits.granted", "billing.payments"),
            Decision::Allow,
            "{stage}"
        );
        assert_eq!(
            may_put(&p, &unnamed, "credits.granted", "billing.payments"),
            Decision::ExplicitDeny,
            "{stage}: another principal with the producer's source"
        );
        assert_eq!(
            may_put(&p, &named, "credits.granted", "billing.refunds"),
            Decision::ExplicitDeny,
            "{stage}: the producer with another source"
        );
        let elsewhere = "arn:aws:iam::444455556666:role/billing-webhook";
        assert_ne!(
            may_put(&p, elsewhere, "credits.granted", "billing.payments"),
            Decision::Allow,
            "{stage}: another account"
        );
        // Nobody, not even a producer, puts an adjustment on the bus.
        assert_eq!(
            may_put(&p, &named, CREDITS_ADJUSTED, "billing.payments"),
            Decision::ExplicitDeny,
            "{stage}"
        );
        // Without the entry, nobody may put credits.granted on staging and
        // prod; dev's test producer still may, from its source only.
        let p = policies(&loaded(stage));
        let expected = if stage == Stage::Dev {
            Decision::Allow
        } else {
            Decision::ExplicitDeny
        };
        assert_eq!(
            may_put(&p, &named, "credits.granted", TEST_PRODUCER_SOURCE),
            expected,
            "{stage}"
        );
        assert_eq!(
            may_put(&p, &named, "credits.granted", "billing.payments"),
            Decision::ExplicitDeny,
            "{stage}"
        );
    }
}

#[test]
fn staging_and_prod_accept_no_ledger_event_until_their_producers_are_named() {
    for stage in [Stage::Staging, Stage::Prod] {
        let p = policies(&loaded(stage));
        for detail_type in DETAIL_TYPES {
            assert_eq!(
                may_put(&p, &role("anyone"), detail_type, "render.service"),
                Decision::ExplicitDeny,
                "{stage}: {detail_type}"
            );
        }
        // Other detail-types are not the bus policy's business (they are
        // unrouted).
        assert_eq!(
            may_put(&p, &role("anyone"), "video.renderd", "render.service"),
            Decision::Allow
        );
    }
    // Dev: any principal of the account, from the test source.
    let p = policies(&loaded(Stage::Dev));
    for detail_type in DETAIL_TYPES {
        assert_eq!(
            may_put(&p, &role("anyone"), detail_type, TEST_PRODUCER_SOURCE),
            Decision::Allow
        );
        assert_eq!(
            may_put(&p, &role("anyone"), detail_type, "render.service"),
            Decision::ExplicitDeny,
            "dev: {detail_type} from another source"
        );
    }
}

/// Whether `event` matches `pattern`, as EventBridge's event-pattern page
/// describes it: every field of the pattern must match; an array lists the
/// matchers of which one must match (exact values, `anything-but`,
/// `prefix`, `exists`); an object goes one level into the event; `$or`
/// matches if any of its patterns does. Only `exists: false` matches a
/// missing field.
fn matches(pattern: &Value, event: &Value) -> bool {
    pattern
        .as_object()
        .unwrap()
        .iter()
        .all(|(key, matcher)| match (key.as_str(), matcher) {
            ("$or", Value::Array(patterns)) => patterns.iter().any(|p| matches(p, event)),
            (_, Value::Object(_)) => matches(matcher, &event[key]),
            (_, Value::Array(matchers)) => matchers.iter().any(|m| one(m, event.get(key))),
            other => panic!("a pattern field is a list or an object: {other:?}"),
        })
}

fn one(matcher: &Value, value: Option<&Value>) -> bool {
    let text = value.and_then(Value::as_str);
    match matcher {
        Value::String(_) => value == Some(matcher),
        Value::Object(map) => match map.iter().next().unwrap() {
            (op, Value::Bool(exists)) if op == "exists" => value.is_some() == *exists,
            (op, Value::String(prefix)) if op == "prefix" => {
                text.is_some_and(|t| t.starts_with(prefix.as_str()))
            }
            (op, Value::Array(values)) if op == "anything-but" => {
                text.is_some_and(|t| !values.iter().any(|v| v == t))
            }
            other => panic!("matcher {other:?} is not modelled"),
        },
        other => panic!("matcher {other} is not modelled"),
    }
}

#[test]
fn the_matcher_follows_the_event_pattern_page() {
    let event = json!({"source": "a", "detail-type": "t", "detail": {"k": "v"}});
    assert!(matches(&json!({"source": ["a", "b"]}), &event));
    assert!(!matches(&json!({"source": ["b"]}), &event));
    assert!(matches(&json!({"detail": {"k": ["v"]}}), &event));
    assert!(matches(
        &json!({"source": [{"anything-but": ["b"]}]}),
        &event
    ));
    assert!(!matches(
        &json!({"source": [{"anything-but": ["a"]}]}),
        &event
    ));
    assert!(!matches(
        &json!({"missing": [{"anything-but": ["a"]}]}),
        &event
    ));
    assert!(matches(&json!({"source": [{"prefix": ""}]}), &event));
    assert!(matches(
        &json!({"replay-name": [{"exists": false}]}),
        &event
    ));
    assert!(!matches(
        &json!({"replay-name": [{"exists": true}]}),
        &event
    ));
    assert!(matches(
        &json!({"$or": [{"source": ["b"]}, {"detail-type": ["t"]}]}),
        &event
    ));
    assert!(!matches(
        &json!({"$or": [{"source": ["b"]}, {"detail-type": ["u"]}]}),
        &event
    ));
}

/// A rule's pattern when it is enabled.
fn enabled_pattern(synth: &Synth, rule_id: &str) -> Option<Value> {
    let p = &synth.resource(rule_id)["Properties"];
    (p["State"] == "ENABLED").then(|| p["EventPattern"].clone())
}

/// The stages' configs, and prod with producers of different sources (one
/// detail-type from two, two sharing one) and one detail-type without.
fn routing_configs() -> Vec<StageConfig> {
    let mut configs: Vec<StageConfig> = Stage::ALL.map(loaded).to_vec();
    configs.push(with(
        loaded(Stage::Prod),
        vec![
            producer("credits.granted", "billing.payments", &["billing"]),
            producer("video.rendered", "render.farm", &["farm"]),
            producer("video.failed", "render.farm", &["farm"]),
            producer("video.failed", "render.edge", &["edge"]),
        ],
    ));
    configs
}

#[test]
fn every_live_event_goes_to_the_handler_or_the_unrouted_queue_never_both() {
    for cfg in routing_configs() {
        let synth = Synth::of_config(&cfg);
        let ledger = enabled_pattern(&synth, ids::LEDGER_EVENTS_RULE);
        let unrouted = enabled_pattern(&synth, ids::UNROUTED_EVENTS_RULE).expect("always on");
        let mut sources: Vec<&str> = cfg.producers.iter().map(|p| p.source.as_str()).collect();
        sources.extend([TEST_PRODUCER_SOURCE, "someone.else"]);
        let detail_types = DETAIL_TYPES
            .iter()
            .copied()
            .chain([CREDITS_ADJUSTED, "video.renderd"]);
        for detail_type in detail_types {
            for source in &sources {
                let event = json!({"source": source, "detail-type": detail_type, "detail": {}});
                let produced = cfg
                    .producers
                    .iter()
                    .any(|p| p.detail_type == detail_type && p.source == *source);
                let to_handler = ledger.as_ref().is_some_and(|l| matches(l, &event));
                let to_unrouted = matches(&unrouted, &event);
                let context = format!("{} {detail_type} from {source}", cfg.stage);
                assert_eq!(to_handler, produced, "{context}: ledger rule");
                assert_eq!(to_unrouted, !produced, "{context}: unrouted rule");
            }
        }
    }
}

#[test]
fn a_replay_reaches_the_handler_only_through_its_detail_types_rule_from_a_producers_source() {
    for cfg in routing_configs() {
        let synth = Synth::of_config(&cfg);
        for (i, rule_type) in DETAIL_TYPES.iter().enumerate() {
            let rule = enabled_pattern(&synth, ids::REPLAY_RULES[i]);
            for detail_type in DETAIL_TYPES {
                for producer in cfg
                    .producers
                    .iter()
                    .map(|p| p.source.as_str())
                    .chain(["someone.else"])
                {
                    let replayed = json!({"source": producer, "detail-type": detail_type,
                                          "replay-name": "r", "detail": {}});
                    let live =
                        json!({"source": producer, "detail-type": detail_type, "detail": {}});
                    let produced = cfg
                        .producers
                        .iter()
                        .any(|p| p.detail_type == detail_type && p.source == producer);
                    let context = format!(
                        "{} rule {rule_type}: {detail_type} from {producer}",
                        cfg.stage
                    );
                    let matched = rule.as_ref().is_some_and(|r| matches(r, &replayed));
                    assert_eq!(matched, produced && detail_type == *rule_type, "{context}");
                    assert!(
                        !rule.as_ref().is_some_and(|r| matches(r, &live)),
                        "{context}: a live event"
                    );
                }
            }
            // A detail-type without a producer: its replay rule is off.
            let has_producer = cfg.producers.iter().any(|p| p.detail_type == *rule_type);
            assert_eq!(rule.is_some(), has_producer, "{} {rule_type}", cfg.stage);
        }
        let ledger_on = enabled_pattern(&synth, ids::LEDGER_EVENTS_RULE).is_some();
        assert_eq!(ledger_on, !cfg.producers.is_empty(), "{}", cfg.stage);
    }
}

/// The bus policy: the bus's `Policy`, `Deny`s only, each for IAM
/// principals only, on the bus itself.
#[test]
fn the_bus_policy_only_denies() {
    for cfg in routing_configs() {
        let synth = Synth::of_config(&cfg);
        let policy = &synth.resource(ids::EVENT_BUS)["Properties"]["Policy"];
        assert_eq!(policy["Version"], "2012-10-17");
        let statements = policy["Statement"].as_array().unwrap();
        assert!(
            statements.len() >= 5,
            "{}: one or more per detail-type",
            cfg.stage
        );
        for statement in statements {
            let sid = statement["Sid"].as_str().unwrap();
            assert_eq!(statement["Effect"], "Deny", "{sid}");
            assert_eq!(statement["Principal"], "*", "{sid}");
            assert_eq!(statement["Action"], json!(["events:PutEvents"]), "{sid}");
            assert_eq!(
                statement["Resource"],
                json!([{"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"}]),
                "{sid}"
            );
            assert_eq!(
                statement["Condition"]["Null"],
                json!({"aws:PrincipalArn": ["false"]}),
                "{sid}"
            );
        }
    }
}
