//! The two wildcards of IAM policies, `*` (any run of characters, none
//! included) and `?` (exactly one), as IAM's documentation uses them:
//!
//! - in `Action`, the service prefix and the action name are
//!   case-insensitive ("The prefix and the action name are case
//!   insensitive");
//! - in `Resource` and the `Arn*` condition operators, an ARN is compared
//!   component by component ("Each of the six colon-delimited components of
//!   the ARN is checked separately and each can include multi-character
//!   match wildcards (*) or single-character match wildcards (?)"),
//!   case-sensitively; the last component, the resource, keeps its own
//!   colons and slashes;
//! - in `StringLike`, the whole value, case-sensitively.
//!
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html>,
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html>,
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>

/// Whether `value` matches `pattern`, where `*` matches any run of
/// characters and `?` exactly one.
pub(super) fn glob(pattern: &str, value: &str) -> bool {
    let (pattern, value): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), value.chars().collect());
    // Classic two-pointer match with backtracking to the last `*`.
    let (mut p, mut v) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, v));
                p += 1;
            }
            Some(&c) if c == '?' || c == value[v] => {
                p += 1;
                v += 1;
            }
            _ => match star {
                Some((star_p, star_v)) => {
                    p = star_p + 1;
                    v = star_v + 1;
                    star = Some((star_p, star_v + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// [`glob`], ignoring ASCII case (actions).
pub(super) fn glob_ignore_case(pattern: &str, value: &str) -> bool {
    glob(&pattern.to_ascii_lowercase(), &value.to_ascii_lowercase())
}

/// Whether the ARN `value` matches the ARN pattern `pattern`, component by
/// component. A pattern of `*` alone matches everything; otherwise both must
/// have the six components (`arn`, partition, service, region, account,
/// resource).
pub(super) fn arn_like(pattern: &str, value: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match (components(pattern), components(value)) {
        (Some(pattern), Some(value)) => pattern.iter().zip(&value).all(|(p, v)| glob(p, v)),
        _ => false,
    }
}

/// The six components of an ARN; the sixth keeps any further colons.
fn components(arn: &str) -> Option<Vec<&str>> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    (parts.len() == 6).then_some(parts)
}

/// The account of an ARN (its fifth component), if it has one.
pub(super) fn arn_account(arn: &str) -> Option<&str> {
    components(arn)
        .map(|parts| parts[4])
        .filter(|account| !account.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_any_run_and_question_mark_one_character() {
        assert!(glob("*", ""));
        assert!(glob("a*", "a"));
        assert!(glob("a*c", "abbbc"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(!glob("a*c", "abd"));
        assert!(glob("*AccessKey*", "iam:CreateAccessKey"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("abc", "abcd"));
        // Case-sensitive unless asked.
        assert!(!glob("Decrypt", "decrypt"));
        assert!(glob_ignore_case(
            "kms:GenerateDataKey*",
            "KMS:generatedatakeywithoutplaintext"
        ));
    }

    /// The IAM guide's Resource examples: wildcards within a component.
    #[test]
    fn arns_match_component_by_component() {
        let queue = "arn:aws:sqs:us-east-1:123456789012:cc-agent-reconciler-dlq-prod";
        assert!(arn_like("*", queue));
        assert!(arn_like(
            "arn:aws:sqs:*:123456789012:cc-agent-reconciler-*",
            queue
        ));
        assert!(arn_like("arn:aws:sqs:us-east-?:123456789012:*", queue));
        assert!(!arn_like("arn:aws:sqs:*:111122223333:*", queue));
        // The resource keeps its colons: a log group's ARN.
        let group = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/f:*";
        assert!(arn_like(
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/f:*",
            group
        ));
        assert!(arn_like("arn:aws:logs:*:*:log-group:*", group));
        // A `*` of one component does not reach into the next.
        assert!(!arn_like(
            "arn:aws:*:123456789012:x",
            "arn:aws:sqs:us-east-1:123456789012:x"
        ));
        // Case-sensitive (ArnLike: "Case-sensitive matching of the ARN").
        assert!(!arn_like(
            "arn:aws:sqs:us-east-1:123456789012:Queue",
            "arn:aws:sqs:us-east-1:123456789012:queue"
        ));
        assert!(!arn_like(
            "arn:aws:sqs:us-east-1:123456789012:q",
            "not an arn"
        ));
        assert_eq!(arn_account(queue), Some("123456789012"));
        assert_eq!(arn_account("arn:aws:s3:::bucket"), None);
    }
}
