//! A Lambda Invoke API shim: what `lambda:Invoke` does on AWS, for the
//! commands that invoke the deployed functions directly (`ledger adjust`,
//! `sweep`). moto cannot run functions (its `invoke` needs Docker).
//!
//! `POST /2015-03-31/functions/{name}/invocations` is handed to the real
//! release binary of that function through a Lambda Runtime API
//! ([`crate::runtime_api`]) and answered with its reply: `200` with the
//! response, or `200` with `X-Amz-Function-Error: Unhandled` and
//! `{"errorType", "errorMessage"}` when it failed. An unknown function is a
//! `404 ResourceNotFoundException`. Every other request goes to moto, so a
//! Lambda client pointed here still reads function configurations.
//!
//! Like Lambda, the shim ships what the binary prints (its JSON log lines)
//! to the function's log group, so the commands that read logs (`logs`,
//! `status`, `replay`) read the real lines.

use std::collections::HashMap;
use std::io::BufRead;
use std::process::Child;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use tokio::sync::mpsc;

use crate::http::Response;
use crate::intercept::{InterceptProxy, Responder};
use crate::runtime_api::{Reply, RuntimeApi};

/// The shim: its endpoint and the functions it runs.
pub struct LambdaShim {
    /// `http://127.0.0.1:<port>`: the Lambda endpoint to give the commands.
    pub endpoint: String,
    _proxy: InterceptProxy,
    functions: Arc<Mutex<HashMap<String, RuntimeApi>>>,
    children: Mutex<Vec<Child>>,
    config: SdkConfig,
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The function named in an invocation path, by name (an ARN's last part).
fn invoked_function(path: &str) -> Option<String> {
    let path = path.split('?').next()?;
    let name = path
        .strip_prefix("/2015-03-31/functions/")?
        .strip_suffix("/invocations")?;
    let name = percent_decode(name);
    Some(match name.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest).to_owned(),
        None => name,
    })
}

fn reply_answer(reply: Reply) -> Response {
    let answer = match &reply {
        Reply::Ok(v) => Response::json(200, v),
        Reply::Error {
            error_type,
            message,
        } => Response::json(
            200,
            &serde_json::json!({"errorType": error_type, "errorMessage": message}),
        ),
    }
    .with_header("x-amz-executed-version", "$LATEST");
    if matches!(reply, Reply::Error { .. }) {
        answer.with_header("x-amz-function-error", "Unhandled")
    } else {
        answer
    }
}

impl LambdaShim {
    /// Starts the shim in front of the emulator `config` points at.
    pub async fn start(config: &SdkConfig) -> LambdaShim {
        let functions: Arc<Mutex<HashMap<String, RuntimeApi>>> = Arc::default();
        let known = functions.clone();
        let responder: Responder = Arc::new(move |req| {
            let known = known.clone();
            Box::pin(async move {
                if req.method != "POST" {
                    return None;
                }
                let name = invoked_function(&req.path)?;
                let api = known.lock().unwrap().get(&name).cloned();
                let Some(api) = api else {
                    let answer = Response::json(
                        404,
                        &serde_json::json!({"Type": "User",
                            "Message": format!("Function not found: {name}")}),
                    );
                    return Some(
                        answer.with_header("x-amzn-errortype", "ResourceNotFoundException"),
                    );
                };
                if req
                    .header("x-amz-invocation-type")
                    .is_some_and(|t| t == "Event")
                {
                    let body = req.body.clone();
                    tokio::spawn(async move { api.invoke(&body).await });
                    return Some(Response::new(202, "application/json", ""));
                }
                Some(reply_answer(api.invoke(&req.body).await))
            })
        });
        let upstream = config.endpoint_url().expect("an emulator endpoint");
        let proxy = InterceptProxy::start(upstream, responder).await;
        LambdaShim {
            endpoint: proxy.endpoint.clone(),
            _proxy: proxy,
            functions,
            children: Mutex::default(),
            config: config.clone(),
        }
    }

    /// Runs the release binary `bin` as the function `name`, with the
    /// template environment `env`; what it prints goes to `log_group` (created
    /// if missing).
    pub async fn add_function(
        &self,
        name: &str,
        bin: &str,
        env: &[(&str, String)],
        log_group: &str,
    ) {
        let api = RuntimeApi::start().await;
        let mut child = crate::lambda::start(&crate::lambda::binary(bin), name, 512, &api, env);
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                if line.is_err() {
                    break;
                }
            }
        });
        ship_logs(
            aws_sdk_cloudwatchlogs::Client::new(&self.config),
            log_group.to_owned(),
            format!("shim/{name}"),
            rx,
        )
        .await;
        self.functions.lock().unwrap().insert(name.to_owned(), api);
        self.children.lock().unwrap().push(child);
    }

    /// A Lambda client whose invocations reach the shim.
    pub fn client(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(&self.config)
                .endpoint_url(&self.endpoint)
                .build(),
        )
    }
}

impl Drop for LambdaShim {
    fn drop(&mut self) {
        for child in self.children.lock().unwrap().iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Puts every line received on `lines` into `group`/`stream`, one event each,
/// in order, as Lambda does with a function's output.
async fn ship_logs(
    logs: aws_sdk_cloudwatchlogs::Client,
    group: String,
    stream: String,
    mut lines: mpsc::UnboundedReceiver<String>,
) {
    let _ = logs.create_log_group().log_group_name(&group).send().await;
    let _ = logs
        .create_log_stream()
        .log_group_name(&group)
        .log_stream_name(&stream)
        .send()
        .await;
    tokio::spawn(async move {
        while let Some(line) = lines.recv().await {
            let event = aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(reconciler::store::now_ms())
                .message(line)
                .build()
                .unwrap();
            let _ = logs
                .put_log_events()
                .log_group_name(&group)
                .log_stream_name(&stream)
                .log_events(event)
                .send()
                .await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocation_paths_name_the_function() {
        assert_eq!(
            invoked_function("/2015-03-31/functions/cc-agent-reconciler-dev-handler/invocations")
                .as_deref(),
            Some("cc-agent-reconciler-dev-handler")
        );
        assert_eq!(
            invoked_function(
                "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af1%3A%24LATEST/invocations?Qualifier=x"
            )
            .as_deref(),
            Some("f1")
        );
        assert_eq!(
            invoked_function("/2015-03-31/functions/f1/configuration"),
            None
        );
    }
}
