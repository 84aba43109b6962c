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

    /// Sets the principal to an AWS service (e.g. `events.amazonaws.com`).
    pub fn for_service(mut self, service: &str) -> Self {
        self.principal = Some(Principal {
            service: service.to_owned(),
        });
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

/// `Principal`: an AWS service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Principal {
    /// The service principal, e.g. `lambda.amazonaws.com`.
    pub service: String,
}
