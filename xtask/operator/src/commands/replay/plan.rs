//! What a replay would do (pure): its name, its rule, the window checked
//! against the archive, and what a dry run says.

use crate::base::when::format_time;

/// The archive, as `DescribeArchive` tells it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArchiveInfo {
    /// Its name.
    pub name: String,
    /// `ENABLED`, …
    pub state: String,
    /// Events it holds, in all (the API says nothing per window).
    pub event_count: i64,
    /// Their size, in all.
    pub size_bytes: i64,
    /// Days it keeps events (`None` or 0: forever).
    pub retention_days: Option<i32>,
    /// When it was created (ms since the epoch).
    pub created_ms: Option<i64>,
}

/// A replay to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayPlan {
    /// The replay's name.
    pub name: String,
    /// The archive (`ArchiveArn`).
    pub archive_arn: String,
    /// The bus the events go back on (`BusArn`).
    pub bus_arn: String,
    /// The only rule that receives them (`LedgerEventsRuleArn`, or the
    /// replay rule of `detail_type`).
    pub rule_arn: String,
    /// `--detail-type`: only events of this detail-type.
    pub detail_type: Option<String>,
    /// The window's start (ms since the epoch).
    pub from_ms: i64,
    /// The window's end.
    pub to_ms: i64,
}

/// `cc-agent-reconciler-<stage>-<from>-<to>-<4 hex>`, at most 64
/// characters of `[.\-_A-Za-z0-9]` (EventBridge's rule for replay names).
pub fn replay_name(stage: infra::Stage, from_ms: i64, to_ms: i64, nonce: u16) -> String {
    let minute = |ms: i64| {
        let t = crate::base::when::compact_time(ms);
        // 20261129T100000Z -> 20261129T1000
        t.get(..13).unwrap_or(&t).to_owned()
    };
    format!(
        "cc-agent-reconciler-{stage}-{}-{}-{nonce:04x}",
        minute(from_ms),
        minute(to_ms)
    )
}

/// The ARN of the rule `name` on the bus `bus_arn` (pure):
/// `arn:…:event-bus/B` → `arn:…:rule/B/name`.
pub fn rule_arn_on_bus(bus_arn: &str, name: &str) -> String {
    format!("{}/{name}", bus_arn.replacen(":event-bus/", ":rule/", 1))
}

/// The replay of a window onto the stage (pure): onto the ledger-events
/// rule, or with `detail_type` onto that detail-type's replay rule.
///
/// # Errors
/// `detail_type` is none of the ledger's, or the stack has no replay rule
/// for it (an older stack: deploy first).
pub fn plan(
    stage: infra::Stage,
    outputs: &infra::outputs::StackOutputs,
    (from_ms, to_ms): (i64, i64),
    detail_type: Option<&str>,
    nonce: u16,
) -> Result<ReplayPlan, String> {
    use reconciler_core::event::DETAIL_TYPES;
    let rule_arn = match detail_type {
        None => outputs.ledger_events_rule_arn.clone(),
        Some(t) => {
            let i = DETAIL_TYPES.iter().position(|d| *d == t).ok_or_else(|| {
                format!(
                    "--detail-type {t}: not a ledger detail-type (one of {})",
                    DETAIL_TYPES.join(", ")
                )
            })?;
            let names: Vec<&str> = outputs
                .replay_rule_names
                .as_deref()
                .map(|n| n.split(',').collect())
                .unwrap_or_default();
            let name = names.get(i).filter(|n| !n.is_empty()).ok_or_else(|| {
                format!(
                    "the stack has no replay rule for {t} (a stack deployed before them): deploy \
                     the stage first"
                )
            })?;
            rule_arn_on_bus(&outputs.bus_arn, name)
        }
    };
    Ok(ReplayPlan {
        name: replay_name(stage, from_ms, to_ms, nonce),
        archive_arn: outputs.archive_arn.clone(),
        bus_arn: outputs.bus_arn.clone(),
        rule_arn,
        detail_type: detail_type.map(str::to_owned),
        from_ms,
        to_ms,
    })
}

/// Checks a window against the archive (pure): refuses an empty or future
/// window; warns about parts the archive cannot hold (past its retention,
/// before it existed).
///
/// # Errors
/// Why the window cannot be replayed (one line).
pub fn check_window(
    from_ms: i64,
    to_ms: i64,
    now_ms: i64,
    archive: &ArchiveInfo,
) -> Result<Vec<String>, String> {
    if from_ms >= to_ms {
        return Err(format!(
            "--from {} is not before --to {}",
            format_time(from_ms),
            format_time(to_ms)
        ));
    }
    if to_ms > now_ms + 60_000 {
        return Err(format!(
            "--to {} is in the future: replay up to `now` at the latest",
            format_time(to_ms)
        ));
    }
    let mut warnings = Vec::new();
    if let Some(days) = archive.retention_days.filter(|d| *d > 0) {
        let oldest = now_ms - i64::from(days) * 86_400_000;
        if from_ms < oldest {
            warnings.push(format!(
                "the archive keeps events {days} days: those before {} are gone and will not \
                 be replayed",
                format_time(oldest)
            ));
        }
    }
    if let Some(created) = archive.created_ms
        && from_ms < created
    {
        warnings.push(format!(
            "the archive was created {}: it holds nothing from before",
            format_time(created)
        ));
    }
    if archive.state != "ENABLED" && !archive.state.is_empty() {
        warnings.push(format!(
            "the archive is {}: events of the window may be missing from it",
            archive.state
        ));
    }
    Ok(warnings)
}

/// What `--dry-run` says (pure).
pub fn dry_run_text(plan: &ReplayPlan, archive: &ArchiveInfo, warnings: &[String]) -> String {
    let mut out = format!(
        "Dry run: nothing started.\n\
         Window:      {} to {}\n\
         Archive:     {} ({}; {} events, {} bytes in all; kept {}). The API does not say how \
         many of them fall in the window.\n\
         Destination: bus {}, only the rule {}{}\n\
         Name:        {} (the handler logs every replayed event with it)\n",
        format_time(plan.from_ms),
        format_time(plan.to_ms),
        archive.name,
        if archive.state.is_empty() {
            "state unknown"
        } else {
            &archive.state
        },
        archive.event_count,
        archive.size_bytes,
        match archive.retention_days {
            Some(d) if d > 0 => format!("{d} days"),
            _ => "forever".to_owned(),
        },
        plan.bus_arn,
        plan.rule_arn,
        plan.detail_type
            .as_deref()
            .map(|t| format!(" (the replays of {t}: no other event is replayed)"))
            .unwrap_or_default(),
        plan.name,
    );
    for w in warnings {
        out.push_str(&format!("Warning:     {w}\n"));
    }
    out.push_str(
        "Safe: the handler applies every event by its business key; an event already applied \
         comes back as a duplicate and moves no money.\n",
    );
    out
}
