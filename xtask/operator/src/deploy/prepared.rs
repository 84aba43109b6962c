//! A two-person review, as `sam deploy --no-execute-changeset` and the
//! CDK's prepared change sets allow: `deploy --prepare` builds, uploads,
//! proposes the change set and shows its review (and what the data guard
//! would refuse), then stops and prints its id; `deploy --execute ID`, run
//! by the reviewer, shows the same review again from the change set itself
//! and executes exactly that change set, after the guard, the approval and
//! the confirmation, and only if the stack has not moved since it was
//! prepared.
//!
//! "Not moved" is checked by a fingerprint of the deployed stack (its
//! status, template and parameters) that `--prepare` writes into the change
//! set's description and `--execute` computes again. CloudFormation itself
//! makes a change set `OBSOLETE` when another one is executed; the
//! fingerprint also catches what that does not (an `UpdateStack`, a
//! rollback).

use anyhow::bail;
use sha2::Digest;

use super::code::{self, CodeKeys};
use super::plan::StackPlan;
use super::{DeployOptions, DeployReport, Mode, checks, run};
use crate::aws::Clients;
use crate::base::ui::Out;
use crate::cfn::change_set::{self, Described};
use crate::cfn::stack::Deployed;
use crate::models::releases;

/// What `--prepare` writes before the fingerprint in a change set's
/// description.
const PREPARED: &str = "cargo xtask deploy --prepare; stack ";

/// 16 hex digits of the hash of the stack's status, template and
/// parameters.
pub(super) fn fingerprint(deployed: &Deployed) -> String {
    let mut hash = sha2::Sha256::new();
    hash.update(deployed.status.as_str());
    hash.update([0]);
    hash.update(deployed.template.to_string());
    for (name, value) in &deployed.parameters {
        hash.update([0]);
        hash.update(format!("{name}={value}"));
    }
    hex::encode(hash.finalize())[..16].to_owned()
}

/// The description of a change set prepared against `deployed`.
pub(super) fn description(deployed: &Deployed) -> String {
    format!("{PREPARED}{}", fingerprint(deployed))
}

/// `--hotswap` executes at once, so it cannot be prepared or executed later.
///
/// # Errors
/// The refusal.
pub(super) fn compatible(mode: &Mode, hotswap: bool) -> Result<(), String> {
    match (mode, hotswap) {
        (Mode::Prepare | Mode::Execute(_), true) => Err(
            "--hotswap swaps code at once, without a change set: it cannot be combined with \
             --prepare or --execute"
                .to_owned(),
        ),
        _ => Ok(()),
    }
}

/// Whether the change set `id` may be executed on `deployed` now.
///
/// # Errors
/// Why not: another stack's, not ready or already executed, not prepared
/// by `--prepare`, or the stack moved since.
pub(super) fn executable(
    stack: &str,
    id: &str,
    deployed: &Deployed,
    set: &Described,
) -> Result<(), String> {
    if set.stack_id != deployed.id {
        return Err(format!(
            "change set {id} belongs to {}, not to {stack} as deployed now ({})",
            set.stack_id, deployed.id
        ));
    }
    if set.status != "CREATE_COMPLETE" || set.execution_status != "AVAILABLE" {
        return Err(format!(
            "change set {id} cannot be executed: it is {} and its execution {} (executed, \
             obsolete or failed): prepare it again with --prepare",
            set.status, set.execution_status
        ));
    }
    let Some(prepared_against) = set.description.strip_prefix(PREPARED) else {
        return Err(format!(
            "change set {id} was not made by `cargo xtask deploy --prepare` (its description \
             is {:?}): prepare one with --prepare",
            set.description
        ));
    };
    let now = fingerprint(deployed);
    if prepared_against != now {
        return Err(format!(
            "{stack} moved since change set {id} was prepared (stack {prepared_against} then, \
             {now} now: another deploy, a rollback or a change): its review no longer holds; \
             prepare it again with --prepare"
        ));
    }
    Ok(())
}

/// `--execute ID`: the prepared change set checked, reviewed again from
/// itself, and executed through the deploy's checks (see the module
/// documentation).
///
/// # Errors
/// No stack, a change set that may not be executed ([`executable`]), the
/// account's quota, and whatever a deploy refuses or fails on.
pub(super) async fn execute(
    clients: &Clients,
    opts: &DeployOptions,
    deployed: Option<Deployed>,
    id: &str,
    out: &dyn Out,
) -> anyhow::Result<DeployReport> {
    let stack = opts.stack_name();
    let Some(deployed) = deployed else {
        bail!("{stack} does not exist: there is no prepared change set to execute");
    };
    let set = change_set::describe(clients, &stack, id).await?;
    executable(&stack, id, &deployed, &set).map_err(anyhow::Error::msg)?;
    let stage = opts.config.stage;
    checks::check_concurrency(clients, stage, Some(&deployed.template), &set.template).await?;
    checks::warn_without_trail(clients, stage, out).await;
    let (identity, bucket) = code::artifacts_bucket(clients, out).await?;
    let code = CodeKeys {
        keys: releases::code_of(&set.parameters),
        rebuilt: false,
        uploaded: 0,
    };
    run::Run {
        clients,
        opts,
        out,
        stack,
        bucket,
        identity,
        deployed: Some(deployed),
        stack_plan: StackPlan::Update,
        template: set.template,
        parameters: set.parameters,
        code,
        adopted: false,
    }
    .execute_prepared(id)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::types::StackStatus;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn deployed(memory: u32) -> Deployed {
        Deployed {
            id: "arn:stack/s/1".into(),
            status: StackStatus::UpdateComplete,
            template: json!({"Resources": {"Fn": {"Properties": {"MemorySize": memory}}}}),
            parameters: BTreeMap::from([("Stage".to_owned(), "prod".to_owned())]),
            termination_protection: true,
        }
    }

    fn prepared_on(d: &Deployed) -> Described {
        Described {
            stack_id: d.id.clone(),
            status: "CREATE_COMPLETE".into(),
            execution_status: "AVAILABLE".into(),
            description: description(d),
            ..Described::default()
        }
    }

    #[test]
    fn a_change_set_prepared_on_this_stack_as_it_is_may_be_executed() {
        let now = deployed(256);
        assert_eq!(executable("s", "cs", &now, &prepared_on(&now)), Ok(()));
        assert!(description(&now).starts_with("cargo xtask deploy --prepare; stack "));
        assert_eq!(
            fingerprint(&now),
            fingerprint(&deployed(256)),
            "deterministic"
        );
    }

    #[test]
    fn a_stack_that_moved_since_is_refused() {
        let then = deployed(256);
        let set = prepared_on(&then);
        let error = executable("s", "cs", &deployed(512), &set).unwrap_err();
        assert!(
            error.contains("s moved since change set cs was prepared"),
            "{error}"
        );
        assert!(error.contains("--prepare"), "{error}");
        let mut rolled_back = deployed(256);
        rolled_back.status = StackStatus::UpdateRollbackComplete;
        assert!(
            executable("s", "cs", &rolled_back, &set).is_err(),
            "status counts"
        );
        let mut other_parameters = deployed(256);
        other_parameters
            .parameters
            .insert("Stage".into(), "staging".into());
        assert!(executable("s", "cs", &other_parameters, &set).is_err());
    }

    #[test]
    fn another_stack_s_executed_or_foreign_change_sets_are_refused() {
        let now = deployed(256);
        let mut other = prepared_on(&now);
        other.stack_id = "arn:stack/s/0".into();
        assert!(
            executable("s", "cs", &now, &other)
                .unwrap_err()
                .contains("belongs to arn:stack/s/0")
        );
        let mut executed = prepared_on(&now);
        executed.execution_status = "EXECUTE_COMPLETE".into();
        assert!(
            executable("s", "cs", &now, &executed)
                .unwrap_err()
                .contains("EXECUTE_COMPLETE")
        );
        let mut foreign = prepared_on(&now);
        foreign.description = "made by hand".into();
        assert!(
            executable("s", "cs", &now, &foreign)
                .unwrap_err()
                .contains("not made by")
        );
    }

    #[test]
    fn hotswap_cannot_be_prepared() {
        assert!(compatible(&Mode::Prepare, true).is_err());
        assert!(compatible(&Mode::Execute("x".into()), true).is_err());
        assert_eq!(compatible(&Mode::Prepare, false), Ok(()));
        assert_eq!(compatible(&Mode::Deploy, true), Ok(()));
    }
}
