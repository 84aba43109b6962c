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
    pub seq: u64,
}

impl From<Balances> for BalancesView {
    fn from(b: Balances) -> Self {
        BalancesView {
            available: b.available,
            held: b.held,
            granted: b.granted,
            debited: b.debited,
            adjusted: b.adjusted,
            seq: b.seq,
        }
    }
}

/// An account whose ledger and balances disagree, or whose holds its jobs
/// do not back, as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftView {
    pub account_id: String,
    pub stored: BalancesView,
    pub recomputed: BalancesView,
    /// Every disagreement found, for a human.
    pub problems: Vec<String>,
}

impl From<Drift> for DriftView {
    fn from(d: Drift) -> Self {
        DriftView {
            account_id: d.account_id,
            stored: d.stored.into(),
            recomputed: d.recomputed.into(),
            problems: d.problems,
        }
    }
}
