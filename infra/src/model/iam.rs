//! `AWS::IAM::Role` and IAM policy documents.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Expr;

/// `AWS::IAM::Role` with inline policies. No `RoleName`: the generated name
/// derives from the stack name, so `CAPABILITY_IAM` suffices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    /// What the role is for.
    pub description: String,
    /// Who may assume the role.
    pub assume_role_policy_document: PolicyDocument,
    /// Inline policies.
    pub policies: Vec<Policy>,
}

/// An inline policy of a role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    /// Unique within the role.
    pub policy_name: String,
    /// The policy.
    pub policy_document: PolicyDocument,
}

/// An IAM policy document (identity, trust or resource policy).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    /// Always `2012-10-17`.
    pub version: &'static str,
    /// The statements.
    pub statement: Vec<Statement>,
}

impl PolicyDocument {
    /// A policy document of the current language version.
    pub fn new(statement: Vec<Statement>) -> Self {
        Self {
            version: "2012-10-17",
            statement,
        }
    }
}

/// A policy statement. Conditions map an operator (e.g. `ArnEquals`) to
/// condition keys and their values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    /// Statement id.
    pub sid: String,
    /// Allow or deny.
    pub effect: Effect,
    /// Who (resource and trust policies only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    /// The actions, e.g. `dynamodb:GetItem`.
    pub action: Vec<String>,
    /// The resources' ARNs (absent in trust policies).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<Expr>,
    /// Conditions: operator → key → values.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub condition: BTreeMap<String, BTreeMap<String, Vec<Expr>>>,
}

impl Statement {
    /// `Allow` of `actions` on `resources`, without principal or condition.
    pub fn allow(sid: &str, actions: &[&str], resources: Vec<Expr>) -> Self {
        Self {
            sid: sid.to_owned(),
            effect: Effect::Allow,
            principal: None,
            action: actions.iter().map(|action| (*action).to_owned()).collect(),
            resource: resources,
            condition: BTreeMap::new(),
        }
    }

    /// `Deny` of `actions` on `resources`, to everyone (`Principal: "*"`).
    pub fn deny_all(sid: &str, actions: &[&str], resources: Vec<Expr>) -> Self {
        Self {
            effect: Effect::Deny,
            principal: Some(Principal::Everyone),
            ..Self::allow(sid, actions, resources)
        }
    }

    /// Sets the principal to an AWS service (e.g. `events.amazonaws.com`).
    pub fn for_service(self, service: &str) -> Self {
        self.for_principal(Principal::Service(Expr::lit(service)))
    }

    /// Sets the principal.
    pub fn for_principal(mut self, principal: Principal) -> Self {
        self.principal = Some(principal);
        self
    }

    /// Adds the condition `operator: {key: values}`.
    pub fn with_condition(mut self, operator: &str, key: &str, values: Vec<Expr>) -> Self {
        self.condition
            .entry(operator.to_owned())
            .or_default()
            .insert(key.to_owned(), values);
        self
    }
}

/// `Effect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Effect {
    /// Allow.
    Allow,
    /// Deny.
    Deny,
}

/// `Principal`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// `{"Service": ...}`: an AWS service, e.g. `lambda.amazonaws.com`.
    Service(Expr),
    /// `{"AWS": ...}`: an account or IAM principal ARN.
    Aws(Expr),
    /// `"*"`: everyone (only in `Deny` statements here).
    Everyone,
}

impl Serialize for Principal {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (key, value) = match self {
            Self::Service(service) => ("Service", service),
            Self::Aws(principal) => ("AWS", principal),
            Self::Everyone => return serializer.serialize_str("*"),
        };
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(key, value)?;
        map.end()
    }
}
