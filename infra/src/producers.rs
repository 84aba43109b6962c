//! Who may put which ledger event on a stage's bus: each detail-type's
//! producers, each an event `source` and the AWS principals allowed to put
//! it ([`Producer`], the `[[producers]]` of a stage file).
//!
//! The stack turns them into the bus's resource policy (everyone else's
//! `PutEvents` of that detail-type is denied) and into the rules' patterns
//! (the ledger and replay rules match the `source` too; everything else is
//! unrouted). `credits.granted` mints money: on staging and prod it has
//! exactly the producers the stage file names, none by default. Dev
//! defaults to one documented test producer for every detail-type
//! ([`TEST_PRODUCER_SOURCE`], any principal of the stack's account) so the
//! local tools can put events.
//!
//! ```
//! use infra::{Stage, StageConfig, producers};
//! let prod = StageConfig::for_stage(Stage::Prod);
//! let warnings = producers::missing_producers(&prod);
//! assert!(warnings.iter().any(|w| w.mints_money && w.detail_type == "credits.granted"));
//! ```

use std::fmt;

use reconciler_core::event::{CREDITS_ADJUSTED, DETAIL_TYPES};

use crate::stage::{Stage, StageConfig};

/// The detail-type that creates credits.
pub const MONEY_DETAIL_TYPE: &str = "credits.granted";

/// The `source` of dev's default test producer (any principal of the
/// stack's account): what the local tools put events with on dev.
pub const TEST_PRODUCER_SOURCE: &str = "cc-agent-reconciler.test";

/// One producer of one detail-type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Producer {
    /// One of the ledger detail-types.
    pub detail_type: String,
    /// The `source` its events carry.
    pub source: String,
    /// Who may put them (at least one).
    pub principals: Vec<ProducerPrincipal>,
}

/// A principal allowed to put a producer's events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProducerPrincipal {
    /// `"this-account"`: every IAM principal of the stack's own account
    /// (dev only: a sandbox account).
    ThisAccount,
    /// An IAM role or user ARN, matched against `aws:PrincipalArn` (for a
    /// role's sessions, the role's ARN); `*` and `?` may stand in the name
    /// (an IAM Identity Center role's suffix).
    Arn(String),
}

impl ProducerPrincipal {
    /// How the stage file writes it.
    pub fn as_str(&self) -> &str {
        match self {
            ProducerPrincipal::ThisAccount => "this-account",
            ProducerPrincipal::Arn(arn) => arn,
        }
    }
}

/// Dev's default producers: the test producer for every detail-type.
pub(crate) fn defaults(stage: Stage) -> Vec<Producer> {
    if stage != Stage::Dev {
        return Vec::new();
    }
    DETAIL_TYPES
        .iter()
        .map(|detail_type| Producer {
            detail_type: (*detail_type).to_owned(),
            source: TEST_PRODUCER_SOURCE.to_owned(),
            principals: vec![ProducerPrincipal::ThisAccount],
        })
        .collect()
}

/// The sources of `detail_type`'s producers, without repeats, in the
/// config's order.
pub fn sources<'a>(cfg: &'a StageConfig, detail_type: &str) -> Vec<&'a str> {
    let mut sources: Vec<&str> = Vec::new();
    for producer in cfg
        .producers
        .iter()
        .filter(|p| p.detail_type == detail_type)
    {
        if !sources.contains(&producer.source.as_str()) {
            sources.push(&producer.source);
        }
    }
    sources
}

/// Everyone who may put `detail_type` with `source`.
pub fn principals<'a>(
    cfg: &'a StageConfig,
    detail_type: &str,
    source: &str,
) -> Vec<&'a ProducerPrincipal> {
    cfg.producers
        .iter()
        .filter(|p| p.detail_type == detail_type && p.source == source)
        .flat_map(|p| &p.principals)
        .collect()
}

/// A ledger detail-type nobody may put on a stage's bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingProducer {
    /// The stage.
    pub stage: Stage,
    /// The detail-type.
    pub detail_type: &'static str,
    /// Whether it is the one that creates credits ([`MONEY_DETAIL_TYPE`]).
    pub mints_money: bool,
}

impl fmt::Display for MissingProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let consequence = if self.mints_money {
            "no credits can be granted on this stage"
        } else {
            "the bus refuses every such event"
        };
        write!(
            f,
            "{}: nobody may put {} on the bus: {consequence} (name its producer under \
             [[producers]] in infra/stages/{}.toml)",
            self.stage, self.detail_type, self.stage
        )
    }
}

/// The ledger detail-types of `cfg` without a producer, in
/// `DETAIL_TYPES` order: what a deploy should warn about, loudest for
/// [`MONEY_DETAIL_TYPE`] (`mints_money`).
pub fn missing_producers(cfg: &StageConfig) -> Vec<MissingProducer> {
    DETAIL_TYPES
        .iter()
        .filter(|detail_type| sources(cfg, detail_type).is_empty())
        .map(|detail_type| MissingProducer {
            stage: cfg.stage,
            detail_type,
            mints_money: *detail_type == MONEY_DETAIL_TYPE,
        })
        .collect()
}

/// The first problem of the producers, as (key, problem).
pub(crate) fn check(cfg: &StageConfig) -> Result<(), (String, String)> {
    for (i, producer) in cfg.producers.iter().enumerate() {
        let at = |field: &str| format!("producers[{i}].{field}");
        if producer.detail_type == CREDITS_ADJUSTED {
            return Err((
                at("detail_type"),
                format!(
                    "{CREDITS_ADJUSTED} has no producer: only a direct invocation \
                     (cargo xtask ledger adjust) may carry it"
                ),
            ));
        }
        if !DETAIL_TYPES.contains(&producer.detail_type.as_str()) {
            return Err((
                at("detail_type"),
                format!(
                    "{:?} is not one of {}",
                    producer.detail_type,
                    DETAIL_TYPES.join(", ")
                ),
            ));
        }
        check_source(&producer.source).map_err(|problem| (at("source"), problem))?;
        if producer.principals.is_empty() {
            return Err((at("principals"), "lists nobody".to_owned()));
        }
        for (j, principal) in producer.principals.iter().enumerate() {
            check_principal(cfg, principal)
                .map_err(|problem| (format!("producers[{i}].principals[{j}]"), problem))?;
        }
        let twice = cfg.producers[..i]
            .iter()
            .any(|p| p.detail_type == producer.detail_type && p.source == producer.source);
        if twice {
            return Err((
                format!("producers[{i}]"),
                format!(
                    "{} from {:?} is listed twice: put its principals in one entry",
                    producer.detail_type, producer.source
                ),
            ));
        }
    }
    Ok(())
}

/// EventBridge's `Source`: 1 to 256 characters; no spaces here (an event
/// pattern matches it exactly).
fn check_source(source: &str) -> Result<(), String> {
    if source.is_empty() || source.len() > 256 || source.contains(char::is_whitespace) {
        return Err(format!(
            "{source:?} must be 1 to 256 characters without spaces"
        ));
    }
    if source.starts_with("aws.") {
        return Err(format!(
            "{source:?}: sources starting with \"aws.\" are AWS's own"
        ));
    }
    Ok(())
}

/// `this-account` on dev only; else `arn:<partition>:iam::<account>:role/…`
/// or `…:user/…`, in the pinned account when there is one.
fn check_principal(cfg: &StageConfig, principal: &ProducerPrincipal) -> Result<(), String> {
    let arn = match principal {
        ProducerPrincipal::ThisAccount if cfg.stage == Stage::Dev => return Ok(()),
        ProducerPrincipal::ThisAccount => {
            return Err(format!(
                "\"this-account\" lets every principal of the account produce; on {} name \
                 the producer's role ARN",
                cfg.stage
            ));
        }
        ProducerPrincipal::Arn(arn) => arn,
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return Err(format!("{arn:?} is not an IAM role or user ARN"));
    };
    let name = resource
        .strip_prefix("role/")
        .or_else(|| resource.strip_prefix("user/"));
    let valid = *prefix == "arn"
        && partition.starts_with("aws")
        && *service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && name.is_some_and(|n| !n.is_empty() && n != "*" && !n.contains(char::is_whitespace));
    if !valid {
        return Err(format!(
            "{arn:?} is not an IAM role or user ARN (arn:aws:iam::<account>:role/<name>; \
             `*` only within the name)"
        ));
    }
    if let Some(pinned) = &cfg.account
        && account != pinned
    {
        return Err(format!(
            "{arn:?} is in account {account}, not the stage's {pinned}: a producer in \
             another account needs an allow on the bus, which this stack does not grant"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn producer(detail_type: &str, source: &str, principals: &[&str]) -> Producer {
        Producer {
            detail_type: detail_type.to_owned(),
            source: source.to_owned(),
            principals: principals
                .iter()
                .map(|p| match *p {
                    "this-account" => ProducerPrincipal::ThisAccount,
                    arn => ProducerPrincipal::Arn(arn.to_owned()),
                })
                .collect(),
        }
    }

    fn prod_with(producers: Vec<Producer>) -> StageConfig {
        StageConfig {
            producers,
            ..StageConfig::for_stage(Stage::Prod)
        }
    }

    #[test]
    fn dev_has_a_test_producer_for_every_type_and_staging_and_prod_none() {
        let dev = StageConfig::for_stage(Stage::Dev);
        assert_eq!(dev.producers.len(), 4);
        for detail_type in DETAIL_TYPES {
            assert_eq!(sources(&dev, detail_type), [TEST_PRODUCER_SOURCE]);
            assert_eq!(
                principals(&dev, detail_type, TEST_PRODUCER_SOURCE),
                [&ProducerPrincipal::ThisAccount]
            );
        }
        assert!(missing_producers(&dev).is_empty());
        for stage in [Stage::Staging, Stage::Prod] {
            let cfg = StageConfig::for_stage(stage);
            assert!(cfg.producers.is_empty(), "{stage}");
            let missing = missing_producers(&cfg);
            assert_eq!(
                missing.iter().map(|m| m.detail_type).collect::<Vec<_>>(),
                DETAIL_TYPES
            );
            let money: Vec<_> = missing.iter().filter(|m| m.mints_money).collect();
            assert_eq!(money.len(), 1);
            assert_eq!(
                money[0].to_string(),
                format!(
                    "{stage}: nobody may put credits.granted on the bus: no credits can be \
                     granted on this stage (name its producer under [[producers]] in \
                     infra/stages/{stage}.toml)"
                )
            );
        }
    }

    #[test]
    fn a_named_producer_removes_its_warning_only() {
        let cfg = prod_with(vec![producer(
            "credits.granted",
            "billing.payments",
            &["arn:aws:iam::123456789012:role/billing-webhook"],
        )]);
        assert_eq!(cfg.validate(), Ok(()));
        let missing = missing_producers(&cfg);
        assert!(missing.iter().all(|m| !m.mints_money));
        assert_eq!(missing.len(), 3);
    }

    #[test]
    fn sources_and_principals_are_grouped_without_repeats() {
        let role = |name: &str| format!("arn:aws:iam::123456789012:role/{name}");
        let cfg = prod_with(vec![
            producer("video.failed", "render.farm", &[&role("a")]),
            producer("video.failed", "render.edge", &[&role("b")]),
            producer("video.rendered", "render.farm", &[&role("a"), &role("c")]),
        ]);
        assert_eq!(cfg.validate(), Ok(()));
        assert_eq!(
            sources(&cfg, "video.failed"),
            ["render.farm", "render.edge"]
        );
        assert_eq!(sources(&cfg, "credits.granted"), Vec::<&str>::new());
        assert_eq!(
            principals(&cfg, "video.rendered", "render.farm")
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>(),
            [role("a"), role("c")]
        );
    }

    #[test]
    fn bad_producers_are_refused_naming_the_key() {
        let role = "arn:aws:iam::123456789012:role/r";
        let cases: Vec<(Vec<Producer>, Option<&str>, &str, &str)> = vec![
            (
                vec![producer("credits.adjusted", "s", &[role])],
                None,
                "producers[0].detail_type",
                "direct invocation",
            ),
            (
                vec![producer("video.renderd", "s", &[role])],
                None,
                "producers[0].detail_type",
                "is not one of",
            ),
            (
                vec![producer("video.failed", "", &[role])],
                None,
                "producers[0].source",
                "1 to 256",
            ),
            (
                vec![producer("video.failed", "a b", &[role])],
                None,
                "producers[0].source",
                "without spaces",
            ),
            (
                vec![producer("video.failed", "aws.kms", &[role])],
                None,
                "producers[0].source",
                "AWS's own",
            ),
            (
                vec![producer("video.failed", "s", &[])],
                None,
                "producers[0].principals",
                "nobody",
            ),
            (
                vec![producer("video.failed", "s", &["this-account"])],
                None,
                "producers[0].principals[0]",
                "name the producer's role",
            ),
            (
                vec![producer("video.failed", "s", &[role, "*"])],
                None,
                "producers[0].principals[1]",
                "not an IAM role or user ARN",
            ),
            (
                vec![producer(
                    "video.failed",
                    "s",
                    &["arn:aws:iam::123456789012:role/*"],
                )],
                None,
                "producers[0].principals[0]",
                "within the name",
            ),
            (
                vec![producer(
                    "video.failed",
                    "s",
                    &["arn:aws:sts::123456789012:assumed-role/r/s"],
                )],
                None,
                "producers[0].principals[0]",
                "not an IAM role",
            ),
            (
                vec![producer("video.failed", "s", &[role])],
                Some("111122223333"),
                "producers[0].principals[0]",
                "not the stage's 111122223333",
            ),
            (
                vec![
                    producer("video.failed", "s", &[role]),
                    producer("video.failed", "s", &[role]),
                ],
                None,
                "producers[1]",
                "listed twice",
            ),
        ];
        for (producers, account, key, problem) in cases {
            let cfg = StageConfig {
                account: account.map(str::to_owned),
                ..prod_with(producers)
            };
            let error = cfg.validate().unwrap_err();
            assert!(error.starts_with(&format!("prod: {key}: ")), "{error}");
            assert!(error.contains(problem), "{error}");
        }
        // A pinned account's own principals, and an Identity Center role.
        let cfg = StageConfig {
            account: Some("123456789012".into()),
            ..prod_with(vec![producer(
                "video.failed",
                "render.farm",
                &[
                    role,
                    "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Render_*",
                ],
            )])
        };
        assert_eq!(cfg.validate(), Ok(()));
    }
}
