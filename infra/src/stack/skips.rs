//! The checkov skips shared by every stage, and those of a stage without the
//! customer managed key (AWS managed or owned keys instead). Each is a
//! `(check id, reason)` pair, added to a resource's metadata.

use crate::model::Resource;

pub(super) const LAMBDA_DLQ: (&str, &str) = (
    "CKV_AWS_116",
    "Failed asynchronous invocations go to the SQS dead-letter queue through the \
     AWS::Lambda::EventInvokeConfig on-failure destination, which supersedes a function \
     DeadLetterConfig.",
);
pub(super) const LAMBDA_VPC: (&str, &str) = (
    "CKV_AWS_117",
    "No VPC needed: the function only calls the public DynamoDB and SSM endpoints and \
     reaches no private resource.",
);
pub(super) const LAMBDA_ENV_KEY: (&str, &str) = (
    "CKV_AWS_173",
    "No secret is in an environment variable (the summarizer key is read from SSM at run \
     time); Lambda encrypts the variables at rest with its AWS managed key.",
);
pub(super) const LAMBDA_CONCURRENCY: (&str, &str) = (
    "CKV_AWS_115",
    "Reserved concurrency is deliberately unset on this stage (a small account pool cannot \
     reserve any, see the stage file); the throttles alarm covers runaway concurrency.",
);
pub(super) const TABLE_KEY: (&str, &str) = (
    "CKV_AWS_119",
    "This stage has no customer managed key (customer_managed_key = false in its stage \
     file): the table is encrypted at rest with the AWS managed DynamoDB key.",
);
pub(super) const QUEUE_KEY: (&str, &str) = (
    "CKV_AWS_27",
    "This stage has no customer managed key: the queue is encrypted at rest with SQS \
     managed SSE (SqsManagedSseEnabled), which checkov does not recognise.",
);
pub(super) const LOG_GROUP_KEY: (&str, &str) = (
    "CKV_AWS_158",
    "This stage has no customer managed key: CloudWatch Logs encrypts the log data at rest \
     with its own keys.",
);
pub(super) const TOPIC_KEY: (&str, &str) = (
    "CKV_AWS_26",
    "This stage has no customer managed key, and CloudWatch alarms cannot publish to a \
     topic under the AWS managed SNS key: the topic stays unencrypted (alarm messages \
     carry no customer data).",
);

/// `resource` with the checkov skip `skip` when `applies`.
pub(super) fn skip_if(
    resource: Resource,
    applies: bool,
    skip: (&'static str, &'static str),
) -> Resource {
    if applies {
        resource.with_checkov_skip(skip.0, skip.1)
    } else {
        resource
    }
}
