//! Names the functions and the infrastructure must agree on. The stack builds
//! the functions' environment and alarms from these constants, and the
//! functions read their configuration and emit metrics by them.
//!
//! And what the handler says to the world, typed once for whoever writes or
//! reads it: its [`Response`] (with [`Outcome`], the response's word), and
//! its log line ([`log`]: the field names and [`log::LogLine`]). Both are
//! written and read by hand (`to_json`/`from_json`; the core has no serde
//! derive), and a field that is missing or wrong is a [`BadField`] naming it.

mod json;
pub mod log;
mod response;

pub use json::BadField;
pub use response::{AccountView, JobView, Outcome, Response};

/// Environment variables of the handler Lambda.
pub mod handler_env {
    /// The stage name (`dev`, `staging`, `prod`): a metric dimension and a log field.
    pub const STAGE: &str = "STAGE";
    /// The ledger table (accounts, jobs, grants, entries, sweep state).
    pub const LEDGER_TABLE: &str = "LEDGER_TABLE";
    /// Every variable, all required.
    pub const ALL: &[&str] = &[STAGE, LEDGER_TABLE];
}

/// Environment variables of the sweep Lambda.
pub mod sweep_env {
    pub use super::handler_env::{LEDGER_TABLE, STAGE};
    /// Seconds after which a HELD job is a straggler.
    pub const HOLD_TIMEOUT_SECONDS: &str = "HOLD_TIMEOUT_SECONDS";
    /// `expire` or `report`.
    pub const STRAGGLER_ACTION: &str = "STRAGGLER_ACTION";
    /// OpenAI-compatible base URL (e.g. `https://api.openai.com/v1`); empty: summarizer off.
    pub const SUMMARIZER_BASE_URL: &str = "SUMMARIZER_BASE_URL";
    /// Model name sent to the chat-completions endpoint.
    pub const SUMMARIZER_MODEL: &str = "SUMMARIZER_MODEL";
    /// Name of the SSM SecureString parameter holding the API key.
    pub const SUMMARIZER_API_KEY_PARAMETER: &str = "SUMMARIZER_API_KEY_PARAMETER";
    /// Upper bound on the whole summarizer call, in milliseconds.
    pub const SUMMARIZER_TIMEOUT_MS: &str = "SUMMARIZER_TIMEOUT_MS";
    /// Every variable the stack sets; all are read.
    pub const ALL: &[&str] = &[
        STAGE,
        LEDGER_TABLE,
        HOLD_TIMEOUT_SECONDS,
        STRAGGLER_ACTION,
        SUMMARIZER_BASE_URL,
        SUMMARIZER_MODEL,
        SUMMARIZER_API_KEY_PARAMETER,
        SUMMARIZER_TIMEOUT_MS,
    ];
}

/// What the sweep does with a HELD job older than the hold timeout (the
/// sweep's `STRAGGLER_ACTION`, set from the stage's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StragglerAction {
    /// Release the hold (EXPIRED): the credits become available again.
    Expire,
    /// Only list it in the report.
    Report,
}

impl StragglerAction {
    /// The word the environment variable and the report carry.
    pub fn as_str(self) -> &'static str {
        match self {
            StragglerAction::Expire => "expire",
            StragglerAction::Report => "report",
        }
    }
}

impl std::str::FromStr for StragglerAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "expire" => Ok(StragglerAction::Expire),
            "report" => Ok(StragglerAction::Report),
            other => Err(format!("expected `expire` or `report`, got {other:?}")),
        }
    }
}

/// The sweep's optional report summarizer: an OpenAI-compatible
/// chat-completions endpoint. The stage's config sets it; the sweep reads it
/// from its environment (the `SUMMARIZER_*` variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummarizerConfig {
    /// Base URL, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// The model name.
    pub model: String,
    /// Name of the SSM SecureString parameter holding the API key, fetched at
    /// run time (never in the template, never logged). The sweep may read this
    /// one parameter and no other.
    pub api_key_parameter: String,
    /// Upper bound on the whole call, in milliseconds; below the sweep's timeout.
    pub timeout_ms: u64,
}

/// The summarizer's timeout when none is configured.
pub const DEFAULT_SUMMARIZER_TIMEOUT_MS: u64 = 5_000;

/// CloudWatch metrics, emitted in Embedded Metric Format.
pub mod metrics {
    /// Namespace of every custom metric.
    pub const NAMESPACE: &str = "CcAgentReconciler";
    /// Dimension carried by every custom metric (its value is the stage).
    pub const STAGE_DIMENSION: &str = "Stage";
    /// Handler: one per event, dimension `Outcome` (the response's word,
    /// [`super::Outcome`]).
    pub const EVENTS: &str = "Events";
    pub const OUTCOME_DIMENSION: &str = "Outcome";
    /// Handler: events replayed from the bus's archive (the envelope carries
    /// a `replay-name`), one per event, dimension `Outcome`: "1,204 replayed,
    /// 1,198 duplicate, 6 applied" for a window.
    pub const REPLAYED_EVENTS: &str = "ReplayedEvents";
    /// `ReplayedEvents`' `Outcome` for a replayed event the handler did not
    /// apply: refused as invalid, or failed (Lambda then retries it, so a
    /// later invocation may count it again under its outcome).
    pub const NOT_APPLIED_OUTCOME: &str = "not-applied";
    /// Handler: events that were conflicts (alarmed).
    pub const CONFLICTS: &str = "Conflicts";
    /// Handler: debits not covered by a hold.
    pub const OVERDRAFTS: &str = "Overdrafts";
    /// Handler: events refused as invalid.
    pub const INVALID_EVENTS: &str = "InvalidEvents";
    /// Sweep: HELD jobs older than the hold timeout.
    pub const STRAGGLERS: &str = "Stragglers";
    /// Sweep: credits held by those stragglers.
    pub const STRAGGLER_CREDITS: &str = "StragglerCredits";
    /// Sweep: holds expired.
    pub const EXPIRED: &str = "Expired";
    /// Sweep: accounts whose ledger does not sum to their balances (alarmed).
    pub const LEDGER_DRIFT: &str = "LedgerDrift";
    /// Sweep: conflicts recorded since the previous sweep.
    pub const SWEEP_CONFLICTS: &str = "SweepConflicts";
}

/// The ledger table's schema: the facts the table's definition (the stack's,
/// and the one local runs create) and the adapter's requests share.
pub mod table {
    /// Partition key (a string).
    pub const PARTITION_KEY: &str = "pk";
    /// Sort key (a string).
    pub const SORT_KEY: &str = "sk";
    /// The sparse index of what is open: HELD jobs, accounts awaiting an
    /// audit, and conflict records (kept until their TTL; the sweep lists
    /// those after its marker). Only items carrying its keys are in it.
    pub const OPEN_INDEX: &str = "open-items";
    /// The index's partition key (a string): `HELD`, `AUDIT` or `CONFLICT`.
    pub const OPEN_INDEX_PARTITION_KEY: &str = "open_kind";
    /// The index's sort key (a string).
    pub const OPEN_INDEX_SORT_KEY: &str = "open_key";
    /// The non-key attributes the index copies: exactly what the sweep reads
    /// from HELD jobs and conflict records. Nothing an account write changes
    /// (its balances, `updated_at_ms`), so an account write costs no index
    /// write unless its audit mark comes back.
    pub const OPEN_INDEX_ATTRIBUTES: &[&str] = &[
        "v",
        "job_id",
        "account_id",
        "hold",
        "held_at_ms",
        "key",
        "detail_type",
        "detail",
        "reason",
        "event_id",
        "at_ms",
        "expires_at",
    ];
    /// The attribute DynamoDB's TTL deletes expired conflict records by.
    pub const TTL_ATTRIBUTE: &str = "expires_at";
}
