//! `cargo xtask deploy`, `diff` and `destroy`: a stage's stack through
//! CloudFormation change sets, with guard rails.
//!
//! A deploy: builds the Lambdas for the stage's architecture (skipped when
//! their inputs are unchanged, see [`crate::build`]), uploads the zips under
//! content-hashed keys (skipped when present, see [`crate::artifacts`]),
//! creates a change set for the synthesized template, prints it
//! ([`changes::render`]), refuses to lose data ([`changes::guard`]), asks for
//! prod, executes it while following the stack events ([`progress`]), and
//! writes the outputs to `target/cfn/<stack>.outputs.json`.
//!
//! The functions here are what the binary runs and what the end-to-end tests
//! call; the clap arguments and the printing of reports live in [`cli`].

pub mod changes;
pub mod cli;
pub mod plan;
pub mod progress;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::error::DisplayErrorContext;
use aws_sdk_cloudformation::types::{Capability, ChangeSetType, Parameter, TemplateStage};
use infra::StageConfig;
use infra::stack::params;
use serde_json::Value;

use crate::artifacts;
use crate::aws::Clients;
use crate::build::{self, Built};
use crate::tools::Tools;
use crate::ui::Confirmation;
use changes::{ParameterChange, ResourceChange};
use plan::StackPlan;

/// What to deploy, and how careful to be.
#[derive(Clone, Debug)]
pub struct DeployOptions {
    /// The stage's configuration (its architecture is what gets built).
    pub config: StageConfig,
    /// Template parameters to set instead of the stage's values (e.g.
    /// `TableSuffix`); the names must be the template's.
    pub parameters: BTreeMap<String, String>,
    /// Let a change set remove or replace a table or the queue.
    pub allow_destructive: bool,
    /// Confirmed beforehand (prod asks otherwise).
    pub yes: bool,
    /// Whether a human can be asked (stdin is a terminal).
    pub interactive: bool,
    /// Colored change-set table.
    pub color: bool,
    /// Where the outputs file is written (`target/cfn`).
    pub outputs_dir: PathBuf,
    /// Where the functions' code comes from.
    pub code: build::Source,
}

impl DeployOptions {
    /// Options for deploying `config`: no overrides, nothing destructive, no
    /// confirmation given, nobody to ask, outputs under `target/cfn`.
    pub fn new(config: StageConfig) -> DeployOptions {
        DeployOptions {
            config,
            parameters: BTreeMap::new(),
            allow_destructive: false,
            yes: false,
            interactive: false,
            color: false,
            outputs_dir: crate::root().join("target/cfn"),
            code: build::Source::Build,
        }
    }

    fn stack_name(&self) -> String {
        infra::stack_name(self.config.stage)
    }
}

/// How a deploy ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The stack was created.
    Created,
    /// The stack was updated.
    Updated,
    /// Nothing to do: the stack already matches.
    NoChanges,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::NoChanges => "no-changes",
        })
    }
}

/// What a deploy did.
#[derive(Clone, Debug)]
pub struct DeployReport {
    /// `cc-agent-reconciler-<stage>`.
    pub stack_name: String,
    /// Created, updated or unchanged.
    pub outcome: Outcome,
    /// The status of a stack that was deleted and created again
    /// (`ROLLBACK_COMPLETE`, `REVIEW_IN_PROGRESS`).
    pub recovered_from: Option<String>,
    /// Whether cargo-lambda ran (false: inputs unchanged).
    pub rebuilt: bool,
    /// Zips uploaded (0: all already in the bucket).
    pub uploaded: usize,
    /// The S3 keys of the functions' code, as passed to the template.
    pub code_keys: Vec<String>,
    /// The change set's rows (empty for no changes).
    pub changes: Vec<ResourceChange>,
    /// Destructive changes let through by `--allow-destructive`.
    pub destructive: Vec<changes::Destructive>,
    /// The stack's outputs.
    pub outputs: BTreeMap<String, String>,
    /// Where they were written.
    pub outputs_file: PathBuf,
}

impl DeployReport {
    /// One machine-readable line: `deploy: stack=… outcome=… rebuilt=… uploaded=… changes=…`.
    pub fn summary(&self) -> String {
        format!(
            "deploy: stack={} outcome={} rebuilt={} uploaded={} changes={}{}",
            self.stack_name,
            self.outcome,
            self.rebuilt,
            self.uploaded,
            self.changes.len(),
            self.recovered_from
                .as_deref()
                .map(|s| format!(" recovered-from={s}"))
                .unwrap_or_default()
        )
    }
}

/// What `diff` found.
#[derive(Clone, Debug)]
pub struct DiffReport {
    /// `cc-agent-reconciler-<stage>`.
    pub stack_name: String,
    /// Whether the stack exists (otherwise every resource is an `Add`).
    pub stack_exists: bool,
    /// The change set's rows.
    pub changes: Vec<ResourceChange>,
    /// Parameters whose values change.
    pub parameters: Vec<ParameterChange>,
    /// What the deploy guard would refuse (without `--allow-destructive`).
    pub destructive: Vec<changes::Destructive>,
    /// The rendered table.
    pub table: String,
}

impl DiffReport {
    /// Nothing would change.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.parameters.is_empty()
    }
}

/// Deploys the stage's stack; see the module documentation.
///
/// # Errors
/// Refusals (guard, confirmation, a busy stack), build or upload failures,
/// and a failed stack operation (after printing each failed resource).
pub async fn deploy(
    clients: &Clients,
    tools: &Tools,
    opts: &DeployOptions,
) -> anyhow::Result<DeployReport> {
    let stack = opts.stack_name();
    opts.config.validate().map_err(anyhow::Error::msg)?;
    // Before building anything: a prod deploy nobody can confirm stops here.
    if let Confirmation::Refuse(error) =
        plan::deploy_confirmation(opts.config.stage, opts.yes, opts.interactive)
    {
        bail!(error);
    }
    build::check_source(tools, opts.config.architecture, &opts.code)?;
    let template = infra::template(&opts.config).to_json();
    let stack_plan = plan::plan(
        progress::stack_status(&clients.cfn, &stack)
            .await?
            .as_deref(),
    );
    if let StackPlan::Blocked { status, advice } = &stack_plan {
        bail!("{stack} is {status}: {advice}");
    }

    let built = build::packages(tools, opts.config.architecture, &opts.code)?;
    let account = artifacts::account_id(clients).await?;
    let bucket = artifacts::bucket_name(&account, &clients.region);
    artifacts::ensure_bucket(clients, &bucket).await?;
    let mut keys = Vec::new();
    let mut uploaded = 0;
    for zip in &built.zips {
        let (key, fresh) = artifacts::upload_if_missing(clients, &bucket, zip).await?;
        eprintln!(
            "artifacts: s3://{bucket}/{key} {}",
            if fresh {
                "uploaded"
            } else {
                "already there, not uploaded"
            }
        );
        uploaded += usize::from(fresh);
        keys.push(key);
    }
    let parameters = stack_parameters(&opts.config, &bucket, &built, &keys, &opts.parameters)?;

    let mut recovered_from = None;
    if let StackPlan::Recreate { status } = &stack_plan {
        eprintln!(
            "stack: {stack} is {status}: a first create that failed (or was never executed) \
             left it empty and it cannot be updated; deleting it, then creating it again"
        );
        delete_and_wait(clients, &stack).await?;
        recovered_from = Some(status.clone());
    }
    let create = !matches!(stack_plan, StackPlan::Update);

    let report = |outcome, changes, destructive, outputs, outputs_file| DeployReport {
        stack_name: stack.clone(),
        outcome,
        recovered_from: recovered_from.clone(),
        rebuilt: built.rebuilt,
        uploaded,
        code_keys: keys.clone(),
        changes,
        destructive,
        outputs,
        outputs_file,
    };

    let proposal = propose(clients, &stack, &template, &parameters, create).await?;
    let Proposal::Changes {
        change_set_id,
        changes,
        parameters: parameter_changes,
    } = proposal
    else {
        println!("No changes: {stack} is up to date.");
        let (outputs, file) = save_outputs(clients, &stack, opts).await?;
        return Ok(report(
            Outcome::NoChanges,
            Vec::new(),
            Vec::new(),
            outputs,
            file,
        ));
    };
    println!(
        "Change set for {stack} ({}):",
        if create { "create" } else { "update" }
    );
    print!(
        "{}",
        changes::render(&changes, &parameter_changes, opts.color)
    );

    let destructive = match changes::guard(&changes, opts.allow_destructive) {
        Ok(destructive) => destructive,
        Err(refusal) => {
            discard(clients, &stack, &change_set_id, create).await;
            bail!(refusal);
        }
    };
    for d in &destructive {
        eprintln!("warning: --allow-destructive: {d}");
    }
    if let Confirmation::Ask { question, expected } =
        plan::deploy_confirmation(opts.config.stage, opts.yes, opts.interactive)
        && !crate::ui::ask(&question, &expected)?
    {
        discard(clients, &stack, &change_set_id, create).await;
        bail!("not confirmed: nothing deployed");
    }

    execute(clients, &stack, &change_set_id, changes.len(), create).await?;
    let (outputs, file) = save_outputs(clients, &stack, opts).await?;
    let outcome = if create {
        Outcome::Created
    } else {
        Outcome::Updated
    };
    Ok(report(outcome, changes, destructive, outputs, file))
}

/// Shows what a deploy would change, without changing anything: builds the
/// code if its inputs changed (to know the code keys; nothing is uploaded),
/// creates a change set, prints it and deletes it. A stack that does not
/// exist yet is shown as all `Add`, without a change set.
///
/// # Errors
/// A busy stack, a failed build, or CloudFormation refusing the change set.
pub async fn diff(
    clients: &Clients,
    tools: &Tools,
    opts: &DeployOptions,
) -> anyhow::Result<DiffReport> {
    let stack = opts.stack_name();
    opts.config.validate().map_err(anyhow::Error::msg)?;
    build::check_source(tools, opts.config.architecture, &opts.code)?;
    let template = infra::template(&opts.config).to_json();
    let stack_plan = plan::plan(
        progress::stack_status(&clients.cfn, &stack)
            .await?
            .as_deref(),
    );
    let (changes, parameters) = match &stack_plan {
        StackPlan::Blocked { status, advice } => bail!("{stack} is {status}: {advice}"),
        StackPlan::Create | StackPlan::Recreate { .. } => {
            if let StackPlan::Recreate { status } = &stack_plan {
                println!("{stack} is {status}: a deploy deletes it and creates it again.");
            }
            (all_added(&template)?, Vec::new())
        }
        StackPlan::Update => {
            let built = build::packages(tools, opts.config.architecture, &opts.code)?;
            let account = artifacts::account_id(clients).await?;
            let bucket = artifacts::bucket_name(&account, &clients.region);
            let keys: Vec<String> = built
                .zips
                .iter()
                .map(|z| artifacts::object_key(z.function.name, &z.sha256))
                .collect();
            let parameters =
                stack_parameters(&opts.config, &bucket, &built, &keys, &opts.parameters)?;
            match propose(clients, &stack, &template, &parameters, false).await? {
                Proposal::NoChanges => (Vec::new(), Vec::new()),
                Proposal::Changes {
                    change_set_id,
                    changes,
                    parameters,
                } => {
                    discard(clients, &stack, &change_set_id, false).await;
                    (changes, parameters)
                }
            }
        }
    };
    let destructive = changes::destructive_changes(&changes);
    let table = changes::render(&changes, &parameters, opts.color);
    Ok(DiffReport {
        stack_name: stack,
        stack_exists: !matches!(stack_plan, StackPlan::Create),
        changes,
        parameters,
        destructive,
        table,
    })
}

/// What to destroy, and the confirmations given.
#[derive(Clone, Debug)]
pub struct DestroyOptions {
    /// The stage.
    pub stage: infra::Stage,
    /// `--yes`.
    pub yes: bool,
    /// `--confirm-stack <name>` (prod).
    pub confirm_stack: Option<String>,
    /// Whether a human can be asked.
    pub interactive: bool,
    /// Where the deploy wrote the outputs file (removed).
    pub outputs_dir: PathBuf,
}

/// A resource left behind by a stack deletion (`DeletionPolicy: Retain`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retained {
    /// The logical id.
    pub logical_id: String,
    /// Its type.
    pub resource_type: String,
    /// Its name or ARN, when CloudFormation told.
    pub physical_id: Option<String>,
}

/// What `destroy` did.
#[derive(Clone, Debug)]
pub struct DestroyReport {
    /// `cc-agent-reconciler-<stage>`.
    pub stack_name: String,
    /// Whether there was a stack to delete.
    pub existed: bool,
    /// Resources that stay behind.
    pub retained: Vec<Retained>,
}

/// Deletes the stage's stack and says which resources stay behind.
///
/// # Errors
/// Not confirmed, or the deletion failed (after printing each failed resource).
pub async fn destroy(clients: &Clients, opts: &DestroyOptions) -> anyhow::Result<DestroyReport> {
    let stack = infra::stack_name(opts.stage);
    let Some(described) = progress::describe_stack(&clients.cfn, &stack).await? else {
        println!("Nothing to destroy: {stack} does not exist.");
        return Ok(DestroyReport {
            stack_name: stack,
            existed: false,
            retained: Vec::new(),
        });
    };
    let stack_id = described.stack_id().unwrap_or(&stack).to_owned();
    let template = deployed_template(clients, &stack).await?;
    let mut retained: Vec<Retained> = changes::retained_resources(&template)
        .into_iter()
        .map(|(logical_id, resource_type)| Retained {
            logical_id,
            resource_type,
            physical_id: None,
        })
        .collect();
    let physical = physical_ids(clients, &stack).await;
    for r in &mut retained {
        r.physical_id = physical.get(&r.logical_id).cloned();
    }
    println!("About to delete {stack}.");
    if !retained.is_empty() {
        println!("These stay behind (DeletionPolicy: Retain):");
        print!("{}", retained_lines(&retained));
    }
    plan::destroy_confirmation(
        opts.stage,
        opts.yes,
        opts.confirm_stack.as_deref(),
        opts.interactive,
    )
    .resolve("nothing deleted")?;
    let after = progress::latest_event_id(&clients.cfn, &stack).await?;
    clients
        .cfn
        .delete_stack()
        .stack_name(&stack)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("delete {stack}: {}", DisplayErrorContext(e)))?;
    let finished = progress::follow(
        &clients.cfn,
        &stack_id,
        after.as_deref(),
        physical.len(),
        "destroy",
    )
    .await?;
    if finished.status != "DELETE_COMPLETE" {
        report_failures(&finished.failures);
        bail!("deleting {stack} failed: the stack is {}", finished.status);
    }
    let _ = std::fs::remove_file(outputs_file(&opts.outputs_dir, &stack));
    println!("Deleted {stack}.");
    if !retained.is_empty() {
        println!(
            "Retained, still there (and billed): delete them by hand once they are no longer needed:"
        );
        print!("{}", retained_lines(&retained));
    }
    Ok(DestroyReport {
        stack_name: stack,
        existed: true,
        retained,
    })
}

fn retained_lines(retained: &[Retained]) -> String {
    retained
        .iter()
        .map(|r| {
            format!(
                "  {:<24} {:<24} {}\n",
                r.logical_id,
                r.resource_type,
                r.physical_id.as_deref().unwrap_or("")
            )
            .trim_end()
            .to_owned()
                + "\n"
        })
        .collect()
}

/// The template parameters of a deploy: the stage's values, the artifacts,
/// then the overrides (which must name template parameters).
///
/// # Errors
/// An override naming no parameter of the template.
pub fn stack_parameters(
    config: &StageConfig,
    bucket: &str,
    built: &Built,
    keys: &[String],
    overrides: &BTreeMap<String, String>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::from([
        (params::STAGE.to_owned(), config.stage.as_str().to_owned()),
        (params::TABLE_SUFFIX.to_owned(), config.table_suffix.clone()),
        (
            params::EVENT_BUS_NAME.to_owned(),
            config.event_bus_name.clone(),
        ),
        (params::ARTIFACT_BUCKET.to_owned(), bucket.to_owned()),
    ]);
    for (zip, key) in built.zips.iter().zip(keys) {
        values.insert(zip.function.code_key_parameter.to_owned(), key.clone());
    }
    for (name, value) in overrides {
        if !values.contains_key(name) {
            bail!(
                "--parameter {name}: the template has no such parameter (it has {})",
                values.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        values.insert(name.clone(), value.clone());
    }
    Ok(values)
}

/// A change set, or nothing to do.
enum Proposal {
    NoChanges,
    Changes {
        change_set_id: String,
        changes: Vec<ResourceChange>,
        parameters: Vec<ParameterChange>,
    },
}

/// CloudFormation's ways of saying "nothing to do": a failed change set
/// (AWS), or a refused request (moto, `UpdateStack`).
fn means_no_changes(message: &str) -> bool {
    message.contains("didn't contain changes") || message.contains("No updates are to be performed")
}

/// Creates a change set, waits for it, and reads it (with the evidence of
/// replacements and the parameter changes, for an update).
async fn propose(
    clients: &Clients,
    stack: &str,
    template: &str,
    parameters: &BTreeMap<String, String>,
    create: bool,
) -> anyhow::Result<Proposal> {
    let cfn = &clients.cfn;
    let name = format!(
        "xtask-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    );
    let created = cfn
        .create_change_set()
        .stack_name(stack)
        .change_set_name(&name)
        .change_set_type(if create {
            ChangeSetType::Create
        } else {
            ChangeSetType::Update
        })
        .template_body(template)
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
        .description("cargo xtask deploy")
        .send()
        .await;
    let change_set_id = match created {
        Ok(out) => out.id().unwrap_or(&name).to_owned(),
        Err(e) => {
            let text = DisplayErrorContext(&e).to_string();
            if means_no_changes(&text) {
                return Ok(Proposal::NoChanges);
            }
            bail!("create a change set for {stack}: {text}");
        }
    };
    let mut delay = Duration::from_millis(200);
    loop {
        let out = cfn
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(&change_set_id)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("read the change set: {}", DisplayErrorContext(e)))?;
        match out.status().map(|s| s.as_str()) {
            Some("CREATE_COMPLETE") => break,
            Some("FAILED") => {
                let reason = out
                    .status_reason()
                    .unwrap_or("(no reason given)")
                    .to_owned();
                discard(clients, stack, &change_set_id, create).await;
                if means_no_changes(&reason) {
                    return Ok(Proposal::NoChanges);
                }
                bail!("the change set for {stack} failed: {reason}");
            }
            _ => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(3));
            }
        }
    }
    let mut changes = read_changes(clients, stack, &change_set_id).await?;
    if create {
        return Ok(Proposal::Changes {
            change_set_id,
            changes,
            parameters: Vec::new(),
        });
    }
    let new_template: Value = serde_json::from_str(template).context("parse the template")?;
    let old_template = deployed_template(clients, stack).await?;
    let old_parameters: BTreeMap<String, String> = progress::describe_stack(cfn, stack)
        .await?
        .map(|s| {
            s.parameters()
                .iter()
                .filter_map(|p| {
                    Some((
                        p.parameter_key()?.to_owned(),
                        p.parameter_value()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let evidence =
        changes::replacement_evidence(&old_template, &old_parameters, &new_template, parameters);
    changes::merge_evidence(&mut changes, &evidence, &new_template);
    let parameter_changes = changes::parameter_changes(&old_parameters, parameters);
    // An empty change list with the same template and parameters is nothing
    // to do; with other outputs or parameters it is still executed.
    if changes.is_empty() && parameter_changes.is_empty() && old_template == new_template {
        discard(clients, stack, &change_set_id, false).await;
        return Ok(Proposal::NoChanges);
    }
    Ok(Proposal::Changes {
        change_set_id,
        changes,
        parameters: parameter_changes,
    })
}

async fn read_changes(
    clients: &Clients,
    stack: &str,
    change_set_id: &str,
) -> anyhow::Result<Vec<ResourceChange>> {
    let mut rows = Vec::new();
    let mut token = None;
    loop {
        let out = clients
            .cfn
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(change_set_id)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("read the change set: {}", DisplayErrorContext(e)))?;
        for change in out.changes() {
            let Some(rc) = change.resource_change() else {
                continue;
            };
            rows.push(ResourceChange {
                action: changes::Action::parse(rc.action().map(|a| a.as_str()).unwrap_or("?")),
                logical_id: rc.logical_resource_id().unwrap_or("?").to_owned(),
                resource_type: rc.resource_type().unwrap_or("?").to_owned(),
                replacement: rc
                    .replacement()
                    .and_then(|r| changes::Replacement::parse(r.as_str())),
                evidence: None,
            });
        }
        match out.next_token() {
            Some(next) => token = Some(next.to_owned()),
            None => return Ok(rows),
        }
    }
}

/// Every resource of a template, as `Add` rows.
fn all_added(template: &str) -> anyhow::Result<Vec<ResourceChange>> {
    let template: Value = serde_json::from_str(template).context("parse the template")?;
    Ok(template["Resources"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(id, resource)| ResourceChange {
            action: changes::Action::Add,
            logical_id: id.clone(),
            resource_type: resource["Type"].as_str().unwrap_or("?").to_owned(),
            replacement: None,
            evidence: None,
        })
        .collect())
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
        .map_err(|e| {
            anyhow::anyhow!(
                "read the deployed template of {stack}: {}",
                DisplayErrorContext(e)
            )
        })?;
    let body = out.template_body().unwrap_or("{}");
    serde_json::from_str(body).context("the deployed template is not JSON")
}

/// Logical id → physical id of the stack's resources (empty when unreadable:
/// only used for messages).
async fn physical_ids(clients: &Clients, stack: &str) -> BTreeMap<String, String> {
    let mut ids = BTreeMap::new();
    let mut token = None;
    loop {
        let Ok(out) = clients
            .cfn
            .list_stack_resources()
            .stack_name(stack)
            .set_next_token(token)
            .send()
            .await
        else {
            return ids;
        };
        for r in out.stack_resource_summaries() {
            if let (Some(logical), Some(physical)) =
                (r.logical_resource_id(), r.physical_resource_id())
            {
                ids.insert(logical.to_owned(), physical.to_owned());
            }
        }
        match out.next_token() {
            Some(next) => token = Some(next.to_owned()),
            None => return ids,
        }
    }
}

/// Drops a change set that will not be executed; a stack created just for
/// it (a `CREATE` change set) goes too. Best effort.
async fn discard(clients: &Clients, stack: &str, change_set_id: &str, created_stack: bool) {
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

/// Deletes a stack and waits until it is gone.
async fn delete_and_wait(clients: &Clients, stack: &str) -> anyhow::Result<()> {
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
        .map_err(|e| anyhow::anyhow!("delete {stack}: {}", DisplayErrorContext(e)))?;
    let finished = progress::follow(&clients.cfn, &id, after.as_deref(), 1, "delete").await?;
    if finished.status != "DELETE_COMPLETE" {
        report_failures(&finished.failures);
        bail!("deleting {stack} failed: the stack is {}", finished.status);
    }
    Ok(())
}

/// Executes the change set and follows the stack to its end.
async fn execute(
    clients: &Clients,
    stack: &str,
    change_set_id: &str,
    resources: usize,
    create: bool,
) -> anyhow::Result<()> {
    let cfn = &clients.cfn;
    let after = progress::latest_event_id(cfn, stack).await?;
    let id = progress::describe_stack(cfn, stack)
        .await?
        .and_then(|s| s.stack_id().map(str::to_owned))
        .unwrap_or_else(|| stack.to_owned());
    if let Err(e) = cfn
        .execute_change_set()
        .stack_name(stack)
        .change_set_name(change_set_id)
        .send()
        .await
    {
        let status = progress::stack_status(cfn, &id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| "gone".to_owned());
        bail!(
            "executing the change set for {stack} failed: {}; the stack is {status}{}",
            DisplayErrorContext(e),
            recovery_hint(&status)
        );
    }
    let finished = progress::follow(
        cfn,
        &id,
        after.as_deref(),
        resources,
        if create { "create" } else { "update" },
    )
    .await?;
    let expected = if create {
        "CREATE_COMPLETE"
    } else {
        "UPDATE_COMPLETE"
    };
    if finished.status != expected {
        report_failures(&finished.failures);
        bail!(
            "deploying {stack} failed: the stack is {}{}",
            finished.status,
            recovery_hint(&finished.status)
        );
    }
    println!("{stack}: {}", finished.status);
    Ok(())
}

fn recovery_hint(status: &str) -> &'static str {
    match plan::plan(Some(status)) {
        StackPlan::Recreate { .. } => {
            " (it holds no resources: the next deploy deletes it and creates it again)"
        }
        _ => "",
    }
}

fn report_failures(failures: &[progress::Failure]) {
    if failures.is_empty() {
        eprintln!("(no resource reported a failure: see the stack's events)");
    }
    for failure in failures {
        eprintln!("failed: {failure}");
    }
}

/// `<dir>/<stack>.outputs.json`.
pub fn outputs_file(dir: &std::path::Path, stack: &str) -> PathBuf {
    dir.join(format!("{stack}.outputs.json"))
}

/// Reads the stack's outputs, prints them and writes them to the outputs file.
async fn save_outputs(
    clients: &Clients,
    stack: &str,
    opts: &DeployOptions,
) -> anyhow::Result<(BTreeMap<String, String>, PathBuf)> {
    let declared = infra::template(&opts.config).outputs().len();
    let mut outputs = read_outputs(clients, stack).await?;
    if outputs.is_empty() && declared > 0 && clients.custom_endpoint {
        // moto computes a stack's outputs on CreateStack/UpdateStack only,
        // never when it executes a change set. An UpdateStack with the
        // previous template and parameters changes nothing else there.
        eprintln!(
            "emulator: the stack reports none of its {declared} outputs (moto computes none for \
             change sets); refreshing them with an UpdateStack of the same template"
        );
        let _ = clients
            .cfn
            .update_stack()
            .stack_name(stack)
            .use_previous_template(true)
            .capabilities(Capability::CapabilityIam)
            .send()
            .await;
        outputs = read_outputs(clients, stack).await?;
    }
    if outputs.len() < declared {
        eprintln!(
            "warning: the stack reports {} of the template's {declared} outputs",
            outputs.len()
        );
    }
    std::fs::create_dir_all(&opts.outputs_dir)
        .with_context(|| format!("create {}", opts.outputs_dir.display()))?;
    let file = outputs_file(&opts.outputs_dir, stack);
    let json = serde_json::to_string_pretty(&outputs).expect("strings serialize") + "\n";
    std::fs::write(&file, json).with_context(|| format!("write {}", file.display()))?;
    println!("Outputs ({}):", file.display());
    let width = outputs.keys().map(String::len).max().unwrap_or(0);
    for (key, value) in &outputs {
        println!("  {key:<width$}  {value}");
    }
    Ok((outputs, file))
}

async fn read_outputs(clients: &Clients, stack: &str) -> anyhow::Result<BTreeMap<String, String>> {
    Ok(progress::describe_stack(&clients.cfn, stack)
        .await?
        .context("the stack vanished")?
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect())
}
