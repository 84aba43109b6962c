//! The protections a deploy turns on after its stack operation: the
//! table's deletion protection after a first create (off during it), and
//! termination protection on the stages that want it.

use std::collections::BTreeMap;

use anyhow::bail;
use infra::StageConfig;
use infra::stack::params;

use crate::aws::{Clients, emulator};
use crate::base::ui::Out;
use crate::cfn;
use crate::cfn::change_set::{
    self, Action, Execution, Kind, Proposal, Replacement, TemplateSource,
};
use crate::cfn::stack::Deployed;

/// After a first create whose stage protects its table: turns the table's
/// deletion protection on (an in-place update of that one property). It is
/// off during the create so that a failed first create rolls back *with*
/// its table (`RetainExceptOnCreate` cannot delete a protected table: the
/// rollback would fail, and the stack with it).
///
/// # Errors
/// The update proposes anything else, or fails.
pub(super) async fn protect_table(
    clients: &Clients,
    stack: &str,
    config: &StageConfig,
    template: &TemplateSource,
    parameters: &BTreeMap<String, String>,
    out: &dyn Out,
) -> anyhow::Result<()> {
    let key = params::TABLE_DELETION_PROTECTION;
    if !config.deletion_protection || parameters.get(key).map(String::as_str) != Some("false") {
        return Ok(());
    }
    let mut protected = parameters.clone();
    protected.insert(key.to_owned(), "true".to_owned());
    let set = match change_set::propose(
        clients,
        stack,
        template,
        &protected,
        Kind::Update,
        &[],
        super::DESCRIPTION,
    )
    .await?
    {
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
        kind: Kind::Update,
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
pub(super) async fn protect(
    clients: &Clients,
    stack: &str,
    config: &StageConfig,
    deployed: Option<&Deployed>,
    create: bool,
    out: &dyn Out,
) -> anyhow::Result<()> {
    let on = !create && deployed.is_some_and(|d| d.termination_protection);
    if !config.termination_protection || on {
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::operation::update_termination_protection::UpdateTerminationProtectionOutput;
    use aws_sdk_cloudformation::types::StackStatus;
    use aws_smithy_mocks::mock;
    use infra::Stage;

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
            let config = StageConfig::for_stage(stage);
            protect(&clients, "s", &config, None, true, &out)
                .await
                .unwrap();
        }
        assert_eq!(turn_on.num_calls(), 2, "created: turned on");
        assert!(out.text().contains("termination protection: on for s"));

        // Already on: not asked again.
        let staging = StageConfig::for_stage(Stage::Staging);
        let deployed = Deployed {
            id: "s".into(),
            status: StackStatus::UpdateComplete,
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
        let dev = StageConfig::for_stage(Stage::Dev);
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
}
