//! What `diff` and `deploy` show and ask: property-level changes, the
//! security table and approval of broadened permissions, a template too
//! large to send inline, and how change sets are executed.

use infra::{AlertProtocol, AlertSubscription, Stage};
use operator::base::ui::Recorder;
use operator::deploy::plan::RequireApproval;
use operator::deploy::security::Kind;
use operator::deploy::template::INLINE_LIMIT;
use operator::deploy::{self, Outcome};
use reconciler_core::contract::SummarizerConfig;

use testkit::capture::Capture;

use super::{Env, assert_created};

/// The sweep may read the summarizer's key: one more IAM statement.
fn with_summarizer(opts: &mut deploy::DeployOptions) {
    opts.config.summarizer = Some(SummarizerConfig {
        base_url: "https://api.example.com/v1".into(),
        model: "small".into(),
        api_key_parameter: "/cc-agent-reconciler/dev/summarizer-key".into(),
        timeout_ms: 5_000,
    });
}

#[tokio::test]
async fn diff_shows_properties_and_security_and_a_broadening_deploy_needs_approval() {
    let env = Env::start("review").await;
    let created = env.deploy(&env.options(Stage::Dev)).await.expect("create");
    assert_eq!(created.outcome, Outcome::Created);
    // A new stack: every grant is shown as added, and nobody was asked.
    assert!(created.security.iter().all(|c| c.kind == Kind::Added));
    assert!(!created.security.is_empty());

    // Renaming the bus: moto's change set lists nothing; on AWS it replaces
    // the bus, the rules on it and the archive of it. The review says so
    // from the schemas' create-only properties, naming each cause.
    let mut renamed = env.options(Stage::Dev);
    renamed.parameters.insert(
        infra::stack::params::EVENT_BUS_NAME.to_owned(),
        "other-bus".to_owned(),
    );
    let review = env.diff(&renamed).await.expect("diff of a bus rename");
    let text = review.render(false);
    println!("{text}");
    assert!(!text.contains("No resource changes"), "{text}");
    let replaced = |id: &str| {
        review
            .changes
            .iter()
            .find(|c| c.logical_id == id)
            .unwrap_or_else(|| panic!("{id} in:\n{text}"))
    };
    let bus = replaced(infra::stack::ids::EVENT_BUS);
    assert_eq!(
        bus.replacement,
        Some(operator::cfn::change_set::Replacement::True)
    );
    assert!(
        bus.evidence
            .as_deref()
            .is_some_and(|e| e.starts_with("Name ") && e.ends_with("(parameter EventBusName)")),
        "{text}"
    );
    assert!(
        text.contains("LedgerEventsArchive is replaced: SourceArn names EventBus"),
        "{text}"
    );
    assert!(text.contains("LedgerEventsRule"), "{text}");

    let mut changed = env.options(Stage::Dev);
    changed.config.handler_memory_mb = 512;
    with_summarizer(&mut changed);
    let review = env.diff(&changed).await.expect("diff");
    let text = review.render(false);
    println!("{text}");
    let handler = &review.properties[infra::stack::ids::HANDLER_FUNCTION];
    assert!(
        handler.iter().any(|p| p.path == "Properties.MemorySize"
            && p.old.as_deref() == Some("128")
            && p.new.as_deref() == Some("512")),
        "{handler:?}"
    );
    let added: Vec<_> = review
        .security
        .iter()
        .filter(|c| c.kind == Kind::Added)
        .collect();
    assert_eq!(added.len(), 1, "{:#?}", review.security);
    assert_eq!(added[0].place.sid, "ReadSummarizerApiKey");
    assert!(added[0].broadens && review.broadens());
    assert!(text.contains("Properties.MemorySize: 128 -> 512"), "{text}");
    assert!(text.contains("ssm:GetParameter"), "{text}");
    let json = review.to_json();
    assert_eq!(json["broadens"], true);
    assert_eq!(json["security"][0]["place"]["sid"], "ReadSummarizerApiKey");
    assert_eq!(
        env.change_sets(Stage::Dev).await,
        0,
        "diff deletes its change set"
    );

    // No terminal: refused, nothing changed, the change set gone.
    let (refused, said) = env.deploy_saying(&changed, false).await;
    let error = refused
        .expect_err("a broadening deploy needs approval")
        .to_string();
    assert!(error.contains("--require-approval never"), "{error}");
    assert!(
        said.contains("Security changes"),
        "the table was shown first: {said}"
    );
    assert_eq!(env.change_sets(Stage::Dev).await, 0);
    assert!(env.diff(&changed).await.unwrap().broadens(), "not deployed");

    // A terminal, and the person says no: nothing deployed.
    // The question names who and where, as the CLI's session tells it.
    let mut asking = changed.clone();
    asking.policy.interactive = true;
    let aws = operator::aws::AwsArgs {
        endpoint_url: Some(env.moto.endpoint.clone()),
        ..operator::aws::AwsArgs::default()
    };
    let session = operator::aws::Session::with_config(asking.config.clone(), &aws)
        .await
        .expect("a session on the emulator");
    asking.policy.who = session.who_and_where();
    let (declined, said) = env.deploy_saying(&asking, false).await;
    assert!(declined.unwrap_err().to_string().contains("not confirmed"));
    assert!(
        said.contains(
            "? cc-agent-reconciler-dev: account 123456789012, region us-east-1, as arn:aws:sts::\
             123456789012:user/moto (emulator): This deploy broadens IAM"
        ),
        "{said}"
    );

    // The person says yes: deployed.
    let (approved, said) = env.deploy_saying(&asking, true).await;
    let approved = approved.expect("approved");
    assert_eq!(approved.outcome, Outcome::Updated);
    assert!(
        said.contains("(emulator): This deploy broadens IAM"),
        "{said}"
    );

    // Narrowing needs nobody: the statement goes again without a question.
    let mut narrower = env.options(Stage::Dev);
    narrower.config.handler_memory_mb = 512;
    let (narrowed, said) = env.deploy_saying(&narrower, false).await;
    assert_eq!(narrowed.expect("narrowing").outcome, Outcome::Updated);
    assert!(!said.contains("? This deploy"), "nobody asked: {said}");
    assert!(said.contains("removed"), "{said}");
    assert!(
        said.contains("Statement[Sid=ReadSummarizerApiKey]"),
        "{said}"
    );

    // --require-approval never: CI after its own review.
    let mut ci = changed.clone();
    ci.policy.require_approval = RequireApproval::Never;
    assert_eq!(
        env.deploy(&ci).await.expect("never").outcome,
        Outcome::Updated
    );
}

#[tokio::test]
async fn a_template_over_the_inline_limit_goes_through_the_artifacts_bucket() {
    let env = Env::start("big").await;
    let mut opts = env.options(Stage::Dev);
    // Pad the template with subscriptions until it is over the limit.
    let mut n = 0;
    while infra::template(&opts.config).to_json().len() <= INLINE_LIMIT {
        opts.config.alert_subscriptions.push(AlertSubscription {
            protocol: AlertProtocol::Email,
            endpoint: format!("oncall+{n}@example.com"),
        });
        n += 1;
    }
    let size = infra::template(&opts.config).to_json().len();
    println!("{n} subscriptions: {size} bytes");
    let created = env.deploy(&opts).await.expect("a large template deploys");
    assert_eq!(created.outcome, Outcome::Created);
    let location = created.template_location.clone().expect("passed by URL");
    let bucket = operator::artifacts::bucket_name("123456789012", "us-east-1");
    assert!(
        location.starts_with(&format!("s3://{bucket}/templates/cc-agent-reconciler-dev/")),
        "{location}"
    );
    let key = location.trim_start_matches(&format!("s3://{bucket}/"));
    let object = env
        .clients
        .s3
        .get_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .expect("the template is in the bucket");
    let body = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.len(), size);
    assert_created(&env, Stage::Dev).await;

    // The next deploy of the same template: nothing to do, through the URL too.
    let again = env.deploy(&opts).await.expect("no-op");
    assert_eq!(again.outcome, Outcome::NoChanges);
    assert_eq!(again.template_location, Some(location));
}

#[tokio::test]
async fn change_sets_roll_back_without_retaining_what_they_created_unless_told_not_to_roll_back() {
    let env = Env::start("execute").await;
    let requests = Capture::default();
    let config = testkit::emulator::sdk_config(&env.moto.endpoint).await;
    let mut clients = env.clients.clone();
    clients.cfn = aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::config::Builder::from(&config)
            .interceptor(requests.clone())
            .build(),
    );
    let out = Recorder::default();
    let opts = env.options(Stage::Dev);
    deploy::deploy(&clients, &env.tools, &opts, &out)
        .await
        .expect("create");
    let mut bigger = opts.clone();
    bigger.config.handler_memory_mb = 1024;
    deploy::deploy(&clients, &env.tools, &bigger, &out)
        .await
        .expect("update");
    let mut debug = opts.clone();
    debug.config.handler_memory_mb = 2048;
    debug.policy.no_rollback = true;
    deploy::deploy(&clients, &env.tools, &debug, &out)
        .await
        .expect("update without rollback");

    let bodies: Vec<String> = requests
        .take()
        .into_iter()
        .filter(|e| e.operation == "ExecuteChangeSet")
        .map(|e| e.body)
        .collect();
    assert_eq!(bodies.len(), 3, "{bodies:#?}");
    for body in &bodies[..2] {
        // A failure rolls back and deletes what it created, even resources
        // whose policy retains them: a failed first create of staging or
        // prod leaves no table or queue to block the next one.
        assert!(body.contains("RetainExceptOnCreate=true"), "{body}");
        assert!(!body.contains("DisableRollback"), "{body}");
    }
    assert!(bodies[2].contains("DisableRollback=true"), "{}", bodies[2]);
    assert!(!bodies[2].contains("RetainExceptOnCreate"), "{}", bodies[2]);

    // --no-rollback and --hotswap are for dev only: refused before anything runs.
    for (no_rollback, hotswap) in [(true, false), (false, true)] {
        let mut prod = env.options(Stage::Prod);
        prod.policy.yes = true;
        prod.policy.no_rollback = no_rollback;
        prod.policy.hotswap = hotswap;
        let error = env.deploy(&prod).await.expect_err("dev only").to_string();
        assert!(error.contains("dev only"), "{error}");
    }
    assert_eq!(env.stack_status(Stage::Prod).await, None);
}

/// `cargo xtask diff` as a pipeline runs it, through the binary: `--fail`
/// exits 3 ("differs", not 1, a failed command) while a deploy would
/// change anything and 0 once nothing would;
/// `--json` is JSON on standard output, for tools.
#[tokio::test]
async fn the_diff_binary_gates_a_pipeline_and_prints_json() {
    let env = Env::start("diff-binary").await;
    let diff = |endpoint: String| {
        let mut cmd = std::process::Command::new(testkit::lambda::binary("xtask"));
        cmd.args(["diff", "--stage", "dev", "--endpoint-url", &endpoint])
            .args(["--arch", "x86_64", "--artifacts"])
            .arg(testkit::prebuilt_artifacts())
            .args(["--fail", "--json"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE");
        async move {
            tokio::task::spawn_blocking(move || cmd.output().unwrap())
                .await
                .unwrap()
        }
    };
    let before = diff(env.moto.endpoint.clone()).await;
    let stderr = String::from_utf8_lossy(&before.stderr);
    assert_eq!(
        before.status.code(),
        Some(3),
        "a new stack is a change: {stderr}"
    );
    let review: serde_json::Value = serde_json::from_slice(&before.stdout)
        .unwrap_or_else(|e| panic!("JSON on stdout ({e}): {stderr}"));
    assert_eq!(review["create"], true);
    assert!(
        review["changes"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["logical_id"] == "LedgerTable")),
        "{review}"
    );
    assert_eq!(
        review["broadens"], true,
        "a new stack's statements are all new"
    );

    env.deploy(&env.options(Stage::Dev)).await.expect("deploy");
    let after = diff(env.moto.endpoint.clone()).await;
    let stderr = String::from_utf8_lossy(&after.stderr);
    assert_eq!(
        after.status.code(),
        Some(0),
        "nothing would change: {stderr}"
    );
    let review: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_eq!(review["changes"], serde_json::json!([]), "{review}");
}

/// The handler's memory as deployed.
async fn handler_memory(env: &Env) -> Option<i32> {
    env.clients
        .lambda
        .get_function()
        .function_name("cc-agent-reconciler-dev-handler")
        .send()
        .await
        .unwrap()
        .configuration()
        .and_then(|c| c.memory_size())
}

/// A two-person review: one prepares a change set (nothing changes), the
/// other executes exactly it after seeing its review; a change set executed,
/// or prepared on a stack that moved since, is refused.
#[tokio::test]
async fn a_prepared_change_set_is_executed_only_while_the_stack_stays_as_it_was() {
    use operator::deploy::Mode;

    let env = Env::start("prepare").await;
    env.deploy(&env.options(Stage::Dev)).await.expect("create");
    let mut bigger = env.options(Stage::Dev);
    bigger.config.handler_memory_mb = 512;
    bigger.mode = Mode::Prepare;
    let (prepared, said) = env.deploy_saying(&bigger, false).await;
    let prepared = prepared.expect("prepare");
    assert_eq!(prepared.outcome, Outcome::Prepared);
    let id = prepared.change_set_id.clone().expect("its id");
    assert!(prepared.summary().contains(&format!("change-set={id}")));
    assert!(said.contains(&format!("--execute {id}")), "{said}");
    assert_eq!(
        handler_memory(&env).await,
        Some(128),
        "nothing executed: dev's 128 MB"
    );

    // The reviewer: the same review, from the change set, then executed.
    let mut execute = env.options(Stage::Dev);
    execute.mode = Mode::Execute(id.clone());
    let (done, said) = env.deploy_saying(&execute, false).await;
    let done = done.expect("execute the prepared change set");
    assert_eq!(done.outcome, Outcome::Updated);
    assert!(said.contains("Properties.MemorySize: 128 -> 512"), "{said}");
    assert_eq!(handler_memory(&env).await, Some(512));
    let again = env.deploy(&execute).await.expect_err("executed once");
    assert!(again.to_string().contains("cannot be executed"), "{again}");

    // Prepared, then the stack moves: refused, nothing changed.
    let mut more = env.options(Stage::Dev);
    more.config.handler_memory_mb = 1024;
    more.mode = Mode::Prepare;
    let stale = env
        .deploy(&more)
        .await
        .expect("prepare")
        .change_set_id
        .unwrap();
    let mut moved = env.options(Stage::Dev);
    moved.config.handler_memory_mb = 768;
    env.deploy(&moved)
        .await
        .expect("another deploy moves the stack");
    execute.mode = Mode::Execute(stale.clone());
    let refused = env.deploy(&execute).await.expect_err("the stack moved");
    assert!(
        refused
            .to_string()
            .contains(&format!("moved since change set {stale} was prepared")),
        "{refused}"
    );
    assert_eq!(handler_memory(&env).await, Some(768));
}
