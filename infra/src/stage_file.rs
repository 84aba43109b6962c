//! The stage files `infra/stages/<stage>.toml`: what a stage changes from
//! the Rust defaults ([`StageConfig::for_stage`]). Every key is optional; an
//! unknown key or a bad value is an error naming the file and the key.

use toml::{Table, Value};

use crate::Stage;
use crate::producers::{Producer, ProducerPrincipal};
use crate::stage::{
    AlertProtocol, AlertSubscription, Architecture, StageConfig, StageFileError, StragglerAction,
    SummarizerConfig,
};

/// The stage files, compiled in: `synth` depends on the source tree only.
pub(crate) fn embedded(stage: Stage) -> (&'static str, &'static str) {
    match stage {
        Stage::Dev => ("infra/stages/dev.toml", include_str!("../stages/dev.toml")),
        Stage::Staging => (
            "infra/stages/staging.toml",
            include_str!("../stages/staging.toml"),
        ),
        Stage::Prod => (
            "infra/stages/prod.toml",
            include_str!("../stages/prod.toml"),
        ),
    }
}

/// The keys a stage file may set.
pub(crate) const KEYS: &[&str] = &[
    "account",
    "region",
    "table_suffix",
    "event_bus_name",
    "architecture",
    "handler_memory_mb",
    "handler_timeout_seconds",
    "handler_reserved_concurrency",
    "sweep_memory_mb",
    "sweep_timeout_seconds",
    "sweep_reserved_concurrency",
    "log_retention_days",
    "archive_retention_days",
    "alert_subscriptions",
    "hold_timeout_seconds",
    "straggler_action",
    "summarizer",
    "deletion_protection",
    "retain_stateful_resources",
    "termination_protection",
    "customer_managed_key",
    "producers",
];

/// The keys of the `[summarizer]` table.
const SUMMARIZER_KEYS: &[&str] = &["base_url", "model", "api_key_parameter", "timeout_ms"];

/// The keys of one `alert_subscriptions` entry.
const SUBSCRIPTION_KEYS: &[&str] = &["protocol", "endpoint"];

/// The keys of one `[[producers]]` entry.
const PRODUCER_KEYS: &[&str] = &["detail_type", "source", "principals"];

/// `defaults` overlaid with the file `file` (its text `text`), validated.
pub(crate) fn overlay(
    mut cfg: StageConfig,
    file: &str,
    text: &str,
) -> Result<StageConfig, StageFileError> {
    let error = |key: Option<&str>, problem: String| StageFileError {
        file: file.to_owned(),
        key: key.map(str::to_owned),
        problem,
    };
    let table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| error(None, toml_problem(&e, text)))?;
    for (key, value) in &table {
        apply(&mut cfg, key, value).map_err(|(key, problem)| error(Some(&key), problem))?;
    }
    cfg.check_fields()
        .map_err(|(key, problem)| error(Some(&key), problem))?;
    Ok(cfg)
}

/// A TOML syntax error in one line: where, and what the parser expected
/// (its own report spans several lines, with a drawing of the line).
fn toml_problem(e: &toml::de::Error, text: &str) -> String {
    let what = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("not valid TOML at line {line}: {what}")
        }
        None => format!("not valid TOML: {what}"),
    }
}

type KeyProblem = (String, String);

fn apply(cfg: &mut StageConfig, key: &str, value: &Value) -> Result<(), KeyProblem> {
    let at = |problem: String| (key.to_owned(), problem);
    match key {
        "account" => cfg.account = Some(string(value).map_err(at)?),
        "region" => cfg.region = Some(string(value).map_err(at)?),
        "table_suffix" => cfg.table_suffix = string(value).map_err(at)?,
        "event_bus_name" => cfg.event_bus_name = string(value).map_err(at)?,
        "architecture" => {
            cfg.architecture = match string(value).map_err(at)?.as_str() {
                "arm64" => Architecture::Arm64,
                "x86_64" => Architecture::X86_64,
                other => {
                    return Err(at(format!(
                        "expected \"arm64\" or \"x86_64\", got {other:?}"
                    )));
                }
            }
        }
        "handler_memory_mb" => cfg.handler_memory_mb = integer(value).map_err(at)?,
        "handler_timeout_seconds" => cfg.handler_timeout_seconds = integer(value).map_err(at)?,
        "handler_reserved_concurrency" => {
            cfg.handler_reserved_concurrency = reserved(value).map_err(at)?;
        }
        "sweep_memory_mb" => cfg.sweep_memory_mb = integer(value).map_err(at)?,
        "sweep_timeout_seconds" => cfg.sweep_timeout_seconds = integer(value).map_err(at)?,
        "sweep_reserved_concurrency" => {
            cfg.sweep_reserved_concurrency = reserved(value).map_err(at)?;
        }
        "log_retention_days" => cfg.log_retention_days = integer(value).map_err(at)?,
        "archive_retention_days" => cfg.archive_retention_days = integer(value).map_err(at)?,
        "hold_timeout_seconds" => cfg.hold_timeout_seconds = integer(value).map_err(at)?,
        "straggler_action" => {
            cfg.straggler_action = string(value)
                .map_err(at)?
                .parse::<StragglerAction>()
                .map_err(at)?;
        }
        "deletion_protection" => cfg.deletion_protection = boolean(value).map_err(at)?,
        "retain_stateful_resources" => {
            cfg.retain_stateful_resources = boolean(value).map_err(at)?;
        }
        "termination_protection" => cfg.termination_protection = boolean(value).map_err(at)?,
        "customer_managed_key" => cfg.customer_managed_key = boolean(value).map_err(at)?,
        "alert_subscriptions" => cfg.alert_subscriptions = subscriptions(value)?,
        "summarizer" => cfg.summarizer = Some(summarizer(value)?),
        "producers" => cfg.producers = producers(value)?,
        other => {
            return Err((
                other.to_owned(),
                format!("unknown key; the keys are: {}", KEYS.join(", ")),
            ));
        }
    }
    Ok(())
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string {s:?}"),
        Value::Integer(i) => format!("the integer {i}"),
        Value::Float(x) => format!("the float {x}"),
        Value::Boolean(b) => format!("the boolean {b}"),
        Value::Datetime(d) => format!("the date-time {d}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Table(_) => "a table".to_owned(),
    }
}

fn string(value: &Value) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("expected a string, got {}", describe(value)))
}

fn boolean(value: &Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| format!("expected true or false, got {}", describe(value)))
}

fn integer<T: TryFrom<i64>>(value: &Value) -> Result<T, String> {
    let Some(number) = value.as_integer() else {
        return Err(format!("expected an integer, got {}", describe(value)));
    };
    T::try_from(number).map_err(|_| format!("{number} is out of range"))
}

/// An integer, or `"unreserved"` for none.
fn reserved(value: &Value) -> Result<Option<u32>, String> {
    match value {
        Value::String(s) if s == "unreserved" => Ok(None),
        Value::Integer(_) => integer(value).map(Some),
        other => Err(format!(
            "expected an integer or \"unreserved\", got {}",
            describe(other)
        )),
    }
}

fn table<'a>(value: &'a Value, key: &str, known: &[&str]) -> Result<&'a Table, KeyProblem> {
    let table = value.as_table().ok_or_else(|| {
        (
            key.to_owned(),
            format!("expected a table, got {}", describe(value)),
        )
    })?;
    if let Some(unknown) = table.keys().find(|k| !known.contains(&k.as_str())) {
        return Err((
            format!("{key}.{unknown}"),
            format!("unknown key; the keys are: {}", known.join(", ")),
        ));
    }
    Ok(table)
}

fn required<'a>(table: &'a Table, parent: &str, key: &str) -> Result<&'a Value, KeyProblem> {
    table
        .get(key)
        .ok_or_else(|| (format!("{parent}.{key}"), "missing".to_owned()))
}

/// An array of tables under `key` (`shape` says what each holds), each with
/// only `known` keys, read by `entry` (given the table and its key path,
/// `key[i]`).
fn array_of_tables<T>(
    value: &Value,
    key: &str,
    shape: &str,
    known: &[&str],
    entry: impl Fn(&Table, &str) -> Result<T, KeyProblem>,
) -> Result<Vec<T>, KeyProblem> {
    let items = value.as_array().ok_or_else(|| {
        (
            key.to_owned(),
            format!("expected an array of {shape}, got {}", describe(value)),
        )
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let parent = format!("{key}[{i}]");
            entry(table(item, &parent, known)?, &parent)
        })
        .collect()
}

/// A problem of the key `parent.field`.
fn at(parent: &str, field: &str) -> impl FnOnce(String) -> KeyProblem + use<> {
    let path = format!("{parent}.{field}");
    move |problem| (path, problem)
}

fn subscriptions(value: &Value) -> Result<Vec<AlertSubscription>, KeyProblem> {
    let shape = "{protocol, endpoint}";
    array_of_tables(
        value,
        "alert_subscriptions",
        shape,
        SUBSCRIPTION_KEYS,
        |entry, parent| {
            let protocol =
                string(required(entry, parent, "protocol")?).map_err(at(parent, "protocol"))?;
            let protocol = AlertProtocol::ALL
                .into_iter()
                .find(|p| p.as_str() == protocol)
                .ok_or_else(|| {
                    at(parent, "protocol")(format!(
                        "{protocol:?} is not one of {}",
                        AlertProtocol::ALL.map(AlertProtocol::as_str).join(", ")
                    ))
                })?;
            let endpoint =
                string(required(entry, parent, "endpoint")?).map_err(at(parent, "endpoint"))?;
            Ok(AlertSubscription { protocol, endpoint })
        },
    )
}

/// `[[producers]]`: `{detail_type, source, principals = [ARN | "this-account", …]}`.
fn producers(value: &Value) -> Result<Vec<Producer>, KeyProblem> {
    let shape = "{detail_type, source, principals} ([[producers]])";
    array_of_tables(value, "producers", shape, PRODUCER_KEYS, |entry, parent| {
        let detail_type =
            string(required(entry, parent, "detail_type")?).map_err(at(parent, "detail_type"))?;
        let source = string(required(entry, parent, "source")?).map_err(at(parent, "source"))?;
        let principals = required(entry, parent, "principals")?
            .as_array()
            .ok_or_else(|| at(parent, "principals")("expected an array of ARNs".to_owned()))?
            .iter()
            .enumerate()
            .map(|(j, principal)| {
                let text = string(principal)
                    .map_err(|problem| (format!("{parent}.principals[{j}]"), problem))?;
                Ok(match text.as_str() {
                    "this-account" => ProducerPrincipal::ThisAccount,
                    _ => ProducerPrincipal::Arn(text),
                })
            })
            .collect::<Result<_, KeyProblem>>()?;
        Ok(Producer {
            detail_type,
            source,
            principals,
        })
    })
}

fn summarizer(value: &Value) -> Result<SummarizerConfig, KeyProblem> {
    let parent = "summarizer";
    let entry = table(value, parent, SUMMARIZER_KEYS)?;
    let at = |field: &str| at(parent, field);
    Ok(SummarizerConfig {
        base_url: string(required(entry, parent, "base_url")?).map_err(at("base_url"))?,
        model: string(required(entry, parent, "model")?).map_err(at("model"))?,
        api_key_parameter: string(required(entry, parent, "api_key_parameter")?)
            .map_err(at("api_key_parameter"))?,
        timeout_ms: match entry.get("timeout_ms") {
            Some(value) => integer(value).map_err(at("timeout_ms"))?,
            None => reconciler_core::contract::DEFAULT_SUMMARIZER_TIMEOUT_MS,
        },
    })
}
