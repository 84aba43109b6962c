//! `diff`: what a deploy would change, reviewed, without changing anything.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde_json::Value;

use super::plan::{self, StackPlan};
use super::review::{self, Before, Review};
use super::{CodeSource, DeployOptions, stack_parameters, template};
use crate::artifacts::{self, Bucket};
use crate::aws::{Clients, emulator};
use crate::base::build;
use crate::base::tools::Tools;
use crate::base::ui::Out;
use crate::cfn;
use crate::cfn::change_set::{self, Kind, Proposal};

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
    if let CodeSource::Build(source) = &opts.code {
        build::check_source(tools, opts.config.architecture, source)?;
    }
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
    let keys = code_keys(tools, opts)?;
    let caller = clients.identity().await?;
    let bucket = Bucket::of(&caller.account, &clients.region);
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
        match change_set::propose(
            clients,
            &stack,
            &source,
            &parameters,
            Kind::Update,
            &[],
            "cargo xtask diff",
        )
        .await?
        {
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

/// The code keys a deploy of `opts` would pass: the built packages' (built
/// when their inputs changed; nothing is uploaded), or the release's.
fn code_keys(tools: &Tools, opts: &DeployOptions) -> anyhow::Result<BTreeMap<String, String>> {
    let source = match &opts.code {
        CodeSource::Build(source) => source,
        CodeSource::Release(release) => return Ok(release.code.clone()),
    };
    let built = build::packages(tools, opts.config.architecture, source)?;
    Ok(built
        .zips
        .iter()
        .map(|z| {
            (
                z.function.code_key_parameter.to_owned(),
                artifacts::object_key(z.function.name, &z.sha256),
            )
        })
        .collect())
}
