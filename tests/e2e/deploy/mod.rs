//! `cargo xtask deploy`, `diff` and `destroy` against a moto server: the same
//! library functions the commands run (`operator::deploy`), deploying packages
//! of the binaries the tests build (`--artifacts`): the tests build for the
//! host; the release build with cargo-lambda is the deploy's, and its command
//! line and preflight are unit-tested in `operator::base::build`.
//!
//! Each test has its own moto server: stacks of the same stage share names.
//! [`review`]: what diff and deploy show and ask; [`releases`]: releases,
//! rollback, hotswap, drift and termination protection.

mod releases;
mod review;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use infra::stack::params;
use infra::{Architecture, Stage, StageConfig};
use operator::aws::Clients;
use operator::base::ui::Recorder;
use operator::cfn::change_set::Action;
use operator::deploy::{self, DeployOptions, DestroyOptions, Outcome};
use testkit::emulator::moto::Moto;

/// What staging and prod retain (`DeletionPolicy: Retain`), by logical id.
const RETAINED: [&str; 9] = [
    "AlertsKey",
    "DeadLetterQueue",
    "EventBus",
    "HandlerLogGroup",
    "LedgerEventsArchive",
    "LedgerTable",
    "StageKey",
    "SweepLogGroup",
    "UnroutedQueue",
];

/// A deploy target: a private moto server and an outputs directory.
pub(crate) struct Env {
    moto: Moto,
    clients: Clients,
    tools: operator::base::tools::Tools,
    outputs_dir: PathBuf,
}

impl Env {
    async fn start(label: &str) -> Env {
        let tools = operator::base::tools::ensure().expect("the pinned tools (cargo xtask tools)");
        let moto = Moto::start(&tools).expect("start a moto server");
        let clients = Clients::new(&testkit::emulator::sdk_config(&moto.endpoint).await);
        let outputs_dir =
            std::env::temp_dir().join(format!("deploy-on-moto-{label}-{}", std::process::id()));
        Env {
            moto,
            clients,
            tools,
            outputs_dir,
        }
    }

    /// Options for `stage`, built for x86_64 (the only target installed here).
    fn options(&self, stage: Stage) -> DeployOptions {
        let mut config = StageConfig::for_stage(stage);
        config.architecture = Architecture::X86_64;
        let mut opts = DeployOptions::new(config);
        opts.output.dir = self.outputs_dir.clone();
        opts.code = operator::deploy::CodeSource::Build(operator::base::build::Source::Prebuilt(
            testkit::prebuilt_artifacts(),
        ));
        opts
    }

    fn destroy_options(&self, stage: Stage) -> DestroyOptions {
        DestroyOptions {
            stage,
            yes: true,
            confirm_stack: None,
            lift_termination_protection: false,
            interactive: false,
            outputs_dir: self.outputs_dir.clone(),
            who: String::new(),
        }
    }

    async fn deploy(&self, opts: &DeployOptions) -> anyhow::Result<deploy::DeployReport> {
        deploy::deploy(&self.clients, &self.tools, opts, &Recorder::default()).await
    }

    /// A deploy, and everything it said (questions answered `answer`).
    async fn deploy_saying(
        &self,
        opts: &DeployOptions,
        answer: bool,
    ) -> (anyhow::Result<deploy::DeployReport>, String) {
        let out = Recorder::answering(answer);
        let result = deploy::deploy(&self.clients, &self.tools, opts, &out).await;
        (result, out.text())
    }

    async fn destroy(&self, opts: &DestroyOptions) -> anyhow::Result<deploy::DestroyReport> {
        deploy::destroy(&self.clients, opts, &Recorder::default()).await
    }

    async fn diff(&self, opts: &DeployOptions) -> anyhow::Result<operator::deploy::review::Review> {
        deploy::diff(&self.clients, &self.tools, opts, &Recorder::default()).await
    }

    async fn stack_status(&self, stage: Stage) -> Option<String> {
        operator::cfn::stack::status(&self.clients.cfn, &infra::stack_name(stage))
            .await
            .unwrap()
            .map(|status| status.as_str().to_owned())
    }

    async fn table_exists(&self, name: &str) -> bool {
        let config = testkit::emulator::sdk_config(&self.moto.endpoint).await;
        aws_sdk_dynamodb::Client::new(&config)
            .describe_table()
            .table_name(name)
            .send()
            .await
            .is_ok()
    }

    /// Every version of a code zip in the artifacts bucket: (key, version id).
    async fn artifact_versions(&self) -> Vec<(String, String)> {
        let bucket = operator::artifacts::bucket_name("123456789012", "us-east-1");
        let out = self
            .clients
            .s3
            .list_object_versions()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        out.versions()
            .iter()
            .filter(|v| v.key().is_some_and(|k| k.ends_with(".zip")))
            .map(|v| {
                (
                    v.key().unwrap_or_default().to_owned(),
                    v.version_id().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Change sets not executed (moto keeps executed ones listed).
    async fn change_sets(&self, stage: Stage) -> usize {
        self.clients
            .cfn
            .list_change_sets()
            .stack_name(infra::stack_name(stage))
            .send()
            .await
            .map(|o| {
                o.summaries()
                    .iter()
                    .filter(|c| {
                        c.execution_status().map(|s| s.as_str()) != Some("EXECUTE_COMPLETE")
                    })
                    .count()
            })
            .unwrap_or(0)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.outputs_dir);
    }
}

/// The stack is deployed: `CREATE_COMPLETE`, or `UPDATE_COMPLETE` after the
/// outputs refresh moto needs (it computes no outputs for change sets).
async fn assert_created(env: &Env, stage: Stage) {
    let status = env.stack_status(stage).await;
    assert!(
        matches!(
            status.as_deref(),
            Some("CREATE_COMPLETE" | "UPDATE_COMPLETE")
        ),
        "{stage}: {status:?}"
    );
}

/// Modification times of the packages deployed: unchanged means not rebuilt.
fn zip_mtimes() -> Vec<SystemTime> {
    let dir = testkit::prebuilt_artifacts();
    operator::base::build::FUNCTIONS
        .iter()
        .map(|f| {
            std::fs::metadata(dir.join(f.bin).join("bootstrap.zip"))
                .and_then(|m| m.modified())
                .expect("the zip exists after a deploy")
        })
        .collect()
}

#[tokio::test]
async fn deploy_redeploy_modify_refuse_and_destroy_dev() {
    let env = Env::start("dev").await;
    let stack = infra::stack_name(Stage::Dev);
    let opts = env.options(Stage::Dev);

    // From nothing: every resource added, both zips uploaded, outputs written;
    // moto runs no functions, so no first sweep is started, and it says so.
    let (first, said) = env.deploy_saying(&opts, false).await;
    let first = first.expect("first deploy");
    assert!(said.contains("emulator: no first sweep"), "{said}");
    println!("{}", first.summary());
    assert_eq!(first.outcome, Outcome::Created);
    assert_eq!(first.uploaded, 2);
    let template: serde_json::Value = serde_json::from_str(&infra::synth(Stage::Dev)).unwrap();
    let resources = template["Resources"].as_object().unwrap().len();
    assert_eq!(first.changes.len(), resources);
    assert!(first.changes.iter().all(|c| c.action == Action::Add));
    assert_created(&env, Stage::Dev).await;
    assert_eq!(
        first.outputs_file,
        env.outputs_dir.join(format!("{stack}.outputs.json"))
    );
    let written: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(&first.outputs_file).unwrap()).unwrap();
    assert_eq!(written, first.outputs);
    assert_eq!(
        written[infra::stack::outputs::LEDGER_TABLE_NAME],
        "cc-agent-reconciler-ledger_dev"
    );
    assert_eq!(
        written.len(),
        template["Outputs"].as_object().unwrap().len()
    );
    let mut versions = env.artifact_versions().await;
    versions.sort();
    let mut keys: Vec<String> = versions.iter().map(|(key, _)| key.clone()).collect();
    keys.sort();
    let mut expected = first.code_keys.clone();
    expected.sort();
    assert_eq!(keys, expected, "one version of each content-hashed zip");

    // Unchanged: "no changes", nothing rebuilt, nothing uploaded.
    let mtimes = zip_mtimes();
    let again = env.deploy(&opts).await.expect("no-op redeploy");
    println!("{}", again.summary());
    assert_eq!(again.outcome, Outcome::NoChanges);
    assert!(!again.rebuilt, "unchanged code must not be rebuilt");
    assert_eq!(again.uploaded, 0, "unchanged code must not be uploaded");
    assert!(again.changes.is_empty());
    assert_eq!(zip_mtimes(), mtimes, "the zips were rewritten");
    let mut now = env.artifact_versions().await;
    now.sort();
    assert_eq!(now, versions, "objects were uploaded again");
    assert_eq!(
        env.change_sets(Stage::Dev).await,
        0,
        "the empty change set is deleted"
    );
    assert_eq!(again.outputs, first.outputs);

    // A configuration change: Modify, applied.
    let mut bigger = env.options(Stage::Dev);
    bigger.config.handler_memory_mb = 512;
    let modified = env.deploy(&bigger).await.expect("config change");
    println!("{}", modified.summary());
    assert_eq!(modified.outcome, Outcome::Updated);
    assert_eq!(modified.changes.len(), 1, "{:?}", modified.changes);
    assert_eq!(modified.changes[0].action, Action::Modify);
    assert_eq!(
        modified.changes[0].logical_id,
        infra::stack::ids::HANDLER_FUNCTION
    );
    assert!(!modified.rebuilt && modified.uploaded == 0);
    assert_eq!(
        env.stack_status(Stage::Dev).await.as_deref(),
        Some("UPDATE_COMPLETE")
    );
    let config = testkit::emulator::sdk_config(&env.moto.endpoint).await;
    let function = aws_sdk_lambda::Client::new(&config)
        .get_function()
        .function_name("cc-agent-reconciler-dev-handler")
        .send()
        .await
        .unwrap();
    assert_eq!(function.configuration().unwrap().memory_size(), Some(512));

    // A change that replaces the table: shown by diff, refused by deploy.
    let mut renamed = bigger.clone();
    renamed
        .parameters
        .insert(params::TABLE_SUFFIX.to_owned(), "_dev_renamed".to_owned());
    let diff = env.diff(&renamed).await.expect("diff");
    let table = diff.render(false);
    print!("{table}");
    assert_eq!(
        diff.destructive
            .iter()
            .map(|d| d.logical_id.as_str())
            .collect::<Vec<_>>(),
        [infra::stack::ids::LEDGER_TABLE]
    );
    assert!(
        table.contains("TableSuffix: _dev -> _dev_renamed"),
        "{table}"
    );
    assert_eq!(
        env.change_sets(Stage::Dev).await,
        0,
        "diff deletes its change set"
    );
    let refused = env
        .deploy(&renamed)
        .await
        .expect_err("replacing the table is refused");
    let message = refused.to_string();
    println!("{message}");
    assert!(
        message.contains("LedgerTable (AWS::DynamoDB::Table)"),
        "{message}"
    );
    assert!(
        message.contains(
            "TableName cc-agent-reconciler-ledger_dev -> cc-agent-reconciler-ledger_dev_renamed"
        ),
        "{message}"
    );
    assert!(message.contains("--allow-destructive"), "{message}");
    assert_eq!(
        env.stack_status(Stage::Dev).await.as_deref(),
        Some("UPDATE_COMPLETE")
    );
    assert_eq!(
        env.change_sets(Stage::Dev).await,
        0,
        "the refused change set is deleted"
    );
    assert!(env.table_exists("cc-agent-reconciler-ledger_dev").await);
    assert!(
        !env.table_exists("cc-agent-reconciler-ledger_dev_renamed")
            .await
    );

    // Destroy: dev retains nothing.
    let destroyed = env
        .destroy(&env.destroy_options(Stage::Dev))
        .await
        .expect("destroy");
    assert!(destroyed.existed);
    assert!(destroyed.retained.is_empty(), "{:?}", destroyed.retained);
    assert_eq!(env.stack_status(Stage::Dev).await, None);
    assert!(!env.table_exists("cc-agent-reconciler-ledger_dev").await);
    assert!(!first.outputs_file.exists(), "the outputs file is removed");
    let nothing = env
        .destroy(&env.destroy_options(Stage::Dev))
        .await
        .expect("destroying nothing succeeds");
    assert!(!nothing.existed);
}

#[tokio::test]
async fn prod_needs_confirmations_and_destroy_leaves_retained_resources() {
    let env = Env::start("prod").await;
    let stack = infra::stack_name(Stage::Prod);
    let mut opts = env.options(Stage::Prod);

    // No terminal and no --yes: refused before anything is built or created.
    let refused = env.deploy(&opts).await.expect_err("prod without --yes");
    assert!(refused.to_string().contains("pass --yes"), "{refused}");
    assert_eq!(env.stack_status(Stage::Prod).await, None);

    opts.policy.yes = true;
    let created = env.deploy(&opts).await.expect("prod deploy with --yes");
    assert_eq!(created.outcome, Outcome::Created);

    let mut destroy = env.destroy_options(Stage::Prod);
    destroy.yes = false;
    destroy.confirm_stack = Some(stack.clone());
    let error = env.destroy(&destroy).await.unwrap_err();
    assert!(
        error.to_string().contains("needs --yes and the stack name"),
        "{error}"
    );
    destroy.yes = true;
    destroy.confirm_stack = Some("cc-agent-reconciler-dev".into());
    let error = env.destroy(&destroy).await.unwrap_err();
    assert!(error.to_string().contains("does not name"), "{error}");
    destroy.confirm_stack = None;
    let error = env.destroy(&destroy).await.unwrap_err();
    assert!(error.to_string().contains("--confirm-stack"), "{error}");
    assert_created(&env, Stage::Prod).await;

    destroy.confirm_stack = Some(stack);
    let destroyed = env.destroy(&destroy).await.expect("destroy prod");
    let retained: Vec<(&str, Option<&str>)> = destroyed
        .retained
        .iter()
        .map(|r| (r.logical_id.as_str(), r.physical_id.as_deref()))
        .collect();
    assert_eq!(
        retained.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        RETAINED
    );
    assert!(
        retained.contains(&("LedgerTable", Some("cc-agent-reconciler-ledger_prod"))),
        "{retained:?}"
    );
    assert_eq!(env.stack_status(Stage::Prod).await, None);
    assert!(
        env.table_exists("cc-agent-reconciler-ledger_prod").await,
        "a retained table outlives its stack"
    );
}

/// A first create fails (the functions' code is not where it says): the
/// stack rolls back to `ROLLBACK_COMPLETE` (our moto does what AWS does,
/// see `tests/testkit/src/emulator/moto_server.py`), and the next deploy deletes it
/// and creates it again. On staging the table, queues, log groups, archive
/// and key are retained by policy: the rollback deletes them anyway, as they
/// were created by the failed operation (`RetainExceptOnCreate`), so their
/// names are free for the next create.
async fn a_failed_first_create_is_recovered(stage: Stage) {
    let env = Env::start(&format!("recover-{stage}")).await;
    let stack = infra::stack_name(stage);
    let mut broken = env.options(stage);
    broken.parameters.insert(
        params::ARTIFACT_BUCKET.to_owned(),
        "no-such-artifacts-bucket".to_owned(),
    );
    let error = env
        .deploy(&broken)
        .await
        .expect_err("the first create fails");
    let message = format!("{error:#}");
    println!("{message}");
    assert!(
        message.contains("the stack is ROLLBACK_COMPLETE"),
        "{message}"
    );
    assert!(message.contains("the next deploy deletes it"), "{message}");
    assert!(
        message.contains("NoSuchBucket"),
        "the failed resource's reason: {message}"
    );
    assert_eq!(
        env.stack_status(stage).await.as_deref(),
        Some("ROLLBACK_COMPLETE")
    );
    let suffix = format!("_{stage}");
    assert!(
        !env.table_exists(&format!("cc-agent-reconciler-ledger{suffix}"))
            .await,
        "the rollback deleted the table it created"
    );
    // `releases` of the rolled-back stack: what it cannot read is a short
    // note, never the SDK's Debug of a response.
    let out = Recorder::default();
    deploy::releases(&env.clients, stage, &out)
        .await
        .expect("releases of a ROLLBACK_COMPLETE stack");
    for note in out.said() {
        assert!(
            note.len() < 400 && !note.contains("{ ") && !note.contains('\n'),
            "one short line: {note}"
        );
    }

    let (recovered, said) = env.deploy_saying(&env.options(stage), false).await;
    let recovered = recovered.expect("recovery");
    println!("{}", recovered.summary());
    assert!(said.contains("is ROLLBACK_COMPLETE"), "{said}");
    assert_eq!(
        recovered.recovered_from.as_deref(),
        Some("ROLLBACK_COMPLETE")
    );
    assert_eq!(recovered.outcome, Outcome::Created);
    assert!(
        recovered
            .summary()
            .contains("recovered-from=ROLLBACK_COMPLETE")
    );
    assert_created(&env, stage).await;
    // Protected once created (staging), never on dev.
    let config = testkit::emulator::sdk_config(&env.moto.endpoint).await;
    let table = aws_sdk_dynamodb::Client::new(&config)
        .describe_table()
        .table_name(format!("cc-agent-reconciler-ledger{suffix}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        table.table().and_then(|t| t.deletion_protection_enabled()),
        Some(stage != Stage::Dev),
        "{said}"
    );
    let described = env
        .clients
        .cfn
        .describe_stacks()
        .stack_name(&stack)
        .send()
        .await
        .unwrap();
    let bucket = described.stacks()[0]
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some(params::ARTIFACT_BUCKET))
        .and_then(|p| p.parameter_value())
        .unwrap()
        .to_owned();
    assert_eq!(
        bucket,
        operator::artifacts::bucket_name("123456789012", "us-east-1")
    );
    // One of each queue: nothing left over, nothing duplicated.
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queues = sqs.list_queues().send().await.unwrap();
    let mut names: Vec<&str> = queues
        .queue_urls()
        .iter()
        .filter_map(|u| u.rsplit('/').next())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            format!("cc-agent-reconciler-dlq-{stage}"),
            format!("cc-agent-reconciler-unrouted-{stage}")
        ],
    );
}

#[tokio::test]
async fn a_failed_first_create_of_dev_is_recovered() {
    a_failed_first_create_is_recovered(Stage::Dev).await;
}

#[tokio::test]
async fn a_failed_first_create_of_staging_whose_resources_are_retained_is_recovered() {
    a_failed_first_create_is_recovered(Stage::Staging).await;
}

/// Disaster recovery: after `destroy` of staging the table, queues, log
/// groups, archive, bus and keys stay behind with their names (and the
/// ledger's data). The next deploy must not fail on those names: it
/// imports them into a new stack (an `IMPORT` change set, played by our
/// moto as AWS does, see `moto_server.py`), then deploys the rest, and the
/// ledger's items are still there.
#[tokio::test]
async fn a_destroyed_staging_is_deployed_again_by_importing_what_it_retained() {
    use reconciler_core::contract::table;

    let env = Env::start("restore").await;
    let stage = Stage::Staging;
    let stack = infra::stack_name(stage);
    let opts = env.options(stage);
    let (created, said) = env.deploy_saying(&opts, false).await;
    created.expect("create staging");
    assert!(
        said.contains("WARNING: NOBODY MAY GRANT CREDITS ON STAGING"),
        "{said}"
    );
    assert!(
        said.contains("no CloudTrail trail records us-east-1"),
        "{said}"
    );
    let ledger = "cc-agent-reconciler-ledger_staging";
    let config = testkit::emulator::sdk_config(&env.moto.endpoint).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let text = aws_sdk_dynamodb::types::AttributeValue::S;
    dynamodb
        .put_item()
        .table_name(ledger)
        .item(table::PARTITION_KEY, text("ACCOUNT#survivor".into()))
        .item(table::SORT_KEY, text("ACCOUNT".into()))
        .send()
        .await
        .unwrap();
    let before = operator::cfn::stack::physical_ids(&env.clients, &stack)
        .await
        .unwrap();

    let out = Recorder::default();
    let destroyed = deploy::destroy(&env.clients, &env.destroy_options(stage), &out)
        .await
        .expect("destroy staging");
    assert_eq!(destroyed.retained.len(), 9, "{:?}", destroyed.retained);
    assert!(
        out.text()
            .contains("the next `cargo xtask deploy --stage staging` imports them"),
        "{}",
        out.text()
    );

    let (restored, said) = env.deploy_saying(&opts, false).await;
    let restored = restored.expect("the deploy after a destroy imports what it retained");
    println!("{}", restored.summary());
    assert!(said.contains("left these behind"), "{said}");
    assert_eq!(restored.outcome, Outcome::Created);
    assert_eq!(restored.imported, RETAINED);
    assert!(
        restored.summary().contains("imported=9"),
        "{}",
        restored.summary()
    );
    assert_created(&env, stage).await;
    let after = operator::cfn::stack::physical_ids(&env.clients, &stack)
        .await
        .unwrap();
    for id in &restored.imported {
        assert_eq!(after.get(id), before.get(id), "{id} is the same resource");
    }
    assert_eq!(
        after.len(),
        before.len(),
        "every resource is in the stack again"
    );
    let item = dynamodb
        .get_item()
        .table_name(ledger)
        .key(table::PARTITION_KEY, text("ACCOUNT#survivor".into()))
        .key(table::SORT_KEY, text("ACCOUNT".into()))
        .send()
        .await
        .unwrap();
    assert!(item.item().is_some(), "the ledger's data survived");
}
