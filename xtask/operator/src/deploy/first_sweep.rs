//! A new stack's first sweep.
//!
//! The `sweep-not-running` alarm treats missing data as breaching: a deleted
//! or disabled schedule sends no `Invocations` at all, and only that reading
//! notices it. But the schedule's first run comes six hours after its rule
//! is created, so a new stage would page within minutes of its creation.
//! After a create, the deploy invokes the sweep once, asynchronously, as a
//! dry run (it reads and reports, and writes nothing): one `Invocations`
//! datapoint, which keeps the alarm OK until the schedule takes over.

use std::collections::BTreeMap;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use infra::Stage;
use infra::stack::outputs::SWEEP_FUNCTION_NAME;
use serde_json::json;

use crate::aws::{Clients, sdk_error};
use crate::base::ui::Out;

/// The first sweep's input: the contract's manual input, a dry run at the
/// stage's hold timeout.
pub(super) fn first_sweep_payload() -> serde_json::Value {
    json!({ "dry_run": true })
}

/// What an operator does when the first sweep could not be started (pure).
pub(super) fn not_started(stage: Stage, why: &str) -> String {
    format!(
        "warning: the new stack's first sweep could not be started ({why}); its \
         sweep-not-running alarm pages until a sweep runs: run `cargo xtask sweep --stage {} \
         --dry-run`",
        stage.as_str()
    )
}

/// Invokes the deployed sweep once, without waiting for it (`Event`), and
/// says so; a failure is a warning (the stack is deployed either way).
pub(super) async fn start_first_sweep(
    clients: &Clients,
    stage: Stage,
    outputs: &BTreeMap<String, String>,
    out: &dyn Out,
) {
    let Some(function) = outputs.get(SWEEP_FUNCTION_NAME) else {
        out.note(&not_started(
            stage,
            "the stack has no SweepFunctionName output",
        ));
        return;
    };
    let sent = clients
        .lambda
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(first_sweep_payload().to_string()))
        .send()
        .await;
    match sent {
        Ok(_) => out.note(&format!(
            "sweep: started {function} once as a dry run, so the sweep-not-running alarm has \
             its first datapoint before the schedule's first run"
        )),
        Err(e) => out.note(&not_started(stage, &sdk_error(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_sweep_is_a_dry_run_at_the_stage_hold_timeout() {
        assert_eq!(first_sweep_payload(), json!({"dry_run": true}));
    }

    #[test]
    fn a_sweep_not_started_says_what_pages_and_the_command_that_stops_it() {
        let line = not_started(Stage::Prod, "AccessDeniedException: no");
        assert!(line.starts_with("warning: "), "{line}");
        assert!(line.contains("(AccessDeniedException: no)"), "{line}");
        assert!(line.contains("sweep-not-running alarm pages"), "{line}");
        assert!(
            line.ends_with("run `cargo xtask sweep --stage prod --dry-run`"),
            "{line}"
        );
    }
}
