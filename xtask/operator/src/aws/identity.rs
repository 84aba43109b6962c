//! Who the credentials are ([`Identity`], asked of STS by [`whoami`]), what
//! to do when they do not work ([`explain_credentials`]: one line), and the
//! stage's pins on account and region ([`check_pins`]).

use std::fmt;

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
        .map_err(|e| anyhow::anyhow!(explain_credentials(&super::chain(&e), profile)))?;
    Ok(Identity {
        account: out
            .account()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("STS named no account for these credentials"))?,
        region: region.to_owned(),
        principal: out.arn().unwrap_or_default().to_owned(),
    })
}

/// A credential or connection failure as one line: what is wrong and what
/// to do (pure: the tests feed it the SDK's texts).
pub fn explain_credentials(error: &str, profile: Option<&str>) -> String {
    let lower = error.to_lowercase();
    let profile_flag = profile
        .map(|p| format!(" --profile {p}"))
        .unwrap_or_default();
    let first_line = error.lines().next().unwrap_or(error).trim();
    if lower.contains("sso") && (lower.contains("expired") || lower.contains("token")) {
        format!(
            "the SSO session has expired or was never started: run `aws sso login{profile_flag}` \
             and try again"
        )
    } else if lower.contains("region")
        && (lower.contains("missing")
            || lower.contains("must be set")
            || lower.contains("no region")
            || lower.contains("invalid"))
    {
        format!(
            "no usable AWS region ({first_line}): pass --region, set AWS_REGION, or give the \
             profile{} a region",
            profile.map(|p| format!(" {p}")).unwrap_or_default()
        )
    } else if lower.contains("requires following cargo feature") {
        format!("this build cannot use the profile's sign-in method: {first_line}")
    } else if lower.contains("no credentials")
        || lower.contains("credentials provider was not enabled")
        || lower.contains("failed to load credentials")
        || lower.contains("could not find") && lower.contains("credentials")
    {
        "no AWS credentials found: pass --profile, set AWS_PROFILE (or AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY), or sign in with `aws sso login`"
            .to_owned()
    } else if lower.contains("expiredtoken") || lower.contains("token has expired") {
        format!(
            "the credentials have expired: sign in again (`aws sso login{profile_flag}`, or new keys)"
        )
    } else if lower.contains("invalidclienttokenid")
        || lower.contains("unrecognizedclient")
        || lower.contains("signaturedoesnotmatch")
    {
        "AWS refused the credentials (unknown or wrong keys): check the profile or the \
         AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in use"
            .to_owned()
    } else if lower.contains("dispatch failure")
        || lower.contains("dns")
        || lower.contains("connect")
    {
        format!(
            "AWS could not be reached ({first_line}): check the network, --region, and \
             --endpoint-url if you meant a local emulator"
        )
    } else {
        format!("who am I (sts:GetCallerIdentity) failed: {first_line}")
    }
}

/// Refuses to act on an account or region the stage is not pinned to
/// (pure). A mismatch is refused on every endpoint; against real AWS, prod
/// must pin both (an emulator, reached with `--endpoint-url`, is never a
/// production account).
pub fn check_pins(stage: &StageConfig, who: &Identity, emulator: bool) -> Result<(), String> {
    let file = format!("infra/stages/{}.toml", stage.stage);
    if let Some(account) = &stage.account
        && *account != who.account
    {
        return Err(format!(
            "refusing to act: stage {} is pinned to account {account} ({file}), but these \
             credentials are for account {} (as {})",
            stage.stage, who.account, who.principal
        ));
    }
    if let Some(region) = &stage.region
        && *region != who.region
    {
        return Err(format!(
            "refusing to act: stage {} is pinned to region {region} ({file}), but the command \
             runs in region {} (pass --region {region})",
            stage.stage, who.region
        ));
    }
    if stage.stage == Stage::Prod
        && !emulator
        && (stage.account.is_none() || stage.region.is_none())
    {
        return Err(format!(
            "refusing to act on prod: {file} must pin `account` and `region` (these credentials \
             are for account {} in {})",
            who.account, who.region
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
    fn credential_errors_are_one_line_with_what_to_do() {
        let cases = [
            (
                "dispatch failure: other: no credentials in the property bag",
                "no AWS credentials found",
            ),
            (
                "failed to load credentials: the credential provider was not enabled",
                "no AWS credentials found",
            ),
            (
                "ProviderError: the SSO token for this profile has expired",
                "aws sso login --profile ops",
            ),
            (
                "service error: ExpiredToken: The security token included in the request is expired",
                "have expired",
            ),
            (
                "service error: InvalidClientTokenId: The security token included in the request is invalid",
                "refused the credentials",
            ),
            (
                "dispatch failure: io error: dns error: failed to lookup address",
                "could not be reached",
            ),
            (
                "failed to construct request: Invalid Configuration: Missing Region",
                "pass --region, set AWS_REGION, or give the profile ops a region",
            ),
            (
                "endpoint resolution error: A region must be set when sending requests to STS",
                "no usable AWS region",
            ),
        ];
        for (text, expected) in cases {
            let line = explain_credentials(text, Some("ops"));
            assert!(line.contains(expected), "{text:?} -> {line:?}");
            assert!(!line.contains('\n'), "{line:?}");
        }
    }
}
