//! Who may put which events on a bus: `PutEvents` authorized entry by
//! entry against the bus's resource policy and the caller's identity, as
//! EventBridge does (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html>:
//! the condition keys `events:source` and `events:detail-type`). A refused
//! entry fails alone with `NotAuthorizedForDetailTypeException`
//! (<https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html>);
//! the others go on to moto.
//!
//! The caller is who moto says the access key belongs to (an assumed role,
//! an IAM user); credentials moto does not know are the account's
//! operators, taken as the account root (allowed by their identity, still
//! refused by a `Deny` of the bus's policy, as AWS refuses the root too).

use infra::policy::{Caller, Policy, Request as PolicyRequest, authorize};
use serde_json::{Value, json};

use super::Ctx;
use crate::http::{Request, Response, Upstream};

/// Who is calling: the principal's ARN (a role's, not its session's) and
/// its identity policies (`None`: the account root, who may do anything).
struct Principal {
    arn: String,
    policies: Option<Vec<Policy>>,
}

/// Answers a `PutEvents`: entries the bus's policy refuses fail, the rest
/// are put by moto.
pub async fn put_events(
    ctx: &Ctx,
    moto: &Upstream,
    request: Request,
    access_key: &str,
) -> Response {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let entries = body["Entries"].as_array().cloned().unwrap_or_default();
    let principal = principal(ctx, moto, &request, access_key).await;
    let mut refused = Vec::with_capacity(entries.len());
    for entry in &entries {
        refused.push(check(ctx, &principal, entry).await);
    }
    if refused.iter().all(Option::is_none) {
        return forward(moto, &request).await;
    }
    let allowed: Vec<Value> = entries
        .iter()
        .zip(&refused)
        .filter(|(_, r)| r.is_none())
        .map(|(e, _)| e.clone())
        .collect();
    let mut put = Vec::new();
    if !allowed.is_empty() {
        let mut narrowed = body.clone();
        narrowed["Entries"] = Value::Array(allowed);
        let mut sent = request.clone();
        sent.body = narrowed.to_string().into();
        let answer = forward(moto, &sent).await;
        let answer: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        put = answer["Entries"].as_array().cloned().unwrap_or_default();
    }
    Response::new(
        200,
        "application/x-amz-json-1.1",
        merge(&refused, put).to_string(),
    )
}

/// The result entries in the request's order: a refusal where the policy
/// refused, moto's answer elsewhere (pure).
fn merge(refused: &[Option<String>], put: Vec<Value>) -> Value {
    let mut put = put.into_iter();
    let entries: Vec<Value> = refused
        .iter()
        .map(|r| match r {
            Some(message) => {
                json!({"ErrorCode": "NotAuthorizedForDetailTypeException", "ErrorMessage": message})
            }
            None => put
                .next()
                .unwrap_or_else(|| json!({"ErrorCode": "InternalFailure"})),
        })
        .collect();
    let failed = entries
        .iter()
        .filter(|e| e.get("ErrorCode").is_some())
        .count();
    json!({"FailedEntryCount": failed, "Entries": entries})
}

async fn forward(moto: &Upstream, request: &Request) -> Response {
    moto.send(request)
        .await
        .unwrap_or_else(|e| Response::new(502, "text/plain", format!("moto: {e}")))
}

/// Whether the bus lets `principal` put `entry`: why not, if not.
async fn check(ctx: &Ctx, principal: &Principal, entry: &Value) -> Option<String> {
    let bus = entry["EventBusName"].as_str().unwrap_or("default");
    let bus = bus.rsplit('/').next().unwrap_or(bus);
    let described = ctx
        .aws
        .events
        .describe_event_bus()
        .name(bus)
        .send()
        .await
        .ok()?;
    let bus_arn = described.arn().unwrap_or_default().to_owned();
    let policy = match described.policy() {
        Some(document) => super::iam::parse(&format!("{bus} policy"), document).ok(),
        None => None,
    };
    let request = PolicyRequest::new(
        Caller::Iam(principal.arn.clone()),
        "events:PutEvents",
        &bus_arn,
    )
    .with(
        "events:source",
        entry["Source"].as_str().unwrap_or_default(),
    )
    .with(
        "events:detail-type",
        entry["DetailType"].as_str().unwrap_or_default(),
    );
    let everything = root_identity();
    let identity: Vec<&Policy> = match &principal.policies {
        Some(policies) => policies.iter().collect(),
        None => vec![&everything],
    };
    if authorize(&request, &identity, policy.as_ref()).allowed() {
        None
    } else {
        Some(format!(
            "{} is not authorized to put {} events from {} on {bus}",
            principal.arn,
            entry["DetailType"].as_str().unwrap_or_default(),
            entry["Source"].as_str().unwrap_or_default()
        ))
    }
}

/// What the account root may do: everything.
fn root_identity() -> Policy {
    let document = json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    Policy::parse("the account root", &document).expect("a literal policy parses")
}

/// The caller behind `access_key`: a function's role, or whoever moto's
/// STS says it is.
async fn principal(ctx: &Ctx, moto: &Upstream, request: &Request, access_key: &str) -> Principal {
    if let Some(function) = ctx.functions.by_access_key(access_key) {
        let role = function.config.role_arn.clone();
        let policies = super::iam::identity_of(ctx, &role)
            .await
            .unwrap_or_default();
        return Principal {
            arn: role,
            policies: Some(policies),
        };
    }
    let root = Principal {
        arn: format!("arn:aws:iam::{}:root", ctx.account),
        policies: None,
    };
    let Some(arn) = caller_arn(moto, request, access_key).await else {
        return root;
    };
    match role_of(&arn) {
        Some(role) => {
            let policies = super::iam::identity_of(ctx, &role)
                .await
                .unwrap_or_default();
            Principal {
                arn: role,
                policies: Some(policies),
            }
        }
        None if arn.ends_with(":user/moto") => root,
        None => Principal {
            arn,
            policies: None,
        },
    }
}

/// `arn:aws:sts::A:assumed-role/R/S` → `arn:aws:iam::A:role/R` (pure).
fn role_of(session_arn: &str) -> Option<String> {
    let rest = session_arn.strip_prefix("arn:aws:sts::")?;
    let (account, path) = rest.split_once(':')?;
    let role = path.strip_prefix("assumed-role/")?.split('/').next()?;
    Some(format!("arn:aws:iam::{account}:role/{role}"))
}

/// The ARN moto's STS gives `access_key` (`GetCallerIdentity` in its name).
async fn caller_arn(moto: &Upstream, request: &Request, access_key: &str) -> Option<String> {
    let date = request
        .header("x-amz-date")
        .unwrap_or("20260101T000000Z")
        .to_owned();
    let day = date.get(..8).unwrap_or("20260101").to_owned();
    let ask = Request {
        method: "POST".into(),
        path: "/".into(),
        headers: vec![
            (
                "host".into(),
                request.header("host").unwrap_or("localhost").into(),
            ),
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("x-amz-date".into(), date),
            (
                "authorization".into(),
                format!(
                    "AWS4-HMAC-SHA256 Credential={access_key}/{day}/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0"
                ),
            ),
        ],
        body: "Action=GetCallerIdentity&Version=2011-06-15".into(),
    };
    let answer = moto.send(&ask).await.ok()?;
    let text = String::from_utf8_lossy(&answer.body);
    let start = text.find("<Arn>")? + "<Arn>".len();
    let end = text[start..].find("</Arn>")? + start;
    Some(text[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sessions_principal_is_its_role() {
        assert_eq!(
            role_of("arn:aws:sts::123456789012:assumed-role/producer/s1").as_deref(),
            Some("arn:aws:iam::123456789012:role/producer")
        );
        assert_eq!(role_of("arn:aws:iam::123456789012:user/u"), None);
    }

    #[test]
    fn refused_entries_fail_alone_in_their_place() {
        let merged = merge(
            &[None, Some("no".into()), None],
            vec![json!({"EventId": "e1"}), json!({"EventId": "e3"})],
        );
        assert_eq!(merged["FailedEntryCount"], 1);
        assert_eq!(merged["Entries"][0]["EventId"], "e1");
        assert_eq!(
            merged["Entries"][1]["ErrorCode"],
            "NotAuthorizedForDetailTypeException"
        );
        assert_eq!(merged["Entries"][2]["EventId"], "e3");
    }
}
