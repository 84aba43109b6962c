//! Who the credentials are ([`Identity`], asked of STS by [`whoami`]), what
//! to do when they do not work ([`explain_credentials`]: one line), and the
//! stage's pins on account and region ([`check_region_pin`] before any
//! call, [`check_account_pin`] once the account is known, [`check_pins`]
//! before a write).

use std::fmt;

use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use infra::{Stage, StageConfig};

/// Who and where: what the credentials resolve to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub account: String,
    pub region: String,
    /// The caller's ARN (a user, an assumed role, an SSO permission set).
    pub principal: String,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "account {}, region {}, as {}",
            self.account, self.region, self.principal
        )
    }
}

/// Asks STS who the credentials are (`GetCallerIdentity`, which needs no
/// permission): the first request of every AWS command, so a credential
/// problem surfaces here, as one line with what to do (naming `profile`).
///
/// # Errors
/// The credentials could not be resolved or were refused; STS named no
/// account.
pub async fn whoami(
    sts: &aws_sdk_sts::Client,
    region: &str,
    profile: Option<&str>,
) -> anyhow::Result<Identity> {
    let out = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(explain_credentials(&e, profile)))?;
    Ok(Identity {
        account: out
            .account()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("STS named no account for these credentials"))?,
        region: region.to_owned(),
        principal: out.arn().unwrap_or_default().to_owned(),
    })
}

/// Why `GetCallerIdentity` failed, as one line with what to do: STS's
/// answer by its error code (expired or unknown credentials), else what
/// `error::unanswered` says of a call without an answer (no credentials,
/// an SSO session to renew, an endpoint out of reach).
fn explain_credentials(
    e: &SdkError<GetCallerIdentityError, HttpResponse>,
    profile: Option<&str>,
) -> String {
    let flag = profile
        .map(|p| format!(" --profile {p}"))
        .unwrap_or_default();
    match e.code() {
        Some("ExpiredToken" | "RequestExpired") => format!(
            "the credentials have expired: sign in again (`aws sso login{flag}`, or new keys)"
        ),
        Some(
            "InvalidClientTokenId"
            | "UnrecognizedClientException"
            | "SignatureDoesNotMatch"
            | "IncompleteSignature",
        ) => "AWS refused the credentials (unknown or wrong keys): check the profile or the \
              AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in use"
            .to_owned(),
        Some(_) => format!(
            "who am I (sts:GetCallerIdentity) failed: {}",
            super::sdk_error(e)
        ),
        None => super::error::unanswered(e, profile),
    }
}

/// Where the stage's pins are written.
fn pin_file(stage: &StageConfig) -> String {
    format!("infra/stages/{}.toml", stage.stage)
}

/// Refuses a region the stage is not pinned to (pure): checked before any
/// call, by every command, reads included.
///
/// # Errors
/// `stage prod is pinned to us-east-1: pass --region us-east-1 (…)`.
pub(super) fn check_region_pin(stage: &StageConfig, region: &str) -> Result<(), String> {
    match &stage.region {
        Some(pinned) if pinned != region => Err(format!(
            "stage {} is pinned to {pinned}: pass --region {pinned} (the command runs in \
             {region}; the pin is in {})",
            stage.stage,
            pin_file(stage)
        )),
        _ => Ok(()),
    }
}

/// Refuses credentials of an account the stage is not pinned to (pure):
/// checked by every command once STS has said whose they are.
///
/// # Errors
/// One line naming both accounts and what to do.
pub(super) fn check_account_pin(stage: &StageConfig, who: &Identity) -> Result<(), String> {
    match &stage.account {
        Some(pinned) if *pinned != who.account => Err(format!(
            "stage {} is pinned to account {pinned}: use credentials of that account (e.g. \
             --profile) (these are for account {}, as {}; the pin is in {})",
            stage.stage,
            who.account,
            who.principal,
            pin_file(stage)
        )),
        _ => Ok(()),
    }
}

/// Refuses to act on an account or region the stage is not pinned to
/// (pure): what every writing command checks. A mismatch is refused on
/// every endpoint; against real AWS, prod must pin both (an emulator,
/// reached with `--endpoint-url`, is never a production account).
pub fn check_pins(stage: &StageConfig, who: &Identity, emulator: bool) -> Result<(), String> {
    check_account_pin(stage, who)?;
    check_region_pin(stage, &who.region)?;
    if stage.stage == Stage::Prod
        && !emulator
        && (stage.account.is_none() || stage.region.is_none())
    {
        return Err(format!(
            "refusing to act on prod: {} must pin `account` and `region` (these credentials \
             are for account {} in {})",
            pin_file(stage),
            who.account,
            who.region
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(account: &str, region: &str) -> Identity {
        Identity {
            account: account.into(),
            region: region.into(),
            principal: "arn:aws:sts::1:assumed-role/ops/me".into(),
        }
    }

    #[test]
    fn the_pins_refuse_the_wrong_account_or_region_and_prod_must_pin() {
        let mut prod = StageConfig::for_stage(Stage::Prod);
        let err = check_pins(&prod, &who("111122223333", "eu-west-1"), false).unwrap_err();
        assert!(err.contains("must pin `account` and `region`"), "{err}");
        assert_eq!(
            check_pins(&prod, &who("1", "r"), true),
            Ok(()),
            "an emulator"
        );
        prod.account = Some("111122223333".into());
        prod.region = Some("eu-west-1".into());
        assert_eq!(
            check_pins(&prod, &who("111122223333", "eu-west-1"), false),
            Ok(())
        );
        let err = check_pins(&prod, &who("444455556666", "eu-west-1"), false).unwrap_err();
        assert!(
            err.contains("111122223333") && err.contains("444455556666"),
            "one line naming both values: {err}"
        );
        assert!(!err.contains('\n'));
        let err = check_pins(&prod, &who("111122223333", "us-east-1"), true).unwrap_err();
        assert!(
            err.contains("eu-west-1") && err.contains("us-east-1"),
            "a pin holds on an emulator too: {err}"
        );
        let dev = StageConfig::for_stage(Stage::Dev);
        assert_eq!(check_pins(&dev, &who("1", "r"), false), Ok(()));
    }

    #[test]
    fn a_read_is_told_the_pinned_region_before_any_call() {
        let mut prod = StageConfig::for_stage(Stage::Prod);
        assert_eq!(check_region_pin(&prod, "eu-west-1"), Ok(()), "not pinned");
        prod.region = Some("us-east-1".into());
        let err = check_region_pin(&prod, "eu-west-1").unwrap_err();
        assert!(
            err.starts_with("stage prod is pinned to us-east-1: pass --region us-east-1"),
            "{err}"
        );
        assert_eq!(check_region_pin(&prod, "us-east-1"), Ok(()));
        prod.account = Some("111122223333".into());
        let err = check_account_pin(&prod, &who("444455556666", "us-east-1")).unwrap_err();
        assert!(
            err.starts_with("stage prod is pinned to account 111122223333")
                && err.contains("444455556666"),
            "{err}"
        );
    }

    #[test]
    fn sts_refusals_are_one_line_by_their_code() {
        use aws_smithy_types::error::ErrorMetadata;
        let refused = |code: &str| {
            let error = GetCallerIdentityError::generic(
                ErrorMetadata::builder()
                    .code(code)
                    .message("The security token included in the request is invalid")
                    .build(),
            );
            let response = HttpResponse::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
                aws_smithy_types::body::SdkBody::empty(),
            );
            SdkError::service_error(error, response)
        };
        for (code, expected) in [
            (
                "ExpiredToken",
                "have expired: sign in again (`aws sso login --profile ops`",
            ),
            ("InvalidClientTokenId", "refused the credentials"),
            (
                "Throttling",
                "who am I (sts:GetCallerIdentity) failed: Throttling: The security",
            ),
        ] {
            let line = explain_credentials(&refused(code), Some("ops"));
            assert!(line.contains(expected), "{code} -> {line}");
            assert!(!line.contains('\n'));
        }
        let no_credentials = SdkError::<GetCallerIdentityError, HttpResponse>::dispatch_failure(
            aws_smithy_runtime_api::client::result::ConnectorError::other(
                Box::new(
                    aws_credential_types::provider::error::CredentialsError::not_loaded(
                        "no providers in chain provided credentials",
                    ),
                ),
                None,
            ),
        );
        assert!(
            explain_credentials(&no_credentials, None).starts_with("no AWS credentials found"),
            "{}",
            explain_credentials(&no_credentials, None)
        );
    }
}
