//! `ledger adjust`: an operator's correction, applied by the handler like an
//! event, once, by its id.

use std::time::Duration;

use infra::Stage;
use reconciler_core::event::{CREDITS_ADJUSTED, parse_detail};
use serde_json::{Value, json};

use reconciler_core::ledger::Account;

use super::statement::signed;
use crate::base::ui::{Act, Confirmation, Given};
use crate::base::when::format_time;
use crate::models::invoke::{Invoked, invoke};

/// An operator's correction (contract §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adjustment {
    /// Its idempotency key: a retry must reuse it.
    pub adjustment_id: String,
    /// The account to correct.
    pub account_id: String,
    /// Signed: moves `available` by this much.
    pub credits: i64,
    /// Why (1–512 characters).
    pub reason: String,
}

/// The `source` of an operator's correction.
pub const OPERATOR_SOURCE: &str = "cc-agent-reconciler.operator";

impl Adjustment {
    /// Its `detail`.
    pub fn detail(&self) -> Value {
        json!({
            "adjustment_id": self.adjustment_id,
            "account_id": self.account_id,
            "credits": self.credits,
            "reason": self.reason,
        })
    }

    /// Refuses what the handler would refuse, before anything is sent
    /// (contract §3: |credits| ≤ 10^12, not 0; a reason of 1–512 characters).
    ///
    /// # Errors
    /// The handler's own validation message.
    pub fn validate(&self) -> Result<(), String> {
        parse_detail(CREDITS_ADJUSTED, &self.detail())
            .map(|_| ())
            .map_err(|invalid| invalid.to_string())
    }

    /// The envelope `ledger adjust` invokes the handler with: the same for
    /// every retry of this adjustment.
    pub fn envelope(&self, now_ms: i64) -> Value {
        json!({
            "version": "0",
            "id": format!("operator-{}", self.adjustment_id),
            "detail-type": CREDITS_ADJUSTED,
            "source": OPERATOR_SOURCE,
            "time": format_time(now_ms),
            "detail": self.detail(),
        })
    }
}

/// A fresh adjustment id: `adj-<UTC time>-<8 hex>` (printed, so that a
/// retry can reuse it with `--id`).
pub fn new_adjustment_id(now_ms: i64, nonce: u32) -> String {
    format!(
        "adj-{}-{nonce:08x}",
        crate::base::when::compact_time(now_ms).to_lowercase()
    )
}

/// Some bits that differ between two runs.
pub(super) fn nonce() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos ^ std::process::id().rotate_left(16)
}

/// Whether `adjust` (and `repair`) may go ahead
/// ([`Act::CorrectLedger`]): the question names who and where.
pub(super) fn adjust_confirmation(stage: Stage, yes: bool, question: &str) -> Confirmation {
    let given = Given {
        yes,
        interactive: crate::base::ui::interactive(),
        confirm_stack: None,
    };
    Act::CorrectLedger.confirmation(stage, given, question, "correcting a ledger account")
}

/// Invokes the handler with the adjustment (retries are safe: the effect
/// is keyed on `adjustment_id`), waiting as long as it may run
/// (`runs_up_to`, its timeout).
///
/// # Errors
/// The adjustment is invalid (nothing sent), or the invocation failed.
pub async fn adjust(
    lambda: &aws_sdk_lambda::Client,
    handler_function: &str,
    adjustment: &Adjustment,
    now_ms: i64,
    runs_up_to: Duration,
) -> anyhow::Result<Invoked> {
    adjustment.validate().map_err(anyhow::Error::msg)?;
    let envelope = adjustment.envelope(now_ms);
    invoke(lambda, handler_function, &envelope, true, runs_up_to).await
}

/// What the correction does to the account, said before it is confirmed
/// (pure): the balance now and after. An account with no entries (a
/// misspelt id would become a new, funded account) needs
/// `create_account`.
///
/// # Errors
/// No entries and no `--create-account`: what to check, what to pass.
pub fn preview(
    account: Option<&Account>,
    adjustment: &Adjustment,
    create_account: bool,
    table_name: &str,
) -> Result<String, String> {
    let id = &adjustment.account_id;
    let after = |available: i64, held: i64| {
        format!(
            "after the correction ({}): available {}, held {held}",
            signed(adjustment.credits),
            available.saturating_add(adjustment.credits)
        )
    };
    match account.filter(|a| a.seq > 0) {
        Some(a) => Ok(format!(
            "Account {id}: available {}, held {}; {}.",
            a.available,
            a.held,
            after(a.available, a.held)
        )),
        None if create_account => Ok(format!(
            "Account {id} has no entries in {table_name}: --create-account opens it; {}.",
            after(0, 0)
        )),
        None => Err(format!(
            "account {id:?} has no entries in {table_name}: a misspelt id would become a new, \
             funded account; check it (`cargo xtask ledger statement … {id}`), or pass \
             --create-account to open it with this correction"
        )),
    }
}

/// The handler's contract §4 response, readable (pure).
pub fn render_response(response: &Value) -> String {
    let outcome = response["outcome"].as_str().unwrap_or("?");
    let account = &response["account"];
    let mut out = format!(
        "outcome {outcome}: account {} available {}, held {}\n",
        account["account_id"].as_str().unwrap_or("?"),
        account["available"],
        account["held"]
    );
    out.push_str(match outcome {
        "adjusted" => "The correction was applied.\n",
        "duplicate" => {
            "This adjustment id was already applied with the same payload: nothing moved again.\n"
        }
        "conflict" => {
            "CONFLICT: this adjustment id was already applied with another payload; nothing \
             moved. Use a new --id for a new correction.\n"
        }
        _ => "",
    });
    out.push_str(&format!("Response: {response}\n"));
    out
}
