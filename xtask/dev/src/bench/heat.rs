//! The partition-heat model: which partition key of the ledger table and of
//! its `open-items` index takes how many capacity units per second under a
//! product-wide load, and so the rate at which the first key reaches
//! DynamoDB's per-partition limits (1,000 WCU/s, 3,000 RCU/s).
//!
//! No emulator: a seeded stream of events is decided by the core and turned
//! into exactly the requests the handler sends (`store::txn::transaction`,
//! `ConflictItem::new`: the store's own items and keys), and each request is
//! charged by DynamoDB's rules (`store::size`) to the partition keys it
//! writes (a split account's transfers between cells, `store::txn::
//! gather_transaction`, included): the table's `pk`, and the index's `open_kind` when an item enters,
//! changes in or leaves the index (an index entry is written only then: an
//! account's `Put` that keeps its audit mark and projected attributes costs
//! the index nothing). Reads are the worst case: every event read cold, its
//! account and its job (or record) in one `TransactGetItems`; a warm
//! instance reads nothing. A split account is read in the cell the event
//! lands in (an instance that saw the account once knows its count of
//! cells, which only grows), every cell when a hold gathers, and every
//! cell again for the response's balances.
//!
//! The stream: `rate` events per second over `accounts` accounts chosen by
//! a Zipf law (rank `k` with weight `1/k^s`: a few render farms at the head,
//! a long tail of small accounts); half holds, half settlements (nine in ten
//! rendered, one in ten failed), 1 % grants, 0.1 % redeliveries with another
//! payload (conflicts). It starts just after a sweep: no account carries its
//! audit mark, so each account's first write puts it back in the index.
//! The accounts the mix sends more than [`EVENTS_PER_CELL`] events per
//! second are split as the operator is told to (`ledger split`, docs/cost.md):
//! into [`cells_for`] their rate cells, all their credits in the home cell.

use std::collections::{BTreeMap, HashMap, VecDeque};

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use reconciler::store::items::{AccountItem, ConflictItem, to_item};
use reconciler::store::keys::{self, Item};
use reconciler::store::size::{item_size, read_units, write_units};
use reconciler::store::txn::{gather_transaction, transaction};
use reconciler_core::cells::{MAX_CELLS, cell_of};
use reconciler_core::contract::table;
use reconciler_core::event::Event;
use reconciler_core::ledger::{Account, Decision, Meta, decide};
use reconciler_core::memory::MemoryLedger;

/// DynamoDB's limits per partition (and so per partition key, whose sort
/// keys only grow or whose one item takes the writes).
pub(crate) const WCU_PER_KEY: f64 = 1_000.0;
pub(crate) const RCU_PER_KEY: f64 = 3_000.0;

/// The events per second one cell of an account is planned for: an event
/// writes its cell and an entry under its key (4 WCU), so 400 WCU/s, 40 %
/// of a partition, leaving room for bursts and an uneven hash of job ids.
pub(crate) const EVENTS_PER_CELL: f64 = 100.0;

/// The cells an account sending `rate` events per second is split into.
pub(crate) fn cells_for(rate: f64) -> u32 {
    let cells = (rate / EVENTS_PER_CELL)
        .ceil()
        .clamp(1.0, f64::from(MAX_CELLS));
    // Clamped to 1..=32 above: the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let cells = cells as u32;
    cells
}

/// The generated load.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mix {
    pub(crate) rate: u32,
    pub(crate) seconds: u32,
    pub(crate) accounts: u32,
    /// The Zipf exponent `s`.
    pub(crate) zipf: f64,
    pub(crate) seed: u64,
    /// Whether the accounts past [`EVENTS_PER_CELL`] are split.
    pub(crate) split: bool,
}

impl Mix {
    /// The load the design is held to: 10,000 events/s over 100,000
    /// accounts, Zipf `s = 1` (the head account alone sends about 8 %).
    pub(crate) const TARGET: Mix = Mix {
        rate: 10_000,
        seconds: 10,
        accounts: 100_000,
        zipf: 1.0,
        seed: 22,
        split: true,
    };
}

/// Where capacity lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Space {
    Table,
    Index,
}

/// Capacity units per second on one partition key.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Load {
    pub(crate) wcu: f64,
    pub(crate) rcu: f64,
}

/// Each key's busiest second, and the events each account sent in its busiest.
#[derive(Debug, Default)]
pub(crate) struct Heat {
    pub(crate) peak: HashMap<(Space, String), Load>,
    pub(crate) account_events: HashMap<String, u32>,
    /// The accounts split, and into how many cells.
    pub(crate) split: BTreeMap<String, u32>,
}

impl Heat {
    /// Keys by descending WCU/s (then RCU/s), the first `n`.
    pub(crate) fn hottest(&self, n: usize) -> Vec<(&(Space, String), Load)> {
        let mut keys: Vec<_> = self.peak.iter().map(|(k, l)| (k, *l)).collect();
        keys.sort_by(|a, b| {
            (b.1.wcu, b.1.rcu)
                .partial_cmp(&(a.1.wcu, a.1.rcu))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.0.cmp(b.0))
        });
        keys.truncate(n);
        keys
    }

    /// The hottest key of `space` by `measure`.
    pub(crate) fn max_by(&self, space: Space, measure: fn(&Load) -> f64) -> Option<(&str, f64)> {
        self.peak
            .iter()
            .filter(|((s, _), _)| *s == space)
            .map(|((_, k), l)| (k.as_str(), measure(l)))
            .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(a.0)))
    }

    /// How many times the load `rate` may grow before the key reaches a
    /// limit: the ceiling, in events/s, and the key it comes from, over the
    /// keys of `space`.
    pub(crate) fn ceiling(&self, rate: u32, space: Space) -> Option<(String, f64)> {
        self.peak
            .iter()
            .filter(|((s, _), _)| *s == space)
            .map(|((_, k), l)| {
                let headroom = (WCU_PER_KEY / l.wcu.max(f64::MIN_POSITIVE))
                    .min(RCU_PER_KEY / l.rcu.max(f64::MIN_POSITIVE));
                (k.clone(), f64::from(rate) * headroom)
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// The table as the model keeps it: every item the stream wrote, by key.
#[derive(Default)]
struct Table {
    items: HashMap<(String, String), Item>,
    second: HashMap<(Space, String), Load>,
}

fn s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    }
}

fn key_of(item: &Item) -> (String, String) {
    (
        s(item, table::PARTITION_KEY).unwrap_or_default(),
        s(item, table::SORT_KEY).unwrap_or_default(),
    )
}

/// An item's entry in the index: its partition key, sort key and what it
/// projects (the index's keys, the table's keys, the projected attributes).
fn index_entry(item: &Item) -> Option<(String, String, Item)> {
    let kind = s(item, table::OPEN_INDEX_PARTITION_KEY)?;
    let key = s(item, table::OPEN_INDEX_SORT_KEY)?;
    let projected = [
        table::PARTITION_KEY,
        table::SORT_KEY,
        table::OPEN_INDEX_PARTITION_KEY,
        table::OPEN_INDEX_SORT_KEY,
    ]
    .iter()
    .chain(table::OPEN_INDEX_ATTRIBUTES)
    .filter_map(|a| Some(((*a).to_owned(), item.get(*a)?.clone())))
    .collect();
    Some((kind, key, projected))
}

/// An `Update`'s `SET #a = :v, … REMOVE #b, …` applied to `item`.
fn apply_update(mut item: Item, update: &Update) -> Item {
    let names = update
        .expression_attribute_names()
        .cloned()
        .unwrap_or_default();
    let values = update
        .expression_attribute_values()
        .cloned()
        .unwrap_or_default();
    let expression = update.update_expression();
    let (set, remove) = match expression.split_once("REMOVE ") {
        Some((set, remove)) => (set, remove),
        None => (expression, ""),
    };
    for clause in set
        .trim_start_matches("SET ")
        .split(", ")
        .filter(|c| !c.is_empty())
    {
        if let Some((n, v)) = clause.trim().split_once(" = ") {
            item.insert(names[n].clone(), values[v].clone());
        }
    }
    for n in remove.split(", ").map(str::trim).filter(|n| !n.is_empty()) {
        item.remove(&names[n]);
    }
    item
}

impl Table {
    fn charge(&mut self, space: Space, key: String, wcu: u32, rcu: u32) {
        let load = self.second.entry((space, key)).or_default();
        load.wcu += f64::from(wcu);
        load.rcu += f64::from(rcu);
    }

    fn size(&self, pk: &str, sk: &str) -> usize {
        self.items
            .get(&(pk.to_owned(), sk.to_owned()))
            .map_or(0, item_size)
    }

    /// A write of `new` over the item at its key: the table's units on the
    /// larger of the two, and the index's for what changed in it.
    fn write(&mut self, new: Option<Item>, key: (String, String), transactional: bool) {
        let old = self.items.get(&key).cloned();
        let size = old
            .as_ref()
            .map_or(0, item_size)
            .max(new.as_ref().map_or(0, item_size));
        self.charge(
            Space::Table,
            key.0.clone(),
            write_units(size, transactional),
            0,
        );
        let (before, after) = (
            old.as_ref().and_then(index_entry),
            new.as_ref().and_then(index_entry),
        );
        match (before, after) {
            (Some(b), Some(a)) if b.0 == a.0 && b.1 == a.1 => {
                if b.2 != a.2 {
                    let size = item_size(&b.2).max(item_size(&a.2));
                    self.charge(Space::Index, a.0, write_units(size, false), 0);
                }
            }
            (before, after) => {
                for (kind, _, projected) in before.into_iter().chain(after) {
                    self.charge(
                        Space::Index,
                        kind,
                        write_units(item_size(&projected), false),
                        0,
                    );
                }
            }
        }
        if let Some(new) = new {
            self.items.insert(key, new);
        }
    }

    fn transact(&mut self, write: &TransactWriteItem) {
        if let Some(put) = write.put() {
            let item = put.item().clone();
            self.write(Some(item.clone()), key_of(&item), true);
        } else if let Some(update) = write.update() {
            let key = key_of(update.key());
            let old = self
                .items
                .get(&key)
                .cloned()
                .unwrap_or_else(|| update.key().clone());
            self.write(Some(apply_update(old, update)), key, true);
        } else if let Some(check) = write.condition_check() {
            // Charged as a transactional write of the item it checks.
            let (pk, sk) = key_of(check.key());
            let units = write_units(self.size(&pk, &sk), true);
            self.charge(Space::Table, pk, units, 0);
        }
    }

    /// A cold read: the event's cell of its account and its job or
    /// record, together.
    fn read_cold(&mut self, event: &Event, cell: u32) {
        let mut read = vec![keys::cell_key(event.account_id(), cell)];
        match event {
            Event::Granted { grant_id, .. } => read.push(keys::grant_key(grant_id)),
            Event::Adjusted { adjustment_id, .. } => {
                read.push(keys::adjustment_key(adjustment_id));
            }
            _ => read.extend(event.job_id().map(keys::job_key)),
        }
        self.read_together(read);
    }

    /// Every cell of a split account, read together (`TransactGetItems`).
    fn read_cells(&mut self, account_id: &str, cells: u32) {
        self.read_together((0..cells).map(|k| keys::cell_key(account_id, k)).collect());
    }

    fn read_together(&mut self, read: Vec<Item>) {
        for key in read {
            let (pk, sk) = key_of(&key);
            let units = read_units(self.size(&pk, &sk), true);
            self.charge(Space::Table, pk, 0, units);
        }
    }

    /// Ends a second: each key keeps its busiest.
    fn end_second(&mut self, heat: &mut Heat) {
        for (key, load) in self.second.drain() {
            let peak = heat.peak.entry(key).or_default();
            peak.wcu = peak.wcu.max(load.wcu);
            peak.rcu = peak.rcu.max(load.rcu);
        }
    }
}

/// The account ids, by rank: `acct-000001` is the busiest.
fn account_id(rank: u32) -> String {
    format!("acct-{rank:06}")
}

/// Draws ranks `1..=n` with weight `1/k^s`.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: u32, s: f64) -> Zipf {
        let mut total = 0.0;
        let cumulative = (1..=n)
            .map(|k| {
                total += 1.0 / f64::from(k).powf(s);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    /// The share of draws that fall on `rank`.
    fn weight(&self, rank: u32) -> f64 {
        let at = |k: u32| {
            usize::try_from(k)
                .ok()
                .and_then(|k| k.checked_sub(1))
                .and_then(|i| self.cumulative.get(i))
                .copied()
                .unwrap_or(0.0)
        };
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        (at(rank) - at(rank - 1)) / total
    }

    fn draw(&self, rng: &mut fastrand::Rng) -> u32 {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let at = rng.f64() * total;
        let i = self.cumulative.partition_point(|c| *c < at);
        u32::try_from(i.min(self.cumulative.len() - 1)).unwrap_or(0) + 1
    }
}

/// Every account funded, none marked for audit: a sweep just ran. An
/// account that `cells` splits has all its credits in its home cell.
fn funded(accounts: u32, cells: impl Fn(u32) -> u32) -> (MemoryLedger, Table) {
    let (mut ledger, mut t) = (MemoryLedger::default(), Table::default());
    for rank in 1..=accounts {
        let mut account = Account::new(account_id(rank));
        account.available = 1_000_000_000;
        account.granted = 1_000_000_000;
        account.seq = 1;
        account.cells = cells(rank);
        let mut item = AccountItem::new(&account, 0);
        item.open_kind = None;
        item.open_key = None;
        let item = to_item(&item);
        t.items.insert(key_of(&item), item);
        ledger.accounts.insert(account.account_id.clone(), account);
    }
    (ledger, t)
}

/// The next event of the stream.
fn next_event(
    rng: &mut fastrand::Rng,
    zipf: &Zipf,
    open: &mut VecDeque<(String, String)>,
    n: u64,
) -> Event {
    let r = rng.f64();
    if r < 0.01 {
        let account_id = account_id(zipf.draw(rng));
        return Event::Granted {
            grant_id: format!("g{n}"),
            account_id,
            credits: 1_000,
        };
    }
    if r < 0.011
        && let Some((job_id, account_id)) = open.front().cloned()
    {
        // A redelivery of its request with another estimate: a conflict.
        return Event::Requested {
            job_id,
            account_id,
            credits: 11,
        };
    }
    if rng.bool()
        && let Some((job_id, account_id)) = open.pop_front()
    {
        return if rng.u8(0..10) == 0 {
            Event::Failed {
                job_id,
                account_id,
                reason: None,
            }
        } else {
            Event::Rendered {
                job_id,
                account_id,
                credits: 10,
            }
        };
    }
    let (job_id, account_id) = (format!("j{n}"), account_id(zipf.draw(rng)));
    open.push_back((job_id.clone(), account_id.clone()));
    Event::Requested {
        job_id,
        account_id,
        credits: 10,
    }
}

/// The model: the core's ledger, the table as written, the heat so far.
struct Model {
    ledger: MemoryLedger,
    table: Table,
    heat: Heat,
    per_account: HashMap<String, u32>,
    rate: u64,
    n: u64,
}

impl Model {
    fn new(ledger: MemoryLedger, table: Table, rate: u32) -> Model {
        Model {
            ledger,
            table,
            heat: Heat::default(),
            per_account: HashMap::new(),
            rate: u64::from(rate.max(1)),
            n: 0,
        }
    }

    /// One event as the handler applies it, read cold: the decision's
    /// reads and transactions as the store sends them, a split account's
    /// reads of every cell and transfers between cells included, and its
    /// response's read of every cell.
    fn feed(&mut self, event: &Event) {
        let n = self.n;
        *self
            .per_account
            .entry(event.account_id().to_owned())
            .or_default() += 1;
        let meta = Meta {
            event_id: format!("e{n}"),
            at_ms: 1_800_000_000_000 + i64::try_from(n * 1_000 / self.rate).unwrap_or(0),
        };
        let mut known = self.ledger.known(event);
        let (cells, id) = (known.cells, event.account_id().to_owned());
        let cell = cell_of(event, known.job.as_ref(), cells);
        self.table.read_cold(event, cell);
        // A read of every cell, a transfer, the change: at most three.
        for _ in 0..3 {
            match decide(event, &known, &meta) {
                Ok(Decision::ReadCells) => {
                    self.table.read_cells(&id, cells);
                    known.others = Some(self.ledger.others(&id, cell));
                }
                Ok(Decision::Gather(gather)) => {
                    let tx = gather_transaction("ledger", &gather, &meta, "model");
                    for (_, write) in &tx.items {
                        self.table.transact(write);
                    }
                    self.ledger.transfer(gather);
                    known = self.ledger.known(event);
                }
                Ok(Decision::Apply(change)) => {
                    let tx = transaction("ledger", &change, &meta, &event.business_key(), "model");
                    for (_, write) in &tx.items {
                        self.table.transact(write);
                    }
                    let _ = self.ledger.apply(event, &meta);
                    break;
                }
                Ok(Decision::Conflict(reason)) => {
                    let item = to_item(&ConflictItem::new(event, &reason, &meta));
                    self.table.write(Some(item.clone()), key_of(&item), false);
                    break;
                }
                Ok(Decision::Duplicate) | Err(_) => break,
            }
        }
        if cells > 1 {
            self.table.read_cells(&id, cells);
        }
        self.n += 1;
        if self.n.is_multiple_of(self.rate) {
            self.end_second();
        }
    }

    fn end_second(&mut self) {
        self.table.end_second(&mut self.heat);
        for (account, events) in self.per_account.drain() {
            let peak = self.heat.account_events.entry(account).or_default();
            *peak = (*peak).max(events);
        }
    }
}

/// Runs the stream of `mix` through the model.
pub(crate) fn model(mix: &Mix) -> Heat {
    let mut rng = fastrand::Rng::with_seed(mix.seed);
    let zipf = Zipf::new(mix.accounts, mix.zipf);
    let cells = |rank| {
        let rate = f64::from(mix.rate) * zipf.weight(rank);
        if mix.split { cells_for(rate) } else { 1 }
    };
    let (ledger, table) = funded(mix.accounts, cells);
    let mut m = Model::new(ledger, table, mix.rate);
    m.heat.split = (1..=mix.accounts)
        .filter(|rank| cells(*rank) > 1)
        .map(|rank| (account_id(rank), cells(rank)))
        .collect();
    let mut open = VecDeque::new();
    for n in 0..u64::from(mix.rate) * u64::from(mix.seconds) {
        m.feed(&next_event(&mut rng, &zipf, &mut open, n));
    }
    m.heat
}

/// The hottest keys as lines: `space key WCU/s RCU/s`.
pub(crate) fn hottest_lines(heat: &Heat, n: usize) -> Vec<Vec<String>> {
    heat.hottest(n)
        .into_iter()
        .map(|((space, key), load)| {
            vec![
                format!("{space:?}").to_lowercase(),
                key.clone(),
                format!("{:.0}", load.wcu),
                format!("{:.0}", load.rcu),
            ]
        })
        .collect()
}

/// The index's partition keys by kind (the part of `open_kind` before any
/// `#`): how many keys the stream wrote, and the busiest with its WCU/s.
pub(crate) fn index_kinds(heat: &Heat) -> BTreeMap<String, (usize, String, f64)> {
    let mut kinds: BTreeMap<String, (usize, String, f64)> = BTreeMap::new();
    for ((space, key), load) in &heat.peak {
        if *space == Space::Index {
            let kind = key.split('#').next().unwrap_or(key).to_owned();
            let entry = kinds.entry(kind).or_default();
            entry.0 += 1;
            if (load.wcu, key.as_str()) > (entry.2, entry.1.as_str()) {
                entry.1.clone_from(key);
                entry.2 = load.wcu;
            }
        }
    }
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_account_is_the_busiest_and_the_tail_is_reached() {
        let zipf = Zipf::new(1_000, 1.0);
        let mut rng = fastrand::Rng::with_seed(1);
        let mut counts = vec![0u32; 1_001];
        for _ in 0..100_000 {
            counts[zipf.draw(&mut rng) as usize] += 1;
        }
        // Rank 1 has weight 1 / H(1000) ≈ 13.4 %, rank 2 half of it.
        assert!((12_500..14_500).contains(&counts[1]), "{}", counts[1]);
        assert!((6_000..7_500).contains(&counts[2]), "{}", counts[2]);
        assert!(counts[900..].iter().any(|c| *c > 0));
    }

    #[test]
    fn an_update_sets_and_removes_as_its_expression_says() {
        let update = Update::builder()
            .table_name("t")
            .set_key(Some(keys::job_key("j1")))
            .update_expression("SET #status = :v0, #hold = :v1 REMOVE #open_kind, #open_key")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#hold", "hold")
            .expression_attribute_names("#open_kind", "open_kind")
            .expression_attribute_names("#open_key", "open_key")
            .expression_attribute_values(":v0", AttributeValue::S("DEBITED".into()))
            .expression_attribute_values(":v1", AttributeValue::N("0".into()))
            .build()
            .unwrap();
        let mut item = keys::job_key("j1");
        item.insert("open_kind".into(), AttributeValue::S("HELD".into()));
        item.insert("open_key".into(), AttributeValue::S("1#x".into()));
        item.insert("status".into(), AttributeValue::S("HELD".into()));
        let after = apply_update(item, &update);
        assert_eq!(after["status"], AttributeValue::S("DEBITED".into()));
        assert_eq!(after["hold"], AttributeValue::N("0".into()));
        assert!(!after.contains_key("open_kind") && !after.contains_key("open_key"));
    }

    fn load(heat: &Heat, space: Space, key: &str) -> (f64, f64) {
        let l = heat
            .peak
            .get(&(space, key.to_owned()))
            .copied()
            .unwrap_or_default();
        (l.wcu, l.rcu)
    }

    /// Four events in one second, counted by hand: each item written is
    /// under 1 KB (a transactional write: 2 units, a cold read: 2 units).
    #[test]
    fn each_key_is_charged_what_its_writes_and_reads_cost() {
        let (ledger, table) = funded(2, |_| 1);
        let mut m = Model::new(ledger, table, 4);
        let (a1, a2) = (account_id(1), account_id(2));
        let req = |job: &str, account: &str| Event::Requested {
            job_id: job.into(),
            account_id: account.into(),
            credits: 10,
        };
        m.feed(&req("j1", &a1));
        m.feed(&req("j2", &a2));
        m.feed(&Event::Rendered {
            job_id: "j1".into(),
            account_id: a1.clone(),
            credits: 10,
        });
        m.feed(&Event::Failed {
            job_id: "j2".into(),
            account_id: a2.clone(),
            reason: None,
        });
        let heat = &m.heat;
        // Two events each: the account and an entry put (2 + 2), the
        // account read cold (2).
        assert_eq!(load(heat, Space::Table, "ACCOUNT#acct-000001"), (8.0, 4.0));
        assert_eq!(load(heat, Space::Table, "ACCOUNT#acct-000002"), (8.0, 4.0));
        // The job put, then updated; read cold twice (absent: still a unit).
        assert_eq!(load(heat, Space::Table, "JOB#j1"), (4.0, 4.0));
        // Index: each hold in and out, on its job's shard; each account's
        // mark comes back once, on its account's shard.
        assert_eq!(load(heat, Space::Index, "HELD#06"), (2.0, 0.0));
        assert_eq!(load(heat, Space::Index, "HELD#11"), (2.0, 0.0));
        assert_eq!(load(heat, Space::Index, "AUDIT#06"), (1.0, 0.0));
        assert_eq!(load(heat, Space::Index, "AUDIT#28"), (1.0, 0.0));
        assert_eq!(heat.account_events[&a1], 2);
        let kinds = index_kinds(heat);
        assert_eq!(kinds["HELD"], (2, "HELD#11".to_owned(), 2.0));
        assert_eq!(kinds["AUDIT"], (2, "AUDIT#28".to_owned(), 1.0));
    }

    /// A split account's events, counted by hand: two cells, every credit
    /// in the home cell; two holds and their debits land in cell 1
    /// (FNV-1a of `j2` and `j4`, modulo 2). The first hold finds its cell
    /// empty: a read of both cells and a transfer of half the credits
    /// (each leg a put and an entry: 2 + 2 on each key), then its own
    /// writes; every event reads its cell and job cold (absent: still 2)
    /// and both cells for its response.
    #[test]
    fn a_split_accounts_events_write_their_cell_and_gather_once() {
        let (ledger, table) = funded(1, |_| 2);
        let mut m = Model::new(ledger, table, 4);
        let a = account_id(1);
        for job in ["j2", "j4"] {
            m.feed(&Event::Requested {
                job_id: job.into(),
                account_id: a.clone(),
                credits: 10,
            });
        }
        for job in ["j2", "j4"] {
            m.feed(&Event::Rendered {
                job_id: job.into(),
                account_id: a.clone(),
                credits: 10,
            });
        }
        let heat = &m.heat;
        // Cell 1: the transfer in (4), four events of a put and an entry (16).
        // Read: 4 cold, 4 responses, 1 read of every cell: 9 × 2.
        assert_eq!(load(heat, Space::Table, "CELL#1#acct-000001"), (20.0, 18.0));
        // Home: the transfer out (4); read for the gather and 4 responses.
        assert_eq!(load(heat, Space::Table, "ACCOUNT#acct-000001"), (4.0, 10.0));
        let home = &m.ledger.accounts[&a];
        assert_eq!(
            (home.available, home.transferred),
            (500_000_000, -500_000_000)
        );
    }

    /// The head account of a stream sends past what one key takes: alone
    /// its key passes 1,000 WCU/s; split as [`cells_for`] says, no key of
    /// it does, nor 3,000 RCU/s.
    #[test]
    fn splitting_the_head_account_cools_every_key_it_writes() {
        let mix = |split| Mix {
            rate: 2_000,
            seconds: 2,
            accounts: 50,
            zipf: 1.0,
            seed: 7,
            split,
        };
        let whole = model(&mix(false));
        let (key, wcu) = whole.max_by(Space::Table, |l| l.wcu).unwrap();
        assert_eq!(key, "ACCOUNT#acct-000001");
        assert!(wcu > WCU_PER_KEY, "{wcu}");
        let split = model(&mix(true));
        // Rank 1 of 50: ≈ 440 events/s, 5 cells.
        assert_eq!(split.split.get(&account_id(1)), Some(&5));
        let (key, wcu) = split.max_by(Space::Table, |l| l.wcu).unwrap();
        assert!(wcu <= WCU_PER_KEY * 0.6, "{key}: {wcu}");
        let (key, rcu) = split.max_by(Space::Table, |l| l.rcu).unwrap();
        assert!(rcu <= RCU_PER_KEY, "{key}: {rcu}");
    }

    #[test]
    fn cells_are_planned_at_a_hundred_events_a_second_each() {
        assert_eq!(cells_for(0.0), 1);
        assert_eq!(cells_for(100.0), 1);
        assert_eq!(cells_for(100.5), 2);
        assert_eq!(cells_for(884.0), 9);
        assert_eq!(cells_for(1e9), MAX_CELLS);
    }

    #[test]
    fn a_zipf_stream_puts_its_head_account_on_top() {
        let heat = model(&Mix {
            rate: 2_000,
            seconds: 2,
            accounts: 50,
            zipf: 1.0,
            seed: 7,
            split: false,
        });
        // Rank 1 of 50 weighs 1 / H(50) ≈ 22 %: ≈ 440 events/s.
        let events = heat.account_events[&account_id(1)];
        assert!((380..500).contains(&events), "{events}");
        let (key, _) = heat.max_by(Space::Table, |l| l.wcu).unwrap();
        assert_eq!(key, "ACCOUNT#acct-000001");
    }
}
