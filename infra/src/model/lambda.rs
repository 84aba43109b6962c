//! `AWS::Lambda::Function`, `AWS::Lambda::EventInvokeConfig` and
//! `AWS::Lambda::Permission`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Expr;

/// `AWS::Lambda::Function` (zip package from S3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Function {
    /// The function name.
    pub function_name: Expr,
    /// What the function does.
    pub description: String,
    /// The runtime.
    pub runtime: Runtime,
    /// The handler (`bootstrap` for OS-only runtimes).
    pub handler: String,
    /// The instruction set (exactly one).
    pub architectures: Vec<Architecture>,
    /// Memory in MB (128–10240).
    pub memory_size: u32,
    /// Timeout in seconds (1–900).
    pub timeout: u32,
    /// Concurrent executions reserved for (and capping) the function; `None`:
    /// the account's unreserved pool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_concurrent_executions: Option<u32>,
    /// The execution role's ARN.
    pub role: Expr,
    /// Where the deployment package is.
    pub code: Code,
    /// Environment variables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// Log format and destination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging_config: Option<LoggingConfig>,
}

/// `Runtime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Runtime {
    /// Amazon Linux 2023, OS-only (a `bootstrap` executable).
    #[serde(rename = "provided.al2023")]
    ProvidedAl2023,
}

/// One of `Architectures`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// AWS Graviton (aarch64).
    Arm64,
    /// x86-64.
    #[serde(rename = "x86_64")]
    X86_64,
}

/// `Code`: a zip in S3.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Code {
    /// The bucket.
    #[serde(rename = "S3Bucket")]
    pub s3_bucket: Expr,
    /// The object key.
    #[serde(rename = "S3Key")]
    pub s3_key: Expr,
}

/// `Environment`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    /// Variables by name.
    pub variables: BTreeMap<String, Expr>,
}

/// `LoggingConfig`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingConfig {
    /// Text or JSON.
    pub log_format: LogFormat,
    /// The log group's name.
    pub log_group: Expr,
}

/// `LogFormat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LogFormat {
    /// Structured JSON lines.
    #[serde(rename = "JSON")]
    Json,
}

/// `AWS::Lambda::EventInvokeConfig`: retries and destinations of
/// asynchronous invocations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventInvokeConfig {
    /// The function's name.
    pub function_name: Expr,
    /// Version or alias (`$LATEST`).
    pub qualifier: String,
    /// Retries after the first attempt (0–2).
    pub maximum_retry_attempts: u32,
    /// Where records of invocations go.
    pub destination_config: DestinationConfig,
}

/// `DestinationConfig`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationConfig {
    /// Where invocations that failed every attempt go.
    pub on_failure: OnFailure,
}

/// `OnFailure`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OnFailure {
    /// The destination's ARN (an SQS queue here).
    pub destination: Expr,
}

/// `AWS::Lambda::Permission`: a resource-policy statement on a function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Permission {
    /// The action allowed (`lambda:InvokeFunction`).
    pub action: String,
    /// The function's name or ARN.
    pub function_name: Expr,
    /// The service allowed.
    pub principal: String,
    /// The only resource (e.g. rule) the service may act for.
    pub source_arn: Expr,
}
