//! Consistent reads: a command's snapshot of the items its decision rests
//! on (`Ledger::read`, one `TransactGetItems`), and the reads besides: an
//! account's entries, jobs by id, and what the operator commands show (an
//! account's statement, a job's history). Queries on one partition and gets
//! by key, never a scan.

use std::collections::BTreeMap;
use std::time::Instant;

use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::transact_get_items::TransactGetItemsOutput;
use aws_sdk_dynamodb::types::{AttributeValue, Get, KeysAndAttributes, TransactGetItem};
use reconciler_core::audit::{Doubt, MAX_DOUBTS, Snapshot};
use reconciler_core::cells::{cell_of, total};
use reconciler_core::contract::table;
use reconciler_core::event::Event;
use reconciler_core::ledger::{Account, Entry, Job, Known};

use super::errors::{Answer, ItemAnswer, classify, item_answer};
use super::expr::{Expr, text};
use super::items::{AccountItem, AdjustmentItem, EntryItem, GrantItem, JobItem, from_item};
use super::keys::{self, Item};
use super::run::Knowledge;
use super::sweep::Page;
use super::txn::Role;
use super::{Command, Ledger, StoreError};

/// `BatchGetItem` takes at most this many keys.
const BATCH: usize = 100;

/// A command's job item, validated. An expiry acts on the account the
/// open-items index lists the job under, a projection of the job item
/// itself, and jobs never change accounts: a job naming another account was
/// edited. Deciding on it would release the listed account's credits for
/// another account's job.
fn job_of(cmd: &Command<'_>, item: Item) -> Result<Job, StoreError> {
    let job = from_item::<JobItem>(item, "job")
        .and_then(|i| i.job())
        .map_err(StoreError::Malformed)?;
    if let Command::Expire { account_id, .. } = cmd
        && job.account_id != *account_id
    {
        return Err(StoreError::Malformed(format!(
            "the job item {} names account {}, but the open-items index lists it \
             under account {account_id}",
            keys::job_pk(&job.job_id),
            job.account_id
        )));
    }
    Ok(job)
}

/// The cell a command decides in, for an account of `cells` cells
/// (`reconciler_core::cells`): an event's by its job or id, an expiry's by
/// its job.
pub(super) fn route(cmd: &Command<'_>, job: Option<&Job>, cells: u32) -> u32 {
    match cmd {
        Command::Event(event) => cell_of(event, job, cells),
        Command::Expire { .. } => job.map_or(0, |j| j.cell),
    }
}

/// How many times a command reads its cell again because the job it read
/// with it routes elsewhere (a job created meanwhile by an instance that
/// knew another count of cells); past it, the decision says what is wrong.
const ROUTINGS: usize = 3;

/// An account's (or a cell's) item read for `account_id`, validated.
fn account_of(item: Item, account_id: &str) -> Result<Account, StoreError> {
    let account = from_item::<AccountItem>(item, "account")
        .and_then(|i| i.account())
        .map_err(StoreError::Malformed)?;
    if account.account_id != account_id {
        return Err(StoreError::Malformed(format!(
            "the account item of {account_id} names account {}",
            account.account_id
        )));
    }
    Ok(account)
}

fn get(table: &str, key: Item) -> TransactGetItem {
    let get = Get::builder()
        .table_name(table)
        .set_key(Some(key))
        .build()
        .expect("a get with a table and a key is complete");
    TransactGetItem::builder().get(get).build()
}

impl Ledger {
    /// A consistent snapshot of the command's items (one `TransactGetItems`;
    /// read again after a backoff while a write to them is in flight),
    /// validated and remembered: the cell of its account the command lands
    /// in, its job, its record. An account this instance never saw split
    /// is read in its home cell, which says how many cells it has; when the
    /// command lands in another cell (or the job read lives in another),
    /// that cell is read with the job and the record again. An account
    /// seen split is read in its cell at once: a settlement's job is in the
    /// cell its id lands in, unless the account was split again since.
    pub(super) async fn read(
        &self,
        cmd: &Command<'_>,
        started: Instant,
        requests: &mut u32,
    ) -> Result<Knowledge, StoreError> {
        let seen = self.cache().cells(cmd.account_id());
        let mut cell = seen.map_or(0, |cells| route(cmd, None, cells));
        let mut known = self.read_in(cmd, cell, started, requests).await?;
        let cells = match (cell, &known.account) {
            (0, Some(home)) => home.cell_count(),
            _ => seen.unwrap_or(1),
        };
        for _ in 0..ROUTINGS {
            let routed = route(cmd, known.job.as_ref(), cells);
            if routed == cell {
                break;
            }
            cell = routed;
            known = self.read_in(cmd, cell, started, requests).await?;
        }
        known.cells = cells;
        let k = Knowledge::read(known, cell);
        self.remember_confirmed(cmd, &k);
        Ok(k)
    }

    /// Cell `cell` of the command's account, its job and its record, in
    /// one `TransactGetItems`.
    async fn read_in(
        &self,
        cmd: &Command<'_>,
        cell: u32,
        started: Instant,
        requests: &mut u32,
    ) -> Result<Known, StoreError> {
        let keys = self.keys(cmd, cell);
        let gets = keys
            .iter()
            .map(|(_, key)| get(&self.table, key.clone()))
            .collect();
        let out = self.transact_get(gets, started, requests).await?;
        let mut known = Known::default();
        for ((role, _), response) in keys.iter().zip(out.responses()) {
            if let Some(item) = response.item().cloned() {
                self.absorb(cmd, &mut known, *role, item)?;
            }
        }
        Ok(known)
    }

    /// Every cell of the command's split account with its job and its
    /// record, in one `TransactGetItems` (what a cell that cannot decide
    /// alone decides on: `Decision::ReadCells`). The home cell says how
    /// many cells there are: read again if it counts more than `cells`.
    pub(super) async fn read_cells(
        &self,
        cmd: &Command<'_>,
        cells: u32,
        started: Instant,
        requests: &mut u32,
    ) -> Result<Knowledge, StoreError> {
        let rest = self.keys(cmd, 0).into_iter().skip(1).collect();
        let (mut all, mut known, cells) = self
            .cells_with(Some(cmd), cmd.account_id(), cells, rest, started, requests)
            .await?;
        let cell = route(cmd, known.job.as_ref(), cells);
        known.account = all
            .iter()
            .position(|c| c.cell == cell)
            .map(|i| all.remove(i));
        known.others = Some(all);
        known.cells = cells;
        let k = Knowledge::read(known, cell);
        self.remember_confirmed(cmd, &k);
        Ok(k)
    }

    /// Every cell of `account_id` (those that exist, in order), and the
    /// `rest` of the command's items, in one `TransactGetItems`; read again
    /// while the home cell counts more cells than were read (the account
    /// was split since `cells` was learnt). Returns the count read.
    async fn cells_with(
        &self,
        cmd: Option<&Command<'_>>,
        account_id: &str,
        mut cells: u32,
        rest: Vec<(Role, Item)>,
        started: Instant,
        requests: &mut u32,
    ) -> Result<(Vec<Account>, Known, u32), StoreError> {
        loop {
            let keys: Vec<(Role, Item)> = (0..cells)
                .map(|k| (Role::Account, keys::cell_key(account_id, k)))
                .chain(rest.iter().cloned())
                .collect();
            let gets = keys
                .iter()
                .map(|(_, key)| get(&self.table, key.clone()))
                .collect();
            let out = self.transact_get(gets, started, requests).await?;
            let (mut all, mut known) = (Vec::new(), Known::default());
            for ((role, _), response) in keys.iter().zip(out.responses()) {
                let Some(item) = response.item().cloned() else {
                    continue;
                };
                match (role, cmd) {
                    (Role::Account, _) => all.push(account_of(item, account_id)?),
                    (role, Some(cmd)) => self.absorb(cmd, &mut known, *role, item)?,
                    (_, None) => {}
                }
            }
            let counted = all
                .first()
                .filter(|h| h.cell == 0)
                .map_or(1, Account::cell_count);
            if counted <= cells {
                return Ok((all, known, cells));
            }
            cells = counted;
        }
    }

    /// The account's balances: the sums over its `cells` cells, read
    /// together right after what the command did (for a split account
    /// they include what its other events did meanwhile); `cell`, the one
    /// the command wrote or read, when it has one cell.
    pub(super) async fn balances(
        &self,
        cell: Account,
        cells: u32,
        started: Instant,
        requests: &mut u32,
    ) -> Result<Account, StoreError> {
        if cells <= 1 {
            return Ok(cell);
        }
        let account_id = cell.account_id.clone();
        let (all, _, _) = self
            .cells_with(None, &account_id, cells, Vec::new(), started, requests)
            .await?;
        Ok(total(&account_id, &all))
    }

    /// One `TransactGetItems`, sent again after a backoff while others
    /// write the same items or DynamoDB answers "not now".
    async fn transact_get(
        &self,
        gets: Vec<TransactGetItem>,
        started: Instant,
        requests: &mut u32,
    ) -> Result<TransactGetItemsOutput, StoreError> {
        let mut conflicts = 0u32;
        loop {
            *requests += 1;
            let result = self
                .client
                .transact_get_items()
                .set_transact_items(Some(gets.clone()))
                .send()
                .await;
            let err = match result {
                Ok(out) => return Ok(out),
                Err(err) => err,
            };
            let again = match classify(&err) {
                Answer::NotNow => true,
                Answer::Cancelled(reasons) => reasons
                    .iter()
                    .any(|r| item_answer(r) == ItemAnswer::Contended),
                Answer::TokenSpent | Answer::Failed => false,
            };
            if !again || self.retry.spent(started) {
                return Err(StoreError::from_sdk(err));
            }
            self.retry.backoff(conflicts).await;
            conflicts += 1;
        }
    }

    /// The keys a command's decision in cell `cell` of its account rests
    /// on, with their roles: the cell first.
    fn keys(&self, cmd: &Command<'_>, cell: u32) -> Vec<(Role, Item)> {
        let mut keys = vec![(Role::Account, keys::cell_key(cmd.account_id(), cell))];
        if let Some(job_id) = cmd.job_id() {
            keys.push((Role::Job, keys::job_key(job_id)));
        }
        match cmd {
            Command::Event(Event::Granted { grant_id, .. }) => {
                keys.push((Role::Record, keys::grant_key(grant_id)));
            }
            Command::Event(Event::Adjusted { adjustment_id, .. }) => {
                keys.push((Role::Record, keys::adjustment_key(adjustment_id)));
            }
            _ => {}
        }
        keys
    }

    /// Reads a stored item into `known` (validated: a malformed item stops
    /// the command with its key named).
    pub(super) fn absorb(
        &self,
        cmd: &Command<'_>,
        known: &mut Known,
        role: Role,
        item: Item,
    ) -> Result<(), StoreError> {
        let malformed = StoreError::Malformed;
        match role {
            Role::Account => known.account = Some(account_of(item, cmd.account_id())?),
            Role::Job => known.job = Some(job_of(cmd, item)?),
            Role::Record => match cmd {
                Command::Event(Event::Adjusted { .. }) => {
                    known.adjustment = Some(
                        from_item::<AdjustmentItem>(item, "adjustment")
                            .and_then(|i| i.adjustment())
                            .map_err(malformed)?,
                    );
                }
                _ => {
                    known.grant = Some(
                        from_item::<GrantItem>(item, "grant")
                            .and_then(|i| i.grant())
                            .map_err(malformed)?,
                    );
                }
            },
            Role::Entry => {}
        }
        Ok(())
    }

    /// Cell `cell` of the account as it is now (strongly consistent; its
    /// home cell, 0: the account's item), if it exists.
    pub async fn account(
        &self,
        account_id: &str,
        cell: u32,
    ) -> Result<Option<Account>, StoreError> {
        let out = self
            .retry
            .resend(|| {
                self.client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(keys::cell_key(account_id, cell)))
                    .consistent_read(true)
                    .send()
            })
            .await
            .map_err(StoreError::from_sdk)?;
        out.item
            .map(|i| {
                from_item::<AccountItem>(i, "account")
                    .and_then(|a| a.account())
                    .map_err(StoreError::Malformed)
            })
            .transpose()
    }

    /// The job item as it is now (strongly consistent), if it exists: the
    /// job, and who moved it when (`cargo xtask ledger job`).
    pub async fn job_item(&self, job_id: &str) -> Result<Option<JobItem>, StoreError> {
        let out = self
            .retry
            .resend(|| {
                self.client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(keys::job_key(job_id)))
                    .consistent_read(true)
                    .send()
            })
            .await
            .map_err(StoreError::from_sdk)?;
        out.item
            .map(|i| from_item::<JobItem>(i, "job").map_err(StoreError::Malformed))
            .transpose()
    }

    /// The entries of cell `cell` of the account with these `seq`s (a
    /// job's history), in order.
    pub async fn entries(
        &self,
        account_id: &str,
        cell: u32,
        seqs: &[u64],
    ) -> Result<Vec<Entry>, StoreError> {
        let keys = seqs
            .iter()
            .map(|seq| keys::cell_entry_key(account_id, cell, *seq))
            .collect();
        let mut entries = self
            .batch_get(keys)
            .await?
            .into_iter()
            .map(|i| {
                from_item::<EntryItem>(i, "entry")
                    .and_then(|e| e.entry())
                    .map_err(StoreError::Malformed)
            })
            .collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(|e| e.seq);
        Ok(entries)
    }

    /// The account's ledger entries `first_seq..=last_seq`, in order (one
    /// strongly consistent query on its partition, every page). An
    /// account's entry `seq` is written in the same transaction as its
    /// version `seq`, but this query is no snapshot: while a transaction is
    /// being applied it may show the account's new version and not yet its
    /// entry. A caller that finds an entry missing reads it again with the
    /// account in one transaction before it concludes anything
    /// ([`Ledger::audit_snapshot`]).
    pub async fn entries_between(
        &self,
        account_id: &str,
        cell: u32,
        first_seq: u64,
        last_seq: u64,
        page_size: Option<i32>,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .entries_page(account_id, cell, first_seq, last_seq, page_size, start)
                .await?;
            entries.extend(page.items);
            match page.next {
                Some(next) => start = Some(next),
                None => return Ok(entries),
            }
        }
    }

    /// One page of the account's entries `first_seq..=last_seq` (a strongly
    /// consistent query on its partition, at most `page_size` entries or
    /// DynamoDB's 1 MB), in order, and where the next page starts: what the
    /// audit folds at a time, so that its memory does not grow with the
    /// window.
    pub async fn entries_page(
        &self,
        account_id: &str,
        cell: u32,
        first_seq: u64,
        last_seq: u64,
        page_size: Option<i32>,
        start: Option<Item>,
    ) -> Result<Page<Entry>, StoreError> {
        if first_seq > last_seq {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let q = Expr::new()
            .key_eq(table::PARTITION_KEY, text(keys::cell_pk(account_id, cell)))
            .key_between(
                table::SORT_KEY,
                text(keys::entry_sk(first_seq)),
                text(keys::entry_sk(last_seq)),
            );
        let out = self.query_consistent(&q, page_size, start).await?;
        let next = out.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|i| {
                from_item::<EntryItem>(i, "entry")
                    .and_then(|e| e.entry())
                    .map_err(StoreError::Malformed)
            })
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    /// The account and the items an audit doubts, in one `TransactGetItems`:
    /// all of one instant, so that a transaction is seen whole or not at
    /// all (read again after a backoff while one is being applied).
    pub async fn audit_snapshot(
        &self,
        account_id: &str,
        cell: u32,
        doubts: &[Doubt],
    ) -> Result<Snapshot, StoreError> {
        let mut keys = vec![keys::cell_key(account_id, cell)];
        for doubt in doubts.iter().take(MAX_DOUBTS) {
            let key = match doubt {
                Doubt::Entry(seq) => keys::cell_entry_key(account_id, cell, *seq),
                Doubt::Job { job_id, .. } => keys::job_key(job_id),
            };
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        let gets = keys
            .into_iter()
            .map(|key| {
                let get = Get::builder()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .build()
                    .expect("a get with a table and a key is complete");
                TransactGetItem::builder().get(get).build()
            })
            .collect();
        let out = self.transact_get(gets, Instant::now(), &mut 0).await?;
        let mut snapshot = Snapshot::default();
        for item in out.responses().iter().filter_map(|r| r.item().cloned()) {
            let sk = match item.get(table::SORT_KEY) {
                Some(AttributeValue::S(sk)) => sk.clone(),
                _ => String::new(),
            };
            if sk == keys::ACCOUNT_SK {
                let account = from_item::<AccountItem>(item, "account")
                    .and_then(|a| a.account())
                    .map_err(StoreError::Malformed)?;
                snapshot.account_seq = Some(account.seq);
            } else if keys::is_entry_sk(&sk) {
                snapshot.entries.push(
                    from_item::<EntryItem>(item, "entry")
                        .and_then(|e| e.entry())
                        .map_err(StoreError::Malformed)?,
                );
            } else {
                snapshot.jobs.push(
                    from_item::<JobItem>(item, "job")
                        .and_then(|j| j.job())
                        .map_err(StoreError::Malformed)?,
                );
            }
        }
        Ok(snapshot)
    }

    /// The jobs with these ids that exist, as they are now (strongly
    /// consistent `BatchGetItem`s): what the audit compares an account's
    /// hold entries with.
    pub async fn jobs(&self, job_ids: &[String]) -> Result<Vec<Job>, StoreError> {
        let keys = job_ids.iter().map(|j| keys::job_key(j)).collect();
        self.batch_get(keys)
            .await?
            .into_iter()
            .map(|i| {
                from_item::<JobItem>(i, "job")
                    .and_then(|j| j.job())
                    .map_err(StoreError::Malformed)
            })
            .collect()
    }

    /// One strongly consistent `Query` page of the table (not the index),
    /// resent while DynamoDB answers "not now".
    pub(super) async fn query_consistent(
        &self,
        q: &Expr,
        limit: Option<i32>,
        start: Option<Item>,
    ) -> Result<QueryOutput, StoreError> {
        self.retry
            .resend(|| {
                self.client
                    .query()
                    .table_name(&self.table)
                    .set_key_condition_expression(q.key_condition_expression())
                    .set_expression_attribute_names(q.names())
                    .set_expression_attribute_values(q.values())
                    .consistent_read(true)
                    .set_limit(limit)
                    .set_exclusive_start_key(start.clone())
                    .send()
            })
            .await
            .map_err(StoreError::from_sdk)
    }

    /// Every item at these keys that exists, strongly consistent, in batches
    /// of 100, asking again for what DynamoDB left unprocessed.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(BATCH) {
            let mut pending = chunk.to_vec();
            let mut round = 0u32;
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
                    .build()
                    .expect("keys are set");
                let out = self
                    .retry
                    .resend(|| {
                        self.client
                            .batch_get_item()
                            .request_items(&self.table, request.clone())
                            .send()
                    })
                    .await
                    .map_err(StoreError::from_sdk)?;
                let mut responses: BTreeMap<String, Vec<Item>> =
                    out.responses.unwrap_or_default().into_iter().collect();
                found.extend(responses.remove(&self.table).unwrap_or_default());
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !pending.is_empty() {
                    self.retry.backoff(round).await;
                    round += 1;
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::items::{AdjustmentItem, EntryItem, GrantItem, to_item};
    use crate::store::keys;
    use crate::store::mock::*;
    use reconciler_core::event::Event;
    use reconciler_core::ledger::{Adjustment, Grant, Outcome};

    fn adjust(reason: &str) -> Event {
        Event::Adjusted {
            adjustment_id: "x1".into(),
            account_id: "a1".into(),
            credits: 5,
            reason: reason.into(),
        }
    }

    /// The keys a cold command reads, spelled by hand: a grant's and an
    /// adjustment's records with the account, and what is found there is
    /// what it decides on — the same payload again is a duplicate, another
    /// a conflict.
    #[tokio::test]
    async fn a_cold_command_reads_its_record_with_the_account() {
        let state = after(&[grant("g1", "a1", 100), adjust("fix")]);
        let grant_record = to_item(&GrantItem::new(
            &Grant {
                grant_id: "g1".into(),
                account_id: "a1".into(),
                credits: 100,
            },
            "e1",
            NOW,
        ));
        let adjustment_record = to_item(&AdjustmentItem::new(
            &Adjustment {
                adjustment_id: "x1".into(),
                account_id: "a1".into(),
                credits: 5,
                reason: "fix".into(),
            },
            "e2",
            NOW,
        ));
        let account = account_item(&state.accounts["a1"]);
        let dynamo = Dynamo::new()
            .reads(vec![Some(account.clone()), Some(grant_record)])
            .reads(vec![Some(account.clone()), Some(adjustment_record.clone())])
            .reads(vec![Some(account), Some(adjustment_record)])
            .puts();

        let granted = dynamo
            .ledger()
            .apply(&grant("g1", "a1", 100), "e3")
            .await
            .unwrap();
        let adjusted = dynamo.ledger().apply(&adjust("fix"), "e4").await.unwrap();
        let other = dynamo.ledger().apply(&adjust("other"), "e5").await.unwrap();

        dynamo.assert_done();
        assert_eq!(
            (granted.outcome, adjusted.outcome, other.outcome),
            (Outcome::Duplicate, Outcome::Duplicate, Outcome::Conflict)
        );
        let read_keys: Vec<Vec<_>> = dynamo
            .sent()
            .iter()
            .filter_map(|s| match s {
                Sent::Read(r) => Some(
                    r.transact_items()
                        .iter()
                        .map(|g| g.get().unwrap().key().clone())
                        .collect(),
                ),
                _ => None,
            })
            .collect();
        assert_eq!(
            read_keys[0],
            [keys::account_key("a1"), keys::grant_key("g1")]
        );
        assert_eq!(
            read_keys[1],
            [keys::account_key("a1"), keys::adjustment_key("x1")]
        );
    }

    /// A read cancelled because every item it touches is being written is
    /// read again; one DynamoDB refuses outright fails at once.
    #[tokio::test]
    async fn a_contended_read_is_read_again_and_a_refused_one_fails_at_once() {
        let state = after(&[grant("g1", "a1", 100)]);
        let dynamo = Dynamo::new()
            .read_cancelled(vec![contended(), contended()])
            .reads(vec![Some(account_item(&state.accounts["a1"])), None])
            .commits()
            .read_fails("AccessDeniedException");

        let applied = dynamo
            .ledger()
            .apply(&requested("j1", "a1", 30), "e2")
            .await
            .unwrap();
        let refused = dynamo
            .ledger()
            .apply(&requested("j2", "a1", 30), "e3")
            .await
            .unwrap_err();

        dynamo.assert_done();
        assert_eq!(applied.outcome, Outcome::Held);
        assert_eq!(refused.error_type(), "LedgerUnavailable");
        assert_eq!(
            dynamo.operations(),
            [
                "TransactGetItems",
                "TransactGetItems",
                "TransactWriteItems",
                "TransactGetItems"
            ]
        );
    }

    /// What the operator commands read: an account, a job item, a job's
    /// entries (in order, however they come back, asking again for what a
    /// batch left unprocessed).
    #[tokio::test]
    async fn the_operator_reads_return_what_is_stored() {
        let state = after(&[grant("g1", "a1", 100), requested("j1", "a1", 30)]);
        let entry = |n: usize| to_item(&EntryItem::new(&state.entries[n]));
        let dynamo = Dynamo::new()
            .gets(Some(account_item(&state.accounts["a1"])))
            .gets(Some(job_item(&state.jobs["j1"])))
            .gets(None)
            .batch_gets_leaving(vec![entry(1)], vec![keys::entry_key("a1", 1)])
            .batch_gets(vec![entry(0)]);
        let ledger = dynamo.ledger();

        assert_eq!(
            ledger.account("a1", 0).await.unwrap(),
            Some(state.accounts["a1"].clone())
        );
        let job = ledger.job_item("j1").await.unwrap().unwrap();
        assert_eq!(job.job().unwrap(), state.jobs["j1"]);
        assert_eq!(ledger.job_item("j9").await.unwrap(), None);
        let entries = ledger.entries("a1", 0, &[1, 2]).await.unwrap();
        assert_eq!(entries, state.entries, "both, in order");

        dynamo.assert_done();
        let Sent::BatchGet(again) = &dynamo.sent()[4] else {
            panic!("{:?}", dynamo.operations());
        };
        assert_eq!(
            again.request_items().unwrap()[TABLE].keys(),
            [keys::entry_key("a1", 1)],
            "only what was left"
        );
    }
}
