//! The deploy engine room: a stage's stack through CloudFormation change
//! sets, with guard rails. One entry point, [`deploy`]: a [`DeployOptions`]
//! in (the template, the parameters, the code, the policy and where the
//! output goes), a [`DeployReport`] out. `rollback` ([`rollback()`]) is a
//! deploy of a recorded release's code with the deployed template; `diff`
//! ([`diff()`]) reviews without deploying; `destroy` ([`destroy()`]) deletes.
//!
//! A deploy: builds the Lambdas for the stage's architecture (skipped when
//! their inputs are unchanged, see [`crate::base::build`]), makes sure of
//! the artifacts bucket and uploads the zips under content-hashed keys
//! (skipped when present, see [`crate::artifacts`]), proposes a change set
//! for the template ([`crate::cfn::change_set`]; through the bucket when
//! the template is over the inline limit, [`template`]), shows the review
//! ([`review`]: resources, properties, security), refuses to lose data
//! ([`changes::guard`]), asks for approval of broadened permissions and for
//! prod ([`plan`], and the confirmation table of [`crate::base::ui`]),
//! executes it while following the stack events
//! ([`crate::cfn::progress`]), turns termination protection on for staging
//! and prod ([`protect`]), writes the outputs to
//! `target/cfn/<stack>.outputs.json` and warns when nobody hears the alarms
//! ([`outputs`]), and records the release ([`crate::models::releases`]).
//!
//! These functions decide and call; what they have to say goes through a
//! [`crate::base::ui::Out`] (the terminal for the commands, a recorder for
//! the tests), except the live progress of a long build or stack operation,
//! which [`crate::base::build`] and [`crate::cfn::progress`] draw on
//! standard error (a bar on a terminal). The command lines live in
//! `commands::stack`.
//!
//! It imports every room below it: foundations, session, CloudFormation,
//! artifacts and read models.

mod adopt;
pub mod changes;
mod checks;
mod code;
mod destroy;
mod diff;
pub mod drift;
mod first_sweep;
pub mod hotswap;
mod outputs;
pub mod plan;
mod prepared;
pub mod properties;
mod protect;
pub mod replacement;
pub mod review;
mod rollback;
mod run;
pub mod schemas;
pub mod security;
pub mod template;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use infra::StageConfig;
use infra::stack::params;
use serde_json::Value;

use crate::aws::Clients;
use crate::base::build;
use crate::base::tools::Tools;
use crate::base::ui::{Act, Confirmation, Given, Out};
use crate::cfn;
use crate::cfn::change_set::ResourceChange;
use crate::cfn::stack::Deployed;
use crate::models::releases::Release;
use changes::Destructive;
use code::CodeKeys;
use plan::{RequireApproval, StackPlan};

pub use destroy::{DestroyOptions, DestroyReport, Retained, destroy};
pub use diff::diff;
pub use outputs::outputs_file;
pub use rollback::{choose, fits, releases, rollback};

/// The template a deploy puts live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Template {
    /// The working tree's, synthesized from the stage's configuration, with
    /// the stage's parameters.
    #[default]
    WorkingTree,
    /// The one deployed now, with its parameters (`cargo xtask rollback`).
    Deployed,
}

/// The description of the change sets a deploy proposes.
const DESCRIPTION: &str = "cargo xtask deploy";

/// Whether the deploy executes what it proposes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Propose, review, check and execute.
    #[default]
    Deploy,
    /// `--prepare`: propose and review, and leave the change set for
    /// someone else to execute (its id is in the report).
    Prepare,
    /// `--execute ID`: execute that prepared change set, if the stack has
    /// not moved since it was prepared.
    Execute(String),
}

/// Where the functions' code comes from.
#[derive(Clone, Debug)]
pub enum CodeSource {
    /// Built here (skipped while its inputs are unchanged) or prebuilt
    /// elsewhere, and uploaded when the bucket lacks it.
    Build(build::Source),
    /// A recorded release's code, already in the bucket: nothing is built.
    Release(Release),
}

/// How careful a deploy is: what it may do, and who must say yes.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Let a change set remove or replace a table or the queue.
    pub allow_destructive: bool,
    /// Confirmed beforehand (prod asks otherwise).
    pub yes: bool,
    /// Whether a human can be asked (stdin is a terminal).
    pub interactive: bool,
    /// When security changes stop the deploy for approval.
    pub require_approval: RequireApproval,
    /// `--no-rollback` (dev): a failure leaves the stack as it failed.
    pub no_rollback: bool,
    /// `--hotswap` (dev): swap the code directly when only code changed.
    pub hotswap: bool,
    /// Who and where (`Session::who_and_where`), put in every question.
    pub who: String,
}

/// Where a deploy's results go.
#[derive(Clone, Debug)]
pub struct Output {
    /// Colored change-set table.
    pub color: bool,
    /// Where the outputs file is written (`target/cfn`).
    pub dir: PathBuf,
}

/// What to deploy, and how careful to be: the engine's one input.
#[derive(Clone, Debug)]
pub struct DeployOptions {
    /// The stage's configuration (its template when [`Template::WorkingTree`];
    /// its architecture is what gets built; its protections).
    pub config: StageConfig,
    /// The working tree's template, or the deployed one.
    pub template: Template,
    /// Template parameters to set instead of the stage's (or the deployed)
    /// values, e.g. `TableSuffix`; the names must be the template's.
    pub parameters: BTreeMap<String, String>,
    /// Where the functions' code comes from.
    pub code: CodeSource,
    /// What the deploy may do, and who must confirm.
    pub policy: Policy,
    /// Where the results go.
    pub output: Output,
    /// Execute now, prepare for another person, or execute a prepared one.
    pub mode: Mode,
    /// Whether the emulator deployed to runs the functions (the local stack
    /// of `cargo xtask up` does; moto alone does not, and its `Invoke` tries
    /// Docker): only then does a create start the first sweep there.
    /// Ignored on AWS, where it always does.
    pub emulator_runs_functions: bool,
}

impl DeployOptions {
    /// Options for deploying `config` from the working tree: its template,
    /// its code built here, no overrides, nothing destructive, no
    /// confirmation given, nobody to ask, outputs under `target/cfn`.
    pub fn new(config: StageConfig) -> DeployOptions {
        DeployOptions {
            config,
            template: Template::WorkingTree,
            parameters: BTreeMap::new(),
            code: CodeSource::Build(build::Source::Build),
            policy: Policy::default(),
            output: Output {
                color: false,
                dir: crate::root().join("target/cfn"),
            },
            mode: Mode::Deploy,
            emulator_runs_functions: false,
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
    /// A change set was prepared and left for `--execute` (`--prepare`).
    Prepared,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Hotswapped => "hotswapped",
            Outcome::NoChanges => "no-changes",
            Outcome::Prepared => "prepared",
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
    /// The change set prepared (`--prepare`) or executed.
    pub change_set_id: Option<String>,
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
    /// What a deleted stack had left behind and this deploy imported
    /// (logical ids; empty: nothing to import).
    pub imported: Vec<String>,
    /// The stack's outputs.
    pub outputs: BTreeMap<String, String>,
    /// Where they were written.
    pub outputs_file: PathBuf,
}

impl DeployReport {
    /// One machine-readable line: `deploy: stack=… outcome=… rebuilt=… uploaded=… changes=… version=…`.
    pub fn summary(&self) -> String {
        format!(
            "deploy: stack={} outcome={} rebuilt={} uploaded={} changes={} version={}{}{}{}",
            self.stack_name,
            self.outcome,
            self.rebuilt,
            self.uploaded,
            self.changes.len(),
            self.version,
            self.recovered_from
                .as_deref()
                .map(|s| format!(" recovered-from={s}"))
                .unwrap_or_default(),
            if self.imported.is_empty() {
                String::new()
            } else {
                format!(" imported={}", self.imported.len())
            },
            match (self.outcome, &self.change_set_id) {
                (Outcome::Prepared, Some(id)) => format!(" change-set={id}"),
                _ => String::new(),
            }
        )
    }

    /// The report as JSON (`rollback --json`; docs/operations.md#json).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "stack": self.stack_name,
            "outcome": self.outcome.to_string(),
            "version": self.version,
            "code_keys": self.code_keys,
            "rebuilt": self.rebuilt,
            "uploaded": self.uploaded,
            "changes": self.changes.len(),
            "release_record": self.release_record,
            "recovered_from": self.recovered_from,
        })
    }
}

/// Whether the deploy goes on, asks or stops ([`Act::Deploy`]).
fn deploy_confirmation(opts: &DeployOptions) -> Confirmation {
    let stack = opts.stack_name();
    let given = Given {
        yes: opts.policy.yes,
        interactive: opts.policy.interactive,
        confirm_stack: None,
    };
    Act::Deploy.confirmation(
        opts.config.stage,
        given,
        &format!("Deploy these changes to {stack}?"),
        &format!("deploying {stack}"),
    )
}

/// What can be refused before anything is built or asked of AWS: a bad
/// stage configuration, a dev-only option elsewhere, a prod deploy nobody
/// can confirm, code that cannot be built.
fn preflight(tools: &Tools, opts: &DeployOptions) -> anyhow::Result<()> {
    let policy = &opts.policy;
    opts.config.validate().map_err(anyhow::Error::msg)?;
    plan::dev_only(opts.config.stage, policy.no_rollback, policy.hotswap)
        .map_err(anyhow::Error::msg)?;
    prepared::compatible(&opts.mode, policy.hotswap).map_err(anyhow::Error::msg)?;
    // A prepared change set executes nothing: nobody confirms it.
    if let (false, Confirmation::Refuse(error)) =
        (opts.mode == Mode::Prepare, deploy_confirmation(opts))
    {
        bail!(error);
    }
    if let CodeSource::Build(source) = &opts.code {
        build::check_source(tools, opts.config.architecture, source)?;
    }
    Ok(())
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
    preflight(tools, opts)?;
    for warning in checks::producer_warnings(&opts.config) {
        out.note(&warning);
    }
    let stack = opts.stack_name();
    let deployed = cfn::stack::deployed(clients, &stack).await?;
    let stack_plan = plan::plan(deployed.as_ref().map(|d| &d.status));
    if let StackPlan::Blocked { status, advice } = &stack_plan {
        bail!("{stack} is {status}: {advice}");
    }
    if let Mode::Execute(id) = &opts.mode {
        return prepared::execute(clients, opts, deployed, id, out).await;
    }
    if opts.mode == Mode::Prepare && stack_plan != StackPlan::Update {
        bail!(
            "{stack} {}: --prepare reviews an update of a deployed stack; deploy it once \
             without --prepare",
            deployed
                .as_ref()
                .map_or("does not exist".to_owned(), |d| format!("is {}", d.status))
        );
    }
    let template = template_of(opts, deployed.as_ref())?;
    let stage = opts.config.stage;
    let before = deployed.as_ref().map(|d| &d.template);
    checks::check_concurrency(clients, stage, before, &template).await?;
    checks::warn_without_trail(clients, stage, out).await;
    let (identity, bucket) = code::artifacts_bucket(clients, out).await?;
    let code = code::obtain(clients, tools, opts, &bucket, out).await?;
    let first_create = !matches!(stack_plan, StackPlan::Update);
    let parameters = parameters_of(opts, deployed.as_ref(), &bucket.name, &code, first_create)?;
    run::Run {
        clients,
        opts,
        out,
        stack,
        bucket,
        identity,
        deployed,
        stack_plan,
        template,
        parameters,
        code,
        adopted: false,
    }
    .go()
    .await
}

/// The template to deploy: synthesized, or the deployed one. A release's
/// code must fit it ([`fits`]: the same architecture).
fn template_of(opts: &DeployOptions, deployed: Option<&Deployed>) -> anyhow::Result<Value> {
    let template = match opts.template {
        Template::WorkingTree => serde_json::from_str(&infra::template(&opts.config).to_json())
            .context("parse the synthesized template")?,
        Template::Deployed => deployed
            .with_context(|| format!("{} does not exist: nothing to roll back", opts.stack_name()))?
            .template
            .clone(),
    };
    if let CodeSource::Release(release) = &opts.code {
        fits(&template, release).map_err(anyhow::Error::msg)?;
    }
    Ok(template)
}

/// The parameters to deploy with: the stage's values, or the deployed ones,
/// with the code's keys and the overrides.
fn parameters_of(
    opts: &DeployOptions,
    deployed: Option<&Deployed>,
    bucket: &str,
    code: &CodeKeys,
    first_create: bool,
) -> anyhow::Result<BTreeMap<String, String>> {
    match (opts.template, deployed) {
        (Template::Deployed, Some(deployed)) => {
            let mut values = deployed.parameters.clone();
            values.extend(code.keys.clone());
            with_overrides(values, &opts.parameters)
        }
        _ => stack_parameters(
            &opts.config,
            bucket,
            &code.keys,
            first_create,
            &opts.parameters,
        ),
    }
}

/// The template parameters of a deploy: the stage's values, the artifacts
/// (code key parameter → key), then the overrides (which must name template
/// parameters). A first create keeps the table's deletion protection off
/// (see `protect::protect_table`).
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
    with_overrides(values, overrides)
}

/// `values` with `overrides`, which must name template parameters.
///
/// # Errors
/// An override naming no parameter of the template.
fn with_overrides(
    mut values: BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
) -> anyhow::Result<BTreeMap<String, String>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use infra::Stage;

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
