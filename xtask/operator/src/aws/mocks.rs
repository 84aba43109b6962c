//! Clients answered by `aws-smithy-mocks` rules, for unit tests of what
//! the emulator cannot play (drift detection, termination protection) or
//! plays too kindly. Built by hand rather than with `mock_client!`, whose
//! test defaults need the SDK crates' `test-util` feature: one feature set
//! for the SDK keeps CI to one build of it.

use aws_sdk_cloudformation::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client};

use super::Clients;

fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
    rules.iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
        |i, r| i.with_rule(r),
    )
}

/// `$name(rules)`: a client of `$sdk` answered by `rules` (any order; a
/// request no rule matches fails the call).
macro_rules! mocked {
    ($(#[$doc:meta])* $name:ident, $sdk:ident) => {
        $(#[$doc])*
        pub(crate) fn $name(rules: &[&Rule]) -> $sdk::Client {
            $sdk::Client::from_conf(
                $sdk::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(Region::new("us-east-1"))
                    .credentials_provider(Credentials::new("AKIDMOCK", "mock", None, None, "mocks"))
                    .http_client(create_mock_http_client())
                    .interceptor(interceptor(rules))
                    .build(),
            )
        }
    };
}

mocked!(
    /// CloudFormation.
    cfn,
    aws_sdk_cloudformation
);
mocked!(
    /// SQS.
    sqs,
    aws_sdk_sqs
);
mocked!(
    /// CloudWatch.
    cloudwatch,
    aws_sdk_cloudwatch
);
mocked!(
    /// S3.
    s3,
    aws_sdk_s3
);
mocked!(
    /// Lambda.
    lambda,
    aws_sdk_lambda
);
mocked!(
    /// CloudTrail.
    cloudtrail,
    aws_sdk_cloudtrail
);

/// Clients for a test that replaces the ones it uses: every request of the
/// others fails (they point at a closed port).
pub(crate) fn clients() -> Clients {
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .build();
    let mut clients = Clients::new(&config);
    clients.endpoint = None;
    clients
}
