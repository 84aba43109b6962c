//! The local stack (`cargo xtask up`, `testkit::plane`): the stage's real
//! template deployed to moto and running, with nothing in the test playing
//! AWS's part. The test puts events on the bus as a producer would, moves
//! the plane's clock (Lambda's retry delays, CloudWatch's minutes), and
//! reads what a person would read: the ledger, the dead-letter queue, the
//! alarm, the pager's queue subscribed to the ops-alerts topic.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use infra::{Stage, StageConfig};
use reconciler::store::Ledger;
use serde_json::{Value, json};
use testkit::plane::{Plane, PlaneOptions};

/// A plane of `stage` on the test build's binaries.
pub(crate) async fn start(stage: Stage) -> Plane {
    start_with(StageConfig::load(stage).unwrap()).await
}

/// A plane of a stage configured by the test.
pub(crate) async fn start_with(config: StageConfig) -> Plane {
    let stage = config.stage;
    Plane::start(PlaneOptions {
        config: Some(config),
        stage,
        port: 0,
        artifacts: Some(testkit::prebuilt_artifacts()),
        state_dir: std::env::temp_dir().join(format!(
            "plane-{}-{}-{:08x}",
            stage.as_str(),
            std::process::id(),
            fastrand::u32(..)
        )),
    })
    .await
    .unwrap()
}

/// Clients of the plane's endpoint, as an operator has them.
pub(crate) struct Operator {
    pub events: aws_sdk_eventbridge::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl Operator {
    pub(crate) async fn of(plane: &Plane) -> Operator {
        let config = testkit::emulator::sdk_config(&plane.endpoint).await;
        Operator {
            events: aws_sdk_eventbridge::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
        }
    }

    /// Puts one event on the stage's bus as the dev test producer: its id.
    pub(crate) async fn put(&self, plane: &Plane, detail_type: &str, detail: Value) -> String {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&plane.outputs.bus_name)
            .source(infra::producers::TEST_PRODUCER_SOURCE)
            .detail_type(detail_type)
            .detail(detail.to_string())
            .build();
        let out = self
            .events
            .put_events()
            .entries(entry)
            .send()
            .await
            .unwrap();
        assert_eq!(out.failed_entry_count(), 0, "{out:?}");
        out.entries()[0].event_id().unwrap().to_owned()
    }

    /// A queue subscribed to `topic`, whose policy lets the topic send to
    /// it: a pager. Its URL.
    pub(crate) async fn pager(&self, topic: &str) -> String {
        let url = self
            .sqs
            .create_queue()
            .queue_name(format!("pager-{:08x}", fastrand::u32(..)))
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_owned();
        let arn = self.queue_arn(&url).await;
        let policy = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]});
        self.sqs
            .set_queue_attributes()
            .queue_url(&url)
            .attributes(QueueAttributeName::Policy, policy.to_string())
            .send()
            .await
            .unwrap();
        self.sns
            .subscribe()
            .topic_arn(topic)
            .protocol("sqs")
            .endpoint(&arn)
            .send()
            .await
            .unwrap();
        url
    }

    async fn queue_arn(&self, url: &str) -> String {
        self.sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes()
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone()
    }

    /// Every message in the queue now (bodies and attributes), left there.
    pub(crate) async fn messages(&self, url: &str) -> Vec<(String, BTreeMap<String, String>)> {
        let got = self
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        got.messages()
            .iter()
            .map(|m| {
                let attributes = m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| {
                                (k.clone(), v.string_value().unwrap_or_default().to_owned())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                (m.body().unwrap_or_default().to_owned(), attributes)
            })
            .collect()
    }

    /// Every message in the queue, taken out of it (received and deleted
    /// until a long poll brings nothing).
    pub(crate) async fn drain(&self, url: &str) -> Vec<String> {
        let mut bodies = Vec::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            if got.messages().is_empty() {
                return bodies;
            }
            for m in got.messages() {
                bodies.push(m.body().unwrap_or_default().to_owned());
                self.sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    /// The alarm's state.
    pub(crate) async fn alarm_state(&self, name: &str) -> String {
        let got = self
            .cloudwatch
            .describe_alarms()
            .alarm_names(name)
            .send()
            .await
            .unwrap();
        got.metric_alarms()[0]
            .state_value()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default()
    }
}

/// Puts one event on the stage's bus with `events`' credentials: its id, or
/// the entry's error code.
pub(crate) async fn put_with(
    events: &aws_sdk_eventbridge::Client,
    plane: &Plane,
    source: &str,
    detail_type: &str,
    detail: &Value,
) -> Result<String, String> {
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name(&plane.outputs.bus_name)
        .source(source)
        .detail_type(detail_type)
        .detail(detail.to_string())
        .build();
    let out = events.put_events().entries(entry).send().await.unwrap();
    let entry = &out.entries()[0];
    match entry.event_id() {
        Some(id) if out.failed_entry_count() == 0 => Ok(id.to_owned()),
        _ => Err(entry.error_code().unwrap_or("no event id").to_owned()),
    }
}

/// The subjects of SNS envelopes.
fn subjects(pages: &[String]) -> Vec<String> {
    pages
        .iter()
        .filter_map(|p| serde_json::from_str::<Value>(p).ok())
        .filter_map(|envelope| envelope["Subject"].as_str().map(str::to_owned))
        .collect()
}

/// The definition of done: a good event reaches the balance; a forced-bad
/// one is tried three times by Lambda (a minute, then two, apart), its
/// on-failure record lands in the dead-letter queue, the errors alarm goes
/// to ALARM on the next minute, and its notification reaches a subscriber
/// of the ops-alerts topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_event_is_retried_dead_lettered_alarmed_and_paged() {
    let plane = start(Stage::Dev).await;
    let op = Operator::of(&plane).await;
    let pager = op.pager(&plane.outputs.ops_alerts_topic_arn).await;
    // The first minute: every alarm leaves INSUFFICIENT_DATA (OK on no data).
    plane.advance(Duration::from_secs(60)).await;
    let errors = plane.outputs.errors_alarm_name.clone();
    assert_eq!(op.alarm_state(&errors).await, "OK");
    let first_pages = op.drain(&pager).await;
    assert!(
        subjects(&first_pages).contains(&format!("OK: \"{errors}\" in US East (N. Virginia)")),
        "the errors alarm's first evaluation notified OK: {first_pages:?}"
    );

    op.put(
        &plane,
        "credits.granted",
        json!({"grant_id": "g1", "account_id": "a1", "credits": 100}),
    )
    .await;
    plane.settle().await;
    let ledger = Ledger::new(op.dynamodb.clone(), plane.outputs.ledger_table_name.clone());
    let account = ledger.account("a1", 0).await.unwrap().expect("a1 exists");
    assert_eq!((account.available, account.held), (100, 0));

    let bad = op
        .put(
            &plane,
            "video.requested",
            json!({"job_id": "j-bad", "account_id": "a1", "credits": "x"}),
        )
        .await;
    plane.settle().await;
    let dlq = plane.outputs.dead_letter_queue_url.clone();
    assert!(op.messages(&dlq).await.is_empty(), "one attempt so far");
    plane.advance(Duration::from_secs(60)).await;
    assert_eq!(
        op.alarm_state(&errors).await,
        "ALARM",
        "the minute after the first error"
    );
    plane.advance(Duration::from_secs(120)).await;
    plane.settle().await;

    let letters = op.messages(&dlq).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = operator::models::queues::classify(&letters[0].0, &letters[0].1);
    assert_eq!(
        letter.shape,
        operator::models::queues::Shape::LambdaOnFailure
    );
    assert_eq!(letter.error_type.as_deref(), Some("InvalidEvent"));
    let record: Value = serde_json::from_str(&letters[0].0).unwrap();
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestPayload"]["id"], bad);
    let account = ledger.account("a1", 0).await.unwrap().unwrap();
    assert_eq!(
        (account.available, account.held),
        (100, 0),
        "nothing written"
    );

    let pages = op.drain(&pager).await;
    let alarm_page = pages
        .iter()
        .map(|body| serde_json::from_str::<Value>(body).unwrap())
        .find(|envelope| {
            envelope["Subject"]
                .as_str()
                .is_some_and(|s| s.starts_with(&format!("ALARM: \"{errors}\"")))
        })
        .unwrap_or_else(|| panic!("no ALARM page for {errors} in {pages:?}"));
    let message: Value = serde_json::from_str(alarm_page["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message["NewStateValue"], "ALARM");
    assert_eq!(message["Trigger"]["MetricName"], "Errors");
    assert_eq!(message["Trigger"]["Namespace"], "AWS/Lambda");
}

/// The prod stage runs locally with its own names: the table and bus are
/// prod's, suffixed `_prod`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prod_stage_runs_locally_under_its_own_names() {
    let plane = start(Stage::Prod).await;
    assert!(
        plane.outputs.ledger_table_name.ends_with("_prod"),
        "{}",
        plane.outputs.ledger_table_name
    );
    assert_eq!(plane.outputs.bus_name, "cc-agent-reconciler-prod");
    assert_eq!(
        plane.outputs.handler_function_name,
        "cc-agent-reconciler-prod-handler"
    );
}

/// Who may mint credits: on prod, only the producer the stage names puts
/// `credits.granted` on the bus; the account's operators are refused by the
/// bus's policy, and so is the producer under another source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_named_producer_mints_credits() {
    let billing = "arn:aws:iam::123456789012:role/billing";
    let mut config = StageConfig::for_stage(Stage::Prod);
    config.producers = vec![infra::Producer {
        detail_type: "credits.granted".into(),
        source: "billing.payments".into(),
        principals: vec![infra::ProducerPrincipal::Arn(billing.into())],
    }];
    let plane = start_with(config).await;
    let op = Operator::of(&plane).await;
    let detail = json!({"grant_id": "g-mint", "account_id": "a1", "credits": 50});
    assert_eq!(
        put_with(
            &op.events,
            &plane,
            "billing.payments",
            "credits.granted",
            &detail
        )
        .await,
        Err("NotAuthorizedForDetailTypeException".to_owned()),
        "the operators' own credentials are not a producer"
    );
    let producer = assume(&plane, "billing").await;
    let id = put_with(
        &producer,
        &plane,
        "billing.payments",
        "credits.granted",
        &detail,
    )
    .await;
    assert!(id.is_ok(), "{id:?}");
    assert_eq!(
        put_with(
            &producer,
            &plane,
            "billing.refunds",
            "credits.granted",
            &detail
        )
        .await,
        Err("NotAuthorizedForDetailTypeException".to_owned()),
        "the producer, but not its source"
    );
    plane.settle().await;
    let ledger = Ledger::new(op.dynamodb.clone(), plane.outputs.ledger_table_name.clone());
    let account = ledger
        .account("a1", 0)
        .await
        .unwrap()
        .expect("the grant applied");
    assert_eq!(account.available, 50);
}

/// An EventBridge client acting as a session of a role `name` of the
/// plane's account, which may put events (created here, as its owner would).
async fn assume(plane: &Plane, name: &str) -> aws_sdk_eventbridge::Client {
    let config = testkit::emulator::sdk_config(&plane.endpoint).await;
    let iam = aws_sdk_iam::Client::new(&config);
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]});
    let role = iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    let may_put = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "events:PutEvents", "Resource": plane.outputs.bus_arn}]});
    iam.put_role_policy()
        .role_name(name)
        .policy_name("put-events")
        .policy_document(may_put.to_string())
        .send()
        .await
        .unwrap();
    let session = aws_sdk_sts::Client::new(&config)
        .assume_role()
        .role_arn(role.role().unwrap().arn())
        .role_session_name("producer")
        .send()
        .await
        .unwrap();
    let keys = session.credentials().unwrap();
    let credentials = aws_sdk_eventbridge::config::Credentials::new(
        keys.access_key_id(),
        keys.secret_access_key(),
        Some(keys.session_token().to_owned()),
        None,
        "assumed",
    );
    aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(&config)
            .credentials_provider(credentials)
            .build(),
    )
}

/// Every function's role allows exactly what its code sends: each path of
/// the handler and the sweep runs on the local stack, whose front
/// authorizes every call against the role and keeps what it allowed
/// (`/_local/authorized`, transactions by their per-item actions); every
/// statement of each role (action and resource) must have been used, and
/// nothing was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_functions_role_allows_exactly_what_its_code_sends() {
    let plane = start(Stage::Dev).await;
    let op = Operator::of(&plane).await;
    let lambda = aws_sdk_lambda::Client::new(&testkit::emulator::sdk_config(&plane.endpoint).await);
    // Each event handled before the next is sent: the bus may deliver
    // events sent together in any order, and each path must be taken.
    let put = |t: &'static str, d: Value| {
        let (op, plane) = (&op, &plane);
        async move {
            op.put(plane, t, d).await;
            plane.settle().await;
        }
    };
    // The handler: every outcome, a cold read, a conflict record, an
    // adjustment invoked directly, and a failure's on-failure record.
    put(
        "credits.granted",
        json!({"grant_id": "g1", "account_id": "a1", "credits": 100}),
    )
    .await;
    put(
        "video.requested",
        json!({"job_id": "j1", "account_id": "a1", "credits": 30}),
    )
    .await;
    put(
        "video.rendered",
        json!({"job_id": "j1", "account_id": "a1", "credits": 25}),
    )
    .await;
    put(
        "video.requested",
        json!({"job_id": "j2", "account_id": "a1", "credits": 10}),
    )
    .await;
    put("video.failed", json!({"job_id": "j2", "account_id": "a1"})).await;
    put(
        "video.requested",
        json!({"job_id": "j3", "account_id": "a1", "credits": 1_000_000}),
    )
    .await;
    put(
        "credits.granted",
        json!({"grant_id": "g1", "account_id": "a1", "credits": 50}),
    )
    .await;
    put(
        "video.requested",
        json!({"job_id": "j4", "account_id": "a1", "credits": 5}),
    )
    .await;
    put(
        "video.requested",
        json!({"job_id": "j-bad", "account_id": "a1", "credits": "x"}),
    )
    .await;
    plane.settle().await;
    let adjustment = json!({"version": "0", "id": "adj-1", "detail-type": "credits.adjusted",
        "source": "cc-agent-reconciler.operator", "time": "2026-12-04T00:00:00Z",
        "detail": {"adjustment_id": "adj-1", "account_id": "a1", "credits": 5, "reason": "test"}});
    invoke(
        &lambda,
        &plane.outputs.handler_function_name,
        &adjustment,
        None,
    )
    .await;
    // The sweep: a run that expires j4 and audits a1, and a failed
    // asynchronous run whose record goes to the dead-letter queue.
    let sweep = &plane.outputs.sweep_function_name;
    invoke(
        &lambda,
        sweep,
        &json!({"older_than_seconds": 0, "dry_run": false}),
        None,
    )
    .await;
    invoke(
        &lambda,
        sweep,
        &json!({"older_than_seconds": "soon"}),
        Some("Event"),
    )
    .await;
    plane.advance(Duration::from_secs(240)).await;
    plane.settle().await;

    // Nothing was refused: the only dead letters are the two failures meant.
    let letters = op.drain(&plane.outputs.dead_letter_queue_url).await;
    assert_eq!(letters.len(), 2, "{letters:#?}");
    assert!(letters.iter().any(|l| l.contains("j-bad")), "{letters:#?}");
    assert!(letters.iter().any(|l| l.contains("soon")), "{letters:#?}");
    let used = authorizations(&plane).await;
    for function in [&plane.outputs.handler_function_name, sweep] {
        let role = plane
            .ctx
            .functions
            .get(function)
            .unwrap()
            .config
            .role_arn
            .clone();
        let mine: Vec<(String, String)> = used
            .iter()
            .filter(|(f, _, _)| f == function)
            .map(|(_, a, r)| (a.clone(), r.clone()))
            .collect();
        for (action, resource) in role_grants(&op_config(&plane).await, &role).await {
            assert!(
                mine.iter().any(|(a, r)| a == &action && glob(&resource, r)),
                "{function}'s role allows {action} on {resource}, which its code never sent: {mine:#?}"
            );
        }
        assert!(!mine.is_empty(), "{function} sent nothing");
    }
}

async fn op_config(plane: &Plane) -> aws_config::SdkConfig {
    testkit::emulator::sdk_config(&plane.endpoint).await
}

/// Invokes `function` with `payload` (`RequestResponse`, or the given type).
async fn invoke(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    payload: &Value,
    kind: Option<&str>,
) {
    let mut request = lambda
        .invoke()
        .function_name(function)
        .payload(aws_smithy_types::Blob::new(payload.to_string()));
    if let Some(kind) = kind {
        request = request.invocation_type(aws_sdk_lambda::types::InvocationType::from(kind));
    }
    request.send().await.unwrap();
}

/// What the plane allowed each function: (function, action, resource).
async fn authorizations(plane: &Plane) -> Vec<(String, String, String)> {
    let all = plane.ctx.trace.authorizations();
    all.as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let s = |k: &str| a[k].as_str().unwrap().to_owned();
            (s("function"), s("action"), s("resource"))
        })
        .collect()
}

/// Every (action, resource) an Allow statement of the role grants, as IAM
/// has the role now.
async fn role_grants(config: &aws_config::SdkConfig, role_arn: &str) -> Vec<(String, String)> {
    let iam = aws_sdk_iam::Client::new(config);
    let role = role_arn.rsplit('/').next().unwrap();
    let mut grants = Vec::new();
    for name in iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap()
        .policy_names()
    {
        let got = iam
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .unwrap();
        let text = testkit::plane::iam::percent_decoded(got.policy_document());
        let document: Value = serde_json::from_str(&text).unwrap();
        for statement in document["Statement"].as_array().unwrap() {
            assert_eq!(statement["Effect"], "Allow", "{statement}");
            let list = |v: &Value| match v {
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().unwrap().to_owned())
                    .collect(),
                one => vec![one.as_str().unwrap().to_owned()],
            };
            for action in list(&statement["Action"]) {
                for resource in list(&statement["Resource"]) {
                    grants.push((action.clone(), resource));
                }
            }
        }
    }
    grants
}

/// Whether `text` matches the IAM resource pattern `pattern` (`*` only).
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head)
                && (0..=text.len() - head.len()).any(|i| glob(tail, &text[head.len() + i..]))
        }
    }
}
