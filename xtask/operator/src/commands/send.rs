//! `cargo xtask send --stage S --detail-type T --detail JSON [--source SRC]`:
//! puts one event on the stage's bus as a producer would (a test event, as
//! `sam remote invoke` sends one) and prints its id. Against the local stack
//! (`cargo xtask up`, found by its `/_local/plane` control), it then waits
//! for what became of the event (the rules it matched, the handler's
//! attempts, where it ended) and prints that; against AWS, the logs tell
//! (`cargo xtask logs --filter <id>`).
//!
//! The `source` is the stage's producer of that detail-type (its stage file's
//! `[[producers]]`) unless `--source` says otherwise: the bus's policy
//! refuses any other principal's or source's ledger event, and the ledger
//! rule matches the source too.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::aws::Target;
use crate::base::ui::{Act, Given};
use crate::base::when::parse_duration;
use crate::commands::{Console, run_command};
use crate::models::events::{producer_source, put_event_id};

/// `cargo xtask send`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask send --stage dev --detail-type credits.granted \\
      --detail '{\"grant_id\":\"g1\",\"account_id\":\"a1\",\"credits\":100}'
  cargo xtask send --stage dev --endpoint-url http://127.0.0.1:5055 --detail-type video.failed \\
      --detail '{\"job_id\":\"j1\",\"account_id\":\"a1\"}'")]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    /// The event's detail-type (e.g. `video.requested`).
    #[arg(long)]
    pub detail_type: String,
    /// The event's detail: a JSON object.
    #[arg(long, value_name = "JSON")]
    pub detail: String,
    /// The event's source (default: the stage's producer of that detail-type).
    #[arg(long)]
    pub source: Option<String>,
    /// On the local stack, how long to wait for what became of the event.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub wait: Duration,
    /// Do not ask (staging and prod ask: a test event is a real one there).
    #[arg(long)]
    pub yes: bool,
}

/// Runs `cargo xtask send`.
///
/// # Errors
/// Bad input, the stage not deployed, or the bus refused the event.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    run_command(async {
        let detail: Value = serde_json::from_str(&args.detail)
            .with_context(|| format!("--detail is not JSON: {}", args.detail))?;
        if !detail.is_object() {
            bail!("--detail must be a JSON object, not {detail}");
        }
        let console = Console::open(&args.target).await?;
        let stage = &console.session.stage;
        let source =
            producer_source(stage, &args.detail_type, args.source.as_deref()).map_err(|why| {
                anyhow::anyhow!(
                    "{why}: pass --source, knowing the bus refuses a ledger event from anyone \
                     its policy does not name"
                )
            })?;
        console.session.before_writing()?;
        let given = Given {
            yes: args.yes,
            interactive: crate::base::ui::interactive(),
            confirm_stack: None,
        };
        Act::Send
            .confirmation(
                console.stage(),
                given,
                &format!(
                    "Put a {} event on {}?",
                    args.detail_type, console.outputs.bus_name
                ),
                "putting the event",
            )
            .resolve("not sent")?;
        let events = &console.clients.events;
        let id = put_event_id(
            events,
            &console.outputs.bus_name,
            &source,
            &args.detail_type,
            &detail,
            None,
        )
        .await
        .map_err(anyhow::Error::msg)?;
        println!(
            "event {id} put on {} ({} from {source})",
            console.outputs.bus_name, args.detail_type
        );
        match args.target.aws.endpoint_url.as_deref() {
            Some(endpoint) if is_local_plane(endpoint).await => {
                for step in follow(endpoint, &id, args.wait).await {
                    println!("  {step}");
                }
            }
            _ => println!(
                "what became of it: cargo xtask logs --stage {} --filter {id}",
                console.stage()
            ),
        }
        Ok(false)
    })
}

/// Whether `endpoint` is the local stack's (it answers `/_local/plane`).
async fn is_local_plane(endpoint: &str) -> bool {
    get_json(&format!("{}/_local/plane", endpoint.trim_end_matches('/')))
        .await
        .is_some_and(|v| v.get("stage").is_some())
}

/// The event's story on the local stack: its steps once they stop changing
/// for two seconds (or when `wait` ran out).
async fn follow(endpoint: &str, id: &str, wait: Duration) -> Vec<String> {
    let url = format!("{}/_local/trace/event/{id}", endpoint.trim_end_matches('/'));
    let started = Instant::now();
    let (mut last, mut since) = (Vec::new(), Instant::now());
    while started.elapsed() < wait {
        let steps: Vec<String> = get_json(&url)
            .await
            .and_then(|v| v["steps"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect();
        if steps != last {
            (last, since) = (steps, Instant::now());
        } else if !last.is_empty() && since.elapsed() >= Duration::from_secs(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    if last.is_empty() {
        last.push("no rule matched it yet".to_owned());
    }
    last
}

/// `GET url` as JSON, or nothing (not a local stack, not reachable).
async fn get_json(url: &str) -> Option<Value> {
    use http_body_util::{BodyExt, Empty};
    use hyper::body::Bytes;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let uri: hyper::Uri = url.parse().ok()?;
    let response = tokio::time::timeout(Duration::from_secs(5), client.get(uri))
        .await
        .ok()?
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    let body = response.into_body().collect().await.ok()?.to_bytes();
    serde_json::from_slice(&body).ok()
}
