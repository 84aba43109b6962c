//! The dead-letter queue and the unrouted queue, each with its resource
//! policy. Both keep messages 14 days, encrypted with the stage's key or
//! SSE-SQS. Only the stage's rules may send to them, and nothing reaches
//! them without TLS; Lambda's on-failure destination sends to the
//! dead-letter queue with the function's role instead.

use super::skips::{self, skip_if};
use super::{
    DATA_KEY_REUSE_PERIOD_SECONDS, DEAD_LETTER_RETENTION_SECONDS, UNROUTED_RETENTION_SECONDS,
    deny_insecure_transport, ids, stateful_policy,
};
use crate::model::iam::{PolicyDocument, Statement};
use crate::model::sqs::{Queue, QueueEncryption, QueuePolicy};
use crate::model::{Expr, Resource, Template};
use crate::names::{self, NamePattern};
use crate::stage::StageConfig;

/// A queue keeping messages 14 days, encrypted with the stage's key or SSE-SQS.
fn add_queue(
    t: &mut Template,
    cfg: &StageConfig,
    key: Option<&Expr>,
    id: &str,
    name: NamePattern,
    retention_seconds: u32,
) {
    let queue = Queue {
        queue_name: name.expr(),
        message_retention_period: retention_seconds,
        encryption: match key {
            Some(key) => QueueEncryption::Kms {
                key: key.clone(),
                data_key_reuse_period_seconds: DATA_KEY_REUSE_PERIOD_SECONDS,
            },
            None => QueueEncryption::SqsManaged,
        },
    };
    let queue = Resource::new(queue).with_policies(stateful_policy(cfg));
    t.add_resource(id, skip_if(queue, key.is_none(), skips::QUEUE_KEY));
}

/// A queue policy: only `rules` (their target or dead-letter deliveries)
/// may send, and nothing reaches the queue without TLS.
fn add_queue_policy(t: &mut Template, policy_id: &str, queue_id: &str, sid: &str, rules: &[&str]) {
    let queue_arn = || vec![Expr::get_att(queue_id, "Arn")];
    let policy = QueuePolicy {
        queues: vec![Expr::reference(queue_id)],
        policy_document: PolicyDocument::new(vec![
            Statement::allow(sid, &["sqs:SendMessage"], queue_arn())
                .for_service("events.amazonaws.com")
                .with_condition(
                    "ArnEquals",
                    "aws:SourceArn",
                    rules
                        .iter()
                        .map(|rule| Expr::get_att(*rule, "Arn"))
                        .collect(),
                ),
            deny_insecure_transport(&["sqs:*"], queue_arn()),
        ]),
    };
    t.add_resource(policy_id, policy);
}

pub(super) fn add_queues(t: &mut Template, cfg: &StageConfig, key: Option<&Expr>) {
    add_queue(
        t,
        cfg,
        key,
        ids::DEAD_LETTER_QUEUE,
        names::DEAD_LETTER_QUEUE,
        DEAD_LETTER_RETENTION_SECONDS,
    );
    // Only the stage's rules may send (their target dead-letter configs).
    // Lambda's on-failure destination sends with the function's role
    // instead.
    let mut rules = vec![
        ids::LEDGER_EVENTS_RULE,
        ids::SWEEP_SCHEDULE_RULE,
        ids::UNROUTED_EVENTS_RULE,
    ];
    rules.extend(ids::REPLAY_RULES);
    if cfg.customer_managed_key {
        rules.push(ids::KEY_STATE_RULE);
    }
    add_queue_policy(
        t,
        ids::DEAD_LETTER_QUEUE_POLICY,
        ids::DEAD_LETTER_QUEUE,
        "StageRulesDeadLetter",
        &rules,
    );
    add_queue(
        t,
        cfg,
        key,
        ids::UNROUTED_QUEUE,
        names::UNROUTED_QUEUE,
        UNROUTED_RETENTION_SECONDS,
    );
    add_queue_policy(
        t,
        ids::UNROUTED_QUEUE_POLICY,
        ids::UNROUTED_QUEUE,
        "UnroutedEventsRuleSends",
        &[ids::UNROUTED_EVENTS_RULE],
    );
}
