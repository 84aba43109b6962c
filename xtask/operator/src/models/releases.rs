//! Releases: which code each deploy put live, so a bad one can be undone
//! without rebuilding.
//!
//! A release is the set of code keys a stack runs (`HandlerCodeKey`,
//! `SweepCodeKey`: content-hashed zips in the versioned artifacts bucket).
//! Its *version* is a hash of those keys, so the same code is the same
//! version wherever it was built. Every deploy that changes the code (and
//! every hotswap and rollback) writes a record,
//! `releases/<stack>/<time>-<version>.json`, next to the zips; `releases`
//! lists them, and `rollback` redeploys one: the deployed template with the
//! release's code keys, through the same change set, guard and confirmation
//! as a deploy (`deploy::rollback`).

use std::collections::BTreeMap;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::artifacts::{self, Bucket};
use crate::aws::Clients;

/// One release record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// 12 hex digits of the hash of [`Release::code`].
    pub version: String,
    /// `cc-agent-reconciler-<stage>`.
    pub stack: String,
    /// When it went live (milliseconds since the epoch).
    pub deployed_at_ms: i64,
    /// `deploy`, `hotswap` or `rollback`.
    pub kind: String,
    /// Who deployed it (the caller's ARN).
    pub principal: String,
    /// The functions' architecture.
    pub architecture: String,
    /// The git commit it was built from, when known (`+dirty` when the
    /// working tree had changes).
    pub git: Option<String>,
    /// Code key parameter → S3 key.
    pub code: BTreeMap<String, String>,
}

/// The code key parameters of the stack, in the order of the functions.
fn code_parameters() -> impl Iterator<Item = &'static str> {
    crate::base::build::FUNCTIONS
        .iter()
        .map(|f| f.code_key_parameter)
}

/// The code keys among a stack's parameters.
pub fn code_of(parameters: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    code_parameters()
        .filter_map(|p| parameters.get(p).map(|k| (p.to_owned(), k.clone())))
        .collect()
}

/// The version of a set of code keys: 12 hex digits of their SHA-256.
pub fn version_of(code: &BTreeMap<String, String>) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    for (parameter, key) in code {
        hash.update(format!("{parameter}={key}\n").as_bytes());
    }
    hex::encode(hash.finalize())[..12].to_owned()
}

/// `releases/<stack>/`.
fn prefix(stack: &str) -> String {
    format!("releases/{stack}/")
}

/// `releases/<stack>/<yyyymmddThhmmssZ>-<version>.json`: the listing is in
/// time order.
pub fn record_key(release: &Release) -> String {
    format!(
        "{}{}-{}.json",
        prefix(&release.stack),
        crate::base::when::compact_time(release.deployed_at_ms),
        release.version
    )
}

/// The commit of the working tree, `+dirty` when it has changes; `None`
/// outside a git checkout.
pub fn git_commit() -> Option<String> {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(crate::root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = run(&["rev-parse", "--short=12", "HEAD"])?;
    let dirty = run(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("{commit}+dirty")
    } else {
        commit
    })
}

/// Writes a release record.
///
/// # Errors
/// S3 refused.
pub async fn record(
    clients: &Clients,
    bucket: &Bucket,
    release: &Release,
) -> anyhow::Result<String> {
    let key = record_key(release);
    let json = serde_json::to_vec_pretty(release).context("serialize the release")?;
    artifacts::put_bytes(clients, bucket, &key, "application/json", json).await?;
    Ok(key)
}

/// Every release of the stack, oldest first. Unreadable records are
/// skipped with a note each (returned second).
///
/// # Errors
/// S3 refused the listing.
pub async fn list(
    clients: &Clients,
    bucket: &Bucket,
    stack: &str,
) -> anyhow::Result<(Vec<Release>, Vec<String>)> {
    let mut keys = artifacts::list(clients, bucket, &prefix(stack)).await?;
    keys.sort();
    let mut releases = Vec::new();
    let mut skipped = Vec::new();
    for key in keys {
        let parsed = artifacts::get(clients, bucket, &key)
            .await
            .and_then(|bytes| {
                serde_json::from_slice::<Release>(&bytes).context("not a release record")
            });
        match parsed {
            Ok(release) => releases.push(release),
            Err(e) => skipped.push(format!("s3://{}/{key}: {e:#}", bucket.name)),
        }
    }
    releases.sort_by_key(|r| r.deployed_at_ms);
    Ok((releases, skipped))
}

/// The record that put the live code live (pure): the newest record of
/// the version deployed now (a version deployed, rolled away from and
/// rolled back to has several records; one is live). `None`: no record
/// names it.
pub fn live(releases: &[Release], current: Option<&str>) -> Option<usize> {
    let current = current?;
    releases.iter().rposition(|r| r.version == current)
}

/// `releases --json` (pure): the stack, the version deployed now, and
/// every record newest first, exactly one marked live when a record names
/// the live code (docs/operations.md#json).
pub fn to_json(stack: &str, releases: &[Release], current: Option<&str>) -> serde_json::Value {
    let live = live(releases, current);
    let rows: Vec<serde_json::Value> = releases
        .iter()
        .enumerate()
        .rev()
        .map(|(i, r)| {
            serde_json::json!({
                "version": r.version,
                "deployed_at": crate::base::when::format_time(r.deployed_at_ms),
                "kind": r.kind,
                "commit": r.git,
                "architecture": r.architecture,
                "principal": r.principal,
                "code": r.code,
                "live": Some(i) == live,
            })
        })
        .collect();
    serde_json::json!({"stack": stack, "deployed_now": current, "releases": rows})
}

/// The `releases` table: newest first, the live one marked `*`.
pub fn render(releases: &[Release], current: Option<&str>) -> String {
    if releases.is_empty() {
        return "No release is recorded (deploys record one from now on).\n".to_owned();
    }
    let live = live(releases, current);
    let rows: Vec<Vec<String>> = releases
        .iter()
        .enumerate()
        .rev()
        .map(|(i, r)| {
            vec![
                if Some(i) == live { "*" } else { " " }.to_owned(),
                r.version.clone(),
                crate::base::when::format_time(r.deployed_at_ms),
                r.kind.clone(),
                r.git.clone().unwrap_or_else(|| "-".to_owned()),
                r.architecture.clone(),
                crate::base::ui::clip(r.principal.rsplit('/').next().unwrap_or(&r.principal), 32),
            ]
        })
        .collect();
    let mut out = crate::base::ui::table(
        &[" ", "Version", "Deployed", "Kind", "Commit", "Arch", "By"],
        &rows,
    );
    match current {
        Some(v) if releases.iter().any(|r| r.version == v) => {
            out.push_str("  * deployed now\n");
        }
        Some(v) => out.push_str(&format!(
            "  deployed now: {v}, which no record names (deployed before releases were recorded)\n"
        )),
        None => {}
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A release of `version` deployed at `at` (ms), for tests.
    pub(crate) fn release(version: &str, at: i64) -> Release {
        Release {
            version: version.to_owned(),
            stack: "cc-agent-reconciler-dev".into(),
            deployed_at_ms: at,
            kind: "deploy".into(),
            principal: "arn:aws:sts::1:assumed-role/Deployer/alice".into(),
            architecture: "arm64".into(),
            git: Some("abc".into()),
            code: BTreeMap::new(),
        }
    }

    #[test]
    fn versions_hash_the_code_keys() {
        let code = BTreeMap::from([
            ("HandlerCodeKey".to_owned(), "handler/a.zip".to_owned()),
            ("SweepCodeKey".to_owned(), "sweep/b.zip".to_owned()),
        ]);
        let v = version_of(&code);
        assert_eq!(v.len(), 12);
        assert_eq!(v, version_of(&code.clone()));
        let mut other = code.clone();
        other.insert("SweepCodeKey".into(), "sweep/c.zip".into());
        assert_ne!(v, version_of(&other));
        let mut params = code.clone();
        params.insert("Stage".into(), "dev".into());
        assert_eq!(code_of(&params), code);
    }

    #[test]
    fn record_keys_sort_by_time() {
        let a = record_key(&release("aaaa00000000", 1_700_000_000_000));
        let b = record_key(&release("0000bbbbbbbb", 1_700_000_060_000));
        assert!(a < b, "{a} {b}");
        assert!(a.starts_with("releases/cc-agent-reconciler-dev/"), "{a}");
    }

    /// A version deployed, rolled away from and rolled back to has two
    /// records: one row is live, the newest.
    #[test]
    fn exactly_one_row_is_live() {
        let history = [
            release("aaaa11112222", 1),
            release("bbbb11112222", 2),
            Release {
                kind: "rollback".into(),
                ..release("aaaa11112222", 3)
            },
        ];
        assert_eq!(live(&history, Some("aaaa11112222")), Some(2));
        let table = render(&history, Some("aaaa11112222"));
        let marked: Vec<&str> = table.lines().filter(|l| l.starts_with('*')).collect();
        assert_eq!(marked.len(), 1, "{table}");
        assert!(marked[0].contains("rollback"), "the newest record: {table}");
        assert_eq!(live(&history, Some("ffff")), None);
        assert_eq!(live(&history, None), None);
        let json = to_json("s", &history, Some("aaaa11112222"));
        let rows = json["releases"].as_array().unwrap();
        assert_eq!(
            rows.iter()
                .map(|r| (r["kind"].as_str().unwrap(), r["live"].as_bool().unwrap()))
                .collect::<Vec<_>>(),
            [("rollback", true), ("deploy", false), ("deploy", false)],
            "newest first, one live"
        );
        assert_eq!(json["deployed_now"], "aaaa11112222");
        assert_eq!(rows[0]["commit"], "abc");
        assert_eq!(rows[0]["deployed_at"], "1970-01-01T00:00:00Z");
    }

    #[test]
    fn the_table_marks_the_current_release() {
        let history = [release("aaaa11112222", 1), release("bbbb11112222", 2)];
        let table = render(&history, Some("aaaa11112222"));
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[1].contains("bbbb11112222"), "newest first: {table}");
        assert!(
            lines[2].starts_with('*') && lines[2].contains("aaaa11112222"),
            "{table}"
        );
        assert!(table.contains("alice"), "{table}");
        assert!(render(&history, Some("ffff")).contains("no record names"));
        assert!(render(&[], None).contains("No release"));
    }
}
