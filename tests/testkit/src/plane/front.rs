//! The endpoint `cargo xtask up` prints: every command and every function
//! talks to it as it would to AWS.
//!
//! - Lambda's `Invoke` is answered by the plane (moto cannot run a
//!   function): `RequestResponse` runs it and answers with its reply
//!   (`X-Amz-Function-Error: Unhandled` when it failed), `Event` queues it
//!   (202), `DryRun` answers 204; an unknown function is 404, a throttle 429
//!   (<https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html>).
//! - A call signed with a function's role session is authorized against
//!   that role first ([`super::iam`]); a refusal is AWS's
//!   `AccessDeniedException`. Any other credentials are the account's
//!   operators, who may do anything (as an account's administrators do).
//! - `PutEvents` is authorized entry by entry against the bus's policy
//!   ([`super::put_events`]): who may put which detail-type.
//! - DynamoDB goes through the fault proxy with DynamoDB's semantics
//!   (serialized, transaction conflicts, request tokens); everything else to
//!   moto unchanged.
//! - `/_local/…`: the plane's own controls (its clock, the trace of an
//!   event, the mail kept for an address, DynamoDB faults and latency).

use std::time::Duration;

use serde_json::{Value, json};

use super::Ctx;
use super::lambda::Refused;
use crate::emulator::proxy::{Proxy, Semantics};
use crate::http::{Request, Response, Server, Upstream, handler, serve_on};
use crate::runtime_api::Reply;

/// Serves the front on `port` (0: one the system picks).
///
/// # Errors
/// The port could not be bound.
pub async fn serve(port: u16, moto: &str, ctx: Ctx) -> std::io::Result<Server> {
    let dynamodb = Proxy::behind(moto).with_semantics(Semantics::aws());
    let moto = Upstream::new(moto);
    serve_on(
        port,
        handler(move |request| {
            let (ctx, dynamodb, moto) = (ctx.clone(), dynamodb.clone(), moto.clone());
            async move { route(&ctx, &dynamodb, &moto, request).await }
        }),
    )
    .await
}

async fn route(ctx: &Ctx, dynamodb: &Proxy, moto: &Upstream, request: Request) -> Option<Response> {
    if request.path.starts_with("/_local/") {
        return Some(control(ctx, dynamodb, &request).await);
    }
    if let Some(function) = invoked(&request) {
        return Some(invoke(ctx, &function, &request).await);
    }
    let (key, service) = signer(&request);
    if let Some(function) = ctx.functions.by_access_key(&key)
        && let Err(denied) = authorize(ctx, &function.config, &service, &request).await
    {
        return Some(access_denied(&service, &denied.message));
    }
    if service == "events" && request.operation() == "PutEvents" {
        return Some(super::put_events::put_events(ctx, moto, request, &key).await);
    }
    if service == "kms" && matches!(request.operation(), "DisableKey" | "ScheduleKeyDeletion") {
        return Some(kms_key_state(ctx, moto, request, &key).await);
    }
    if request.operation().is_empty()
        || !request
            .header("x-amz-target")
            .unwrap_or_default()
            .starts_with("DynamoDB_")
    {
        return Some(
            moto.send(&request)
                .await
                .unwrap_or_else(|e| Response::new(502, "text/plain", format!("moto: {e}"))),
        );
    }
    let (table, operation) = (table_of(&request), request.operation().to_owned());
    let answer = dynamodb.answer(request).await;
    if let Some(response) = &answer {
        dynamodb_metrics(ctx, &table, &operation, response).await;
    }
    answer
}

/// A KMS call that disables a key or schedules its deletion, answered by
/// moto, then told to the default bus as CloudTrail tells it: an `AWS API
/// Call via CloudTrail` event from `aws.kms`
/// (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html>);
/// the stack's key-state rule matches it.
async fn kms_key_state(ctx: &Ctx, moto: &Upstream, request: Request, access_key: &str) -> Response {
    let answer = moto
        .send(&request)
        .await
        .unwrap_or_else(|e| Response::new(502, "text/plain", format!("moto: {e}")));
    if answer.status != 200 {
        return answer;
    }
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let who = ctx.functions.by_access_key(access_key).map_or_else(
        || format!("arn:aws:iam::{}:root", ctx.account),
        |f| f.config.role_arn.clone(),
    );
    let detail = json!({
        "eventSource": "kms.amazonaws.com",
        "eventName": request.operation(),
        "awsRegion": ctx.region,
        "eventTime": operator::base::when::format_time(ctx.clock.now_ms()),
        "requestParameters": {"keyId": body["KeyId"]},
        "userIdentity": {"arn": who},
    });
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .source("aws.kms")
        .detail_type("AWS API Call via CloudTrail")
        .detail(detail.to_string())
        .build();
    if let Err(e) = ctx.aws.events.put_events().entries(entry).send().await {
        eprintln!(
            "local plane: the CloudTrail event of {}: {e}",
            request.operation()
        );
    }
    answer
}

/// The table a DynamoDB request names (its first, for a transaction or a
/// batch; pure).
fn table_of(request: &Request) -> String {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let first_item = body["TransactItems"]
        .as_array()
        .and_then(|items| items.first())
        .and_then(|item| item.as_object())
        .and_then(|item| item.values().next())
        .and_then(|inner| inner["TableName"].as_str());
    let first_batch = body["RequestItems"]
        .as_object()
        .and_then(|m| m.keys().next().map(String::as_str));
    body["TableName"]
        .as_str()
        .or(first_item)
        .or(first_batch)
        .unwrap_or_default()
        .to_owned()
}

/// DynamoDB's own metrics of an answer: `ThrottledRequests` and
/// `SystemErrors` by table and operation
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html>).
async fn dynamodb_metrics(ctx: &Ctx, table: &str, operation: &str, response: &Response) {
    let throttled = response.status == 400
        && (response
            .body
            .windows(19)
            .any(|w| w == b"ThrottlingException")
            || response
                .body
                .windows(38)
                .any(|w| w == b"ProvisionedThroughputExceededException"));
    let metric = if response.status >= 500 {
        "SystemErrors"
    } else if throttled {
        "ThrottledRequests"
    } else {
        return;
    };
    let now = ctx.clock.now_ms();
    let dims = [("TableName", table), ("Operation", operation)];
    super::telemetry::put_metric(ctx, "AWS/DynamoDB", metric, &dims, 1.0, "Count", now).await;
}

/// The access key and the service of a SigV4-signed request (pure):
/// `Credential=AKID/date/region/service/aws4_request`.
pub fn signer(request: &Request) -> (String, String) {
    let authorization = request.header("authorization").unwrap_or_default();
    let Some(credential) = authorization
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split([',', ' ']).next())
    else {
        return (String::new(), String::new());
    };
    let parts: Vec<&str> = credential.split('/').collect();
    (
        parts.first().copied().unwrap_or_default().to_owned(),
        parts.get(3).copied().unwrap_or_default().to_owned(),
    )
}

/// Every action the request asks for must be allowed by the role.
async fn authorize(
    ctx: &Ctx,
    config: &super::lambda::FunctionConfig,
    service: &str,
    request: &Request,
) -> Result<(), super::iam::Denied> {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let operation = request.operation();
    for (action, resource) in
        super::iam::actions_of(service, operation, &body, &ctx.region, &ctx.account)
    {
        super::iam::role_may(ctx, &config.role_arn, &config.name, &action, &resource).await?;
    }
    Ok(())
}

/// AWS's refusal, in the protocol the service speaks.
fn access_denied(service: &str, message: &str) -> Response {
    match service {
        "sts" | "iam" | "sns" | "monitoring" | "cloudformation" => Response::new(
            403,
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
                message.replace('&', "&amp;").replace('<', "&lt;"),
                super::lambda::request_id()
            ),
        ),
        _ => Response::json(
            400,
            &json!({"__type": "AccessDeniedException", "message": message}),
        )
        .with_header("x-amzn-errortype", "AccessDeniedException"),
    }
}

/// The function an `Invoke` names (`/2015-03-31/functions/{name}/invocations`).
pub fn invoked(request: &Request) -> Option<String> {
    if request.method != "POST" {
        return None;
    }
    let path = request.path.split('?').next()?;
    let name = path
        .strip_prefix("/2015-03-31/functions/")?
        .strip_suffix("/invocations")?;
    Some(super::lambda::function_name(&percent_decode(name)))
}

fn percent_decode(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Payload limits: 6 MB synchronous, 1 MB asynchronous.
const SYNC_LIMIT: usize = 6 * 1024 * 1024;
const ASYNC_LIMIT: usize = 1024 * 1024;

async fn invoke(ctx: &Ctx, function: &str, request: &Request) -> Response {
    let kind = request
        .header("x-amz-invocation-type")
        .unwrap_or("RequestResponse");
    let limit = if kind == "Event" {
        ASYNC_LIMIT
    } else {
        SYNC_LIMIT
    };
    if request.body.len() > limit {
        return lambda_error(
            413,
            "RequestEntityTooLargeException",
            &format!("Request must be smaller than {limit} bytes for the {kind} invocation type"),
        );
    }
    // A function deployed since the plane last read the stack (the deploy's
    // own first sweep) is read now, as Lambda serves any function that exists.
    if ctx.functions.get(function).is_none() && ctx.functions.load(ctx, function).await.is_err() {
        let arn = format!(
            "arn:aws:lambda:{}:{}:function:{function}",
            ctx.region, ctx.account
        );
        return lambda_error(
            404,
            "ResourceNotFoundException",
            &format!("Function not found: {arn}"),
        );
    }
    match kind {
        "Event" => match ctx.functions.enqueue(ctx, function, request.body.to_vec()) {
            Ok(id) => {
                Response::new(202, "application/json", "").with_header("x-amzn-requestid", id)
            }
            Err(refused) => refusal(&refused),
        },
        "DryRun" => Response::new(204, "application/json", ""),
        _ => {
            let id = super::lambda::request_id();
            match ctx
                .functions
                .invoke(ctx, function, &request.body, &id)
                .await
            {
                Ok(invoked) => reply(invoked.reply, &id),
                Err(refused) => refusal(&refused),
            }
        }
    }
}

fn reply(reply: Reply, id: &str) -> Response {
    let response = match &reply {
        Reply::Ok(value) => Response::json(200, value),
        Reply::Error {
            error_type,
            message,
        } => Response::json(
            200,
            &json!({"errorType": error_type, "errorMessage": message}),
        )
        .with_header("x-amz-function-error", "Unhandled"),
    };
    response
        .with_header("x-amz-executed-version", "$LATEST")
        .with_header("x-amzn-requestid", id)
}

fn refusal(refused: &Refused) -> Response {
    match refused {
        Refused::NotFound(name) => lambda_error(404, "ResourceNotFoundException", &format!("Function not found: {name}")),
        Refused::Throttled => Response::json(
            429,
            &json!({"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded", "Type": "User", "message": "Rate Exceeded."}),
        )
        .with_header("x-amzn-errortype", "TooManyRequestsException"),
        Refused::Broken(why) => lambda_error(502, "ServiceException", why),
    }
}

fn lambda_error(status: u16, error_type: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"Type": "User", "Message": message, "message": message}),
    )
    .with_header("x-amzn-errortype", error_type)
}

/// The plane's controls.
async fn control(ctx: &Ctx, dynamodb: &Proxy, request: &Request) -> Response {
    let path = request.path.split('?').next().unwrap_or_default();
    let query = request
        .path
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default();
    match (request.method.as_str(), path) {
        ("GET", "/_local/plane") => Response::json(
            200,
            &json!({
                "stage": ctx.stage.stage.as_str(),
                "now_ms": ctx.clock.now_ms(),
                "offset_ms": ctx.clock.offset_ms(),
            }),
        ),
        ("POST", "/_local/clock/advance") => {
            let seconds: u64 = parameter(query, "seconds")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            ctx.advance(Duration::from_secs(seconds)).await;
            Response::json(200, &json!({"now_ms": ctx.clock.now_ms()}))
        }
        ("GET", p) if p.starts_with("/_local/trace/event/") => {
            let id = p.trim_start_matches("/_local/trace/event/");
            Response::json(200, &ctx.trace.of(&percent_decode(id)))
        }
        ("GET", "/_local/mail") => {
            let address = percent_decode(&parameter(query, "address").unwrap_or_default());
            match ctx.moto.mail(&address).await {
                Ok(mail) => Response::json(200, &mail),
                Err(e) => Response::json(502, &json!({"error": e.to_string()})),
            }
        }
        ("GET", "/_local/authorized") => Response::json(200, &ctx.trace.authorizations()),
        ("POST", "/_local/faults") => faults(dynamodb, query),
        _ => Response::json(
            404,
            &json!({"error": format!("no control {} {path}", request.method)}),
        ),
    }
}

/// `POST /_local/faults?operation=TransactWriteItems&fault=throttle&count=3`:
/// the next requests of that DynamoDB operation get that fault;
/// `?latency_ms=N`: every DynamoDB request waits that long first.
fn faults(dynamodb: &Proxy, query: &str) -> Response {
    if let Some(ms) = parameter(query, "latency_ms").and_then(|m| m.parse().ok()) {
        dynamodb.set_latency(Duration::from_millis(ms));
        return Response::json(200, &json!({"latency_ms": ms}));
    }
    let (Some(operation), Some(fault)) = (
        parameter(query, "operation"),
        parameter(query, "fault")
            .as_deref()
            .and_then(crate::emulator::proxy::Fault::parse),
    ) else {
        return Response::json(
            400,
            &json!({"error": "operation=… and fault=throttle|lose-response|system-error|access-denied are required"}),
        );
    };
    let count: usize = parameter(query, "count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    dynamodb.inject(&operation, &vec![fault; count]);
    Response::json(200, &json!({"operation": operation, "count": count}))
}

fn parameter(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            body: Default::default(),
        }
    }

    #[test]
    fn the_signer_is_read_from_the_credential_scope() {
        let signed = request(
            "POST",
            "/",
            &[(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261204/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=abc",
            )],
        );
        assert_eq!(signer(&signed), ("ASIAEXAMPLE".into(), "dynamodb".into()));
        assert_eq!(
            signer(&request("GET", "/", &[])),
            (String::new(), String::new())
        );
    }

    #[test]
    fn an_invocation_names_its_function_by_name_or_arn() {
        let by_name = request(
            "POST",
            "/2015-03-31/functions/cc-agent-reconciler-dev-handler/invocations",
            &[],
        );
        assert_eq!(
            invoked(&by_name).as_deref(),
            Some("cc-agent-reconciler-dev-handler")
        );
        let by_arn = request(
            "POST",
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af1%3A%24LATEST/invocations?Qualifier=x",
            &[],
        );
        assert_eq!(invoked(&by_arn).as_deref(), Some("f1"));
        assert_eq!(
            invoked(&request(
                "GET",
                "/2015-03-31/functions/f1/configuration",
                &[]
            )),
            None
        );
    }

    #[test]
    fn a_refusal_speaks_the_services_protocol() {
        let json = access_denied("dynamodb", "User: x is not authorized");
        assert_eq!(json.status, 400);
        assert!(String::from_utf8_lossy(&json.body).contains("AccessDeniedException"));
        let xml = access_denied("sts", "a < b");
        assert_eq!(xml.status, 403);
        assert!(String::from_utf8_lossy(&xml.body).contains("<Code>AccessDenied</Code>"));
        assert!(String::from_utf8_lossy(&xml.body).contains("a &lt; b"));
    }
}
