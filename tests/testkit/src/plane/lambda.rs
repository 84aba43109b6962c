//! Lambda, as the plane runs it: each deployed function from its deployed
//! code, under its execution role, with its configuration (environment,
//! memory, timeout, reserved concurrency, asynchronous-invoke config).
//!
//! - **Instances** (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>):
//!   one process per execution environment, driven through a Runtime API of
//!   its own, one invocation at a time; a new one starts (cold) when every
//!   instance is busy, up to the reserved concurrency. Beyond it the call is
//!   throttled (<https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html>).
//!   An instance that overruns its timeout is killed and its invocation
//!   fails with `Sandbox.Timedout`.
//! - **Credentials** (<https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html>):
//!   a session of the function's role (`AssumeRole`), so the front knows
//!   whose calls it authorizes.
//! - **Asynchronous invocation** (<https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html>):
//!   a function error is retried after one minute, then two; a throttle is
//!   retried with a backoff from one second to five minutes; an event older
//!   than the maximum age, or out of retries, goes to the on-failure
//!   destination with the record Lambda writes
//!   (<https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html>).

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use infra::StackOutputs;
use serde_json::{Value, json};

use super::Ctx;
use super::telemetry::platform_record;
use crate::runtime_api::{Reply, RuntimeApi};

/// A deployed function's configuration, as `GetFunctionConfiguration`,
/// `GetFunctionConcurrency` and `GetFunctionEventInvokeConfig` give it.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionConfig {
    pub name: String,
    pub arn: String,
    pub role_arn: String,
    pub memory_mb: u32,
    pub timeout_s: u32,
    pub env: Vec<(String, String)>,
    pub reserved: Option<u32>,
    pub log_group: String,
    pub code_sha: String,
    /// Retries of an asynchronous invocation after a function error (0–2).
    pub max_retries: u32,
    /// How old an asynchronous event may get before it is discarded.
    pub max_event_age_s: u32,
    /// Where a discarded asynchronous event goes (an ARN).
    pub on_failure: Option<String>,
}

/// A session of a role.
#[derive(Clone, Debug)]
pub struct Session {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

/// Why an invocation could not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// No such function (`ResourceNotFoundException`).
    NotFound(String),
    /// Every instance the reservation allows is busy (`TooManyRequestsException`).
    Throttled,
    /// The function cannot start (its code or process).
    Broken(String),
}

/// What an invocation gave.
#[derive(Clone, Debug, PartialEq)]
pub struct Invoked {
    pub reply: Reply,
    pub request_id: String,
}

/// Every function the plane runs; clones share them.
#[derive(Clone, Default)]
pub struct Functions {
    inner: Arc<Mutex<Registry>>,
}

#[derive(Default)]
struct Registry {
    state_dir: PathBuf,
    front: String,
    functions: HashMap<String, Arc<Function>>,
}

/// One function: its configuration, code, session and instances.
pub struct Function {
    pub config: FunctionConfig,
    binary: PathBuf,
    session: Session,
    idle: Mutex<Vec<Instance>>,
    running: AtomicU32,
    started: Mutex<Vec<u32>>,
}

struct Instance {
    api: RuntimeApi,
    child: Child,
    /// The instance's log stream, for the platform's records.
    log: tokio::sync::mpsc::UnboundedSender<String>,
}

impl Functions {
    /// Functions whose code is unpacked under `state_dir`.
    pub fn new(state_dir: PathBuf) -> Functions {
        let functions = Functions::default();
        if let Ok(mut registry) = functions.inner.lock() {
            registry.state_dir = state_dir;
        }
        functions
    }

    /// The function named `name` (or by its ARN).
    pub fn get(&self, name: &str) -> Option<Arc<Function>> {
        let name = function_name(name);
        self.inner.lock().ok()?.functions.get(&name).cloned()
    }

    /// The function and role whose session has the access key `key`.
    pub fn by_access_key(&self, key: &str) -> Option<Arc<Function>> {
        let registry = self.inner.lock().ok()?;
        registry
            .functions
            .values()
            .find(|f| f.session.access_key_id == key)
            .cloned()
    }

    /// Reads the stack's functions from moto and makes them runnable;
    /// their calls will reach `front`.
    ///
    /// # Errors
    /// A function's configuration, role session or code could not be had.
    pub async fn discover(
        &self,
        ctx: &Ctx,
        outputs: &StackOutputs,
        front: &str,
    ) -> anyhow::Result<()> {
        self.set_front(front);
        for name in [&outputs.handler_function_name, &outputs.sweep_function_name] {
            self.load(ctx, name).await?;
        }
        Ok(())
    }

    /// The endpoint the functions are given as `AWS_ENDPOINT_URL`: the
    /// front, known before the deploy so a function invoked during it (the
    /// deploy's first sweep) runs as it will later.
    pub fn set_front(&self, front: &str) {
        if let Ok(mut registry) = self.inner.lock() {
            registry.front = front.to_owned();
        }
    }

    /// (Re)reads `name`'s configuration; a change of code or configuration
    /// replaces its instances, as Lambda serves new invocations from new
    /// environments.
    ///
    /// # Errors
    /// As [`Functions::discover`].
    pub async fn load(&self, ctx: &Ctx, name: &str) -> anyhow::Result<()> {
        let config = read_config(ctx, name).await?;
        if self.get(name).is_some_and(|f| f.config == config) {
            return Ok(());
        }
        let state_dir = self
            .inner
            .lock()
            .map(|r| r.state_dir.clone())
            .unwrap_or_default();
        let binary = unpack(ctx, &config, &state_dir).await?;
        let session = assume(ctx, &config).await?;
        let function = Arc::new(Function {
            config,
            binary,
            session,
            idle: Mutex::default(),
            running: AtomicU32::new(0),
            started: Mutex::default(),
        });
        let old = self.inner.lock().ok().and_then(|mut r| {
            r.functions
                .insert(function.config.name.clone(), function.clone())
        });
        if let Some(old) = old {
            old.stop();
        }
        Ok(())
    }

    /// Re-reads every function (a hotswap, a rollback, a changed
    /// concurrency take effect as on AWS).
    pub async fn refresh(&self, ctx: &Ctx) {
        let names: Vec<String> = self
            .inner
            .lock()
            .map(|r| r.functions.keys().cloned().collect())
            .unwrap_or_default();
        for name in names {
            if let Err(e) = self.load(ctx, &name).await {
                eprintln!("local plane: {name}: {e:#}");
            }
        }
    }

    /// Stops every instance.
    pub fn stop_all(&self) {
        if let Ok(registry) = self.inner.lock() {
            for function in registry.functions.values() {
                function.stop();
            }
        }
    }

    fn front(&self) -> String {
        self.inner
            .lock()
            .map(|r| r.front.clone())
            .unwrap_or_default()
    }

    /// Runs one invocation of `name` now, as the request `request_id`.
    ///
    /// # Errors
    /// The function does not exist, is throttled or cannot start.
    pub async fn invoke(
        &self,
        ctx: &Ctx,
        name: &str,
        payload: &[u8],
        request_id: &str,
    ) -> Result<Invoked, Refused> {
        let function = self
            .get(name)
            .ok_or_else(|| Refused::NotFound(name.to_owned()))?;
        let _busy = ctx.work.start();
        let Some(_slot) = function.slot() else {
            super::telemetry::lambda_metric(ctx, &function.config.name, "Throttles", 1.0, "Count")
                .await;
            return Err(Refused::Throttled);
        };
        let instance = match function.take_idle() {
            Some(instance) => instance,
            None => function.start_instance(ctx, &self.front()).await?,
        };
        Ok(function.run(ctx, instance, payload, request_id).await)
    }

    /// Queues an asynchronous invocation of `name` (`InvocationType:
    /// Event`, or an EventBridge target): its request id.
    ///
    /// # Errors
    /// No such function.
    pub fn enqueue(&self, ctx: &Ctx, name: &str, payload: Vec<u8>) -> Result<String, Refused> {
        let function = self
            .get(name)
            .ok_or_else(|| Refused::NotFound(name.to_owned()))?;
        let request_id = request_id();
        let queued = super::invoke_async::Queued {
            function: function.config.name.clone(),
            request_id: request_id.clone(),
            payload,
            enqueued_ms: ctx.clock.now_ms(),
            busy: ctx.work.start(),
        };
        let ctx = ctx.clone();
        tokio::spawn(async move { super::invoke_async::run(&ctx, queued).await });
        Ok(request_id)
    }
}

/// A request id as Lambda makes them (a UUID).
pub fn request_id() -> String {
    let hex = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// A function's name, from its name or ARN (`…:function:NAME[:QUALIFIER]`).
pub fn function_name(name_or_arn: &str) -> String {
    match name_or_arn.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest).to_owned(),
        None => name_or_arn.to_owned(),
    }
}

/// A place in the reservation, released when dropped.
struct Slot<'a>(&'a AtomicU32);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Instances of an unreserved function: the account's pool (1,000 on AWS)
/// is not reproduced; beyond this an unreserved function is throttled too.
const UNRESERVED_LIMIT: u32 = 16;

impl Function {
    fn slot(&self) -> Option<Slot<'_>> {
        let limit = self.config.reserved.unwrap_or(UNRESERVED_LIMIT);
        let taken = self
            .running
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            });
        taken.ok().map(|_| Slot(&self.running))
    }

    fn take_idle(&self) -> Option<Instance> {
        self.idle.lock().ok()?.pop()
    }

    fn stop(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
        if let Ok(pids) = self.started.lock() {
            for pid in pids.iter() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }

    /// A new instance: its process, its Runtime API, its log stream.
    async fn start_instance(&self, ctx: &Ctx, front: &str) -> Result<Instance, Refused> {
        let api = RuntimeApi::start_as(&self.config.arn).await;
        let stream = log_stream_name(ctx.clock.now_ms());
        let mut cmd = Command::new(&self.binary);
        self.environment(&mut cmd, &api.address, front, &stream, ctx);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Refused::Broken(format!("start {}: {e}", self.binary.display())))?;
        if let Ok(mut started) = self.started.lock() {
            started.push(child.id());
        }
        let (log, lines) = forward_lines(&mut child);
        super::telemetry::ship_logs(ctx.clone(), self.config.clone(), stream, lines);
        Ok(Instance { api, child, log })
    }

    fn environment(&self, cmd: &mut Command, api: &str, front: &str, stream: &str, ctx: &Ctx) {
        let c = &self.config;
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("TZ", ":UTC")
            .env("_HANDLER", "bootstrap")
            .env("AWS_LAMBDA_RUNTIME_API", api)
            .env("AWS_LAMBDA_FUNCTION_NAME", &c.name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", c.memory_mb.to_string())
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", &c.log_group)
            .env("AWS_LAMBDA_LOG_STREAM_NAME", stream)
            .env("AWS_REGION", &ctx.region)
            .env("AWS_DEFAULT_REGION", &ctx.region)
            .env("AWS_ACCESS_KEY_ID", &self.session.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.session.secret_access_key)
            .env("AWS_SESSION_TOKEN", &self.session.session_token)
            .env("AWS_ENDPOINT_URL", front);
        for (k, v) in &c.env {
            cmd.env(k, v);
        }
    }

    /// Runs one invocation on `instance` and gives it back (or kills it
    /// after a timeout); logs the platform's records and the metrics.
    async fn run(&self, ctx: &Ctx, instance: Instance, payload: &[u8], id: &str) -> Invoked {
        let c = &self.config;
        let start = json!({"requestId": id, "version": "$LATEST"});
        let _ = instance
            .log
            .send(platform_record("platform.start", start, ctx.clock.now_ms()));
        let started = std::time::Instant::now();
        let deadline_ms = super::clock::wall_ms() + i64::from(c.timeout_s) * 1000;
        let wait = Duration::from_secs(u64::from(c.timeout_s));
        let answered = instance.api.invoke_as(id, payload, deadline_ms, wait).await;
        let took = started.elapsed();
        let status = match &answered {
            None => "timeout",
            Some(Reply::Error { .. }) => "error",
            Some(Reply::Ok(_)) => "success",
        };
        let report = report_record(c, id, took, peak_memory_mb(&instance.child), status);
        let _ = instance.log.send(platform_record(
            "platform.report",
            report,
            ctx.clock.now_ms(),
        ));
        let reply = match answered {
            Some(reply) => {
                if let Ok(mut idle) = self.idle.lock() {
                    idle.push(instance);
                }
                reply
            }
            None => {
                kill(instance);
                Reply::Error {
                    error_type: "Sandbox.Timedout".into(),
                    message: format!(
                        "RequestId: {id} Error: Task timed out after {}.00 seconds",
                        c.timeout_s
                    ),
                }
            }
        };
        let failed = matches!(reply, Reply::Error { .. });
        super::telemetry::invocation(ctx, c, took, failed).await;
        Invoked {
            reply,
            request_id: id.to_owned(),
        }
    }
}

/// The `platform.report` record of an invocation (pure).
fn report_record(
    c: &FunctionConfig,
    id: &str,
    took: Duration,
    peak_mb: Option<u64>,
    status: &str,
) -> Value {
    let ms = took.as_secs_f64() * 1000.0;
    json!({
        "requestId": id,
        "metrics": {
            "durationMs": (ms * 100.0).round() / 100.0,
            "billedDurationMs": ms.ceil(),
            "memorySizeMB": c.memory_mb,
            "maxMemoryUsedMB": peak_mb,
        },
        "status": status,
    })
}

/// The peak resident memory of `child` so far, in MB (`VmHWM`).
fn peak_memory_mb(child: &Child) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.div_ceil(1024))
}

fn kill(mut instance: Instance) {
    let _ = instance.child.kill();
    let _ = instance.child.wait();
}

/// `YYYY/MM/DD/[$LATEST]<32 hex>`, Lambda's stream name for an instance.
pub fn log_stream_name(now_ms: i64) -> String {
    let date = operator::base::when::format_time(now_ms);
    let day = date.get(..10).unwrap_or("1970-01-01").replace('-', "/");
    format!(
        "{day}/[$LATEST]{:016x}{:016x}",
        fastrand::u64(..),
        fastrand::u64(..)
    )
}

/// The lines `child` prints (stdout and stderr interleaved as they come),
/// and a sender for the platform's own lines of the same stream.
fn forward_lines(
    child: &mut Child,
) -> (
    tokio::sync::mpsc::UnboundedSender<String>,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let streams: Vec<Box<dyn std::io::Read + Send>> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    for stream in streams {
        let sender = sender.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
    }
    (sender, receiver)
}

/// The function's configuration, read from moto.
async fn read_config(ctx: &Ctx, name: &str) -> anyhow::Result<FunctionConfig> {
    let lambda = &ctx.aws.lambda;
    let got = lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .with_context(|| format!("GetFunctionConfiguration {name}"))?;
    let reserved = lambda
        .get_function_concurrency()
        .function_name(name)
        .send()
        .await
        .ok()
        .and_then(|c| c.reserved_concurrent_executions())
        .and_then(|n| u32::try_from(n).ok());
    let invoke = lambda
        .get_function_event_invoke_config()
        .function_name(name)
        .send()
        .await
        .ok();
    let env = got
        .environment()
        .and_then(|e| e.variables())
        .map(|vars| {
            let mut vars: Vec<(String, String)> =
                vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            vars.sort();
            vars
        })
        .unwrap_or_default();
    Ok(FunctionConfig {
        name: name.to_owned(),
        arn: got.function_arn().unwrap_or_default().to_owned(),
        role_arn: got.role().unwrap_or_default().to_owned(),
        memory_mb: got
            .memory_size()
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or(128),
        timeout_s: got
            .timeout()
            .and_then(|t| u32::try_from(t).ok())
            .unwrap_or(3),
        env,
        reserved,
        log_group: got
            .logging_config()
            .and_then(|l| l.log_group())
            .map_or_else(|| format!("/aws/lambda/{name}"), str::to_owned),
        code_sha: got.code_sha256().unwrap_or_default().to_owned(),
        max_retries: invoke
            .as_ref()
            .and_then(|i| i.maximum_retry_attempts())
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(2),
        max_event_age_s: invoke
            .as_ref()
            .and_then(|i| i.maximum_event_age_in_seconds())
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(21_600),
        on_failure: invoke
            .as_ref()
            .and_then(|i| i.destination_config())
            .and_then(|d| d.on_failure())
            .and_then(|f| f.destination())
            .map(str::to_owned),
    })
}

/// The deployed code's `bootstrap`, unpacked under `state_dir`.
async fn unpack(ctx: &Ctx, config: &FunctionConfig, state_dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = state_dir
        .join(&config.name)
        .join(config.code_sha.replace(['/', '+', '='], "_"));
    let binary = dir.join("bootstrap");
    if binary.is_file() {
        return Ok(binary);
    }
    let zip = ctx.moto.code(&config.name).await?;
    let target = binary.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&dir)?;
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip))
            .context("the deployed code is not a zip")?;
        let mut entry = archive
            .by_name("bootstrap")
            .context("the deployed zip has no `bootstrap`")?;
        let partial = dir.join("bootstrap.partial");
        let mut out = std::fs::File::create(&partial)?;
        std::io::copy(&mut entry, &mut out)?;
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))?;
        std::fs::rename(&partial, &target)?;
        Ok(())
    })
    .await??;
    Ok(binary)
}

/// A session of the function's role, as Lambda assumes it.
async fn assume(ctx: &Ctx, config: &FunctionConfig) -> anyhow::Result<Session> {
    let got = ctx
        .aws
        .sts
        .assume_role()
        .role_arn(&config.role_arn)
        .role_session_name(&config.name)
        .send()
        .await
        .with_context(|| format!("assume {}", config.role_arn))?;
    let credentials = got
        .credentials()
        .context("AssumeRole gave no credentials")?;
    Ok(Session {
        access_key_id: credentials.access_key_id().to_owned(),
        secret_access_key: credentials.secret_access_key().to_owned(),
        session_token: credentials.session_token().to_owned(),
    })
}

/// The record Lambda sends to an on-failure destination
/// (<https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html>).
pub fn failure_record(
    config: &FunctionConfig,
    request_id: &str,
    condition: &str,
    attempts: u32,
    payload: &[u8],
    last: Option<&Reply>,
    now_ms: i64,
) -> Value {
    let request: Value = serde_json::from_slice(payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()));
    let (response_context, response) = match last {
        Some(Reply::Error {
            error_type,
            message,
        }) => (
            json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}),
            json!({"errorType": error_type, "errorMessage": message}),
        ),
        Some(Reply::Ok(value)) => (
            json!({"statusCode": 200, "executedVersion": "$LATEST"}),
            value.clone(),
        ),
        None => (
            json!({"statusCode": 429, "executedVersion": "$LATEST"}),
            Value::Null,
        ),
    };
    json!({
        "version": "1.0",
        "timestamp": iso_millis(now_ms),
        "requestContext": {
            "requestId": request_id,
            "functionArn": format!("{}:$LATEST", config.arn),
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": request,
        "responseContext": response_context,
        "responsePayload": response,
    })
}

/// ISO 8601 in UTC with milliseconds (`2026-12-04T18:16:05.568Z`).
pub fn iso_millis(ms: i64) -> String {
    let seconds = operator::base::when::format_time(ms);
    let base = seconds.trim_end_matches('Z');
    format!("{base}.{:03}Z", ms.rem_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> FunctionConfig {
        FunctionConfig {
            name: "f".into(),
            arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            memory_mb: 256,
            timeout_s: 10,
            env: Vec::new(),
            reserved: Some(2),
            log_group: "/aws/lambda/f".into(),
            code_sha: "abc".into(),
            max_retries: 2,
            max_event_age_s: 21_600,
            on_failure: None,
        }
    }

    #[test]
    fn the_failure_record_has_lambdas_shape() {
        let error = Reply::Error {
            error_type: "InvalidEvent".into(),
            message: "field `detail.credits`".into(),
        };
        let record = failure_record(
            &config(),
            "req-1",
            "RetriesExhausted",
            3,
            br#"{"id": "e1"}"#,
            Some(&error),
            1_733_335_200_123,
        );
        assert_eq!(record["version"], "1.0");
        assert_eq!(record["timestamp"], "2024-12-04T18:00:00.123Z");
        assert_eq!(record["requestContext"]["requestId"], "req-1");
        assert_eq!(
            record["requestContext"]["functionArn"],
            "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST"
        );
        assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
        assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
        assert_eq!(record["requestPayload"]["id"], "e1");
        assert_eq!(record["responseContext"]["functionError"], "Unhandled");
        assert_eq!(record["responsePayload"]["errorType"], "InvalidEvent");
    }

    #[test]
    fn names_come_from_names_or_arns() {
        assert_eq!(function_name("f"), "f");
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:1:function:f:$LATEST"),
            "f"
        );
        assert_eq!(request_id().len(), 36);
        let stream = log_stream_name(1_733_335_200_000);
        assert!(stream.starts_with("2024/12/04/[$LATEST]"), "{stream}");
        assert_eq!(stream.len(), "2024/12/04/[$LATEST]".len() + 32);
    }
}
