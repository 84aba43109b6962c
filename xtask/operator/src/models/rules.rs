//! The bus's rules as EventBridge has them: the ledger-events rule (the
//! handler's only way in for live events), one replay rule per
//! detail-type, and the unrouted rule; each one's state and targets. A
//! stage whose stage file names no producer deploys the ledger and replay
//! rules disabled (nothing on the bus could match them), so an event put
//! on the bus then reaches nobody: `status` shows it, and the commands
//! that put events back on the bus refuse ([`require_enabled`]).

use aws_sdk_eventbridge::types::RuleState;
use infra::StackOutputs;
use reconciler_core::event::DETAIL_TYPES;

use crate::aws::sdk_error;

/// One rule.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RuleView {
    /// What it is for: `ledger`, `replay <detail-type>`, `unrouted`.
    pub role: String,
    /// Its name (from the stack's outputs).
    pub name: String,
    /// `ENABLED`, `DISABLED`, …; `None`: EventBridge does not know it.
    pub state: Option<String>,
    /// Its targets' ARNs.
    pub targets: Vec<String>,
}

impl RuleView {
    /// The rule exists and is enabled.
    pub fn enabled(&self) -> bool {
        self.state.as_deref() == Some(RuleState::Enabled.as_str())
    }
}

/// The rules the stack names, in order: ledger, the replay rules (when the
/// stack has them), unrouted.
pub fn named(outputs: &StackOutputs) -> Vec<(String, String)> {
    let mut rules = vec![("ledger".to_owned(), outputs.ledger_events_rule_name.clone())];
    if let Some(names) = &outputs.replay_rule_names {
        for (detail_type, name) in DETAIL_TYPES.iter().zip(names.split(',')) {
            rules.push((format!("replay {detail_type}"), name.to_owned()));
        }
    }
    rules.push((
        "unrouted".to_owned(),
        outputs.unrouted_events_rule_name.clone(),
    ));
    rules
}

/// One rule on the stage's bus: its state and targets (`state: None` when
/// EventBridge does not know it).
///
/// # Errors
/// EventBridge failed other than with "no such rule" (one line).
pub async fn read_one(
    events: &aws_sdk_eventbridge::Client,
    bus: &str,
    role: &str,
    name: &str,
) -> Result<RuleView, String> {
    let described = events
        .describe_rule()
        .name(name)
        .event_bus_name(bus)
        .send()
        .await;
    let state = match described {
        Ok(rule) => rule.state().map(|s| s.as_str().to_owned()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(format!("describe rule {name}: {}", sdk_error(&e))),
    };
    let mut targets = Vec::new();
    if state.is_some() {
        let listed = events
            .list_targets_by_rule()
            .rule(name)
            .event_bus_name(bus)
            .send()
            .await
            .map_err(|e| format!("list the targets of rule {name}: {}", sdk_error(&e)))?;
        targets = listed
            .targets()
            .iter()
            .map(|t| t.arn().to_owned())
            .collect();
    }
    Ok(RuleView {
        role: role.to_owned(),
        name: name.to_owned(),
        state,
        targets,
    })
}

/// Every rule the stack names ([`named`]).
///
/// # Errors
/// EventBridge failed (one line).
pub async fn read(
    events: &aws_sdk_eventbridge::Client,
    outputs: &StackOutputs,
) -> Result<Vec<RuleView>, String> {
    let mut views = Vec::new();
    for (role, name) in named(outputs) {
        views.push(read_one(events, &outputs.bus_name, &role, &name).await?);
    }
    Ok(views)
}

/// Refuses to put events back on the bus while the ledger rule is not
/// enabled (pure): they would reach no handler, and their letters would
/// be deleted as if delivered.
///
/// # Errors
/// Which rule, its state, and what to do.
pub fn require_enabled(ledger: &RuleView, doing: &str) -> Result<(), String> {
    if ledger.enabled() {
        return Ok(());
    }
    Err(format!(
        "{doing} refused: the ledger rule {} is {}, so nothing on the bus reaches the \
         handler and the events would be lost; name the producers in the stage file \
         (`producers`) and deploy, then try again (docs/operations.md#rules)",
        ledger.name,
        ledger.state.as_deref().unwrap_or("missing")
    ))
}

/// The ledger rule, read.
///
/// # Errors
/// EventBridge failed (one line).
pub async fn ledger_rule(
    events: &aws_sdk_eventbridge::Client,
    outputs: &StackOutputs,
) -> Result<RuleView, String> {
    ledger_rule_named(events, &outputs.bus_name, &outputs.ledger_events_rule_name).await
}

/// The ledger rule `name` on `bus`, read.
///
/// # Errors
/// EventBridge failed (one line).
pub async fn ledger_rule_named(
    events: &aws_sdk_eventbridge::Client,
    bus: &str,
    name: &str,
) -> Result<RuleView, String> {
    read_one(events, bus, "ledger", name).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(state: Option<&str>) -> RuleView {
        RuleView {
            role: "ledger".into(),
            name: "cc-agent-reconciler-ledger-events-prod".into(),
            state: state.map(str::to_owned),
            targets: Vec::new(),
        }
    }

    #[test]
    fn events_go_back_on_the_bus_only_while_the_ledger_rule_is_enabled() {
        assert_eq!(
            require_enabled(&ledger(Some("ENABLED")), "dlq replay"),
            Ok(())
        );
        let refused = require_enabled(&ledger(Some("DISABLED")), "dlq replay").unwrap_err();
        assert!(
            refused.starts_with(
                "dlq replay refused: the ledger rule cc-agent-reconciler-ledger-events-prod is \
                 DISABLED"
            ) && refused.contains("producers"),
            "{refused}"
        );
        assert!(
            require_enabled(&ledger(None), "unrouted resend")
                .unwrap_err()
                .contains("is missing")
        );
    }
}
