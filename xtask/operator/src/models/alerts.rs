//! Who hears the alarms: the ops-alerts topic's confirmed subscribers.
//!
//! An alarm that pages nobody is no alarm. On staging and prod a topic with
//! no *confirmed* subscriber (an e-mail or https subscription stays
//! `PendingConfirmation` until its owner confirms it) gets a loud warning,
//! from `cargo xtask smoke` and, through [`check_ops_alerts`], from any
//! command that wants to say it (e.g. after a deploy).

use infra::Stage;

use crate::aws::sdk_error;

/// One confirmed subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscriber {
    /// `email`, `https`, `sqs`, `lambda`, …
    pub protocol: String,
    /// Where alerts go.
    pub endpoint: String,
}

/// The topic's subscriptions, confirmed or not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subscribers {
    /// Confirmed subscriptions (their ARN is a real ARN).
    pub confirmed: Vec<Subscriber>,
    /// Subscriptions waiting for their owner to confirm them.
    pub pending: usize,
}

/// Reads the topic's subscriptions (`ListSubscriptionsByTopic`, every page).
/// `PendingConfirmation` ones are counted apart: they hear nothing yet.
///
/// # Errors
/// SNS failed (no such topic, no permission).
pub async fn ops_alert_subscribers(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
) -> anyhow::Result<Subscribers> {
    let mut subscribers = Subscribers::default();
    let mut pages = sns
        .list_subscriptions_by_topic()
        .topic_arn(topic_arn)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let out = page.map_err(|e| {
            anyhow::anyhow!("list the subscribers of {topic_arn}: {}", sdk_error(&e))
        })?;
        for s in out.subscriptions() {
            if s.subscription_arn().is_some_and(|a| a.starts_with("arn:")) {
                subscribers.confirmed.push(Subscriber {
                    protocol: s.protocol().unwrap_or_default().to_owned(),
                    endpoint: s.endpoint().unwrap_or_default().to_owned(),
                });
            } else {
                subscribers.pending += 1;
            }
        }
    }
    Ok(subscribers)
}

/// The warning to print when the topic pages nobody on a stage where it
/// must (staging, prod); `None` when someone hears it, or on dev.
pub fn unheard_warning(stage: Stage, topic_arn: &str, subscribers: &Subscribers) -> Option<String> {
    if stage == Stage::Dev || !subscribers.confirmed.is_empty() {
        return None;
    }
    let pending = match subscribers.pending {
        0 => "no subscription at all".to_owned(),
        n => format!("{n} subscription(s) still PendingConfirmation (their owner must confirm)"),
    };
    Some(format!(
        "WARNING: NOBODY HEARS THE {} ALARMS: the ops-alerts topic {topic_arn} has no confirmed \
         subscriber ({pending}). Add the on-call person to `alert_subscriptions` in \
         infra/stages/{stage}.toml, deploy, and have them confirm \
         (docs/operations.md#subscribing-on-call).",
        stage.as_str().to_uppercase()
    ))
}

/// [`ops_alert_subscribers`] and [`unheard_warning`] in one call, for a
/// command to print (a deploy, a smoke test): `Some` warning when nobody
/// hears the stage's alarms, or when the subscribers could not be read.
pub async fn check_ops_alerts(
    sns: &aws_sdk_sns::Client,
    stage: Stage,
    topic_arn: &str,
) -> Option<String> {
    match ops_alert_subscribers(sns, topic_arn).await {
        Ok(subscribers) => unheard_warning(stage, topic_arn, &subscribers),
        Err(e) if stage != Stage::Dev => Some(format!(
            "WARNING: could not check who hears the {stage} alarms: {e:#}"
        )),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "arn:aws:sns:eu-west-1:1:cc-agent-reconciler-ops-alerts-prod";

    #[test]
    fn pending_subscriptions_do_not_count() {
        let pending_only = Subscribers {
            confirmed: vec![],
            pending: 2,
        };
        let warning = unheard_warning(Stage::Prod, TOPIC, &pending_only).unwrap();
        assert!(
            warning.contains("NOBODY HEARS THE PROD ALARMS"),
            "{warning}"
        );
        assert!(warning.contains("2 subscription(s) still PendingConfirmation"));
        assert!(warning.contains("infra/stages/prod.toml"));
        assert!(!warning.contains('\n'));
        let none = unheard_warning(Stage::Staging, TOPIC, &Subscribers::default()).unwrap();
        assert!(none.contains("no subscription at all"), "{none}");
    }

    #[test]
    fn a_confirmed_subscriber_or_dev_needs_no_warning() {
        let heard = Subscribers {
            confirmed: vec![Subscriber {
                protocol: "email".into(),
                endpoint: "oncall@example.com".into(),
            }],
            pending: 1,
        };
        assert_eq!(unheard_warning(Stage::Prod, TOPIC, &heard), None);
        assert_eq!(
            unheard_warning(Stage::Dev, TOPIC, &Subscribers::default()),
            None
        );
    }
}
