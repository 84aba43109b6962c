//! The customer managed KMS keys, on the stages that have them
//! (`customer_managed_key`), each with its alias:
//!
//! - the **stage key** encrypts the ledger table, the log groups, the
//!   queues and the event archive;
//! - the **alerts key** encrypts only the ops-alerts topic. Its own key,
//!   because EventBridge (the key-state rule) may use a topic's key only
//!   through an unconditioned-by-source grant ("Adding the aws:SourceAccount
//!   and aws:SourceArn to a AWS KMS policy is not supported for
//!   EventBridge-to-encrypted topics", SNS key management), which must not
//!   widen the stage key; and because an alert that the stage key was
//!   disabled must not need the stage key to be published.
//!
//! The policies name what uses a key by ARNs built from name patterns,
//! never by reference (see [`stage_key_policy`]).

use super::{ids, stateful_policy};
use crate::model::iam::{PolicyDocument, Principal, Statement};
use crate::model::kms::{Alias, Key};
use crate::model::{Expr, Resource, Template};
use crate::names::{self, NamePattern};
use crate::stage::StageConfig;

/// The stage's keys, when it has them.
pub(super) struct Keys {
    /// The stage key's ARN.
    pub stage: Expr,
    /// The alerts key's ARN.
    pub alerts: Expr,
}

/// The stage's customer managed keys and their aliases, when the stage has
/// them; returns their ARNs for the resources they encrypt.
pub(super) fn add_keys(t: &mut Template, cfg: &StageConfig) -> Option<Keys> {
    if !cfg.customer_managed_key {
        return None;
    }
    add_key(
        t,
        cfg,
        (ids::STAGE_KEY, ids::STAGE_KEY_ALIAS, names::KEY_ALIAS),
        "cc-agent-reconciler ${Stage}: the ledger table, log groups, queues and event archive.",
        stage_key_policy(),
    );
    add_key(
        t,
        cfg,
        (
            ids::ALERTS_KEY,
            ids::ALERTS_KEY_ALIAS,
            names::ALERTS_KEY_ALIAS,
        ),
        "cc-agent-reconciler ${Stage}: the ops-alerts topic only.",
        alerts_key_policy(),
    );
    Some(Keys {
        stage: Expr::get_att(ids::STAGE_KEY, "Arn"),
        alerts: Expr::get_att(ids::ALERTS_KEY, "Arn"),
    })
}

/// A symmetric key with yearly rotation, kept like what it protects, and
/// its alias.
fn add_key(
    t: &mut Template,
    cfg: &StageConfig,
    (key_id, alias_id, alias): (&str, &str, NamePattern),
    description: &str,
    policy: PolicyDocument,
) {
    let key = Key {
        description: Expr::sub(description),
        enabled: true,
        enable_key_rotation: true,
        key_spec: "SYMMETRIC_DEFAULT",
        key_usage: "ENCRYPT_DECRYPT",
        pending_window_in_days: 30,
        key_policy: Expr::sub_json(&policy),
    };
    // Data encrypted with the key outlives the stack when it is retained.
    t.add_resource(
        key_id,
        Resource::new(key).with_policies(stateful_policy(cfg)),
    );
    t.add_resource(
        alias_id,
        Alias {
            alias_name: alias.expr(),
            target_key_id: Expr::reference(key_id),
        },
    );
}

/// The stage key's policy, one statement per principal and use.
///
/// The policy names the log groups, queues and bus by ARNs built from their
/// name patterns, never by `Ref`/`GetAtt`: each of them (or a resource it
/// depends on) uses the key, so a reference would be a cycle. The execution
/// roles get their key use from their own IAM policies, which the account
/// statement enables.
fn stage_key_policy() -> PolicyDocument {
    PolicyDocument::new(vec![
        account_administers_key(),
        logs_encrypt_log_groups(),
        event_bridge_delivers_to_queues(),
        event_bridge_describes_key(),
        event_bridge_encrypts_archive(),
    ])
}

/// The alerts key's policy: the account, and the two services that publish
/// to the topic, only for the topic.
fn alerts_key_policy() -> PolicyDocument {
    PolicyDocument::new(vec![
        account_administers_key(),
        publishes_to_topic(
            "CloudWatchAlarmsPublishToOpsAlertsTopic",
            "cloudwatch.amazonaws.com",
        ),
        publishes_to_topic("EventBridgePublishesKeyStateAlerts", "events.amazonaws.com"),
    ])
}

/// A key policy statement's resource: `*`, the key itself.
fn everything() -> Vec<Expr> {
    vec![Expr::lit("*")]
}

fn account_administers_key() -> Statement {
    Statement::allow(
        "AccountAdministersKeyAndEnablesIamPolicies",
        &["kms:*"],
        everything(),
    )
    .for_principal(Principal::Aws(Expr::sub(
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:root",
    )))
}

/// SNS encrypts a message for a publishing service with the topic's ARN as
/// encryption context: "kms:EncryptionContext:aws:sns:topicArn"
/// (<https://docs.aws.amazon.com/sns/latest/dg/sns-enable-encryption-for-topic.html>);
/// the actions are those SNS documents for AWS service event sources
/// (<https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html>).
/// Never the AWS managed `alias/aws/sns`, which alarms cannot use.
fn publishes_to_topic(sid: &str, service: &str) -> Statement {
    Statement::allow(sid, &["kms:Decrypt", "kms:GenerateDataKey*"], everything())
        .for_service(service)
        .with_condition(
            "StringEquals",
            "kms:EncryptionContext:aws:sns:topicArn",
            vec![names::OPS_ALERTS_TOPIC.arn("sns", "")],
        )
}

fn logs_encrypt_log_groups() -> Statement {
    let log_group_arns = [names::HANDLER_LOG_GROUP, names::SWEEP_LOG_GROUP]
        .map(|group| group.arn("logs", "log-group:"))
        .to_vec();
    Statement::allow(
        "CloudWatchLogsEncryptsFunctionLogGroups",
        &[
            "kms:Decrypt*",
            "kms:Describe*",
            "kms:Encrypt*",
            "kms:GenerateDataKey*",
            "kms:ReEncrypt*",
        ],
        everything(),
    )
    .for_principal(Principal::Service(Expr::sub(
        "logs.${AWS::Region}.amazonaws.com",
    )))
    .with_condition(
        "ArnEquals",
        "kms:EncryptionContext:aws:logs:arn",
        log_group_arns,
    )
}

/// The ARNs of the stage's two queues (the encryption context SQS uses).
pub(super) fn queue_arns() -> Vec<Expr> {
    [names::DEAD_LETTER_QUEUE, names::UNROUTED_QUEUE]
        .map(|queue| queue.arn("sqs", ""))
        .to_vec()
}

/// EventBridge sends to the encrypted queues (rule targets and rule
/// dead-letter queues); SQS then calls KMS for it with the queue's ARN as
/// encryption context, `aws:sqs:arn`
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html>).
/// Which rule may send is the queue policies' business (`aws:SourceArn`,
/// documented for SQS); whether SQS passes that key on to KMS is not
/// documented, so the key policy does not rely on it.
fn event_bridge_delivers_to_queues() -> Statement {
    Statement::allow(
        "EventBridgeDeliversToTheStageQueues",
        &["kms:Decrypt", "kms:GenerateDataKey"],
        everything(),
    )
    .for_service("events.amazonaws.com")
    .with_condition(
        "StringEquals",
        "kms:EncryptionContext:aws:sqs:arn",
        queue_arns(),
    )
}

fn event_bridge_describes_key() -> Statement {
    Statement::allow(
        "EventBridgeDescribesKeyForArchive",
        &["kms:DescribeKey"],
        everything(),
    )
    .for_service("events.amazonaws.com")
}

/// The archive's encryption context: the EventBridge guide's example
/// policy puts the bus's ARN under `aws:events:event-bus:arn`, while its
/// prose speaks of the archive's; both are listed (either matches).
fn event_bridge_encrypts_archive() -> Statement {
    Statement::allow(
        "EventBridgeEncryptsArchive",
        &["kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncrypt*"],
        everything(),
    )
    .for_service("events.amazonaws.com")
    .with_condition(
        "StringEquals",
        "kms:EncryptionContext:aws:events:event-bus:arn",
        vec![
            names::EVENT_BUS.arn("events", "event-bus/"),
            names::ARCHIVE.arn("events", "archive/"),
        ],
    )
}
