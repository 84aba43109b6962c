//! Authorization as AWS does it, for what runs in the plane: a function's
//! own calls are checked against its execution role's policies (as Lambda's
//! credentials make AWS check them), and a service's delivery — EventBridge
//! to a queue or a function, Lambda's on-failure record, CloudWatch to a
//! topic — against the resource's policy and, for an encrypted queue or
//! topic, the KMS key's. One evaluator decides everything:
//! `infra::policy`, the same that checks the synthesized templates.
//!
//! Policies are read live from moto (a role's inline policies, a queue's,
//! topic's, function's or key's policy), so a policy edited after the deploy
//! takes effect as it would on AWS. moto's own IAM enforcement stays off:
//! it checks actions only, against `*`, and cannot run this stack
//! (`docs/local.md`).

use infra::policy::{Caller, Policy, Request, Verdict, authorize, authorize_kms};
use serde_json::Value;

use super::Ctx;

/// A refusal, in the words AWS uses for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    pub message: String,
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What a function's request asks for, action by action, as AWS authorizes
/// it (pure): a transaction by the per-item actions of its items
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html>),
/// a query of an index on the index's ARN, everything else by its own
/// action on its table or parameter.
pub fn actions_of(
    service: &str,
    operation: &str,
    body: &Value,
    region: &str,
    account: &str,
) -> Vec<(String, String)> {
    let table = |name: &Value| {
        format!(
            "arn:aws:dynamodb:{region}:{account}:table/{}",
            name.as_str().unwrap_or_default()
        )
    };
    match (service, operation) {
        ("dynamodb", "TransactWriteItems" | "TransactGetItems") => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| {
                let (kind, inner) = item.as_object()?.iter().next()?;
                let action = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    "ConditionCheck" => "ConditionCheckItem",
                    "Get" => "GetItem",
                    _ => return None,
                };
                Some((format!("dynamodb:{action}"), table(&inner["TableName"])))
            })
            .collect(),
        ("dynamodb", "BatchGetItem" | "BatchWriteItem") => body["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, _)| {
                (
                    format!("dynamodb:{operation}"),
                    table(&Value::String(name.clone())),
                )
            })
            .collect(),
        ("dynamodb", _) => {
            let mut resource = table(&body["TableName"]);
            if let Some(index) = body["IndexName"].as_str() {
                resource = format!("{resource}/index/{index}");
            }
            vec![(format!("dynamodb:{operation}"), resource)]
        }
        ("ssm", _) => {
            let name = body["Name"].as_str().unwrap_or_default();
            let name = name.strip_prefix('/').unwrap_or(name);
            vec![(
                format!("ssm:{operation}"),
                format!("arn:aws:ssm:{region}:{account}:parameter/{name}"),
            )]
        }
        (service, operation) => vec![(format!("{service}:{operation}"), "*".to_owned())],
    }
}

/// The inline policies of the role `role_arn`, read from moto.
async fn role_policies(ctx: &Ctx, role_arn: &str) -> Result<Vec<Policy>, Denied> {
    let role = role_arn.rsplit('/').next().unwrap_or(role_arn);
    let iam = &ctx.aws.iam;
    let names = iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(|e| denied(format!("the role {role} cannot be read: {e}")))?;
    let mut policies = Vec::new();
    for name in names.policy_names() {
        let got = iam
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .map_err(|e| denied(format!("{role}'s policy {name} cannot be read: {e}")))?;
        policies.push(parse(&format!("{role} {name}"), got.policy_document())?);
    }
    Ok(policies)
}

/// A policy document as IAM returns it (JSON, possibly URL-encoded).
pub fn parse(name: &str, document: &str) -> Result<Policy, Denied> {
    let decoded = percent_decoded(document);
    let value: Value = serde_json::from_str(&decoded)
        .map_err(|e| denied(format!("{name} is not a JSON policy: {e}")))?;
    Policy::parse(name, &value).map_err(|e| denied(e.to_string()))
}

/// A policy document as IAM answers it (URL-encoded), decoded; JSON text
/// is returned as it is.
pub fn percent_decoded(text: &str) -> String {
    if !text.trim_start().starts_with('%') {
        return text.to_owned();
    }
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
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn denied(message: String) -> Denied {
    Denied { message }
}

/// Whether the role `role_arn` (its session `session`, named for its
/// function) may do `action` on `resource`: AWS's `AccessDeniedException`
/// message when not. What is allowed is kept in the trace
/// (`/_local/authorized`): what each function's code needs.
pub async fn role_may(
    ctx: &Ctx,
    role_arn: &str,
    session: &str,
    action: &str,
    resource: &str,
) -> Result<(), Denied> {
    let policies = role_policies(ctx, role_arn).await?;
    let refs: Vec<&Policy> = policies.iter().collect();
    let request = Request::new(Caller::Iam(role_arn.to_owned()), action, resource);
    let verdict = authorize(&request, &refs, None);
    if verdict.allowed() {
        ctx.trace.authorized(session, action, resource);
    }
    decide(&verdict, || {
        let role = role_arn.rsplit('/').next().unwrap_or(role_arn);
        let account = &ctx.account;
        format!(
            "User: arn:aws:sts::{account}:assumed-role/{role}/{session} is not authorized to \
             perform: {action} on resource: {resource} because no identity-based policy allows \
             the {action} action"
        )
    })
}

/// Whether the service `service` may do `action` on `resource`, whose
/// policy is `policy` (none: only the account's identities may), with the
/// context `keys`.
pub fn service_may(
    service: &str,
    action: &str,
    resource: &str,
    policy: Option<&Policy>,
    keys: &[(&str, &str)],
) -> Result<(), Denied> {
    let request = keys.iter().fold(
        Request::new(Caller::Service(service.to_owned()), action, resource),
        |r, (k, v)| r.with(k, v),
    );
    decide(&authorize(&request, &[], policy), || {
        format!("{service} is not authorized to perform: {action} on resource: {resource}")
    })
}

/// Whether `caller` may use the KMS key whose policy is `key_policy` for
/// `action`, with the context `keys` (e.g. the encryption context).
pub fn key_may(
    caller: Caller,
    identity: &[Policy],
    action: &str,
    key_arn: &str,
    key_policy: &Policy,
    keys: &[(&str, &str)],
) -> Result<(), Denied> {
    let who = caller.to_string();
    let request = keys
        .iter()
        .fold(Request::new(caller, action, key_arn), |r, (k, v)| {
            r.with(k, v)
        });
    let refs: Vec<&Policy> = identity.iter().collect();
    decide(&authorize_kms(&request, &refs, key_policy), || {
        format!("{who} is not authorized to perform: {action} on the KMS key {key_arn}")
    })
}

fn decide(verdict: &Verdict, message: impl FnOnce() -> String) -> Result<(), Denied> {
    if verdict.allowed() {
        Ok(())
    } else {
        Err(denied(message()))
    }
}

/// Whether `caller` (with its `identity` policies) may have a data key of
/// the key `key_id` made for it (`kms:GenerateDataKey`), with the context
/// `keys`: the key's policy read from moto (an alias or id resolved to the
/// key's ARN first).
pub async fn key_may_live(
    ctx: &Ctx,
    caller: Caller,
    identity: &[Policy],
    key_id: &str,
    keys: &[(&str, &str)],
) -> Result<(), Denied> {
    let kms = &ctx.aws.kms;
    let described = kms
        .describe_key()
        .key_id(key_id)
        .send()
        .await
        .map_err(|e| denied(format!("the KMS key {key_id} cannot be used: {e}")))?;
    let Some(key) = described.key_metadata() else {
        return Err(denied(format!("the KMS key {key_id} does not exist")));
    };
    if !key.enabled() {
        return Err(denied(format!("the KMS key {} is disabled", key.key_id())));
    }
    let arn = key.arn().unwrap_or_default().to_owned();
    let policy = kms
        .get_key_policy()
        .key_id(&arn)
        .policy_name("default")
        .send()
        .await
        .map_err(|e| {
            denied(format!(
                "the policy of the KMS key {arn} cannot be read: {e}"
            ))
        })?;
    let policy = parse(&format!("key {arn}"), policy.policy().unwrap_or("{}"))?;
    key_may(caller, identity, "kms:GenerateDataKey", &arn, &policy, keys)
}

/// The role policies of `role_arn`, for a KMS check made with its identity.
pub async fn identity_of(ctx: &Ctx, role_arn: &str) -> Result<Vec<Policy>, Denied> {
    role_policies(ctx, role_arn).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_transaction_is_authorized_by_the_actions_of_its_items() {
        let body = json!({"TransactItems": [
            {"Put": {"TableName": "t"}},
            {"Update": {"TableName": "t"}},
            {"ConditionCheck": {"TableName": "t"}},
            {"Delete": {"TableName": "t"}},
        ]});
        let got = actions_of("dynamodb", "TransactWriteItems", &body, "us-east-1", "1");
        let actions: Vec<&str> = got.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(
            actions,
            [
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:ConditionCheckItem",
                "dynamodb:DeleteItem"
            ]
        );
        assert!(
            got.iter()
                .all(|(_, r)| r == "arn:aws:dynamodb:us-east-1:1:table/t")
        );
        let gets = json!({"TransactItems": [{"Get": {"TableName": "t"}}]});
        assert_eq!(
            actions_of("dynamodb", "TransactGetItems", &gets, "r", "1")[0].0,
            "dynamodb:GetItem"
        );
    }

    #[test]
    fn a_query_of_an_index_is_authorized_on_the_index() {
        let body = json!({"TableName": "t", "IndexName": "open-items"});
        assert_eq!(
            actions_of("dynamodb", "Query", &body, "r", "1"),
            [(
                "dynamodb:Query".to_owned(),
                "arn:aws:dynamodb:r:1:table/t/index/open-items".to_owned()
            )]
        );
        let batch = json!({"RequestItems": {"t": {}, "u": {}}});
        assert_eq!(
            actions_of("dynamodb", "BatchGetItem", &batch, "r", "1").len(),
            2
        );
        let parameter = json!({"Name": "/cc/key"});
        assert_eq!(
            actions_of("ssm", "GetParameter", &parameter, "r", "1")[0].1,
            "arn:aws:ssm:r:1:parameter/cc/key"
        );
    }

    #[test]
    fn iam_policy_documents_may_come_url_encoded() {
        let doc = "%7B%22Statement%22%3A%5B%5D%7D";
        assert_eq!(percent_decoded(doc), r#"{"Statement":[]}"#);
        assert_eq!(percent_decoded(r#"{"a": 1}"#), r#"{"a": 1}"#);
    }
}
