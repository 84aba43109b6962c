//! Decisions taken before touching the stack: what its current status allows,
//! and whether a human must confirm. Pure functions, unit-tested.

use infra::Stage;

use crate::ui::Confirmation;

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
pub fn plan(status: Option<&str>) -> StackPlan {
    let Some(status) = status else {
        return StackPlan::Create;
    };
    let blocked = |advice: &str| StackPlan::Blocked {
        status: status.to_owned(),
        advice: advice.to_owned(),
    };
    match status {
        "DELETE_COMPLETE" => StackPlan::Create,
        "ROLLBACK_COMPLETE" | "REVIEW_IN_PROGRESS" => StackPlan::Recreate {
            status: status.to_owned(),
        },
        // CREATE_FAILED and UPDATE_FAILED stay only when rollback was
        // disabled (`--no-rollback`): such a stack can be updated again.
        "CREATE_COMPLETE"
        | "CREATE_FAILED"
        | "UPDATE_COMPLETE"
        | "UPDATE_ROLLBACK_COMPLETE"
        | "UPDATE_FAILED"
        | "IMPORT_COMPLETE"
        | "IMPORT_ROLLBACK_COMPLETE" => StackPlan::Update,
        "UPDATE_ROLLBACK_FAILED" => blocked(
            "the stack could not roll back an update: fix the cause, then run \
             `aws cloudformation continue-update-rollback`, and deploy again",
        ),
        "ROLLBACK_FAILED" | "DELETE_FAILED" => blocked(
            "the stack is stuck: run `cargo xtask destroy` for this stage (or delete it in the \
             console, retaining what cannot be deleted), then deploy again",
        ),
        s if s.ends_with("_IN_PROGRESS") => blocked(
            "another operation is running on this stack: wait for it to finish, then deploy again",
        ),
        _ => blocked("unknown stack status: inspect the stack before deploying"),
    }
}

/// Deploying prod needs a confirmation: `--yes`, or a yes typed on a
/// terminal. Without a terminal nothing is asked: `--yes` is required.
pub fn deploy_confirmation(stage: Stage, yes: bool, interactive: bool) -> Confirmation {
    match (stage, yes, interactive) {
        (Stage::Prod, false, true) => Confirmation::ask_yes(format!(
            "Deploy these changes to {}?",
            infra::stack_name(stage)
        )),
        (Stage::Prod, false, false) => Confirmation::Refuse(format!(
            "deploying {} needs a confirmation and there is no terminal to ask on: \
             pass --yes",
            infra::stack_name(stage)
        )),
        _ => Confirmation::Proceed,
    }
}

/// Destroying a stack needs a confirmation: `--yes`, or a yes on a terminal;
/// prod needs `--yes` *and* the stack name, passed (`--confirm-stack`) or
/// typed on a terminal.
pub fn destroy_confirmation(
    stage: Stage,
    yes: bool,
    confirm_stack: Option<&str>,
    interactive: bool,
) -> Confirmation {
    let stack = infra::stack_name(stage);
    if stage != Stage::Prod {
        return match (yes, interactive) {
            (true, _) => Confirmation::Proceed,
            (false, true) => Confirmation::ask_yes(format!("Delete the stack {stack}?")),
            (false, false) => Confirmation::Refuse(format!(
                "deleting {stack} needs a confirmation and there is no terminal to ask on: pass --yes"
            )),
        };
    }
    if !yes {
        return Confirmation::Refuse(format!(
            "destroying {stack} (prod) needs --yes and the stack name: \
             --yes --confirm-stack {stack}"
        ));
    }
    match (confirm_stack, interactive) {
        (Some(name), _) if name == stack => Confirmation::Proceed,
        (Some(name), _) => Confirmation::Refuse(format!(
            "--confirm-stack {name} does not name the stack to destroy ({stack}); nothing deleted"
        )),
        (None, true) => Confirmation::Ask {
            question: format!("Delete the stack {stack}?"),
            expected: stack.clone(),
        },
        (None, false) => Confirmation::Refuse(format!(
            "destroying {stack} (prod) needs the stack name and there is no terminal to type it \
             on: pass --confirm-stack {stack}"
        )),
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
/// whole security table is printed, and prod asks anyway
/// ([`deploy_confirmation`]); approval is for updates, where a broadening
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
        assert_eq!(plan(None), StackPlan::Create);
        assert_eq!(plan(Some("DELETE_COMPLETE")), StackPlan::Create);
        for status in [
            "CREATE_COMPLETE",
            "CREATE_FAILED",
            "UPDATE_FAILED",
            "UPDATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
            "IMPORT_COMPLETE",
        ] {
            assert_eq!(plan(Some(status)), StackPlan::Update, "{status}");
        }
        for status in ["ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS"] {
            assert_eq!(
                plan(Some(status)),
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
            match plan(Some(status)) {
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
    fn only_prod_deploys_need_a_confirmation() {
        for interactive in [true, false] {
            for yes in [true, false] {
                assert_eq!(
                    deploy_confirmation(Stage::Dev, yes, interactive),
                    Confirmation::Proceed
                );
                assert_eq!(
                    deploy_confirmation(Stage::Staging, yes, interactive),
                    Confirmation::Proceed
                );
            }
            assert_eq!(
                deploy_confirmation(Stage::Prod, true, interactive),
                Confirmation::Proceed
            );
        }
        assert!(matches!(
            deploy_confirmation(Stage::Prod, false, true),
            Confirmation::Ask { .. }
        ));
        let Confirmation::Refuse(error) = deploy_confirmation(Stage::Prod, false, false) else {
            panic!("must refuse without a terminal");
        };
        assert!(
            error.contains("--yes") && error.contains("no terminal"),
            "{error}"
        );
    }

    #[test]
    fn destroying_prod_needs_yes_and_the_stack_name() {
        let name = "cc-agent-reconciler-prod";
        assert_eq!(
            destroy_confirmation(Stage::Prod, true, Some(name), false),
            Confirmation::Proceed
        );
        for interactive in [true, false] {
            let Confirmation::Refuse(e) =
                destroy_confirmation(Stage::Prod, false, Some(name), interactive)
            else {
                panic!("--yes is required");
            };
            assert!(e.contains("--yes") && e.contains("--confirm-stack"), "{e}");
            let Confirmation::Refuse(e) = destroy_confirmation(
                Stage::Prod,
                true,
                Some("cc-agent-reconciler-dev"),
                interactive,
            ) else {
                panic!("a wrong name is refused");
            };
            assert!(e.contains("does not name"), "{e}");
        }
        assert!(matches!(
            destroy_confirmation(Stage::Prod, true, None, true),
            Confirmation::Ask { question, expected } if question.contains(name) && expected == name
        ));
        assert!(matches!(
            destroy_confirmation(Stage::Prod, true, None, false),
            Confirmation::Refuse(e) if e.contains("--confirm-stack cc-agent-reconciler-prod")
        ));
    }

    #[test]
    fn destroying_other_stages_needs_yes_or_a_terminal() {
        assert_eq!(
            destroy_confirmation(Stage::Dev, true, None, false),
            Confirmation::Proceed
        );
        assert!(matches!(
            destroy_confirmation(Stage::Staging, false, None, true),
            Confirmation::Ask { .. }
        ));
        assert!(matches!(
            destroy_confirmation(Stage::Dev, false, None, false),
            Confirmation::Refuse(_)
        ));
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
