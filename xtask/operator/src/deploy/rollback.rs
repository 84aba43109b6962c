//! `releases` and `rollback`: the stage's release records with the version
//! deployed now, and a recorded release's code put back with the deployed
//! template, through the same change set, guard and confirmation as a
//! deploy (nothing is built).

use anyhow::Context;
use infra::Stage;

use super::{CodeSource, DeployOptions, DeployReport, Template, deploy};
use crate::artifacts::Bucket;
use crate::aws::Clients;
use crate::base::tools::Tools;
use crate::base::ui::Out;
use crate::base::when::format_time;
use crate::cfn;
use crate::models::code;
use crate::models::releases::{self, Release};

/// The stage's releases and the version deployed now.
///
/// # Errors
/// S3 or CloudFormation refused.
pub async fn releases(
    clients: &Clients,
    stage: Stage,
    out: &dyn Out,
) -> anyhow::Result<(Vec<Release>, Option<String>)> {
    let (found, current, _) = releases_and_code(clients, stage, out).await?;
    Ok((found, current))
}

/// [`releases`], and whether the functions run other code than the stack
/// names (a hotswap), read once for both `releases` and `rollback`.
async fn releases_and_code(
    clients: &Clients,
    stage: Stage,
    out: &dyn Out,
) -> anyhow::Result<(Vec<Release>, Option<String>, bool)> {
    let stack = infra::stack_name(stage);
    let caller = clients.identity().await?;
    let bucket = Bucket::of(&caller.account, &clients.region);
    let (found, skipped) = releases::list(clients, &bucket, &stack).await?;
    for s in skipped {
        out.note(&format!("skipped an unreadable release record: {s}"));
    }
    let current = cfn::stack::deployed(clients, &stack)
        .await?
        .map(|d| releases::version_of(&releases::code_of(&d.parameters)));
    let mut hotswapped = false;
    match code::of_stack(clients, &stack).await {
        Ok(states) => {
            for state in states.iter().flatten().filter(|s| s.drifted()) {
                hotswapped = true;
                out.note(&format!(
                    "{}; `cargo xtask rollback` (or a deploy) puts the stack's code back",
                    state.line()
                ));
            }
        }
        Err(e) => out.note(&format!(
            "warning: could not compare the functions' code with the stack's ({})",
            crate::base::ui::clip(&format!("{e:#}"), 300)
        )),
    }
    Ok((found, current, hotswapped))
}

/// Redeploys a recorded release's code (`to`, or the one before the current
/// one) with the deployed template: see [`releases`].
///
/// # Errors
/// No stack, no such release, its code gone from the bucket, or the deploy's.
pub async fn rollback(
    clients: &Clients,
    tools: &Tools,
    opts: &DeployOptions,
    to: Option<&str>,
    out: &dyn Out,
) -> anyhow::Result<DeployReport> {
    let stack = opts.stack_name();
    let (found, current, hotswapped) = releases_and_code(clients, opts.config.stage, out).await?;
    let current =
        current.with_context(|| format!("{stack} does not exist: nothing to roll back"))?;
    let target = if hotswapped && to.is_none_or(|to| to.len() >= 4 && current.starts_with(to)) {
        // The functions run a hotswap: going back means the stack's own
        // release, which the deploy then puts back on the functions.
        found
            .iter()
            .rev()
            .find(|r| r.version == current && r.kind != "hotswap")
            .cloned()
            .with_context(|| {
                format!(
                    "{stack}: the functions run a hotswap and no record of the stack's own \
                     release ({current}) is kept: `cargo xtask deploy` puts the stack's code back"
                )
            })?
    } else {
        choose(&found, &current, to)
            .map_err(|e| anyhow::anyhow!("{stack}: {e}"))?
            .clone()
    };
    out.note(&format!(
        "rollback: {stack} from {current} to {} (deployed {} as {}, commit {})",
        target.version,
        format_time(target.deployed_at_ms),
        target.kind,
        target.git.as_deref().unwrap_or("unknown")
    ));
    let mut opts = opts.clone();
    opts.template = Template::Deployed;
    opts.code = CodeSource::Release(target);
    deploy(clients, tools, &opts, out).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::releases::tests::release;

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
}
