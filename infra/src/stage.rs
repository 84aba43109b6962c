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

/// Everything that differs between stages. The stack is described once, in
/// [`crate::stack`], and derives every stage's template from this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageConfig {
    /// The stage.
    pub stage: Stage,
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
    /// The sweep's memory, in MB.
    pub sweep_memory_mb: u32,
    /// The sweep's timeout, in seconds.
    pub sweep_timeout_seconds: u32,
    /// Days the functions' logs are kept (a value CloudWatch Logs allows).
    pub log_retention_days: u32,
    /// Subscribed by e-mail to the ops-alerts topic, if set.
    pub alert_email: Option<String>,
    /// Age after which a HELD job is a straggler, in seconds.
    pub hold_timeout_seconds: u64,
    /// What the sweep does with stragglers.
    pub straggler_action: StragglerAction,
    /// The sweep's report summarizer; `None`: off.
    pub summarizer: Option<SummarizerConfig>,
    /// DynamoDB deletion protection on the table.
    pub deletion_protection: bool,
    /// `true`: the table, the queue and the log groups have
    /// `DeletionPolicy`/`UpdateReplacePolicy: Retain`; `false`: `Delete`.
    pub retain_stateful_resources: bool,
}

impl StageConfig {
    /// The configuration of `stage`.
    pub fn for_stage(stage: Stage) -> StageConfig {
        let name = stage.as_str();
        let production_like = stage != Stage::Dev;
        StageConfig {
            stage,
            table_suffix: format!("_{name}"),
            event_bus_name: format!("cc-agent-reconciler-{name}"),
            architecture: Architecture::Arm64,
            handler_memory_mb: 256,
            handler_timeout_seconds: 30,
            sweep_memory_mb: 512,
            sweep_timeout_seconds: 300,
            log_retention_days: match stage {
                Stage::Dev => 14,
                Stage::Staging => 30,
                Stage::Prod => 90,
            },
            alert_email: None,
            hold_timeout_seconds: 6 * 60 * 60,
            straggler_action: StragglerAction::Expire,
            summarizer: None,
            deletion_protection: production_like,
            retain_stateful_resources: production_like,
        }
    }

    /// Checks the values AWS or the functions would refuse, so a bad
    /// configuration fails at synth time rather than half-way through a deploy.
    ///
    /// # Errors
    /// The first problem found, naming the stage and the field.
    pub fn validate(&self) -> Result<(), String> {
        let stage = self.stage;
        check(
            !self.table_suffix.is_empty()
                && self
                    .table_suffix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
            || {
                format!(
                    "{stage}: table_suffix {:?} must be [A-Za-z0-9_.-]+",
                    self.table_suffix
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
                format!(
                    "{stage}: event_bus_name {:?} must be [A-Za-z0-9_.-]{{1,256}}",
                    self.event_bus_name
                )
            },
        )?;
        for (what, memory) in [
            ("handler", self.handler_memory_mb),
            ("sweep", self.sweep_memory_mb),
        ] {
            check((128..=10_240).contains(&memory), || {
                format!("{stage}: {what} memory {memory} MB is outside 128..=10240")
            })?;
        }
        for (what, timeout) in [
            ("handler", self.handler_timeout_seconds),
            ("sweep", self.sweep_timeout_seconds),
        ] {
            check((1..=900).contains(&timeout), || {
                format!("{stage}: {what} timeout {timeout} s is outside 1..=900")
            })?;
        }
        check(
            crate::model::logs::RETENTION_DAYS.contains(&self.log_retention_days),
            || {
                format!(
                    "{stage}: log retention {} days is not one of {:?}",
                    self.log_retention_days,
                    crate::model::logs::RETENTION_DAYS
                )
            },
        )?;
        if let Some(email) = &self.alert_email {
            check(
                email.contains('@') && !email.contains(char::is_whitespace),
                || format!("{stage}: alert_email {email:?} is not an e-mail address"),
            )?;
        }
        check(self.hold_timeout_seconds > 0, || {
            format!("{stage}: hold_timeout_seconds must be positive")
        })?;
        if let Some(summarizer) = &self.summarizer {
            check(summarizer.base_url.starts_with("https://"), || {
                format!(
                    "{stage}: summarizer base_url {:?} must be https://",
                    summarizer.base_url
                )
            })?;
            check(!summarizer.model.is_empty(), || {
                format!("{stage}: summarizer model must not be empty")
            })?;
            let parameter = &summarizer.api_key_parameter;
            check(
                !parameter.is_empty()
                    && parameter
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c)),
                || {
                    format!(
                        "{stage}: summarizer api_key_parameter {parameter:?} must be an SSM parameter name ([A-Za-z0-9_.-/]+)"
                    )
                },
            )?;
            let sweep_budget_ms = u64::from(self.sweep_timeout_seconds) * 1000;
            check(
                summarizer.timeout_ms > 0 && summarizer.timeout_ms < sweep_budget_ms,
                || {
                    format!(
                        "{stage}: summarizer timeout {} ms must be positive and below the sweep timeout ({sweep_budget_ms} ms)",
                        summarizer.timeout_ms
                    )
                },
            )?;
        }
        Ok(())
    }
}

fn check(ok: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(message()) }
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
    fn every_stage_config_is_valid() {
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
            assert!(config.summarizer.is_none() && config.alert_email.is_none());
            assert_eq!(config.deletion_protection, stage != Stage::Dev);
            assert_eq!(config.retain_stateful_resources, stage != Stage::Dev);
        }
    }

    #[test]
    fn invalid_configs_are_refused() {
        let base = StageConfig::for_stage(Stage::Prod);
        let summarizer = SummarizerConfig {
            base_url: "https://api.example.com/v1".into(),
            model: "m".into(),
            api_key_parameter: "/k".into(),
            timeout_ms: 5_000,
        };
        let cases: Vec<(StageConfig, &str)> = vec![
            (
                StageConfig {
                    log_retention_days: 10,
                    ..base.clone()
                },
                "log retention",
            ),
            (
                StageConfig {
                    handler_memory_mb: 64,
                    ..base.clone()
                },
                "memory",
            ),
            (
                StageConfig {
                    sweep_timeout_seconds: 901,
                    ..base.clone()
                },
                "timeout",
            ),
            (
                StageConfig {
                    table_suffix: "_p rod".into(),
                    ..base.clone()
                },
                "table_suffix",
            ),
            (
                StageConfig {
                    alert_email: Some("ops".into()),
                    ..base.clone()
                },
                "alert_email",
            ),
            (
                StageConfig {
                    summarizer: Some(SummarizerConfig {
                        timeout_ms: 300_000,
                        ..summarizer.clone()
                    }),
                    ..base.clone()
                },
                "below the sweep timeout",
            ),
            (
                StageConfig {
                    summarizer: Some(SummarizerConfig {
                        base_url: "http://x".into(),
                        ..summarizer.clone()
                    }),
                    ..base.clone()
                },
                "https",
            ),
        ];
        for (config, expected) in cases {
            let error = config.validate().unwrap_err();
            assert!(
                error.contains(expected),
                "{error:?} should mention {expected:?}"
            );
        }
        let with_summarizer = StageConfig {
            summarizer: Some(summarizer),
            ..base
        };
        assert_eq!(with_summarizer.validate(), Ok(()));
    }
}
