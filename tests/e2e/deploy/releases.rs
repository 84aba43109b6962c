//! Undo and inspect: the releases a stage ran, rolling back to one without
//! rebuilding, hotswapping code on dev, drift (which moto cannot detect:
//! the detection itself is unit-tested with mocked responses in
//! `operator::deploy::drift`), and termination protection refusing a destroy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use infra::Stage;
use infra::stack::params;
use operator::base::ui::Recorder;
use operator::deploy::{self, Outcome};
use operator::models::releases;

use super::Env;

/// The code keys the stack's parameters name now.
async fn deployed_code(env: &Env) -> Vec<String> {
    let out = env
        .clients
        .cfn
        .describe_stacks()
        .stack_name(infra::stack_name(Stage::Dev))
        .send()
        .await
        .unwrap();
    let params = out.stacks()[0].parameters();
    [params::HANDLER_CODE_KEY, params::SWEEP_CODE_KEY]
        .iter()
        .map(|name| {
            params
                .iter()
                .find(|p| p.parameter_key() == Some(name))
                .and_then(|p| p.parameter_value())
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The handler function's configuration now.
async fn handler(env: &Env) -> aws_sdk_lambda::types::FunctionConfiguration {
    let config = testkit::emulator::sdk_config(&env.moto.endpoint).await;
    aws_sdk_lambda::Client::new(&config)
        .get_function()
        .function_name("cc-agent-reconciler-dev-handler")
        .send()
        .await
        .unwrap()
        .configuration()
        .unwrap()
        .clone()
}

/// The hash of the code the handler function runs now.
async fn handler_sha(env: &Env) -> String {
    handler(env).await.code_sha256().unwrap().to_owned()
}

#[tokio::test]
async fn releases_are_recorded_hotswapped_and_rolled_back_without_rebuilding() {
    let env = Env::start("releases").await;
    let out = Recorder::default();
    let v1 = env.deploy(&env.options(Stage::Dev)).await.expect("v1");
    assert!(v1.release_record.is_some(), "a create records its release");
    let v1_code = deployed_code(&env).await;
    assert_eq!(v1_code, v1.code_keys);

    // New code on dev with --hotswap: the functions' code is swapped
    // directly; the stack's parameters still name v1 (the drift).
    let mut v2_opts = env.options(Stage::Dev);
    v2_opts.code = operator::deploy::CodeSource::Build(operator::base::build::Source::Prebuilt(
        testkit::prebuilt_release("v2"),
    ));
    v2_opts.policy.hotswap = true;
    let before = handler_sha(&env).await;
    let (hot, said) = env.deploy_saying(&v2_opts, false).await;
    let hot = hot.expect("hotswap");
    assert_eq!(hot.outcome, Outcome::Hotswapped, "{said}");
    assert_ne!(hot.version, v1.version);
    assert!(said.contains("drift"), "{said}");
    assert_ne!(handler_sha(&env).await, before, "the code was swapped");
    assert_eq!(deployed_code(&env).await, v1_code, "the stack is untouched");

    // drift sees it (CloudFormation's detection cannot: a function's code
    // is write-only to it, and moto has no detection at all).
    let stack = infra::stack_name(Stage::Dev);
    let drift = deploy::drift::check(&env.clients, &stack)
        .await
        .expect("drift");
    assert_eq!(drift.status.as_str(), "NOT_CHECKED");
    assert!(drift.has_drift());
    let hot_functions: Vec<&str> = drift
        .code
        .iter()
        .filter(|c| c.drifted())
        .map(|c| c.logical_id.as_str())
        .collect();
    assert!(hot_functions.contains(&"HandlerFunction"), "{drift:#?}");
    let rendered = deploy::drift::render(&drift);
    println!("{rendered}");
    assert!(
        rendered.contains("the next deploy without --hotswap"),
        "{rendered}"
    );

    // The next deploy without --hotswap puts the stack's code back, even
    // with nothing to change in the stack.
    let (plain, said) = env.deploy_saying(&env.options(Stage::Dev), false).await;
    assert_eq!(plain.expect("plain deploy").outcome, Outcome::NoChanges);
    assert!(said.contains("put the stack's code back"), "{said}");
    assert_eq!(handler_sha(&env).await, before);
    let clean = deploy::drift::check(&env.clients, &stack).await.unwrap();
    assert!(!clean.has_drift(), "{clean:#?}");

    // So does a rollback right after a hotswap: back to the stack's release.
    let (again, _) = env.deploy_saying(&v2_opts, false).await;
    assert_eq!(again.expect("hotswap").outcome, Outcome::Hotswapped);
    assert_ne!(handler_sha(&env).await, before);
    let undo = deploy::rollback(
        &env.clients,
        &env.tools,
        &env.options(Stage::Dev),
        None,
        &out,
    )
    .await
    .expect("rollback of a hotswap");
    assert_eq!(undo.outcome, Outcome::NoChanges);
    assert_eq!(undo.version, v1.version);
    assert_eq!(handler_sha(&env).await, before);
    assert!(out.text().contains("runs code"), "{}", out.text());

    // Anything but code: hotswap falls back to a change set.
    let mut v2_config = v2_opts.clone();
    v2_config.config.handler_memory_mb = 512;
    let (full, said) = env.deploy_saying(&v2_config, false).await;
    assert_eq!(full.expect("fallback").outcome, Outcome::Updated);
    assert!(said.contains("the template changed"), "{said}");
    let v2_code = deployed_code(&env).await;
    assert_ne!(v2_code, v1_code, "the stack names v2 now");

    // releases: newest first, the current one marked.
    let (found, current) = deploy::releases(&env.clients, Stage::Dev, &out)
        .await
        .expect("releases");
    let kinds: Vec<(&str, &str)> = found
        .iter()
        .map(|r| (r.version.as_str(), r.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (v1.version.as_str(), "deploy"),
            (hot.version.as_str(), "hotswap"),
            (hot.version.as_str(), "hotswap"),
            (hot.version.as_str(), "deploy"),
        ]
    );
    assert_eq!(current.as_deref(), Some(hot.version.as_str()));
    let table = releases::render(&found, current.as_deref());
    println!("{table}");
    assert!(table.lines().nth(1).unwrap().starts_with('*'), "{table}");

    // rollback: the release before, with the deployed template (512 MB
    // stays), nothing built or uploaded. As `cargo xtask rollback` does,
    // with the stage's own architecture (arm64), which is not the one
    // these releases were built for (x86_64): the record of a rollback
    // copies the restored release's architecture and commit.
    let mut rollback_opts = env.options(Stage::Dev);
    rollback_opts.config.handler_memory_mb = 512;
    rollback_opts.config.architecture = infra::Architecture::Arm64;
    let back = deploy::rollback(&env.clients, &env.tools, &rollback_opts, None, &out)
        .await
        .expect("rollback");
    println!("{}", back.summary());
    assert_eq!(back.outcome, Outcome::Updated, "{}", out.text());
    assert_eq!(back.version, v1.version);
    assert!(!back.rebuilt && back.uploaded == 0);
    assert_eq!(deployed_code(&env).await, v1_code);
    assert_eq!(
        handler(&env).await.memory_size(),
        Some(512),
        "a rollback changes the code only"
    );

    // Forward again by name; an unknown version is refused with the known ones.
    let error = deploy::rollback(
        &env.clients,
        &env.tools,
        &rollback_opts,
        Some("ffff0000"),
        &out,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("no such release") && error.contains(&v1.version),
        "{error}"
    );
    let forward = deploy::rollback(
        &env.clients,
        &env.tools,
        &rollback_opts,
        Some(&hot.version[..8]),
        &out,
    )
    .await
    .expect("rollback --to");
    assert_eq!(forward.version, hot.version);
    assert_eq!(deployed_code(&env).await, v2_code);
    let (found, current) = deploy::releases(&env.clients, Stage::Dev, &out)
        .await
        .unwrap();
    assert_eq!(found.iter().filter(|r| r.kind == "rollback").count(), 2);
    for rollback in found.iter().filter(|r| r.kind == "rollback") {
        let restored = found
            .iter()
            .find(|r| r.version == rollback.version && r.kind != "rollback")
            .unwrap();
        assert_eq!(
            (rollback.architecture.as_str(), &rollback.git),
            ("x86_64", &restored.git),
            "the restored release's architecture and commit: {rollback:?}"
        );
    }
    let table = releases::render(&found, current.as_deref());
    assert_eq!(
        table.lines().filter(|l| l.starts_with('*')).count(),
        1,
        "one live row: {table}"
    );

    // Back to v1 by name: its newest record is the rollback's, which says
    // x86_64, as the code is.
    let again = deploy::rollback(
        &env.clients,
        &env.tools,
        &rollback_opts,
        Some(&v1.version[..8]),
        &out,
    )
    .await
    .expect("a rollback to a release a rollback recorded");
    assert_eq!(again.version, v1.version);
}

#[tokio::test]
async fn drift_says_the_emulator_cannot_detect_it() {
    let env = Env::start("drift").await;
    env.deploy(&env.options(Stage::Dev)).await.expect("deploy");
    let error = operator::cfn::drift::detect(&env.clients, &infra::stack_name(Stage::Dev))
        .await
        .expect_err("moto has no drift detection")
        .to_string();
    assert!(
        error.contains("no drift detection") && !error.contains('\n'),
        "{error}"
    );
}

/// Makes DescribeStacks report termination protection on (moto cannot
/// turn it on).
#[derive(Debug, Clone, Default)]
struct Protected(Arc<AtomicBool>);

impl Intercept for Protected {
    fn name(&self) -> &'static str {
        "Protected"
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Ok(output)) = context.output_or_error_mut()
            && let Some(out) = output.downcast_mut::<DescribeStacksOutput>()
        {
            for stack in out.stacks.iter_mut().flatten() {
                stack.enable_termination_protection = Some(true);
                self.0.store(true, Ordering::SeqCst);
            }
        }
        Ok(())
    }
}

#[tokio::test]
async fn destroy_refuses_a_protected_stack_and_says_how_to_lift_it() {
    let env = Env::start("protected").await;
    let mut opts = env.options(Stage::Staging);
    opts.policy.require_approval = deploy::plan::RequireApproval::Never;
    let (created, said) = env.deploy_saying(&opts, false).await;
    created.expect("staging");
    assert!(
        said.contains("termination protection not turned on"),
        "{said}"
    );
    assert!(
        said.contains("NOBODY HEARS THE STAGING ALARMS"),
        "staging's topic has no confirmed subscriber: {said}"
    );
    // A deploy with nothing to change says it again.
    let (again, said) = env.deploy_saying(&opts, false).await;
    assert_eq!(again.expect("no changes").outcome, Outcome::NoChanges);
    assert!(said.contains("NOBODY HEARS THE STAGING ALARMS"), "{said}");

    let protected = Protected::default();
    let config = testkit::emulator::sdk_config(&env.moto.endpoint).await;
    let mut clients = env.clients.clone();
    clients.cfn = aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::config::Builder::from(&config)
            .interceptor(protected.clone())
            .build(),
    );
    let error = deploy::destroy(
        &clients,
        &env.destroy_options(Stage::Staging),
        &Recorder::default(),
    )
    .await
    .expect_err("protected")
    .to_string();
    assert!(protected.0.load(Ordering::SeqCst));
    assert!(error.contains("--lift-termination-protection"), "{error}");
    assert!(
        env.stack_status(Stage::Staging).await.is_some(),
        "nothing deleted"
    );
}

/// A run that died after creating the artifacts bucket left it bare: the
/// next deploy completes it (public access blocked, encrypted, versioned)
/// and says what it lacked.
#[tokio::test]
async fn a_bare_artifacts_bucket_is_completed_by_the_next_deploy() {
    let env = Env::start("bare-bucket").await;
    let bucket = operator::artifacts::Bucket::of("123456789012", "us-east-1");
    env.clients
        .s3
        .create_bucket()
        .bucket(&bucket.name)
        .send()
        .await
        .unwrap();
    let (deployed, said) = env.deploy_saying(&env.options(Stage::Dev), false).await;
    deployed.expect("deploy");
    assert!(
        said.contains("lacked public access blocked, default encryption"),
        "{said}"
    );
    let s3 = &env.clients.s3;
    let block = s3
        .get_public_access_block()
        .bucket(&bucket.name)
        .send()
        .await
        .unwrap()
        .public_access_block_configuration
        .unwrap();
    assert_eq!(
        (
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let encryption = s3
        .get_bucket_encryption()
        .bucket(&bucket.name)
        .send()
        .await
        .unwrap();
    assert!(
        !encryption
            .server_side_encryption_configuration()
            .unwrap()
            .rules()
            .is_empty()
    );
    // The next deploy finds nothing lacking.
    let (_, said) = env.deploy_saying(&env.options(Stage::Dev), false).await;
    assert!(!said.contains("lacked"), "{said}");
}
