//! The functions' code of a deploy: built (or prebuilt) and uploaded to the
//! artifacts bucket under content-hashed keys, or a recorded release's keys
//! checked to be still there; and, after a deploy that is not a hotswap,
//! the stack's code put back on a function that runs other code.

use std::collections::BTreeMap;

use anyhow::bail;

use super::{CodeSource, DeployOptions};
use crate::artifacts::{self, Bucket};
use crate::aws::{Clients, Identity, emulator};
use crate::base::build;
use crate::base::tools::Tools;
use crate::base::ui::Out;
use crate::cfn;
use crate::models::code;
use crate::models::releases::Release;

/// The functions' code of a deploy, in the bucket.
pub(super) struct CodeKeys {
    /// Code key parameter → S3 key.
    pub(super) keys: BTreeMap<String, String>,
    /// Whether cargo-lambda ran.
    pub(super) rebuilt: bool,
    /// Zips uploaded now.
    pub(super) uploaded: usize,
}

impl CodeKeys {
    /// The keys in the order of [`build::FUNCTIONS`].
    pub(super) fn ordered(&self) -> Vec<String> {
        build::FUNCTIONS
            .iter()
            .filter_map(|f| self.keys.get(f.code_key_parameter).cloned())
            .collect()
    }
}

/// The code of `opts`: built and uploaded, or a release's.
///
/// # Errors
/// A failed build, an upload refused, or a release's zip gone.
pub(super) async fn obtain(
    clients: &Clients,
    tools: &Tools,
    opts: &DeployOptions,
    bucket: &Bucket,
    out: &dyn Out,
) -> anyhow::Result<CodeKeys> {
    match &opts.code {
        CodeSource::Build(source) => {
            let built = build::packages(tools, opts.config.architecture, source)?;
            upload(clients, bucket, &built, out).await
        }
        CodeSource::Release(release) => release_code(clients, bucket, release).await,
    }
}

/// Uploads the packages the bucket lacks.
async fn upload(
    clients: &Clients,
    bucket: &Bucket,
    built: &build::Built,
    out: &dyn Out,
) -> anyhow::Result<CodeKeys> {
    let mut code = CodeKeys {
        keys: BTreeMap::new(),
        rebuilt: built.rebuilt,
        uploaded: 0,
    };
    for zip in &built.zips {
        let (key, fresh) = artifacts::upload_if_missing(clients, bucket, zip).await?;
        out.note(&format!(
            "artifacts: s3://{}/{key} {}",
            bucket.name,
            if fresh {
                "uploaded"
            } else {
                "already there, not uploaded"
            }
        ));
        code.uploaded += usize::from(fresh);
        code.keys
            .insert(zip.function.code_key_parameter.to_owned(), key);
    }
    Ok(code)
}

/// A release's code, each zip checked to be still in the bucket.
async fn release_code(
    clients: &Clients,
    bucket: &Bucket,
    release: &Release,
) -> anyhow::Result<CodeKeys> {
    for key in release.code.values() {
        if !artifacts::exists(clients, bucket, key).await? {
            bail!(
                "release {}: s3://{}/{key} is gone from the artifacts bucket; restore a previous \
                 version of the object (the bucket is versioned) or deploy that commit again",
                release.version,
                bucket.name
            );
        }
    }
    Ok(CodeKeys {
        keys: release.code.clone(),
        rebuilt: false,
        uploaded: 0,
    })
}

/// The artifacts bucket of the caller's account, made sure of.
pub(super) async fn artifacts_bucket(
    clients: &Clients,
    out: &dyn Out,
) -> anyhow::Result<(Identity, Bucket)> {
    let caller = clients.identity().await?;
    let bucket = Bucket::of(&caller.account, &clients.region);
    let ensured =
        artifacts::ensure_bucket(clients, &bucket, emulator::bucket_tls_policy(clients)).await?;
    if ensured.created {
        out.note(&format!("artifacts: created s3://{}", bucket.name));
    }
    if !ensured.completed.is_empty() && !ensured.created {
        out.note(&format!(
            "artifacts: s3://{} lacked {}: set now",
            bucket.name,
            ensured.completed.join(", ")
        ));
    }
    Ok((caller, bucket))
}

/// After a deploy that is not a hotswap: a function that runs other code
/// than the stack names (a hotswap before, a hand update) gets the stack's
/// code back, so that a deploy always leaves what the stack says running
/// (CloudFormation does not: for it, an unchanged code key is no change).
///
/// The stack is deployed by then: a failure here is a warning (with what
/// to run), never a failed deploy that would lose its outputs and release
/// record.
pub(super) async fn put_stack_code_back(
    clients: &Clients,
    bucket: &Bucket,
    stack: &str,
    parameters: &BTreeMap<String, String>,
    out: &dyn Out,
) {
    let restored = async {
        let physical = cfn::stack::physical_ids(clients, stack).await?;
        let states = code::states(clients, bucket, parameters, &physical).await?;
        super::hotswap::restore(clients, bucket, &states).await
    }
    .await;
    match restored {
        Ok(restored) if !restored.is_empty() => out.note(&format!(
            "code: {} ran other code than the stack names (a hotswap): put the stack's code back",
            restored.join(" and ")
        )),
        Ok(_) => {}
        Err(e) => out.note(&format!(
            "warning: could not check that the functions run the stack's code ({e:#}); \
             `cargo xtask drift` compares them"
        )),
    }
}
