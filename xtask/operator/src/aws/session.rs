//! An opened target: the stage's configuration, the SDK configuration, and
//! who and where that is; the line every command prints first, and the
//! pins every writing command checks.

use aws_config::SdkConfig;
use infra::StageConfig;

use super::clients::Clients;
use super::identity::{Identity, check_account_pin, check_pins, check_region_pin, whoami};
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
        let stage = crate::base::stage::load(target.stage)?;
        Session::with_config(stage, &target.aws).await
    }

    /// [`Session::open`] with a given stage configuration: says where the
    /// command is going before its first call (a hung endpoint is then
    /// named on the screen while it is waited for), refuses a region the
    /// stage is not pinned to before any call, and an account it is not
    /// pinned to once STS has said whose the credentials are. Reads and
    /// writes alike: a read in the wrong place would answer for another
    /// stack (or say none is deployed).
    ///
    /// # Errors
    /// See [`Session::open`]; the stage's pins refuse.
    pub async fn with_config(stage: StageConfig, aws: &AwsArgs) -> anyhow::Result<Session> {
        let config = sdk_config(aws).await?;
        let region = config.region().map(|r| r.to_string()).unwrap_or_default();
        eprintln!("{}", where_to(&stage, &region, aws));
        check_region_pin(&stage, &region).map_err(anyhow::Error::msg)?;
        let clients = Clients::with_interceptors(&config, &aws.interceptors);
        let identity = whoami(&clients.sts, &region, aws.profile.as_deref()).await?;
        check_account_pin(&stage, &identity).map_err(anyhow::Error::msg)?;
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

    /// Who and where: the line every command prints once it knows whose
    /// the credentials are (and every confirmation question repeats).
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

/// Where a command goes, before it knows as whom (pure): the stack, the
/// region, the profile and the endpoint, when given.
fn where_to(stage: &StageConfig, region: &str, aws: &AwsArgs) -> String {
    let mut line = format!("{}: region {region}", infra::stack_name(stage.stage));
    if let Some(profile) = &aws.profile {
        line.push_str(&format!(", profile {profile}"));
    }
    if let Some(endpoint) = &aws.endpoint_url {
        line.push_str(&format!(", endpoint {endpoint}"));
    }
    line.push_str(": asking AWS who the credentials are…");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_a_command_goes_is_said_before_its_first_call() {
        let dev = StageConfig::for_stage(infra::Stage::Dev);
        let aws = AwsArgs {
            endpoint_url: Some("http://127.0.0.1:5000".into()),
            profile: Some("ops".into()),
            ..AwsArgs::default()
        };
        assert_eq!(
            where_to(&dev, "eu-west-1", &aws),
            "cc-agent-reconciler-dev: region eu-west-1, profile ops, endpoint \
             http://127.0.0.1:5000: asking AWS who the credentials are…"
        );
    }
}
