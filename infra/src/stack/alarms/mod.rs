//! The ops alerts: the ops-alerts topic, its policy and subscriptions, and
//! the alarms ([`specs`]: one for every way an event or an alert can fail
//! or vanish). Every alarm notifies the topic on ALARM and OK and names its
//! runbook entry in [`RUNBOOK_FILE`] ([`runbook_anchors`]).

mod metrics;
mod specs;

use super::skips::{self, skip_if};
use super::{RUNBOOK_FILE, deny_insecure_transport, ids};
use crate::model::cloudwatch::Alarm;
use crate::model::iam::{PolicyDocument, Statement};
use crate::model::sns::{Subscription, Topic, TopicPolicy};
use crate::model::{Expr, Resource, Template};
use crate::names;
use crate::stage::StageConfig;

/// The topic, its policy and subscriptions, and the alarms. `key`: the
/// topic's own key, when the stage has customer managed keys.
pub(super) fn add_alerts(t: &mut Template, cfg: &StageConfig, key: Option<&Expr>) {
    add_topic(t, cfg, key);
    for subscription in &cfg.alert_subscriptions {
        t.add_resource(
            &subscription_id(subscription),
            Subscription {
                topic_arn: Expr::reference(ids::OPS_ALERTS_TOPIC),
                protocol: subscription.protocol,
                endpoint: subscription.endpoint.clone(),
            },
        );
    }
    for spec in specs::alarm_specs(cfg) {
        let alarm = Alarm {
            alarm_name: spec.name.expr(),
            alarm_description: format!(
                "{} Runbook: {RUNBOOK_FILE}#{}",
                spec.description,
                runbook_anchor(spec.short_name)
            ),
            metric: spec.metric,
            evaluation_periods: spec.periods.evaluated,
            datapoints_to_alarm: spec.periods.to_alarm,
            threshold: spec.threshold,
            comparison_operator: spec.comparison_operator,
            treat_missing_data: spec.missing_data,
            evaluate_low_sample_count_percentile: spec.low_sample_count,
            alarm_actions: vec![Expr::reference(ids::OPS_ALERTS_TOPIC)],
            ok_actions: vec![Expr::reference(ids::OPS_ALERTS_TOPIC)],
        };
        t.add_resource(&ids::alarm(spec.short_name), alarm);
    }
}

/// The ops-alerts topic and its policy: only this account's CloudWatch
/// alarms publish, and, with the keys, the key-state rule; only over TLS.
fn add_topic(t: &mut Template, cfg: &StageConfig, key: Option<&Expr>) {
    // With the alerts key, encrypted: its policy lets CloudWatch alarms and
    // EventBridge use it. Never the AWS managed `alias/aws/sns`, which
    // alarms cannot use.
    let topic = Topic {
        topic_name: names::OPS_ALERTS_TOPIC.expr(),
        display_name: Some(format!("cc-agent-reconciler {}", cfg.stage)),
        kms_master_key_id: key.cloned(),
    };
    t.add_resource(
        ids::OPS_ALERTS_TOPIC,
        skip_if(Resource::new(topic), key.is_none(), skips::TOPIC_KEY),
    );
    let topic_arn = || vec![Expr::reference(ids::OPS_ALERTS_TOPIC)];
    let mut statements = vec![
        Statement::allow(
            "CloudWatchAlarmsOfThisAccountPublish",
            &["sns:Publish"],
            topic_arn(),
        )
        .for_service("cloudwatch.amazonaws.com")
        .with_condition(
            "StringEquals",
            "aws:SourceAccount",
            vec![Expr::reference("AWS::AccountId")],
        ),
    ];
    if key.is_some() {
        // The key-state rule's target (EventBridge's SNS permissions:
        // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions).
        statements.push(
            Statement::allow("KeyStateRulePublishes", &["sns:Publish"], topic_arn())
                .for_service("events.amazonaws.com")
                .with_condition(
                    "ArnEquals",
                    "aws:SourceArn",
                    vec![Expr::get_att(ids::KEY_STATE_RULE, "Arn")],
                ),
        );
    }
    statements.push(deny_insecure_transport(&["sns:Publish"], topic_arn()));
    t.add_resource(
        ids::OPS_ALERTS_TOPIC_POLICY,
        TopicPolicy {
            policy_document: PolicyDocument::new(statements),
            topics: topic_arn(),
        },
    );
}

/// `OpsAlertsSubscription` + 8 hex digits of FNV-1a over protocol and
/// endpoint: stable when the list is reordered or another entry removed, so
/// CloudFormation does not recreate (and re-confirm) the others.
fn subscription_id(subscription: &crate::stage::AlertSubscription) -> String {
    let text = format!(
        "{}:{}",
        subscription.protocol.as_str(),
        subscription.endpoint
    );
    let hash = text.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    format!("{}{hash:08X}", ids::OPS_ALERTS_SUBSCRIPTION_PREFIX)
}

/// The runbook entry of an alarm: `alarm-<short name>`, an anchor in
/// [`RUNBOOK_FILE`].
fn runbook_anchor(short_name: &str) -> String {
    format!("alarm-{short_name}")
}

/// An alarm and its runbook entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunbookAnchor {
    /// The alarm's short name (`errors`, `unrouted`, ...): the alarm is
    /// `cc-agent-reconciler-<short name>-<stage>`.
    pub alarm: &'static str,
    /// The anchor in [`RUNBOOK_FILE`] its description names: `alarm-<short name>`.
    pub anchor: String,
}

/// Every alarm's runbook entry, in [`names::ALARMS`] order (every alarm any
/// stage has): the operations doc must have each anchor (a docs check can
/// verify it).
pub fn runbook_anchors() -> Vec<RunbookAnchor> {
    names::ALARMS
        .iter()
        .map(|(short_name, _)| RunbookAnchor {
            alarm: short_name,
            anchor: runbook_anchor(short_name),
        })
        .collect()
}
