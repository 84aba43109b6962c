//! Tests of the synthesized templates: snapshots, structural assertions,
//! the function contract, and cfn-lint.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

mod cfn_lint;
mod contract;
mod snapshot;
mod structure;
