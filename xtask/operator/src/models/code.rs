//! Is the code the functions run the code the stack names?
//!
//! CloudFormation's drift detection does not compare a function's code (the
//! `Code` property is write-only: Lambda gives back no S3 key to compare),
//! so a hotswap, or an `UpdateFunctionCode` by hand, is invisible to it.
//! This module compares what Lambda reports (`CodeSha256`: the base64
//! SHA-256 of the deployed zip) with the zip the stack's code key parameter
//! names (the same hash, recorded on the object at upload as
//! [`LAMBDA_SHA_METADATA`], or computed from the object when an older upload
//! lacks it). `drift` and `status` report the difference ([`states`],
//! strict; [`versions`], which also compares the local build and leaves
//! what it cannot read unknown); every deploy that is not a hotswap puts
//! the stack's code back (`deploy::code::restore`).

use std::collections::BTreeMap;

use crate::aws::sdk_error;

use infra::Architecture;

use crate::artifacts::Bucket;
use crate::aws::Clients;
use crate::base::build::{self, FUNCTIONS};

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

/// What Lambda says of a function's code now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Live {
    /// `CodeSha256`: the base64 SHA-256 of the deployed zip.
    pub code_sha256: Option<String>,
    /// `LastModified`.
    pub last_modified: Option<String>,
}

/// Reads a function's code as Lambda has it (`GetFunctionConfiguration`).
///
/// # Errors
/// Lambda refused (no such function, no permission).
pub async fn live(lambda: &aws_sdk_lambda::Client, function: &str) -> anyhow::Result<Live> {
    let out = lambda
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("read the configuration of {function}: {}", sdk_error(&e)))?;
    Ok(Live {
        code_sha256: out.code_sha256().map(str::to_owned),
        last_modified: out.last_modified().map(str::to_owned),
    })
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
        let live = live(&clients.lambda, function)
            .await?
            .code_sha256
            .unwrap_or_default();
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

/// The local build of a function, against what is deployed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalBuild {
    /// No local build of the stage's architecture.
    Missing,
    /// The local zip's content is what is deployed.
    Same,
    /// The local zip differs from what is deployed (its content hash).
    Differs(String),
    /// Cannot tell: why.
    Unknown(String),
}

/// One function's code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeVersion {
    /// `handler` or `sweep`.
    pub function: &'static str,
    /// The stack's code key (`<function>/<content sha256>.zip`).
    pub deployed_key: Option<String>,
    /// Lambda's `CodeSha256` (of the zip's bytes).
    pub code_sha256: Option<String>,
    /// The `CodeSha256` of the zip the stack names (`None`: unknown).
    pub stack_sha256: Option<String>,
    /// Why the code could not be compared with the stack's (the zip
    /// unreadable: no permission on the artifacts bucket, the object gone).
    pub code_check: Option<String>,
    /// Lambda's `LastModified`.
    pub last_modified: Option<String>,
    /// Why Lambda's configuration of the function could not be read (no
    /// such function, no permission): what runs is unknown.
    pub configuration_error: Option<String>,
    /// The local build.
    pub local: LocalBuild,
    /// The local build's sources changed since it was built.
    pub local_stale: bool,
}

impl CodeVersion {
    /// The function runs other code than the zip the stack names: a hotswap
    /// (dev), or a hand update (anywhere else: a person looks).
    pub fn runs_other_code(&self) -> bool {
        matches!((&self.code_sha256, &self.stack_sha256), (Some(live), Some(stack)) if live != stack)
    }
}

/// The content hash in a code key (`<function>/<sha256>.zip`).
pub fn key_hash(key: &str) -> Option<&str> {
    key.rsplit('/').next().and_then(|f| f.strip_suffix(".zip"))
}

/// The local build of `function` for `arch` against `deployed_hash`.
fn local_build(
    root: &std::path::Path,
    arch: infra::Architecture,
    bin: &str,
    deployed_hash: Option<&str>,
) -> (LocalBuild, bool) {
    let dir = build::lambda_dir(root, arch);
    let zip = dir.join(bin).join("bootstrap.zip");
    if !zip.is_file() {
        return (LocalBuild::Missing, false);
    }
    let stale = match (
        std::fs::read_to_string(dir.join(".inputs.sha256")),
        build::inputs_fingerprint(root, arch),
    ) {
        (Ok(stamp), Ok(now)) => stamp.trim() != now,
        _ => false,
    };
    let local = match std::fs::read(&zip)
        .map_err(|e| e.to_string())
        .and_then(|bytes| build::zip_content_sha256(&bytes).map_err(|e| format!("{e:#}")))
    {
        Err(e) => LocalBuild::Unknown(e),
        Ok(hash) => match deployed_hash {
            None => LocalBuild::Unknown("the deployed code key is unknown".into()),
            Some(d) if d == hash => LocalBuild::Same,
            Some(_) => LocalBuild::Differs(hash),
        },
    };
    (local, stale)
}

/// Each function's code as `status` shows it, in the order of
/// [`FUNCTIONS`]: the key the stack's `parameters` name, what Lambda runs
/// (`names`: the functions' names, in that order), the `CodeSha256` of the
/// stack's zip, and the local build of `arch`. What cannot be read is left
/// unknown, with why when it matters: the screen still shows the rest.
pub async fn versions(
    clients: &Clients,
    bucket: &Bucket,
    arch: Architecture,
    parameters: &BTreeMap<String, String>,
    names: [&str; 2],
) -> Vec<CodeVersion> {
    let mut versions = Vec::new();
    for (function, name) in FUNCTIONS.iter().zip(names) {
        let deployed_key = parameters.get(function.code_key_parameter).cloned();
        let (live, configuration_error) = match live(&clients.lambda, name).await {
            Ok(live) => (live, None),
            Err(e) => (Live::default(), Some(format!("{e:#}"))),
        };
        let (local, local_stale) = local_build(
            &crate::root(),
            arch,
            function.bin,
            deployed_key.as_deref().and_then(key_hash),
        );
        let (stack_sha256, code_check) = match &deployed_key {
            Some(key) => match expected_sha256(clients, bucket, key).await {
                Ok(sha) => (Some(sha), None),
                Err(e) => (None, Some(format!("{e:#}"))),
            },
            None => (None, None),
        };
        versions.push(CodeVersion {
            function: function.name,
            deployed_key,
            stack_sha256,
            code_check,
            code_sha256: live.code_sha256,
            last_modified: live.last_modified,
            configuration_error,
            local,
            local_stale,
        });
    }
    versions
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
