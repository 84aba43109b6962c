//! The reconciler's infrastructure as typed Rust: one CloudFormation stack per
//! stage (contract §6).
//!
//! - [`model`]: typed CloudFormation resources and intrinsics, serializing to
//!   deterministic JSON;
//! - [`stage`]: what differs between stages ([`StageConfig`]), from the Rust
//!   defaults and the stage files `infra/stages/<stage>.toml`;
//! - [`names`]: every physical name, once;
//! - [`stack`]: the stack, described once, derived per stage;
//! - [`outputs`]: the stack's outputs, typed ([`StackOutputs`]);
//! - [`producers`]: who may put which ledger event on a stage's bus;
//! - [`policy`]: IAM's documented evaluation logic, to check the stack's
//!   policies against the requests AWS services send.
//!
//! ```
//! let json = infra::synth(infra::Stage::Dev);
//! assert!(json.contains("cc-agent-reconciler-ledger${TableSuffix}"));
//! ```

#![warn(missing_docs)]

pub mod model;
pub mod names;
pub mod outputs;
pub mod policy;
pub mod producers;
pub mod stack;
pub mod stage;
mod stage_file;

pub use model::Template;
pub use outputs::{MissingOutputs, StackOutputs};
pub use producers::{Producer, ProducerPrincipal};
pub use stack::{RunbookAnchor, runbook_anchors, template};
pub use stage::{
    AlertProtocol, AlertSubscription, Architecture, Stage, StageConfig, StageFileError,
    StragglerAction, SummarizerConfig, UnknownStage,
};

/// The CloudFormation stack name of a stage: `cc-agent-reconciler-<stage>`.
pub fn stack_name(stage: Stage) -> String {
    format!("cc-agent-reconciler-{stage}")
}

/// The stage's template as pretty CloudFormation JSON (what `cargo xtask
/// synth` writes and the snapshots hold), from [`StageConfig::load`]: the
/// Rust defaults and the stage file. A deploy sends the compact
/// [`Template::to_json`] of the same template.
///
/// # Panics
/// If the stage file is invalid, with [`try_synth`]'s message (the files are
/// compiled in, and a test loads each of them).
pub fn synth(stage: Stage) -> String {
    try_synth(stage).unwrap_or_else(|error| panic!("{error}"))
}

/// [`synth`], returning a bad stage file as an error instead of panicking.
///
/// # Errors
/// The stage file's problem, naming the file and the key.
pub fn try_synth(stage: Stage) -> Result<String, StageFileError> {
    Ok(template(&StageConfig::load(stage)?).to_pretty_json())
}

/// The file `cargo xtask synth` writes a stage's template to:
/// `cc-agent-reconciler-<stage>.template.json`.
pub fn template_file_name(stage: Stage) -> String {
    format!("{}.template.json", stack_name(stage))
}

/// Resource types holding data: a deploy must never replace or remove them
/// without a human saying so. The table (the ledger), the queues (dead
/// letters, unrouted events), the archive (a year of events for replays)
/// and the customer managed key (without it none of those can be read).
pub fn stateful_resource_types() -> &'static [&'static str] {
    &[
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::Events::Archive",
        "AWS::KMS::Key",
    ]
}
