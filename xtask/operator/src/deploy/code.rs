//! Is the code the functions run the code the stack names?
//!
//! CloudFormation's drift detection does not compare a function's code (the
//! `Code` property is write-only: Lambda gives back no S3 key to compare),
//! so a hotswap, or an `UpdateFunctionCode` by hand, is invisible to it.
//! This module compares what Lambda reports (`CodeSha256`: the base64
//! SHA-256 of the deployed zip) with the zip the stack's code key parameter
//! names (the same hash, recorded on the object at upload as
//! [`LAMBDA_SHA_METADATA`], or computed from the object when an older upload
//! lacks it). `drift` and `status` report the difference; every deploy that
//! is not a hotswap puts the stack's code back ([`restore`]).

use std::collections::BTreeMap;

use crate::aws::sdk_error;

use crate::artifacts::Bucket;
use crate::aws::Clients;
use crate::base::build::FUNCTIONS;

/// One function's code: what the stack names, and what runs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CodeState {
    /// The function's logical id.
    pub logical_id: String,
    /// Its name.
    pub function: String,
    /// The code key parameter naming its zip.
    pub parameter: String,
    /// The S3 key the stack names.
    pub key: String,
    /// The `CodeSha256` of that zip.
    pub expected: String,
    /// The `CodeSha256` Lambda reports.
    pub live: String,
}

impl CodeState {
    /// The function runs other code than the stack names.
    pub fn drifted(&self) -> bool {
        self.expected != self.live
    }

    /// One line for a report.
    pub fn line(&self) -> String {
        if self.drifted() {
            format!(
                "{} ({}) runs code {} but the stack names {} ({}): hotswapped or changed \
                 outside the stack; the next deploy without --hotswap puts the stack's code back",
                self.logical_id, self.function, self.live, self.key, self.expected
            )
        } else {
            format!(
                "{} ({}) runs the stack's code ({})",
                self.logical_id, self.function, self.key
            )
        }
    }
}

/// The `CodeSha256` of the zip at `key`: from its metadata, else from its bytes.
///
/// # Errors
/// S3 refused, or the object is gone.
pub async fn expected_sha256(
    clients: &Clients,
    bucket: &Bucket,
    key: &str,
) -> anyhow::Result<String> {
    if let Some(sha) =
        crate::artifacts::metadata(clients, bucket, key, crate::artifacts::LAMBDA_SHA_METADATA)
            .await?
    {
        return Ok(sha);
    }
    Ok(crate::artifacts::lambda_sha256(
        &crate::artifacts::get(clients, bucket, key).await?,
    ))
}

/// Each function's code state. `parameters`: the deployed stack's;
/// `physical`: logical id → function name.
///
/// # Errors
/// A function or its zip cannot be read.
pub async fn states(
    clients: &Clients,
    bucket: &Bucket,
    parameters: &BTreeMap<String, String>,
    physical: &BTreeMap<String, String>,
) -> anyhow::Result<Vec<CodeState>> {
    let mut states = Vec::new();
    for f in &FUNCTIONS {
        let (Some(key), Some(function)) = (
            parameters.get(f.code_key_parameter),
            physical.get(f.logical_id),
        ) else {
            continue;
        };
        let expected = expected_sha256(clients, bucket, key).await?;
        let live = clients
            .lambda
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("read the configuration of {function}: {}", sdk_error(&e))
            })?
            .code_sha256()
            .unwrap_or_default()
            .to_owned();
        states.push(CodeState {
            logical_id: f.logical_id.to_owned(),
            function: function.clone(),
            parameter: f.code_key_parameter.to_owned(),
            key: key.clone(),
            expected,
            live,
        });
    }
    Ok(states)
}

/// The code state of each function of the deployed `stack` (`None`: no
/// such stack).
///
/// # Errors
/// CloudFormation, S3 or Lambda refused.
pub async fn of_stack(clients: &Clients, stack: &str) -> anyhow::Result<Option<Vec<CodeState>>> {
    let Some(deployed) = crate::cfn::stack::deployed(clients, stack).await? else {
        return Ok(None);
    };
    let caller = clients.identity().await?;
    let bucket = Bucket::of(&caller.account, &clients.region);
    let physical = crate::cfn::stack::physical_ids(clients, stack).await?;
    states(clients, &bucket, &deployed.parameters, &physical)
        .await
        .map(Some)
}

/// Puts the stack's code back on every function that runs other code (a
/// hotswap): the same `UpdateFunctionCode` and wait as the hotswap itself.
/// Returns the functions restored.
///
/// # Errors
/// Lambda refused or failed the update.
pub async fn restore(
    clients: &Clients,
    bucket: &Bucket,
    states: &[CodeState],
) -> anyhow::Result<Vec<String>> {
    let swaps: Vec<super::hotswap::Swap> = states
        .iter()
        .filter(|s| s.drifted())
        .map(|s| super::hotswap::Swap {
            logical_id: s.logical_id.clone(),
            parameter: s.parameter.clone(),
            key: s.key.clone(),
        })
        .collect();
    let physical: BTreeMap<String, String> = states
        .iter()
        .map(|s| (s.logical_id.clone(), s.function.clone()))
        .collect();
    super::hotswap::swap(clients, &bucket.name, &physical, &swaps).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_says_whether_it_drifted_and_what_to_do() {
        let mut s = CodeState {
            logical_id: "HandlerFunction".into(),
            function: "cc-agent-reconciler-handler-dev".into(),
            parameter: "HandlerCodeKey".into(),
            key: "handler/aa.zip".into(),
            expected: "A=".into(),
            live: "A=".into(),
        };
        assert!(!s.drifted());
        assert!(s.line().contains("runs the stack's code"));
        s.live = "B=".into();
        assert!(s.drifted());
        assert!(
            s.line()
                .contains("runs code B= but the stack names handler/aa.zip")
        );
        assert!(s.line().contains("next deploy without --hotswap"));
    }
}
