//! Reading one kind of the sparse `open-items` index across all its
//! partition keys ([`keys::open_partitions`]: its shards, and its unsharded
//! key of item format 1), merged into one stream in `open_key` order — the
//! order one partition used to give: HELD jobs oldest hold first, accounts
//! by id, conflict records oldest first.
//!
//! The first page of every partition is read in parallel, at most
//! [`OPEN_READ_CONCURRENCY`] at a time; after that, a partition's next page
//! is read when the item after its last buffered one is asked for. Memory is
//! bounded by one page per partition.

use std::collections::VecDeque;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use reconciler_core::contract::table;
use tokio::task::JoinSet;

use super::expr::{Expr, text};
use super::keys::{self, Item, OPEN_AUDIT, OPEN_CONFLICT, OPEN_HELD};
use super::{Ledger, RetryPolicy, StoreError};

/// How many partitions' first pages are read at once.
pub const OPEN_READ_CONCURRENCY: usize = 8;

/// Items per page of one partition when the caller sets no page size: the
/// sweep buffers a page per partition (33 per kind), so pages stay small
/// (an index entry is under 1 KB: 33 pages of 100 take at most 3.3 MB).
pub const OPEN_PAGE_ITEMS: i32 = 100;

/// What is read from the index: one kind, bounded by `open_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Open {
    /// HELD jobs whose hold was taken before this time (ms since the epoch).
    HeldBefore(i64),
    /// Accounts awaiting an audit.
    AuditMarked,
    /// Conflict records whose `open_key` comes after this one (all of them
    /// for `None`).
    ConflictsAfter(Option<String>),
}

impl Open {
    fn kind(&self) -> &'static str {
        match self {
            Open::HeldBefore(_) => OPEN_HELD,
            Open::AuditMarked => OPEN_AUDIT,
            Open::ConflictsAfter(_) => OPEN_CONFLICT,
        }
    }

    /// The key condition of the query on one of its partitions.
    pub(crate) fn query(&self, partition: &str) -> Expr {
        let q = Expr::new().key_eq(table::OPEN_INDEX_PARTITION_KEY, text(partition));
        match self {
            Open::HeldBefore(cutoff_ms) => q.key_cmp(
                table::OPEN_INDEX_SORT_KEY,
                "<",
                text(keys::time_key(*cutoff_ms)),
            ),
            Open::AuditMarked | Open::ConflictsAfter(None) => q,
            Open::ConflictsAfter(Some(after)) => {
                q.key_cmp(table::OPEN_INDEX_SORT_KEY, ">", text(after.clone()))
            }
        }
    }

    /// Every partition key this read covers.
    pub fn partitions(&self) -> Vec<String> {
        keys::open_partitions(self.kind())
    }
}

/// One page of one partition.
struct Page {
    items: Vec<Item>,
    next: Option<Item>,
}

/// One query page on the index (a free function: the fan-out spawns it).
/// Sent again while DynamoDB answers "not now" ([`RetryPolicy::resend`]).
async fn page(
    (client, table_name, retry): (Client, String, RetryPolicy),
    q: Expr,
    limit: i32,
    start: Option<Item>,
) -> Result<Page, StoreError> {
    let out = retry
        .resend(|| {
            client
                .query()
                .table_name(&table_name)
                .index_name(table::OPEN_INDEX)
                .set_key_condition_expression(q.key_condition_expression())
                .set_expression_attribute_names(q.names())
                .set_expression_attribute_values(q.values())
                .limit(limit)
                .set_exclusive_start_key(start.clone())
                .send()
        })
        .await
        .map_err(StoreError::from_sdk)?;
    let next = out.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
    Ok(Page {
        items: out.items.unwrap_or_default(),
        next,
    })
}

/// One partition's buffered page and where its next one starts.
struct Shard {
    partition: String,
    items: VecDeque<Item>,
    next: Option<Item>,
}

fn open_key(item: &Item) -> &str {
    match item.get(table::OPEN_INDEX_SORT_KEY) {
        Some(AttributeValue::S(s)) => s,
        _ => "",
    }
}

/// A read of [`Open`] across its partitions, one item at a time in
/// `open_key` order ([`OpenReader::next`]).
pub struct OpenReader {
    open: Open,
    limit: i32,
    shards: Vec<Shard>,
    started: bool,
    /// The shard the last item came from: its next page, if its buffer is
    /// empty, is read when the next item is asked for (not before: a run
    /// stopped by its budget reads no page it will not use).
    taken_from: Option<usize>,
}

impl Ledger {
    /// What a spawned page read needs of the ledger.
    fn reader(&self) -> (Client, String, RetryPolicy) {
        (self.client.clone(), self.table.clone(), self.retry)
    }

    /// A reader of `open`, `limit` items per page (default
    /// [`OPEN_PAGE_ITEMS`]). Nothing is read before the first
    /// [`OpenReader::next`].
    pub fn open_reader(&self, open: Open, limit: Option<i32>) -> OpenReader {
        let shards = open
            .partitions()
            .into_iter()
            .map(|partition| Shard {
                partition,
                items: VecDeque::new(),
                next: None,
            })
            .collect();
        OpenReader {
            open,
            limit: limit.unwrap_or(OPEN_PAGE_ITEMS).max(1),
            shards,
            started: false,
            taken_from: None,
        }
    }
}

impl OpenReader {
    /// The next item in `open_key` order across all partitions; `None`
    /// when every partition is read to its end.
    ///
    /// # Errors
    /// DynamoDB failed. The reader can be asked again: the page that failed
    /// is read again, and nothing is skipped.
    pub async fn next(&mut self, ledger: &Ledger) -> Result<Option<Item>, StoreError> {
        // Boxed: the sweep's future nests every phase's reads, and the
        // compiler's layout of it has a depth limit.
        if !self.started {
            Box::pin(self.first_pages(ledger)).await?;
            self.started = true;
        }
        if let Some(i) = self.taken_from {
            Box::pin(self.refill(ledger, i)).await?;
            self.taken_from = None;
        }
        let head = self
            .shards
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.items.front().map(|item| (open_key(item), i)))
            .min();
        let Some((_, i)) = head else {
            return Ok(None);
        };
        self.taken_from = Some(i);
        Ok(self.shards[i].items.pop_front())
    }

    /// Reads the next pages of shard `i` while it has none buffered and
    /// more to read.
    async fn refill(&mut self, ledger: &Ledger, i: usize) -> Result<(), StoreError> {
        while self.shards[i].items.is_empty() {
            let Some(start) = self.shards[i].next.clone() else {
                return Ok(());
            };
            let q = self.open.query(&self.shards[i].partition);
            let p = page(ledger.reader(), q, self.limit, Some(start)).await?;
            self.shards[i].items = p.items.into();
            self.shards[i].next = p.next;
        }
        Ok(())
    }

    /// The first page of every partition, [`OPEN_READ_CONCURRENCY`] at once.
    async fn first_pages(&mut self, ledger: &Ledger) -> Result<(), StoreError> {
        let mut running = JoinSet::new();
        let mut waiting = 0..self.shards.len();
        let spawn = |running: &mut JoinSet<_>, i: usize, this: &Self| {
            let q = this.open.query(&this.shards[i].partition);
            let fetch = page(ledger.reader(), q, this.limit, None);
            running.spawn(async move { (i, fetch.await) });
        };
        for i in waiting.by_ref().take(OPEN_READ_CONCURRENCY) {
            spawn(&mut running, i, self);
        }
        // After a failure no read starts, but those running finish: none is
        // left behind, and the first failure is the answer.
        let mut failed = None;
        while let Some(done) = running.join_next().await {
            // A read task ends only by answering or by panicking (the set
            // is never aborted): a panic is the caller's.
            let (i, p) = done.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            match p {
                Ok(p) => {
                    self.shards[i].items = p.items.into();
                    self.shards[i].next = p.next;
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
            if failed.is_none()
                && let Some(i) = waiting.next()
            {
                spawn(&mut running, i, self);
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        for i in 0..self.shards.len() {
            self.refill(ledger, i).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::mock::*;

    /// An index entry under `partition`, as the index shows it.
    fn entry(partition: &str, key: &str) -> Item {
        [
            (table::OPEN_INDEX_PARTITION_KEY, partition),
            (table::OPEN_INDEX_SORT_KEY, key),
            (table::PARTITION_KEY, key),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), AttributeValue::S(v.to_owned())))
        .collect()
    }

    /// Three partitions, one with a second page: the items come out in
    /// `open_key` order across them; the second page is read only when the
    /// item after the first page is asked for. DynamoDB's "not now" is read
    /// again at once; any other failure is the caller's, and the page is
    /// read again when asked again, skipping nothing.
    #[tokio::test]
    async fn partitions_are_merged_in_open_key_order_and_paged_when_needed() {
        let (a1, a2) = (entry("HELD#03", "1#a"), entry("HELD#03", "4#a"));
        let b = entry("HELD#20", "2#b");
        let old = entry("HELD", "3#old");
        let a3 = entry("HELD#03", "5#a");
        let dynamo = Dynamo::new()
            .index(
                "HELD",
                vec![a1.clone(), b.clone(), old.clone(), a2.clone()],
                Some(a2.clone()),
            )
            .query_fails("ThrottlingException")
            .query_fails("AccessDeniedException")
            .queries(vec![a3.clone()], None);
        let ledger = dynamo.ledger();
        let mut reader = ledger.open_reader(Open::HeldBefore(NOW), Some(2));

        let mut seen = Vec::new();
        for _ in 0..4 {
            let item = reader.next(&ledger).await.unwrap().unwrap();
            seen.push(open_key(&item).to_owned());
        }
        assert_eq!(seen, ["1#a", "2#b", "3#old", "4#a"]);
        assert_eq!(dynamo.sent().len(), 33, "no second page yet");
        let failed = reader.next(&ledger).await.unwrap_err();
        assert!(failed.to_string().contains("AccessDenied"), "{failed}");
        assert_eq!(dynamo.sent().len(), 35, "the throttled read was sent again");
        let next = reader.next(&ledger).await.unwrap().unwrap();
        assert_eq!(open_key(&next), "5#a");
        assert!(reader.next(&ledger).await.unwrap().is_none());
        dynamo.assert_done();
        let Sent::Query(second) = &dynamo.sent()[35] else {
            panic!("{:?}", dynamo.operations());
        };
        assert_eq!(partition_of(second), "HELD#03");
        assert_eq!(second.exclusive_start_key(), Some(&a2));
        assert_eq!(second.limit(), Some(2));
    }
}
