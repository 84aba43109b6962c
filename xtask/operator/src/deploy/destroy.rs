//! `destroy`: the stage's stack deleted, after its confirmation and
//! termination protection, saying which resources stay behind.

use std::path::PathBuf;

use crate::aws::Clients;
use crate::base::ui::{Act, Given, Out, settle, table};
use crate::cfn;

use super::changes;
use super::outputs::outputs_file;
use super::plan;

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
        about.push_str(&format!(
            "These stay behind (DeletionPolicy: Retain), data and all, and the next \
             `cargo xtask deploy --stage {}` imports them into the new stack (CloudFormation \
             remembers them 90 days):\n",
            opts.stage
        ));
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
        done.push_str(&format!(
            "Retained, still there (and billed): the next deploy of {} imports them; delete \
             them by hand only if the stage is gone for good:\n",
            opts.stage
        ));
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
    table(&["Logical ID", "Type", "Physical ID"], &rows)
        .lines()
        .skip(1)
        .map(|l| format!("  {l}\n"))
        .collect()
}
