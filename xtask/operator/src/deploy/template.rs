//! Where the template goes: inline when it fits CloudFormation's 51,200
//! bytes, otherwise uploaded once to the artifacts bucket under its hash and
//! passed by URL.

use crate::artifacts::{self, Bucket};
use crate::aws::Clients;
use crate::cfn::change_set::TemplateSource;

/// The most CloudFormation takes inline (`TemplateBody`), in bytes.
pub const INLINE_LIMIT: usize = 51_200;

/// Whether a template of `bytes` must go through S3.
pub fn needs_url(bytes: usize) -> bool {
    bytes > INLINE_LIMIT
}

/// `templates/<stack>/<sha256>.json`: content-addressed, like the code.
pub fn template_key(stack: &str, template: &str) -> String {
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(template.as_bytes()));
    format!("templates/{stack}/{sha}.json")
}

/// The URL CloudFormation reads an object of the bucket from: virtual-hosted
/// S3 on AWS; on an emulator, path-style on the emulator, whose
/// CloudFormation only fetches `localhost` URLs.
pub fn object_url(endpoint: Option<&str>, region: &str, bucket: &str, key: &str) -> String {
    match endpoint {
        Some(endpoint) => format!(
            "{}/{bucket}/{key}",
            crate::aws::emulator::fetchable_endpoint(endpoint)
        ),
        None => {
            let domain = if region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            format!("https://{bucket}.s3.{region}.{domain}/{key}")
        }
    }
}

/// The template as CloudFormation will take it: inline when small enough,
/// otherwise uploaded (once: the key is its hash) and passed by URL.
/// Returns the source and, for a URL, where it was put.
///
/// # Errors
/// The upload failed.
pub async fn place_template(
    clients: &Clients,
    bucket: &Bucket,
    stack: &str,
    template: &str,
) -> anyhow::Result<(TemplateSource, Option<String>)> {
    if !needs_url(template.len()) {
        return Ok((TemplateSource::Body(template.to_owned()), None));
    }
    let key = template_key(stack, template);
    if !artifacts::exists(clients, bucket, &key).await? {
        artifacts::put_bytes(
            clients,
            bucket,
            &key,
            "application/json",
            template.as_bytes().to_vec(),
        )
        .await?;
    }
    let url = object_url(
        clients.endpoint.as_deref(),
        &clients.region,
        &bucket.name,
        &key,
    );
    Ok((
        TemplateSource::Url(url),
        Some(format!("s3://{}/{key}", bucket.name)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_over_the_inline_limit_go_through_s3() {
        assert!(!needs_url(0));
        assert!(!needs_url(INLINE_LIMIT));
        assert!(needs_url(INLINE_LIMIT + 1));
        // Today's prod template (an alarm per delivery path) is over it:
        // every deploy passes it by URL.
        let prod = infra::template(&infra::StageConfig::for_stage(infra::Stage::Prod)).to_json();
        assert!(needs_url(prod.len()), "{} bytes", prod.len());
    }

    #[test]
    fn template_keys_are_content_addressed() {
        let a = template_key("s", "{}");
        assert_eq!(a, template_key("s", "{}"));
        assert_ne!(a, template_key("s", "{ }"));
        assert!(a.starts_with("templates/s/") && a.ends_with(".json"), "{a}");
    }

    #[test]
    fn object_urls_for_aws_and_for_the_emulator() {
        assert_eq!(
            object_url(None, "eu-west-1", "b", "templates/s/x.json"),
            "https://b.s3.eu-west-1.amazonaws.com/templates/s/x.json"
        );
        assert_eq!(
            object_url(None, "cn-north-1", "b", "k"),
            "https://b.s3.cn-north-1.amazonaws.com.cn/k"
        );
        assert_eq!(
            object_url(Some("http://127.0.0.1:5000/"), "us-east-1", "b", "k"),
            "http://localhost:5000/b/k"
        );
    }
}
