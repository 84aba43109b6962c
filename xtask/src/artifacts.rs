//! The artifacts bucket: one per account and region, holding the functions'
//! zips under content-hashed keys (`<function>/<sha256>.zip`), so a key never
//! changes meaning and an unchanged zip is never uploaded twice.

use std::path::Path;

use anyhow::Context;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
};

use crate::aws::Clients;
use crate::build::Zip;

/// `cc-agent-reconciler-artifacts-<account>-<region>`.
pub fn bucket_name(account: &str, region: &str) -> String {
    format!("cc-agent-reconciler-artifacts-{account}-{region}")
}

/// `<function>/<sha256>.zip`.
pub fn object_key(function: &str, sha256: &str) -> String {
    format!("{function}/{sha256}.zip")
}

/// The account the credentials belong to (STS GetCallerIdentity).
///
/// # Errors
/// STS refused (no or bad credentials).
pub async fn account_id(clients: &Clients) -> anyhow::Result<String> {
    let identity = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "who am I (sts:GetCallerIdentity): {}",
                DisplayErrorContext(e)
            )
        })?;
    identity
        .account()
        .map(str::to_owned)
        .context("sts:GetCallerIdentity returned no account")
}

/// Creates the bucket unless it exists: versioned, encrypted (SSE-S3), all
/// public access blocked. Returns whether it was created.
///
/// # Errors
/// The bucket exists but is not ours, or S3 refused a setting.
pub async fn ensure_bucket(clients: &Clients, bucket: &str) -> anyhow::Result<bool> {
    let s3 = &clients.s3;
    match s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => return Ok(false),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {}
        Err(e) => {
            anyhow::bail!(
                "artifacts bucket {bucket} exists but is not accessible with these credentials: {}",
                DisplayErrorContext(e)
            )
        }
    }
    let mut create = s3.create_bucket().bucket(bucket);
    // us-east-1 is the one region that refuses an explicit location constraint.
    if clients.region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(clients.region.as_str()))
                .build(),
        );
    }
    create.send().await.map_err(|e| {
        anyhow::anyhow!(
            "create the artifacts bucket {bucket}: {}",
            DisplayErrorContext(e)
        )
    })?;
    s3.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "block public access to {bucket}: {}",
                DisplayErrorContext(e)
            )
        })?;
    s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::Aes256)
                                .build()
                                .expect("the algorithm is set"),
                        )
                        .build(),
                )
                .build()
                .expect("the rules are set"),
        )
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("encrypt {bucket}: {}", DisplayErrorContext(e)))?;
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!("enable versioning on {bucket}: {}", DisplayErrorContext(e))
        })?;
    eprintln!("artifacts: created s3://{bucket} (versioned, encrypted, public access blocked)");
    Ok(true)
}

/// Uploads a zip to its content-hashed key unless an object is already
/// there. Returns the key and whether it was uploaded.
///
/// # Errors
/// S3 refused, or the zip is unreadable.
pub async fn upload_if_missing(
    clients: &Clients,
    bucket: &str,
    zip: &Zip,
) -> anyhow::Result<(String, bool)> {
    let key = object_key(zip.function.name, &zip.sha256);
    match clients
        .s3
        .head_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
    {
        Ok(_) => return Ok((key, false)),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {}
        Err(e) => anyhow::bail!("look up s3://{bucket}/{key}: {}", DisplayErrorContext(e)),
    }
    let body = ByteStream::from_path(Path::new(&zip.path))
        .await
        .with_context(|| format!("read {}", zip.path.display()))?;
    clients
        .s3
        .put_object()
        .bucket(bucket)
        .key(&key)
        .content_type("application/zip")
        .metadata("content-sha256", &zip.sha256)
        .body(body)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("upload s3://{bucket}/{key}: {}", DisplayErrorContext(e)))?;
    Ok((key, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_account_region_function_and_content_hash() {
        assert_eq!(
            bucket_name("123456789012", "eu-west-1"),
            "cc-agent-reconciler-artifacts-123456789012-eu-west-1"
        );
        assert_eq!(object_key("handler", "ab12"), "handler/ab12.zip");
        // The template's ArtifactBucket pattern accepts the longest region names.
        let longest = bucket_name("123456789012", "ap-southeast-3");
        assert!(longest.len() <= 63, "{longest}");
    }
}
