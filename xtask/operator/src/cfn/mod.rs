//! The CloudFormation room: what the deploy engine and the commands ask of
//! CloudFormation, with no decision of theirs in it. The stack as deployed
//! ([`stack`]: its status, template, parameters, outputs and resources;
//! deleting it, termination protection), change sets ([`change_set`]:
//! proposing, reading, executing, discarding), following an operation
//! through the stack's events ([`progress`]), drift detection ([`drift`]),
//! what a stack status says ([`status`], as the SDK's `StackStatus`), and
//! what deleted stacks left behind ([`retained`]).
//!
//! It imports the session and foundations rooms only.

pub mod change_set;
pub mod drift;
pub mod progress;
pub mod retained;
pub mod stack;
pub mod status;
