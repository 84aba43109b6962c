//! Tests of the synthesized templates: snapshots, structural assertions,
//! the function contract, and cfn-lint.

mod support;

mod cfn_lint;
mod contract;
mod snapshot;
mod structure;
