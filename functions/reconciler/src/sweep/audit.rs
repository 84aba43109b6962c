//! The audit as the sweep reports it. The judging is the core's
//! ([`reconciler_core::audit`], written once); this is its JSON form in the
//! report.

use reconciler_core::audit::{Balances, Drift};
use serde::Serialize;

/// Balances as stored, or as the entries sum to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BalancesView {
    pub available: i64,
    pub held: i64,
    pub granted: i64,
    pub debited: i64,
    pub adjusted: i64,
    /// A cell's net transfers from its account's other cells (absent: 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub transferred: i64,
    pub seq: u64,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl From<Balances> for BalancesView {
    fn from(b: Balances) -> Self {
        BalancesView {
            available: b.available,
            held: b.held,
            granted: b.granted,
            debited: b.debited,
            adjusted: b.adjusted,
            transferred: b.transferred,
            seq: b.seq,
        }
    }
}

/// An account whose ledger and balances disagree, or whose holds its jobs
/// do not back, as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftView {
    pub account_id: String,
    /// The cell of a split account that drifted (`ledger repair --cell`);
    /// absent for an account's home cell, the whole of one never split.
    #[serde(skip_serializing_if = "is_home")]
    pub cell: u32,
    pub stored: BalancesView,
    pub recomputed: BalancesView,
    /// Every disagreement found, for a human.
    pub problems: Vec<String>,
}

// Serde's `skip_serializing_if` takes a path to a function of a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_home(cell: &u32) -> bool {
    *cell == 0
}

impl From<Drift> for DriftView {
    fn from(d: Drift) -> Self {
        DriftView {
            account_id: d.account_id,
            cell: d.cell,
            stored: d.stored.into(),
            recomputed: d.recomputed.into(),
            problems: d.problems,
        }
    }
}
