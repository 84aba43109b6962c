//! Where the AWS commands act, and as whom: the options every one of them
//! takes (`--stage`, `--endpoint-url`, `--region`, `--profile`), the SDK
//! configuration (the standard credential chain, IAM Identity Center and
//! `credential_process` profiles included), who and where the credentials
//! resolve to (`sts:GetCallerIdentity`), the stage's pins on account and
//! region, and credential errors as one line with what to do.

use std::fmt;
use std::path::PathBuf;

use anyhow::bail;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use infra::{StackOutputs, Stage, StageConfig};

/// Options common to every command that talks to AWS.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct AwsArgs {
    /// Send every AWS request here instead of AWS, e.g. a local moto server
    /// (`http://127.0.0.1:5000`). Without credentials configured, test
    /// credentials are used.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// AWS region (default: `AWS_REGION` or the profile's; `us-east-1` with
    /// `--endpoint-url`).
    #[arg(long)]
    pub region: Option<String>,
    /// A named profile of the shared AWS config files: access keys, IAM
    /// Identity Center (SSO) or `credential_process` (default: the standard
    /// credential chain).
    #[arg(long)]
    pub profile: Option<String>,
}

/// A stage and where it runs: what every operator command takes.
#[derive(clap::Args, Clone, Debug)]
pub struct Target {
    /// dev, staging or prod.
    #[arg(long)]
    pub stage: Stage,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// What a local emulator is taken to be when `--endpoint-url` points at
/// one and no credentials are configured: it accepts any credentials and
/// answers as one account in one region. The testkit's launcher starts
/// emulators with the same.
pub mod emulator {
    /// The region an emulator is assumed to be in when none is configured.
    pub const REGION: &str = "us-east-1";

    /// The account moto answers as.
    pub const ACCOUNT: &str = "123456789012";

    /// Credentials for an emulator, which accepts any.
    pub fn credentials() -> aws_sdk_sts::config::Credentials {
        aws_sdk_sts::config::Credentials::new("testing", "testing", None, None, "emulator")
    }
}

/// Loads the SDK configuration: the standard chain (environment, profile,
/// SSO/web identity, `credential_process`, container/instance credentials),
/// with the options on top.
///
/// # Errors
/// No region configured for real AWS.
pub async fn sdk_config(args: &AwsArgs) -> anyhow::Result<SdkConfig> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = &args.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &args.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &args.endpoint_url {
        loader = loader.endpoint_url(endpoint);
        if !credentials_configured(args.profile.is_some(), |name| std::env::var_os(name)) {
            loader = loader.credentials_provider(emulator::credentials());
        }
    }
    let config = loader.load().await;
    if config.region().is_some() {
        return Ok(config);
    }
    if args.endpoint_url.is_some() {
        return Ok(config
            .into_builder()
            .region(Region::new(emulator::REGION))
            .build());
    }
    bail!(
        "no AWS region configured: pass --region, set AWS_REGION, or set `region` in the \
         profile{}",
        args.profile
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default()
    )
}

/// Whether the user configured credentials of their own (so an emulator gets
/// those rather than test credentials): `--profile`, the usual environment
/// variables, or a shared credentials file.
pub fn credentials_configured(
    profile_given: bool,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> bool {
    const VARIABLES: [&str; 5] = [
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ];
    if profile_given
        || VARIABLES
            .iter()
            .any(|v| env(v).is_some_and(|x| !x.is_empty()))
    {
        return true;
    }
    let credentials_file = env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|home| PathBuf::from(home).join(".aws/credentials")));
    credentials_file.is_some_and(|f| f.is_file())
}

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
/// problem surfaces here, as one line with what to do.
///
/// # Errors
/// The credentials could not be resolved or were refused.
pub async fn whoami(config: &SdkConfig, profile: Option<&str>) -> anyhow::Result<Identity> {
    let sts = aws_sdk_sts::Client::new(config);
    let out = sts.get_caller_identity().send().await.map_err(|e| {
        let text = aws_smithy_types::error::display::DisplayErrorContext(&e).to_string();
        anyhow::anyhow!(explain_credentials(&text, profile))
    })?;
    Ok(Identity {
        account: out.account().unwrap_or_default().to_owned(),
        region: config.region().map(|r| r.to_string()).unwrap_or_default(),
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

/// An opened target: its stage's configuration, the SDK configuration, and
/// who and where that is.
#[derive(Clone, Debug)]
pub struct Session {
    pub stage: StageConfig,
    pub config: SdkConfig,
    pub identity: Identity,
    /// Requests go to `--endpoint-url` (an emulator), not to AWS.
    pub emulator: bool,
}

impl Session {
    /// Loads the stage's configuration (`infra/stages/<stage>.toml` over
    /// its defaults), the SDK configuration, and asks who the credentials are.
    ///
    /// # Errors
    /// A bad stage file, no region, or unusable credentials (one line each).
    pub async fn open(target: &Target) -> anyhow::Result<Session> {
        let stage = StageConfig::load(target.stage).map_err(anyhow::Error::msg)?;
        Session::with_config(stage, &target.aws).await
    }

    /// [`Session::open`] with a given stage configuration.
    ///
    /// # Errors
    /// See [`Session::open`].
    pub async fn with_config(stage: StageConfig, aws: &AwsArgs) -> anyhow::Result<Session> {
        let config = sdk_config(aws).await?;
        let identity = whoami(&config, aws.profile.as_deref()).await?;
        Ok(Session {
            stage,
            emulator: config.endpoint_url().is_some(),
            config,
            identity,
        })
    }

    /// The line every writing command prints first (and repeats in its
    /// confirmation question).
    pub fn who_and_where(&self) -> String {
        format!(
            "{}: {}{}",
            infra::stack_name(self.stage.stage),
            self.identity,
            if self.emulator { " (emulator)" } else { "" }
        )
    }

    /// Prints who and where, and refuses to go on if the stage's pins say
    /// this is the wrong account or region (whatever `--yes` says).
    ///
    /// # Errors
    /// The pins refuse.
    pub fn before_writing(&self) -> anyhow::Result<()> {
        eprintln!("{}", self.who_and_where());
        self.check_pins()
    }

    /// Refuses if the stage's pins say this is the wrong account or region.
    ///
    /// # Errors
    /// The pins refuse (one line naming both values).
    pub fn check_pins(&self) -> anyhow::Result<()> {
        check_pins(&self.stage, &self.identity, self.emulator).map_err(anyhow::Error::msg)
    }

    /// The deployed stack's outputs: the names the operator commands act on.
    ///
    /// # Errors
    /// The stack does not exist here, or lacks outputs (an older stack).
    pub async fn outputs(&self) -> anyhow::Result<StackOutputs> {
        let stack = infra::stack_name(self.stage.stage);
        let cfn = aws_sdk_cloudformation::Client::new(&self.config);
        let described = crate::deploy::progress::describe_stack(&cfn, &stack).await?;
        let Some(described) = described else {
            bail!(
                "{stack} does not exist in {} {}: deploy it first (`cargo xtask deploy --stage {}`)",
                self.identity.account,
                self.identity.region,
                self.stage.stage
            );
        };
        let outputs = described
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect();
        StackOutputs::from_outputs(&outputs).map_err(|e| anyhow::anyhow!("{stack}: {e}"))
    }
}

/// The clients the deploy commands use.
#[derive(Clone, Debug)]
pub struct Clients {
    /// CloudFormation.
    pub cfn: aws_sdk_cloudformation::Client,
    /// S3 (path-style addressing against an emulator).
    pub s3: aws_sdk_s3::Client,
    /// STS (the account id).
    pub sts: aws_sdk_sts::Client,
    /// Lambda (`deploy --hotswap`).
    pub lambda: aws_sdk_lambda::Client,
    /// SNS (who is subscribed to the alerts).
    pub sns: aws_sdk_sns::Client,
    /// The region, for the artifacts bucket's name and location.
    pub region: String,
    /// `--endpoint-url` (an emulator), when requests do not go to AWS.
    pub endpoint: Option<String>,
}

impl Clients {
    /// Clients from one configuration. With a custom endpoint, S3 uses
    /// path-style addressing (`<endpoint>/<bucket>/<key>`).
    pub fn new(config: &SdkConfig) -> Clients {
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Clients {
            cfn: aws_sdk_cloudformation::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3),
            sts: aws_sdk_sts::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            region: config
                .region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| emulator::REGION.to_owned()),
            endpoint: config.endpoint_url().map(str::to_owned),
        }
    }

    /// Whether requests go to an emulator (`--endpoint-url`), not to AWS.
    pub fn on_emulator(&self) -> bool {
        self.endpoint.is_some()
    }

    /// Who the credentials are: account and principal (`GetCallerIdentity`).
    ///
    /// # Errors
    /// The credentials could not be resolved or were refused (one line).
    pub async fn caller(&self) -> anyhow::Result<Caller> {
        let out = self.sts.get_caller_identity().send().await.map_err(|e| {
            let text = aws_smithy_types::error::display::DisplayErrorContext(&e).to_string();
            anyhow::anyhow!(explain_credentials(&text, None))
        })?;
        Ok(Caller {
            account: out
                .account()
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("STS named no account for these credentials"))?,
            principal: out.arn().unwrap_or_default().to_owned(),
        })
    }
}

/// Who the credentials are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    /// The caller's ARN.
    pub principal: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::ffi::OsString;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn credentials_count_as_configured_from_any_usual_source() {
        assert!(!credentials_configured(
            false,
            env(&[("HOME", "/nonexistent")])
        ));
        assert!(!credentials_configured(
            false,
            env(&[("AWS_ACCESS_KEY_ID", "")])
        ));
        assert!(credentials_configured(true, env(&[])));
        assert!(credentials_configured(
            false,
            env(&[("AWS_ACCESS_KEY_ID", "AKIA")])
        ));
        assert!(credentials_configured(
            false,
            env(&[("AWS_PROFILE", "ops")])
        ));
        let file = std::env::temp_dir().join(format!("xtask-creds-{}", std::process::id()));
        std::fs::write(&file, "[default]\n").unwrap();
        let configured = credentials_configured(
            false,
            env(&[("AWS_SHARED_CREDENTIALS_FILE", file.to_str().unwrap())]),
        );
        std::fs::remove_file(&file).unwrap();
        assert!(configured);
    }

    #[tokio::test]
    async fn an_emulator_gets_a_region_and_test_credentials() {
        let args = AwsArgs {
            endpoint_url: Some("http://127.0.0.1:1".into()),
            region: Some("eu-west-1".into()),
            profile: None,
        };
        let config = sdk_config(&args).await.unwrap();
        assert_eq!(config.region().unwrap().as_ref(), "eu-west-1");
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:1"));
        assert!(config.credentials_provider().is_some());
        let clients = Clients::new(&config);
        assert_eq!(clients.region, "eu-west-1");
        assert!(clients.on_emulator());
    }

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
