//! The reconciler's infrastructure as typed Rust: one CloudFormation stack per
//! stage (SPEC §6).
//!
//! - [`model`]: typed CloudFormation resources and intrinsics, serializing to
//!   deterministic JSON;
//! - [`stage`]: what differs between stages ([`StageConfig`]);
//! - [`stack`]: the stack, described once, derived per stage.
//!
//! ```
//! let json = infra::synth(infra::Stage::Dev);
//! assert!(json.contains("cc-agent-reconciler-ledger${TableSuffix}"));
//! ```

#![warn(missing_docs)]

pub mod model;
pub mod stack;
pub mod stage;

pub use model::Template;
pub use stack::template;
pub use stage::{
    Architecture, Stage, StageConfig, StragglerAction, SummarizerConfig, UnknownStage,
};

/// The CloudFormation stack name of a stage: `cc-agent-reconciler-<stage>`.
pub fn stack_name(stage: Stage) -> String {
    format!("cc-agent-reconciler-{stage}")
}

/// The stage's template as CloudFormation JSON (what `cargo xtask synth` writes).
pub fn synth(stage: Stage) -> String {
    template(&StageConfig::for_stage(stage)).to_json()
}

/// The file `cargo xtask synth` writes a stage's template to:
/// `cc-agent-reconciler-<stage>.template.json`.
pub fn template_file_name(stage: Stage) -> String {
    format!("{}.template.json", stack_name(stage))
}

/// Resource types holding data: a deploy must never replace or remove them
/// without a human saying so.
pub fn stateful_resource_types() -> &'static [&'static str] {
    &["AWS::DynamoDB::Table", "AWS::SQS::Queue"]
}
