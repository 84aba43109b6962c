//! The `Condition` element: operators, the missing-key rule, `…IfExists`,
//! and the set qualifiers `ForAnyValue:` / `ForAllValues:`.
//!
//! What IAM documents, and this implements:
//! - all operators of a block and all keys of an operator must hold (AND);
//!   several values for one key: any of them (OR)
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html>);
//! - condition key *names* are case-insensitive, values compare as the
//!   operator says;
//! - "If the key that you specify in a policy condition is not present in
//!   the request context, the values do not match and the condition is
//!   false. If the policy condition requires that the key is not matched,
//!   such as StringNotLike or ArnNotLike, and the right key is not present,
//!   the condition is true. This logic applies to all condition operators
//!   except …IfExists and Null check." `…IfExists`: "If the key is not
//!   present, evaluate the condition element as true." `Null`: `true` holds
//!   when the key is absent, `false` when present
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>);
//! - `ForAllValues:` holds for an empty or missing key, `ForAnyValue:` does
//!   not (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html>).
//!
//! Any other operator is refused when the policy is read, so a template
//! that starts using one makes the evaluator's tests fail until it is
//! modelled.

use std::collections::BTreeMap;

use super::wildcard::{arn_like, glob};

/// How an operator compares one request value with one policy value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Comparison {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    ArnLike,
    Bool,
}

/// A parsed operator: `[ForAnyValue:|ForAllValues:]<base>[IfExists]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Operator {
    /// As written, for explanations.
    name: String,
    kind: OperatorKind,
    if_exists: bool,
    set: Option<SetQualifier>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OperatorKind {
    /// Compares values; `negated`: the `…Not…` form.
    Compare {
        comparison: Comparison,
        negated: bool,
    },
    /// `Null`.
    Null,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetQualifier {
    AnyValue,
    AllValues,
}

impl Operator {
    /// Reads an operator name.
    ///
    /// # Errors
    /// An operator this evaluator does not model.
    pub(super) fn parse(name: &str) -> Result<Operator, String> {
        let (set, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::AnyValue), rest)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::AllValues), rest)
        } else {
            (None, name)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        let compare = |comparison, negated| OperatorKind::Compare {
            comparison,
            negated,
        };
        let kind = match base {
            "StringEquals" => compare(Comparison::StringEquals, false),
            "StringNotEquals" => compare(Comparison::StringEquals, true),
            "StringEqualsIgnoreCase" => compare(Comparison::StringEqualsIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => compare(Comparison::StringEqualsIgnoreCase, true),
            "StringLike" => compare(Comparison::StringLike, false),
            "StringNotLike" => compare(Comparison::StringLike, true),
            // "ArnEquals and ArnLike behave identically", as do their negations.
            "ArnEquals" | "ArnLike" => compare(Comparison::ArnLike, false),
            "ArnNotEquals" | "ArnNotLike" => compare(Comparison::ArnLike, true),
            "Bool" => compare(Comparison::Bool, false),
            "Null" if !if_exists && set.is_none() => OperatorKind::Null,
            _ => return Err(format!("condition operator {name} is not modelled")),
        };
        Ok(Operator {
            name: name.to_owned(),
            kind,
            if_exists,
            set,
        })
    }

    /// Whether the condition `self: {key: policy_values}` holds for the
    /// request's `context` (keys lower-cased).
    pub(super) fn holds(
        &self,
        key: &str,
        policy_values: &[String],
        context: &BTreeMap<String, Vec<String>>,
    ) -> bool {
        let present = context.get(&key.to_ascii_lowercase());
        let (comparison, negated) = match self.kind {
            OperatorKind::Null => {
                let absent = present.is_none_or(Vec::is_empty);
                return policy_values
                    .iter()
                    .any(|v| v.eq_ignore_ascii_case(if absent { "true" } else { "false" }));
            }
            OperatorKind::Compare {
                comparison,
                negated,
            } => (comparison, negated),
        };
        // One request value against the policy's values: any matches
        // (positive operators), none matches (negated ones).
        let one = |value: &String| {
            let any = policy_values.iter().any(|p| compare(comparison, p, value));
            any != negated
        };
        let values = match present {
            Some(values) if !values.is_empty() => values,
            _ => {
                return match self.set {
                    Some(SetQualifier::AllValues) => true,
                    Some(SetQualifier::AnyValue) => false,
                    None => self.if_exists || negated,
                };
            }
        };
        match self.set {
            Some(SetQualifier::AllValues) => values.iter().all(one),
            Some(SetQualifier::AnyValue) | None => values.iter().any(one),
        }
    }

    /// The operator as written.
    pub(super) fn name(&self) -> &str {
        &self.name
    }
}

fn compare(comparison: Comparison, policy: &str, value: &str) -> bool {
    match comparison {
        Comparison::StringEquals => policy == value,
        Comparison::StringEqualsIgnoreCase => policy.eq_ignore_ascii_case(value),
        Comparison::StringLike => glob(policy, value),
        Comparison::ArnLike => arn_like(policy, value),
        Comparison::Bool => policy.eq_ignore_ascii_case(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    v.iter().map(|s| (*s).to_owned()).collect(),
                )
            })
            .collect()
    }

    fn holds(
        operator: &str,
        key: &str,
        values: &[&str],
        ctx: &BTreeMap<String, Vec<String>>,
    ) -> bool {
        let values: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        Operator::parse(operator).unwrap().holds(key, &values, ctx)
    }

    /// The condition-operators page's missing-key rule, operator by
    /// operator: positive operators are false without the key, negated
    /// ones true, `…IfExists` true, `Null` says whether it is there.
    #[test]
    fn a_missing_key_follows_the_documented_rule() {
        let empty = context(&[]);
        for (operator, expected) in [
            ("StringEquals", false),
            ("StringLike", false),
            ("ArnEquals", false),
            ("ArnLike", false),
            ("Bool", false),
            ("StringNotEquals", true),
            ("StringNotLike", true),
            ("ArnNotEquals", true),
            ("ArnNotLike", true),
            ("StringEqualsIfExists", true),
            ("ArnLikeIfExists", true),
            ("BoolIfExists", true),
            ("StringNotEqualsIfExists", true),
        ] {
            assert_eq!(
                holds(operator, "aws:SourceArn", &["x"], &empty),
                expected,
                "{operator}"
            );
        }
        assert!(holds("Null", "aws:PrincipalArn", &["true"], &empty));
        assert!(!holds("Null", "aws:PrincipalArn", &["false"], &empty));
        let with = context(&[("aws:PrincipalArn", &["arn:aws:iam::1:role/r"])]);
        assert!(holds("Null", "aws:PrincipalArn", &["false"], &with));
        assert!(!holds("Null", "aws:PrincipalArn", &["true"], &with));
    }

    /// The page's `StringEquals` example: `aws:PrincipalTag/job-category`
    /// equal to `iamuser-admin`; exact and case-sensitive, key name not.
    #[test]
    fn string_operators_compare_as_documented() {
        let ctx = context(&[("aws:PrincipalTag/job-category", &["iamuser-admin"])]);
        assert!(holds(
            "StringEquals",
            "aws:principaltag/job-category",
            &["iamuser-admin"],
            &ctx
        ));
        assert!(!holds(
            "StringEquals",
            "aws:PrincipalTag/job-category",
            &["IAMUser-Admin"],
            &ctx
        ));
        assert!(holds(
            "StringEqualsIgnoreCase",
            "aws:PrincipalTag/job-category",
            &["IAMUser-Admin"],
            &ctx
        ));
        // Any of several values.
        assert!(holds(
            "StringEquals",
            "aws:PrincipalTag/job-category",
            &["a", "iamuser-admin"],
            &ctx
        ));
        assert!(!holds(
            "StringNotEquals",
            "aws:PrincipalTag/job-category",
            &["a", "iamuser-admin"],
            &ctx
        ));
        assert!(holds(
            "StringNotEquals",
            "aws:PrincipalTag/job-category",
            &["a", "b"],
            &ctx
        ));
        // StringLike: "home/${aws:username}/*"-style patterns, resolved.
        let ctx = context(&[("s3:prefix", &["home/alice/photos"])]);
        assert!(holds("StringLike", "s3:prefix", &["home/alice/*"], &ctx));
        assert!(!holds("StringLike", "s3:prefix", &["home/bob/*"], &ctx));
        assert!(holds("StringNotLike", "s3:prefix", &["home/bob/*"], &ctx));
    }

    /// The page's `ArnLike` example: `aws:SourceArn` of an SNS topic for an
    /// SQS queue policy; `ArnEquals` behaves identically.
    #[test]
    fn arn_operators_compare_component_by_component() {
        let ctx = context(&[(
            "aws:SourceArn",
            &["arn:aws:sns:REGION:123456789012:TOPIC-ID"],
        )]);
        for operator in ["ArnLike", "ArnEquals"] {
            assert!(holds(
                operator,
                "aws:SourceArn",
                &["arn:aws:sns:REGION:123456789012:TOPIC-ID"],
                &ctx
            ));
            assert!(holds(
                operator,
                "aws:SourceArn",
                &["arn:aws:sns:*:123456789012:*"],
                &ctx
            ));
            assert!(!holds(
                operator,
                "aws:SourceArn",
                &["arn:aws:sns:*:111122223333:*"],
                &ctx
            ));
        }
        assert!(holds(
            "ArnNotLike",
            "aws:SourceArn",
            &["arn:aws:sns:*:111122223333:*"],
            &ctx
        ));
        assert!(!holds(
            "ArnNotLike",
            "aws:SourceArn",
            &["arn:aws:sns:*:123456789012:*"],
            &ctx
        ));
    }

    /// The page's `Bool` example: `aws:SecureTransport` `"false"` denies
    /// requests without TLS.
    #[test]
    fn bool_compares_true_and_false() {
        let tls = context(&[("aws:SecureTransport", &["true"])]);
        let plain = context(&[("aws:SecureTransport", &["false"])]);
        assert!(!holds("Bool", "aws:SecureTransport", &["false"], &tls));
        assert!(holds("Bool", "aws:SecureTransport", &["false"], &plain));
    }

    /// The multi-valued keys page: `ForAllValues` holds for an empty set,
    /// `ForAnyValue` does not; otherwise all / any request value matches.
    #[test]
    fn set_qualifiers_follow_the_multi_valued_keys_page() {
        let empty = context(&[]);
        assert!(holds(
            "ForAllValues:StringEquals",
            "aws:TagKeys",
            &["a"],
            &empty
        ));
        assert!(!holds(
            "ForAnyValue:StringEquals",
            "aws:TagKeys",
            &["a"],
            &empty
        ));
        let tags = context(&[("aws:TagKeys", &["environment", "cost-center"])]);
        assert!(holds(
            "ForAllValues:StringEquals",
            "aws:TagKeys",
            &["environment", "cost-center", "x"],
            &tags
        ));
        assert!(!holds(
            "ForAllValues:StringEquals",
            "aws:TagKeys",
            &["environment"],
            &tags
        ));
        assert!(holds(
            "ForAnyValue:StringEquals",
            "aws:TagKeys",
            &["environment"],
            &tags
        ));
        assert!(!holds(
            "ForAnyValue:StringEquals",
            "aws:TagKeys",
            &["owner"],
            &tags
        ));
    }

    #[test]
    fn operators_that_are_not_modelled_are_refused() {
        for name in [
            "NumericLessThan",
            "DateGreaterThan",
            "IpAddress",
            "NullIfExists",
            "ForAnyValue:Null",
        ] {
            let error = Operator::parse(name).unwrap_err();
            assert!(error.contains(name), "{error}");
        }
        assert_eq!(
            Operator::parse("ArnNotLikeIfExists").unwrap().name(),
            "ArnNotLikeIfExists"
        );
    }
}
