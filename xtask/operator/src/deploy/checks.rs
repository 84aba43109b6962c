//! What a deploy checks of the stage and the account before it changes
//! anything, beyond the stack itself:
//!
//! - **producers**: a ledger detail-type nobody may put on the bus
//!   (`infra::producers::missing_producers`) is warned about, loudest for
//!   the one that mints money;
//! - **a CloudTrail trail** (staging and prod): the key-state alert rule
//!   matches KMS calls as CloudTrail records them, so without a trail that
//!   is logging in this region a disabled key raises no alert: warned;
//! - **Lambda's concurrency quota** (any stage that reserves concurrency):
//!   AWS refuses a reservation that leaves fewer than
//!   [`MIN_UNRESERVED`] unreserved executions, and only when it updates the
//!   function, late in the stack operation: refused here, first, in one
//!   line with the numbers.
//!
//! The decisions are pure and unit-tested; the reads are tested with mocked
//! clients.

use infra::{Stage, StageConfig};
use serde_json::Value;

use crate::aws::{Clients, emulator, sdk_error};
use crate::base::ui::Out;

/// The unreserved executions Lambda keeps for functions without a
/// reservation: "you can't reserve more than the account's concurrency
/// limit minus 100"
/// (<https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html>).
pub(super) const MIN_UNRESERVED: i64 = 100;

/// The warnings for the stage's producers: one line per detail-type nobody
/// may put, the money one first and shouting.
pub(super) fn producer_warnings(config: &StageConfig) -> Vec<String> {
    let mut missing = infra::producers::missing_producers(config);
    missing.sort_by_key(|m| !m.mints_money);
    missing
        .iter()
        .map(|m| {
            if m.mints_money {
                format!(
                    "WARNING: NOBODY MAY GRANT CREDITS ON {}: {m}",
                    config.stage.as_str().to_uppercase()
                )
            } else {
                format!("warning: {m}")
            }
        })
        .collect()
}

/// A trail, as far as the check needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Trail {
    /// Its name (or ARN).
    pub(super) name: String,
    /// Whether it records every region.
    pub(super) multi_region: bool,
    /// The region it lives in.
    pub(super) home_region: String,
    /// Whether it is logging (`GetTrailStatus`).
    pub(super) logging: bool,
}

/// What to say about the trails of `region`: nothing when one is logging
/// there, else a warning naming what the key-state alert needs.
pub(super) fn trail_warning(stage: Stage, region: &str, trails: &[Trail]) -> Option<String> {
    let here: Vec<&Trail> = trails
        .iter()
        .filter(|t| t.multi_region || t.home_region == region)
        .collect();
    if here.iter().any(|t| t.logging) {
        return None;
    }
    let found = if here.is_empty() {
        format!("no CloudTrail trail records {region}")
    } else {
        format!(
            "no trail recording {region} is logging ({} stopped)",
            here.iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Some(format!(
        "WARNING: {found}: the {stage} key-state alert (a stage key disabled or scheduled for \
         deletion) matches KMS calls as CloudTrail records them and stays silent without a \
         trail; turn on a trail that logs this region's management events \
         (docs/operations.md#key-state)"
    ))
}

/// The trails of the account that apply to the clients' region, with their
/// status.
async fn trails(clients: &Clients) -> anyhow::Result<Vec<Trail>> {
    let described = clients
        .cloudtrail
        .describe_trails()
        .include_shadow_trails(true)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cloudtrail:DescribeTrails: {}", sdk_error(&e)))?;
    let mut found = Vec::new();
    for trail in described.trail_list() {
        let name = trail
            .trail_arn()
            .or(trail.name())
            .unwrap_or_default()
            .to_owned();
        let status = clients
            .cloudtrail
            .get_trail_status()
            .name(&name)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cloudtrail:GetTrailStatus {name}: {}", sdk_error(&e)))?;
        found.push(Trail {
            name,
            multi_region: trail.is_multi_region_trail() == Some(true),
            home_region: trail.home_region().unwrap_or_default().to_owned(),
            logging: status.is_logging() == Some(true),
        });
    }
    Ok(found)
}

/// Staging and prod: warns when no trail logs the region (or the trails
/// could not be read).
pub(super) async fn warn_without_trail(clients: &Clients, stage: Stage, out: &dyn Out) {
    if stage == Stage::Dev {
        return;
    }
    match trails(clients).await {
        Ok(found) => {
            if let Some(warning) = trail_warning(stage, &clients.region, &found) {
                out.note(&warning);
            }
        }
        Err(e) => out.note(&format!(
            "warning: could not check for a CloudTrail trail ({e:#}); the {stage} key-state \
             alert needs one logging this region"
        )),
    }
}

/// The reserved concurrency of a template's functions, summed.
pub(super) fn reserved(template: &Value) -> i64 {
    template["Resources"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, r)| r["Type"] == "AWS::Lambda::Function")
        .filter_map(|(_, r)| {
            let value = &r["Properties"]["ReservedConcurrentExecutions"];
            value
                .as_i64()
                .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
        })
        .sum()
}

/// The account's concurrency (`GetAccountSettings`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Concurrency {
    /// `AccountLimit.ConcurrentExecutions`: the quota.
    pub(super) limit: i64,
    /// `AccountLimit.UnreservedConcurrentExecutions`: what no function reserves.
    pub(super) unreserved: i64,
}

/// Whether the stack's reservations fit the account: what is unreserved
/// now, plus what the deployed stack reserves (freed), minus what the new
/// one reserves, must stay at least [`MIN_UNRESERVED`].
///
/// # Errors
/// One line with the numbers and what to do.
pub(super) fn concurrency_fits(
    stage: Stage,
    account: Concurrency,
    deployed: i64,
    new: i64,
) -> Result<(), String> {
    let left = account.unreserved + deployed - new;
    if new == 0 || left >= MIN_UNRESERVED {
        return Ok(());
    }
    Err(format!(
        "refusing to deploy {stage}: its functions reserve {new} concurrent executions, which \
         would leave {left} of the account's {} unreserved ({} unreserved now), and AWS refuses \
         a reservation that leaves fewer than {MIN_UNRESERVED}: request a Lambda concurrency \
         quota of at least {} (Service Quotas, \"Concurrent executions\"), or lower \
         handler_reserved_concurrency in infra/stages/{stage}.toml",
        account.limit,
        account.unreserved,
        account.limit - left + MIN_UNRESERVED
    ))
}

/// Refuses a deploy whose reservations the account's quota cannot hold
/// (not against an emulator: moto has no `GetAccountSettings`).
///
/// # Errors
/// The refusal ([`concurrency_fits`]), or the settings could not be read.
pub(super) async fn check_concurrency(
    clients: &Clients,
    stage: Stage,
    deployed: Option<&Value>,
    template: &Value,
) -> anyhow::Result<()> {
    let new = reserved(template);
    if new == 0 || emulator::lacks_lambda_account_settings(clients) {
        return Ok(());
    }
    let settings = clients
        .lambda
        .get_account_settings()
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "read Lambda's account settings (lambda:GetAccountSettings) to check the \
                 concurrency quota: {}",
                sdk_error(&e)
            )
        })?;
    let limit = settings.account_limit();
    let account = Concurrency {
        limit: limit.map_or(0, |l| i64::from(l.concurrent_executions())),
        unreserved: limit
            .and_then(|l| l.unreserved_concurrent_executions())
            .map_or(0, i64::from),
    };
    concurrency_fits(stage, account, deployed.map_or(0, reserved), new).map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudtrail::operation::describe_trails::DescribeTrailsOutput;
    use aws_sdk_cloudtrail::operation::get_trail_status::GetTrailStatusOutput;
    use aws_sdk_lambda::operation::get_account_settings::GetAccountSettingsOutput;
    use aws_sdk_lambda::types::AccountLimit;
    use aws_smithy_mocks::mock;
    use serde_json::json;

    use crate::aws::mocks;
    use crate::base::ui::Recorder;

    #[test]
    fn a_money_detail_type_without_producer_is_shouted_first() {
        let prod = StageConfig::for_stage(Stage::Prod);
        let warnings = producer_warnings(&prod);
        assert!(
            warnings[0].starts_with(
                "WARNING: NOBODY MAY GRANT CREDITS ON PROD: prod: nobody may put credits.granted"
            ),
            "{warnings:#?}"
        );
        assert!(
            warnings[0].contains("infra/stages/prod.toml"),
            "{}",
            warnings[0]
        );
        assert!(warnings[1..].iter().all(|w| w.starts_with("warning: ")));
        assert!(producer_warnings(&StageConfig::for_stage(Stage::Dev)).is_empty());
    }

    fn trail(name: &str, multi_region: bool, home: &str, logging: bool) -> Trail {
        Trail {
            name: name.into(),
            multi_region,
            home_region: home.into(),
            logging,
        }
    }

    #[test]
    fn only_a_logging_trail_of_the_region_silences_the_warning() {
        let none = trail_warning(Stage::Prod, "eu-west-1", &[]).unwrap();
        assert!(
            none.contains("no CloudTrail trail records eu-west-1"),
            "{none}"
        );
        assert!(none.contains("key-state"), "{none}");
        let elsewhere = [trail("other", false, "us-east-1", true)];
        assert!(trail_warning(Stage::Prod, "eu-west-1", &elsewhere).is_some());
        let stopped = [trail("org", true, "us-east-1", false)];
        let warning = trail_warning(Stage::Staging, "eu-west-1", &stopped).unwrap();
        assert!(warning.contains("(org stopped)"), "{warning}");
        for fine in [
            trail("org", true, "us-east-1", true),
            trail("local", false, "eu-west-1", true),
        ] {
            assert_eq!(trail_warning(Stage::Prod, "eu-west-1", &[fine]), None);
        }
    }

    #[tokio::test]
    async fn the_trails_are_read_with_their_status() {
        let describe = mock!(aws_sdk_cloudtrail::Client::describe_trails).then_output(|| {
            DescribeTrailsOutput::builder()
                .trail_list(
                    aws_sdk_cloudtrail::types::Trail::builder()
                        .name("management")
                        .trail_arn("arn:aws:cloudtrail:us-east-1:1:trail/management")
                        .is_multi_region_trail(true)
                        .home_region("us-east-1")
                        .build(),
                )
                .build()
        });
        let stopped = mock!(aws_sdk_cloudtrail::Client::get_trail_status)
            .match_requests(|r| r.name() == Some("arn:aws:cloudtrail:us-east-1:1:trail/management"))
            .then_output(|| GetTrailStatusOutput::builder().is_logging(false).build());
        let mut clients = mocks::clients();
        clients.cloudtrail = mocks::cloudtrail(&[&describe, &stopped]);
        let out = Recorder::default();
        warn_without_trail(&clients, Stage::Prod, &out).await;
        assert!(
            out.text()
                .contains("(arn:aws:cloudtrail:us-east-1:1:trail/management stopped)"),
            "{}",
            out.text()
        );
        let silent = Recorder::default();
        warn_without_trail(&clients, Stage::Dev, &silent).await;
        assert_eq!(silent.text(), "", "dev has no key-state alert");
    }

    #[test]
    fn reservations_must_leave_a_hundred_unreserved() {
        let template = |handler: i64, sweep: i64| {
            json!({"Resources": {
                "Handler": {"Type": "AWS::Lambda::Function", "Properties": {"ReservedConcurrentExecutions": handler}},
                "Sweep": {"Type": "AWS::Lambda::Function", "Properties": {"ReservedConcurrentExecutions": sweep}},
                "Other": {"Type": "AWS::SQS::Queue", "Properties": {}},
            }})
        };
        assert_eq!(reserved(&template(10, 1)), 11);
        assert_eq!(reserved(&json!({"Resources": {}})), 0);
        let fresh = |limit| Concurrency {
            limit,
            unreserved: limit,
        };
        assert_eq!(concurrency_fits(Stage::Prod, fresh(111), 0, 11), Ok(()));
        let error = concurrency_fits(Stage::Prod, fresh(110), 0, 11).unwrap_err();
        assert_eq!(
            error,
            "refusing to deploy prod: its functions reserve 11 concurrent executions, which would \
             leave 99 of the account's 110 unreserved (110 unreserved now), and AWS refuses a \
             reservation that leaves fewer than 100: request a Lambda concurrency quota of at \
             least 111 (Service Quotas, \"Concurrent executions\"), or lower \
             handler_reserved_concurrency in infra/stages/prod.toml"
        );
        // What the deployed stack reserves now is freed by the update.
        let taken = Concurrency {
            limit: 111,
            unreserved: 100,
        };
        assert_eq!(concurrency_fits(Stage::Prod, taken, 11, 11), Ok(()));
        assert!(
            concurrency_fits(Stage::Prod, taken, 0, 11).is_err(),
            "another function holds 11"
        );
        assert_eq!(
            concurrency_fits(Stage::Dev, fresh(10), 0, 0),
            Ok(()),
            "nothing reserved"
        );
    }

    #[tokio::test]
    async fn an_account_with_a_quota_of_fifty_is_refused_before_anything_is_built() {
        let settings = mock!(aws_sdk_lambda::Client::get_account_settings).then_output(|| {
            GetAccountSettingsOutput::builder()
                .account_limit(
                    AccountLimit::builder()
                        .concurrent_executions(50)
                        .unreserved_concurrent_executions(50)
                        .build(),
                )
                .build()
        });
        let mut clients = mocks::clients();
        clients.lambda = mocks::lambda(&[&settings]);
        let template: Value = serde_json::from_str(&infra::synth(Stage::Prod)).unwrap();
        let error = check_concurrency(&clients, Stage::Prod, None, &template)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("reserve 11 concurrent executions"),
            "{error}"
        );
        assert!(error.contains("leave 39 of the account's 50"), "{error}");
        assert!(!error.contains('\n'), "{error}");
        let dev: Value = serde_json::from_str(&infra::synth(Stage::Dev)).unwrap();
        check_concurrency(&clients, Stage::Dev, None, &dev)
            .await
            .expect("dev reserves nothing: no call");
    }
}
