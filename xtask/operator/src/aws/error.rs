//! The one way an AWS error is said: one line, `Code: message` for an
//! answer, and for a call that got none, what went wrong and what to do
//! ([`explain`]): an endpoint that refused or did not answer, credentials
//! that could not be found or refreshed. Each is chosen by the SDK's error
//! types (the variant, the error code), never by phrases of its text, and
//! never printed with `Debug`.

use aws_credential_types::provider::error::{CredentialsError, TokenError};
use aws_sdk_sso::operation::get_role_credentials::GetRoleCredentialsError;
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::http::{Failure, Unreachable};
use crate::base::ui::clip;

/// An AWS error in one line: `Code: message`; an answer the SDK could not
/// read as `HTTP <status> …` (e.g. an emulator's error page for an action
/// it does not implement); a call that got no answer as [`explain`] says
/// it; else the error's own words, cut short.
pub fn sdk_error<E>(e: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (e.code(), e.message(), e.raw_response()) {
        (Some(code), Some(message), _) => format!("{code}: {}", clip(message.trim(), 300)),
        (Some(code), None, _) => code.to_owned(),
        (None, _, Some(raw)) => format!(
            "HTTP {} with an answer the SDK could not read (does this endpoint implement the \
             action?)",
            raw.status().as_u16()
        ),
        (None, _, None) => unanswered(e, None),
    }
}

/// A call that got no answer, in one line: [`explain`]ed, the whole call
/// out of time, or the error's deepest words.
pub(super) fn unanswered<E, R>(e: &SdkError<E, R>, profile: Option<&str>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if let Some(line) = explain(e, profile) {
        return line;
    }
    if matches!(e, SdkError::TimeoutError(_)) {
        return "the call ran out of time, retries included: check the network, \
                --endpoint-url and --region; --timeout waits longer for each answer"
            .to_owned();
    }
    innermost(e)
}

/// An error and all its sources in one line, each said once: the text a
/// caller searches for what the service meant. Not the SDK's
/// `DisplayErrorContext`, which appends the error's `Debug` (the raw
/// response: hundreds of characters no person should be shown).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut said: Vec<String> = Vec::new();
    for source in sources(e) {
        let text = source.to_string();
        if !said.iter().any(|s| s.contains(&text)) {
            said.push(text);
        }
    }
    said.join(": ").replace(['\n', '\r'], " ")
}

/// `e` and its sources, outermost first.
pub(super) fn sources<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| e.source())
}

/// The deepest source's words, on one line, cut short: what is left to
/// say of an error no type below explains.
pub(super) fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let last = sources(e).last().unwrap_or(e);
    clip(last.to_string().trim(), 200)
}

/// A call that got no answer, in one line with what to do, when a type in
/// its chain says why: an endpoint that could not be reached
/// ([`Unreachable`]), or credentials that could not be had (`profile`: the
/// `--profile` given, named in the advice). `None`: no type explains it.
pub(super) fn explain(
    e: &(dyn std::error::Error + 'static),
    profile: Option<&str>,
) -> Option<String> {
    sources(e).find_map(|source| {
        if let Some(credentials) = source.downcast_ref::<CredentialsError>() {
            Some(credentials_line(credentials, profile))
        } else {
            source.downcast_ref::<Unreachable>().map(unreachable_line)
        }
    })
}

/// An endpoint that refused, did not connect or did not answer.
fn unreachable_line(u: &Unreachable) -> String {
    let on_aws = u.endpoint.contains(".amazonaws.com");
    let check = if on_aws {
        "check the network, any proxy (HTTPS_PROXY) and --region"
    } else {
        "check --endpoint-url (is the emulator running there?), the network and any proxy \
         (HTTPS_PROXY)"
    };
    match u.failure {
        Failure::NoAnswer(_) => format!("{u}: {check}; --timeout waits longer (e.g. --timeout 2m)"),
        Failure::NoConnection(_) | Failure::Refused => format!("{u}: {check}"),
        Failure::Other => {
            let io = sources(u).find_map(|s| s.downcast_ref::<std::io::Error>());
            let why = io.map_or_else(|| innermost(u), |io| clip(&io.to_string(), 200));
            format!("{u} ({why}): {check}")
        }
    }
}

/// Credentials the provider chain could not give, by the provider's
/// error variant.
fn credentials_line(e: &CredentialsError, profile: Option<&str>) -> String {
    let flag = profile
        .map(|p| format!(" --profile {p}"))
        .unwrap_or_default();
    match e {
        CredentialsError::CredentialsNotLoaded(_) => match profile {
            Some(p) => format!(
                "no AWS credentials found for profile {p}: check that the shared config \
                 defines it (`aws configure list-profiles`), or sign in (`aws sso login{flag}`)"
            ),
            None => "no AWS credentials found: pass --profile, set AWS_PROFILE (or \
                     AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or sign in with `aws sso \
                     login`"
                .to_owned(),
        },
        CredentialsError::ProviderTimedOut(t) => format!(
            "signing in took longer than {} s (SSO, instance metadata or a \
             credential_process): check the network, then sign in again (`aws sso \
             login{flag}`)",
            t.timeout_duration().as_secs()
        ),
        CredentialsError::InvalidConfiguration(_) => format!(
            "the AWS configuration is not usable ({}): check ~/.aws/config and \
             ~/.aws/credentials, or the AWS_* variables",
            innermost(e)
        ),
        CredentialsError::ProviderError(_) => provider_line(e, &flag),
        _ => format!(
            "signing in failed ({}): check the profile, or sign in again (`aws sso \
             login{flag}`)",
            innermost(e)
        ),
    }
}

/// A credential provider that was configured and failed: an SSO session
/// expired or never started, a role that could not be assumed, an
/// endpoint of the sign-in that could not be reached.
fn provider_line(e: &CredentialsError, flag: &str) -> String {
    let sso_expired = sources(e).any(|s| {
        s.is::<TokenError>()
            || s.downcast_ref::<SdkError<GetRoleCredentialsError, HttpResponse>>()
                .and_then(SdkError::as_service_error)
                .is_some_and(GetRoleCredentialsError::is_unauthorized_exception)
    });
    if sso_expired {
        return format!(
            "the SSO session has expired or was never started: run `aws sso login{flag}` and \
             try again"
        );
    }
    if let Some(assume) =
        sources(e).find_map(|s| s.downcast_ref::<SdkError<AssumeRoleError, HttpResponse>>())
    {
        return format!(
            "the profile's role could not be assumed ({}): check its role_arn and that the \
             source credentials may assume it",
            sdk_error(assume)
        );
    }
    if let Some(u) = sources(e).find_map(|s| s.downcast_ref::<Unreachable>()) {
        return format!("signing in: {}", unreachable_line(u));
    }
    format!(
        "the credential provider failed ({}): check the profile (SSO, credential_process, \
         role), or sign in again (`aws sso login{flag}`)",
        innermost(e)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn one_line(s: &str) {
        assert!(!s.contains('\n') && s.len() < 400, "one short line: {s:?}");
    }

    #[test]
    fn credential_failures_say_what_to_do_by_their_variant() {
        let cases: Vec<(CredentialsError, &str)> = vec![
            (
                CredentialsError::not_loaded("no providers in chain provided credentials"),
                "no AWS credentials found for profile ops",
            ),
            (
                CredentialsError::provider_timed_out(Duration::from_secs(5)),
                "longer than 5 s",
            ),
            (
                CredentialsError::invalid_configuration("profile `ops` has no region\nline two"),
                "not usable (profile `ops` has no region line two)",
            ),
            (
                CredentialsError::provider_error(TokenError::provider_error("expired")),
                "aws sso login --profile ops",
            ),
            (
                CredentialsError::provider_error("exit status 1"),
                "credential provider failed (exit status 1)",
            ),
            (
                CredentialsError::unhandled("bad"),
                "signing in failed (bad)",
            ),
        ];
        for (error, expected) in cases {
            let line = explain(&error, Some("ops")).expect("explained");
            assert!(line.contains(expected), "{error:?} -> {line}");
            one_line(&line);
        }
        assert!(
            explain(&CredentialsError::not_loaded("x"), None)
                .unwrap()
                .contains("pass --profile")
        );
    }

    #[test]
    fn an_unreachable_endpoint_is_named_with_what_to_check() {
        let u = unreachable(
            "http://127.0.0.1:1",
            Failure::Refused,
            std::io::ErrorKind::ConnectionRefused,
        );
        let line = explain(&u, None).unwrap();
        assert_eq!(
            line,
            "http://127.0.0.1:1 refused the connection: check --endpoint-url (is the emulator \
             running there?), the network and any proxy (HTTPS_PROXY)"
        );
        let hung = unreachable(
            "https://sts.eu-west-1.amazonaws.com",
            Failure::NoAnswer(Duration::from_secs(30)),
            std::io::ErrorKind::TimedOut,
        );
        let line = explain(&hung, None).unwrap();
        assert!(
            line.starts_with("https://sts.eu-west-1.amazonaws.com did not answer within 30 s"),
            "{line}"
        );
        assert!(
            line.contains("--region") && line.contains("--timeout"),
            "{line}"
        );
        let dns = unreachable(
            "https://sts.nowhere-1.amazonaws.com",
            Failure::Other,
            std::io::ErrorKind::NotFound,
        );
        let line = explain(&dns, None).unwrap();
        assert!(
            line.contains("could not be reached (entity not found)"),
            "{line}"
        );
        one_line(&line);
    }

    #[test]
    fn the_chain_is_words_without_a_debug_dump() {
        use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError;
        use aws_smithy_types::error::ErrorMetadata;
        let e: SdkError<GetCallerIdentityError, String> = SdkError::service_error(
            GetCallerIdentityError::generic(
                ErrorMetadata::builder()
                    .code("ValidationError")
                    .message("No updates are to be performed.")
                    .build(),
            ),
            "raw response".to_owned(),
        );
        let text = chain(&e);
        assert!(
            text.starts_with("service error: ")
                && text.contains("No updates are to be performed.")
                && !text.contains("raw response"),
            "the words, not the raw response's Debug: {text}"
        );
    }

    #[test]
    fn an_error_no_type_explains_is_its_deepest_words() {
        let e = std::io::Error::other("first\nsecond");
        assert_eq!(explain(&e, None), None);
        assert_eq!(innermost(&e), "first second");
    }

    fn unreachable(endpoint: &str, failure: Failure, kind: std::io::ErrorKind) -> Unreachable {
        Unreachable {
            endpoint: endpoint.to_owned(),
            failure,
            source: aws_smithy_runtime_api::client::result::ConnectorError::io(Box::new(
                std::io::Error::from(kind),
            )),
        }
    }
}
