//! CloudFormation's drift detection on a stack: start it, wait for it,
//! read the resources changed or deleted outside the stack and how each
//! property differs. What the drift means (and the functions' code, which
//! CloudFormation does not compare) is the deploy engine's
//! (`deploy::drift`).

use std::time::Duration;

use anyhow::bail;
use aws_sdk_cloudformation::types::{
    StackDriftDetectionStatus, StackDriftStatus, StackResourceDriftStatus,
};
use serde::Serialize;

use crate::aws::{Clients, sdk_error};

/// How long a detection may take (AWS: usually under a minute).
const DETECTION_WAIT: Duration = Duration::from_secs(10 * 60);

/// A property that differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PropertyDrift {
    /// `/Properties/Timeout`, …
    pub path: String,
    /// `ADD`, `REMOVE` or `NOT_EQUAL`.
    pub difference: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
}

/// A drifted resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DriftedResource {
    pub logical_id: String,
    pub resource_type: String,
    pub physical_id: Option<String>,
    /// `MODIFIED` or `DELETED`.
    pub status: String,
    pub properties: Vec<PropertyDrift>,
}

/// What a detection found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detection {
    /// `IN_SYNC`, `DRIFTED` or `UNKNOWN`.
    pub status: StackDriftStatus,
    /// Resources CloudFormation could not check (the detection ended
    /// `DETECTION_COMPLETE` with some unchecked, or `DETECTION_FAILED`).
    pub reason: Option<String>,
    /// The resources changed or deleted outside the stack, by logical id.
    pub drifted: Vec<DriftedResource>,
}

/// The endpoint answers DetectStackDrift with a server error: the emulator,
/// which does not implement it.
#[derive(Debug)]
pub struct NoDriftDetection {
    /// The emulator's endpoint.
    pub endpoint: String,
}

impl std::fmt::Display for NoDriftDetection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the emulator at {} has no drift detection (moto does not implement \
             DetectStackDrift): run drift against AWS",
            self.endpoint
        )
    }
}

impl std::error::Error for NoDriftDetection {}

/// Detects the stack's drift and reads the drifted resources.
///
/// # Errors
/// No such stack, the endpoint has no drift detection (moto), or the
/// detection did not finish in time.
pub async fn detect(clients: &Clients, stack: &str) -> anyhow::Result<Detection> {
    let id = start(clients, stack).await?;
    let (status, reason) = wait(&clients.cfn, stack, &id).await?;
    let drifted = drifted(&clients.cfn, stack).await?;
    Ok(Detection {
        status,
        reason,
        drifted,
    })
}

/// Starts a detection: its id.
async fn start(clients: &Clients, stack: &str) -> anyhow::Result<String> {
    let started = clients
        .cfn
        .detect_stack_drift()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            // moto answers DetectStackDrift with a server error.
            let server_error = e
                .raw_response()
                .is_some_and(|r| r.status().is_server_error());
            if crate::aws::emulator::lacks_drift_detection(clients, server_error) {
                anyhow::Error::new(NoDriftDetection {
                    endpoint: clients.endpoint.clone().unwrap_or_default(),
                })
            } else {
                anyhow::anyhow!("detect the drift of {stack}: {}", sdk_error(&e))
            }
        })?;
    Ok(started
        .stack_drift_detection_id()
        .unwrap_or_default()
        .to_owned())
}

/// Polls the detection `id` until it ends: the stack's drift status, and
/// why some resources could not be checked.
async fn wait(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
    id: &str,
) -> anyhow::Result<(StackDriftStatus, Option<String>)> {
    let deadline = tokio::time::Instant::now() + DETECTION_WAIT;
    let mut delay = Duration::from_millis(500);
    loop {
        let out = cfn
            .describe_stack_drift_detection_status()
            .stack_drift_detection_id(id)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("read the drift detection: {}", sdk_error(&e)))?;
        match out.detection_status() {
            Some(StackDriftDetectionStatus::DetectionInProgress) | None => {}
            Some(detection) => {
                let reason = (detection != &StackDriftDetectionStatus::DetectionComplete)
                    .then(|| {
                        out.detection_status_reason()
                            .unwrap_or("(no reason given)")
                            .to_owned()
                    })
                    .or_else(|| out.detection_status_reason().map(str::to_owned));
                return Ok((
                    out.stack_drift_status()
                        .cloned()
                        .unwrap_or(StackDriftStatus::UnknownValue),
                    reason,
                ));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("the drift detection of {stack} did not finish in {DETECTION_WAIT:?}");
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// The resources modified or deleted outside the stack, every page, by
/// logical id.
async fn drifted(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> anyhow::Result<Vec<DriftedResource>> {
    let mut pages = cfn
        .describe_stack_resource_drifts()
        .stack_name(stack)
        .stack_resource_drift_status_filters(StackResourceDriftStatus::Modified)
        .stack_resource_drift_status_filters(StackResourceDriftStatus::Deleted)
        .into_paginator()
        .send();
    let mut drifted = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            anyhow::anyhow!("read the drifted resources of {stack}: {}", sdk_error(&e))
        })?;
        for d in page.stack_resource_drifts() {
            drifted.push(DriftedResource {
                logical_id: d.logical_resource_id().unwrap_or("?").to_owned(),
                resource_type: d.resource_type().unwrap_or("?").to_owned(),
                physical_id: d.physical_resource_id().map(str::to_owned),
                status: d
                    .stack_resource_drift_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                properties: d
                    .property_differences()
                    .iter()
                    .map(|p| PropertyDrift {
                        path: p.property_path().unwrap_or_default().to_owned(),
                        difference: p
                            .difference_type()
                            .map(|t| t.as_str().to_owned())
                            .unwrap_or_default(),
                        expected: p.expected_value().map(str::to_owned),
                        actual: p.actual_value().map(str::to_owned),
                    })
                    .collect(),
            });
        }
    }
    drifted.sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    Ok(drifted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::operation::describe_stack_drift_detection_status::DescribeStackDriftDetectionStatusOutput;
    use aws_sdk_cloudformation::operation::describe_stack_resource_drifts::DescribeStackResourceDriftsOutput;
    use aws_sdk_cloudformation::operation::detect_stack_drift::DetectStackDriftOutput;
    use aws_sdk_cloudformation::types::{DifferenceType, PropertyDifference, StackResourceDrift};
    use aws_smithy_mocks::mock;

    use crate::aws::mocks;

    fn clients(rules: &[&aws_smithy_mocks::Rule]) -> Clients {
        let mut clients = mocks::clients();
        clients.cfn = mocks::cfn(rules);
        clients
    }

    fn drift(logical: &str, status: StackResourceDriftStatus, path: &str) -> StackResourceDrift {
        StackResourceDrift::builder()
            .stack_id("s")
            .logical_resource_id(logical)
            .physical_resource_id(format!("phys-{logical}"))
            .resource_type("AWS::Lambda::Function")
            .stack_resource_drift_status(status)
            .timestamp(aws_smithy_types::DateTime::from_secs(0))
            .property_differences(
                PropertyDifference::builder()
                    .property_path(path)
                    .expected_value("30")
                    .actual_value("60")
                    .difference_type(DifferenceType::NotEqual)
                    .build(),
            )
            .build()
    }

    #[tokio::test]
    async fn a_drifted_stack_is_detected_polled_and_every_page_read() {
        let detect_rule =
            mock!(aws_sdk_cloudformation::Client::detect_stack_drift).then_output(|| {
                DetectStackDriftOutput::builder()
                    .stack_drift_detection_id("d-1")
                    .build()
            });
        let in_progress =
            mock!(aws_sdk_cloudformation::Client::describe_stack_drift_detection_status)
                .match_requests(|r| r.stack_drift_detection_id() == Some("d-1"))
                .sequence()
                .output(|| {
                    DescribeStackDriftDetectionStatusOutput::builder()
                        .stack_id("s")
                        .stack_drift_detection_id("d-1")
                        .detection_status(StackDriftDetectionStatus::DetectionInProgress)
                        .timestamp(aws_smithy_types::DateTime::from_secs(0))
                        .build()
                })
                .output(|| {
                    DescribeStackDriftDetectionStatusOutput::builder()
                        .stack_id("s")
                        .stack_drift_detection_id("d-1")
                        .detection_status(StackDriftDetectionStatus::DetectionComplete)
                        .stack_drift_status(StackDriftStatus::Drifted)
                        .timestamp(aws_smithy_types::DateTime::from_secs(0))
                        .build()
                })
                .build();
        let pages = mock!(aws_sdk_cloudformation::Client::describe_stack_resource_drifts)
            .sequence()
            .output(|| {
                DescribeStackResourceDriftsOutput::builder()
                    .stack_resource_drifts(drift(
                        "SweepFunction",
                        StackResourceDriftStatus::Modified,
                        "/Timeout",
                    ))
                    .next_token("page-2")
                    .build()
            })
            .output(|| {
                DescribeStackResourceDriftsOutput::builder()
                    .stack_resource_drifts(drift(
                        "HandlerFunction",
                        StackResourceDriftStatus::Modified,
                        "/Code/S3Key",
                    ))
                    .build()
            })
            .build();
        let clients = clients(&[&detect_rule, &in_progress, &pages]);
        let report = detect(&clients, "cc-agent-reconciler-dev").await.unwrap();
        assert_eq!(report.status, StackDriftStatus::Drifted);
        assert_eq!(
            report
                .drifted
                .iter()
                .map(|d| d.logical_id.as_str())
                .collect::<Vec<_>>(),
            ["HandlerFunction", "SweepFunction"],
            "both pages, sorted"
        );
        assert_eq!(in_progress.num_calls(), 2, "polled until complete");
        let handler = &report.drifted[0].properties[0];
        assert_eq!(
            (handler.path.as_str(), handler.difference.as_str()),
            ("/Code/S3Key", "NOT_EQUAL")
        );
    }

    #[tokio::test]
    async fn an_in_sync_stack_has_no_drift() {
        let detect_rule =
            mock!(aws_sdk_cloudformation::Client::detect_stack_drift).then_output(|| {
                DetectStackDriftOutput::builder()
                    .stack_drift_detection_id("d-2")
                    .build()
            });
        let done = mock!(aws_sdk_cloudformation::Client::describe_stack_drift_detection_status)
            .then_output(|| {
                DescribeStackDriftDetectionStatusOutput::builder()
                    .stack_id("s")
                    .stack_drift_detection_id("d-2")
                    .detection_status(StackDriftDetectionStatus::DetectionComplete)
                    .stack_drift_status(StackDriftStatus::InSync)
                    .timestamp(aws_smithy_types::DateTime::from_secs(0))
                    .build()
            });
        let none = mock!(aws_sdk_cloudformation::Client::describe_stack_resource_drifts)
            .then_output(|| DescribeStackResourceDriftsOutput::builder().build());
        let report = detect(&clients(&[&detect_rule, &done, &none]), "s")
            .await
            .unwrap();
        assert_eq!(report.status, StackDriftStatus::InSync);
        assert!(report.drifted.is_empty());
    }
}
