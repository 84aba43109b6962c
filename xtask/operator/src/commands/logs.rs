//! `cargo xtask logs --stage S [--function handler|sweep] [--since 1h]
//! [--follow] [--filter TEXT] [--account ID] [--job ID]`: the functions' JSON
//! log lines (log groups from the stack's outputs), readable.
//!
//! The filtering is CloudWatch Logs' (`FilterLogEvents` with a filter
//! pattern, [`filter_pattern`]): `--filter` is a quoted text term,
//! `--account`/`--job` a JSON pattern (`{ $.account_id = "x" }`). Lines are
//! checked again here ([`matches`]) so that the output is exact whatever the
//! service did with the pattern (a `*` in an id is a wildcard there; a
//! local emulator ignores JSON patterns), and `--filter` combined with
//! `--account`/`--job` (one pattern cannot hold both) is applied here.
//! `--follow` polls with a cursor ([`Cursor`]).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use reconciler_core::key::BusinessKey;
use serde_json::Value;

use crate::aws::Target;
use crate::base::when::{format_time, parse_time};
use crate::commands::{Console, run_command};
use crate::models::logs::{
    Function, LogFilter, LogLine, fetch, filter_pattern, log_groups, matches,
};

/// A line, readable (pure): time, function, level, outcome, detail-type,
/// account, job, balances, message; `None` for metric documents (EMF).
pub fn render(line: &LogLine) -> Option<String> {
    let time = format_time(line.timestamp_ms);
    let Some(j) = line.json() else {
        let text = line.message.trim_end();
        return Some(format!("{time} {:<7} {text}", line.function));
    };
    if j.get("_aws").is_some() {
        return None;
    }
    let s = |key: &str| j.get(key).and_then(Value::as_str).map(str::to_owned);
    if let Some(kind) = s("type").filter(|t| t.starts_with("platform.")) {
        // Lambda's own lines (JSON log format): start, runtime done, report.
        let request = j["record"]["requestId"].as_str().unwrap_or("-");
        let extra = match kind.as_str() {
            "platform.report" => format!(
                " duration {} ms, memory {} MB",
                j["record"]["metrics"]["durationMs"], j["record"]["metrics"]["maxMemoryUsedMB"]
            ),
            "platform.runtimeDone" => format!(" status {}", j["record"]["status"]),
            _ => String::new(),
        };
        return Some(format!(
            "{time} {:<7} {:<5} {kind} {request}{extra}",
            line.function, ""
        ));
    }
    let level = s("level").unwrap_or_default();
    let message = s("message").unwrap_or_default();
    let mut parts: Vec<String> = Vec::new();
    if let Some(outcome) = s("outcome") {
        parts.push(format!("{outcome:<9}"));
    }
    if let Some(dt) = s("detail_type") {
        parts.push(dt);
    }
    if let Some(a) = s("account_id") {
        parts.push(format!("account {a}"));
    }
    if let Some(job) = s("job_id") {
        parts.push(format!("job {job}"));
    }
    if let Some(key) = s("business_key").filter(|k| {
        BusinessKey::parse_transition(k)
            .ok()
            .is_none_or(|key| key.job_id().is_none())
    }) {
        // A grant's or an adjustment's own id (a job's is the job above).
        parts.push(key);
    }
    if let (Some(a), Some(h)) = (j.get("available"), j.get("held")) {
        parts.push(format!("available {a} held {h}"));
    }
    if message == "sweep report" {
        parts.push(format!(
            "stragglers {} expired {} conflicts {} drifted accounts {}{}",
            j["stragglers"],
            j["expired"],
            j["conflicts"],
            j["drifted_accounts"],
            if j["dry_run"] == Value::Bool(true) {
                " (dry run)"
            } else {
                ""
            }
        ));
    }
    if let Some(error_type) = s("error_type") {
        parts.push(format!("{error_type}: {}", s("error").unwrap_or_default()));
    }
    if let Some(reason) = s("reason") {
        parts.push(format!("reason: {reason}"));
    }
    parts.push(message);
    if let Some(replay) = s("replay_name") {
        parts.push(format!("[replay {replay}]"));
    }
    if let Some(id) = s("event_id") {
        parts.push(format!("[event {id}]"));
    }
    Some(format!(
        "{time} {:<7} {:<5} {}",
        line.function,
        level,
        parts.join("  ")
    ))
}

/// Where `--follow` has read to: the last timestamp, and the events seen at
/// it (CloudWatch's `startTime` is inclusive).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Ask from here next time.
    pub since_ms: i64,
    seen_at_since: HashSet<String>,
}

impl Cursor {
    /// A cursor starting at `since_ms`.
    pub fn new(since_ms: i64) -> Cursor {
        Cursor {
            since_ms,
            seen_at_since: HashSet::new(),
        }
    }

    /// The lines of `batch` not shown yet, in time order; moves the cursor
    /// past them (pure).
    pub fn take_new(&mut self, mut batch: Vec<LogLine>) -> Vec<LogLine> {
        batch.sort_by(|a, b| (a.timestamp_ms, &a.event_id).cmp(&(b.timestamp_ms, &b.event_id)));
        let mut new = Vec::new();
        for line in batch {
            if line.timestamp_ms < self.since_ms
                || (line.timestamp_ms == self.since_ms
                    && self.seen_at_since.contains(&line.event_id))
            {
                continue;
            }
            if line.timestamp_ms > self.since_ms {
                self.since_ms = line.timestamp_ms;
                self.seen_at_since.clear();
            }
            self.seen_at_since.insert(line.event_id.clone());
            new.push(line);
        }
        new
    }
}

/// The functions whose lines reached `limit` (pure): the fetch stopped
/// there, and later lines of the window were not read.
pub fn limit_reached(lines: &[LogLine], limit: usize) -> Vec<&'static str> {
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for line in lines {
        *counts.entry(line.function).or_default() += 1;
    }
    counts
        .into_iter()
        .filter(|(_, n)| *n >= limit)
        .map(|(f, _)| f)
        .collect()
}

/// `cargo xtask logs`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  cargo xtask logs --stage prod --since 30m\n  \
                        cargo xtask logs --stage prod --account acme --since 2d\n  \
                        cargo xtask logs --stage prod --function sweep --filter \"sweep report\"\n  \
                        cargo xtask logs --stage prod --follow"
)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    /// Only this function (default: both).
    #[arg(long, value_enum)]
    pub function: Option<Function>,
    /// From when: 1h (ago), 2d, 2026-11-29, 2026-11-29T10:00:00Z.
    #[arg(long, default_value = "1h", value_name = "TIME")]
    pub since: String,
    /// Until when (default: now).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Keep polling for new lines (Ctrl-C to stop).
    #[arg(long)]
    pub follow: bool,
    /// Lines containing this text (e.g. a replay name, an error type).
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Lines about this account.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// Lines about this job.
    #[arg(long, value_name = "ID")]
    pub job: Option<String>,
    /// Print the lines as written (JSON), not rendered.
    #[arg(long)]
    pub raw: bool,
    /// At most this many lines a log group (without --follow).
    #[arg(long, default_value_t = 10_000)]
    pub limit: usize,
}

/// Prints the lines the filter keeps; how many it printed.
fn print_lines(lines: &[LogLine], filter: &LogFilter, raw: bool) -> usize {
    let mut printed = 0;
    for line in lines.iter().filter(|l| matches(l, filter)) {
        if raw {
            println!("{}", line.message.trim_end());
        } else if let Some(text) = render(line) {
            println!("{text}");
        } else {
            continue;
        }
        printed += 1;
    }
    printed
}

/// The window of `--since` and `--until` (pure): `since` before `until`
/// (default: now), and not in the future.
///
/// # Errors
/// An inverted or empty window, or one that starts after now (one line).
pub fn window(since: i64, until: Option<i64>, now: i64) -> Result<(i64, i64), String> {
    let end = until.unwrap_or(now);
    if since >= end {
        return Err(match until {
            Some(until) => format!(
                "--since {} is not before --until {}: nothing to show",
                format_time(since),
                format_time(until)
            ),
            None => format!(
                "--since {} is in the future: nothing to show yet (--follow waits for lines)",
                format_time(since)
            ),
        });
    }
    Ok((since, end))
}

/// What a fetch showed, and of which window (pure): `0 lines from … to …`.
pub fn shown(lines: usize, since: i64, until: i64) -> String {
    format!(
        "{lines} line{} from {} to {}",
        if lines == 1 { "" } else { "s" },
        format_time(since),
        format_time(until)
    )
}

/// Runs `cargo xtask logs`.
///
/// # Errors
/// A bad time, the stage is not deployed, or CloudWatch Logs failed.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    run_command(async {
        let now = crate::base::when::now_ms();
        let since = parse_time(&args.since, now).map_err(anyhow::Error::msg)?;
        let until = args
            .until
            .as_deref()
            .map(|u| parse_time(u, now))
            .transpose()
            .map_err(anyhow::Error::msg)?;
        // `--follow` without `--until` waits for lines: a window starting
        // now (or later) is what it is for.
        let end = match (args.follow, until) {
            (true, None) => now.max(since),
            _ => window(since, until, now).map_err(anyhow::Error::msg)?.1,
        };
        let console = Console::open(&args.target).await?;
        eprintln!("{}", console.session.who_and_where());
        let groups = log_groups(&console.outputs, args.function);
        let filter = LogFilter {
            text: args.filter,
            account: args.account,
            job: args.job,
        };
        let pattern = filter_pattern(&filter);
        let logs = &console.clients.logs;
        let mut cursor = Cursor::new(since);
        let first = fetch(logs, &groups, since, until, pattern.as_deref(), args.limit).await?;
        let truncated = limit_reached(&first, args.limit);
        let printed = print_lines(&cursor.take_new(first), &filter, args.raw);
        eprintln!("{}", shown(printed, since, end));
        for function in truncated {
            eprintln!(
                "warning: reached --limit {} lines of the {function}'s log: later lines of \
                 the window may not be shown; narrow --since/--until, filter, or raise --limit",
                args.limit
            );
        }
        if args.follow {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let batch = fetch(
                    logs,
                    &groups,
                    cursor.since_ms,
                    None,
                    pattern.as_deref(),
                    args.limit,
                )
                .await?;
                print_lines(&cursor.take_new(batch), &filter, args.raw);
            }
        }
        Ok(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::logs::tests::line;
    use serde_json::json;

    #[test]
    fn an_inverted_window_is_refused_and_an_empty_one_said() {
        let (t1, t2) = (1_795_946_400_000, 1_795_950_000_000);
        assert_eq!(window(t1, Some(t2), t2), Ok((t1, t2)));
        assert_eq!(window(t1, None, t2), Ok((t1, t2)));
        assert_eq!(
            window(t2, Some(t1), t2),
            Err(
                "--since 2026-11-29T11:00:00Z is not before --until 2026-11-29T10:00:00Z: \
                 nothing to show"
                    .into()
            )
        );
        assert!(window(t2, None, t1).unwrap_err().contains("in the future"));
        assert_eq!(
            shown(0, t1, t2),
            "0 lines from 2026-11-29T10:00:00Z to 2026-11-29T11:00:00Z"
        );
        assert!(shown(1, t1, t2).starts_with("1 line from"));
    }

    #[test]
    fn a_fetch_that_reached_its_limit_is_said() {
        let lines: Vec<LogLine> = (0..3).map(|i| line(i, &i.to_string(), json!({}))).collect();
        assert_eq!(limit_reached(&lines, 3), ["handler"]);
        assert!(limit_reached(&lines, 4).is_empty());
    }

    #[test]
    fn a_grant_line_shows_its_grant() {
        let text = render(&line(
            0,
            "1",
            json!({"level": "INFO", "message": "event applied", "outcome": "granted",
                   "detail_type": "credits.granted", "account_id": "acme",
                   "business_key": "grant:g-7", "available": 100, "held": 0}),
        ))
        .unwrap();
        assert!(
            text.contains("account acme  grant:g-7  available 100 held 0"),
            "{text}"
        );
        let job = render(&line(
            0,
            "2",
            json!({"level": "INFO", "message": "event applied", "outcome": "held",
                   "account_id": "acme", "job_id": "j1", "business_key": "job:j1:video.requested"}),
        ))
        .unwrap();
        assert!(!job.contains("job:j1"), "the job is already named: {job}");
    }

    #[test]
    fn handler_lines_render_with_their_business_fields() {
        let applied = line(
            1_795_946_400_000,
            "e1",
            json!({"timestamp": "…", "level": "INFO", "message": "event applied",
                   "event_id": "evt-1", "detail_type": "video.rendered", "account_id": "acme",
                   "job_id": "j1", "outcome": "debited", "available": 75, "held": 0,
                   "replay_name": "cc-agent-reconciler-dev-x"}),
        );
        let text = render(&applied).unwrap();
        assert!(
            text.starts_with("2026-11-29T10:00:00Z handler INFO  debited"),
            "{text}"
        );
        for part in [
            "video.rendered",
            "account acme",
            "job j1",
            "available 75 held 0",
            "event applied",
            "[replay cc-agent-reconciler-dev-x]",
            "[event evt-1]",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
        let refused = line(
            1,
            "e2",
            json!({"level": "ERROR", "message": "event refused; nothing written",
            "error_type": "InvalidEvent", "error": "invalid event: field `detail.credits` is missing"}),
        );
        assert!(
            render(&refused)
                .unwrap()
                .contains("InvalidEvent: invalid event: field `detail.credits`")
        );
        let report = line(
            1,
            "e3",
            json!({"level": "INFO", "message": "sweep report", "stragglers": 2,
            "expired": 2, "conflicts": 0, "drifted_accounts": 0, "dry_run": true}),
        );
        assert!(
            render(&report)
                .unwrap()
                .contains("stragglers 2 expired 2 conflicts 0 drifted accounts 0 (dry run)")
        );
        let emf = line(
            1,
            "e4",
            json!({"_aws": {"CloudWatchMetrics": []}, "Events": 1}),
        );
        assert_eq!(render(&emf), None, "metric documents are not log lines");
        let platform = line(
            1,
            "e5",
            json!({"time": "…", "type": "platform.report",
            "record": {"requestId": "r-1", "metrics": {"durationMs": 12.5, "maxMemoryUsedMB": 30}}}),
        );
        assert!(
            render(&platform)
                .unwrap()
                .contains("platform.report r-1 duration 12.5 ms")
        );
        let plain = LogLine {
            message: "START RequestId: r-1\n".into(),
            ..line(1, "e6", json!({}))
        };
        assert!(
            render(&plain)
                .unwrap()
                .ends_with("handler START RequestId: r-1")
        );
    }

    #[test]
    fn the_cursor_shows_each_line_once_in_order() {
        let mut cursor = Cursor::new(100);
        let first = cursor.take_new(vec![
            line(120, "b", json!({})),
            line(90, "old", json!({})),
            line(110, "a", json!({})),
            line(120, "c", json!({})),
        ]);
        let ids: Vec<&str> = first.iter().map(|l| l.event_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(cursor.since_ms, 120);
        // The next poll asks from 120 (inclusive): b and c again, plus new ones.
        let second = cursor.take_new(vec![
            line(120, "b", json!({})),
            line(120, "c", json!({})),
            line(120, "d", json!({})),
            line(130, "e", json!({})),
        ]);
        let ids: Vec<&str> = second.iter().map(|l| l.event_id.as_str()).collect();
        assert_eq!(ids, ["d", "e"]);
        assert!(cursor.take_new(vec![line(130, "e", json!({}))]).is_empty());
    }
}
