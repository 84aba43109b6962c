//! The policies room: the least-privilege IAM policies of the people who run
//! the operator commands, as data (`cargo xtask policy` prints them), and
//! which action each SDK request needs ([`actions`]).
//!
//! Two roles: [`Role::OnCall`] runs the commands that look (`status`,
//! `logs`, `ledger statement|job`, `dlq list`, `unrouted list`, `releases`,
//! `drift`, `diff`); [`Role::Deploy`] runs `deploy`, `rollback` and
//! `destroy`. Each action is scoped to the stage's own resources (its stack,
//! table, queues, functions, log groups, alarms, the artifacts bucket's
//! keys of its stack) where IAM supports resource-level permissions for it,
//! and to `*` where it does not (each such statement says so). The account
//! and region are the stage's pins (`account`, `region` in its stage file),
//! `*` when it has none.
//!
//! An end-to-end test (`tests/e2e/policy.rs`) derives the actions from the
//! requests the commands send and checks them against these: nothing
//! missing, nothing extra. It imports the artifacts room (the bucket's
//! name) and nothing above.

pub mod actions;

use infra::names::{self, NamePattern};
use infra::{Stage, StageConfig};
use serde_json::{Value, json};

/// Who the policy is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// The read commands of an on-call engineer (and `diff`).
    #[value(name = "on-call")]
    OnCall,
    /// `deploy`, `rollback` and `destroy`.
    Deploy,
}

/// One `Allow` statement: what it allows, on what, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// The statement's id (`Sid`).
    pub sid: &'static str,
    /// Why the commands need it (the docs' words; not in the JSON).
    pub why: &'static str,
    pub actions: Vec<&'static str>,
    pub resources: Vec<String>,
    /// An IAM `Condition` block, when the resource alone cannot scope it.
    pub condition: Option<Value>,
}

/// A policy: its statements, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

impl Policy {
    /// The IAM policy document.
    pub fn to_json(&self) -> Value {
        let statements: Vec<Value> = self
            .statements
            .iter()
            .map(|s| {
                let mut statement = json!({
                    "Sid": s.sid,
                    "Effect": "Allow",
                    "Action": s.actions,
                    "Resource": s.resources,
                });
                if let Some(condition) = &s.condition {
                    statement["Condition"] = condition.clone();
                }
                statement
            })
            .collect();
        json!({"Version": "2012-10-17", "Statement": statements})
    }
}

/// Where the stage's resources are: its pins, `*` without.
struct Place {
    region: String,
    account: String,
    stage: Stage,
}

impl Place {
    fn of(config: &StageConfig) -> Place {
        Place {
            region: config.region.clone().unwrap_or_else(|| "*".into()),
            account: config.account.clone().unwrap_or_else(|| "*".into()),
            stage: config.stage,
        }
    }

    fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{resource}",
            self.region, self.account
        )
    }

    fn stack(&self) -> String {
        self.arn(
            "cloudformation",
            &format!("stack/{}/*", infra::stack_name(self.stage)),
        )
    }

    /// The change sets the operator creates (`xtask-<time>-<nonce>`).
    fn change_sets(&self) -> String {
        self.arn("cloudformation", "changeSet/xtask-*/*")
    }

    fn bucket(&self) -> String {
        format!(
            "arn:aws:s3:::{}",
            crate::artifacts::bucket_name(&self.account, &self.region)
        )
    }

    /// Keys of the artifacts bucket under `prefix` (`releases/<stack>/`…).
    fn keys(&self, prefix: &str) -> String {
        format!("{}/{prefix}*", self.bucket())
    }

    fn stack_keys(&self, kind: &str) -> String {
        self.keys(&format!("{kind}/{}/", infra::stack_name(self.stage)))
    }
}

fn statement(sid: &'static str, why: &'static str, actions: &[&'static str]) -> Statement {
    Statement {
        sid,
        why,
        actions: actions.to_vec(),
        resources: vec!["*".into()],
        condition: None,
    }
}

impl Statement {
    fn on(mut self, resources: Vec<String>) -> Statement {
        self.resources = resources;
        self
    }

    fn when(mut self, condition: Value) -> Statement {
        self.condition = Some(condition);
        self
    }
}

/// The policy of `role` for the stage of `config`.
pub fn policy(role: Role, config: &StageConfig) -> Policy {
    let place = Place::of(config);
    let statements = match role {
        Role::OnCall => on_call(&place, config),
        Role::Deploy => deploy(&place, config),
    };
    Policy { statements }
}

fn named(
    place: &Place,
    config: &StageConfig,
    service: &str,
    prefix: &str,
    name: NamePattern,
) -> String {
    place.arn(service, &format!("{prefix}{}", name.resolve(config)))
}

fn on_call(place: &Place, config: &StageConfig) -> Vec<Statement> {
    let table = named(place, config, "dynamodb", "table/", names::LEDGER_TABLE);
    let queues = [names::DEAD_LETTER_QUEUE, names::UNROUTED_QUEUE]
        .map(|q| named(place, config, "sqs", "", q))
        .to_vec();
    let log_groups = [names::HANDLER_LOG_GROUP, names::SWEEP_LOG_GROUP]
        .map(|g| format!("{}:*", named(place, config, "logs", "log-group:", g)))
        .to_vec();
    let mut statements =
        vec![
        statement(
            "ReadTheStack",
            "status, releases, drift and every console command read the stack's outputs, \
             template and resources; drift starts a drift detection and reads its results",
            &[
                "cloudformation:DescribeStacks",
                "cloudformation:GetTemplate",
                "cloudformation:ListStackResources",
                "cloudformation:DetectStackDrift",
                "cloudformation:DescribeStackResourceDrifts",
            ],
        )
        .on(vec![place.stack()]),
        statement(
            "DriftDetectionStatus",
            "drift polls its detection by id; the action supports no resource-level \
             permission, so `*`",
            &["cloudformation:DescribeStackDriftDetectionStatus"],
        ),
        statement(
            "DiffChangeSet",
            "diff creates a change set, reads it and deletes it; it cannot execute it",
            &[
                "cloudformation:CreateChangeSet",
                "cloudformation:DescribeChangeSet",
                "cloudformation:DeleteChangeSet",
            ],
        )
        .on(vec![place.stack(), place.change_sets()]),
        statement(
            "Alarms",
            "status reads the stage's alarms (every alarm is `cc-agent-reconciler-<name>-<stage>`)",
            &["cloudwatch:DescribeAlarms"],
        )
        .on(vec![place.arn(
            "cloudwatch",
            &format!("alarm:cc-agent-reconciler-*-{}", config.stage),
        )]),
        statement(
            "Metrics",
            "status reads the functions' invocation metrics; the action supports no \
             resource-level permission, so `*`",
            &["cloudwatch:GetMetricStatistics"],
        ),
        statement(
            "FunctionLogs",
            "logs and status (the last sweep report) read the functions' log groups",
            &["logs:FilterLogEvents"],
        )
        .on(log_groups),
        statement(
            "ReadTheLedger",
            "ledger statement and job, and status's stragglers, read the table and its index",
            &["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"],
        )
        .on(vec![table.clone(), format!("{table}/index/*")]),
        statement(
            "PeekTheQueues",
            "dlq list and unrouted list receive the messages and make them visible again at \
             once (nothing is deleted); status reads the queues' depth",
            &[
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage",
                "sqs:ChangeMessageVisibility",
            ],
        )
        .on(queues),
        statement(
            "BusRules",
            "status reads the state and targets of the bus's ledger, replay and unrouted \
             rules; dlq replay, unrouted resend and smoke check that the ledger rule is enabled",
            &["events:DescribeRule", "events:ListTargetsByRule"],
        )
        .on(bus_rules(place, config)),
        statement(
            "FunctionConfiguration",
            "status and drift read which code each function runs",
            &["lambda:GetFunctionConfiguration"],
        )
        .on(functions(place, config)),
        statement(
            "ArtifactsBucket",
            "diff checks the artifacts bucket's settings before it places its template there; \
             releases lists the stage's release records",
            &[
                "s3:ListBucket",
                "s3:GetBucketVersioning",
                "s3:GetEncryptionConfiguration",
                "s3:GetBucketPublicAccessBlock",
                "s3:GetBucketPolicy",
            ],
        )
        .on(vec![place.bucket()]),
        statement(
            "ReadTheStageArtifacts",
            "releases reads the stage's release records; diff checks whether its template \
             is there",
            &["s3:GetObject"],
        )
        .on(vec![
            place.stack_keys("releases"),
            place.stack_keys("templates"),
        ]),
        statement(
            "PlaceDiffTemplate",
            "diff uploads its template (too large to pass inline), content-addressed, under \
             the stage's prefix",
            &["s3:PutObject"],
        )
        .on(vec![place.stack_keys("templates")]),
    ];
    if config.customer_managed_key {
        statements.push(key_through(
            place,
            &["sqs", "dynamodb"],
            "the stage's key encrypts the queues and the table: reading them decrypts through \
             SQS and DynamoDB (log groups are decrypted by CloudWatch Logs itself)",
        ));
    }
    statements
}

/// The ARNs of the rules on the stage's bus the console reads: a rule on
/// a custom bus is `rule/<bus>/<rule>`.
fn bus_rules(place: &Place, config: &StageConfig) -> Vec<String> {
    let bus = names::EVENT_BUS.resolve(config);
    [names::LEDGER_EVENTS_RULE, names::UNROUTED_EVENTS_RULE]
        .into_iter()
        .chain(names::REPLAY_RULES)
        .map(|rule| named(place, config, "events", &format!("rule/{bus}/"), rule))
        .collect()
}

fn functions(place: &Place, config: &StageConfig) -> Vec<String> {
    [names::HANDLER_FUNCTION, names::SWEEP_FUNCTION]
        .map(|f| named(place, config, "lambda", "function:", f))
        .to_vec()
}

/// `kms:Decrypt` of the stage's key, only as the named services use it on
/// the caller's behalf (the key's id is not known before the stack exists).
fn key_through(place: &Place, services: &[&str], why: &'static str) -> Statement {
    let via: Vec<String> = services
        .iter()
        .map(|s| format!("{s}.{}.amazonaws.com", place.region))
        .collect();
    statement("StageKeyThroughServices", why, &["kms:Decrypt"])
        .on(vec![place.arn("kms", "key/*")])
        .when(json!({"StringLike": {"kms:ViaService": via}}))
}

fn deploy(place: &Place, config: &StageConfig) -> Vec<Statement> {
    let mut statements = vec![
        statement(
            "TheStack",
            "deploy and rollback go through change sets (created, reviewed, executed, or \
             deleted when empty) and follow the stack's events; destroy deletes the stack \
             (and lifts termination protection when told to)",
            &[
                "cloudformation:DescribeStacks",
                "cloudformation:DescribeStackEvents",
                "cloudformation:GetTemplate",
                "cloudformation:ListStackResources",
                "cloudformation:CreateChangeSet",
                "cloudformation:DescribeChangeSet",
                "cloudformation:ExecuteChangeSet",
                "cloudformation:DeleteChangeSet",
                "cloudformation:DeleteStack",
                "cloudformation:UpdateTerminationProtection",
            ],
        )
        .on(vec![place.stack(), place.change_sets()]),
        statement(
            "ListStacks",
            "deploy and destroy look for resources that deleted stacks of the stage left \
             behind (retained); the action supports no resource-level permission, so `*`",
            &["cloudformation:ListStacks"],
        ),
        statement(
            "ArtifactsBucket",
            "deploy creates the artifacts bucket on first use (versioned, encrypted, public \
             access blocked, TLS only) and checks those settings every time; rollback lists \
             the release records",
            &[
                "s3:CreateBucket",
                "s3:ListBucket",
                "s3:GetBucketVersioning",
                "s3:PutBucketVersioning",
                "s3:GetEncryptionConfiguration",
                "s3:PutEncryptionConfiguration",
                "s3:GetBucketPublicAccessBlock",
                "s3:PutBucketPublicAccessBlock",
                "s3:GetBucketPolicy",
                "s3:PutBucketPolicy",
            ],
        )
        .on(vec![place.bucket()]),
        statement(
            "Artifacts",
            "deploy uploads the functions' packages (shared by every stage: content-addressed \
             under the function's name), its template and its release record; rollback reads \
             a release record",
            &["s3:GetObject", "s3:PutObject"],
        )
        .on(vec![
            place.keys("handler/"),
            place.keys("sweep/"),
            place.stack_keys("templates"),
            place.stack_keys("releases"),
        ]),
        statement(
            "FunctionConfiguration",
            "deploy and rollback check which code each function runs",
            &["lambda:GetFunctionConfiguration"],
        )
        .on(functions(place, config)),
        statement(
            "FirstSweep",
            "after creating the stack, deploy starts one dry-run sweep so the \
             sweep-not-running alarm does not stay in ALARM until the schedule's first run",
            &["lambda:InvokeFunction"],
        )
        .on(vec![named(
            place,
            config,
            "lambda",
            "function:",
            names::SWEEP_FUNCTION,
        )]),
        statement(
            "ConcurrencyQuota",
            "a deploy that reserves concurrency first checks the account's quota; the action \
             supports no resource-level permission, so `*`",
            &["lambda:GetAccountSettings"],
        ),
    ];
    if config.stage != Stage::Dev {
        statements.push(
            statement(
                "AlertSubscribers",
                "staging and prod deploys warn when nobody is subscribed to the ops alerts",
                &["sns:ListSubscriptionsByTopic"],
            )
            .on(vec![named(
                place,
                config,
                "sns",
                "",
                names::OPS_ALERTS_TOPIC,
            )]),
        );
        statements.push(statement(
            "Trails",
            "staging and prod deploys warn when no trail records the KMS calls the key-state \
             alert needs; the trails are the account's, and DescribeTrails supports no \
             resource-level permission, so `*`",
            &["cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus"],
        ));
    }
    statements
}

#[cfg(test)]
mod tests;
