//! The session room: where the AWS commands act, and as whom. The options
//! every one of them takes (`--stage`, `--endpoint-url`, `--region`,
//! `--profile`), the SDK configuration (the standard credential chain, IAM
//! Identity Center and `credential_process` profiles included), who the
//! credentials are ([`Identity`], one type) and the stage's pins on account
//! and region, an opened target ([`Session`]), one set of [`Clients`], the
//! one way to say an SDK error ([`sdk_error`]), and what is done
//! differently against an emulator ([`emulator`]).
//!
//! It imports only the foundations room.

mod clients;
pub mod emulator;
mod error;
pub mod http;
mod identity;
#[cfg(test)]
pub(crate) mod mocks;
mod session;

use std::path::PathBuf;

use anyhow::bail;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use infra::Stage;

pub use clients::{Clients, lambda_endpoint};
pub use error::{chain, sdk_error};
pub use identity::{Identity, check_pins, whoami};
pub use session::Session;

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
    /// How long to wait for each AWS answer before saying which endpoint
    /// did not answer (default 30s; a connection gets at most 5s): 10s, 2m.
    #[arg(long, value_name = "DURATION", value_parser = crate::base::when::parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// Never from the command line: SDK interceptors every client of the
    /// command gets (the tests record the requests a command sends, to
    /// derive the IAM actions it needs).
    #[arg(skip)]
    pub interceptors: Interceptors,
}

/// SDK interceptors given to every client a [`Session`] makes; none in the
/// binary.
#[derive(Clone, Debug, Default)]
pub struct Interceptors(pub Vec<SharedInterceptor>);

/// A stage and where it runs: what every operator command takes.
#[derive(clap::Args, Clone, Debug)]
pub struct Target {
    /// dev, staging or prod.
    #[arg(long)]
    pub stage: Stage,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Loads the SDK configuration: the standard chain (environment, profile,
/// SSO/web identity, `credential_process`, container/instance credentials),
/// with the options on top; every call, the credential providers' too,
/// through [`http::client`] with [`http::timeouts`].
///
/// # Errors
/// No region configured for real AWS.
pub async fn sdk_config(args: &AwsArgs) -> anyhow::Result<SdkConfig> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http::client())
        .timeout_config(http::timeouts(args.timeout.unwrap_or(http::ANSWER_WITHIN)));
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
            ..AwsArgs::default()
        };
        let config = sdk_config(&args).await.unwrap();
        assert_eq!(config.region().unwrap().as_ref(), "eu-west-1");
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:1"));
        assert!(config.credentials_provider().is_some());
        let clients = Clients::new(&config);
        assert_eq!(clients.region, "eu-west-1");
        assert!(clients.on_emulator());
    }
}
