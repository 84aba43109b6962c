//! One client per service, from one configuration: every room above uses
//! these.

use aws_config::SdkConfig;

use super::Interceptors;
use super::emulator;
use super::identity::{Identity, whoami};

/// The clients of every command, from one configuration.
#[derive(Clone, Debug)]
pub struct Clients {
    /// CloudFormation.
    pub cfn: aws_sdk_cloudformation::Client,
    /// S3 (path-style addressing against an emulator): the artifacts bucket.
    pub s3: aws_sdk_s3::Client,
    /// STS (who the credentials are).
    pub sts: aws_sdk_sts::Client,
    /// The functions (code, hotswaps, direct invocations): at
    /// `AWS_ENDPOINT_URL_LAMBDA` when it is set ([`lambda_endpoint`]).
    pub lambda: aws_sdk_lambda::Client,
    /// The ops-alerts topic's subscribers.
    pub sns: aws_sdk_sns::Client,
    /// Alarms and their history.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// The dead-letter and unrouted queues.
    pub sqs: aws_sdk_sqs::Client,
    /// The bus, its archive and replays.
    pub events: aws_sdk_eventbridge::Client,
    /// The functions' log groups.
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// The ledger table (read through [`reconciler::store::Ledger`]).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The account's trails (the deploy checks one records KMS calls).
    pub cloudtrail: aws_sdk_cloudtrail::Client,
    /// The region, for the artifacts bucket's name and location.
    pub region: String,
    /// `--endpoint-url` (an emulator), when requests do not go to AWS.
    pub endpoint: Option<String>,
}

/// Where the Lambda client sends requests when `AWS_ENDPOINT_URL_LAMBDA` is
/// set (pure: `env` reads the environment). The SDK lets `--endpoint-url`
/// (a programmatic endpoint) win over it; here the service's own variable
/// wins, so that against a local emulator, which cannot run functions, the
/// invocations can go to a Lambda-compatible endpoint (a Runtime API shim,
/// `cargo lambda watch`) while everything else goes to the emulator.
pub fn lambda_endpoint(env: impl Fn(&str) -> Option<String>) -> Option<String> {
    env("AWS_ENDPOINT_URL_LAMBDA").filter(|e| !e.trim().is_empty())
}

impl Clients {
    /// Every client from `config`. With a custom endpoint, S3 uses
    /// path-style addressing (`<endpoint>/<bucket>/<key>`); Lambda goes to
    /// [`lambda_endpoint`] when it is set.
    pub fn new(config: &SdkConfig) -> Clients {
        Clients::with_interceptors(config, &Interceptors::default())
    }

    /// [`Clients::new`], every client with `interceptors` too.
    pub fn with_interceptors(config: &SdkConfig, interceptors: &Interceptors) -> Clients {
        macro_rules! client {
            ($sdk:ident, $builder:expr) => {{
                let mut builder = $builder;
                for interceptor in &interceptors.0 {
                    builder.push_interceptor(interceptor.clone());
                }
                $sdk::Client::from_conf(builder.build())
            }};
            ($sdk:ident) => {
                client!($sdk, $sdk::config::Builder::from(config))
            };
        }
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some());
        let mut lambda = aws_sdk_lambda::config::Builder::from(config);
        if let Some(endpoint) = lambda_endpoint(|name| std::env::var(name).ok()) {
            lambda = lambda.endpoint_url(endpoint);
        }
        Clients {
            cfn: client!(aws_sdk_cloudformation),
            s3: client!(aws_sdk_s3, s3),
            sts: client!(aws_sdk_sts),
            lambda: client!(aws_sdk_lambda, lambda),
            sns: client!(aws_sdk_sns),
            cloudwatch: client!(aws_sdk_cloudwatch),
            sqs: client!(aws_sdk_sqs),
            events: client!(aws_sdk_eventbridge),
            logs: client!(aws_sdk_cloudwatchlogs),
            dynamodb: client!(aws_sdk_dynamodb),
            cloudtrail: client!(aws_sdk_cloudtrail),
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

    /// Who the credentials are, here ([`whoami`]).
    ///
    /// # Errors
    /// The credentials could not be resolved or were refused (one line).
    pub async fn identity(&self) -> anyhow::Result<Identity> {
        whoami(&self.sts, &self.region, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lambda_endpoint_comes_from_its_own_variable() {
        let env = |value: Option<&'static str>| {
            move |name: &str| {
                (name == "AWS_ENDPOINT_URL_LAMBDA")
                    .then_some(value)
                    .flatten()
                    .map(str::to_owned)
            }
        };
        assert_eq!(lambda_endpoint(env(None)), None);
        assert_eq!(lambda_endpoint(env(Some(" "))), None);
        assert_eq!(
            lambda_endpoint(env(Some("http://127.0.0.1:9001"))).as_deref(),
            Some("http://127.0.0.1:9001")
        );
    }
}
