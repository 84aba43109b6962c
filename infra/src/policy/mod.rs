//! How AWS decides a request against IAM policies, as its documentation
//! describes it: enough to check, without an AWS account, that every
//! service-to-service delivery of the stack is allowed and that what
//! should be refused is.
//!
//! A [`Request`] is who asks ([`Caller`]), the action, the resource's ARN
//! and the condition keys the calling service puts in the request context.
//! [`authorize`] evaluates it against the caller's identity policies and
//! the resource's policy; [`authorize_kms`] against a KMS key policy.
//! [`stack::StackPolicies`] reads every policy of a synthesized template
//! (intrinsics resolved for one account and region by [`resolve`]) and picks
//! the right ones for a request.
//!
//! The logic (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>):
//! 1. every request is implicitly denied;
//! 2. an explicit `Deny` in any applicable policy wins;
//! 3. for a request within one account, an `Allow` in the identity policy or
//!    an `Allow` in the resource policy that names the principal suffices;
//!    across accounts both are needed;
//! 4. except for KMS: "IAM role trust policies and KMS key policies are
//!    exceptions to this logic, because they must explicitly allow access
//!    for principals". A key policy allows a principal itself, or delegates
//!    to the account (`Principal: {"AWS": "arn:…:iam::<account>:root"}`),
//!    which then lets identity policies allow
//!    (<https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html>).
//!
//! An account in a resource policy's `Principal` delegates to the account's
//! identity policies rather than granting by itself: "This delegates
//! authority to the account … Using the account ARN in the Principal
//! element does not limit permissions to only the root user"
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html>).
//! Service control policies, permissions boundaries and session policies are
//! not modelled: the stack has none.

mod condition;
pub mod resolve;
pub mod stack;
mod wildcard;

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use condition::Operator;
use wildcard::{arn_account, arn_like, glob_ignore_case};

/// Who sends a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// An AWS service acting as itself (a service principal), e.g.
    /// `events.amazonaws.com`, `logs.eu-west-1.amazonaws.com`.
    Service(String),
    /// An IAM role (its sessions) or user, by its ARN: what `aws:PrincipalArn`
    /// holds ("For IAM roles, the request context returns the ARN of the
    /// role, not the ARN of the user that assumed the role").
    Iam(String),
}

impl Caller {
    /// The caller's account, for IAM principals.
    fn account(&self) -> Option<&str> {
        match self {
            Caller::Iam(arn) => arn_account(arn),
            Caller::Service(_) => None,
        }
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Service(service) => write!(f, "service {service}"),
            Caller::Iam(arn) => f.write_str(arn),
        }
    }
}

/// One request as AWS authorizes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Who asks.
    pub caller: Caller,
    /// `service:Action`.
    pub action: String,
    /// The resource's ARN.
    pub resource: String,
    /// The request context's condition keys (names lower-cased) and values.
    pub context: BTreeMap<String, Vec<String>>,
}

impl Request {
    /// A request with the keys every request has: `aws:SecureTransport`
    /// (`true`: every request here goes over TLS) and, for an IAM caller,
    /// `aws:PrincipalArn` and `aws:PrincipalAccount`; for a service,
    /// `aws:PrincipalIsAWSService`.
    pub fn new(caller: Caller, action: &str, resource: &str) -> Request {
        let mut request = Request {
            caller: caller.clone(),
            action: action.to_owned(),
            resource: resource.to_owned(),
            context: BTreeMap::new(),
        }
        .with("aws:SecureTransport", "true");
        match &caller {
            Caller::Iam(arn) => {
                let account = arn_account(arn).unwrap_or_default().to_owned();
                request = request
                    .with("aws:PrincipalArn", arn)
                    .with("aws:PrincipalAccount", &account)
                    .with("aws:PrincipalIsAWSService", "false");
            }
            Caller::Service(_) => request = request.with("aws:PrincipalIsAWSService", "true"),
        }
        request
    }

    /// The request with the condition key `key` set to `value`.
    pub fn with(mut self, key: &str, value: &str) -> Request {
        self.context
            .insert(key.to_ascii_lowercase(), vec![value.to_owned()]);
        self
    }

    /// The request without the condition key `key`.
    pub fn without(mut self, key: &str) -> Request {
        self.context.remove(&key.to_ascii_lowercase());
        self
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {} on {}", self.caller, self.action, self.resource)?;
        for (key, values) in &self.context {
            write!(f, ", {key}={}", values.join("|"))?;
        }
        Ok(())
    }
}

/// `Allow` or `Deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

/// One entry of a `Principal`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PrincipalId {
    /// `"*"` or `{"AWS": "*"}`.
    Everyone,
    /// An account (`123456789012` or `arn:…:iam::123456789012:root`):
    /// delegation to its identity policies.
    Account(String),
    /// A role or user ARN.
    Arn(String),
    /// A service principal.
    Service(String),
}

/// How a statement's principal matches the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PrincipalMatch {
    /// The statement names the caller (or everyone).
    Direct,
    /// The statement names the caller's account.
    Account,
}

/// Action or NotAction, Resource or NotResource.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Names {
    patterns: Vec<String>,
    not: bool,
}

/// One parsed statement.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Statement {
    sid: String,
    effect: Effect,
    /// `None`: an identity policy's statement (its principal is the identity).
    principal: Option<Vec<PrincipalId>>,
    actions: Names,
    /// `None`: no `Resource` (trust policies).
    resources: Option<Names>,
    conditions: Vec<(Operator, String, Vec<String>)>,
}

/// A policy document, read for evaluation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Where it comes from (for explanations), e.g. `HandlerRole
    /// handler-least-privilege` or `DeadLetterQueuePolicy`.
    pub name: String,
    statements: Vec<Statement>,
}

/// A policy the evaluator cannot read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyError {}

impl Policy {
    /// Reads a policy document (`{"Version", "Statement": …}`); `Statement`
    /// may be one object or a list.
    ///
    /// # Errors
    /// An element this evaluator does not model (`NotPrincipal`, an unknown
    /// condition operator, a non-string value), naming the policy.
    pub fn parse(name: &str, document: &Value) -> Result<Policy, PolicyError> {
        let fail = |what: String| PolicyError(format!("{name}: {what}"));
        let statements = match &document["Statement"] {
            Value::Array(items) => items.iter().collect(),
            object @ Value::Object(_) => vec![object],
            other => return Err(fail(format!("Statement is {other}"))),
        };
        let statements = statements
            .into_iter()
            .enumerate()
            .map(|(i, s)| parse_statement(i, s).map_err(&fail))
            .collect::<Result<_, _>>()?;
        Ok(Policy {
            name: name.to_owned(),
            statements,
        })
    }
}

fn strings(value: &Value, what: &str) -> Result<Vec<String>, String> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Bool(b) => Ok(vec![b.to_string()]),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                Value::Bool(b) => Ok(b.to_string()),
                other => Err(format!("{what}: {other} is not a string")),
            })
            .collect(),
        other => Err(format!("{what}: {other} is not a string or a list")),
    }
}

fn parse_statement(index: usize, s: &Value) -> Result<Statement, String> {
    let sid = s["Sid"]
        .as_str()
        .map_or_else(|| format!("#{index}"), str::to_owned);
    let at = |what: &str| format!("statement {sid}: {what}");
    if s.get("NotPrincipal").is_some() {
        return Err(at("NotPrincipal is not modelled"));
    }
    let effect = match s["Effect"].as_str() {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        other => return Err(at(&format!("Effect {other:?}"))),
    };
    let principal = match s.get("Principal") {
        None => None,
        Some(p) => Some(parse_principal(p).map_err(|e| at(&e))?),
    };
    let names = |key: &str, not_key: &str| -> Result<Option<Names>, String> {
        match (s.get(key), s.get(not_key)) {
            (Some(v), None) => Ok(Some(Names {
                patterns: strings(v, key).map_err(|e| at(&e))?,
                not: false,
            })),
            (None, Some(v)) => Ok(Some(Names {
                patterns: strings(v, not_key).map_err(|e| at(&e))?,
                not: true,
            })),
            (None, None) => Ok(None),
            (Some(_), Some(_)) => Err(at(&format!("both {key} and {not_key}"))),
        }
    };
    let actions = names("Action", "NotAction")?.ok_or_else(|| at("no Action"))?;
    let resources = names("Resource", "NotResource")?;
    let mut conditions = Vec::new();
    if let Some(block) = s.get("Condition") {
        let block = block
            .as_object()
            .ok_or_else(|| at("Condition is not an object"))?;
        for (operator, keys) in block {
            let parsed = Operator::parse(operator).map_err(|e| at(&e))?;
            let keys = keys
                .as_object()
                .ok_or_else(|| at(&format!("{operator} is not an object")))?;
            for (key, values) in keys {
                conditions.push((
                    parsed.clone(),
                    key.clone(),
                    strings(values, key).map_err(|e| at(&e))?,
                ));
            }
        }
    }
    Ok(Statement {
        sid,
        effect,
        principal,
        actions,
        resources,
        conditions,
    })
}

fn parse_principal(p: &Value) -> Result<Vec<PrincipalId>, String> {
    if p == "*" {
        return Ok(vec![PrincipalId::Everyone]);
    }
    let map = p.as_object().ok_or_else(|| format!("Principal {p}"))?;
    let mut ids = Vec::new();
    for (kind, values) in map {
        for value in strings(values, kind)? {
            ids.push(match kind.as_str() {
                "AWS" if value == "*" => PrincipalId::Everyone,
                "AWS" => aws_principal(&value),
                "Service" => PrincipalId::Service(value.to_ascii_lowercase()),
                other => return Err(format!("Principal {other} is not modelled")),
            });
        }
    }
    Ok(ids)
}

/// `123456789012` and `arn:…:iam::123456789012:root` name the account.
fn aws_principal(value: &str) -> PrincipalId {
    if value.len() == 12 && value.chars().all(|c| c.is_ascii_digit()) {
        return PrincipalId::Account(value.to_owned());
    }
    match value.splitn(6, ':').collect::<Vec<_>>().as_slice() {
        ["arn", _, "iam", "", account, "root"] => PrincipalId::Account((*account).to_owned()),
        _ => PrincipalId::Arn(value.to_owned()),
    }
}

impl Statement {
    /// Whether the statement applies to `request`: how its principal
    /// matched (`Direct` for identity statements), or why it does not.
    fn applies(&self, request: &Request) -> Result<PrincipalMatch, String> {
        let principal = match &self.principal {
            None => PrincipalMatch::Direct,
            Some(ids) => principal_match(ids, &request.caller)
                .ok_or_else(|| format!("principal is not {}", request.caller))?,
        };
        let action = self
            .actions
            .patterns
            .iter()
            .any(|p| glob_ignore_case(p, &request.action));
        if action == self.actions.not {
            return Err(format!("action {} not covered", request.action));
        }
        if let Some(resources) = &self.resources {
            let resource = resources
                .patterns
                .iter()
                .any(|p| arn_like(p, &request.resource));
            if resource == resources.not {
                return Err(format!("resource {} not covered", request.resource));
            }
        }
        for (operator, key, values) in &self.conditions {
            if !operator.holds(key, values, &request.context) {
                let found = request
                    .context
                    .get(&key.to_ascii_lowercase())
                    .map_or_else(|| "absent".to_owned(), |v| v.join("|"));
                return Err(format!(
                    "{} {key} {values:?} fails ({found})",
                    operator.name()
                ));
            }
        }
        Ok(principal)
    }
}

fn principal_match(ids: &[PrincipalId], caller: &Caller) -> Option<PrincipalMatch> {
    let mut found = None;
    for id in ids {
        let matched = match (id, caller) {
            (PrincipalId::Everyone, _) => Some(PrincipalMatch::Direct),
            (PrincipalId::Service(s), Caller::Service(c)) => {
                (s == &c.to_ascii_lowercase()).then_some(PrincipalMatch::Direct)
            }
            (PrincipalId::Arn(a), Caller::Iam(c)) => (a == c).then_some(PrincipalMatch::Direct),
            (PrincipalId::Account(a), Caller::Iam(_)) => {
                (caller.account() == Some(a.as_str())).then_some(PrincipalMatch::Account)
            }
            _ => None,
        };
        match matched {
            Some(PrincipalMatch::Direct) => return Some(PrincipalMatch::Direct),
            Some(PrincipalMatch::Account) => found = Some(PrincipalMatch::Account),
            None => {}
        }
    }
    found
}

/// The outcome of an evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// A `Deny` applied.
    ExplicitDeny,
    /// Nothing allowed it.
    ImplicitDeny,
}

/// A decision and how it was reached: the statements that applied, and,
/// when denied, why each `Allow` of the policies did not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The decision.
    pub decision: Decision,
    /// One line per statement considered.
    pub trace: Vec<String>,
}

impl Verdict {
    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        self.decision == Decision::Allow
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.decision)?;
        for line in &self.trace {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

/// What the statements of some policies say about a request.
#[derive(Default)]
struct Findings {
    deny: bool,
    allow_direct: bool,
    allow_account: bool,
    trace: Vec<String>,
}

fn examine(policies: &[&Policy], request: &Request) -> Findings {
    let mut findings = Findings::default();
    for policy in policies {
        for statement in &policy.statements {
            let label = format!("{} {} ({:?})", policy.name, statement.sid, statement.effect);
            match (statement.applies(request), statement.effect) {
                (Ok(_), Effect::Deny) => {
                    findings.deny = true;
                    findings.trace.push(format!("{label}: applies"));
                }
                (Ok(PrincipalMatch::Direct), Effect::Allow) => {
                    findings.allow_direct = true;
                    findings.trace.push(format!("{label}: applies"));
                }
                (Ok(PrincipalMatch::Account), Effect::Allow) => {
                    findings.allow_account = true;
                    findings
                        .trace
                        .push(format!("{label}: applies to the caller's account"));
                }
                (Err(why), Effect::Allow) => findings.trace.push(format!("{label}: {why}")),
                (Err(_), Effect::Deny) => {}
            }
        }
    }
    findings
}

/// Evaluates `request` against the caller's identity policies and the
/// resource's policy (if it has one), for any resource but a KMS key.
pub fn authorize(request: &Request, identity: &[&Policy], resource: Option<&Policy>) -> Verdict {
    let mine = examine(identity, request);
    let theirs = examine(resource.as_slice(), request);
    let mut trace = mine.trace;
    trace.extend(theirs.trace);
    let same_account = match (request.caller.account(), arn_account(&request.resource)) {
        (Some(caller), Some(owner)) => caller == owner,
        _ => true,
    };
    let is_iam = matches!(request.caller, Caller::Iam(_));
    let decision = if mine.deny || theirs.deny {
        Decision::ExplicitDeny
    } else if (theirs.allow_direct && (same_account || !is_iam))
        || (is_iam
            && mine.allow_direct
            && (same_account || theirs.allow_direct || theirs.allow_account))
    {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    };
    Verdict { decision, trace }
}

/// Evaluates `request` on a KMS key: the key policy must allow the caller
/// itself, or delegate to the caller's account whose identity policy then
/// allows.
pub fn authorize_kms(request: &Request, identity: &[&Policy], key_policy: &Policy) -> Verdict {
    let mine = examine(identity, request);
    let key = examine(&[key_policy], request);
    let mut trace = mine.trace;
    trace.extend(key.trace);
    let decision = if mine.deny || key.deny {
        Decision::ExplicitDeny
    } else if key.allow_direct || (key.allow_account && mine.allow_direct) {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    };
    Verdict { decision, trace }
}

#[cfg(test)]
mod tests;
