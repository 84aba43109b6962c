//! The CloudFormation calls of the deploy commands: where the template goes
//! (inline, or through the artifacts bucket when it is over CloudFormation's
//! 51,200 bytes), proposing a change set and reading it with its property
//! values, executing it (`RetainExceptOnCreate`, or `DisableRollback` for
//! `--no-rollback`) and following the stack, deleting, termination
//! protection, and reading what is deployed. No decisions and no printing
//! beyond the progress of [`super::progress`]: [`super`] decides.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::aws::sdk_error;
use anyhow::{Context, bail};
use aws_sdk_cloudformation::client::Waiters;
use aws_sdk_cloudformation::types::{Capability, ChangeSetType, Parameter, TemplateStage};
use serde_json::Value;

use super::changes::{self, ResourceChange};
use super::plan::{self, StackPlan};
use super::progress;
use super::properties::Detail;
use crate::artifacts::{self, Bucket};
use crate::aws::Clients;

/// The most CloudFormation takes inline (`TemplateBody`), in bytes.
pub const INLINE_LIMIT: usize = 51_200;

/// How long a change set may take to be computed.
const CHANGE_SET_WAIT: Duration = Duration::from_secs(10 * 60);

/// How the template reaches CloudFormation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateSource {
    /// Inline (`TemplateBody`).
    Body(String),
    /// From the artifacts bucket (`TemplateURL`), for templates over
    /// [`INLINE_LIMIT`].
    Url(String),
}

/// Whether a template of `bytes` must go through S3.
pub fn needs_url(bytes: usize) -> bool {
    bytes > INLINE_LIMIT
}

/// `templates/<stack>/<sha256>.json`: content-addressed, like the code.
pub fn template_key(stack: &str, template: &str) -> String {
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(template.as_bytes()));
    format!("templates/{stack}/{sha}.json")
}

/// The URL CloudFormation reads an object of the bucket from: virtual-hosted
/// S3 on AWS; on an emulator, path-style on the emulator, whose
/// CloudFormation only fetches `localhost` URLs.
pub fn object_url(endpoint: Option<&str>, region: &str, bucket: &str, key: &str) -> String {
    match endpoint {
        Some(endpoint) => format!(
            "{}/{bucket}/{key}",
            crate::aws::emulator::fetchable_endpoint(endpoint)
        ),
        None => {
            let domain = if region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            format!("https://{bucket}.s3.{region}.{domain}/{key}")
        }
    }
}

/// The template as CloudFormation will take it: inline when small enough,
/// otherwise uploaded (once: the key is its hash) and passed by URL.
/// Returns the source and, for a URL, where it was put.
///
/// # Errors
/// The upload failed.
pub async fn place_template(
    clients: &Clients,
    bucket: &Bucket,
    stack: &str,
    template: &str,
) -> anyhow::Result<(TemplateSource, Option<String>)> {
    if !needs_url(template.len()) {
        return Ok((TemplateSource::Body(template.to_owned()), None));
    }
    let key = template_key(stack, template);
    if !artifacts::exists(clients, bucket, &key).await? {
        artifacts::put_bytes(
            clients,
            bucket,
            &key,
            "application/json",
            template.as_bytes().to_vec(),
        )
        .await?;
    }
    let url = object_url(
        clients.endpoint.as_deref(),
        &clients.region,
        &bucket.name,
        &key,
    );
    Ok((
        TemplateSource::Url(url),
        Some(format!("s3://{}/{key}", bucket.name)),
    ))
}

/// A change set, read (the default: an empty one).
#[derive(Clone, Debug, Default)]
pub struct ChangeSet {
    /// Its id (an ARN).
    pub id: String,
    /// One row per resource.
    pub rows: Vec<ResourceChange>,
    /// What the change set says of each modified resource's properties, by
    /// logical id (empty from an emulator).
    pub details: BTreeMap<String, Vec<Detail>>,
}

/// A change set, or nothing to do.
#[derive(Clone, Debug)]
pub enum Proposal {
    NoChanges,
    Changes(ChangeSet),
}

/// CloudFormation's ways of saying "nothing to do": a failed change set
/// (AWS), or a refused request (moto, `UpdateStack`).
fn means_no_changes(message: &str) -> bool {
    message.contains("didn't contain changes") || message.contains("No updates are to be performed")
}

/// Creates a change set for the template and parameters, waits until it is
/// computed, and reads it. A change set without changes is deleted and
/// reported as [`Proposal::NoChanges`].
///
/// # Errors
/// CloudFormation refused the template, or the change set failed.
pub async fn propose(
    clients: &Clients,
    stack: &str,
    template: &TemplateSource,
    parameters: &BTreeMap<String, String>,
    create: bool,
) -> anyhow::Result<Proposal> {
    let cfn = &clients.cfn;
    // Unique even for two deploys in the same millisecond.
    let mut nonce = [0u8; 4];
    getrandom::fill(&mut nonce).context("read the system's randomness")?;
    let name = format!(
        "xtask-{}-{}",
        crate::base::when::now_ms(),
        hex::encode(nonce)
    );
    let mut request = cfn
        .create_change_set()
        .stack_name(stack)
        .change_set_name(&name)
        .change_set_type(if create {
            ChangeSetType::Create
        } else {
            ChangeSetType::Update
        })
        .set_parameters(Some(
            parameters
                .iter()
                .map(|(k, v)| {
                    Parameter::builder()
                        .parameter_key(k)
                        .parameter_value(v)
                        .build()
                })
                .collect(),
        ))
        .capabilities(Capability::CapabilityIam)
        .description("cargo xtask deploy");
    request = match template {
        TemplateSource::Body(body) => request.template_body(body),
        TemplateSource::Url(url) => request.template_url(url),
    };
    let id = match request.send().await {
        Ok(out) => out.id().unwrap_or(&name).to_owned(),
        Err(e) => {
            if means_no_changes(&crate::aws::chain(&e)) {
                return Ok(Proposal::NoChanges);
            }
            bail!("create a change set for {stack}: {}", sdk_error(&e));
        }
    };
    let waited = cfn
        .wait_until_change_set_create_complete()
        .stack_name(stack)
        .change_set_name(&id)
        .wait(CHANGE_SET_WAIT)
        .await;
    if waited.is_err() {
        let out = cfn
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(&id)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("read the change set: {}", sdk_error(&e)))?;
        let reason = out
            .status_reason()
            .unwrap_or("(no reason given)")
            .to_owned();
        let status = out
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        discard(clients, stack, &id, create).await;
        if means_no_changes(&reason) {
            return Ok(Proposal::NoChanges);
        }
        bail!("the change set for {stack} is {status}: {reason}");
    }
    Ok(Proposal::Changes(read(clients, stack, &id).await?))
}

/// Reads every page of a change set, with property values.
async fn read(clients: &Clients, stack: &str, id: &str) -> anyhow::Result<ChangeSet> {
    let mut pages = clients
        .cfn
        .describe_change_set()
        .stack_name(stack)
        .change_set_name(id)
        .include_property_values(true)
        .into_paginator()
        .send();
    let mut set = ChangeSet {
        id: id.to_owned(),
        rows: Vec::new(),
        details: BTreeMap::new(),
    };
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| anyhow::anyhow!("read the change set: {}", sdk_error(&e)))?;
        for change in page.changes() {
            let Some(rc) = change.resource_change() else {
                continue;
            };
            let logical_id = rc.logical_resource_id().unwrap_or("?").to_owned();
            let details: Vec<Detail> = rc
                .details()
                .iter()
                .filter_map(|d| d.target())
                .map(|t| Detail {
                    attribute: t.attribute().map(|a| a.as_str().to_owned()),
                    name: t.name().map(str::to_owned),
                    path: t.path().map(str::to_owned),
                    before: t.before_value().map(str::to_owned),
                    after: t.after_value().map(str::to_owned),
                })
                .collect();
            if !details.is_empty() {
                set.details.insert(logical_id.clone(), details);
            }
            set.rows.push(ResourceChange {
                action: changes::Action::parse(rc.action().map(|a| a.as_str()).unwrap_or("?")),
                logical_id,
                resource_type: rc.resource_type().unwrap_or("?").to_owned(),
                replacement: rc
                    .replacement()
                    .and_then(|r| changes::Replacement::parse(r.as_str())),
                evidence: None,
            });
        }
    }
    Ok(set)
}

/// A deployed stack: what [`super`] compares a new deploy against.
#[derive(Clone, Debug)]
pub struct Deployed {
    /// Its id (an ARN): it can be read by id after a deletion.
    pub id: String,
    /// Its status.
    pub status: String,
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
    let Some(described) = progress::describe_stack(&clients.cfn, stack).await? else {
        return Ok(None);
    };
    let status = described
        .stack_status()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    if status == "DELETE_COMPLETE" {
        return Ok(None);
    }
    let template = if status == "REVIEW_IN_PROGRESS" {
        // Nothing deployed yet: an empty template.
        serde_json::json!({})
    } else {
        deployed_template(clients, stack).await?
    };
    Ok(Some(Deployed {
        id: described.stack_id().unwrap_or(stack).to_owned(),
        status,
        template,
        parameters: described
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_owned(),
                    p.parameter_value()?.to_owned(),
                ))
            })
            .collect(),
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

/// Drops a change set that will not be executed; a stack created just for
/// it (a `CREATE` change set) goes too. Best effort: what is left is
/// harmless (a change set expires; the next deploy recreates an empty
/// stack, see [`plan::plan`]).
pub async fn discard(clients: &Clients, stack: &str, change_set_id: &str, created_stack: bool) {
    let _ = clients
        .cfn
        .delete_change_set()
        .stack_name(stack)
        .change_set_name(change_set_id)
        .send()
        .await;
    if created_stack {
        let _ = clients.cfn.delete_stack().stack_name(stack).send().await;
    }
}

/// How a change set is executed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Execution {
    /// A `CREATE` change set.
    pub create: bool,
    /// `--no-rollback`: a failure leaves the stack as it is, to debug in
    /// place. Otherwise a failure rolls back with `RetainExceptOnCreate`:
    /// what this operation created is deleted even when its policy retains
    /// it, so a failed first create leaves no table or queue behind to
    /// block the next create with its name.
    pub disable_rollback: bool,
    /// The number of resources, for the progress bar.
    pub resources: usize,
}

/// Executes the change set and follows the stack to its end.
///
/// # Errors
/// The execution was refused, or the stack did not end complete (each
/// failed resource is in the error).
pub async fn execute(
    clients: &Clients,
    stack: &str,
    change_set_id: &str,
    how: Execution,
) -> anyhow::Result<String> {
    let cfn = &clients.cfn;
    let after = progress::latest_event_id(cfn, stack).await?;
    let id = progress::describe_stack(cfn, stack)
        .await?
        .and_then(|s| s.stack_id().map(str::to_owned))
        .unwrap_or_else(|| stack.to_owned());
    let mut request = cfn
        .execute_change_set()
        .stack_name(stack)
        .change_set_name(change_set_id);
    request = if how.disable_rollback {
        request.disable_rollback(true)
    } else {
        request.retain_except_on_create(true)
    };
    if let Err(e) = request.send().await {
        let status = progress::stack_status(cfn, &id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| "gone".to_owned());
        bail!(
            "executing the change set for {stack} failed: {}; the stack is {status}{}",
            sdk_error(&e),
            recovery_hint(&status)
        );
    }
    let what = if how.create { "create" } else { "update" };
    let finished = progress::follow(cfn, &id, after.as_deref(), how.resources, what).await?;
    let expected = if how.create {
        "CREATE_COMPLETE"
    } else {
        "UPDATE_COMPLETE"
    };
    if finished.status != expected {
        bail!(
            "deploying {stack} failed: the stack is {}{}{}",
            finished.status,
            recovery_hint(&finished.status),
            failures(&finished.failures)
        );
    }
    Ok(finished.status)
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
    let id = progress::describe_stack(&clients.cfn, stack)
        .await?
        .and_then(|s| s.stack_id().map(str::to_owned))
        .unwrap_or_else(|| stack.to_owned());
    let after = progress::latest_event_id(&clients.cfn, stack).await?;
    clients
        .cfn
        .delete_stack()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("delete {stack}: {}", sdk_error(&e)))?;
    let finished = progress::follow(&clients.cfn, &id, after.as_deref(), resources, what).await?;
    if finished.status != "DELETE_COMPLETE" {
        bail!(
            "deleting {stack} failed: the stack is {}{}",
            finished.status,
            failures(&finished.failures)
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
    Ok(progress::describe_stack(&clients.cfn, stack)
        .await?
        .with_context(|| format!("{stack} vanished"))?
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect())
}

fn recovery_hint(status: &str) -> &'static str {
    match plan::plan(Some(status)) {
        StackPlan::Recreate { .. } => {
            " (it holds no resources: the next deploy deletes it and creates it again)"
        }
        _ if status == "UPDATE_FAILED" || status == "CREATE_FAILED" => {
            " (not rolled back, as asked: fix the cause and deploy again)"
        }
        _ => "",
    }
}

/// The failed resources, one per line after the error's first line.
fn failures(failures: &[progress::Failure]) -> String {
    if failures.is_empty() {
        return "; no resource reported a failure: see the stack's events".to_owned();
    }
    failures
        .iter()
        .map(|f| format!("\n  failed: {f}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_over_the_inline_limit_go_through_s3() {
        assert!(!needs_url(0));
        assert!(!needs_url(INLINE_LIMIT));
        assert!(needs_url(INLINE_LIMIT + 1));
        // Today's prod template fits, with room: see the synth bench.
        let prod = infra::template(&infra::StageConfig::for_stage(infra::Stage::Prod)).to_json();
        assert!(!needs_url(prod.len()), "{} bytes", prod.len());
    }

    #[test]
    fn template_keys_are_content_addressed() {
        let a = template_key("s", "{}");
        assert_eq!(a, template_key("s", "{}"));
        assert_ne!(a, template_key("s", "{ }"));
        assert!(a.starts_with("templates/s/") && a.ends_with(".json"), "{a}");
    }

    #[test]
    fn object_urls_for_aws_and_for_the_emulator() {
        assert_eq!(
            object_url(None, "eu-west-1", "b", "templates/s/x.json"),
            "https://b.s3.eu-west-1.amazonaws.com/templates/s/x.json"
        );
        assert_eq!(
            object_url(None, "cn-north-1", "b", "k"),
            "https://b.s3.cn-north-1.amazonaws.com.cn/k"
        );
        assert_eq!(
            object_url(Some("http://127.0.0.1:5000/"), "us-east-1", "b", "k"),
            "http://localhost:5000/b/k"
        );
    }
}
