//! What the stage's producers ([`crate::producers`]) make of the bus: its
//! resource policy, and the patterns of the rules that route by producer.
//!
//! **The bus policy.** Within one account an identity policy's `Allow` of
//! `events:PutEvents` suffices, so the bus cannot *grant* producers; it
//! refuses everyone else with `Deny` statements, which win over any allow.
//! Per ledger detail-type: a `Deny` of every other `source`, and per source
//! a `Deny` of every principal not named for it; a detail-type without a
//! producer is denied to all. `credits.adjusted` is denied to all (only a
//! direct invocation may carry it). EventBridge evaluates `PutEvents` per
//! entry, with the entry's `events:detail-type` and `events:source` as
//! condition keys
//! (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html>),
//! and `aws:PrincipalArn` is the caller's role (or user) ARN
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn>).
//! Each statement applies only to requests that carry `aws:PrincipalArn`
//! (`Null: false`): IAM principals of any account. Requests without it (an
//! AWS service) have no allow on this bus anyway, and whatever EventBridge
//! itself puts (a replay of the archive) is left alone, since `ArnNotLike`
//! on a missing key would be true and deny it.
//!
//! **The rules.** The ledger-events rule matches each detail-type only from
//! its producers' sources, each replay rule likewise, and the unrouted rule
//! everything else. A rule with nothing to match (no producer) is disabled.

use reconciler_core::event::{CREDITS_ADJUSTED, DETAIL_TYPES};

use crate::model::Expr;
use crate::model::events::{EventPattern, Matcher};
use crate::model::iam::{PolicyDocument, Statement};
use crate::names;
use crate::producers::{self, ProducerPrincipal};
use crate::stage::StageConfig;

/// The bus policy: one document, the bus's `Policy` (set at once, so no
/// statement ever stands without the others, and its statement ids need
/// not be unique beyond the bus).
pub(super) fn bus_policy(cfg: &StageConfig) -> PolicyDocument {
    PolicyDocument::new(bus_statements(cfg))
}

fn bus_statements(cfg: &StageConfig) -> Vec<Statement> {
    let mut statements = Vec::new();
    for detail_type in DETAIL_TYPES {
        let name = camel(detail_type);
        let sources = producers::sources(cfg, detail_type);
        if sources.is_empty() {
            statements.push(deny_put(&format!("NobodyPuts{name}"), detail_type));
            continue;
        }
        statements.push(
            deny_put(&format!("OnlyItsSourcesPut{name}"), detail_type).with_condition(
                "StringNotEquals",
                "events:source",
                sources.iter().map(|s| Expr::lit(*s)).collect(),
            ),
        );
        for (i, source) in sources.iter().enumerate() {
            let principals = producers::principals(cfg, detail_type, source)
                .into_iter()
                .map(principal_pattern)
                .collect();
            statements.push(
                deny_put(
                    &format!("OnlyItsProducersPut{name}From{}", i + 1),
                    detail_type,
                )
                .with_condition("StringEquals", "events:source", vec![Expr::lit(*source)])
                .with_condition("ArnNotLike", "aws:PrincipalArn", principals),
            );
        }
    }
    statements.push(deny_put("NobodyPutsCreditsAdjusted", CREDITS_ADJUSTED));
    statements
}

/// `Deny` everyone's `PutEvents` of `detail_type` on the bus, for requests
/// by an IAM principal.
fn deny_put(sid: &str, detail_type: &str) -> Statement {
    Statement::deny_all(
        sid,
        &["events:PutEvents"],
        vec![names::EVENT_BUS.arn("events", "event-bus/")],
    )
    .with_condition(
        "StringEquals",
        "events:detail-type",
        vec![Expr::lit(detail_type)],
    )
    .with_condition("Null", "aws:PrincipalArn", vec![Expr::lit("false")])
}

/// `credits.granted` → `CreditsGranted` (statement ids take letters and digits).
fn camel(detail_type: &str) -> String {
    detail_type
        .split(['.', '-', '_'])
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// The ARN pattern a principal is matched with.
fn principal_pattern(principal: &ProducerPrincipal) -> Expr {
    match principal {
        ProducerPrincipal::ThisAccount => {
            Expr::sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:*")
        }
        ProducerPrincipal::Arn(arn) => Expr::lit(arn.as_str()),
    }
}

/// The detail-types with producers, grouped by their (same) sources, in
/// `DETAIL_TYPES` order: one pattern clause per group.
fn routed(cfg: &StageConfig) -> Vec<(Vec<&'static str>, Vec<&str>)> {
    let mut groups: Vec<(Vec<&'static str>, Vec<&str>)> = Vec::new();
    for detail_type in DETAIL_TYPES {
        let sources = producers::sources(cfg, detail_type);
        if sources.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|(_, s)| *s == sources) {
            Some((types, _)) => types.push(detail_type),
            None => groups.push((vec![detail_type], sources)),
        }
    }
    groups
}

/// The ledger-events rule's pattern: each detail-type from its producers'
/// sources; `None` when no detail-type has a producer.
pub(super) fn ledger_pattern(cfg: &StageConfig) -> Option<EventPattern> {
    let clauses: Vec<EventPattern> = routed(cfg)
        .into_iter()
        .map(|(types, sources)| EventPattern::detail_types(&types).from_sources(&sources))
        .collect();
    (!clauses.is_empty()).then(|| EventPattern::any_of(clauses))
}

/// A replay rule's pattern: replays of `detail_type` from its producers'
/// sources; `None` without a producer.
pub(super) fn replay_pattern(cfg: &StageConfig, detail_type: &str) -> Option<EventPattern> {
    let sources = producers::sources(cfg, detail_type);
    (!sources.is_empty()).then(|| EventPattern::replays_of(detail_type).from_sources(&sources))
}

/// The unrouted rule's pattern: every event the ledger-events rule does not
/// match — another detail-type (or one without a producer), or a routed
/// detail-type from another source. Everything when nothing is routed.
pub(super) fn unrouted_pattern(cfg: &StageConfig) -> EventPattern {
    let groups = routed(cfg);
    if groups.is_empty() {
        return EventPattern::everything();
    }
    let routed_types: Vec<&str> = groups.iter().flat_map(|(types, _)| types.clone()).collect();
    let mut clauses = vec![EventPattern::detail_types_except(&routed_types)];
    for (types, sources) in groups {
        clauses.push(EventPattern {
            source: vec![Matcher::AnythingBut(
                sources.iter().map(|s| (*s).to_owned()).collect(),
            )],
            ..EventPattern::detail_types(&types)
        });
    }
    EventPattern::any_of(clauses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_ids_are_letters_and_digits() {
        assert_eq!(camel("credits.granted"), "CreditsGranted");
        assert_eq!(camel("video.requested"), "VideoRequested");
        for stage in crate::Stage::ALL {
            for statement in bus_statements(&StageConfig::for_stage(stage)) {
                assert!(
                    statement.sid.chars().all(|c| c.is_ascii_alphanumeric()),
                    "{}",
                    statement.sid
                );
            }
        }
    }
}
