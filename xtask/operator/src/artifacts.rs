//! The artifacts bucket: one per account and region, holding the functions'
//! zips under content-hashed keys (`<function>/<sha256>.zip`, so a key never
//! changes meaning and an unchanged zip is never uploaded twice), the
//! templates too large to send inline, and the record of every release.
//!
//! Every call names the bucket's expected owner (`ExpectedBucketOwner`): a
//! bucket of that name in another account is refused, never written to. The
//! bucket is private (all public access blocked), versioned, encrypted and
//! TLS-only; [`ensure_bucket`] converges it to that on every deploy, so a run
//! that died half-way through creating it is completed by the next one.

use std::path::Path;

use crate::aws::sdk_error;
use anyhow::Context;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
};
use serde_json::json;

use crate::aws::Clients;
use crate::base::build::Zip;

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

/// The bucket policy: TLS only.
pub fn tls_only_policy(bucket: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    })
    .to_string()
}

/// What [`ensure_bucket`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BucketReport {
    /// The bucket was created by this run.
    pub created: bool,
    /// Settings it lacked and now has (a run that died half-way, or an older bucket).
    pub completed: Vec<&'static str>,
}

/// Makes the bucket exist, owned by `bucket.owner`, with all public access
/// blocked, versioning, default encryption and a TLS-only policy (the policy
/// only when `tls_policy`: the emulator enforces its deny on plain HTTP,
/// which is all it speaks).
///
/// # Errors
/// The bucket exists in another account (or is not accessible), or S3
/// refused a setting.
pub async fn ensure_bucket(
    clients: &Clients,
    bucket: &Bucket,
    tls_policy: bool,
) -> anyhow::Result<BucketReport> {
    let s3 = &clients.s3;
    let (name, owner) = (bucket.name.as_str(), bucket.owner.as_str());
    let mut report = BucketReport::default();
    match s3
        .head_bucket()
        .bucket(name)
        .expected_bucket_owner(owner)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
            let mut create = s3.create_bucket().bucket(name);
            // us-east-1 is the one region that refuses an explicit location constraint.
            if clients.region != "us-east-1" {
                create = create.create_bucket_configuration(
                    CreateBucketConfiguration::builder()
                        .location_constraint(BucketLocationConstraint::from(
                            clients.region.as_str(),
                        ))
                        .build(),
                );
            }
            create.send().await.map_err(|e| {
                anyhow::anyhow!("create the artifacts bucket {name}: {}", sdk_error(&e))
            })?;
            report.created = true;
        }
        Err(e) => anyhow::bail!(
            "artifacts bucket {name} exists but not in account {owner} (or is not accessible with \
             these credentials): {}",
            sdk_error(&e)
        ),
    }
    let blocked = s3
        .get_public_access_block()
        .bucket(name)
        .expected_bucket_owner(owner)
        .send()
        .await
        .ok()
        .and_then(|o| o.public_access_block_configuration)
        .is_some_and(|c| {
            c.block_public_acls() == Some(true)
                && c.ignore_public_acls() == Some(true)
                && c.block_public_policy() == Some(true)
                && c.restrict_public_buckets() == Some(true)
        });
    if !blocked {
        s3.put_public_access_block()
            .bucket(name)
            .expected_bucket_owner(owner)
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
            .map_err(|e| anyhow::anyhow!("block public access to {name}: {}", sdk_error(&e)))?;
        report.completed.push("public access blocked");
    }
    let encrypted = s3
        .get_bucket_encryption()
        .bucket(name)
        .expected_bucket_owner(owner)
        .send()
        .await
        .ok()
        .and_then(|o| o.server_side_encryption_configuration)
        .is_some_and(|c| !c.rules().is_empty());
    if !encrypted {
        s3.put_bucket_encryption()
            .bucket(name)
            .expected_bucket_owner(owner)
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
            .map_err(|e| anyhow::anyhow!("encrypt {name}: {}", sdk_error(&e)))?;
        report.completed.push("default encryption");
    }
    // `None`: unreadable (moto answers with an XML root the SDK refuses):
    // set again, which is idempotent, without calling it missing.
    let versioned = s3
        .get_bucket_versioning()
        .bucket(name)
        .expected_bucket_owner(owner)
        .send()
        .await
        .ok()
        .map(|o| o.status() == Some(&BucketVersioningStatus::Enabled));
    if versioned != Some(true) {
        s3.put_bucket_versioning()
            .bucket(name)
            .expected_bucket_owner(owner)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("enable versioning on {name}: {}", sdk_error(&e)))?;
        if versioned == Some(false) {
            report.completed.push("versioning");
        }
    }
    if tls_policy {
        let policy = tls_only_policy(name);
        let current = s3
            .get_bucket_policy()
            .bucket(name)
            .expected_bucket_owner(owner)
            .send()
            .await
            .ok()
            .and_then(|o| o.policy);
        let same = current
            .and_then(|c| serde_json::from_str::<serde_json::Value>(&c).ok())
            .is_some_and(|c| Some(c) == serde_json::from_str(&policy).ok());
        if !same {
            s3.put_bucket_policy()
                .bucket(name)
                .expected_bucket_owner(owner)
                .policy(policy)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!("set the TLS-only policy of {name}: {}", sdk_error(&e))
                })?;
            report.completed.push("TLS-only policy");
        }
    }
    if report.created {
        report.completed.clear();
    }
    Ok(report)
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
    let lambda_sha = crate::deploy::code::lambda_sha256(&bytes);
    put(
        clients,
        bucket,
        &key,
        "application/zip",
        ByteStream::from(bytes),
        &zip.sha256,
        &[(crate::deploy::code::LAMBDA_SHA_METADATA, &lambda_sha)],
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
    use sha2::Digest;
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

    /// A bucket a run left half-made (public access blocked, encrypted,
    /// versioned, but no TLS policy yet): the next run adds the policy and
    /// says so, and every request names the expected owner (no rule
    /// matches a request without it, which would fail the call).
    #[tokio::test]
    async fn a_half_made_bucket_is_completed_and_every_request_names_its_owner() {
        use aws_sdk_s3::operation::get_bucket_encryption::GetBucketEncryptionOutput;
        use aws_sdk_s3::operation::get_bucket_policy::GetBucketPolicyError;
        use aws_sdk_s3::operation::get_bucket_versioning::GetBucketVersioningOutput;
        use aws_sdk_s3::operation::get_public_access_block::GetPublicAccessBlockOutput;
        use aws_sdk_s3::operation::head_bucket::HeadBucketOutput;
        use aws_sdk_s3::operation::put_bucket_policy::PutBucketPolicyOutput;
        use aws_smithy_mocks::mock;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};

        const OWNER: &str = "111122223333";
        let bucket = Bucket::of(OWNER, "eu-west-1");
        let owned = |o: Option<&str>| o == Some(OWNER);
        let head = mock!(aws_sdk_s3::Client::head_bucket)
            .match_requests(move |r| owned(r.expected_bucket_owner()))
            .then_output(|| HeadBucketOutput::builder().build());
        let block = mock!(aws_sdk_s3::Client::get_public_access_block)
            .match_requests(move |r| owned(r.expected_bucket_owner()))
            .then_output(|| {
                GetPublicAccessBlockOutput::builder()
                    .public_access_block_configuration(
                        PublicAccessBlockConfiguration::builder()
                            .block_public_acls(true)
                            .ignore_public_acls(true)
                            .block_public_policy(true)
                            .restrict_public_buckets(true)
                            .build(),
                    )
                    .build()
            });
        let encryption = mock!(aws_sdk_s3::Client::get_bucket_encryption)
            .match_requests(move |r| owned(r.expected_bucket_owner()))
            .then_output(|| {
                GetBucketEncryptionOutput::builder()
                    .server_side_encryption_configuration(
                        ServerSideEncryptionConfiguration::builder()
                            .rules(ServerSideEncryptionRule::builder().build())
                            .build()
                            .unwrap(),
                    )
                    .build()
            });
        let versioning = mock!(aws_sdk_s3::Client::get_bucket_versioning)
            .match_requests(move |r| owned(r.expected_bucket_owner()))
            .then_output(|| {
                GetBucketVersioningOutput::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build()
            });
        let no_policy = mock!(aws_sdk_s3::Client::get_bucket_policy)
            .match_requests(move |r| owned(r.expected_bucket_owner()))
            .then_error(|| GetBucketPolicyError::unhandled("NoSuchBucketPolicy"));
        let put = Arc::new(AtomicBool::new(false));
        let seen = put.clone();
        let name = bucket.name.clone();
        let put_policy = mock!(aws_sdk_s3::Client::put_bucket_policy)
            .match_requests(move |r| {
                let tls = r
                    .policy()
                    .is_some_and(|p| p.contains("aws:SecureTransport"));
                let ok =
                    owned(r.expected_bucket_owner()) && r.bucket() == Some(name.as_str()) && tls;
                seen.store(ok, Ordering::SeqCst);
                ok
            })
            .then_output(|| PutBucketPolicyOutput::builder().build());
        let mut clients = crate::aws::mocks::clients();
        clients.region = "eu-west-1".into();
        clients.s3 = crate::aws::mocks::s3(&[
            &head,
            &block,
            &encryption,
            &versioning,
            &no_policy,
            &put_policy,
        ]);

        let report = ensure_bucket(&clients, &bucket, true)
            .await
            .expect("completed");
        assert!(!report.created);
        assert_eq!(report.completed, ["TLS-only policy"]);
        assert!(put.load(Ordering::SeqCst), "the TLS-only policy was put");
    }

    #[test]
    fn the_policy_denies_every_request_without_tls() {
        let policy: serde_json::Value = serde_json::from_str(&tls_only_policy("b")).unwrap();
        let statement = &policy["Statement"][0];
        assert_eq!(statement["Effect"], "Deny");
        assert_eq!(
            statement["Condition"]["Bool"]["aws:SecureTransport"],
            "false"
        );
        assert_eq!(statement["Resource"][1], "arn:aws:s3:::b/*");
    }
}
