//! The one way an AWS error is said: one line, `Code: message`.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// An AWS error in one line: `Code: message`; an answer the SDK could not
/// read as `HTTP <status> …` (e.g. an emulator's error page for an action
/// it does not implement); else the chain (a connection failure, a
/// timeout), cut short.
pub fn sdk_error<E>(e: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (e.code(), e.message(), e.raw_response()) {
        (Some(code), Some(message), _) => format!("{code}: {message}"),
        (Some(code), None, _) => code.to_owned(),
        (None, _, Some(raw)) => format!(
            "HTTP {} with an answer the SDK could not read (does this endpoint implement the \
             action?)",
            raw.status().as_u16()
        ),
        (None, _, None) => crate::base::ui::clip(&chain(e), 300),
    }
}

/// An error and all its sources: what the SDK says of a failure that is
/// not an answer (no credentials, no connection, a waiter that gave up),
/// and the text a caller searches for what the service meant.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
}
