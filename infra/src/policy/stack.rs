//! Every policy of a resolved template, by what it governs: the roles'
//! inline policies (identity policies, by role ARN), the queue, topic and
//! bus policies and the functions' invoke permissions (resource policies,
//! by the resource's ARN), and the key policies (by key ARN).
//!
//! An `AWS::Lambda::Permission` is read as the statement Lambda makes of
//! it: `Allow` its principal its action on the function, with
//! `ArnLike aws:SourceArn` when it has a `SourceArn`
//! (<https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html>).
//! A bus's policy is its `Policy` property.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::resolve::{Environment, resolve};
use super::{Caller, Policy, PolicyError, Request, Verdict, authorize, authorize_kms};
use crate::StageConfig;

/// The policies of one stage's template in one account and region.
#[derive(Clone, Debug)]
pub struct StackPolicies {
    identity: BTreeMap<String, Vec<Policy>>,
    resource: BTreeMap<String, Policy>,
    keys: BTreeMap<String, Policy>,
    arns: BTreeMap<String, String>,
}

impl StackPolicies {
    /// The policies of `cfg`'s template deployed in `env`.
    ///
    /// # Errors
    /// A policy or intrinsic the evaluator does not model.
    pub fn of(cfg: &StageConfig, env: &Environment) -> Result<StackPolicies, PolicyError> {
        Self::read(&crate::template(cfg).to_value(), env)
    }

    /// The policies of a template's JSON deployed in `env`.
    ///
    /// # Errors
    /// As [`Self::of`].
    pub fn read(template: &Value, env: &Environment) -> Result<StackPolicies, PolicyError> {
        let resolved = resolve(template, env)?;
        let mut policies = StackPolicies {
            identity: BTreeMap::new(),
            resource: BTreeMap::new(),
            keys: BTreeMap::new(),
            arns: resolved.arns.clone(),
        };
        let mut statements: BTreeMap<String, (String, Vec<Value>)> = BTreeMap::new();
        let resources = resolved.template["Resources"]
            .as_object()
            .into_iter()
            .flatten();
        for (id, resource) in resources {
            let p = &resource["Properties"];
            match resource["Type"].as_str().unwrap_or_default() {
                "AWS::IAM::Role" => {
                    let role = policies.arn(id)?;
                    for inline in p["Policies"].as_array().into_iter().flatten() {
                        let name =
                            format!("{id} {}", inline["PolicyName"].as_str().unwrap_or_default());
                        let policy = Policy::parse(&name, &inline["PolicyDocument"])?;
                        policies
                            .identity
                            .entry(role.clone())
                            .or_default()
                            .push(policy);
                    }
                }
                "AWS::KMS::Key" => {
                    let document = match &p["KeyPolicy"] {
                        Value::String(text) => serde_json::from_str(text).map_err(|e| {
                            PolicyError(format!("{id}: KeyPolicy is not JSON: {e}"))
                        })?,
                        other => other.clone(),
                    };
                    let key = policies.arn(id)?;
                    policies.keys.insert(key, Policy::parse(id, &document)?);
                }
                "AWS::SQS::QueuePolicy" => {
                    for url in p["Queues"].as_array().into_iter().flatten() {
                        let arn = queue_arn(url.as_str().unwrap_or_default(), env)?;
                        add(
                            &mut statements,
                            &arn,
                            id,
                            p["PolicyDocument"]["Statement"].clone(),
                        );
                    }
                }
                "AWS::SNS::TopicPolicy" => {
                    for topic in p["Topics"].as_array().into_iter().flatten() {
                        let arn = topic.as_str().unwrap_or_default();
                        add(
                            &mut statements,
                            arn,
                            id,
                            p["PolicyDocument"]["Statement"].clone(),
                        );
                    }
                }
                "AWS::Events::EventBus" if p.get("Policy").is_some() => {
                    let arn = policies.arn(id)?;
                    add(&mut statements, &arn, id, p["Policy"]["Statement"].clone());
                }
                "AWS::Lambda::Permission" => {
                    let function = p["FunctionName"].as_str().unwrap_or_default().to_owned();
                    let mut statement = json!({"Sid": id, "Effect": "Allow",
                        "Principal": {"Service": p["Principal"]}, "Action": p["Action"], "Resource": function});
                    if let Some(source) = p.get("SourceArn") {
                        statement["Condition"] = json!({"ArnLike": {"AWS:SourceArn": source}});
                    }
                    add(&mut statements, &function, "invoke permissions", statement);
                }
                _ => {}
            }
        }
        for (arn, (name, statements)) in statements {
            let document = json!({"Statement": statements});
            policies
                .resource
                .insert(arn, Policy::parse(&name, &document)?);
        }
        Ok(policies)
    }

    /// The ARN the template's resource `logical_id` has in this account.
    ///
    /// # Errors
    /// No such resource, or one without an ARN.
    pub fn arn(&self, logical_id: &str) -> Result<String, PolicyError> {
        self.arns
            .get(logical_id)
            .cloned()
            .ok_or_else(|| PolicyError(format!("no resource {logical_id} with an ARN")))
    }

    /// Evaluates `request`: its caller's identity policies (a role of the
    /// stack's, plus `caller_policies` for principals outside the stack),
    /// and the resource's policy, or its key policy when it is a key of
    /// the stack.
    pub fn authorize(&self, request: &Request, caller_policies: &[Policy]) -> Verdict {
        let mut identity: Vec<&Policy> = caller_policies.iter().collect();
        if let Caller::Iam(arn) = &request.caller {
            identity.extend(self.identity.get(arn).into_iter().flatten());
        }
        match self.keys.get(&request.resource) {
            Some(key_policy) => authorize_kms(request, &identity, key_policy),
            None => authorize(request, &identity, self.resource.get(&request.resource)),
        }
    }
}

/// Appends `statement` (one, or a list) to the resource policy of `arn`.
fn add(
    statements: &mut BTreeMap<String, (String, Vec<Value>)>,
    arn: &str,
    name: &str,
    statement: Value,
) {
    let entry = statements
        .entry(arn.to_owned())
        .or_insert_with(|| (name.to_owned(), Vec::new()));
    match statement {
        Value::Array(items) => entry.1.extend(items),
        one => entry.1.push(one),
    }
}

/// `https://sqs.<region>.amazonaws.com/<account>/<name>` → the queue's ARN.
fn queue_arn(url: &str, env: &Environment) -> Result<String, PolicyError> {
    let parts: Vec<&str> = url.rsplitn(3, '/').collect();
    match parts.as_slice() {
        [name, account, _] => Ok(format!(
            "arn:{}:sqs:{}:{account}:{name}",
            env.partition, env.region
        )),
        _ => Err(PolicyError(format!("{url} is not a queue URL"))),
    }
}
