//! The evaluator against examples written from AWS's documentation (the
//! evaluation-logic, Principal, Action/NotAction, Resource/NotResource and
//! KMS key-policy pages), not against the stack.

use serde_json::json;

use super::*;

const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
const ROLE: &str = "arn:aws:iam::123456789012:role/producer";
const OTHER_ACCOUNT_ROLE: &str = "arn:aws:iam::111122223333:role/producer";
const QUEUE: &str = "arn:aws:sqs:us-east-2:123456789012:queue1";
const KEY: &str = "arn:aws:kms:us-east-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn policy(name: &str, statements: serde_json::Value) -> Policy {
    Policy::parse(
        name,
        &json!({"Version": "2012-10-17", "Statement": statements}),
    )
    .unwrap()
}

fn iam(arn: &str, action: &str, resource: &str) -> Request {
    Request::new(Caller::Iam(arn.to_owned()), action, resource)
}

fn decision(request: &Request, identity: &[&Policy], resource: Option<&Policy>) -> Decision {
    authorize(request, identity, resource).decision
}

/// "Allow an IAM user to read from and write to an SQS queue" style
/// identity policy, and a queue policy naming the same principal.
fn allow_send(principal: Option<serde_json::Value>) -> Policy {
    let mut statement =
        json!({"Sid": "Send", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": QUEUE});
    if let Some(principal) = principal {
        statement["Principal"] = principal;
    }
    policy("p", json!([statement]))
}

/// Evaluation logic, within one account: the identity policy *or* the
/// resource policy suffices; neither is an implicit deny.
#[test]
fn within_an_account_an_identity_or_a_resource_allow_suffices() {
    let request = iam(ALICE, "sqs:SendMessage", QUEUE);
    let identity = allow_send(None);
    let resource = allow_send(Some(json!({"AWS": ALICE})));
    assert_eq!(decision(&request, &[&identity], None), Decision::Allow);
    assert_eq!(decision(&request, &[], Some(&resource)), Decision::Allow);
    assert_eq!(decision(&request, &[], None), Decision::ImplicitDeny);
    // Another action or resource: not covered.
    let other = iam(ALICE, "sqs:DeleteQueue", QUEUE);
    assert_eq!(
        decision(&other, &[&identity], Some(&resource)),
        Decision::ImplicitDeny
    );
    let other_queue = iam(
        ALICE,
        "sqs:SendMessage",
        "arn:aws:sqs:us-east-2:123456789012:queue2",
    );
    assert_eq!(
        decision(&other_queue, &[&identity], Some(&resource)),
        Decision::ImplicitDeny
    );
}

/// Evaluation logic, across accounts: both the identity policy and the
/// resource policy must allow.
#[test]
fn across_accounts_both_must_allow() {
    let request = iam(OTHER_ACCOUNT_ROLE, "sqs:SendMessage", QUEUE);
    let identity = allow_send(None);
    let resource = allow_send(Some(json!({"AWS": OTHER_ACCOUNT_ROLE})));
    let to_account = allow_send(Some(json!({"AWS": "111122223333"})));
    assert_eq!(
        decision(&request, &[&identity], None),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decision(&request, &[], Some(&resource)),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decision(&request, &[&identity], Some(&resource)),
        Decision::Allow
    );
    // Naming the account delegates to its identity policies.
    assert_eq!(
        decision(&request, &[&identity], Some(&to_account)),
        Decision::Allow
    );
    assert_eq!(
        decision(&request, &[], Some(&to_account)),
        Decision::ImplicitDeny
    );
}

/// "An explicit deny in any of these policies overrides the allow."
#[test]
fn an_explicit_deny_in_any_policy_wins() {
    let request = iam(ALICE, "sqs:SendMessage", QUEUE);
    let identity = allow_send(None);
    let deny_everyone = policy(
        "queue",
        json!([{"Sid": "No", "Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": QUEUE}]),
    );
    let verdict = authorize(&request, &[&identity], Some(&deny_everyone));
    assert_eq!(verdict.decision, Decision::ExplicitDeny);
    assert!(
        verdict.to_string().contains("queue No (Deny): applies"),
        "{verdict}"
    );
    let deny_in_identity = policy(
        "identity",
        json!([{"Effect": "Deny", "Action": "sqs:SendMessage", "Resource": "*"}]),
    );
    let resource = allow_send(Some(json!({"AWS": ALICE})));
    assert_eq!(
        decision(&request, &[&deny_in_identity], Some(&resource)),
        Decision::ExplicitDeny
    );
}

/// The SQS/SNS "deny requests without TLS" statement: `Bool
/// aws:SecureTransport "false"` with `Principal: "*"`.
#[test]
fn the_tls_deny_refuses_only_plain_requests() {
    let queue_policy = policy(
        "queue",
        json!([
            {"Sid": "Topic", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
             "Action": "sqs:SendMessage", "Resource": QUEUE,
             "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-2:123456789012:MyTopic"}}},
            {"Sid": "Tls", "Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": QUEUE,
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
        ]),
    );
    let from = |service: &str| {
        Request::new(Caller::Service(service.into()), "sqs:SendMessage", QUEUE).with(
            "aws:SourceArn",
            "arn:aws:sns:us-east-2:123456789012:MyTopic",
        )
    };
    let from_topic = from("sns.amazonaws.com");
    assert_eq!(
        decision(&from_topic, &[], Some(&queue_policy)),
        Decision::Allow
    );
    let plain = from_topic.clone().with("aws:SecureTransport", "false");
    assert_eq!(
        decision(&plain, &[], Some(&queue_policy)),
        Decision::ExplicitDeny
    );
    // The confused deputy: another topic, or no source at all.
    let other_topic = from_topic.clone().with(
        "aws:SourceArn",
        "arn:aws:sns:us-east-2:444455556666:MyTopic",
    );
    assert_eq!(
        decision(&other_topic, &[], Some(&queue_policy)),
        Decision::ImplicitDeny
    );
    let no_source = from_topic.clone().without("aws:SourceArn");
    assert_eq!(
        decision(&no_source, &[], Some(&queue_policy)),
        Decision::ImplicitDeny
    );
    // Another service principal is not named.
    assert_eq!(
        decision(&from("events.amazonaws.com"), &[], Some(&queue_policy)),
        Decision::ImplicitDeny
    );
}

/// The Action page: "The prefix and the action name are case insensitive";
/// wildcards; `NotAction` "Allow … NotAction iam:*" allows everything but
/// IAM.
#[test]
fn actions_match_case_insensitively_and_not_action_inverts() {
    let wildcard = policy(
        "p",
        json!([{"Effect": "Allow", "Action": "SQS:Send*", "Resource": "*"}]),
    );
    assert_eq!(
        decision(&iam(ALICE, "sqs:SendMessage", QUEUE), &[&wildcard], None),
        Decision::Allow
    );
    assert_eq!(
        decision(
            &iam(ALICE, "sqs:sendmessagebatch", QUEUE),
            &[&wildcard],
            None
        ),
        Decision::Allow
    );
    assert_eq!(
        decision(&iam(ALICE, "sqs:ReceiveMessage", QUEUE), &[&wildcard], None),
        Decision::ImplicitDeny
    );
    let not_iam = policy(
        "p",
        json!([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]),
    );
    assert_eq!(
        decision(&iam(ALICE, "sqs:SendMessage", QUEUE), &[&not_iam], None),
        Decision::Allow
    );
    assert_eq!(
        decision(
            &iam(
                ALICE,
                "iam:CreateUser",
                "arn:aws:iam::123456789012:user/bob"
            ),
            &[&not_iam],
            None
        ),
        Decision::ImplicitDeny
    );
}

/// The NotResource page: "Deny all actions on every resource but one".
#[test]
fn not_resource_covers_every_other_resource() {
    let only_queue1 = policy(
        "p",
        json!([
            {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "sqs:*", "NotResource": QUEUE}
        ]),
    );
    assert_eq!(
        decision(&iam(ALICE, "sqs:SendMessage", QUEUE), &[&only_queue1], None),
        Decision::Allow
    );
    let queue2 = "arn:aws:sqs:us-east-2:123456789012:queue2";
    assert_eq!(
        decision(
            &iam(ALICE, "sqs:SendMessage", queue2),
            &[&only_queue1],
            None
        ),
        Decision::ExplicitDeny
    );
}

/// The default key policy: the account statement "allows the account to
/// use IAM policies"; without it, or without the identity allow, nothing.
/// And a key policy that names a role allows it without an IAM policy.
#[test]
fn a_key_policy_must_allow_itself_or_delegate_to_the_account() {
    let root = json!({"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                      "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"});
    let delegating = policy("key", json!([root]));
    let role_can_decrypt = policy(
        "role",
        json!([{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY}]),
    );
    let request = iam(ROLE, "kms:Decrypt", KEY);
    assert_eq!(
        authorize_kms(&request, &[&role_can_decrypt], &delegating).decision,
        Decision::Allow
    );
    assert_eq!(
        authorize_kms(&request, &[], &delegating).decision,
        Decision::ImplicitDeny
    );
    // The KMS exception: an identity allow alone does nothing.
    let silent = policy(
        "key",
        json!([{"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Encrypt", "Resource": "*"}]),
    );
    assert_eq!(
        authorize_kms(&request, &[&role_can_decrypt], &silent).decision,
        Decision::ImplicitDeny
    );
    // The key policy naming the role allows it by itself.
    let naming = policy(
        "key",
        json!([{"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*"}]),
    );
    assert_eq!(
        authorize_kms(&request, &[], &naming).decision,
        Decision::Allow
    );
    // Another account's role: the root statement delegates to *this* account only.
    let theirs = iam(OTHER_ACCOUNT_ROLE, "kms:Decrypt", KEY);
    assert_eq!(
        authorize_kms(&theirs, &[&role_can_decrypt], &delegating).decision,
        Decision::ImplicitDeny
    );
    // A service principal is allowed only by the key policy itself.
    let service = Request::new(
        Caller::Service("logs.us-east-2.amazonaws.com".into()),
        "kms:Decrypt",
        KEY,
    );
    assert_eq!(
        authorize_kms(&service, &[], &delegating).decision,
        Decision::ImplicitDeny
    );
}

/// The KMS condition-keys page: `kms:ViaService` limits a key to requests
/// an AWS service makes on the principal's behalf.
#[test]
fn kms_via_service_limits_the_key_to_one_service() {
    let key = policy(
        "key",
        json!([{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "kms:*", "Resource": "*"}]),
    );
    let role = policy(
        "role",
        json!([{"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": KEY,
                "Condition": {"StringEquals": {"kms:ViaService": "sqs.us-east-2.amazonaws.com"}}}]),
    );
    let via_sqs =
        iam(ROLE, "kms:GenerateDataKey", KEY).with("kms:ViaService", "sqs.us-east-2.amazonaws.com");
    assert_eq!(
        authorize_kms(&via_sqs, &[&role], &key).decision,
        Decision::Allow
    );
    let direct = iam(ROLE, "kms:GenerateDataKey", KEY);
    let verdict = authorize_kms(&direct, &[&role], &key);
    assert_eq!(verdict.decision, Decision::ImplicitDeny);
    assert!(verdict.to_string().contains("kms:ViaService"), "{verdict}");
    let via_s3 = direct.with("kms:ViaService", "s3.us-east-2.amazonaws.com");
    assert_eq!(
        authorize_kms(&via_s3, &[&role], &key).decision,
        Decision::ImplicitDeny
    );
}

/// An `ArnNotLike` on `aws:PrincipalArn` with a `Null` guard: the shape of
/// the bus policy's producer statements.
#[test]
fn a_deny_for_everyone_but_named_principals() {
    let bus = "arn:aws:events:us-east-2:123456789012:event-bus/b";
    let deny_others = policy(
        "bus",
        json!([{"Sid": "Others", "Effect": "Deny", "Principal": "*", "Action": "events:PutEvents", "Resource": bus,
                "Condition": {"StringEquals": {"events:detail-type": "credits.granted"},
                              "ArnNotLike": {"aws:PrincipalArn": [ROLE]},
                              "Null": {"aws:PrincipalArn": "false"}}}]),
    );
    let may_put = policy(
        "identity",
        json!([{"Effect": "Allow", "Action": "events:PutEvents", "Resource": bus}]),
    );
    let put = |caller: &str, detail_type: &str| {
        iam(caller, "events:PutEvents", bus).with("events:detail-type", detail_type)
    };
    assert_eq!(
        decision(
            &put(ROLE, "credits.granted"),
            &[&may_put],
            Some(&deny_others)
        ),
        Decision::Allow
    );
    assert_eq!(
        decision(
            &put(ALICE, "credits.granted"),
            &[&may_put],
            Some(&deny_others)
        ),
        Decision::ExplicitDeny
    );
    assert_eq!(
        decision(&put(ALICE, "video.failed"), &[&may_put], Some(&deny_others)),
        Decision::Allow
    );
}

#[test]
fn unmodelled_elements_are_refused_naming_the_policy() {
    let not_principal = Policy::parse(
        "bucket",
        &json!({"Statement": [{"Effect": "Deny", "NotPrincipal": {"AWS": ALICE}, "Action": "*", "Resource": "*"}]}),
    );
    assert!(
        not_principal
            .unwrap_err()
            .to_string()
            .starts_with("bucket: statement #0: NotPrincipal")
    );
    let numeric = Policy::parse(
        "p",
        &json!({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                              "Condition": {"NumericLessThan": {"s3:max-keys": "10"}}}}),
    );
    assert!(numeric.unwrap_err().0.contains("NumericLessThan"));
    let federated = Policy::parse(
        "trust",
        &json!({"Statement": {"Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"},
                              "Action": "sts:AssumeRoleWithWebIdentity"}}),
    );
    assert!(federated.unwrap_err().0.contains("Federated"));
}
