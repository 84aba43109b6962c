//! The artifacts room: the bucket, one per account and region, holding the functions'
//! zips under content-hashed keys (`<function>/<sha256>.zip`, so a key never
//! changes meaning and an unchanged zip is never uploaded twice), the
//! templates too large to send inline, and the record of every release.
//!
//! Every call names the bucket's expected owner (`ExpectedBucketOwner`): a
//! bucket of that name in another account is refused, never written to. The
//! bucket is private (all public access blocked), versioned, encrypted and
//! TLS-only; [`ensure_bucket`] converges it to that on every deploy, so a run
//! that died half-way through creating it is completed by the next one.
//!
//! It imports the session and foundations rooms only.

mod bucket;

use std::path::Path;

use anyhow::Context;
use aws_sdk_s3::primitives::ByteStream;
use sha2::Digest;

use crate::aws::{Clients, sdk_error};
use crate::base::build::Zip;

pub use bucket::{BucketReport, ensure_bucket, tls_only_policy};

/// The object metadata holding a zip's `CodeSha256` as Lambda will report it.
pub const LAMBDA_SHA_METADATA: &str = "lambda-code-sha256";

/// Lambda's `CodeSha256` of a zip: its SHA-256, base64.
pub fn lambda_sha256(zip: &[u8]) -> String {
    aws_smithy_types::base64::encode(sha2::Sha256::digest(zip))
}

/// `cc-agent-reconciler-artifacts-<account>-<region>`.
pub fn bucket_name(account: &str, region: &str) -> String {
    format!("cc-agent-reconciler-artifacts-{account}-{region}")
}

/// `<function>/<sha256>.zip`.
pub fn object_key(function: &str, sha256: &str) -> String {
    format!("{function}/{sha256}.zip")
}

/// The artifacts bucket of an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    /// The account that must own it.
    pub owner: String,
}

impl Bucket {
    /// The bucket of `account` in `region`.
    pub fn of(account: &str, region: &str) -> Bucket {
        Bucket {
            name: bucket_name(account, region),
            owner: account.to_owned(),
        }
    }
}

/// Uploads a zip to its content-hashed key unless an object is already
/// there. Returns the key and whether it was uploaded.
///
/// # Errors
/// S3 refused, or the zip is unreadable.
pub async fn upload_if_missing(
    clients: &Clients,
    bucket: &Bucket,
    zip: &Zip,
) -> anyhow::Result<(String, bool)> {
    let key = object_key(zip.function.name, &zip.sha256);
    if exists(clients, bucket, &key).await? {
        return Ok((key, false));
    }
    let bytes = std::fs::read(Path::new(&zip.path))
        .with_context(|| format!("read {}", zip.path.display()))?;
    let lambda_sha = lambda_sha256(&bytes);
    put(
        clients,
        bucket,
        &key,
        "application/zip",
        ByteStream::from(bytes),
        &zip.sha256,
        &[(LAMBDA_SHA_METADATA, &lambda_sha)],
    )
    .await?;
    Ok((key, true))
}

/// Whether an object is at `key`.
///
/// # Errors
/// S3 failed other than with "not found".
pub async fn exists(clients: &Clients, bucket: &Bucket, key: &str) -> anyhow::Result<bool> {
    match clients
        .s3
        .head_object()
        .bucket(&bucket.name)
        .key(key)
        .expected_bucket_owner(&bucket.owner)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
        Err(e) => anyhow::bail!("look up s3://{}/{key}: {}", bucket.name, sdk_error(&e)),
    }
}

/// Writes an object (its content's SHA-256 in the metadata, and `metadata`).
///
/// # Errors
/// S3 refused.
pub async fn put(
    clients: &Clients,
    bucket: &Bucket,
    key: &str,
    content_type: &str,
    body: ByteStream,
    sha256: &str,
    metadata: &[(&str, &str)],
) -> anyhow::Result<()> {
    let mut request = clients
        .s3
        .put_object()
        .bucket(&bucket.name)
        .key(key)
        .expected_bucket_owner(&bucket.owner)
        .content_type(content_type)
        .metadata("content-sha256", sha256);
    for (name, value) in metadata {
        request = request.metadata(*name, *value);
    }
    request
        .body(body)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("upload s3://{}/{key}: {}", bucket.name, sdk_error(&e)))?;
    Ok(())
}

/// Writes bytes to `key` (a template, a release record).
///
/// # Errors
/// S3 refused.
pub async fn put_bytes(
    clients: &Clients,
    bucket: &Bucket,
    key: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<()> {
    let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
    put(
        clients,
        bucket,
        key,
        content_type,
        ByteStream::from(bytes),
        &sha256,
        &[],
    )
    .await
}

/// One user-defined metadata value of an object (`None`: it has none).
///
/// # Errors
/// S3 refused or the object is missing.
pub async fn metadata(
    clients: &Clients,
    bucket: &Bucket,
    key: &str,
    name: &str,
) -> anyhow::Result<Option<String>> {
    let head = clients
        .s3
        .head_object()
        .bucket(&bucket.name)
        .key(key)
        .expected_bucket_owner(&bucket.owner)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("look up s3://{}/{key}: {}", bucket.name, sdk_error(&e)))?;
    Ok(head.metadata().and_then(|m| m.get(name)).cloned())
}

/// Reads an object's bytes.
///
/// # Errors
/// S3 refused or the object is missing.
pub async fn get(clients: &Clients, bucket: &Bucket, key: &str) -> anyhow::Result<Vec<u8>> {
    let out = clients
        .s3
        .get_object()
        .bucket(&bucket.name)
        .key(key)
        .expected_bucket_owner(&bucket.owner)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("read s3://{}/{key}: {}", bucket.name, sdk_error(&e)))?;
    Ok(out
        .body
        .collect()
        .await
        .with_context(|| format!("read s3://{}/{key}", bucket.name))?
        .into_bytes()
        .to_vec())
}

/// The keys under `prefix`, every page (the SDK's paginator).
///
/// # Errors
/// S3 refused.
pub async fn list(clients: &Clients, bucket: &Bucket, prefix: &str) -> anyhow::Result<Vec<String>> {
    let pages = clients
        .s3
        .list_objects_v2()
        .bucket(&bucket.name)
        .prefix(prefix)
        .expected_bucket_owner(&bucket.owner)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| anyhow::anyhow!("list s3://{}/{prefix}: {}", bucket.name, sdk_error(&e)))?;
    Ok(pages
        .iter()
        .flat_map(|p| p.contents())
        .filter_map(|o| o.key().map(str::to_owned))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_keys() {
        assert_eq!(
            bucket_name("123456789012", "eu-west-1"),
            "cc-agent-reconciler-artifacts-123456789012-eu-west-1"
        );
        assert_eq!(object_key("handler", "ab12"), "handler/ab12.zip");
        let bucket = Bucket::of("1", "r");
        assert_eq!(bucket.owner, "1");
    }

    #[test]
    fn lambdas_hash_is_base64_sha256() {
        // echo -n abc | sha256sum | xxd -r -p | base64
        assert_eq!(
            lambda_sha256(b"abc"),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }
}
