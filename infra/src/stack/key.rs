//! The stage's customer managed KMS key and its alias, on the stages that
//! have one (`customer_managed_key`): it encrypts the ledger table, the log
//! groups, the queues, the ops-alerts topic and the event archive. Its
//! policy names what uses it by ARNs built from name patterns, never by
//! reference (see `key_policy`).

use super::{ids, stateful_policy};
use crate::model::iam::{PolicyDocument, Principal, Statement};
use crate::model::kms::{Alias, Key};
use crate::model::{Expr, Resource, Template};
use crate::names;
use crate::stage::StageConfig;

/// The stage's customer managed key and its alias, when the stage has one;
/// returns the key's ARN for the resources it encrypts.
pub(super) fn add_stage_key(t: &mut Template, cfg: &StageConfig) -> Option<Expr> {
    if !cfg.customer_managed_key {
        return None;
    }
    let key = Key {
        description: Expr::sub(
            "cc-agent-reconciler ${Stage}: the ledger table, log groups, queues, ops-alerts \
             topic and event archive.",
        ),
        enabled: true,
        enable_key_rotation: true,
        key_spec: "SYMMETRIC_DEFAULT",
        key_usage: "ENCRYPT_DECRYPT",
        pending_window_in_days: 30,
        key_policy: Expr::sub_json(&key_policy()),
    };
    // Data encrypted with the key outlives the stack when it is retained.
    t.add_resource(
        ids::STAGE_KEY,
        Resource::new(key).with_policies(stateful_policy(cfg)),
    );
    t.add_resource(
        ids::STAGE_KEY_ALIAS,
        Alias {
            alias_name: names::KEY_ALIAS.expr(),
            target_key_id: Expr::reference(ids::STAGE_KEY),
        },
    );
    Some(Expr::get_att(ids::STAGE_KEY, "Arn"))
}

/// The key policy, one statement per principal and use.
///
/// The key policy names the topic, log groups, rules and bus by ARNs built
/// from their name patterns, never by `Ref`/`GetAtt`: each of them (or a
/// resource it depends on) uses the key, so a reference would be a cycle.
/// The execution roles get their key use from their own IAM policies, which
/// the account statement enables.
fn key_policy() -> PolicyDocument {
    PolicyDocument::new(vec![
        account_administers_key(),
        alarms_publish_to_topic(),
        logs_encrypt_log_groups(),
        event_bridge_delivers_to_queues(),
        event_bridge_describes_key(),
        event_bridge_encrypts_archive(),
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

fn alarms_publish_to_topic() -> Statement {
    let topic_arn = names::OPS_ALERTS_TOPIC.arn("sns", "");
    Statement::allow(
        "CloudWatchAlarmsPublishToOpsAlertsTopic",
        &["kms:Decrypt", "kms:GenerateDataKey*"],
        everything(),
    )
    .for_service("cloudwatch.amazonaws.com")
    .with_condition(
        "StringEquals",
        "kms:EncryptionContext:aws:sns:topicArn",
        vec![topic_arn],
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

fn event_bridge_delivers_to_queues() -> Statement {
    Statement::allow(
        "EventBridgeDeliversToEncryptedQueues",
        &["kms:Decrypt", "kms:GenerateDataKey"],
        everything(),
    )
    .for_service("events.amazonaws.com")
    .with_condition(
        "StringEquals",
        "aws:SourceAccount",
        vec![Expr::reference("AWS::AccountId")],
    )
    .with_condition("ArnEquals", "aws:SourceArn", rule_arns())
}

/// The ARNs of the stage's rules: those on its bus, and the sweep's schedule.
fn rule_arns() -> Vec<Expr> {
    let on_bus = format!("rule/{}/", names::EVENT_BUS);
    let mut rule_arns = vec![
        names::LEDGER_EVENTS_RULE.arn("events", &on_bus),
        names::SWEEP_SCHEDULE_RULE.arn("events", "rule/"),
        names::UNROUTED_EVENTS_RULE.arn("events", &on_bus),
    ];
    rule_arns.extend(names::REPLAY_RULES.map(|rule| rule.arn("events", &on_bus)));
    rule_arns
}

fn event_bridge_describes_key() -> Statement {
    Statement::allow(
        "EventBridgeDescribesKeyForArchive",
        &["kms:DescribeKey"],
        everything(),
    )
    .for_service("events.amazonaws.com")
}

fn event_bridge_encrypts_archive() -> Statement {
    let bus_arn = names::EVENT_BUS.arn("events", "event-bus/");
    Statement::allow(
        "EventBridgeEncryptsArchive",
        &["kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncrypt*"],
        everything(),
    )
    .for_service("events.amazonaws.com")
    .with_condition(
        "StringEquals",
        "kms:EncryptionContext:aws:events:event-bus:arn",
        vec![bus_arn],
    )
}
