//! Converging the artifacts bucket: it exists, owned by the expected
//! account, with all public access blocked, default encryption, versioning
//! and (on AWS) a TLS-only policy. Each setting is one step: read it, set
//! it when it is missing, say so.

use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
};
use serde_json::json;

use super::Bucket;
use crate::aws::{Clients, sdk_error};

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
    let created = ensure_exists(clients, bucket).await?;
    let mut completed = Vec::new();
    if block_public_access(clients, bucket).await? {
        completed.push("public access blocked");
    }
    if encrypt(clients, bucket).await? {
        completed.push("default encryption");
    }
    if version(clients, bucket).await? {
        completed.push("versioning");
    }
    if tls_policy && require_tls(clients, bucket).await? {
        completed.push("TLS-only policy");
    }
    if created {
        completed.clear();
    }
    Ok(BucketReport { created, completed })
}

/// Creates the bucket unless the owner has it; `true` when created.
async fn ensure_exists(clients: &Clients, bucket: &Bucket) -> anyhow::Result<bool> {
    let (s3, name, owner) = (&clients.s3, bucket.name.as_str(), bucket.owner.as_str());
    match s3
        .head_bucket()
        .bucket(name)
        .expected_bucket_owner(owner)
        .send()
        .await
    {
        Ok(_) => Ok(false),
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
            Ok(true)
        }
        Err(e) => anyhow::bail!(
            "artifacts bucket {name} exists but not in account {owner} (or is not accessible with \
             these credentials): {}",
            sdk_error(&e)
        ),
    }
}

/// Blocks all public access unless it is; `true` when it was set now.
async fn block_public_access(clients: &Clients, bucket: &Bucket) -> anyhow::Result<bool> {
    let (s3, name, owner) = (&clients.s3, bucket.name.as_str(), bucket.owner.as_str());
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
    if blocked {
        return Ok(false);
    }
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
    Ok(true)
}

/// Turns default encryption on unless it is; `true` when it was set now.
async fn encrypt(clients: &Clients, bucket: &Bucket) -> anyhow::Result<bool> {
    let (s3, name, owner) = (&clients.s3, bucket.name.as_str(), bucket.owner.as_str());
    let encrypted = s3
        .get_bucket_encryption()
        .bucket(name)
        .expected_bucket_owner(owner)
        .send()
        .await
        .ok()
        .and_then(|o| o.server_side_encryption_configuration)
        .is_some_and(|c| !c.rules().is_empty());
    if encrypted {
        return Ok(false);
    }
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::Aes256)
        .build()
        .expect("the algorithm is set");
    let configuration = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(by_default)
                .build(),
        )
        .build()
        .expect("the rules are set");
    s3.put_bucket_encryption()
        .bucket(name)
        .expected_bucket_owner(owner)
        .server_side_encryption_configuration(configuration)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("encrypt {name}: {}", sdk_error(&e)))?;
    Ok(true)
}

/// Turns versioning on unless it is; `true` when it was found off. An
/// unreadable answer (moto answers with an XML root the SDK refuses) is set
/// again, which is idempotent, without calling it missing.
async fn version(clients: &Clients, bucket: &Bucket) -> anyhow::Result<bool> {
    let (s3, name, owner) = (&clients.s3, bucket.name.as_str(), bucket.owner.as_str());
    let versioned = s3
        .get_bucket_versioning()
        .bucket(name)
        .expected_bucket_owner(owner)
        .send()
        .await
        .ok()
        .map(|o| o.status() == Some(&BucketVersioningStatus::Enabled));
    if versioned == Some(true) {
        return Ok(false);
    }
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
    Ok(versioned == Some(false))
}

/// Puts the TLS-only policy unless it is there; `true` when it was put now.
async fn require_tls(clients: &Clients, bucket: &Bucket) -> anyhow::Result<bool> {
    let (s3, name, owner) = (&clients.s3, bucket.name.as_str(), bucket.owner.as_str());
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
    if same {
        return Ok(false);
    }
    s3.put_bucket_policy()
        .bucket(name)
        .expected_bucket_owner(owner)
        .policy(policy)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("set the TLS-only policy of {name}: {}", sdk_error(&e)))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

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
