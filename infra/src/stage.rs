//! What differs between stages: one typed [`StageConfig`] per [`Stage`].

use std::fmt;
use std::str::FromStr;

/// A deployment stage; one CloudFormation stack each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Development: disposable, nothing retained.
    Dev,
    /// Pre-production: configured like prod.
    Staging,
    /// Production.
    Prod,
}

impl Stage {
    /// Every stage, in promotion order.
    pub const ALL: [Stage; 3] = [Stage::Dev, Stage::Staging, Stage::Prod];

    /// The stage's name: `dev`, `staging` or `prod`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Dev => "dev",
            Stage::Staging => "staging",
            Stage::Prod => "prod",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stage name that is not one of [`Stage::ALL`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownStage(pub String);

impl fmt::Display for UnknownStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let valid: Vec<&str> = Stage::ALL.iter().map(|stage| stage.as_str()).collect();
        write!(
            f,
            "unknown stage {:?}: valid stages are {}",
            self.0,
            valid.join(", ")
        )
    }
}

impl std::error::Error for UnknownStage {}

impl FromStr for Stage {
    type Err = UnknownStage;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == name)
            .ok_or_else(|| UnknownStage(name.to_owned()))
    }
}

/// The Lambda functions' instruction set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// AWS Graviton (`aarch64-unknown-linux-gnu` build): the default.
    Arm64,
    /// x86-64.
    X86_64,
}

pub use reconciler_core::contract::{StragglerAction, SummarizerConfig};

pub use crate::model::sns::Protocol as AlertProtocol;

/// One subscriber of the ops-alerts topic (an `AWS::SNS::Subscription`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertSubscription {
    /// How alerts are delivered.
    pub protocol: AlertProtocol,
    /// Where: an e-mail address (`email`), an `https://` URL (`https`), an
    /// SQS queue ARN (`sqs`) or a Lambda function ARN (`lambda`).
    pub endpoint: String,
}

/// Everything that differs between stages. The stack is described once, in
/// [`crate::stack`], and derives every stage's template from this.
///
/// [`StageConfig::for_stage`] holds the Rust defaults; [`StageConfig::load`]
/// overlays the stage's file `infra/stages/<stage>.toml` on them, and is
/// what [`crate::synth`] uses.
///
/// **Reserved concurrency** ([`Self::handler_reserved_concurrency`],
/// [`Self::sweep_reserved_concurrency`]) is decided per stage:
/// - dev: none. A dev account's concurrency pool is often small, and AWS
///   refuses a reservation that would leave less than 100 unreserved
///   executions, so a reservation could make the deploy fail.
/// - staging and prod: the handler is capped (5 and 10). Concurrent
///   invocations for one account race for the same account item, so the cap
///   bounds those conflicts, the DynamoDB write rate and the cost of a burst
///   or a replay; throttled asynchronous invocations are retried by Lambda
///   (and the throttles alarm fires), so nothing is lost. The sweep is 1:
///   one sweep at a time, never two expiring the same holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageConfig {
    /// The stage.
    pub stage: Stage,
    /// The only AWS account the deploy tooling may act on for this stage
    /// (12 digits); `None`: not pinned (the tooling refuses prod without it).
    pub account: Option<String>,
    /// The only region the deploy tooling may act in; `None`: not pinned.
    pub region: Option<String>,
    /// Appended to table names: `_dev`, `_staging`, `_prod`.
    pub table_suffix: String,
    /// The stage's event bus: `cc-agent-reconciler-<stage>`.
    pub event_bus_name: String,
    /// Both functions' instruction set.
    pub architecture: Architecture,
    /// The handler's memory, in MB.
    pub handler_memory_mb: u32,
    /// The handler's timeout, in seconds.
    pub handler_timeout_seconds: u32,
    /// The handler's reserved concurrency; `None`: the unreserved pool.
    pub handler_reserved_concurrency: Option<u32>,
    /// The sweep's memory, in MB.
    pub sweep_memory_mb: u32,
    /// The sweep's timeout, in seconds.
    pub sweep_timeout_seconds: u32,
    /// The sweep's reserved concurrency; `None`: the unreserved pool.
    pub sweep_reserved_concurrency: Option<u32>,
    /// Days the functions' logs are kept (a value CloudWatch Logs allows).
    pub log_retention_days: u32,
    /// Days the bus's archive keeps the ledger events (prod 365, staging
    /// 30, dev 7).
    pub archive_retention_days: u32,
    /// Subscribers of the ops-alerts topic.
    pub alert_subscriptions: Vec<AlertSubscription>,
    /// Age after which a HELD job is a straggler, in seconds.
    pub hold_timeout_seconds: u64,
    /// What the sweep does with stragglers.
    pub straggler_action: StragglerAction,
    /// The sweep's report summarizer; `None`: off.
    pub summarizer: Option<SummarizerConfig>,
    /// DynamoDB deletion protection on the table.
    pub deletion_protection: bool,
    /// `true`: the table, the queues, the log groups, the archive and the key
    /// have `DeletionPolicy`/`UpdateReplacePolicy: Retain`; `false`: `Delete`.
    pub retain_stateful_resources: bool,
    /// CloudFormation termination protection on the stack (the deploy tool
    /// sets it).
    pub termination_protection: bool,
    /// `true`: customer managed KMS keys encrypt the table, the log groups,
    /// the queues and the archive (the stage key), and the topic (its own
    /// key); `false`: AWS managed or owned keys (and SSE-SQS), and an
    /// unencrypted topic.
    pub customer_managed_key: bool,
    /// Who may put which ledger event on the bus ([`crate::producers`]):
    /// dev's test producer by default, nobody on staging and prod.
    pub producers: Vec<crate::producers::Producer>,
}

impl StageConfig {
    /// The Rust defaults of `stage` (before its stage file).
    pub fn for_stage(stage: Stage) -> StageConfig {
        let name = stage.as_str();
        let production_like = stage != Stage::Dev;
        StageConfig {
            stage,
            account: None,
            region: None,
            table_suffix: format!("_{name}"),
            event_bus_name: format!("cc-agent-reconciler-{name}"),
            architecture: Architecture::Arm64,
            // Memory: `cargo xtask bench` measures the handler's peak RSS
            // (about 8 MB over a 1,000-event burst) and the sweep's (about
            // 14 MB over 2,000 stragglers): every size Lambda offers holds
            // them with room to spare (the bench's target: twice the peak).
            // What the size buys is CPU (a 1,769 MB function gets one vCPU,
            // a smaller one its share): the handler spends ~0.6 ms of a core
            // per event, 4 ms at 256 MB, 8 ms at 128 MB, and one account's
            // events are applied one at a time, so that time bounds a busy
            // account's rate. Dev takes the least (its events are tests);
            // staging and prod keep 256 MB (docs/cost.md, "Memory").
            handler_memory_mb: match stage {
                Stage::Dev => 128,
                Stage::Staging | Stage::Prod => 256,
            },
            handler_timeout_seconds: 30,
            handler_reserved_concurrency: match stage {
                Stage::Dev => None,
                Stage::Staging => Some(5),
                Stage::Prod => Some(10),
            },
            // The sweep's budget is its timeout at its CPU share. Staging
            // and prod get a full vCPU (1,769 MB) and Lambda's longest
            // timeout, so that a backlog of 100,000 stragglers and 100,000
            // touched accounts settles in one run (docs/sweep.md, "Keeping
            // up"); a normal day's runs take seconds, and Lambda bills what
            // they use. Dev keeps 0.29 of a vCPU and 300 s.
            sweep_memory_mb: if production_like { 1769 } else { 512 },
            sweep_timeout_seconds: if production_like { 900 } else { 300 },
            sweep_reserved_concurrency: production_like.then_some(1),
            log_retention_days: match stage {
                Stage::Dev => 14,
                Stage::Staging => 30,
                Stage::Prod => 90,
            },
            archive_retention_days: match stage {
                Stage::Dev => 7,
                Stage::Staging => 30,
                Stage::Prod => 365,
            },
            alert_subscriptions: Vec::new(),
            hold_timeout_seconds: 6 * 60 * 60,
            straggler_action: StragglerAction::Expire,
            summarizer: None,
            deletion_protection: production_like,
            retain_stateful_resources: production_like,
            termination_protection: production_like,
            customer_managed_key: production_like,
            producers: crate::producers::defaults(stage),
        }
    }

    /// The stage's configuration: [`Self::for_stage`] overlaid with the
    /// stage file `infra/stages/<stage>.toml` (compiled in), validated.
    ///
    /// # Errors
    /// A bad file: a syntax error, an unknown key or a bad value, naming the
    /// file, the key and the problem.
    pub fn load(stage: Stage) -> Result<StageConfig, StageFileError> {
        let (path, text) = crate::stage_file::embedded(stage);
        crate::stage_file::overlay(StageConfig::for_stage(stage), path, text)
    }

    /// Like [`Self::load`], from `dir/<stage>.toml` on disk (tests, or
    /// trying a change without rebuilding).
    ///
    /// # Errors
    /// As [`Self::load`]; also when the file cannot be read.
    pub fn load_from(dir: &std::path::Path, stage: Stage) -> Result<StageConfig, StageFileError> {
        let path = dir.join(format!("{stage}.toml"));
        let label = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| StageFileError {
            file: label.clone(),
            key: None,
            problem: format!("cannot read it: {e}"),
        })?;
        crate::stage_file::overlay(StageConfig::for_stage(stage), &label, &text)
    }

    /// Checks the values AWS or the functions would refuse, so a bad
    /// configuration fails at synth time rather than half-way through a deploy.
    ///
    /// # Errors
    /// The first problem found, naming the stage and the field.
    pub fn validate(&self) -> Result<(), String> {
        self.check_fields()
            .map_err(|(key, problem)| format!("{}: {key}: {problem}", self.stage))
    }

    /// The first invalid field, as (key, problem).
    pub(crate) fn check_fields(&self) -> Result<(), (String, String)> {
        let field = |key: &str, problem: String| (key.to_owned(), problem);
        if let Some(account) = &self.account {
            check(
                account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()),
                || {
                    field(
                        "account",
                        format!("{account:?} is not a 12-digit AWS account id"),
                    )
                },
            )?;
        }
        if let Some(region) = &self.region {
            check(is_region(region), || {
                field(
                    "region",
                    format!("{region:?} is not an AWS region name (e.g. eu-west-1)"),
                )
            })?;
        }
        check(
            !self.table_suffix.is_empty()
                && self
                    .table_suffix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
            || {
                field(
                    "table_suffix",
                    format!("{:?} must be [A-Za-z0-9_.-]+", self.table_suffix),
                )
            },
        )?;
        check(
            !self.event_bus_name.is_empty()
                && self.event_bus_name.len() <= 256
                && self
                    .event_bus_name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
            || {
                field(
                    "event_bus_name",
                    format!("{:?} must be [A-Za-z0-9_.-]{{1,256}}", self.event_bus_name),
                )
            },
        )?;
        for (key, memory) in [
            ("handler_memory_mb", self.handler_memory_mb),
            ("sweep_memory_mb", self.sweep_memory_mb),
        ] {
            check((128..=10_240).contains(&memory), || {
                field(key, format!("memory {memory} MB is outside 128..=10240"))
            })?;
        }
        for (key, timeout) in [
            ("handler_timeout_seconds", self.handler_timeout_seconds),
            ("sweep_timeout_seconds", self.sweep_timeout_seconds),
        ] {
            check((1..=900).contains(&timeout), || {
                field(key, format!("timeout {timeout} s is outside 1..=900"))
            })?;
        }
        for (key, reserved) in [
            (
                "handler_reserved_concurrency",
                self.handler_reserved_concurrency,
            ),
            (
                "sweep_reserved_concurrency",
                self.sweep_reserved_concurrency,
            ),
        ] {
            if let Some(reserved) = reserved {
                check((1..=1_000).contains(&reserved), || {
                    field(
                        key,
                        format!(
                            "{reserved} is outside 1..=1000 (0 would stop the function; \
                             use \"unreserved\" for none)"
                        ),
                    )
                })?;
            }
        }
        check(
            crate::model::logs::RETENTION_DAYS.contains(&self.log_retention_days),
            || {
                field(
                    "log_retention_days",
                    format!(
                        "log retention {} days is not one of {:?}",
                        self.log_retention_days,
                        crate::model::logs::RETENTION_DAYS
                    ),
                )
            },
        )?;
        check((1..=36_500).contains(&self.archive_retention_days), || {
            field(
                "archive_retention_days",
                format!(
                    "{} days is outside 1..=36500 (an archive without retention would \
                         keep events forever)",
                    self.archive_retention_days
                ),
            )
        })?;
        for (i, subscription) in self.alert_subscriptions.iter().enumerate() {
            let key = format!("alert_subscriptions[{i}].endpoint");
            check_endpoint(subscription).map_err(|problem| (key, problem))?;
            let duplicate = self.alert_subscriptions[..i].contains(subscription);
            check(!duplicate, || {
                (
                    format!("alert_subscriptions[{i}]"),
                    format!(
                        "{} {:?} is listed twice",
                        subscription.protocol.as_str(),
                        subscription.endpoint
                    ),
                )
            })?;
        }
        check(self.hold_timeout_seconds > 0, || {
            field("hold_timeout_seconds", "must be positive".to_owned())
        })?;
        crate::producers::check(self)?;
        if let Some(summarizer) = &self.summarizer {
            check(summarizer.base_url.starts_with("https://"), || {
                field(
                    "summarizer.base_url",
                    format!("{:?} must be https://", summarizer.base_url),
                )
            })?;
            check(!summarizer.model.is_empty(), || {
                field("summarizer.model", "must not be empty".to_owned())
            })?;
            let parameter = &summarizer.api_key_parameter;
            check(
                !parameter.is_empty()
                    && parameter
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c)),
                || {
                    field(
                        "summarizer.api_key_parameter",
                        format!("{parameter:?} must be an SSM parameter name ([A-Za-z0-9_.-/]+)"),
                    )
                },
            )?;
            let sweep_budget_ms = u64::from(self.sweep_timeout_seconds) * 1000;
            check(
                summarizer.timeout_ms > 0 && summarizer.timeout_ms < sweep_budget_ms,
                || {
                    field(
                        "summarizer.timeout_ms",
                        format!(
                            "summarizer timeout {} ms must be positive and below the sweep \
                             timeout ({sweep_budget_ms} ms)",
                            summarizer.timeout_ms
                        ),
                    )
                },
            )?;
        }
        Ok(())
    }
}

/// A stage file that cannot be used: which file, which key, what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageFileError {
    /// The file, e.g. `infra/stages/prod.toml`.
    pub file: String,
    /// The key (`alert_subscriptions[0].endpoint`); `None` for a syntax error.
    pub key: Option<String>,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for StageFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{}: key `{key}`: {}", self.file, self.problem),
            None => write!(f, "{}: {}", self.file, self.problem),
        }
    }
}

impl std::error::Error for StageFileError {}

/// `xx-name-N` or `xx-gov-name-N` (lower-case letters, a digit at the end).
fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
}

/// The endpoint suits the protocol: an e-mail address, an `https://` URL, an
/// SQS queue ARN or a Lambda function ARN.
fn check_endpoint(subscription: &AlertSubscription) -> Result<(), String> {
    let endpoint = subscription.endpoint.as_str();
    let ok = match subscription.protocol {
        AlertProtocol::Email => is_email(endpoint),
        AlertProtocol::Https => endpoint
            .strip_prefix("https://")
            .and_then(|rest| rest.split(['/', '?', '#']).next())
            .is_some_and(|host| {
                !host.is_empty() && host.contains('.') && !endpoint.contains(char::is_whitespace)
            }),
        AlertProtocol::Sqs => arn_parts(endpoint, "sqs").is_some_and(|resource| {
            !resource.is_empty()
                && resource.len() <= 80
                && resource
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        }),
        AlertProtocol::Lambda => arn_parts(endpoint, "lambda").is_some_and(|resource| {
            resource.strip_prefix("function:").is_some_and(|function| {
                let mut parts = function.split(':');
                let name = parts.next().unwrap_or_default();
                let qualifier = parts.next();
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
                    && qualifier.is_none_or(|q| !q.is_empty())
                    && parts.next().is_none()
            })
        }),
    };
    if ok {
        Ok(())
    } else {
        let expected = match subscription.protocol {
            AlertProtocol::Email => "an e-mail address",
            AlertProtocol::Https => "an https:// URL",
            AlertProtocol::Sqs => "an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)",
            AlertProtocol::Lambda => {
                "a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME)"
            }
        };
        Err(format!(
            "{endpoint:?} is not {expected}, which protocol {:?} needs",
            subscription.protocol.as_str()
        ))
    }
}

fn is_email(endpoint: &str) -> bool {
    let Some((local, domain)) = endpoint.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !endpoint.contains(char::is_whitespace)
}

/// `arn:<partition>:<service>:<region>:<12 digits>:<resource>` → resource.
fn arn_parts<'a>(arn: &'a str, service: &str) -> Option<&'a str> {
    let mut parts = arn.splitn(6, ':');
    let (prefix, partition, arn_service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let valid = prefix == "arn"
        && partition.starts_with("aws")
        && arn_service == service
        && is_region(region)
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit());
    valid.then_some(resource)
}

fn check<E>(ok: bool, problem: impl FnOnce() -> E) -> Result<(), E> {
    if ok { Ok(()) } else { Err(problem()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_names_round_trip() {
        for stage in Stage::ALL {
            assert_eq!(stage.as_str().parse::<Stage>(), Ok(stage));
            assert_eq!(stage.to_string(), stage.as_str());
        }
    }

    #[test]
    fn an_unknown_stage_lists_the_valid_ones() {
        let error = "production".parse::<Stage>().unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"unknown stage "production": valid stages are dev, staging, prod"#
        );
    }

    #[test]
    fn every_default_config_is_valid() {
        for stage in Stage::ALL {
            let config = StageConfig::for_stage(stage);
            assert_eq!(config.validate(), Ok(()));
            assert_eq!(config.table_suffix, format!("_{stage}"));
            assert_eq!(
                config.event_bus_name,
                format!("cc-agent-reconciler-{stage}")
            );
            assert_eq!(config.architecture, Architecture::Arm64);
            assert_eq!(config.straggler_action, StragglerAction::Expire);
            assert_eq!(config.hold_timeout_seconds, 21_600);
            assert!(config.summarizer.is_none() && config.alert_subscriptions.is_empty());
            assert!(config.account.is_none() && config.region.is_none());
            let production_like = stage != Stage::Dev;
            assert_eq!(config.deletion_protection, production_like);
            assert_eq!(config.retain_stateful_resources, production_like);
            assert_eq!(config.termination_protection, production_like);
            assert_eq!(config.customer_managed_key, production_like);
            assert_eq!(
                config.sweep_reserved_concurrency,
                production_like.then_some(1)
            );
        }
    }

    fn prod() -> StageConfig {
        StageConfig::for_stage(Stage::Prod)
    }

    fn subscription(protocol: AlertProtocol, endpoint: &str) -> AlertSubscription {
        AlertSubscription {
            protocol,
            endpoint: endpoint.to_owned(),
        }
    }

    #[test]
    fn invalid_configs_are_refused_naming_the_key() {
        let summarizer = SummarizerConfig {
            base_url: "https://api.example.com/v1".into(),
            model: "m".into(),
            api_key_parameter: "/k".into(),
            timeout_ms: 5_000,
        };
        let with_subscription = |protocol, endpoint: &str| StageConfig {
            alert_subscriptions: vec![subscription(protocol, endpoint)],
            ..prod()
        };
        let cases: Vec<(StageConfig, &str)> = vec![
            (
                StageConfig {
                    log_retention_days: 10,
                    ..prod()
                },
                "log_retention_days",
            ),
            (
                StageConfig {
                    handler_memory_mb: 64,
                    ..prod()
                },
                "handler_memory_mb",
            ),
            (
                StageConfig {
                    sweep_timeout_seconds: 901,
                    ..prod()
                },
                "sweep_timeout_seconds",
            ),
            (
                StageConfig {
                    table_suffix: "_p rod".into(),
                    ..prod()
                },
                "table_suffix",
            ),
            (
                StageConfig {
                    handler_reserved_concurrency: Some(0),
                    ..prod()
                },
                "handler_reserved_concurrency",
            ),
            (
                StageConfig {
                    archive_retention_days: 0,
                    ..prod()
                },
                "archive_retention_days",
            ),
            (
                StageConfig {
                    account: Some("12345".into()),
                    ..prod()
                },
                "account",
            ),
            (
                StageConfig {
                    region: Some("Europe".into()),
                    ..prod()
                },
                "region",
            ),
            (
                with_subscription(AlertProtocol::Email, "ops"),
                "alert_subscriptions[0].endpoint",
            ),
            (
                with_subscription(AlertProtocol::Https, "http://hooks.example.com/x"),
                "alert_subscriptions[0].endpoint",
            ),
            (
                with_subscription(
                    AlertProtocol::Sqs,
                    "https://sqs.eu-west-1.amazonaws.com/1/q",
                ),
                "alert_subscriptions[0].endpoint",
            ),
            (
                with_subscription(
                    AlertProtocol::Lambda,
                    "arn:aws:sqs:eu-west-1:123456789012:not-a-function",
                ),
                "alert_subscriptions[0].endpoint",
            ),
            (
                StageConfig {
                    alert_subscriptions: vec![
                        subscription(AlertProtocol::Email, "ops@example.com"),
                        subscription(AlertProtocol::Email, "ops@example.com"),
                    ],
                    ..prod()
                },
                "alert_subscriptions[1]",
            ),
            (
                StageConfig {
                    summarizer: Some(SummarizerConfig {
                        timeout_ms: 900_000,
                        ..summarizer.clone()
                    }),
                    ..prod()
                },
                "summarizer.timeout_ms",
            ),
            (
                StageConfig {
                    summarizer: Some(SummarizerConfig {
                        base_url: "http://x".into(),
                        ..summarizer.clone()
                    }),
                    ..prod()
                },
                "summarizer.base_url",
            ),
        ];
        for (config, expected) in cases {
            let error = config.validate().unwrap_err();
            assert!(
                error.starts_with(&format!("prod: {expected}: ")),
                "{error:?} should name {expected:?}"
            );
        }
        let with_summarizer = StageConfig {
            summarizer: Some(summarizer),
            ..prod()
        };
        assert_eq!(with_summarizer.validate(), Ok(()));
    }

    #[test]
    fn endpoints_of_every_protocol_are_accepted() {
        let config = StageConfig {
            account: Some("123456789012".into()),
            region: Some("us-gov-west-1".into()),
            alert_subscriptions: vec![
                subscription(AlertProtocol::Email, "ops+alerts@example.co.uk"),
                subscription(AlertProtocol::Https, "https://hooks.example.com/alerts?x=1"),
                subscription(
                    AlertProtocol::Sqs,
                    "arn:aws:sqs:eu-west-1:123456789012:ops-alerts",
                ),
                subscription(
                    AlertProtocol::Lambda,
                    "arn:aws:lambda:eu-west-1:123456789012:function:page-oncall",
                ),
                subscription(
                    AlertProtocol::Lambda,
                    "arn:aws:lambda:eu-west-1:123456789012:function:page-oncall:live",
                ),
            ],
            ..prod()
        };
        assert_eq!(config.validate(), Ok(()));
    }
}
