//! The functions' configuration, read from the environment in one place and
//! validated at start. Variable names come from `reconciler_core::contract`,
//! which the stack uses to set them: they cannot drift apart.

use std::collections::BTreeSet;
use std::fmt;

use reconciler_core::contract::{DEFAULT_SUMMARIZER_TIMEOUT_MS, handler_env, sweep_env};
pub use reconciler_core::contract::{StragglerAction, SummarizerConfig};

/// A configuration problem, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "configuration: environment variable {} {}",
            self.variable, self.problem
        )
    }
}

impl std::error::Error for ConfigError {}

/// Reads variables through `get` (the process environment in production).
pub struct Env<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    read: std::cell::RefCell<BTreeSet<&'static str>>,
}

impl<'a> Env<'a> {
    pub fn new(get: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Env {
            get,
            read: Default::default(),
        }
    }

    /// A variable that must be set and non-empty.
    pub fn required(&self, variable: &'static str) -> Result<String, ConfigError> {
        match self.optional(variable) {
            Some(v) => Ok(v),
            None => Err(ConfigError {
                variable,
                problem: "is not set (or empty)".into(),
            }),
        }
    }

    /// A variable that may be unset or empty.
    pub fn optional(&self, variable: &'static str) -> Option<String> {
        self.read.borrow_mut().insert(variable);
        (self.get)(variable).filter(|v| !v.trim().is_empty())
    }

    pub fn parse<T: std::str::FromStr>(&self, variable: &'static str) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        let raw = self.required(variable)?;
        raw.trim().parse().map_err(|e| ConfigError {
            variable,
            problem: format!("= {raw:?} is invalid: {e}"),
        })
    }

    /// The variables read so far (tests prove they are exactly the template's).
    pub fn variables_read(&self) -> BTreeSet<&'static str> {
        self.read.borrow().clone()
    }
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The handler's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerConfig {
    pub stage: String,
    pub table: String,
}

impl HandlerConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&Env::new(&process_env))
    }

    pub fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(HandlerConfig {
            stage: env.required(handler_env::STAGE)?,
            table: env.required(handler_env::LEDGER_TABLE)?,
        })
    }
}

/// The sweep's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepConfig {
    pub stage: String,
    pub table: String,
    pub hold_timeout_seconds: u64,
    pub straggler_action: StragglerAction,
    pub summarizer: Option<SummarizerConfig>,
}

impl SweepConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&Env::new(&process_env))
    }

    pub fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        let base_url = env.optional(sweep_env::SUMMARIZER_BASE_URL);
        let model = env.optional(sweep_env::SUMMARIZER_MODEL);
        let key = env.optional(sweep_env::SUMMARIZER_API_KEY_PARAMETER);
        let timeout = env.optional(sweep_env::SUMMARIZER_TIMEOUT_MS);
        let summarizer = match base_url {
            None => None,
            Some(base_url) => Some(SummarizerConfig {
                base_url,
                model: model.ok_or(ConfigError {
                    variable: sweep_env::SUMMARIZER_MODEL,
                    problem: "must be set when SUMMARIZER_BASE_URL is".into(),
                })?,
                api_key_parameter: key.ok_or(ConfigError {
                    variable: sweep_env::SUMMARIZER_API_KEY_PARAMETER,
                    problem: "must be set when SUMMARIZER_BASE_URL is".into(),
                })?,
                timeout_ms: match timeout {
                    None => DEFAULT_SUMMARIZER_TIMEOUT_MS,
                    Some(_) => env.parse(sweep_env::SUMMARIZER_TIMEOUT_MS)?,
                },
            }),
        };
        let hold_timeout_seconds: u64 = env.parse(sweep_env::HOLD_TIMEOUT_SECONDS)?;
        if hold_timeout_seconds == 0 {
            return Err(ConfigError {
                variable: sweep_env::HOLD_TIMEOUT_SECONDS,
                problem: "must be at least 1".into(),
            });
        }
        Ok(SweepConfig {
            stage: env.required(sweep_env::STAGE)?,
            table: env.required(sweep_env::LEDGER_TABLE)?,
            hold_timeout_seconds,
            straggler_action: env.parse(sweep_env::STRAGGLER_ACTION)?,
            summarizer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn handler_reads_exactly_its_contract() {
        let vars = env(&[("STAGE", "dev"), ("LEDGER_TABLE", "t_dev")]);
        let get = |k: &str| vars.get(k).cloned();
        let e = Env::new(&get);
        let cfg = HandlerConfig::read(&e).unwrap();
        assert_eq!(cfg.table, "t_dev");
        assert_eq!(
            e.variables_read(),
            handler_env::ALL.iter().copied().collect()
        );
    }

    #[test]
    fn missing_variable_is_named() {
        let vars = env(&[("STAGE", "dev")]);
        let get = |k: &str| vars.get(k).cloned();
        let err = HandlerConfig::read(&Env::new(&get)).unwrap_err();
        assert_eq!(err.variable, "LEDGER_TABLE");
        assert!(err.to_string().contains("LEDGER_TABLE is not set"));
    }

    #[test]
    fn sweep_reads_exactly_its_contract_and_validates() {
        let base = [
            ("STAGE", "dev"),
            ("LEDGER_TABLE", "t"),
            ("HOLD_TIMEOUT_SECONDS", "21600"),
            ("STRAGGLER_ACTION", "expire"),
            ("SUMMARIZER_BASE_URL", ""),
            ("SUMMARIZER_MODEL", ""),
            ("SUMMARIZER_API_KEY_PARAMETER", ""),
            ("SUMMARIZER_TIMEOUT_MS", ""),
        ];
        let vars = env(&base);
        let get = |k: &str| vars.get(k).cloned();
        let e = Env::new(&get);
        let cfg = SweepConfig::read(&e).unwrap();
        assert_eq!(cfg.summarizer, None);
        assert_eq!(cfg.straggler_action, StragglerAction::Expire);
        assert_eq!(e.variables_read(), sweep_env::ALL.iter().copied().collect());

        let mut bad = vars.clone();
        bad.insert("STRAGGLER_ACTION".into(), "delete".into());
        let get = |k: &str| bad.get(k).cloned();
        let err = SweepConfig::read(&Env::new(&get)).unwrap_err();
        assert_eq!(err.variable, "STRAGGLER_ACTION");
        assert!(err.to_string().contains("\"delete\""));

        let mut half = vars.clone();
        half.insert("SUMMARIZER_BASE_URL".into(), "http://127.0.0.1:1/v1".into());
        let get = |k: &str| half.get(k).cloned();
        let err = SweepConfig::read(&Env::new(&get)).unwrap_err();
        assert_eq!(err.variable, "SUMMARIZER_MODEL");

        let mut zero = vars.clone();
        zero.insert("HOLD_TIMEOUT_SECONDS".into(), "0".into());
        let get = |k: &str| zero.get(k).cloned();
        assert_eq!(
            SweepConfig::read(&Env::new(&get)).unwrap_err().variable,
            "HOLD_TIMEOUT_SECONDS"
        );
    }
}
