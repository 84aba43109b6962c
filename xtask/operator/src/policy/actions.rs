//! Which IAM action authorizes an SDK request: the operator's requests, by
//! (service, operation) as the SDK names them (the operation's metadata), to
//! the action a policy must allow. Most are `<prefix>:<Operation>`; the
//! exceptions are why this is a table, each row from the service's page of
//! the AWS Service Authorization Reference
//! (<https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html>):
//!
//! - S3 (<https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html>):
//!   `ListObjectsV2` and `HeadBucket` are `s3:ListBucket`; `HeadObject` is
//!   `s3:GetObject`; `GetBucketEncryption`/`PutBucketEncryption` are
//!   `s3:Get/PutEncryptionConfiguration`; `Get/PutPublicAccessBlock` (on a
//!   bucket) are `s3:Get/PutBucketPublicAccessBlock`.
//! - SQS (<https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsqs.html>):
//!   a `…Batch` operation is its single action (`ChangeMessageVisibilityBatch`
//!   is `sqs:ChangeMessageVisibility`, `DeleteMessageBatch` is
//!   `sqs:DeleteMessage`).
//! - Lambda (<https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html>):
//!   `Invoke` is `lambda:InvokeFunction`.
//! - STS (<https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html>):
//!   "No permissions are required to perform this operation": `None`.
//! - CloudFormation (<https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudformation.html>),
//!   CloudWatch (`cloudwatch:`, <https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html>),
//!   CloudWatch Logs (`logs:`, <https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html>),
//!   DynamoDB (<https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html>),
//!   SNS (<https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsns.html>),
//!   CloudTrail (<https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudtrail.html>):
//!   the operation's own name.

/// The IAM service prefix of an SDK service name (the operation metadata's
/// `service`), or `None` for a service the operator does not use.
fn prefix(service: &str) -> Option<&'static str> {
    Some(match service {
        "CloudFormation" => "cloudformation",
        "CloudWatch" => "cloudwatch",
        "CloudWatch Logs" => "logs",
        "CloudTrail" => "cloudtrail",
        "DynamoDB" => "dynamodb",
        "EventBridge" => "events",
        "Lambda" => "lambda",
        "S3" => "s3",
        "SNS" => "sns",
        "SQS" => "sqs",
        "STS" => "sts",
        _ => return None,
    })
}

/// The operations whose action is not `<prefix>:<operation>`: (service,
/// operation, action), `None` for a request no permission governs.
const EXCEPTIONS: &[(&str, &str, Option<&str>)] = &[
    ("S3", "ListObjectsV2", Some("s3:ListBucket")),
    ("S3", "HeadBucket", Some("s3:ListBucket")),
    ("S3", "HeadObject", Some("s3:GetObject")),
    (
        "S3",
        "GetBucketEncryption",
        Some("s3:GetEncryptionConfiguration"),
    ),
    (
        "S3",
        "PutBucketEncryption",
        Some("s3:PutEncryptionConfiguration"),
    ),
    (
        "S3",
        "GetPublicAccessBlock",
        Some("s3:GetBucketPublicAccessBlock"),
    ),
    (
        "S3",
        "PutPublicAccessBlock",
        Some("s3:PutBucketPublicAccessBlock"),
    ),
    (
        "SQS",
        "ChangeMessageVisibilityBatch",
        Some("sqs:ChangeMessageVisibility"),
    ),
    ("SQS", "DeleteMessageBatch", Some("sqs:DeleteMessage")),
    ("SQS", "SendMessageBatch", Some("sqs:SendMessage")),
    ("Lambda", "Invoke", Some("lambda:InvokeFunction")),
    ("STS", "GetCallerIdentity", None),
];

/// The IAM action that authorizes `operation` of `service` (as the SDK names
/// them): `Some(None)` when no permission is needed, `None` for a service
/// this table does not know.
pub fn action(service: &str, operation: &str) -> Option<Option<String>> {
    if let Some((_, _, action)) = EXCEPTIONS
        .iter()
        .find(|(s, o, _)| *s == service && *o == operation)
    {
        return Some(action.map(str::to_owned));
    }
    prefix(service).map(|p| Some(format!("{p}:{operation}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows written from the Service Authorization Reference pages above.
    #[test]
    fn each_request_maps_to_the_action_the_reference_names() {
        let rows = [
            ("Lambda", "Invoke", Some("lambda:InvokeFunction")),
            (
                "Lambda",
                "GetFunctionConfiguration",
                Some("lambda:GetFunctionConfiguration"),
            ),
            ("S3", "ListObjectsV2", Some("s3:ListBucket")),
            ("S3", "HeadObject", Some("s3:GetObject")),
            ("S3", "HeadBucket", Some("s3:ListBucket")),
            ("S3", "GetObject", Some("s3:GetObject")),
            ("S3", "PutObject", Some("s3:PutObject")),
            (
                "S3",
                "GetBucketEncryption",
                Some("s3:GetEncryptionConfiguration"),
            ),
            (
                "S3",
                "PutPublicAccessBlock",
                Some("s3:PutBucketPublicAccessBlock"),
            ),
            ("S3", "GetBucketVersioning", Some("s3:GetBucketVersioning")),
            (
                "CloudWatch",
                "DescribeAlarms",
                Some("cloudwatch:DescribeAlarms"),
            ),
            (
                "CloudWatch Logs",
                "FilterLogEvents",
                Some("logs:FilterLogEvents"),
            ),
            (
                "SQS",
                "ChangeMessageVisibilityBatch",
                Some("sqs:ChangeMessageVisibility"),
            ),
            ("SQS", "ReceiveMessage", Some("sqs:ReceiveMessage")),
            ("DynamoDB", "BatchGetItem", Some("dynamodb:BatchGetItem")),
            (
                "CloudFormation",
                "CreateChangeSet",
                Some("cloudformation:CreateChangeSet"),
            ),
            (
                "CloudTrail",
                "DescribeTrails",
                Some("cloudtrail:DescribeTrails"),
            ),
            ("EventBridge", "PutEvents", Some("events:PutEvents")),
            ("STS", "GetCallerIdentity", None),
        ];
        for (service, operation, expected) in rows {
            assert_eq!(
                action(service, operation),
                Some(expected.map(str::to_owned)),
                "{service} {operation}"
            );
        }
    }

    #[test]
    fn an_unknown_service_has_no_action_rather_than_a_guess() {
        assert_eq!(action("Kinesis", "PutRecord"), None);
    }
}
