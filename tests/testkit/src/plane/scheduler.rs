//! The plane's minute: at the end of each minute of its clock, in this
//! order, what AWS does every minute — the functions' configuration is
//! re-read (a hotswap, a rollback, a changed concurrency take effect), SQS
//! reports its queues' metrics, the schedule rules that are due fire
//! (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-rule-schedule.html>),
//! and CloudWatch evaluates the alarms on the minute's data.

use std::collections::HashMap;

use serde_json::json;

use super::Ctx;
use super::bus::Delivery;
use super::clock::{MINUTE_MS, minute_of};

/// Runs the minute, forever.
pub async fn tick(ctx: Ctx) {
    let mut fired: HashMap<String, i64> = HashMap::new();
    let started = ctx.clock.now_ms();
    let mut next = minute_of(started) + MINUTE_MS;
    loop {
        ctx.clock.sleep_until(next).await;
        let busy = ctx.work.start();
        // A jump of several minutes is one tick at its end (the minutes it
        // skipped are not replayed one by one).
        let minute = minute_of(ctx.clock.now_ms());
        next = minute + MINUTE_MS;
        ctx.functions.refresh(&ctx).await;
        super::telemetry::sample_queues(&ctx, minute).await;
        fire_schedules(&ctx, minute, started, &mut fired).await;
        super::evaluator::evaluate_all(&ctx, minute).await;
        drop(busy);
    }
}

/// Fires every enabled schedule rule of the default bus whose next time
/// after its last firing (or the plane's start) has come.
async fn fire_schedules(ctx: &Ctx, minute: i64, started: i64, fired: &mut HashMap<String, i64>) {
    let rules = match ctx.aws.events.list_rules().send().await {
        Ok(rules) => rules,
        Err(e) => {
            eprintln!("local plane: ListRules: {e}");
            return;
        }
    };
    for rule in rules.rules() {
        let (Some(expression), Some(arn), Some(name)) =
            (rule.schedule_expression(), rule.arn(), rule.name())
        else {
            continue;
        };
        if rule.state().map(|s| s.as_str()) != Some("ENABLED") {
            continue;
        }
        let Ok(schedule) = super::schedule::parse(expression) else {
            eprintln!("local plane: {name}: a schedule the plane cannot read: {expression}");
            continue;
        };
        let last = fired.get(arn).copied().unwrap_or(started);
        let due = schedule.next_after(last, started);
        if due.is_some_and(|due| due <= minute) {
            fired.insert(arn.to_owned(), minute);
            fire(ctx, arn, name, minute).await;
        }
    }
}

/// The Scheduled Event of `rule` to each of its targets (a target's
/// constant `Input` replaces it).
async fn fire(ctx: &Ctx, rule_arn: &str, rule: &str, minute: i64) {
    let targets = match ctx
        .aws
        .events
        .list_targets_by_rule()
        .rule(rule)
        .send()
        .await
    {
        Ok(targets) => targets,
        Err(e) => {
            eprintln!("local plane: ListTargetsByRule {rule}: {e}");
            return;
        }
    };
    let event = json!({
        "version": "0",
        "id": super::lambda::request_id(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ctx.account,
        "time": operator::base::when::format_time(minute),
        "region": ctx.region,
        "resources": [rule_arn],
        "detail": {},
    });
    for target in targets.targets() {
        let retry = target.retry_policy();
        let delivery = Delivery {
            rule_arn: rule_arn.to_owned(),
            rule_name: rule.to_owned(),
            bus: "default".to_owned(),
            target_arn: target.arn().to_owned(),
            payload: target
                .input()
                .map_or_else(|| event.to_string(), str::to_owned),
            event_id: event["id"].as_str().unwrap_or_default().to_owned(),
            max_attempts: retry
                .and_then(|r| r.maximum_retry_attempts())
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(185),
            max_age_s: retry
                .and_then(|r| r.maximum_event_age_in_seconds())
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(86_400),
            dead_letter_arn: target
                .dead_letter_config()
                .and_then(|d| d.arn())
                .map(str::to_owned),
        };
        super::telemetry::events_metric(ctx, "default", rule, "TriggeredRules").await;
        let (ctx, busy) = (ctx.clone(), ctx.work.start());
        tokio::spawn(async move {
            super::bus::run(&ctx, delivery).await;
            drop(busy);
        });
    }
}
