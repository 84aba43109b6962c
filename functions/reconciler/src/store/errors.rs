//! What DynamoDB's answers mean, decided in one place: [`classify`] sorts
//! an SDK error, [`item_answer`] one item's reason in a cancelled
//! transaction, and [`StoreError`] is what the store reports, named for
//! what the operator should do, keeping the SDK's error as its source.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_get_items::TransactGetItemsError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::CancellationReason;
use reconciler_core::ledger::LedgerError;

/// An SDK error, kept as the source of a [`StoreError`].
pub type SdkFailure = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a command could not be applied. [`StoreError::error_type`] names
/// what the operator should do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB failed, could not be reached, or kept answering "not now".
    #[error("DynamoDB request failed: {message}")]
    Aws {
        message: String,
        #[source]
        source: Option<SdkFailure>,
    },
    /// DynamoDB refused the request itself (e.g. an item over its size limit):
    /// retrying the same event cannot succeed.
    #[error("DynamoDB refused the request: {message}")]
    Refused {
        message: String,
        #[source]
        source: Option<SdkFailure>,
    },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A stored item is not what this code writes: fix (or migrate) the item.
    #[error("the ledger table holds a malformed item: {0}")]
    Malformed(String),
    #[error("gave up after {attempts} attempts in {seconds} s: {last}")]
    Contention {
        attempts: u32,
        seconds: u64,
        last: String,
    },
}

impl StoreError {
    /// The error type reported to Lambda: `LedgerError` for what retrying
    /// cannot fix (a refused request, a malformed item, an overflow),
    /// `LedgerUnavailable` for what it may (DynamoDB unreachable, contention).
    pub fn error_type(&self) -> &'static str {
        match self {
            StoreError::Ledger(_) | StoreError::Malformed(_) | StoreError::Refused { .. } => {
                "LedgerError"
            }
            StoreError::Aws { .. } | StoreError::Contention { .. } => "LedgerUnavailable",
        }
    }

    /// An SDK error as a store error: `ValidationException` is a refusal
    /// (the same request will never pass), the rest may pass later. The
    /// message is the service's `Code: message`, else the SDK's words with
    /// their causes ([`words`]); the error itself is the source.
    pub fn from_sdk<E, R>(e: SdkError<E, R>) -> StoreError
    where
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let refused = e
            .as_service_error()
            .and_then(|s| s.code())
            .is_some_and(|code| code == "ValidationException");
        let message = match (e.code(), e.message()) {
            (Some(code), Some(text)) => format!("{code}: {text}"),
            (Some(code), None) => code.to_owned(),
            (None, _) => words(&e),
        };
        let source = Some(Box::new(e) as SdkFailure);
        if refused {
            StoreError::Refused { message, source }
        } else {
            StoreError::Aws { message, source }
        }
    }

    /// A transaction cancelled for `reason`, an answer no retry changes
    /// ([`ItemAnswer::Fatal`]): refused for a `ValidationError`, failed
    /// otherwise; `e` is the cancellation.
    pub(super) fn cancelled<E, R>(reason: &CancellationReason, e: SdkError<E, R>) -> StoreError
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let code = reason.code().unwrap_or("None");
        let message = format!(
            "transaction cancelled: {code}: {}",
            reason.message().unwrap_or("")
        );
        let source = Some(Box::new(e) as SdkFailure);
        if code == "ValidationError" {
            StoreError::Refused { message, source }
        } else {
            StoreError::Aws { message, source }
        }
    }
}

/// An error and its causes in one line, outermost first, each cause said
/// once: what an operator's screen or a log line shows of an SDK error.
/// Not the SDK's `DisplayErrorContext`, which appends the error's `Debug`
/// (the raw response, its headers and body: hundreds of characters).
pub(crate) fn words(e: &(dyn std::error::Error + 'static)) -> String {
    let mut said: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(error) = next {
        let text = error.to_string();
        if !said.iter().any(|s| s.contains(&text)) {
            said.push(text);
        }
        next = error.source();
    }
    said.join(": ").replace(['\n', '\r'], " ")
}

/// Service error codes that mean "not now": the same request may pass later.
const TRANSIENT: [&str; 6] = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

/// Cancellation reason codes that mean "others were writing": nothing was
/// learned about the item, try again later.
const CONTENDED: [&str; 4] = [
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "RequestLimitExceeded",
];

/// What an SDK error means for the request that got it.
#[derive(Debug)]
pub(super) enum Answer<'a> {
    /// Throttling, a transaction in progress, a lost or unreadable
    /// response, a failed connection: the same request may pass later.
    NotNow,
    /// The transaction was cancelled: one reason per item, in order.
    Cancelled(&'a [CancellationReason]),
    /// The write's token was spent on a request with other parameters
    /// (`IdempotentParameterMismatchException`).
    TokenSpent,
    /// Anything else: report it ([`StoreError::from_sdk`]).
    Failed,
}

/// The errors of the operations whose answers are more than failures:
/// the transactions' cancellations, and a write's spent token.
pub(super) trait Transactional: ProvideErrorMetadata {
    fn cancellation_reasons(&self) -> Option<&[CancellationReason]>;
    fn token_spent(&self) -> bool;
}

impl Transactional for TransactGetItemsError {
    fn cancellation_reasons(&self) -> Option<&[CancellationReason]> {
        match self {
            TransactGetItemsError::TransactionCanceledException(t) => {
                Some(t.cancellation_reasons())
            }
            _ => None,
        }
    }

    fn token_spent(&self) -> bool {
        false
    }
}

impl Transactional for TransactWriteItemsError {
    fn cancellation_reasons(&self) -> Option<&[CancellationReason]> {
        match self {
            TransactWriteItemsError::TransactionCanceledException(t) => {
                Some(t.cancellation_reasons())
            }
            _ => None,
        }
    }

    fn token_spent(&self) -> bool {
        matches!(
            self,
            TransactWriteItemsError::IdempotentParameterMismatchException(_)
        )
    }
}

/// Sorts an SDK error by what the request should do next.
pub(super) fn classify<E: Transactional, R>(e: &SdkError<E, R>) -> Answer<'_> {
    match e.as_service_error() {
        Some(s) => match s.cancellation_reasons() {
            Some(reasons) => Answer::Cancelled(reasons),
            None if s.token_spent() => Answer::TokenSpent,
            None if not_now(e) => Answer::NotNow,
            None => Answer::Failed,
        },
        None if not_now(e) => Answer::NotNow,
        None => Answer::Failed,
    }
}

/// Whether any request that got `e` may pass if sent again later: the
/// service said "not now" ([`TRANSIENT`]), or never answered (a lost or
/// unreadable response, a timeout, a failed connection).
pub(super) fn not_now<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    match e.as_service_error() {
        Some(s) => s.code().is_some_and(|c| TRANSIENT.contains(&c)),
        None => matches!(
            e,
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_)
        ),
    }
}

/// What one item's reason in a cancelled transaction says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ItemAnswer {
    /// `None`: the item is as the transaction assumed.
    AsAssumed,
    /// `ConditionalCheckFailed`: it is not; the reason carries it as it is
    /// (`ALL_OLD`), or it is absent.
    ConditionFailed,
    /// Others were writing it: nothing was learned about it.
    Contended,
    /// Anything else: the transaction cannot pass as it is.
    Fatal,
    /// No code: nothing is said about the item. It stops nothing, and
    /// nothing is learned from it.
    Unsaid,
}

pub(super) fn item_answer(reason: &CancellationReason) -> ItemAnswer {
    let Some(code) = reason.code() else {
        return ItemAnswer::Unsaid;
    };
    match code {
        "None" => ItemAnswer::AsAssumed,
        "ConditionalCheckFailed" => ItemAnswer::ConditionFailed,
        c if CONTENDED.contains(&c) => ItemAnswer::Contended,
        _ => ItemAnswer::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::error::ErrorMetadata;

    /// A request that never got as far as the service (it could not be
    /// built) fails: resending it cannot help. A throttled read is read
    /// again: it spends no token (only a write has one).
    #[test]
    fn what_each_answer_means() {
        let unbuilt: SdkError<TransactWriteItemsError, ()> =
            SdkError::construction_failure("no table");
        assert!(matches!(classify(&unbuilt), Answer::Failed));
        let throttled: SdkError<TransactGetItemsError, ()> = SdkError::service_error(
            TransactGetItemsError::generic(
                ErrorMetadata::builder().code("ThrottlingException").build(),
            ),
            (),
        );
        assert!(matches!(classify(&throttled), Answer::NotNow));
        let refused: SdkError<TransactGetItemsError, ()> = SdkError::service_error(
            TransactGetItemsError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .build(),
            ),
            (),
        );
        assert!(matches!(classify(&refused), Answer::Failed));
    }

    /// A failed request is said in words, never with the SDK's `Debug` of
    /// the raw response (as `DisplayErrorContext` would append).
    #[test]
    fn an_sdk_failure_is_its_words_without_a_debug_dump() {
        let failed: SdkError<TransactGetItemsError, String> = SdkError::service_error(
            TransactGetItemsError::generic(
                ErrorMetadata::builder()
                    .code("InternalServerError")
                    .message("Internal server error")
                    .build(),
            ),
            "raw response".to_owned(),
        );
        let StoreError::Aws { message, .. } = StoreError::from_sdk(failed) else {
            panic!("an internal error may pass later");
        };
        assert_eq!(message, "InternalServerError: Internal server error");
        let unsent: SdkError<TransactGetItemsError, String> =
            SdkError::construction_failure("no region");
        let StoreError::Aws { message, .. } = StoreError::from_sdk(unsent) else {
            panic!("not a refusal");
        };
        assert_eq!(message, "failed to construct request: no region");
    }
}
