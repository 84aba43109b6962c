//! `cargo xtask deploy`, `diff`, `destroy`, `releases`, `rollback` and
//! `drift`: a stage's stack through CloudFormation change sets, with guard
//! rails.
//!
//! A deploy: builds the Lambdas for the stage's architecture (skipped when
//! their inputs are unchanged, see [`crate::base::build`]), makes sure of the
//! artifacts bucket and uploads the zips under content-hashed keys (skipped
//! when present, see [`crate::artifacts`]), proposes a change set for the
//! synthesized template ([`cfn`]; through the bucket when the template is
//! over the inline limit), shows the review ([`review`]: resources,
//! properties, security), refuses to lose data ([`changes::guard`]), asks
//! for approval of broadened permissions and for prod ([`plan`]), executes
//! it while following the stack events ([`progress`]), turns termination
//! protection on for staging and prod, writes the outputs to
//! `target/cfn/<stack>.outputs.json`, warns when nobody hears the alarms,
//! and records the release ([`releases`]).
//!
//! These functions decide and call; what they have to say goes through a
//! [`crate::base::ui::Out`] (the terminal for the commands, a recorder for the
//! tests), except the live progress of a long build or stack operation,
//! which [`crate::base::build`] and [`progress`] draw on standard error (a bar on
//! a terminal). The command lines live in [`cli`].

pub mod changes;
pub mod cli;
pub mod code;
pub mod drift;
pub mod hotswap;
pub mod plan;
pub mod properties;
pub mod releases;
pub mod review;
pub mod security;
pub mod template;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use infra::stack::params;
use infra::{Stage, StageConfig};
use serde_json::Value;

use crate::artifacts::{self, Bucket};
use crate::aws::{Clients, Identity, emulator};
use crate::base::build;
use crate::base::tools::Tools;
use crate::base::ui::{Act, Confirmation, Given, Out, settle};
use crate::cfn::change_set::{Action, Replacement, ResourceChange};
use crate::cfn::stack::Deployed;
use crate::cfn::{self, change_set};
use change_set::{Execution, Proposal};
use changes::Destructive;
use plan::{RequireApproval, StackPlan};
use releases::Release;
use review::{Before, Review};

/// What a deploy puts live.
#[derive(Clone, Debug, Default)]
pub enum Purpose {
    /// The working tree: its template and its code.
    #[default]
    Deploy,
    /// A recorded release's code, with the deployed template and parameters
    /// (`cargo xtask rollback`): nothing is built.
    Rollback(Release),
}

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
    /// When security changes stop the deploy for approval.
    pub require_approval: RequireApproval,
    /// `--no-rollback` (dev): a failure leaves the stack as it failed.
    pub no_rollback: bool,
    /// `--hotswap` (dev): swap the code directly when only code changed.
    pub hotswap: bool,
    /// The working tree, or a release to go back to.
    pub purpose: Purpose,
    /// Who and where (`Session::who_and_where`), put in every question.
    pub who: String,
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
            require_approval: RequireApproval::default(),
            no_rollback: false,
            hotswap: false,
            purpose: Purpose::Deploy,
            who: String::new(),
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
    /// Only the functions' code was swapped (`--hotswap`).
    Hotswapped,
    /// Nothing to do: the stack already matches.
    NoChanges,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Hotswapped => "hotswapped",
            Outcome::NoChanges => "no-changes",
        })
    }
}

/// What a deploy did.
#[derive(Clone, Debug)]
pub struct DeployReport {
    /// `cc-agent-reconciler-<stage>`.
    pub stack_name: String,
    /// Created, updated, hotswapped or unchanged.
    pub outcome: Outcome,
    /// The status of a stack that was deleted and created again
    /// (`ROLLBACK_COMPLETE`, `REVIEW_IN_PROGRESS`).
    pub recovered_from: Option<String>,
    /// Whether cargo-lambda ran (false: inputs unchanged, prebuilt, or a rollback).
    pub rebuilt: bool,
    /// Zips uploaded (0: all already in the bucket).
    pub uploaded: usize,
    /// The S3 keys of the functions' code, as passed to the template, in
    /// the order of [`build::FUNCTIONS`].
    pub code_keys: Vec<String>,
    /// The version of that code (see [`releases`]).
    pub version: String,
    /// The change set's rows (empty for no changes).
    pub changes: Vec<ResourceChange>,
    /// The security changes shown (empty for no changes).
    pub security: Vec<security::SecurityChange>,
    /// Destructive changes let through by `--allow-destructive`.
    pub destructive: Vec<Destructive>,
    /// Where the template went when it was too large to send inline.
    pub template_location: Option<String>,
    /// The release record written (`None`: the code did not change).
    pub release_record: Option<String>,
    /// The stack's outputs.
    pub outputs: BTreeMap<String, String>,
    /// Where they were written.
    pub outputs_file: PathBuf,
}

impl DeployReport {
    /// One machine-readable line: `deploy: stack=… outcome=… rebuilt=… uploaded=… changes=… version=…`.
    pub fn summary(&self) -> String {
        format!(
            "deploy: stack={} outcome={} rebuilt={} uploaded={} changes={} version={}{}",
            self.stack_name,
            self.outcome,
            self.rebuilt,
            self.uploaded,
            self.changes.len(),
            self.version,
            self.recovered_from
                .as_deref()
                .map(|s| format!(" recovered-from={s}"))
                .unwrap_or_default()
        )
    }
}

/// The functions' code of a deploy.
struct Code {
    /// Code key parameter → S3 key.
    keys: BTreeMap<String, String>,
    rebuilt: bool,
    uploaded: usize,
}

impl Code {
    /// The keys in the order of [`build::FUNCTIONS`].
    fn ordered(&self) -> Vec<String> {
        build::FUNCTIONS
            .iter()
            .filter_map(|f| self.keys.get(f.code_key_parameter).cloned())
            .collect()
    }
}

/// Builds (or reads) the packages and uploads the missing ones.
async fn upload_code(
    clients: &Clients,
    tools: &Tools,
    opts: &DeployOptions,
    bucket: &Bucket,
    out: &dyn Out,
) -> anyhow::Result<Code> {
    let built = build::packages(tools, opts.config.architecture, &opts.code)?;
    let mut code = Code {
        keys: BTreeMap::new(),
        rebuilt: built.rebuilt,
        uploaded: 0,
    };
    for zip in &built.zips {
        let (key, fresh) = artifacts::upload_if_missing(clients, bucket, zip).await?;
        out.note(&format!(
            "artifacts: s3://{}/{key} {}",
            bucket.name,
            if fresh {
                "uploaded"
            } else {
                "already there, not uploaded"
            }
        ));
        code.uploaded += usize::from(fresh);
        code.keys
            .insert(zip.function.code_key_parameter.to_owned(), key);
    }
    Ok(code)
}

/// A release's code, each zip checked to be still in the bucket.
async fn release_code(
    clients: &Clients,
    bucket: &Bucket,
    release: &Release,
) -> anyhow::Result<Code> {
    for key in release.code.values() {
        if !artifacts::exists(clients, bucket, key).await? {
            bail!(
                "release {}: s3://{}/{key} is gone from the artifacts bucket; restore a previous \
                 version of the object (the bucket is versioned) or deploy that commit again",
                release.version,
                bucket.name
            );
        }
    }
    Ok(Code {
        keys: release.code.clone(),
        rebuilt: false,
        uploaded: 0,
    })
}

/// The artifacts bucket of the caller's account, made sure of.
async fn artifacts_bucket(clients: &Clients, out: &dyn Out) -> anyhow::Result<(Identity, Bucket)> {
    let caller = clients.identity().await?;
    let bucket = Bucket::of(&caller.account, &clients.region);
    let ensured =
        artifacts::ensure_bucket(clients, &bucket, emulator::bucket_tls_policy(clients)).await?;
    if ensured.created {
        out.note(&format!("artifacts: created s3://{}", bucket.name));
    }
    if !ensured.completed.is_empty() && !ensured.created {
        out.note(&format!(
            "artifacts: s3://{} lacked {}: set now",
            bucket.name,
            ensured.completed.join(", ")
        ));
    }
    Ok((caller, bucket))
}

/// Whether the deploy goes on, asks or stops ([`Act::Deploy`]).
fn deploy_confirmation(opts: &DeployOptions) -> Confirmation {
    let stack = opts.stack_name();
    let given = Given {
        yes: opts.yes,
        interactive: opts.interactive,
        confirm_stack: None,
    };
    Act::Deploy.confirmation(
        opts.config.stage,
        given,
        &format!("Deploy these changes to {stack}?"),
        &format!("deploying {stack}"),
    )
}

/// Deploys the stage's stack; see the module documentation.
///
/// # Errors
/// Refusals (guard, approval, confirmation, a busy stack, a dev-only
/// option elsewhere), build or upload failures, and a failed stack operation
/// (naming each failed resource).
pub async fn deploy(
    clients: &Clients,
    tools: &Tools,
    opts: &DeployOptions,
    out: &dyn Out,
) -> anyhow::Result<DeployReport> {
    let stack = opts.stack_name();
    let stage = opts.config.stage;
    opts.config.validate().map_err(anyhow::Error::msg)?;
    plan::dev_only(stage, opts.no_rollback, opts.hotswap).map_err(anyhow::Error::msg)?;
    // Before building anything: a prod deploy nobody can confirm stops here.
    if let Confirmation::Refuse(error) = deploy_confirmation(opts) {
        bail!(error);
    }
    if matches!(opts.purpose, Purpose::Deploy) {
        build::check_source(tools, opts.config.architecture, &opts.code)?;
    }
    let deployed = cfn::stack::deployed(clients, &stack).await?;
    let stack_plan = plan::plan(deployed.as_ref().map(|d| &d.status));
    if let StackPlan::Blocked { status, advice } = &stack_plan {
        bail!("{stack} is {status}: {advice}");
    }

    let (caller, bucket) = artifacts_bucket(clients, out).await?;
    let (code, template, parameters) = match &opts.purpose {
        Purpose::Deploy => {
            let code = upload_code(clients, tools, opts, &bucket, out).await?;
            let first_create = !matches!(stack_plan, StackPlan::Update);
            let parameters = stack_parameters(
                &opts.config,
                &bucket.name,
                &code.keys,
                first_create,
                &opts.parameters,
            )?;
            let template: Value = serde_json::from_str(&infra::template(&opts.config).to_json())
                .context("parse the synthesized template")?;
            (code, template, parameters)
        }
        Purpose::Rollback(release) => {
            let deployed = deployed
                .as_ref()
                .with_context(|| format!("{stack} does not exist: nothing to roll back"))?;
            releases::fits(&deployed.template, release).map_err(anyhow::Error::msg)?;
            let code = release_code(clients, &bucket, release).await?;
            let mut parameters = deployed.parameters.clone();
            parameters.extend(code.keys.clone());
            (code, deployed.template.clone(), parameters)
        }
    };
    let version = releases::version_of(&code.keys);
    let mut report = DeployReport {
        stack_name: stack.clone(),
        outcome: Outcome::NoChanges,
        recovered_from: None,
        rebuilt: code.rebuilt,
        uploaded: code.uploaded,
        code_keys: code.ordered(),
        version: version.clone(),
        changes: Vec::new(),
        security: Vec::new(),
        destructive: Vec::new(),
        template_location: None,
        release_record: None,
        outputs: BTreeMap::new(),
        outputs_file: PathBuf::new(),
    };
    let release = |kind: &str| Release {
        version: version.clone(),
        stack: stack.clone(),
        deployed_at_ms: crate::base::when::now_ms(),
        kind: kind.to_owned(),
        principal: caller.principal.clone(),
        architecture: build::arch_dir(opts.config.architecture).to_owned(),
        git: releases::git_commit(),
        code: code.keys.clone(),
    };
    let previous_version = deployed
        .as_ref()
        .map(|d| releases::version_of(&releases::code_of(&d.parameters)));

    if opts.hotswap
        && let (StackPlan::Update, Some(d)) = (&stack_plan, &deployed)
    {
        match hotswap::plan(&d.template, &d.parameters, &template, &parameters) {
            Ok(swaps) if !swaps.is_empty() => {
                let physical = cfn::stack::physical_ids(clients, &stack).await?;
                let swapped = hotswap::swap(clients, &bucket.name, &physical, &swaps).await?;
                out.note(&format!(
                    "hotswap: updated the code of {} directly; the stack drifts from what runs \
                     until the next deploy without --hotswap (`cargo xtask drift` shows it)",
                    swapped.join(" and ")
                ));
                report.outcome = Outcome::Hotswapped;
                report.release_record =
                    Some(releases::record(clients, &bucket, &release("hotswap")).await?);
                (report.outputs, report.outputs_file) =
                    save_outputs(clients, &stack, opts, out).await?;
                return Ok(report);
            }
            Ok(_) => {}
            Err(why) => out.note(&format!(
                "hotswap: {why}, so a change set is needed: deploying through one"
            )),
        }
    }

    if let StackPlan::Recreate { status } = &stack_plan {
        out.note(&format!(
            "stack: {stack} is {status}: a first create that failed (or was never executed) \
             left it empty and it cannot be updated; deleting it, then creating it again"
        ));
        cfn::stack::delete(clients, &stack, 1, "delete").await?;
        report.recovered_from = Some(status.clone());
    }
    let create = !matches!(stack_plan, StackPlan::Update);
    let template_text = serde_json::to_string(&template).context("serialize the template")?;
    let (source, location) =
        template::place_template(clients, &bucket, &stack, &template_text).await?;
    if let Some(location) = &location {
        out.note(&format!(
            "template: {} bytes, over CloudFormation's {} inline: passed from {location}",
            template_text.len(),
            template::INLINE_LIMIT
        ));
    }
    report.template_location = location;

    let proposal = change_set::propose(clients, &stack, &source, &parameters, create).await?;
    let before = deployed.as_ref().filter(|_| !create).map(|d| Before {
        template: &d.template,
        parameters: &d.parameters,
    });
    let set = match proposal {
        Proposal::Changes(set) => {
            let review = review::review(&stack, before, &template, &parameters, Some(&set));
            // An emulator lists no change for parameter-only updates; the
            // same template and parameters are nothing to do.
            let unchanged = before.is_some_and(|b| *b.template == template) && review.is_empty();
            if unchanged {
                change_set::discard(clients, &stack, &set.id, false).await;
                None
            } else {
                Some((set, review))
            }
        }
        Proposal::NoChanges => None,
    };
    let Some((set, review)) = set else {
        out.show(&format!("No changes: {stack} is up to date."));
        put_stack_code_back(clients, &bucket, &stack, &parameters, out).await;
        (report.outputs, report.outputs_file) = save_outputs(clients, &stack, opts, out).await?;
        warn_if_unheard(clients, stage, &report.outputs, out).await;
        return Ok(report);
    };

    out.show(&format!(
        "Change set for {stack} ({}):\n{}",
        if create { "create" } else { "update" },
        review.render(opts.color)
    ));
    let checks = changes::guard(&review.changes, opts.allow_destructive)
        .map_err(anyhow::Error::msg)
        .and_then(|destructive| {
            for d in &destructive {
                out.note(&format!("warning: --allow-destructive: {d}"));
            }
            let approval = plan::approval(
                opts.require_approval,
                create,
                review.broadens(),
                opts.interactive,
            );
            settle(approval.naming(&opts.who), out, "nothing deployed")?;
            settle(
                deploy_confirmation(opts).naming(&opts.who),
                out,
                "nothing deployed",
            )?;
            Ok(destructive)
        });
    report.destructive = match checks {
        Ok(destructive) => destructive,
        Err(refusal) => {
            change_set::discard(clients, &stack, &set.id, create).await;
            return Err(refusal);
        }
    };

    let how = Execution {
        create,
        disable_rollback: opts.no_rollback,
        resources: review.changes.len(),
    };
    let status = change_set::execute(clients, &stack, &set.id, how).await?;
    out.show(&format!("{stack}: {status}"));
    report.outcome = if create {
        Outcome::Created
    } else {
        Outcome::Updated
    };
    report.changes = review.changes;
    report.security = review.security;

    if create {
        protect_table(clients, &stack, &opts.config, &source, &parameters, out).await?;
    }
    protect(clients, &stack, opts, deployed.as_ref(), create, out).await?;
    put_stack_code_back(clients, &bucket, &stack, &parameters, out).await;
    (report.outputs, report.outputs_file) = save_outputs(clients, &stack, opts, out).await?;
    warn_if_unheard(clients, stage, &report.outputs, out).await;
    if create || previous_version.as_deref() != Some(version.as_str()) {
        let kind = match opts.purpose {
            Purpose::Deploy => "deploy",
            Purpose::Rollback(_) => "rollback",
        };
        report.release_record = Some(releases::record(clients, &bucket, &release(kind)).await?);
    }
    Ok(report)
}

/// After a deploy that is not a hotswap: a function that runs other code
/// than the stack names (a hotswap before, a hand update) gets the stack's
/// code back, so that a deploy always leaves what the stack says running
/// (CloudFormation does not: for it, an unchanged code key is no change).
///
/// The stack is deployed by then: a failure here is a warning (with what
/// to run), never a failed deploy that would lose its outputs and release
/// record.
async fn put_stack_code_back(
    clients: &Clients,
    bucket: &Bucket,
    stack: &str,
    parameters: &BTreeMap<String, String>,
    out: &dyn Out,
) {
    let restored = async {
        let physical = cfn::stack::physical_ids(clients, stack).await?;
        let states = code::states(clients, bucket, parameters, &physical).await?;
        code::restore(clients, bucket, &states).await
    }
    .await;
    match restored {
        Ok(restored) if !restored.is_empty() => out.note(&format!(
            "code: {} ran other code than the stack names (a hotswap): put the stack's code back",
            restored.join(" and ")
        )),
        Ok(_) => {}
        Err(e) => out.note(&format!(
            "warning: could not check that the functions run the stack's code ({e:#}); \
             `cargo xtask drift` compares them"
        )),
    }
}

/// On staging and prod, every deploy (changes or none) ends with the
/// warning that nobody hears the stage's alarms, when nobody does.
async fn warn_if_unheard(
    clients: &Clients,
    stage: Stage,
    outputs: &BTreeMap<String, String>,
    out: &dyn Out,
) {
    if stage != Stage::Dev
        && let Some(topic) = outputs.get(infra::outputs::keys::OPS_ALERTS_TOPIC_ARN)
        && let Some(warning) = crate::alerts::check_ops_alerts(&clients.sns, stage, topic).await
    {
        out.note(&warning);
    }
}

/// After a first create whose stage protects its table: turns the table's
/// deletion protection on (an in-place update of that one property). It is
/// off during the create so that a failed first create rolls back *with*
/// its table (`RetainExceptOnCreate` cannot delete a protected table: the
/// rollback would fail, and the stack with it).
///
/// # Errors
/// The update proposes anything else, or fails.
async fn protect_table(
    clients: &Clients,
    stack: &str,
    config: &StageConfig,
    template: &change_set::TemplateSource,
    parameters: &BTreeMap<String, String>,
    out: &dyn Out,
) -> anyhow::Result<()> {
    let key = params::TABLE_DELETION_PROTECTION;
    if !config.deletion_protection || parameters.get(key).map(String::as_str) != Some("false") {
        return Ok(());
    }
    let mut protected = parameters.clone();
    protected.insert(key.to_owned(), "true".to_owned());
    let set = match change_set::propose(clients, stack, template, &protected, false).await? {
        Proposal::Changes(set) => set,
        Proposal::NoChanges => {
            bail!("turning on the deletion protection of {stack}'s table proposed no change")
        }
    };
    let only_the_table = set.rows.iter().all(|r| {
        r.logical_id == infra::stack::ids::LEDGER_TABLE
            && r.action == Action::Modify
            && r.replacement != Some(Replacement::True)
    });
    if !only_the_table {
        change_set::discard(clients, stack, &set.id, false).await;
        bail!(
            "turning on the deletion protection of {stack}'s table would change more than that \
             ({}): not executed; the table is unprotected until the next deploy",
            set.rows
                .iter()
                .map(|r| format!("{} {}", r.action, r.logical_id))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let how = Execution {
        create: false,
        disable_rollback: false,
        resources: set.rows.len(),
    };
    change_set::execute(clients, stack, &set.id, how).await?;
    out.note(&format!(
        "deletion protection: on for {stack}'s table (off during the first create, so that a \
         failed one rolls back with it)"
    ));
    Ok(())
}

/// Turns termination protection on when the stage wants it and it is off.
async fn protect(
    clients: &Clients,
    stack: &str,
    opts: &DeployOptions,
    deployed: Option<&Deployed>,
    create: bool,
    out: &dyn Out,
) -> anyhow::Result<()> {
    let on = !create && deployed.is_some_and(|d| d.termination_protection);
    if !opts.config.termination_protection || on {
        return Ok(());
    }
    if emulator::lacks_termination_protection(clients) {
        out.note(&format!(
            "emulator: termination protection not turned on for {stack} (moto does not \
             implement UpdateTerminationProtection); on AWS it would be"
        ));
        return Ok(());
    }
    cfn::stack::set_termination_protection(clients, stack, true).await?;
    out.note(&format!(
        "termination protection: on for {stack} (destroy refuses until it is lifted)"
    ));
    Ok(())
}

/// Shows what a deploy would change, without changing anything: builds the
/// code if its inputs changed (to know the code keys; nothing is uploaded),
/// creates a change set, reviews it and deletes it. A stack that does not
/// exist yet is reviewed as all `Add`, without a change set.
///
/// # Errors
/// A busy stack, a failed build, or CloudFormation refusing the change set.
pub async fn diff(
    clients: &Clients,
    tools: &Tools,
    opts: &DeployOptions,
    out: &dyn Out,
) -> anyhow::Result<Review> {
    let stack = opts.stack_name();
    opts.config.validate().map_err(anyhow::Error::msg)?;
    build::check_source(tools, opts.config.architecture, &opts.code)?;
    let template: Value = serde_json::from_str(&infra::template(&opts.config).to_json())
        .context("parse the synthesized template")?;
    let deployed = cfn::stack::deployed(clients, &stack).await?;
    let stack_plan = plan::plan(deployed.as_ref().map(|d| &d.status));
    let deployed = match (&stack_plan, deployed) {
        (StackPlan::Blocked { status, advice }, _) => bail!("{stack} is {status}: {advice}"),
        (StackPlan::Update, Some(deployed)) => deployed,
        (plan, _) => {
            if let StackPlan::Recreate { status } = plan {
                out.note(&format!(
                    "{stack} is {status}: a deploy deletes it and creates it again"
                ));
            }
            let new_stack = review::review(&stack, None, &template, &BTreeMap::new(), None);
            return Ok(new_stack);
        }
    };
    let built = build::packages(tools, opts.config.architecture, &opts.code)?;
    let caller = clients.identity().await?;
    let bucket = Bucket::of(&caller.account, &clients.region);
    let keys: BTreeMap<String, String> = built
        .zips
        .iter()
        .map(|z| {
            (
                z.function.code_key_parameter.to_owned(),
                artifacts::object_key(z.function.name, &z.sha256),
            )
        })
        .collect();
    let parameters = stack_parameters(&opts.config, &bucket.name, &keys, false, &opts.parameters)?;
    let template_text = serde_json::to_string(&template).context("serialize the template")?;
    let source = if template::needs_url(template_text.len()) {
        artifacts::ensure_bucket(clients, &bucket, emulator::bucket_tls_policy(clients)).await?;
        template::place_template(clients, &bucket, &stack, &template_text)
            .await?
            .0
    } else {
        change_set::TemplateSource::Body(template_text)
    };
    let before = Some(Before {
        template: &deployed.template,
        parameters: &deployed.parameters,
    });
    Ok(
        match change_set::propose(clients, &stack, &source, &parameters, false).await? {
            Proposal::NoChanges => review::review(
                &stack,
                before,
                &template,
                &parameters,
                Some(&change_set::ChangeSet::default()),
            ),
            Proposal::Changes(set) => {
                change_set::discard(clients, &stack, &set.id, false).await;
                review::review(&stack, before, &template, &parameters, Some(&set))
            }
        },
    )
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
    /// `--lift-termination-protection`.
    pub lift_termination_protection: bool,
    /// Whether a human can be asked.
    pub interactive: bool,
    /// Where the deploy wrote the outputs file (removed).
    pub outputs_dir: PathBuf,
    /// Who and where (`Session::who_and_where`), put in the question.
    pub who: String,
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
/// Termination protection not lifted, not confirmed, or the deletion failed
/// (naming each failed resource).
pub async fn destroy(
    clients: &Clients,
    opts: &DestroyOptions,
    out: &dyn Out,
) -> anyhow::Result<DestroyReport> {
    let stack = infra::stack_name(opts.stage);
    let Some(deployed) = cfn::stack::deployed(clients, &stack).await? else {
        out.show(&format!("Nothing to destroy: {stack} does not exist."));
        return Ok(DestroyReport {
            stack_name: stack,
            existed: false,
            retained: Vec::new(),
        });
    };
    plan::termination_guard(
        &stack,
        deployed.termination_protection,
        opts.lift_termination_protection,
    )
    .map_err(anyhow::Error::msg)?;
    let physical = cfn::stack::physical_ids(clients, &stack)
        .await
        .unwrap_or_default();
    let retained: Vec<Retained> = changes::retained_resources(&deployed.template)
        .into_iter()
        .map(|(logical_id, resource_type)| Retained {
            physical_id: physical.get(&logical_id).cloned(),
            logical_id,
            resource_type,
        })
        .collect();
    let mut about = format!("About to delete {stack}.\n");
    if !retained.is_empty() {
        about.push_str("These stay behind (DeletionPolicy: Retain):\n");
        about.push_str(&retained_lines(&retained));
    }
    out.show(&about);
    let given = Given {
        yes: opts.yes,
        interactive: opts.interactive,
        confirm_stack: opts.confirm_stack.as_deref(),
    };
    let confirmation = Act::Destroy.confirmation(
        opts.stage,
        given,
        &format!("Delete the stack {stack}?"),
        &format!("deleting {stack}"),
    );
    settle(confirmation.naming(&opts.who), out, "nothing deleted")?;
    if deployed.termination_protection {
        cfn::stack::set_termination_protection(clients, &stack, false).await?;
        out.note(&format!(
            "termination protection: lifted for {stack}, as asked"
        ));
    }
    cfn::stack::delete(clients, &stack, physical.len(), "destroy").await?;
    let _ = std::fs::remove_file(outputs_file(&opts.outputs_dir, &stack));
    let mut done = format!("Deleted {stack}.\n");
    if !retained.is_empty() {
        done.push_str(
            "Retained, still there (and billed): delete them by hand once they are no longer needed:\n",
        );
        done.push_str(&retained_lines(&retained));
    }
    out.show(&done);
    Ok(DestroyReport {
        stack_name: stack,
        existed: true,
        retained,
    })
}

fn retained_lines(retained: &[Retained]) -> String {
    let rows: Vec<Vec<String>> = retained
        .iter()
        .map(|r| {
            vec![
                r.logical_id.clone(),
                r.resource_type.clone(),
                r.physical_id.clone().unwrap_or_default(),
            ]
        })
        .collect();
    crate::base::ui::table(&["Logical ID", "Type", "Physical ID"], &rows)
        .lines()
        .skip(1)
        .map(|l| format!("  {l}\n"))
        .collect()
}

/// The stage's releases and the version deployed now.
///
/// # Errors
/// S3 or CloudFormation refused.
pub async fn releases(
    clients: &Clients,
    stage: Stage,
    out: &dyn Out,
) -> anyhow::Result<(Vec<Release>, Option<String>)> {
    let (found, current, _) = releases_and_code(clients, stage, out).await?;
    Ok((found, current))
}

/// [`releases`], and whether the functions run other code than the stack
/// names (a hotswap), read once for both `releases` and `rollback`.
async fn releases_and_code(
    clients: &Clients,
    stage: Stage,
    out: &dyn Out,
) -> anyhow::Result<(Vec<Release>, Option<String>, bool)> {
    let stack = infra::stack_name(stage);
    let caller = clients.identity().await?;
    let bucket = Bucket::of(&caller.account, &clients.region);
    let (found, skipped) = releases::list(clients, &bucket, &stack).await?;
    for s in skipped {
        out.note(&format!("skipped an unreadable release record: {s}"));
    }
    let current = cfn::stack::deployed(clients, &stack)
        .await?
        .map(|d| releases::version_of(&releases::code_of(&d.parameters)));
    let mut hotswapped = false;
    match code::of_stack(clients, &stack).await {
        Ok(states) => {
            for state in states.iter().flatten().filter(|s| s.drifted()) {
                hotswapped = true;
                out.note(&format!(
                    "{}; `cargo xtask rollback` (or a deploy) puts the stack's code back",
                    state.line()
                ));
            }
        }
        Err(e) => out.note(&format!(
            "warning: could not compare the functions' code with the stack's ({e:#})"
        )),
    }
    Ok((found, current, hotswapped))
}

/// Redeploys a recorded release's code (`to`, or the one before the current
/// one) with the deployed template: see [`releases`].
///
/// # Errors
/// No stack, no such release, its code gone from the bucket, or the deploy's.
pub async fn rollback(
    clients: &Clients,
    tools: &Tools,
    opts: &DeployOptions,
    to: Option<&str>,
    out: &dyn Out,
) -> anyhow::Result<DeployReport> {
    let stack = opts.stack_name();
    let (found, current, hotswapped) = releases_and_code(clients, opts.config.stage, out).await?;
    let current =
        current.with_context(|| format!("{stack} does not exist: nothing to roll back"))?;
    let target = if hotswapped && to.is_none_or(|to| to.len() >= 4 && current.starts_with(to)) {
        // The functions run a hotswap: going back means the stack's own
        // release, which the deploy then puts back on the functions.
        found
            .iter()
            .rev()
            .find(|r| r.version == current && r.kind != "hotswap")
            .cloned()
            .with_context(|| {
                format!(
                    "{stack}: the functions run a hotswap and no record of the stack's own \
                     release ({current}) is kept: `cargo xtask deploy` puts the stack's code back"
                )
            })?
    } else {
        releases::choose(&found, &current, to)
            .map_err(|e| anyhow::anyhow!("{stack}: {e}"))?
            .clone()
    };
    out.note(&format!(
        "rollback: {stack} from {current} to {} (deployed {} as {}, commit {})",
        target.version,
        crate::base::when::format_time(target.deployed_at_ms),
        target.kind,
        target.git.as_deref().unwrap_or("unknown")
    ));
    let mut opts = opts.clone();
    opts.purpose = Purpose::Rollback(target);
    deploy(clients, tools, &opts, out).await
}

/// The template parameters of a deploy: the stage's values, the artifacts
/// (code key parameter → key), then the overrides (which must name template
/// parameters). A first create keeps the table's deletion protection off
/// (see [`protect_table`]).
///
/// # Errors
/// An override naming no parameter of the template.
pub fn stack_parameters(
    config: &StageConfig,
    bucket: &str,
    code: &BTreeMap<String, String>,
    first_create: bool,
    overrides: &BTreeMap<String, String>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let protect_table = config.deletion_protection && !first_create;
    let mut values = BTreeMap::from([
        (
            params::TABLE_DELETION_PROTECTION.to_owned(),
            protect_table.to_string(),
        ),
        (params::STAGE.to_owned(), config.stage.as_str().to_owned()),
        (params::TABLE_SUFFIX.to_owned(), config.table_suffix.clone()),
        (
            params::EVENT_BUS_NAME.to_owned(),
            config.event_bus_name.clone(),
        ),
        (params::ARTIFACT_BUCKET.to_owned(), bucket.to_owned()),
    ]);
    values.extend(code.clone());
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

/// `<dir>/<stack>.outputs.json`.
pub fn outputs_file(dir: &std::path::Path, stack: &str) -> PathBuf {
    dir.join(format!("{stack}.outputs.json"))
}

/// On an emulator, when the stack reports none of the template's
/// `declared` outputs: an `UpdateStack` with the previous template and
/// parameters (which changes nothing else there) makes moto compute them
/// ([`emulator::lacks_outputs`]).
async fn refresh_outputs(clients: &Clients, stack: &str, declared: usize, out: &dyn Out) {
    out.note(&format!(
        "emulator: the stack reports none of its {declared} outputs (moto computes none for \
         change sets); refreshing them with an UpdateStack of the same template"
    ));
    let _ = clients
        .cfn
        .update_stack()
        .stack_name(stack)
        .use_previous_template(true)
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam)
        .send()
        .await;
}

/// Reads the stack's outputs, shows them and writes them to the outputs file.
async fn save_outputs(
    clients: &Clients,
    stack: &str,
    opts: &DeployOptions,
    out: &dyn Out,
) -> anyhow::Result<(BTreeMap<String, String>, PathBuf)> {
    let declared = infra::template(&opts.config).outputs().len();
    let mut outputs = cfn::stack::outputs(clients, stack).await?;
    if emulator::lacks_outputs(clients, outputs.len(), declared) {
        refresh_outputs(clients, stack, declared, out).await;
        outputs = cfn::stack::outputs(clients, stack).await?;
    }
    if outputs.len() < declared {
        out.note(&format!(
            "warning: the stack reports {} of the template's {declared} outputs",
            outputs.len()
        ));
    }
    std::fs::create_dir_all(&opts.outputs_dir)
        .with_context(|| format!("create {}", opts.outputs_dir.display()))?;
    let file = outputs_file(&opts.outputs_dir, stack);
    let json = serde_json::to_string_pretty(&outputs).context("serialize the outputs")? + "\n";
    std::fs::write(&file, json).with_context(|| format!("write {}", file.display()))?;
    let rows: Vec<Vec<String>> = outputs
        .iter()
        .map(|(k, v)| vec![format!("  {k}"), v.clone()])
        .collect();
    let table = crate::base::ui::table(&["", ""], &rows);
    out.show(&format!(
        "Outputs ({}):\n{}",
        file.display(),
        table
            .lines()
            .skip(1)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    ));
    Ok((outputs, file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::operation::update_termination_protection::UpdateTerminationProtectionOutput;
    use aws_smithy_mocks::mock;

    use crate::aws::mocks;
    use crate::base::ui::Recorder;

    #[tokio::test]
    async fn deploy_turns_termination_protection_on_for_staging_and_prod_once() {
        let turn_on = mock!(aws_sdk_cloudformation::Client::update_termination_protection)
            .match_requests(|r| {
                r.enable_termination_protection() == Some(true) && r.stack_name() == Some("s")
            })
            .then_output(|| {
                UpdateTerminationProtectionOutput::builder()
                    .stack_id("s")
                    .build()
            });
        let mut clients = mocks::clients();
        clients.cfn = mocks::cfn(&[&turn_on]);
        let out = Recorder::default();
        for stage in [Stage::Staging, Stage::Prod] {
            let opts = DeployOptions::new(StageConfig::for_stage(stage));
            protect(&clients, "s", &opts, None, true, &out)
                .await
                .unwrap();
        }
        assert_eq!(turn_on.num_calls(), 2, "created: turned on");
        assert!(out.text().contains("termination protection: on for s"));

        // Already on: not asked again.
        let staging = DeployOptions::new(StageConfig::for_stage(Stage::Staging));
        let deployed = Deployed {
            id: "s".into(),
            status: "UPDATE_COMPLETE".into(),
            template: serde_json::json!({}),
            parameters: BTreeMap::new(),
            termination_protection: true,
        };
        protect(&clients, "s", &staging, Some(&deployed), false, &out)
            .await
            .unwrap();
        // Off on an existing stack (an older deploy, or lifted by hand): on again.
        let lifted = Deployed {
            termination_protection: false,
            ..deployed.clone()
        };
        protect(&clients, "s", &staging, Some(&lifted), false, &out)
            .await
            .unwrap();
        assert_eq!(turn_on.num_calls(), 3);
        // dev: never.
        let dev = DeployOptions::new(StageConfig::for_stage(Stage::Dev));
        protect(&clients, "s", &dev, None, true, &out)
            .await
            .unwrap();
        assert_eq!(turn_on.num_calls(), 3);
        // The emulator cannot: said, not attempted.
        clients.endpoint = Some("http://127.0.0.1:9".into());
        protect(&clients, "s", &staging, None, true, &out)
            .await
            .unwrap();
        assert_eq!(turn_on.num_calls(), 3);
        assert!(out.text().contains("moto does not implement"));
    }

    #[test]
    fn parameters_are_the_stage_the_code_and_known_overrides() {
        let config = StageConfig::for_stage(Stage::Dev);
        let code = BTreeMap::from([(
            params::HANDLER_CODE_KEY.to_owned(),
            "handler/a.zip".to_owned(),
        )]);
        let overrides = BTreeMap::from([(params::TABLE_SUFFIX.to_owned(), "_x".to_owned())]);
        let values = stack_parameters(&config, "bucket", &code, false, &overrides).unwrap();
        assert_eq!(values[params::HANDLER_CODE_KEY], "handler/a.zip");
        assert_eq!(values[params::TABLE_DELETION_PROTECTION], "false", "dev");
        let prod = StageConfig::for_stage(Stage::Prod);
        let update = stack_parameters(&prod, "b", &code, false, &BTreeMap::new()).unwrap();
        assert_eq!(update[params::TABLE_DELETION_PROTECTION], "true");
        let create = stack_parameters(&prod, "b", &code, true, &BTreeMap::new()).unwrap();
        assert_eq!(
            create[params::TABLE_DELETION_PROTECTION],
            "false",
            "off while created"
        );
        assert_eq!(values[params::TABLE_SUFFIX], "_x");
        assert_eq!(values[params::ARTIFACT_BUCKET], "bucket");
        let unknown = BTreeMap::from([("Nope".to_owned(), "1".to_owned())]);
        let error = stack_parameters(&config, "b", &code, false, &unknown)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("--parameter Nope") && error.contains(params::STAGE),
            "{error}"
        );
    }
}
