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
//! as a deploy.

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

/// The release to roll back to: `to` (a version, or a unique prefix of at
/// least 4 digits), or else the newest release older than the current
/// one's last deploy with other code.
///
/// # Errors
/// No such version, an ambiguous prefix, the version already deployed, or
/// nothing earlier to go back to.
pub fn choose<'a>(
    releases: &'a [Release],
    current: &str,
    to: Option<&str>,
) -> Result<&'a Release, String> {
    let known = || {
        let mut versions: Vec<&str> = releases.iter().map(|r| r.version.as_str()).collect();
        versions.dedup();
        if versions.is_empty() {
            "none is recorded".to_owned()
        } else {
            format!("known: {}", versions.join(", "))
        }
    };
    let chosen = match to {
        Some(to) => {
            if to.len() < 4 {
                return Err(format!("--to {to}: give at least 4 digits of a version"));
            }
            let mut matching: Vec<&Release> = releases
                .iter()
                .filter(|r| r.version.starts_with(to))
                .collect();
            matching.dedup_by(|a, b| a.version == b.version);
            match matching.as_slice() {
                [] => return Err(format!("--to {to}: no such release ({})", known())),
                [_, _, ..] => {
                    return Err(format!(
                        "--to {to}: more than one release matches ({})",
                        known()
                    ));
                }
                [_] => releases
                    .iter()
                    .rev()
                    .find(|r| r.version.starts_with(to))
                    .ok_or_else(|| format!("--to {to}: no such release"))?,
            }
        }
        None => {
            // The release deployed before the current one was deployed (by
            // a deploy, not by a rollback to it): two rollbacks in a row go
            // two releases back, never forth to the one just rolled back from.
            let deployed_at = releases
                .iter()
                .rposition(|r| r.version == current && r.kind != "rollback")
                .or_else(|| releases.iter().position(|r| r.version == current))
                .unwrap_or(releases.len());
            releases[..deployed_at]
                .iter()
                .rev()
                .find(|r| r.version != current)
                .ok_or_else(|| {
                    format!("no release before the current one ({current}) is recorded: nothing to roll back to")
                })?
        }
    };
    if chosen.version == current {
        return Err(format!(
            "{current} is the release deployed now: nothing to do"
        ));
    }
    Ok(chosen)
}

/// Whether `release`'s code can run on the functions of the deployed
/// `template` (pure): the same architecture (`Architectures` of each
/// function), or a rollback would deploy code that cannot start.
///
/// # Errors
/// Which function, which architectures, and what to do.
pub fn fits(template: &serde_json::Value, release: &Release) -> Result<(), String> {
    for f in &crate::base::build::FUNCTIONS {
        let deployed = template["Resources"][f.logical_id]["Properties"]["Architectures"][0]
            .as_str()
            .unwrap_or("x86_64");
        if deployed != release.architecture {
            return Err(format!(
                "release {} was built for {} but {} runs on {deployed}: rolling back would \
                 deploy code that cannot start; choose a release built for {deployed} \
                 (`cargo xtask releases` shows each one's architecture)",
                release.version, release.architecture, f.logical_id
            ));
        }
    }
    Ok(())
}

/// The `releases` table: newest first, the current one marked `*`.
pub fn render(releases: &[Release], current: Option<&str>) -> String {
    if releases.is_empty() {
        return "No release is recorded (deploys record one from now on).\n".to_owned();
    }
    let rows: Vec<Vec<String>> = releases
        .iter()
        .rev()
        .map(|r| {
            vec![
                if Some(r.version.as_str()) == current {
                    "*"
                } else {
                    " "
                }
                .to_owned(),
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
mod tests {
    use super::*;

    fn release(version: &str, at: i64) -> Release {
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
    fn a_release_of_another_architecture_is_refused() {
        let template = |arch: &str| {
            serde_json::json!({"Resources": {
                "HandlerFunction": {"Properties": {"Architectures": [arch]}},
                "SweepFunction": {"Properties": {"Architectures": [arch]}},
            }})
        };
        let arm = release("aaaa", 1);
        assert_eq!(fits(&template("arm64"), &arm), Ok(()));
        let error = fits(&template("x86_64"), &arm).unwrap_err();
        assert!(
            error.contains("built for arm64 but HandlerFunction runs on x86_64"),
            "{error}"
        );
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

    #[test]
    fn rollback_goes_to_the_release_before_the_current_one() {
        let history = [
            release("aaaa11112222", 1),
            release("bbbb11112222", 2),
            release("cccc11112222", 3),
        ];
        assert_eq!(
            choose(&history, "cccc11112222", None).unwrap().version,
            "bbbb11112222"
        );
        // After a rollback to b, the current is b again: the next goes to a,
        // not forth to c.
        let mut after = history.to_vec();
        after.push(Release {
            kind: "rollback".into(),
            ..release("bbbb11112222", 4)
        });
        assert_eq!(
            choose(&after, "bbbb11112222", None).unwrap().version,
            "aaaa11112222"
        );
        // A new deploy after that goes back to b.
        after.push(release("dddd11112222", 5));
        assert_eq!(
            choose(&after, "dddd11112222", None).unwrap().version,
            "bbbb11112222"
        );
        // A revert that rebuilds a's exact code: back to what it replaced.
        let reverted = [
            release("aaaa11112222", 1),
            release("bbbb11112222", 2),
            release("aaaa11112222", 3),
        ];
        assert_eq!(
            choose(&reverted, "aaaa11112222", None).unwrap().version,
            "bbbb11112222"
        );
        // A current version no record names (deployed before records): the newest.
        assert_eq!(
            choose(&history, "ffff00000000", None).unwrap().version,
            "cccc11112222"
        );
        assert!(
            choose(&history[..1], "aaaa11112222", None)
                .unwrap_err()
                .contains("nothing to roll back")
        );
        assert!(choose(&[], "x", None).is_err());
    }

    #[test]
    fn rollback_to_a_named_version() {
        let history = [
            release("aaaa11112222", 1),
            release("aaab11112222", 2),
            release("cccc11112222", 3),
        ];
        assert_eq!(
            choose(&history, "cccc11112222", Some("aaaa"))
                .unwrap()
                .version,
            "aaaa11112222"
        );
        assert!(
            choose(&history, "cccc11112222", Some("aaa"))
                .unwrap_err()
                .contains("at least 4")
        );
        assert!(
            choose(&history, "cccc11112222", Some("aaaa1111222x"))
                .unwrap_err()
                .contains("no such release")
        );
        let history2 = [
            release("aaaa11112222", 1),
            release("aaaa11113333", 2),
            release("cccc11112222", 3),
        ];
        assert!(
            choose(&history2, "cccc11112222", Some("aaaa"))
                .unwrap_err()
                .contains("more than one")
        );
        assert!(
            choose(&history, "cccc11112222", Some("cccc"))
                .unwrap_err()
                .contains("deployed now")
        );
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
