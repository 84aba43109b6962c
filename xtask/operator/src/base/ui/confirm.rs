//! Confirmations: whether a command goes on, asks, or stops, and the one
//! table of who must confirm what on which stage ([`Act::need`]), so
//! that no command decides it on its own.

use infra::Stage;

use super::{Out, Terminal};

/// Goes on, asks through `out`, or stops.
///
/// # Errors
/// Refused, or not confirmed (`not_confirmed` says what did not happen).
pub fn settle(
    confirmation: Confirmation,
    out: &dyn Out,
    not_confirmed: &str,
) -> anyhow::Result<()> {
    match confirmation {
        Confirmation::Proceed => Ok(()),
        Confirmation::Refuse(why) => anyhow::bail!(why),
        Confirmation::Ask { question, expected } => {
            if out.ask(&question, &expected)? {
                Ok(())
            } else {
                anyhow::bail!("not confirmed: {not_confirmed}")
            }
        }
    }
}

/// Whether to go on without asking, ask, or stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// Go on.
    Proceed,
    /// Ask on the terminal: the question, and the answer that confirms
    /// (`yes`, or a name to type).
    Ask { question: String, expected: String },
    /// Stop, with this error.
    Refuse(String),
}

impl Confirmation {
    /// Ask `question`; `yes` (or `y`) confirms.
    pub fn ask_yes(question: impl Into<String>) -> Confirmation {
        Confirmation::Ask {
            question: question.into(),
            expected: "yes".into(),
        }
    }

    /// The question prefixed with who and where (`Session::who_and_where`),
    /// so that whoever answers sees the account, region and principal in
    /// the question itself; nothing changes when `who` is empty (tests).
    #[must_use]
    pub fn naming(self, who: &str) -> Confirmation {
        match self {
            Confirmation::Ask { question, expected } if !who.is_empty() => Confirmation::Ask {
                question: format!("{who}: {question}"),
                expected,
            },
            other => other,
        }
    }

    /// The usual rule: `--yes` goes on; otherwise ask on a terminal, and
    /// without one refuse, saying that `--yes` is needed to `doing`.
    pub fn yes_or_ask(yes: bool, interactive: bool, question: &str, doing: &str) -> Confirmation {
        match (yes, interactive) {
            (true, _) => Confirmation::Proceed,
            (false, true) => Confirmation::ask_yes(question),
            (false, false) => Confirmation::Refuse(format!(
                "{doing} needs a confirmation and there is no terminal to ask on: pass --yes"
            )),
        }
    }

    /// Goes on, asks (on standard error, reading standard input), or stops.
    ///
    /// # Errors
    /// Refused, or not confirmed (`not_confirmed` says what did not happen).
    pub fn resolve(self, not_confirmed: &str) -> anyhow::Result<()> {
        settle(self, &Terminal, not_confirmed)
    }
}

/// What an act may need from the operator before it goes ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Nothing: it goes ahead.
    Nothing,
    /// `--yes`, or a yes typed on a terminal; refused without either.
    Yes,
    /// `--yes`, never a question (a habit of typing yes must not delete
    /// messages for good on prod).
    YesFlag,
    /// `--yes` and the stack's name, passed (`--confirm-stack`) or typed on
    /// a terminal (destroying prod).
    YesAndStackName,
}

/// What a command does that may need a person's yes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// `deploy` and `rollback`: a change set executed.
    Deploy,
    /// `destroy`: the stack deleted.
    Destroy,
    /// `ledger adjust` and `ledger repair`: an account corrected.
    CorrectLedger,
    /// `dlq delete|purge` and `unrouted delete`: messages deleted for good.
    DeleteMessages,
    /// `replay`: archived events put back onto the handler.
    Replay,
    /// `smoke`: fires the errors alarm, which pages the on-call person.
    Smoke,
    /// `sweep` without `--dry-run`: expires the open holds older than its
    /// age and refunds them (the stage's `straggler_action`).
    Sweep,
    /// `send`: one event put on the bus, as a producer would.
    Send,
}

use Need::{Nothing, Yes, YesAndStackName, YesFlag};

/// Who must confirm what, on which stage: the one table. Commands not in it
/// (`dlq replay`, `unrouted resend`) ask nobody: what they write is applied
/// by business key, so running them twice does no harm. Every writing
/// command still refuses credentials the stage's pins do not allow,
/// whatever `--yes` says (`Session::before_writing`).
#[rustfmt::skip]
const POLICY: [(Act, [Need; 3]); 8] = [
    //                        dev      staging  prod
    (Act::Deploy,         [Nothing, Nothing, Yes]),
    (Act::Destroy,        [Yes,     Yes,     YesAndStackName]),
    (Act::CorrectLedger,  [Nothing, Yes,     Yes]),
    (Act::DeleteMessages, [Yes,     Yes,     YesFlag]),
    (Act::Replay,         [Nothing, Nothing, Yes]),
    (Act::Smoke,          [Nothing, Nothing, Yes]),
    (Act::Sweep,          [Nothing, Yes,     Yes]),
    (Act::Send,           [Nothing, Yes,     Yes]),
];

/// What the operator gave on the command line, and whether they can be asked.
#[derive(Clone, Copy, Debug, Default)]
pub struct Given<'a> {
    /// `--yes`.
    pub yes: bool,
    /// Whether a person can be asked (standard input is a terminal).
    pub interactive: bool,
    /// `--confirm-stack <name>` (destroy).
    pub confirm_stack: Option<&'a str>,
}

impl Act {
    /// What this action needs on `stage` ([`POLICY`]).
    pub fn need(self, stage: Stage) -> Need {
        let column = Stage::ALL.iter().position(|s| *s == stage).unwrap_or(2);
        POLICY
            .iter()
            .find(|(action, _)| *action == self)
            .map_or(Yes, |(_, needs)| needs[column])
    }

    /// Whether the action goes on, asks `question`, or stops, on `stage`
    /// with what was `given`; `doing` names the action in a refusal
    /// ("deleting messages needs a confirmation …").
    pub fn confirmation(
        self,
        stage: Stage,
        given: Given<'_>,
        question: &str,
        doing: &str,
    ) -> Confirmation {
        match self.need(stage) {
            Nothing => Confirmation::Proceed,
            Yes => Confirmation::yes_or_ask(given.yes, given.interactive, question, doing),
            YesFlag if !given.yes => Confirmation::Refuse(format!(
                "{doing} on {stage} deletes messages for good: pass --yes"
            )),
            YesFlag => Confirmation::Proceed,
            YesAndStackName => stack_name_confirmation(stage, given, question),
        }
    }
}

/// [`Need::YesAndStackName`]: `--yes`, and the stack's name passed or typed.
fn stack_name_confirmation(stage: Stage, given: Given<'_>, question: &str) -> Confirmation {
    let stack = infra::stack_name(stage);
    if !given.yes {
        return Confirmation::Refuse(format!(
            "destroying {stack} ({stage}) needs --yes and the stack name: \
             --yes --confirm-stack {stack}"
        ));
    }
    match (given.confirm_stack, given.interactive) {
        (Some(name), _) if name == stack => Confirmation::Proceed,
        (Some(name), _) => Confirmation::Refuse(format!(
            "--confirm-stack {name} does not name the stack to destroy ({stack}); nothing deleted"
        )),
        (None, true) => Confirmation::Ask {
            question: question.to_owned(),
            expected: stack,
        },
        (None, false) => Confirmation::Refuse(format!(
            "destroying {stack} ({stage}) needs the stack name and there is no terminal to type \
             it on: pass --confirm-stack {stack}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_name_who_and_where() {
        let who = "cc-agent-reconciler-prod: account 1, region eu-west-1, as me";
        assert_eq!(
            Confirmation::ask_yes("Deploy?").naming(who),
            Confirmation::ask_yes(format!("{who}: Deploy?"))
        );
        assert_eq!(
            Confirmation::ask_yes("Deploy?").naming(""),
            Confirmation::ask_yes("Deploy?")
        );
        assert_eq!(
            Confirmation::Proceed.naming(who),
            Confirmation::Proceed,
            "nothing asked, nothing named"
        );
    }

    #[test]
    fn yes_or_ask_and_refusals() {
        assert_eq!(
            Confirmation::yes_or_ask(true, false, "q", "purging"),
            Confirmation::Proceed
        );
        assert!(matches!(
            Confirmation::yes_or_ask(false, false, "q", "purging"),
            Confirmation::Refuse(why) if why.contains("pass --yes")
        ));
        assert!(matches!(
            Confirmation::Refuse("no".into()).resolve("nothing done"),
            Err(e) if e.to_string() == "no"
        ));
    }

    /// The table as a person reads it: for each action, what dev, staging
    /// and prod need (written out here, not read from `POLICY`).
    #[test]
    fn the_table_says_who_confirms_what_on_which_stage() {
        use Act::*;
        let expected = [
            (Deploy, [Nothing, Nothing, Yes]),
            (Destroy, [Yes, Yes, YesAndStackName]),
            (CorrectLedger, [Nothing, Yes, Yes]),
            (DeleteMessages, [Yes, Yes, YesFlag]),
            (Replay, [Nothing, Nothing, Yes]),
            (Smoke, [Nothing, Nothing, Yes]),
            (Sweep, [Nothing, Yes, Yes]),
            (Send, [Nothing, Yes, Yes]),
        ];
        for (action, needs) in expected {
            for (stage, need) in [Stage::Dev, Stage::Staging, Stage::Prod]
                .into_iter()
                .zip(needs)
            {
                assert_eq!(action.need(stage), need, "{action:?} on {stage}");
            }
        }
    }

    fn given(yes: bool, interactive: bool) -> Given<'static> {
        Given {
            yes,
            interactive,
            confirm_stack: None,
        }
    }

    #[test]
    fn only_prod_deploys_need_a_confirmation() {
        let deploy = |stage, yes, interactive| {
            Act::Deploy.confirmation(stage, given(yes, interactive), "Deploy?", "deploying s")
        };
        for (yes, interactive) in [(true, true), (true, false), (false, true), (false, false)] {
            assert_eq!(deploy(Stage::Dev, yes, interactive), Confirmation::Proceed);
            assert_eq!(
                deploy(Stage::Staging, yes, interactive),
                Confirmation::Proceed
            );
        }
        assert_eq!(deploy(Stage::Prod, true, false), Confirmation::Proceed);
        assert_eq!(
            deploy(Stage::Prod, false, true),
            Confirmation::ask_yes("Deploy?")
        );
        assert_eq!(
            deploy(Stage::Prod, false, false),
            Confirmation::Refuse(
                "deploying s needs a confirmation and there is no terminal to ask on: pass --yes"
                    .into()
            )
        );
    }

    #[test]
    fn destroying_prod_needs_yes_and_the_stack_name() {
        let name = "cc-agent-reconciler-prod";
        let destroy = |yes, confirm_stack, interactive| {
            Act::Destroy.confirmation(
                Stage::Prod,
                Given {
                    yes,
                    interactive,
                    confirm_stack,
                },
                "Delete the stack cc-agent-reconciler-prod?",
                "deleting cc-agent-reconciler-prod",
            )
        };
        assert_eq!(destroy(true, Some(name), false), Confirmation::Proceed);
        for interactive in [true, false] {
            assert_eq!(
                destroy(false, Some(name), interactive),
                Confirmation::Refuse(
                    "destroying cc-agent-reconciler-prod (prod) needs --yes and the stack name: \
                     --yes --confirm-stack cc-agent-reconciler-prod"
                        .into()
                )
            );
            assert_eq!(
                destroy(true, Some("cc-agent-reconciler-dev"), interactive),
                Confirmation::Refuse(
                    "--confirm-stack cc-agent-reconciler-dev does not name the stack to destroy \
                     (cc-agent-reconciler-prod); nothing deleted"
                        .into()
                )
            );
        }
        assert_eq!(
            destroy(true, None, true),
            Confirmation::Ask {
                question: "Delete the stack cc-agent-reconciler-prod?".into(),
                expected: name.into()
            }
        );
        assert!(matches!(
            destroy(true, None, false),
            Confirmation::Refuse(e) if e.ends_with("pass --confirm-stack cc-agent-reconciler-prod")
        ));
    }

    #[test]
    fn destroying_other_stages_needs_yes_or_a_terminal() {
        let destroy = |stage, yes, interactive| {
            Act::Destroy.confirmation(stage, given(yes, interactive), "Delete?", "deleting s")
        };
        assert_eq!(destroy(Stage::Dev, true, false), Confirmation::Proceed);
        assert_eq!(
            destroy(Stage::Staging, false, true),
            Confirmation::ask_yes("Delete?")
        );
        assert!(matches!(
            destroy(Stage::Dev, false, false),
            Confirmation::Refuse(e) if e.starts_with("deleting s needs a confirmation")
        ));
    }

    #[test]
    fn deleting_messages_on_prod_needs_yes_and_is_never_asked() {
        let delete = |stage, yes, interactive| {
            Act::DeleteMessages.confirmation(stage, given(yes, interactive), "q?", "x")
        };
        assert_eq!(delete(Stage::Prod, true, false), Confirmation::Proceed);
        assert_eq!(
            delete(Stage::Prod, false, true),
            Confirmation::Refuse("x on prod deletes messages for good: pass --yes".into())
        );
        assert_eq!(delete(Stage::Dev, false, true), Confirmation::ask_yes("q?"));
        assert!(matches!(
            delete(Stage::Staging, false, false),
            Confirmation::Refuse(why) if why.contains("no terminal")
        ));
        assert_eq!(delete(Stage::Dev, true, false), Confirmation::Proceed);
    }

    #[test]
    fn correcting_the_ledger_asks_on_staging_and_prod_only() {
        let correct = |stage, yes, interactive| {
            Act::CorrectLedger.confirmation(stage, given(yes, interactive), "Move 5?", "x")
        };
        assert_eq!(correct(Stage::Dev, false, false), Confirmation::Proceed);
        assert_eq!(
            correct(Stage::Staging, false, true),
            Confirmation::ask_yes("Move 5?")
        );
        assert_eq!(correct(Stage::Prod, true, false), Confirmation::Proceed);
        assert!(matches!(
            correct(Stage::Prod, false, false),
            Confirmation::Refuse(_)
        ));
    }

    #[test]
    fn replays_and_smoke_tests_ask_on_prod_only() {
        for action in [Act::Replay, Act::Smoke] {
            let c = |stage, yes, interactive| {
                action.confirmation(stage, given(yes, interactive), "Go on?", "a run on prod")
            };
            assert_eq!(c(Stage::Dev, false, false), Confirmation::Proceed);
            assert_eq!(c(Stage::Staging, false, false), Confirmation::Proceed);
            assert_eq!(c(Stage::Prod, false, true), Confirmation::ask_yes("Go on?"));
            assert!(matches!(
                c(Stage::Prod, false, false),
                Confirmation::Refuse(e) if e.starts_with("a run on prod needs a confirmation")
            ));
        }
    }
}
