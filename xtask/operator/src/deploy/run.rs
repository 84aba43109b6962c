//! A deploy, once everything is prepared ([`super::deploy`]): a hotswap when
//! only code changed and it was asked for, otherwise a change set proposed,
//! reviewed, checked (guard, approval, confirmation) and executed; then the
//! protections, the stack's code, the outputs and the release record. One
//! step a method.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use serde_json::Value;

use super::code::{self, CodeKeys};
use super::plan::{self, StackPlan};
use super::review::{self, Before, Review};
use super::{
    CodeSource, DeployOptions, DeployReport, Mode, Outcome, Template, changes, deploy_confirmation,
    hotswap, outputs, prepared, protect, template,
};
use super::{adopt, first_sweep};
use crate::artifacts::Bucket;
use crate::aws::{Clients, Identity, emulator};
use crate::base::build;
use crate::base::ui::{Out, settle};
use crate::cfn::change_set::{self, ChangeSet, Execution, Kind, Proposal, TemplateSource};
use crate::cfn::retained;
use crate::cfn::stack::{self, Deployed};
use crate::models::releases::{self, Release};

/// A prepared deploy.
pub(super) struct Run<'a> {
    pub(super) clients: &'a Clients,
    pub(super) opts: &'a DeployOptions,
    pub(super) out: &'a dyn Out,
    pub(super) stack: String,
    pub(super) bucket: Bucket,
    pub(super) identity: Identity,
    pub(super) deployed: Option<Deployed>,
    pub(super) stack_plan: StackPlan,
    pub(super) template: Value,
    pub(super) parameters: BTreeMap<String, String>,
    pub(super) code: CodeKeys,
    /// The stack was just created by importing what a deleted one left
    /// behind ([`Self::adopt`]): the update that follows is its first.
    pub(super) adopted: bool,
}

impl Run<'_> {
    /// Deploys: hotswaps, or goes through a change set.
    pub(super) async fn go(mut self) -> anyhow::Result<DeployReport> {
        let mut report = self.report();
        if self.try_hotswap(&mut report).await? {
            return Ok(report);
        }
        if let StackPlan::Recreate { status } = &self.stack_plan {
            self.out.note(&format!(
                "stack: {} is {status}: a first create that failed (or was never executed) \
                 left it empty and it cannot be updated; deleting it, then creating it again",
                self.stack
            ));
            stack::delete(self.clients, &self.stack, 1, "delete").await?;
            report.recovered_from = Some(status.clone());
        }
        if self.create() {
            self.adopt(&mut report).await?;
        }
        let source = self.place_template(&mut report).await?;
        let Some((set, review)) = self.propose(&source).await? else {
            self.out
                .show(&format!("No changes: {} is up to date.", self.stack));
            self.finish(&mut report).await?;
            return Ok(report);
        };
        self.show(&review);
        if self.opts.mode == Mode::Prepare {
            self.leave_prepared(&set, &review, &mut report).await?;
            return Ok(report);
        }
        self.apply(&set, &review, &source, &mut report).await?;
        Ok(report)
    }

    /// `--execute ID`: the prepared change set reviewed from itself, then
    /// checked and executed as a deploy's (see [`super::prepared`]).
    pub(super) async fn execute_prepared(self, id: &str) -> anyhow::Result<DeployReport> {
        let mut report = self.report();
        let set = change_set::read(self.clients, &self.stack, id).await?;
        let review = review::review(
            &self.stack,
            self.before(),
            &self.template,
            &self.parameters,
            Some(&set),
        );
        self.show(&review);
        report.change_set_id = Some(id.to_owned());
        // Never a create: the template source only matters for one.
        let source = TemplateSource::Body(String::new());
        self.apply(&set, &review, &source, &mut report).await?;
        Ok(report)
    }

    fn show(&self, review: &Review) {
        self.out.show(&format!(
            "Change set for {} ({}):\n{}",
            self.stack,
            match (self.create(), self.adopted) {
                (true, _) => "create",
                (false, true) => "update after the import",
                (false, false) => "update",
            },
            review.render(self.opts.output.color)
        ));
    }

    /// The checks, the execution and what follows it.
    async fn apply(
        &self,
        set: &ChangeSet,
        review: &Review,
        source: &TemplateSource,
        report: &mut DeployReport,
    ) -> anyhow::Result<()> {
        report.destructive = self.check(set, review).await?;
        report.change_set_id = Some(set.id.clone());
        self.execute(set, review, source, report).await?;
        self.finish(report).await?;
        if report.outcome == Outcome::Created {
            self.first_sweep(report).await;
        }
        self.record(report).await
    }

    /// `--prepare`: the data guard (a change set it would refuse is not
    /// left to execute), then the change set is left, its id reported.
    async fn leave_prepared(
        &self,
        set: &ChangeSet,
        review: &Review,
        report: &mut DeployReport,
    ) -> anyhow::Result<()> {
        let guarded = changes::guard(&review.changes, self.opts.policy.allow_destructive);
        let destructive = match guarded {
            Ok(destructive) => destructive,
            Err(refusal) => {
                change_set::discard(self.clients, &self.stack, &set.id, false).await;
                anyhow::bail!(refusal);
            }
        };
        report.outcome = Outcome::Prepared;
        report.change_set_id = Some(set.id.clone());
        report.changes = review.changes.clone();
        report.security = review.security.clone();
        report.destructive = destructive;
        self.out.show(&format!(
            "Prepared, not executed: change set {id}\nReview it (above); to deploy exactly \
             this, while {stack} stays as it is now:\n  cargo xtask deploy --stage {stage} \
             --execute {id}",
            id = set.id,
            stack = self.stack,
            stage = self.opts.config.stage
        ));
        Ok(())
    }

    /// A `CREATE` change set (no stack, or one deleted to be created again).
    fn create(&self) -> bool {
        !matches!(self.stack_plan, StackPlan::Update)
    }

    /// The stack's first deploy: created now, or by this deploy's import.
    fn fresh(&self) -> bool {
        self.create() || self.adopted
    }

    /// A stack to create whose deleted predecessor left resources behind:
    /// imports them into a new stack (`IMPORT` change set, see
    /// [`adopt`]), after the deploy's confirmation; the deploy then goes on
    /// as an update of that stack.
    async fn adopt(&mut self, report: &mut DeployReport) -> anyhow::Result<()> {
        if self.opts.template != Template::WorkingTree {
            return Ok(());
        }
        let left = match retained::left_behind(self.clients, &self.stack).await {
            Ok(left) if !left.is_empty() => left,
            Ok(_) => return Ok(()),
            Err(e) => {
                self.out.note(&format!(
                    "import: could not read what a deleted {} left behind ({e:#}): creating \
                     without importing",
                    self.stack
                ));
                return Ok(());
            }
        };
        // The table exists (protected, on staging and prod): its protection
        // is not lifted as for a first create.
        let (config, keys) = (&self.opts.config, &self.code.keys);
        let parameters = super::stack_parameters(
            config,
            &self.bucket.name,
            keys,
            false,
            &self.opts.parameters,
        )?;
        let adoption = adopt::plan(&self.template, &parameters, &left);
        for skipped in &adoption.skipped {
            self.out.note(&format!("import: {skipped}"));
        }
        if adoption.resources.is_empty() {
            return Ok(());
        }
        self.out.show(&adopt::render(&self.stack, &adoption));
        let confirmation = deploy_confirmation(self.opts).naming(&self.opts.policy.who);
        settle(confirmation, self.out, "nothing imported or deployed")?;
        let text = serde_json::to_string(&adoption.template).context("serialize the template")?;
        let (source, _) =
            template::place_template(self.clients, &self.bucket, &self.stack, &text).await?;
        let imports: Vec<_> = adoption
            .resources
            .iter()
            .map(|a| a.import.clone())
            .collect();
        let proposal = change_set::propose(
            self.clients,
            &self.stack,
            &source,
            &parameters,
            Kind::Import,
            &imports,
            super::DESCRIPTION,
        )
        .await?;
        let Proposal::Changes(set) = proposal else {
            anyhow::bail!(
                "CloudFormation proposed nothing to import into {}",
                self.stack
            );
        };
        let how = Execution {
            kind: Kind::Import,
            disable_rollback: false,
            resources: imports.len(),
        };
        let status = change_set::execute(self.clients, &self.stack, &set.id, how).await?;
        self.out.show(&format!(
            "{}: {status} ({} imported)",
            self.stack,
            imports.len()
        ));
        self.deployed = stack::deployed(self.clients, &self.stack).await?;
        self.stack_plan = StackPlan::Update;
        self.parameters = parameters;
        self.adopted = true;
        report.imported = imports.into_iter().map(|i| i.logical_id).collect();
        Ok(())
    }

    /// The report before anything is done: the code, no changes yet.
    fn report(&self) -> DeployReport {
        DeployReport {
            stack_name: self.stack.clone(),
            outcome: Outcome::NoChanges,
            recovered_from: None,
            rebuilt: self.code.rebuilt,
            uploaded: self.code.uploaded,
            code_keys: self.code.ordered(),
            version: releases::version_of(&self.code.keys),
            changes: Vec::new(),
            security: Vec::new(),
            destructive: Vec::new(),
            template_location: None,
            release_record: None,
            imported: Vec::new(),
            change_set_id: None,
            outputs: BTreeMap::new(),
            outputs_file: PathBuf::new(),
        }
    }

    /// The record of this deploy's release, of `kind`: built here, the
    /// stage's architecture and the working tree's commit; a rollback, the
    /// restored release's (its code was built from that commit, for that
    /// architecture, whatever is checked out now).
    fn release(&self, kind: &str) -> Release {
        let (architecture, git) = match &self.opts.code {
            CodeSource::Release(restored) => (restored.architecture.clone(), restored.git.clone()),
            CodeSource::Build(_) => (
                build::arch_dir(self.opts.config.architecture).to_owned(),
                releases::git_commit(),
            ),
        };
        Release {
            version: releases::version_of(&self.code.keys),
            stack: self.stack.clone(),
            deployed_at_ms: crate::base::when::now_ms(),
            kind: kind.to_owned(),
            principal: self.identity.principal.clone(),
            architecture,
            git,
            code: self.code.keys.clone(),
        }
    }

    /// `--hotswap` on a stack to update: when only code changed, swaps it
    /// and finishes the report (`true`); otherwise says why a change set is
    /// needed (`false`).
    async fn try_hotswap(&self, report: &mut DeployReport) -> anyhow::Result<bool> {
        let (true, StackPlan::Update, Some(d)) =
            (self.opts.policy.hotswap, &self.stack_plan, &self.deployed)
        else {
            return Ok(false);
        };
        let swaps =
            match hotswap::plan(&d.template, &d.parameters, &self.template, &self.parameters) {
                Ok(swaps) if !swaps.is_empty() => swaps,
                Ok(_) => return Ok(false),
                Err(why) => {
                    self.out.note(&format!(
                        "hotswap: {why}, so a change set is needed: deploying through one"
                    ));
                    return Ok(false);
                }
            };
        let physical = stack::physical_ids(self.clients, &self.stack).await?;
        let swapped = hotswap::swap(self.clients, &self.bucket.name, &physical, &swaps).await?;
        self.out.note(&format!(
            "hotswap: updated the code of {} directly; the stack drifts from what runs \
             until the next deploy without --hotswap (`cargo xtask drift` shows it)",
            swapped.join(" and ")
        ));
        report.outcome = Outcome::Hotswapped;
        let release = self.release("hotswap");
        report.release_record = Some(releases::record(self.clients, &self.bucket, &release).await?);
        self.save_outputs(report).await?;
        Ok(true)
    }

    /// The template inline, or through the bucket when it is too large.
    async fn place_template(&self, report: &mut DeployReport) -> anyhow::Result<TemplateSource> {
        let text = serde_json::to_string(&self.template).context("serialize the template")?;
        let (source, location) =
            template::place_template(self.clients, &self.bucket, &self.stack, &text).await?;
        if let Some(location) = &location {
            self.out.note(&format!(
                "template: {} bytes, over CloudFormation's {} inline: passed from {location}",
                text.len(),
                template::INLINE_LIMIT
            ));
        }
        report.template_location = location;
        Ok(source)
    }

    /// What is deployed now, to review against (nothing for a create).
    fn before(&self) -> Option<Before<'_>> {
        self.deployed
            .as_ref()
            .filter(|_| !self.create())
            .map(|d| Before {
                template: &d.template,
                parameters: &d.parameters,
            })
    }

    /// Proposes the change set and reviews it; `None`: nothing to do.
    async fn propose(
        &self,
        source: &TemplateSource,
    ) -> anyhow::Result<Option<(ChangeSet, Review)>> {
        let kind = if self.create() {
            Kind::Create
        } else {
            Kind::Update
        };
        let description = match (&self.opts.mode, &self.deployed) {
            (Mode::Prepare, Some(deployed)) => prepared::description(deployed),
            _ => super::DESCRIPTION.to_owned(),
        };
        let proposal = change_set::propose(
            self.clients,
            &self.stack,
            source,
            &self.parameters,
            kind,
            &[],
            &description,
        )
        .await?;
        let Proposal::Changes(set) = proposal else {
            return Ok(None);
        };
        let before = self.before();
        let review = review::review(
            &self.stack,
            before,
            &self.template,
            &self.parameters,
            Some(&set),
        );
        // An emulator lists no change for parameter-only updates; the same
        // template and parameters are nothing to do.
        if before.is_some_and(|b| *b.template == self.template) && review.is_empty() {
            change_set::discard(self.clients, &self.stack, &set.id, false).await;
            return Ok(None);
        }
        Ok(Some((set, review)))
    }

    /// The guard, the approval of security changes and the confirmation;
    /// a refusal drops the change set (and a stack created for it).
    async fn check(
        &self,
        set: &ChangeSet,
        review: &Review,
    ) -> anyhow::Result<Vec<changes::Destructive>> {
        let (policy, out) = (&self.opts.policy, self.out);
        let checks = changes::guard(&review.changes, policy.allow_destructive)
            .map_err(anyhow::Error::msg)
            .and_then(|destructive| {
                for d in &destructive {
                    out.note(&format!("warning: --allow-destructive: {d}"));
                }
                let approval = plan::approval(
                    policy.require_approval,
                    self.fresh(),
                    review.broadens(),
                    policy.interactive,
                );
                settle(approval.naming(&policy.who), out, "nothing deployed")?;
                let confirmation = deploy_confirmation(self.opts).naming(&policy.who);
                settle(confirmation, out, "nothing deployed")?;
                Ok(destructive)
            });
        // A prepared change set stays for its owner to drop or execute.
        if checks.is_err() && !matches!(self.opts.mode, Mode::Execute(_)) {
            change_set::discard(self.clients, &self.stack, &set.id, self.create()).await;
        }
        checks
    }

    /// Executes the change set, then the table's deletion protection after
    /// a create, and termination protection.
    async fn execute(
        &self,
        set: &ChangeSet,
        review: &Review,
        source: &TemplateSource,
        report: &mut DeployReport,
    ) -> anyhow::Result<()> {
        let how = Execution {
            kind: if self.create() {
                Kind::Create
            } else {
                Kind::Update
            },
            disable_rollback: self.opts.policy.no_rollback,
            resources: review.changes.len(),
        };
        let status = change_set::execute(self.clients, &self.stack, &set.id, how)
            .await
            .map_err(|e| adopt::advise(e, &self.stack))?;
        self.out.show(&format!("{}: {status}", self.stack));
        report.outcome = if self.fresh() {
            Outcome::Created
        } else {
            Outcome::Updated
        };
        report.changes = review.changes.clone();
        report.security = review.security.clone();
        let config = &self.opts.config;
        if self.create() {
            protect::protect_table(
                self.clients,
                &self.stack,
                config,
                source,
                &self.parameters,
                self.out,
            )
            .await?;
        }
        let deployed = self.deployed.as_ref();
        protect::protect(
            self.clients,
            &self.stack,
            config,
            deployed,
            self.create(),
            self.out,
        )
        .await
    }

    /// After a create: the first sweep ([`first_sweep`]), unless the
    /// emulator runs no functions.
    async fn first_sweep(&self, report: &DeployReport) {
        if emulator::skips_first_sweep(self.clients, self.opts.emulator_runs_functions) {
            self.out.note(
                "emulator: no first sweep (moto runs no functions; the local stack of \
                 `cargo xtask up` does)",
            );
            return;
        }
        let stage = self.opts.config.stage;
        first_sweep::start_first_sweep(self.clients, stage, &report.outputs, self.out).await;
    }

    /// What every deploy through a change set ends with (changes or none):
    /// the stack's code on the functions, the outputs, who hears the alarms.
    async fn finish(&self, report: &mut DeployReport) -> anyhow::Result<()> {
        code::put_stack_code_back(
            self.clients,
            &self.bucket,
            &self.stack,
            &self.parameters,
            self.out,
        )
        .await;
        self.save_outputs(report).await?;
        let stage = self.opts.config.stage;
        outputs::warn_if_unheard(self.clients, stage, &report.outputs, self.out).await;
        Ok(())
    }

    async fn save_outputs(&self, report: &mut DeployReport) -> anyhow::Result<()> {
        let (config, dir) = (&self.opts.config, &self.opts.output.dir);
        (report.outputs, report.outputs_file) =
            outputs::save_outputs(self.clients, &self.stack, config, dir, self.out).await?;
        Ok(())
    }

    /// Records the release when the code changed (or the stack is new).
    async fn record(&self, report: &mut DeployReport) -> anyhow::Result<()> {
        let previous = self
            .deployed
            .as_ref()
            .map(|d| releases::version_of(&releases::code_of(&d.parameters)));
        if !self.fresh() && previous.as_deref() == Some(report.version.as_str()) {
            return Ok(());
        }
        let kind = match self.opts.code {
            CodeSource::Build(_) => "deploy",
            CodeSource::Release(_) => "rollback",
        };
        let release = self.release(kind);
        report.release_record = Some(releases::record(self.clients, &self.bucket, &release).await?);
        Ok(())
    }
}
