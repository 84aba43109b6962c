//! The stack as deployed: described, its status, template, parameters,
//! outputs and resources; deleting it (followed to its end), and its
//! termination protection.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Stack, StackStatus, TemplateStage};
use infra::StackOutputs;
use serde_json::Value;

use crate::aws::{Clients, Session, sdk_error};

/// The stack's status, `None` when there is no such stack (or it is deleted).
///
/// # Errors
/// CloudFormation refused for another reason.
pub async fn status(cfn: &Client, stack: &str) -> anyhow::Result<Option<StackStatus>> {
    Ok(describe_stack(cfn, stack)
        .await?
        .and_then(|s| s.stack_status().cloned())
        .filter(|status| *status != StackStatus::DeleteComplete))
}

/// The stack's description, `None` when there is no such stack.
///
/// # Errors
/// CloudFormation refused for another reason.
pub async fn describe_stack(cfn: &Client, stack: &str) -> anyhow::Result<Option<Stack>> {
    match cfn.describe_stacks().stack_name(stack).send().await {
        Ok(out) => Ok(out.stacks().first().cloned()),
        Err(e)
            if e.as_service_error()
                .and_then(|s| s.meta().message())
                .is_some_and(|m| m.contains("does not exist")) =>
        {
            Ok(None)
        }
        Err(e) => anyhow::bail!("describe stack {stack}: {}", sdk_error(&e)),
    }
}

/// A deployed stack: what a new deploy is compared against.
#[derive(Clone, Debug)]
pub struct Deployed {
    /// Its id (an ARN): it can be read by id after a deletion.
    pub id: String,
    /// Its status.
    pub status: StackStatus,
    /// The template it was deployed with.
    pub template: Value,
    /// Its parameters' values.
    pub parameters: BTreeMap<String, String>,
    /// Whether termination protection is on.
    pub termination_protection: bool,
}

/// The stack as deployed, `None` when there is none.
///
/// # Errors
/// CloudFormation refused, or the template is not JSON.
pub async fn deployed(clients: &Clients, stack: &str) -> anyhow::Result<Option<Deployed>> {
    let Some(described) = describe_stack(&clients.cfn, stack).await? else {
        return Ok(None);
    };
    let status = described
        .stack_status()
        .cloned()
        .unwrap_or_else(|| StackStatus::from(""));
    if status == StackStatus::DeleteComplete {
        return Ok(None);
    }
    let template = if status == StackStatus::ReviewInProgress {
        // Nothing deployed yet: an empty template.
        serde_json::json!({})
    } else {
        deployed_template(clients, stack).await?
    };
    Ok(Some(Deployed {
        id: described.stack_id().unwrap_or(stack).to_owned(),
        status,
        template,
        parameters: parameters_of(&described),
        termination_protection: described.enable_termination_protection() == Some(true),
    }))
}

/// The template the stack was deployed with.
async fn deployed_template(clients: &Clients, stack: &str) -> anyhow::Result<Value> {
    let out = clients
        .cfn
        .get_template()
        .stack_name(stack)
        .template_stage(TemplateStage::Original)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("read the deployed template of {stack}: {}", sdk_error(&e)))?;
    let body = out.template_body().unwrap_or("{}");
    serde_json::from_str(body).context("the deployed template is not JSON")
}

/// Logical id → physical id of the stack's resources.
///
/// # Errors
/// CloudFormation refused.
pub async fn physical_ids(
    clients: &Clients,
    stack: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut pages = clients
        .cfn
        .list_stack_resources()
        .stack_name(stack)
        .into_paginator()
        .send();
    let mut ids = BTreeMap::new();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| anyhow::anyhow!("list the resources of {stack}: {}", sdk_error(&e)))?;
        for r in page.stack_resource_summaries() {
            if let (Some(logical), Some(physical)) =
                (r.logical_resource_id(), r.physical_resource_id())
            {
                ids.insert(logical.to_owned(), physical.to_owned());
            }
        }
    }
    Ok(ids)
}

/// Deletes a stack and follows it until it is gone.
///
/// # Errors
/// The deletion was refused or failed (each failed resource is in the error).
pub async fn delete(
    clients: &Clients,
    stack: &str,
    resources: usize,
    what: &str,
) -> anyhow::Result<()> {
    let id = describe_stack(&clients.cfn, stack)
        .await?
        .and_then(|s| s.stack_id().map(str::to_owned))
        .unwrap_or_else(|| stack.to_owned());
    let after = super::progress::latest_event_id(&clients.cfn, stack).await?;
    clients
        .cfn
        .delete_stack()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("delete {stack}: {}", sdk_error(&e)))?;
    let finished =
        super::progress::follow(&clients.cfn, &id, after.as_deref(), resources, what).await?;
    if finished.status != StackStatus::DeleteComplete {
        bail!(
            "deleting {stack} failed: the stack is {}{}",
            finished.status,
            super::progress::failures(&finished.failures)
        );
    }
    Ok(())
}

/// Turns termination protection on or off.
///
/// # Errors
/// CloudFormation refused.
pub async fn set_termination_protection(
    clients: &Clients,
    stack: &str,
    on: bool,
) -> anyhow::Result<()> {
    clients
        .cfn
        .update_termination_protection()
        .stack_name(stack)
        .enable_termination_protection(on)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "turn termination protection {} for {stack}: {}",
                if on { "on" } else { "off" },
                sdk_error(&e)
            )
        })?;
    Ok(())
}

/// The stack's outputs.
///
/// # Errors
/// CloudFormation refused, or the stack is gone.
pub async fn outputs(clients: &Clients, stack: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let described = describe_stack(&clients.cfn, stack)
        .await?
        .with_context(|| format!("{stack} vanished"))?;
    Ok(outputs_of(&described))
}

/// A described stack's parameters, by name (pure).
pub fn parameters_of(stack: &Stack) -> BTreeMap<String, String> {
    parameter_map(stack.parameters())
}

/// Parameters, by name (pure).
pub fn parameter_map(
    parameters: &[aws_sdk_cloudformation::types::Parameter],
) -> BTreeMap<String, String> {
    parameters
        .iter()
        .filter_map(|p| {
            Some((
                p.parameter_key()?.to_owned(),
                p.parameter_value()?.to_owned(),
            ))
        })
        .collect()
}

/// A described stack's outputs, by key (pure).
pub fn outputs_of(stack: &Stack) -> BTreeMap<String, String> {
    stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect()
}

/// The stage's stack, described; not deployed here is an error saying so,
/// in one line, with what to do.
///
/// # Errors
/// The stack does not exist in the session's account and region, or
/// CloudFormation failed.
pub async fn of_session(cfn: &Client, session: &Session) -> anyhow::Result<Stack> {
    let name = infra::stack_name(session.stage.stage);
    describe_stack(cfn, &name).await?.with_context(|| {
        format!(
            "{name} does not exist in {} {}: deploy it first (`cargo xtask deploy --stage {}`)",
            session.identity.account, session.identity.region, session.stage.stage
        )
    })
}

/// The deployed names of a described stack ([`StackOutputs`]).
///
/// # Errors
/// An output is missing (an older stack): which, in one line.
pub fn stack_outputs(name: &str, stack: &Stack) -> Result<StackOutputs, String> {
    StackOutputs::from_outputs(&outputs_of(stack)).map_err(|e| format!("{name}: {e}"))
}
