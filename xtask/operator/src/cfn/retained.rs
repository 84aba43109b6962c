//! What deleted stacks left behind: the resources CloudFormation skipped
//! when it deleted a stack of a given name (`DELETE_SKIPPED`: their
//! `DeletionPolicy` retained them), from its own records. CloudFormation
//! keeps a deleted stack's resources listable by the stack's id for 90 days
//! (`ListStackResources`: "For deleted stacks, ListStackResources returns
//! resource information for up to 90 days after the stack has been
//! deleted").

use std::collections::BTreeSet;

use aws_sdk_cloudformation::types::{ResourceStatus, StackStatus};

use crate::aws::{Clients, sdk_error};

/// A resource a deleted stack left behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Left {
    /// Its logical id in the deleted stack.
    pub logical_id: String,
    /// Its type.
    pub resource_type: String,
    /// Its physical id (a table's name, a queue's URL, a key's id, …).
    pub physical_id: String,
    /// The deleted stack's id.
    pub stack_id: String,
}

/// The resources left behind by deleted stacks named `stack`, the most
/// recent deletion first; a logical id is reported once, from the latest
/// stack that left it.
///
/// # Errors
/// CloudFormation refused to list the stacks or their resources.
pub async fn left_behind(clients: &Clients, stack: &str) -> anyhow::Result<Vec<Left>> {
    let mut deleted = Vec::new();
    let mut pages = clients
        .cfn
        .list_stacks()
        .stack_status_filter(StackStatus::DeleteComplete)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| anyhow::anyhow!("list deleted stacks: {}", sdk_error(&e)))?;
        for summary in page.stack_summaries() {
            if summary.stack_name() == Some(stack)
                && let Some(id) = summary.stack_id()
            {
                let when = summary.deletion_time().map_or(0.0, |t| t.as_secs_f64());
                deleted.push((when, id.to_owned()));
            }
        }
    }
    deleted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut seen = BTreeSet::new();
    let mut left = Vec::new();
    for (_, stack_id) in deleted {
        for resource in skipped(clients, &stack_id).await? {
            if seen.insert(resource.logical_id.clone()) {
                left.push(resource);
            }
        }
    }
    Ok(left)
}

/// The `DELETE_SKIPPED` resources of one deleted stack.
async fn skipped(clients: &Clients, stack_id: &str) -> anyhow::Result<Vec<Left>> {
    let mut pages = clients
        .cfn
        .list_stack_resources()
        .stack_name(stack_id)
        .into_paginator()
        .send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            anyhow::anyhow!(
                "list the resources of the deleted stack {stack_id}: {}",
                sdk_error(&e)
            )
        })?;
        for r in page.stack_resource_summaries() {
            if r.resource_status() != Some(&ResourceStatus::DeleteSkipped) {
                continue;
            }
            if let (Some(logical), Some(physical)) =
                (r.logical_resource_id(), r.physical_resource_id())
            {
                found.push(Left {
                    logical_id: logical.to_owned(),
                    resource_type: r.resource_type().unwrap_or_default().to_owned(),
                    physical_id: physical.to_owned(),
                    stack_id: stack_id.to_owned(),
                });
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::operation::list_stack_resources::ListStackResourcesOutput;
    use aws_sdk_cloudformation::operation::list_stacks::ListStacksOutput;
    use aws_sdk_cloudformation::types::{StackResourceSummary, StackSummary};
    use aws_smithy_mocks::mock;
    use aws_smithy_types::DateTime;

    use crate::aws::mocks;

    fn summary(name: &str, id: &str, deleted_at: i64) -> StackSummary {
        StackSummary::builder()
            .stack_name(name)
            .stack_id(id)
            .stack_status(StackStatus::DeleteComplete)
            .creation_time(DateTime::from_secs(0))
            .deletion_time(DateTime::from_secs(deleted_at))
            .build()
    }

    fn resource(logical: &str, physical: &str, status: ResourceStatus) -> StackResourceSummary {
        StackResourceSummary::builder()
            .logical_resource_id(logical)
            .physical_resource_id(physical)
            .resource_type("AWS::DynamoDB::Table")
            .resource_status(status)
            .last_updated_timestamp(DateTime::from_secs(0))
            .build()
    }

    #[tokio::test]
    async fn the_latest_deletion_s_skipped_resources_win() {
        let stacks = mock!(aws_sdk_cloudformation::Client::list_stacks)
            .match_requests(|r| r.stack_status_filter() == [StackStatus::DeleteComplete])
            .then_output(|| {
                ListStacksOutput::builder()
                    .stack_summaries(summary("s", "old", 10))
                    .stack_summaries(summary("other", "x", 30))
                    .stack_summaries(summary("s", "new", 20))
                    .build()
            });
        let newer = mock!(aws_sdk_cloudformation::Client::list_stack_resources)
            .match_requests(|r| r.stack_name() == Some("new"))
            .then_output(|| {
                ListStackResourcesOutput::builder()
                    .stack_resource_summaries(resource(
                        "Table",
                        "t2",
                        ResourceStatus::DeleteSkipped,
                    ))
                    .stack_resource_summaries(resource("Fn", "f", ResourceStatus::DeleteComplete))
                    .build()
            });
        let older = mock!(aws_sdk_cloudformation::Client::list_stack_resources)
            .match_requests(|r| r.stack_name() == Some("old"))
            .then_output(|| {
                ListStackResourcesOutput::builder()
                    .stack_resource_summaries(resource(
                        "Table",
                        "t1",
                        ResourceStatus::DeleteSkipped,
                    ))
                    .stack_resource_summaries(resource("Queue", "q", ResourceStatus::DeleteSkipped))
                    .build()
            });
        let mut clients = mocks::clients();
        clients.cfn = mocks::cfn(&[&stacks, &newer, &older]);
        let left = left_behind(&clients, "s").await.unwrap();
        let found: Vec<(&str, &str, &str)> = left
            .iter()
            .map(|l| {
                (
                    l.logical_id.as_str(),
                    l.physical_id.as_str(),
                    l.stack_id.as_str(),
                )
            })
            .collect();
        assert_eq!(found, [("Table", "t2", "new"), ("Queue", "q", "old")]);
    }
}
