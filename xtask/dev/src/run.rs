//! `cargo xtask run` (the main job, against a local emulator) and
//! `cargo xtask moto` (an emulator with the ledger table, for `cargo lambda watch`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use reconciler::handler::Handler;
use reconciler::store::Ledger;
use reconciler_core::audit::{self as money, Balances};

use testkit::emulator::{self, moto::Moto};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  cargo xtask moto                 # then, in another terminal: cargo lambda watch
  cargo xtask moto --port 5001")]
pub(crate) struct MotoArgs {
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 5000)]
    port: u16,
    /// Also create the ledger table with this name.
    #[arg(long, default_value_t = local_table())]
    table: String,
}

/// The ledger table of local runs: the stack's name with the suffix
/// `_local` (`cc-agent-reconciler-ledger_local`).
fn local_table() -> String {
    infra::names::LEDGER_TABLE
        .pattern()
        .replace("${TableSuffix}", "_local")
}

/// Runs a moto server until interrupted, with the ledger table created.
pub(crate) fn moto(args: MotoArgs) -> anyhow::Result<()> {
    let tools = operator::base::tools::ensure()?;
    let mut moto = Moto::start_on(&tools, args.port)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let client = aws_sdk_dynamodb::Client::new(&emulator::sdk_config(&moto.endpoint).await);
        reconciler::store::schema::create_table(&client, &args.table)
            .await
            .map_err(anyhow::Error::msg)
    })?;
    println!(
        "moto server: {}  (ledger table {})",
        moto.endpoint, args.table
    );
    println!("press Ctrl-C to stop");
    moto.wait()?;
    Ok(())
}

#[derive(clap::Args)]
#[command(after_help = "Examples:
  cargo xtask run
  cargo xtask run --events my-events.jsonl
  cargo xtask run --endpoint-url http://127.0.0.1:5000   # a moto you started")]
pub(crate) struct RunArgs {
    /// Event stream: one EventBridge event (JSON) per line; `#` lines are comments.
    #[arg(long, default_value = "examples/events.jsonl")]
    events: PathBuf,
    /// Use this emulator (or AWS endpoint) instead of starting a moto server.
    #[arg(long)]
    endpoint_url: Option<String>,
}

/// The main job, locally.
pub(crate) fn run(args: RunArgs) -> anyhow::Result<()> {
    let path = if args.events.is_absolute() {
        args.events
    } else {
        operator::root().join(args.events)
    };
    let stream = std::fs::read_to_string(&path)
        .with_context(|| format!("read the event stream {}", path.display()))?;
    let _moto;
    let endpoint = match args.endpoint_url {
        Some(e) => e,
        None => {
            let tools = operator::base::tools::ensure()?;
            let moto = Moto::start(&tools)?;
            let e = moto.endpoint.clone();
            _moto = moto;
            e
        }
    };
    println!("emulator: {endpoint}");
    tokio::runtime::Runtime::new()?.block_on(feed(&endpoint, &stream))
}

async fn feed(endpoint: &str, stream: &str) -> anyhow::Result<()> {
    let client = aws_sdk_dynamodb::Client::new(&emulator::sdk_config(endpoint).await);
    let table = format!("{}-{:06x}", local_table(), std::process::id());
    reconciler::store::schema::create_table(&client, &table)
        .await
        .map_err(anyhow::Error::msg)?;
    println!("ledger table: {table}\n");
    let handler = Handler::new(Ledger::new(client.clone(), table.clone()));
    let mut balances: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut outcomes: BTreeMap<String, u32> = BTreeMap::new();
    for (n, line) in stream.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let label = describe(line);
        match handler.handle(line.as_bytes()).await {
            Ok(r) => {
                println!(
                    "{:>3}  {label:<46} -> {:<9} {} available {:>5}, held {:>4}",
                    n + 1,
                    r.outcome,
                    r.account.account_id,
                    r.account.available,
                    r.account.held
                );
                *outcomes.entry(r.outcome.to_string()).or_default() += 1;
                balances.insert(r.account.account_id, (r.account.available, r.account.held));
            }
            Err(e) => {
                println!("{:>3}  {label:<46} -> {}: {e}", n + 1, e.error_type());
                *outcomes.entry(e.error_type().to_string()).or_default() += 1;
            }
        }
    }
    println!("\noutcomes: {outcomes:?}");
    let mut drifted = Vec::new();
    let mut rows = Vec::new();
    for (account, (available, held)) in &balances {
        let problems = audit(handler.ledger(), account).await?;
        rows.push(vec![
            account.clone(),
            available.to_string(),
            held.to_string(),
            problems.len().to_string(),
        ]);
        drifted.extend(problems.into_iter().map(|p| format!("{account}: {p}")));
    }
    println!();
    print!(
        "{}",
        operator::base::ui::table(&["ACCOUNT", "AVAILABLE", "HELD", "LEDGER DRIFT"], &rows)
    );
    if !drifted.is_empty() {
        anyhow::bail!("ledger drift:\n  {}", drifted.join("\n  "));
    }
    Ok(())
}

/// "credits.granted g1 a1 100": a short label for an event line.
fn describe(line: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return "(unparseable)".into();
    };
    let d = &v["detail"];
    let key = d["grant_id"]
        .as_str()
        .or(d["job_id"].as_str())
        .unwrap_or("?");
    let credits = d["credits"].to_string();
    format!(
        "{} {key} {} {}",
        v["detail-type"].as_str().unwrap_or("?"),
        d["account_id"].as_str().unwrap_or("?"),
        if credits == "null" { "" } else { &credits }
    )
}

/// The core's audit of an account as stored (every entry, and the jobs whose
/// holds they took or released): its problems, none for an exact ledger.
async fn audit(ledger: &Ledger, account_id: &str) -> anyhow::Result<Vec<String>> {
    let Some(account) = ledger.account(account_id, 0).await? else {
        // Only rejections and tombstones: no money moved, no account item.
        return Ok(Vec::new());
    };
    let entries = ledger
        .entries_between(account_id, 0, 1, account.seq, None)
        .await
        .context("query the ledger entries")?;
    let jobs = ledger.jobs(&money::jobs_holding(&entries)).await?;
    let mut problems = money::audit(&account, Balances::default(), &entries)
        .map(|d| d.problems)
        .unwrap_or_default();
    let holds = money::audit_holds(&account, &entries, &jobs, &[]);
    problems.extend(holds.problems);
    problems.extend(holds.doubts.iter().map(ToString::to_string));
    Ok(problems)
}
