use super::*;

fn prod_pinned() -> StageConfig {
    let mut config = StageConfig::for_stage(Stage::Prod);
    config.account = Some("123456789012".into());
    config.region = Some("eu-west-1".into());
    config
}

fn find<'a>(policy: &'a Policy, sid: &str) -> &'a Statement {
    policy
        .statements
        .iter()
        .find(|s| s.sid == sid)
        .unwrap_or_else(|| panic!("no statement {sid}"))
}

#[test]
fn a_pinned_stage_scopes_each_action_to_its_own_resources() {
    let policy = policy(Role::OnCall, &prod_pinned());
    assert_eq!(
        find(&policy, "ReadTheStack").resources,
        ["arn:aws:cloudformation:eu-west-1:123456789012:stack/cc-agent-reconciler-prod/*"]
    );
    assert_eq!(
        find(&policy, "ReadTheLedger").resources,
        [
            "arn:aws:dynamodb:eu-west-1:123456789012:table/cc-agent-reconciler-ledger_prod",
            "arn:aws:dynamodb:eu-west-1:123456789012:table/cc-agent-reconciler-ledger_prod/index/*"
        ]
    );
    assert_eq!(
        find(&policy, "PeekTheQueues").resources,
        [
            "arn:aws:sqs:eu-west-1:123456789012:cc-agent-reconciler-dlq-prod",
            "arn:aws:sqs:eu-west-1:123456789012:cc-agent-reconciler-unrouted-prod"
        ]
    );
    assert_eq!(
        find(&policy, "FunctionLogs").resources,
        [
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/cc-agent-reconciler-prod-handler:*",
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/cc-agent-reconciler-prod-sweep:*"
        ]
    );
    let rule = |name: &str| {
        format!(
            "arn:aws:events:eu-west-1:123456789012:rule/cc-agent-reconciler-prod/\
             cc-agent-reconciler-prod-{name}"
        )
    };
    assert_eq!(
        find(&policy, "BusRules").resources,
        [
            rule("ledger-events"),
            rule("unrouted-events"),
            rule("replay-credits-granted"),
            rule("replay-video-requested"),
            rule("replay-video-rendered"),
            rule("replay-video-failed"),
        ]
    );
    assert_eq!(
        find(&policy, "PlaceDiffTemplate").resources,
        [
            "arn:aws:s3:::cc-agent-reconciler-artifacts-123456789012-eu-west-1/templates/cc-agent-reconciler-prod/*"
        ]
    );
    // prod's key encrypts the queues and the table: decrypting through them only.
    let key = find(&policy, "StageKeyThroughServices");
    assert_eq!(key.actions, ["kms:Decrypt"]);
    assert_eq!(
        key.condition,
        Some(json!({"StringLike": {"kms:ViaService": [
            "sqs.eu-west-1.amazonaws.com", "dynamodb.eu-west-1.amazonaws.com"]}}))
    );
}

#[test]
fn an_unpinned_stage_leaves_account_and_region_open() {
    let policy = policy(Role::Deploy, &StageConfig::for_stage(Stage::Dev));
    assert_eq!(
        find(&policy, "TheStack").resources,
        [
            "arn:aws:cloudformation:*:*:stack/cc-agent-reconciler-dev/*",
            "arn:aws:cloudformation:*:*:changeSet/xtask-*/*"
        ]
    );
    assert_eq!(
        find(&policy, "ArtifactsBucket").resources,
        ["arn:aws:s3:::cc-agent-reconciler-artifacts-*-*"]
    );
}

/// `*` only for the actions that support no resource-level permission
/// (the Service Authorization Reference's empty "Resource types" column).
#[test]
fn only_actions_without_resource_level_permissions_get_a_star() {
    let unscoped = [
        "cloudformation:DescribeStackDriftDetectionStatus",
        "cloudformation:ListStacks",
        "cloudwatch:GetMetricStatistics",
        "lambda:GetAccountSettings",
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetTrailStatus",
    ];
    for role in [Role::OnCall, Role::Deploy] {
        for statement in policy(role, &prod_pinned()).statements {
            if statement.resources == ["*"] {
                assert!(
                    statement.actions.iter().all(|a| unscoped.contains(a)),
                    "{}: {:?}",
                    statement.sid,
                    statement.actions
                );
                assert!(
                    statement.why.contains("no resource-level"),
                    "{}",
                    statement.sid
                );
            }
        }
    }
}

#[test]
fn on_call_may_not_change_the_stage() {
    let policy = policy(Role::OnCall, &prod_pinned());
    let actions: Vec<&str> = policy
        .statements
        .iter()
        .flat_map(|s| s.actions.clone())
        .collect();
    for write in [
        "cloudformation:ExecuteChangeSet",
        "cloudformation:DeleteStack",
        "sqs:DeleteMessage",
        "dynamodb:PutItem",
        "lambda:InvokeFunction",
        "s3:CreateBucket",
    ] {
        assert!(!actions.contains(&write), "{write}");
    }
}

#[test]
fn dev_has_no_key_and_its_deploy_checks_no_subscribers_or_trails() {
    let dev = StageConfig::for_stage(Stage::Dev);
    let on_call = policy(Role::OnCall, &dev);
    assert!(
        on_call
            .statements
            .iter()
            .all(|s| s.sid != "StageKeyThroughServices")
    );
    let deploy = policy(Role::Deploy, &dev);
    assert!(
        deploy
            .statements
            .iter()
            .all(|s| s.sid != "AlertSubscribers" && s.sid != "Trails")
    );
    let staging = policy(Role::Deploy, &StageConfig::for_stage(Stage::Staging));
    assert_eq!(
        find(&staging, "AlertSubscribers").resources,
        ["arn:aws:sns:*:*:cc-agent-reconciler-ops-alerts-staging"]
    );
}

#[test]
fn the_document_is_an_iam_policy() {
    let document = policy(Role::OnCall, &prod_pinned()).to_json();
    assert_eq!(document["Version"], "2012-10-17");
    let first = &document["Statement"][0];
    assert_eq!(first["Sid"], "ReadTheStack");
    assert_eq!(first["Effect"], "Allow");
    assert_eq!(first["Action"][0], "cloudformation:DescribeStacks");
    assert!(first.get("Condition").is_none());
    let last = document["Statement"].as_array().unwrap().last().unwrap();
    assert_eq!(
        last["Condition"]["StringLike"]["kms:ViaService"][0],
        "sqs.eu-west-1.amazonaws.com"
    );
}
