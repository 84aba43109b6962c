//! The stage files `infra/stages/<stage>.toml`: each loads, keeps today's
//! values and the decisions this change made; a bad file is refused with
//! the file, the key and the problem.

use std::path::{Path, PathBuf};

use infra::{Stage, StageConfig, StageFileError, StragglerAction};

fn stages_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("stages")
}

#[test]
fn every_stage_file_loads_with_the_expected_values() {
    for stage in Stage::ALL {
        let loaded = StageConfig::load(stage).unwrap_or_else(|e| panic!("{e}"));
        // The compiled-in file is the one on disk.
        assert_eq!(
            StageConfig::load_from(&stages_dir(), stage),
            Ok(loaded.clone())
        );
        let production_like = stage != Stage::Dev;
        assert_eq!(loaded.stage, stage);
        assert_eq!(loaded.table_suffix, format!("_{stage}"));
        assert_eq!(loaded.hold_timeout_seconds, 21_600);
        assert_eq!(loaded.straggler_action, StragglerAction::Expire);
        assert!(loaded.summarizer.is_none());
        assert!(loaded.alert_subscriptions.is_empty());
        // Never an invented account: prod and staging leave it to a human.
        assert!(
            loaded.account.is_none() && loaded.region.is_none(),
            "{stage}"
        );
        assert_eq!(loaded.deletion_protection, production_like);
        assert_eq!(loaded.retain_stateful_resources, production_like);
        assert_eq!(loaded.termination_protection, production_like);
        assert_eq!(loaded.customer_managed_key, production_like);
        let (log, archive, handler, sweep) = match stage {
            Stage::Dev => (14, 7, None, None),
            Stage::Staging => (30, 30, Some(5), Some(1)),
            Stage::Prod => (90, 365, Some(10), Some(1)),
        };
        assert_eq!(loaded.log_retention_days, log, "{stage}");
        assert_eq!(loaded.archive_retention_days, archive, "{stage}");
        assert_eq!(loaded.handler_reserved_concurrency, handler, "{stage}");
        assert_eq!(loaded.sweep_reserved_concurrency, sweep, "{stage}");
        // The files restate the Rust defaults today; they exist to be edited.
        assert_eq!(loaded, StageConfig::for_stage(stage), "{stage}");
    }
}

#[test]
fn prod_and_staging_files_explain_the_account_pin_without_inventing_one() {
    for stage in [Stage::Staging, Stage::Prod] {
        let text = std::fs::read_to_string(stages_dir().join(format!("{stage}.toml"))).unwrap();
        assert!(text.contains("# account = \"<12-digit"), "{stage}");
        assert!(text.contains("# region = "), "{stage}");
        assert!(!text.lines().any(|l| l.trim_start().starts_with("account")));
    }
}

/// Loads `text` as the prod stage file from a scratch directory.
fn load_prod(text: &str) -> Result<StageConfig, StageFileError> {
    let dir = std::env::temp_dir().join(format!(
        "infra-stage-files-{}-{:x}",
        std::process::id(),
        text.len() * 31 + text.bytes().map(usize::from).sum::<usize>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("prod.toml"), text).unwrap();
    let result = StageConfig::load_from(&dir, Stage::Prod);
    std::fs::remove_dir_all(&dir).ok();
    result
}

#[test]
fn a_file_overrides_the_defaults() {
    let loaded = load_prod(
        r#"
account = "123456789012"
region = "eu-west-1"
log_retention_days = 365
handler_reserved_concurrency = "unreserved"
architecture = "x86_64"
alert_subscriptions = [
  { protocol = "email", endpoint = "ops@example.com" },
  { protocol = "sqs", endpoint = "arn:aws:sqs:eu-west-1:123456789012:alerts" },
]

[summarizer]
base_url = "https://api.example.com/v1"
model = "m"
api_key_parameter = "/k"

[[producers]]
detail_type = "credits.granted"
source = "billing.payments"
principals = ["arn:aws:iam::123456789012:role/billing-webhook"]
"#,
    )
    .unwrap();
    assert_eq!(
        loaded.producers,
        [infra::Producer {
            detail_type: "credits.granted".into(),
            source: "billing.payments".into(),
            principals: vec![infra::ProducerPrincipal::Arn(
                "arn:aws:iam::123456789012:role/billing-webhook".into()
            )],
        }]
    );
    assert_eq!(loaded.account.as_deref(), Some("123456789012"));
    assert_eq!(loaded.region.as_deref(), Some("eu-west-1"));
    assert_eq!(loaded.log_retention_days, 365);
    assert_eq!(loaded.handler_reserved_concurrency, None);
    assert_eq!(loaded.sweep_reserved_concurrency, Some(1), "a default");
    assert_eq!(loaded.architecture, infra::Architecture::X86_64);
    assert_eq!(loaded.alert_subscriptions.len(), 2);
    let summarizer = loaded.summarizer.unwrap();
    assert_eq!(
        summarizer.timeout_ms,
        reconciler_core::contract::DEFAULT_SUMMARIZER_TIMEOUT_MS
    );
}

#[test]
fn bad_files_are_refused_naming_the_file_the_key_and_the_problem() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("hold_timeout = 5", Some("hold_timeout"), "unknown key"),
        (
            "log_retention_days = \"long\"",
            Some("log_retention_days"),
            "expected an integer",
        ),
        (
            "log_retention_days = 10",
            Some("log_retention_days"),
            "is not one of",
        ),
        (
            "archive_retention_days = -1",
            Some("archive_retention_days"),
            "out of range",
        ),
        (
            "handler_reserved_concurrency = 0",
            Some("handler_reserved_concurrency"),
            "0 would stop",
        ),
        (
            "sweep_reserved_concurrency = true",
            Some("sweep_reserved_concurrency"),
            "\"unreserved\"",
        ),
        (
            "straggler_action = \"delete\"",
            Some("straggler_action"),
            "expire",
        ),
        (
            "termination_protection = \"yes\"",
            Some("termination_protection"),
            "true or false",
        ),
        ("account = \"1234\"", Some("account"), "12-digit"),
        ("architecture = \"arm\"", Some("architecture"), "arm64"),
        (
            "alert_subscriptions = [{ protocol = \"sms\", endpoint = \"+1555\" }]",
            Some("alert_subscriptions[0].protocol"),
            "email, https, sqs, lambda",
        ),
        (
            "alert_subscriptions = [{ protocol = \"email\", endpoint = \"ops\" }]",
            Some("alert_subscriptions[0].endpoint"),
            "e-mail address",
        ),
        (
            "alert_subscriptions = [{ protocol = \"https\", endpoint = \"http://x.example.com\" }]",
            Some("alert_subscriptions[0].endpoint"),
            "https:// URL",
        ),
        (
            "alert_subscriptions = [{ protocol = \"email\" }]",
            Some("alert_subscriptions[0].endpoint"),
            "missing",
        ),
        (
            "alert_subscriptions = [{ protocol = \"email\", endpoint = \"a@b.co\", raw = true }]",
            Some("alert_subscriptions[0].raw"),
            "unknown key",
        ),
        (
            "[summarizer]\nmodel = \"m\"",
            Some("summarizer.base_url"),
            "missing",
        ),
        (
            "[summarizer]\nbase_url = \"https://x.example.com\"\nmodel = \"m\"\napi_key_parameter = \"/k\"\ntimeout_ms = 900000",
            Some("summarizer.timeout_ms"),
            "below the sweep timeout",
        ),
        (
            "account = \"1\"\nlog_retention_days = ",
            None,
            "not valid TOML at line 2",
        ),
        (
            "producers = \"billing\"",
            Some("producers"),
            "expected an array",
        ),
        (
            "[[producers]]\ndetail_type = \"credits.granted\"\nprincipals = [\"arn:aws:iam::123456789012:role/b\"]",
            Some("producers[0].source"),
            "missing",
        ),
        (
            "[[producers]]\ndetail_type = \"credits.granted\"\nsource = \"billing\"\nprincipals = [\"this-account\"]",
            Some("producers[0].principals[0]"),
            "name the producer's role",
        ),
        (
            "[[producers]]\ndetail_type = \"credits.granted\"\nsource = \"billing\"\nprincipals = [7]",
            Some("producers[0].principals[0]"),
            "expected a string",
        ),
        (
            "[[producers]]\ndetail_type = \"credits.adjusted\"\nsource = \"ops\"\nprincipals = [\"arn:aws:iam::123456789012:role/b\"]",
            Some("producers[0].detail_type"),
            "direct invocation",
        ),
        (
            "[[producers]]\ndetail_type = \"video.failed\"\nsource = \"r\"\nprincipals = [\"arn:aws:iam::123456789012:role/b\"]\nroles = []",
            Some("producers[0].roles"),
            "unknown key",
        ),
    ];
    for (text, key, problem) in cases {
        let error = load_prod(text).expect_err(text);
        assert!(error.file.ends_with("prod.toml"), "{error}");
        assert_eq!(error.key.as_deref(), *key, "{text}: {error}");
        assert!(error.problem.contains(problem), "{text}: {error}");
        let message = error.to_string();
        assert!(message.contains("prod.toml"), "{message}");
        assert!(!message.contains('\n'), "one line: {message}");
        if let Some(key) = key {
            assert!(message.contains(&format!("key `{key}`")), "{message}");
        }
    }
}

#[test]
fn a_missing_file_is_named() {
    let error = StageConfig::load_from(Path::new("/nonexistent-stages"), Stage::Dev).unwrap_err();
    assert_eq!(error.file, "/nonexistent-stages/dev.toml");
    assert!(error.to_string().contains("cannot read it"), "{error}");
}
