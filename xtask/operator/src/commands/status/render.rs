//! The status screen (pure): `color` paints states when on a terminal.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::StateValue;
use infra::StageConfig;

use super::report::{RETENTION, SWEEP_LOOKBACK, StatusReport, age_tone};
use crate::base::build::FUNCTIONS;
use crate::base::ui::{Tone, clip, paint, table};
use crate::base::when::{age, format_age, format_time};
use crate::cfn;
use crate::models::alarms::AlarmView;
use crate::models::code::{CodeVersion, LocalBuild};
use crate::models::queues::QueueView;
use crate::models::releases;
use crate::models::rules::RuleView;
use crate::models::sweep_report::LastSweep;

/// A line's label, padded.
fn label(name: &str) -> String {
    format!("{name:<11}")
}

fn queue_line(q: &Result<QueueView, String>, now_ms: i64, color: bool, deadline: bool) -> String {
    match q {
        Err(e) => paint(&format!("unknown: {e}"), Tone::Warning, color),
        Ok(q) if q.depth() == 0 => paint(&format!("{}: empty", q.name), Tone::Good, color),
        Ok(q) => {
            let mut line = format!(
                "{}: {} message(s) ({} visible, {} in flight)",
                q.name,
                q.depth(),
                q.visible,
                q.in_flight
            );
            let mut tone = Tone::Warning;
            if let Some(sent) = q.oldest_sent_ms {
                let oldest = age(sent, now_ms);
                let left = RETENTION.saturating_sub(oldest);
                line.push_str(&format!(", oldest {}", format_age(oldest)));
                if q.read > 0 {
                    line.push_str(&format!(" (of {} read)", q.read));
                }
                if deadline {
                    line.push_str(&format!("; SQS deletes it in {}", format_age(left)));
                    match age_tone(oldest) {
                        Some(Tone::Danger) => {
                            line.push_str(" — CRITICAL: act now");
                            tone = Tone::Danger;
                        }
                        Some(_) => line.push_str(" — WARNING: act before it is lost"),
                        None => {}
                    }
                }
            }
            paint(&line, tone, color)
        }
    }
}

/// The screen (pure): `color` paints states when on a terminal.
pub fn render(r: &StatusReport, config: &StageConfig, color: bool) -> String {
    let mut out = format!("{}\n\n", r.who_and_where);
    out.push_str(&stack_line(r, color));
    match &r.code {
        Err(e) => out.push_str(&format!("{}unknown: {e}\n", label("Code"))),
        Ok(code) => out.push_str(&code_lines(code)),
    }
    match &r.alarms {
        Err(e) => out.push_str(&format!("{}unknown: {e}\n", label("Alarms"))),
        Ok(alarms) => out.push_str(&alarm_table(alarms, color)),
    }
    match &r.rules {
        Err(e) => out.push_str(&format!("{}unknown: {e}\n", label("Rules"))),
        Ok(rules) => out.push_str(&rule_table(rules, color)),
    }
    out.push_str(&format!(
        "{}{}\n",
        label("DLQ"),
        queue_line(&r.dead_letters, r.now_ms, color, true)
    ));
    out.push_str(&format!(
        "{}{}\n",
        label("Unrouted"),
        queue_line(&r.unrouted, r.now_ms, color, true)
    ));
    let sweep = match &r.last_sweep {
        Err(e) => format!("unknown: {e}"),
        Ok(None) => format!("no sweep report in the last {}", format_age(SWEEP_LOOKBACK)),
        Ok(Some(last)) => sweep_line(last, r.now_ms),
    };
    out.push_str(&format!("{}{sweep}\n", label("Last sweep")));
    out.push_str(&format!(
        "{}{}\n",
        label("Stragglers"),
        match &r.stragglers {
            Err(e) => format!("unknown: {e}"),
            Ok(n) => format!(
                "{n} HELD job(s) older than the hold timeout ({}) now",
                format_age(r.hold_timeout)
            ),
        }
    ));
    if let Some(url) = &r.dashboard_url {
        out.push_str(&format!("{}{url}\n", label("Dashboard")));
    }
    out.push_str(&verdict(&r.needs_a_person(config), color));
    out
}

/// `Stack      <name> <status>, last update …`.
fn stack_line(r: &StatusReport, color: bool) -> String {
    let status = &r.stack.status;
    let tone = if cfn::status::failed(status) {
        Tone::Danger
    } else if cfn::status::complete(status) {
        Tone::Good
    } else {
        Tone::Warning
    };
    format!(
        "{}{} {}{}{}\n",
        label("Stack"),
        r.stack.name,
        paint(status.as_str(), tone, color),
        r.stack
            .updated_ms
            .or(r.stack.created_ms)
            .map(|t| format!(", last update {}", format_time(t)))
            .unwrap_or_default(),
        r.stack
            .reason
            .as_deref()
            .map(|x| format!(" ({})", clip(x, 200)))
            .unwrap_or_default()
    )
}

/// One line a function, then the release its keys make.
fn code_lines(code: &[CodeVersion]) -> String {
    let mut out = String::new();
    for (i, c) in code.iter().enumerate() {
        out.push_str(&format!(
            "{}{:<8} {}  CodeSha256 {}  modified {}  {}\n",
            label(if i == 0 { "Code" } else { "" }),
            c.function,
            c.deployed_key
                .as_deref()
                .map(|k| clip(k, 30))
                .unwrap_or_else(|| "unknown".into()),
            c.code_sha256
                .as_deref()
                .map(|s| clip(s, 13))
                .unwrap_or_else(|| "unknown".into()),
            c.last_modified
                .as_deref()
                .map(|m| m.get(..19).unwrap_or(m))
                .unwrap_or("unknown"),
            against_local_and_stack(c),
        ));
    }
    // The release these keys make (`cargo xtask releases` lists them).
    let keys: BTreeMap<String, String> = code
        .iter()
        .filter_map(|c| {
            let f = FUNCTIONS.iter().find(|f| f.name == c.function)?;
            Some((f.code_key_parameter.to_owned(), c.deployed_key.clone()?))
        })
        .collect();
    if !keys.is_empty() && keys.len() == code.len() {
        out.push_str(&format!(
            "{}{} (cargo xtask releases)\n",
            label("Release"),
            releases::version_of(&keys)
        ));
    }
    out
}

/// A function's code against the local build and the stack's zip.
fn against_local_and_stack(c: &CodeVersion) -> String {
    if let Some(e) = &c.configuration_error {
        return format!("CONFIGURATION UNREADABLE: {}", clip(e, 160));
    }
    let local = match &c.local {
        LocalBuild::Missing => "no local build".to_owned(),
        LocalBuild::Same => "same as the local build".to_owned(),
        LocalBuild::Differs(h) => format!("differs from the local build ({})", clip(h, 13)),
        LocalBuild::Unknown(why) => format!("local build unknown ({why})"),
    };
    let stale = if c.local_stale {
        " (its sources changed since it was built)"
    } else {
        ""
    };
    let hot = if c.runs_other_code() {
        "  RUNS OTHER CODE THAN THE STACK NAMES (a hotswap?)".to_owned()
    } else if let Some(why) = &c.code_check {
        format!("  (not compared with the stack's code: {})", clip(why, 120))
    } else {
        String::new()
    };
    format!("{local}{stale}{hot}")
}

/// The alarms' table, each state in its tone.
fn alarm_table(alarms: &[AlarmView], color: bool) -> String {
    let rows: Vec<Vec<String>> = alarms
        .iter()
        .map(|a| {
            let (state, tone) = match &a.state {
                Some(ok @ StateValue::Ok) => (ok.as_str(), Tone::Good),
                Some(alarm @ StateValue::Alarm) => (alarm.as_str(), Tone::Danger),
                Some(other) => (other.as_str(), Tone::Warning),
                None => ("MISSING", Tone::Danger),
            };
            vec![
                paint(state, tone, color),
                a.name.clone(),
                a.since_ms.map(format_time).unwrap_or_default(),
                clip(a.reason.as_deref().unwrap_or(""), 80),
            ]
        })
        .collect();
    let mut out = "Alarms\n".to_owned();
    for line in table(&["STATE", "ALARM", "SINCE", "REASON"], &rows).lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

/// The rules' table: state (in its tone) and targets (the last part of
/// each ARN: a function's or a queue's name).
fn rule_table(rules: &[RuleView], color: bool) -> String {
    let rows: Vec<Vec<String>> = rules
        .iter()
        .map(|r| {
            let (state, tone) = match r.state.as_deref() {
                None => ("MISSING", Tone::Danger),
                Some(_) if r.enabled() => ("ENABLED", Tone::Good),
                Some(other) if r.role == "ledger" || r.role == "unrouted" => (other, Tone::Danger),
                Some(other) => (other, Tone::Warning),
            };
            let targets: Vec<&str> = r
                .targets
                .iter()
                .map(|arn| arn.rsplit([':', '/']).next().unwrap_or(arn))
                .collect();
            vec![
                paint(state, tone, color),
                r.role.clone(),
                r.name.clone(),
                if targets.is_empty() {
                    "-".to_owned()
                } else {
                    targets.join(", ")
                },
            ]
        })
        .collect();
    let mut out = "Rules\n".to_owned();
    for line in table(&["STATE", "FOR", "RULE", "TARGET"], &rows).lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

/// The last sweep's time and figures.
fn sweep_line(last: &LastSweep, now_ms: i64) -> String {
    let s = &last.summary;
    format!(
        "{} ({} ago{}): stragglers {}, expired {}, conflicts {}, drift {}, failed {}{}",
        format_time(last.at_ms),
        format_age(age(last.at_ms, now_ms)),
        if s.dry_run { ", dry run" } else { "" },
        s.stragglers,
        s.expired,
        s.conflicts,
        if s.drift_accounts.is_empty() && s.drifted_accounts == 0 {
            "none".to_owned()
        } else {
            format!("{} ({})", s.drifted_accounts, s.drift_accounts.join(", "))
        },
        s.failed_items,
        if s.summary.is_empty() {
            String::new()
        } else {
            format!("\n{}{}", label(""), clip(&s.summary, 200))
        }
    )
}

/// All clear, or what needs a person.
fn verdict(why: &[String], color: bool) -> String {
    if why.is_empty() {
        return format!("\n{}\n", paint("All clear.", Tone::Good, color));
    }
    let mut out = format!(
        "\n{}\n",
        paint("NEEDS A PERSON (exit code 2):", Tone::Danger, color)
    );
    for reason in why {
        out.push_str(&format!("  - {reason}\n"));
    }
    out
}
