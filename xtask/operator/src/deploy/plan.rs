//! Decisions taken before touching the stack: what its current status allows,
//! and whether a human must confirm. Pure functions, unit-tested.

use infra::Stage;

use aws_sdk_cloudformation::types::StackStatus;

use crate::base::ui::Confirmation;
use crate::cfn;

/// What a deploy does, given the stack's current status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackPlan {
    /// No stack: a `CREATE` change set.
    Create,
    /// A stack in a stable state: an `UPDATE` change set.
    Update,
    /// A stack that holds no resources and cannot be updated (a failed first
    /// create, `ROLLBACK_COMPLETE`; or a create change set that was never
    /// executed or whose execution failed on an emulator,
    /// `REVIEW_IN_PROGRESS`): delete it, then create.
    Recreate {
        /// The status found.
        status: String,
    },
    /// The stack is busy or needs a human.
    Blocked {
        /// The status found.
        status: String,
        /// What to do.
        advice: String,
    },
}

/// The plan for a stack in `status` (`None`: no such stack).
pub fn plan(status: Option<&StackStatus>) -> StackPlan {
    use StackStatus as S;
    let Some(status) = status else {
        return StackPlan::Create;
    };
    let blocked = |advice: &str| StackPlan::Blocked {
        status: status.as_str().to_owned(),
        advice: advice.to_owned(),
    };
    match status {
        S::DeleteComplete => StackPlan::Create,
        s if cfn::status::holds_nothing(s) => StackPlan::Recreate {
            status: s.as_str().to_owned(),
        },
        // CREATE_FAILED and UPDATE_FAILED stay only when rollback was
        // disabled (`--no-rollback`): such a stack can be updated again.
        S::CreateComplete
        | S::CreateFailed
        | S::UpdateComplete
        | S::UpdateRollbackComplete
        | S::UpdateFailed
        | S::ImportComplete
        | S::ImportRollbackComplete => StackPlan::Update,
        S::UpdateRollbackFailed => blocked(
            "the stack could not roll back an update: fix the cause, then run \
             `aws cloudformation continue-update-rollback`, and deploy again",
        ),
        S::RollbackFailed | S::DeleteFailed => blocked(
            "the stack is stuck: run `cargo xtask destroy` for this stage (or delete it in the \
             console, retaining what cannot be deleted), then deploy again",
        ),
        s if !cfn::status::is_settled(s) => blocked(
            "another operation is running on this stack: wait for it to finish, then deploy again",
        ),
        _ => blocked("unknown stack status: inspect the stack before deploying"),
    }
}

/// When `deploy` stops for approval of security changes (`--require-approval`,
/// the CDK's words).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RequireApproval {
    /// Never ask (CI with its own review; the emulator).
    Never,
    /// Ask when a change broadens IAM or a resource policy (the default).
    #[default]
    Broadening,
    /// Ask for any change.
    AnyChange,
}

/// Whether a reviewed change needs approval before it is executed: on
/// every stage, by `--require-approval`, asked on a terminal and refused
/// without one. A new stack is not a *change* of anyone's permissions: its
/// whole security table is printed, and prod asks anyway (the deploy's
/// confirmation, [`crate::base::ui::Act::Deploy`]); approval is for updates, where a broadening
/// hides among other changes.
pub fn approval(
    require: RequireApproval,
    create: bool,
    broadens: bool,
    interactive: bool,
) -> Confirmation {
    let needed = match require {
        RequireApproval::Never => false,
        RequireApproval::Broadening => broadens && !create,
        RequireApproval::AnyChange => true,
    };
    if !needed {
        return Confirmation::Proceed;
    }
    let what = if broadens {
        "This deploy broadens IAM or a resource policy (see the security table)"
    } else {
        "--require-approval any-change"
    };
    if interactive {
        Confirmation::ask_yes(format!("{what}. Deploy it?"))
    } else {
        Confirmation::Refuse(format!(
            "{}: it needs approval and there is no terminal to ask on; review it with \
             `cargo xtask diff`, then deploy with --require-approval never",
            what.trim_end_matches('.')
        ))
    }
}

/// The options only dev may use: `--no-rollback` (a failed update stays as
/// it failed, serving half of it) and `--hotswap` (code outside the stack).
///
/// # Errors
/// Which option, which stage, and why not.
pub fn dev_only(stage: Stage, no_rollback: bool, hotswap: bool) -> Result<(), String> {
    if stage == Stage::Dev {
        return Ok(());
    }
    let option = match (no_rollback, hotswap) {
        (true, _) => "--no-rollback (a failed update would stay half-applied)",
        (_, true) => "--hotswap (the code would run outside what the stack says)",
        _ => return Ok(()),
    };
    Err(format!(
        "{option} is for dev only, not {stage}: deploy {stage} through a change set that rolls back"
    ))
}

/// Destroying a stack with termination protection: refused, unless the
/// operator lifts it deliberately (`--lift-termination-protection`).
///
/// # Errors
/// The refusal, saying how to lift it.
pub fn termination_guard(stack: &str, protected: bool, lift: bool) -> Result<(), String> {
    if protected && !lift {
        return Err(format!(
            "{stack} has termination protection (deploy turns it on for staging and prod): \
             if it really must go, lift it deliberately with --lift-termination-protection"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_status_decides_create_update_or_recreate() {
        let plan = |status: &str| super::plan(Some(&StackStatus::from(status)));
        assert_eq!(super::plan(None), StackPlan::Create);
        assert_eq!(plan("DELETE_COMPLETE"), StackPlan::Create);
        for status in [
            "CREATE_COMPLETE",
            "CREATE_FAILED",
            "UPDATE_FAILED",
            "UPDATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
            "IMPORT_COMPLETE",
        ] {
            assert_eq!(plan(status), StackPlan::Update, "{status}");
        }
        for status in ["ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS"] {
            assert_eq!(
                plan(status),
                StackPlan::Recreate {
                    status: status.into()
                }
            );
        }
    }

    #[test]
    fn busy_or_stuck_stacks_are_left_alone_with_advice() {
        for (status, advice) in [
            ("UPDATE_IN_PROGRESS", "wait"),
            ("CREATE_IN_PROGRESS", "wait"),
            ("ROLLBACK_IN_PROGRESS", "wait"),
            ("UPDATE_ROLLBACK_FAILED", "continue-update-rollback"),
            ("ROLLBACK_FAILED", "destroy"),
            ("DELETE_FAILED", "destroy"),
            ("SOMETHING_NEW", "inspect"),
        ] {
            match plan(Some(&StackStatus::from(status))) {
                StackPlan::Blocked {
                    status: s,
                    advice: a,
                } => {
                    assert_eq!(s, status);
                    assert!(a.contains(advice), "{status}: {a}");
                }
                other => panic!("{status}: {other:?}"),
            }
        }
    }

    #[test]
    fn broadening_updates_need_approval_on_every_stage() {
        use RequireApproval::*;
        assert_eq!(
            approval(Broadening, false, false, false),
            Confirmation::Proceed
        );
        assert!(matches!(
            approval(Broadening, false, true, true),
            Confirmation::Ask { .. }
        ));
        let Confirmation::Refuse(e) = approval(Broadening, false, true, false) else {
            panic!("no terminal: refuse");
        };
        assert!(
            e.contains("--require-approval never") && e.contains("no terminal"),
            "{e}"
        );
        assert_eq!(approval(Never, false, true, false), Confirmation::Proceed);
        // A new stack: shown, not asked.
        assert_eq!(
            approval(Broadening, true, true, false),
            Confirmation::Proceed
        );
        assert!(matches!(
            approval(AnyChange, true, false, false),
            Confirmation::Refuse(_)
        ));
        assert!(matches!(
            approval(AnyChange, false, false, true),
            Confirmation::Ask { .. }
        ));
    }

    #[test]
    fn no_rollback_and_hotswap_are_for_dev_only() {
        assert_eq!(dev_only(Stage::Dev, true, true), Ok(()));
        assert_eq!(dev_only(Stage::Prod, false, false), Ok(()));
        let e = dev_only(Stage::Prod, true, false).unwrap_err();
        assert!(e.contains("--no-rollback") && e.contains("prod"), "{e}");
        let e = dev_only(Stage::Staging, false, true).unwrap_err();
        assert!(e.contains("--hotswap") && e.contains("staging"), "{e}");
    }

    #[test]
    fn termination_protection_is_lifted_only_on_purpose() {
        assert!(termination_guard("s", false, false).is_ok());
        assert!(termination_guard("s", true, true).is_ok());
        let e = termination_guard("s", true, false).unwrap_err();
        assert!(e.contains("--lift-termination-protection"), "{e}");
    }
}
