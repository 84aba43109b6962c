//! The mocked DynamoDB of the unit tests (`aws-smithy-mocks`): a script of
//! answers, one per request, in the order the code under test must send
//! them, and a log of the requests it did send.
//!
//! The rules run in `RuleMode::Sequential`: a request of another operation
//! than the next answer's, or one request too many, panics inside the SDK
//! call and fails the test; [`Dynamo::assert_done`] catches one too few.
//! The SDK's own retries are off, so every request the adapter sends is
//! exactly one answer of the script (the adapter's resends are its own).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::{BoxError, ErrorMetadata};
use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItemInput, BatchGetItemOutput};
use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::{PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::query::{QueryError, QueryInput, QueryOutput};
use aws_sdk_dynamodb::operation::transact_get_items::{
    TransactGetItemsError, TransactGetItemsInput, TransactGetItemsOutput,
};
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsInput, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::operation::update_item::{
    UpdateItemError, UpdateItemInput, UpdateItemOutput,
};
use aws_sdk_dynamodb::types::error::{
    ConditionalCheckFailedException, IdempotentParameterMismatchException,
    TransactionCanceledException, TransactionInProgressException,
};
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ItemResponse, KeysAndAttributes,
};
use aws_smithy_mocks::{
    MockResponse, MockResponseInterceptor, Rule, RuleBuilder, RuleMode, create_mock_http_client,
    mock,
};
use reconciler_core::contract::table;
use reconciler_core::event::Event;
use reconciler_core::ledger::{Account, Job, Meta};
use reconciler_core::memory::MemoryLedger;

use super::cache::Confirmed;
use super::items::{AccountItem, JobItem, to_item};
use super::keys::{self, Item};
use super::{Ledger, RetryPolicy};

/// The table every mocked ledger is on.
pub(crate) const TABLE: &str = "ledger";
/// The clock of every mocked ledger (ms since the Unix epoch).
pub(crate) const NOW: i64 = 1_700_000_000_000;

impl Ledger {
    /// Makes this instance remember an account, and a job it holds for, as
    /// if it had committed them (a warm instance).
    pub(crate) fn remember(&self, account: &Account, job: Option<&Job>) {
        self.cache().confirm(Confirmed {
            account_id: &account.account_id,
            cell: account.cell,
            account: Some(Some(account)),
            job: job.map(|job| (job.job_id.as_str(), Some(job))),
        });
    }

    /// What this instance remembers of an account.
    pub(crate) fn remembered(&self, account_id: &str) -> Option<Account> {
        self.cache().account(account_id, 0).cloned()
    }
}

/// Short budgets and backoffs: a test's retries cost milliseconds.
pub(crate) fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        budget: Duration::from_secs(2),
        base: Duration::from_millis(1),
        cap: Duration::from_millis(4),
        patience: Duration::from_secs(1),
    }
}

/// One request the code under test sent, as the SDK built it.
#[derive(Debug, Clone)]
pub(crate) enum Sent {
    Write(TransactWriteItemsInput),
    Read(TransactGetItemsInput),
    Put(PutItemInput),
    Update(UpdateItemInput),
    Get(GetItemInput),
    BatchGet(BatchGetItemInput),
    Query(QueryInput),
}

impl Sent {
    /// Whether the request writes (a dry run sends none).
    pub(crate) fn writes(&self) -> bool {
        matches!(self, Sent::Write(_) | Sent::Put(_) | Sent::Update(_))
    }

    /// The operation's name, for messages and sequence assertions.
    pub(crate) fn operation(&self) -> &'static str {
        match self {
            Sent::Write(_) => "TransactWriteItems",
            Sent::Read(_) => "TransactGetItems",
            Sent::Put(_) => "PutItem",
            Sent::Update(_) => "UpdateItem",
            Sent::Get(_) => "GetItem",
            Sent::BatchGet(_) => "BatchGetItem",
            Sent::Query(_) => "Query",
        }
    }
}

/// A request that gets no answer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fault {
    /// The connection fails before the request leaves (`DispatchFailure`).
    Unreachable,
    /// The request is sent, the response is lost (`ResponseError`): for all
    /// the client knows, it may have been applied.
    LostResponse,
}

type Plan = Arc<Mutex<VecDeque<Option<Fault>>>>;

/// Injects the transport faults of the script: the mocks answer with
/// modeled outputs and errors only.
#[derive(Debug)]
struct Faults {
    plan: Plan,
    losing: AtomicBool,
}

impl Intercept for Faults {
    fn name(&self) -> &'static str {
        "TransportFaults"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let next = self.plan.lock().unwrap().pop_front().flatten();
        match next {
            Some(Fault::Unreachable) => Err("connection refused (injected)".into()),
            Some(Fault::LostResponse) => {
                self.losing.store(true, Ordering::SeqCst);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.losing.swap(false, Ordering::SeqCst) {
            return Err("connection reset while reading the response (injected)".into());
        }
        Ok(())
    }
}

/// The script of a mocked DynamoDB, and what was sent to it.
#[derive(Default)]
pub(crate) struct Dynamo {
    rules: Vec<Rule>,
    sent: Arc<Mutex<Vec<Sent>>>,
    plan: Plan,
    /// Answer each request by the first rule of its operation, in any
    /// order, as often as asked ([`Dynamo::any_order`]).
    any_order: bool,
}

impl Dynamo {
    pub(crate) fn new() -> Dynamo {
        Dynamo::default()
    }

    /// A DynamoDB that answers every `TransactGetItems` with `items`,
    /// commits every transaction and accepts every put, in any order, as
    /// often as asked: for tests that care what the code makes of stored
    /// items, not the order it asks in.
    pub(crate) fn any_order(items: Vec<Option<Item>>) -> Dynamo {
        let responses: Vec<ItemResponse> = items
            .iter()
            .map(|item| ItemResponse::builder().set_item(item.clone()).build())
            .collect();
        Dynamo {
            rules: vec![
                mock!(Client::transact_get_items)
                    .sequence()
                    .output(move || {
                        TransactGetItemsOutput::builder()
                            .set_responses(Some(responses.clone()))
                            .build()
                    })
                    .repeatedly()
                    .build(),
                mock!(Client::transact_write_items)
                    .sequence()
                    .output(|| TransactWriteItemsOutput::builder().build())
                    .repeatedly()
                    .build(),
                mock!(Client::put_item)
                    .sequence()
                    .output(|| PutItemOutput::builder().build())
                    .repeatedly()
                    .build(),
            ],
            any_order: true,
            ..Dynamo::default()
        }
    }

    /// The next request must be of `rule`'s operation; it is logged and
    /// answered by `answer`.
    fn answer<I, O, E>(
        self,
        rule: RuleBuilder<I, O, E>,
        log: fn(I) -> Sent,
        answer: impl Fn() -> MockResponse<O, E> + Send + Sync + 'static,
    ) -> Self
    where
        I: Clone + std::fmt::Debug + Send + Sync + 'static,
        O: std::fmt::Debug + Send + Sync + 'static,
        E: std::error::Error + std::fmt::Debug + Send + Sync + 'static,
    {
        self.answer_to(rule, log, move |_| answer())
    }

    /// Like [`Dynamo::answer`], the answer made from the request.
    fn answer_to<I, O, E>(
        mut self,
        rule: RuleBuilder<I, O, E>,
        log: fn(I) -> Sent,
        answer: impl Fn(&I) -> MockResponse<O, E> + Send + Sync + 'static,
    ) -> Self
    where
        I: Clone + std::fmt::Debug + Send + Sync + 'static,
        O: std::fmt::Debug + Send + Sync + 'static,
        E: std::error::Error + std::fmt::Debug + Send + Sync + 'static,
    {
        let sent = Arc::clone(&self.sent);
        self.rules
            .push(rule.then_compute_response(move |input: &I| {
                sent.lock().unwrap().push(log(input.clone()));
                answer(input)
            }));
        self.plan.lock().unwrap().push_back(None);
        self
    }

    /// The next request is a `TransactWriteItems` that commits.
    pub(crate) fn commits(self) -> Self {
        self.answer(mock!(Client::transact_write_items), Sent::Write, || {
            MockResponse::Output(TransactWriteItemsOutput::builder().build())
        })
    }

    /// The next request is a `TransactWriteItems` that commits, and `then`
    /// runs as it is answered (a clock moves, say).
    pub(crate) fn commits_then(self, then: fn()) -> Self {
        self.answer(
            mock!(Client::transact_write_items),
            Sent::Write,
            move || {
                then();
                MockResponse::Output(TransactWriteItemsOutput::builder().build())
            },
        )
    }

    /// The next request is a `TransactWriteItems` that fails with `error`.
    pub(crate) fn write_fails(
        self,
        error: impl Fn() -> TransactWriteItemsError + Send + Sync + 'static,
    ) -> Self {
        self.answer(
            mock!(Client::transact_write_items),
            Sent::Write,
            move || MockResponse::Error(error()),
        )
    }

    /// The next request is a `TransactWriteItems` that DynamoDB cancels for
    /// these reasons (one per item, in order).
    pub(crate) fn cancels(self, reasons: Vec<CancellationReason>) -> Self {
        self.write_fails(move || write_cancelled(reasons.clone()))
    }

    /// Every request from now on is a `TransactWriteItems` cancelled for
    /// these reasons.
    pub(crate) fn always_cancels(mut self, reasons: Vec<CancellationReason>) -> Self {
        let sent = Arc::clone(&self.sent);
        self.rules.push(
            mock!(Client::transact_write_items)
                .match_requests(move |input| {
                    sent.lock().unwrap().push(Sent::Write(input.clone()));
                    true
                })
                .sequence()
                .error(move || write_cancelled(reasons.clone()))
                .repeatedly()
                .build(),
        );
        self
    }

    /// Every request from now on is a `TransactWriteItems` that fails with `error`.
    pub(crate) fn always_fails(
        mut self,
        error: impl Fn() -> TransactWriteItemsError + Send + Sync + 'static,
    ) -> Self {
        let sent = Arc::clone(&self.sent);
        self.rules.push(
            mock!(Client::transact_write_items)
                .match_requests(move |input| {
                    sent.lock().unwrap().push(Sent::Write(input.clone()));
                    true
                })
                .sequence()
                .error(error)
                .repeatedly()
                .build(),
        );
        self
    }

    /// The next request is a `TransactWriteItems` that gets no answer.
    pub(crate) fn write_unanswered(mut self, fault: Fault) -> Self {
        let sent = Arc::clone(&self.sent);
        // An HTTP answer the transport fault keeps from ever being read (a
        // modeled one would replace the fault's error).
        self.rules.push(
            mock!(Client::transact_write_items)
                .match_requests(move |input| {
                    sent.lock().unwrap().push(Sent::Write(input.clone()));
                    true
                })
                .sequence()
                .http_status(200, None)
                .build(),
        );
        self.plan.lock().unwrap().push_back(Some(fault));
        self
    }

    /// The next request is a `TransactGetItems` answered with these items
    /// (one per key, in order; `None`: absent).
    pub(crate) fn reads(self, items: Vec<Option<Item>>) -> Self {
        self.answer(mock!(Client::transact_get_items), Sent::Read, move || {
            let responses = items
                .iter()
                .map(|item| ItemResponse::builder().set_item(item.clone()).build())
                .collect();
            MockResponse::Output(
                TransactGetItemsOutput::builder()
                    .set_responses(Some(responses))
                    .build(),
            )
        })
    }

    /// The next request is a `TransactGetItems` that DynamoDB cancels for
    /// these reasons.
    pub(crate) fn read_cancelled(self, reasons: Vec<CancellationReason>) -> Self {
        self.answer(mock!(Client::transact_get_items), Sent::Read, move || {
            MockResponse::Error(TransactGetItemsError::TransactionCanceledException(
                TransactionCanceledException::builder()
                    .message("Transaction cancelled")
                    .set_cancellation_reasons(Some(reasons.clone()))
                    .meta(code("TransactionCanceledException"))
                    .build(),
            ))
        })
    }

    /// The next request is a `TransactGetItems` that fails with a service
    /// error of `code`.
    pub(crate) fn read_fails(self, error_code: &'static str) -> Self {
        self.answer(mock!(Client::transact_get_items), Sent::Read, move || {
            MockResponse::Error(TransactGetItemsError::generic(code(error_code)))
        })
    }

    /// The next request is a `Query` that fails with `error_code`.
    pub(crate) fn query_fails(self, error_code: &'static str) -> Self {
        self.answer(mock!(Client::query), Sent::Query, move || {
            MockResponse::Error(QueryError::generic(code(error_code)))
        })
    }

    /// The next request is a `PutItem` that succeeds.
    pub(crate) fn puts(self) -> Self {
        self.answer(mock!(Client::put_item), Sent::Put, || {
            MockResponse::Output(PutItemOutput::builder().build())
        })
    }

    /// The next request is a `PutItem` that succeeds, and `then` runs as it
    /// is answered (a clock moves, say).
    pub(crate) fn puts_then(self, then: fn()) -> Self {
        self.answer(mock!(Client::put_item), Sent::Put, move || {
            then();
            MockResponse::Output(PutItemOutput::builder().build())
        })
    }

    /// The next request is an `UpdateItem` that succeeds.
    pub(crate) fn updates(self) -> Self {
        self.answer(mock!(Client::update_item), Sent::Update, || {
            MockResponse::Output(UpdateItemOutput::builder().build())
        })
    }

    /// The next request is an `UpdateItem` whose condition fails.
    pub(crate) fn update_refused(self) -> Self {
        self.answer(mock!(Client::update_item), Sent::Update, || {
            MockResponse::Error(UpdateItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder()
                    .message("The conditional request failed")
                    .meta(code("ConditionalCheckFailedException"))
                    .build(),
            ))
        })
    }

    /// The next request is a `GetItem` answered with `item`.
    pub(crate) fn gets(self, item: Option<Item>) -> Self {
        self.answer(mock!(Client::get_item), Sent::Get, move || {
            MockResponse::Output(GetItemOutput::builder().set_item(item.clone()).build())
        })
    }

    /// The next request is a `BatchGetItem` answered with these items of the table.
    pub(crate) fn batch_gets(self, items: Vec<Item>) -> Self {
        self.answer(mock!(Client::batch_get_item), Sent::BatchGet, move || {
            MockResponse::Output(
                BatchGetItemOutput::builder()
                    .responses(TABLE, items.clone())
                    .build(),
            )
        })
    }

    /// The next request is a `BatchGetItem` answered with `items`, leaving
    /// the keys `unprocessed` for another request (DynamoDB's answer when a
    /// batch is over its size or throughput).
    pub(crate) fn batch_gets_leaving(self, items: Vec<Item>, unprocessed: Vec<Item>) -> Self {
        self.answer(mock!(Client::batch_get_item), Sent::BatchGet, move || {
            let left = KeysAndAttributes::builder()
                .set_keys(Some(unprocessed.clone()))
                .build()
                .expect("keys are set");
            MockResponse::Output(
                BatchGetItemOutput::builder()
                    .responses(TABLE, items.clone())
                    .unprocessed_keys(TABLE, left)
                    .build(),
            )
        })
    }

    /// The next request is a `Query` answered with one page of `items`, and
    /// `next` the key the next page starts after (`None`: the last page).
    pub(crate) fn queries(self, items: Vec<Item>, next: Option<Item>) -> Self {
        self.answer(mock!(Client::query), Sent::Query, move || {
            MockResponse::Output(
                QueryOutput::builder()
                    .count(items.len() as i32)
                    .set_items(Some(items.clone()))
                    .set_last_evaluated_key(next.clone())
                    .build(),
            )
        })
    }

    /// The sweep's first read of one kind of the index: one `Query` per
    /// partition ([`keys::open_partitions`]), asked in any order. Each of
    /// `items` is answered on the partition its own `open_kind` names,
    /// `next` (where the page ends) on the partition of the last item; every
    /// other partition is empty.
    pub(crate) fn index(mut self, kind: &str, items: Vec<Item>, next: Option<Item>) -> Self {
        let mut pages: HashMap<String, (Vec<Item>, Option<Item>)> = HashMap::new();
        for item in items {
            let partition = open_kind(&item);
            pages.entry(partition).or_default().0.push(item);
        }
        if let Some(next) = next {
            let last = open_kind(&next);
            pages.entry(last).or_default().1 = Some(next);
        }
        let pages = Arc::new(pages);
        for _ in keys::open_partitions(kind) {
            let pages = Arc::clone(&pages);
            self = self.answer_to(mock!(Client::query), Sent::Query, move |q| {
                let (items, next) = pages.get(&partition_of(q)).cloned().unwrap_or_default();
                MockResponse::Output(
                    QueryOutput::builder()
                        .count(items.len() as i32)
                        .set_items(Some(items))
                        .set_last_evaluated_key(next)
                        .build(),
                )
            });
        }
        self
    }

    /// A client on this script: fixed credentials and region, no SDK
    /// retries, the transport faults. Built by hand rather than with
    /// `mock_client!`, whose test defaults need the SDK crate's `test-util`
    /// feature: one feature set for the SDK keeps CI to one build of it.
    pub(crate) fn client(&self) -> Client {
        let mode = if self.any_order {
            RuleMode::MatchAny
        } else {
            RuleMode::Sequential
        };
        let mocks = self
            .rules
            .iter()
            .fold(MockResponseInterceptor::new().rule_mode(mode), |i, r| {
                i.with_rule(r)
            });
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "AKIDMOCK", "mock", None, None, "mocks",
            ))
            .http_client(create_mock_http_client())
            .interceptor(mocks)
            .retry_config(RetryConfig::disabled())
            .interceptor(Faults {
                plan: Arc::clone(&self.plan),
                losing: AtomicBool::new(false),
            })
            .build();
        Client::from_conf(config)
    }

    /// A ledger on this script: table [`TABLE`], clock [`NOW`], short retries.
    pub(crate) fn ledger(&self) -> Ledger {
        Ledger::new(self.client(), TABLE)
            .with_clock(|| NOW)
            .with_retry(quick_retry())
    }

    /// Every request sent so far, in order.
    pub(crate) fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }

    /// The operations sent so far, in order.
    pub(crate) fn operations(&self) -> Vec<&'static str> {
        self.sent().iter().map(Sent::operation).collect()
    }

    /// The transactions sent so far, in order.
    pub(crate) fn writes(&self) -> Vec<TransactWriteItemsInput> {
        self.sent()
            .into_iter()
            .filter_map(|s| match s {
                Sent::Write(w) => Some(w),
                _ => None,
            })
            .collect()
    }

    /// Every answer of the script was asked for.
    pub(crate) fn assert_done(&self) {
        for (i, rule) in self.rules.iter().enumerate() {
            assert!(
                rule.num_calls() > 0,
                "answer {i} of the script was never asked for; sent: {:?}",
                self.operations()
            );
        }
    }
}

/// An item's (or a page end's) `open_kind`.
fn open_kind(item: &Item) -> String {
    match item.get(table::OPEN_INDEX_PARTITION_KEY) {
        Some(AttributeValue::S(s)) => s.clone(),
        other => panic!("an index item without its open_kind: {other:?}"),
    }
}

/// The index partition a `Query` reads: the value of its key condition's
/// first clause (`#open_kind = :v0 …`).
pub(crate) fn partition_of(q: &QueryInput) -> String {
    let condition = q.key_condition_expression().unwrap_or_default();
    let first = condition.split(" AND ").next().unwrap_or_default();
    let placeholder = first.split(" = ").nth(1).unwrap_or_default();
    match q
        .expression_attribute_values()
        .and_then(|v| v.get(placeholder))
    {
        Some(AttributeValue::S(s)) => s.clone(),
        other => panic!("a query without a partition: {condition} {other:?}"),
    }
}

/// Error metadata with an error code, as DynamoDB's answers carry it.
pub(crate) fn code(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).build()
}

/// A `TransactWriteItems` cancelled for these reasons.
pub(crate) fn write_cancelled(reasons: Vec<CancellationReason>) -> TransactWriteItemsError {
    TransactWriteItemsError::TransactionCanceledException(
        TransactionCanceledException::builder()
            .message(
                "Transaction cancelled, please refer cancellation reasons for specific reasons",
            )
            .set_cancellation_reasons(Some(reasons))
            .meta(code("TransactionCanceledException"))
            .build(),
    )
}

/// `TransactionInProgressException`: the same token's request is still running.
pub(crate) fn in_progress() -> TransactWriteItemsError {
    TransactWriteItemsError::TransactionInProgressException(
        TransactionInProgressException::builder()
            .message("Transaction is ongoing for the idempotency token")
            .meta(code("TransactionInProgressException"))
            .build(),
    )
}

/// `IdempotentParameterMismatchException`: the token was spent on a request
/// with other parameters.
pub(crate) fn token_spent() -> TransactWriteItemsError {
    TransactWriteItemsError::IdempotentParameterMismatchException(
        IdempotentParameterMismatchException::builder()
            .message(
                "The request uses the same client token as a previous, but non-identical request.",
            )
            .meta(code("IdempotentParameterMismatchException"))
            .build(),
    )
}

/// A `ValidationException` (DynamoDB's answer to an item over 400 KB).
pub(crate) fn item_too_large() -> TransactWriteItemsError {
    TransactWriteItemsError::generic(
        ErrorMetadata::builder()
            .code("ValidationException")
            .message("Item size has exceeded the maximum allowed size")
            .build(),
    )
}

/// The reason of an item whose condition held (or was not evaluated).
pub(crate) fn held() -> CancellationReason {
    CancellationReason::builder().code("None").build()
}

/// The reason of an item whose condition failed, with its `ALL_OLD` image
/// (`None`: the item does not exist).
pub(crate) fn failed(image: Option<Item>) -> CancellationReason {
    CancellationReason::builder()
        .code("ConditionalCheckFailed")
        .message("The conditional request failed")
        .set_item(image)
        .build()
}

/// The reason of an item another transaction was writing.
pub(crate) fn contended() -> CancellationReason {
    CancellationReason::builder()
        .code("TransactionConflict")
        .message("Transaction is ongoing for the item")
        .build()
}

/// The ledger after these events, each applied by the reference model
/// (event ids `e1`, `e2`, …, at [`NOW`]): the states and items the tests
/// script are ones the state machine really reaches.
pub(crate) fn after(events: &[Event]) -> MemoryLedger {
    let mut ledger = MemoryLedger::default();
    for (i, event) in events.iter().enumerate() {
        ledger
            .apply(event, &meta(&format!("e{}", i + 1)))
            .expect("the history applies");
    }
    ledger
}

/// The identity of an event applied at [`NOW`].
pub(crate) fn meta(event_id: &str) -> Meta {
    Meta {
        event_id: event_id.into(),
        at_ms: NOW,
    }
}

pub(crate) fn grant(grant_id: &str, account_id: &str, credits: i64) -> Event {
    Event::Granted {
        grant_id: grant_id.into(),
        account_id: account_id.into(),
        credits,
    }
}

pub(crate) fn requested(job_id: &str, account_id: &str, credits: i64) -> Event {
    Event::Requested {
        job_id: job_id.into(),
        account_id: account_id.into(),
        credits,
    }
}

pub(crate) fn rendered(job_id: &str, account_id: &str, credits: i64) -> Event {
    Event::Rendered {
        job_id: job_id.into(),
        account_id: account_id.into(),
        credits,
    }
}

pub(crate) fn failed_job(job_id: &str, account_id: &str) -> Event {
    Event::Failed {
        job_id: job_id.into(),
        account_id: account_id.into(),
        reason: Some("render farm down".into()),
    }
}

/// An account's item as the adapter writes it.
pub(crate) fn account_item(account: &Account) -> Item {
    to_item(&AccountItem::new(account, NOW))
}

/// A job's item as the adapter writes it.
pub(crate) fn job_item(job: &Job) -> Item {
    to_item(&JobItem::new(job, "e0", NOW))
}
