//! An opened target: the stage's configuration, the SDK configuration, and
//! who and where that is; the line every command prints first, and the
//! pins every writing command checks.

use aws_config::SdkConfig;
use infra::StageConfig;

use super::clients::Clients;
use super::identity::{Identity, check_pins, whoami};
use super::{AwsArgs, Interceptors, Target, sdk_config};

/// An opened target: its stage's configuration, the SDK configuration, and
/// who and where that is.
#[derive(Clone, Debug)]
pub struct Session {
    pub stage: StageConfig,
    pub config: SdkConfig,
    pub identity: Identity,
    /// Requests go to `--endpoint-url` (an emulator), not to AWS.
    pub emulator: bool,
    /// Given to every client ([`AwsArgs::interceptors`]).
    pub interceptors: Interceptors,
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
        let region = config.region().map(|r| r.to_string()).unwrap_or_default();
        let clients = Clients::with_interceptors(&config, &aws.interceptors);
        let identity = whoami(&clients.sts, &region, aws.profile.as_deref()).await?;
        Ok(Session {
            stage,
            emulator: config.endpoint_url().is_some(),
            config,
            identity,
            interceptors: aws.interceptors.clone(),
        })
    }

    /// The clients of the session's commands.
    pub fn clients(&self) -> Clients {
        Clients::with_interceptors(&self.config, &self.interceptors)
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
}
