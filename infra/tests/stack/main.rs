//! Tests of the synthesized templates: snapshots, structural assertions,
//! the function contract, the typed outputs, the stage files, cfn-lint and
//! checkov.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

mod alarms;
mod cfn_lint;
mod checkov;
mod contract;
mod delivery;
mod outputs;
mod routing;
mod snapshot;
mod stage_files;
mod structure;
