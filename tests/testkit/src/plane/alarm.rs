//! CloudWatch metric alarm evaluation: from the datapoints of the last
//! periods to a state, with the reason CloudWatch would write. As documented
//! on <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html>
//! and <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html>:
//!
//! - N = `EvaluationPeriods`, M = `DatapointsToAlarm`: M breaching among the
//!   N evaluated datapoints → `ALARM`, fewer → `OK`.
//! - CloudWatch retrieves an *evaluation range* longer than N ("5 is the
//!   evaluation range" for N = 3). When at least N datapoints of the range
//!   exist it evaluates the N most recent existing ones and "the value you
//!   set for how to treat missing data is not needed and is ignored".
//! - Otherwise it fills the missing ones "only as few times as possible"
//!   (N − existing, the most recent missing ones) and all real ones count:
//!   `breaching` fills count as breaching, `notBreaching` as not; with
//!   `missing` and `ignore` a fill counts as neither, and the two tables of
//!   the missing-data page then read as: enough real breaching datapoints →
//!   `ALARM`; any real non-breaching one → `OK`; otherwise the *premature
//!   alarm* rule ("the oldest available breaching datapoint … is at least as
//!   old as the value of Datapoints to Alarm, and all other more recent data
//!   points are breaching or missing") → `ALARM`, else `INSUFFICIENT_DATA`;
//!   `ignore` keeps the current state wherever `missing` would give
//!   `INSUFFICIENT_DATA` or a premature `ALARM` (the tables' "Retain current
//!   state"), and decides like `missing` elsewhere (the tables give `OK`
//!   for `ignore` in rows where `missing` gives `OK`).
//!
//! Guesses, each kept in one place:
//! - the size of the evaluation range ([`evaluation_range`]): N + 2. The
//!   page says only that it "depends on the length of the alarm period and
//!   whether it is based on a metric with standard resolution or high
//!   resolution", and shows 5 for N = 3.
//! - the age in the premature rule counts periods back from the newest slot
//!   of the range (the newest is 1), which is what makes the tables' rows 5
//!   come out as printed.
//! - the wording of the reasons beyond the two samples CloudWatch is known
//!   to write (see [`reason`]), and the fields of `reason_data` (no
//!   `sampleCount`: the caller's datapoints do not carry it; `startDate` only
//!   when a real datapoint was evaluated).
//!
//! Pure: the caller fetches the datapoints and passes the time.

use serde_json::{Value, json};

use super::schedule::utc;

/// An alarm's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// `OK`.
    Ok,
    /// `ALARM`.
    Alarm,
    /// `INSUFFICIENT_DATA`.
    InsufficientData,
}

impl State {
    /// The API's name: `OK`, `ALARM`, `INSUFFICIENT_DATA`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Alarm => "ALARM",
            State::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    /// Parses the API's name.
    ///
    /// # Errors
    /// Any other text, named.
    pub fn parse(text: &str) -> Result<State, String> {
        match text {
            "OK" => Ok(State::Ok),
            "ALARM" => Ok(State::Alarm),
            "INSUFFICIENT_DATA" => Ok(State::InsufficientData),
            _ => Err(format!(
                "{text:?} is not an alarm state: expected OK, ALARM or INSUFFICIENT_DATA"
            )),
        }
    }
}

/// A static-threshold comparison operator (the value is the left operand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `GreaterThanOrEqualToThreshold`.
    GreaterThanOrEqualToThreshold,
    /// `GreaterThanThreshold`.
    GreaterThanThreshold,
    /// `LessThanThreshold`.
    LessThanThreshold,
    /// `LessThanOrEqualToThreshold`.
    LessThanOrEqualToThreshold,
}

impl Comparison {
    /// Parses the API's name.
    ///
    /// # Errors
    /// The anomaly-detection operators (the plane evaluates no bands) and
    /// any other text, named.
    pub fn parse(text: &str) -> Result<Comparison, String> {
        match text {
            "GreaterThanOrEqualToThreshold" => Ok(Comparison::GreaterThanOrEqualToThreshold),
            "GreaterThanThreshold" => Ok(Comparison::GreaterThanThreshold),
            "LessThanThreshold" => Ok(Comparison::LessThanThreshold),
            "LessThanOrEqualToThreshold" => Ok(Comparison::LessThanOrEqualToThreshold),
            "LessThanLowerOrGreaterThanUpperThreshold"
            | "LessThanLowerThreshold"
            | "GreaterThanUpperThreshold" => Err(format!(
                "{text} compares with an anomaly detection band, which the local plane does not \
                 evaluate: use a static threshold"
            )),
            _ => Err(format!(
                "{text:?} is not a comparison operator: expected GreaterThanOrEqualToThreshold, \
                 GreaterThanThreshold, LessThanThreshold or LessThanOrEqualToThreshold"
            )),
        }
    }

    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => "GreaterThanOrEqualToThreshold",
            Comparison::GreaterThanThreshold => "GreaterThanThreshold",
            Comparison::LessThanThreshold => "LessThanThreshold",
            Comparison::LessThanOrEqualToThreshold => "LessThanOrEqualToThreshold",
        }
    }

    /// Whether `value` breaches `threshold`.
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => value >= threshold,
            Comparison::GreaterThanThreshold => value > threshold,
            Comparison::LessThanThreshold => value < threshold,
            Comparison::LessThanOrEqualToThreshold => value <= threshold,
        }
    }

    /// The words of a reason: "was greater than or equal to the threshold".
    fn words(self) -> &'static str {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => "greater than or equal to",
            Comparison::GreaterThanThreshold => "greater than",
            Comparison::LessThanThreshold => "less than",
            Comparison::LessThanOrEqualToThreshold => "less than or equal to",
        }
    }
}

/// `TreatMissingData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TreatMissing {
    /// `missing`, the default.
    #[default]
    Missing,
    /// `notBreaching`.
    NotBreaching,
    /// `breaching`.
    Breaching,
    /// `ignore`.
    Ignore,
}

impl TreatMissing {
    /// Parses the API's value (absent → [`TreatMissing::default`], the
    /// caller's business).
    ///
    /// # Errors
    /// Any other text, named.
    pub fn parse(text: &str) -> Result<TreatMissing, String> {
        match text {
            "missing" => Ok(TreatMissing::Missing),
            "notBreaching" => Ok(TreatMissing::NotBreaching),
            "breaching" => Ok(TreatMissing::Breaching),
            "ignore" => Ok(TreatMissing::Ignore),
            _ => Err(format!(
                "{text:?} is not a TreatMissingData value: expected missing, notBreaching, \
                 breaching or ignore"
            )),
        }
    }

    /// The API's value.
    pub fn as_str(self) -> &'static str {
        match self {
            TreatMissing::Missing => "missing",
            TreatMissing::NotBreaching => "notBreaching",
            TreatMissing::Breaching => "breaching",
            TreatMissing::Ignore => "ignore",
        }
    }
}

/// What evaluating an alarm needs of its configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSpec {
    /// `AlarmName`.
    pub name: String,
    /// `ComparisonOperator`.
    pub comparison: Comparison,
    /// `Threshold`.
    pub threshold: f64,
    /// `Period`, in seconds.
    pub period_s: u32,
    /// `EvaluationPeriods` (N).
    pub evaluation_periods: u32,
    /// `DatapointsToAlarm` (M; N when the alarm does not set it).
    pub datapoints_to_alarm: u32,
    /// `TreatMissingData`.
    pub treat_missing: TreatMissing,
    /// The statistic as a reason's data names it: `Sum`, `Maximum`, `p99`…
    pub statistic_label: String,
}

impl AlarmSpec {
    /// Checks the rules `PutMetricAlarm` enforces on what evaluation reads
    /// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html>).
    /// [`evaluate`] does not fail on a spec that breaks them: it reads N as
    /// at least 1 and M within 1..=N.
    ///
    /// # Errors
    /// The first rule broken, named with the alarm.
    pub fn check(&self) -> Result<(), String> {
        let (n, m, period) = (
            u64::from(self.evaluation_periods),
            u64::from(self.datapoints_to_alarm),
            u64::from(self.period_s),
        );
        let limit = if period < 3600 { 86_400 } else { 604_800 };
        let broken = if self.name.is_empty() {
            "the alarm has no name".to_owned()
        } else if n == 0 {
            "EvaluationPeriods must be at least 1".into()
        } else if m == 0 || m > n {
            format!("DatapointsToAlarm ({m}) must be 1 to EvaluationPeriods ({n})")
        } else if !(matches!(period, 10 | 20 | 30) || (period > 0 && period % 60 == 0)) {
            format!("Period ({period}) must be 10, 20, 30 or a multiple of 60 seconds")
        } else if period * n > limit {
            format!(
                "Period × EvaluationPeriods ({}) must not exceed {limit} seconds",
                period * n
            )
        } else if !self.threshold.is_finite() {
            "Threshold must be a number".into()
        } else {
            return Ok(());
        };
        Err(format!("alarm {:?}: {broken}", self.name))
    }

    /// (N, M) as evaluation reads them.
    fn counts(&self) -> (usize, usize) {
        let n = self.evaluation_periods.max(1) as usize;
        (n, (self.datapoints_to_alarm as usize).clamp(1, n))
    }
}

/// One period's datapoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Datapoint {
    /// The start of its period, epoch ms.
    pub start_ms: i64,
    /// The statistic's value; `None` when the period has no data.
    pub value: Option<f64>,
}

/// The result of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The state the alarm should be in; the caller changes it (and runs
    /// the actions) only when it differs from the current one.
    pub state: State,
    /// `StateReason`, in CloudWatch's words.
    pub reason: String,
    /// `StateReasonData`.
    pub reason_data: Value,
}

/// How many periods back the caller fetches for [`evaluate`]: N + 2 (5 for
/// N = 3, as the missing-data page shows; the rule for other N is a guess).
pub fn evaluation_range(spec: &AlarmSpec) -> usize {
    spec.counts().0 + 2
}

/// Evaluates an alarm at `now_ms` over `window`, the evaluation range's
/// periods, oldest first (see [`evaluation_range`]), in state `current`.
pub fn evaluate(spec: &AlarmSpec, window: &[Datapoint], current: State, now_ms: i64) -> Decision {
    let verdict = decide(spec, window);
    Decision {
        state: match verdict.outcome {
            Outcome::Alarm | Outcome::Premature => State::Alarm,
            Outcome::Ok => State::Ok,
            Outcome::Unknown => State::InsufficientData,
            Outcome::Kept => current,
        },
        reason: reason(spec, &verdict, current),
        reason_data: reason_data(spec, &verdict, now_ms),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    /// M or more breaching.
    Alarm,
    Ok,
    /// `ALARM` by the premature-alarm rule.
    Premature,
    /// `INSUFFICIENT_DATA`.
    Unknown,
    /// `ignore`: the current state stays.
    Kept,
}

struct Verdict {
    outcome: Outcome,
    /// The evaluated datapoints, newest first: the real ones with their
    /// value, the filled ones without.
    evaluated: Vec<Datapoint>,
    /// How many were filled.
    fills: usize,
    /// How the fills counted: `Some(true)` breaching, `Some(false)` not,
    /// `None` as neither (`missing`, `ignore`).
    fill_breaching: Option<bool>,
}

fn decide(spec: &AlarmSpec, window: &[Datapoint]) -> Verdict {
    let (n, m) = spec.counts();
    let breaches = |d: &Datapoint| {
        d.value
            .is_some_and(|v| spec.comparison.breaches(v, spec.threshold))
    };
    // Newest first, each with its age: 1 for the newest slot of the range.
    let real: Vec<(usize, Datapoint)> = window
        .iter()
        .rev()
        .enumerate()
        .filter(|(_, d)| d.value.is_some())
        .map(|(i, d)| (i + 1, *d))
        .collect();
    if real.len() >= n {
        let evaluated: Vec<Datapoint> = real[..n].iter().map(|(_, d)| *d).collect();
        let breaching = evaluated.iter().filter(|d| breaches(d)).count();
        return Verdict {
            outcome: if breaching >= m {
                Outcome::Alarm
            } else {
                Outcome::Ok
            },
            evaluated,
            fills: 0,
            fill_breaching: None,
        };
    }
    let fills = n - real.len();
    let mut evaluated: Vec<Datapoint> = window
        .iter()
        .rev()
        .filter(|d| d.value.is_none())
        .take(fills)
        .chain(real.iter().map(|(_, d)| d))
        .copied()
        .collect();
    evaluated.sort_by_key(|d| std::cmp::Reverse(d.start_ms));
    let breaching = real.iter().filter(|(_, d)| breaches(d)).count();
    let counted = |b: usize| if b >= m { Outcome::Alarm } else { Outcome::Ok };
    let (outcome, fill_breaching) = match spec.treat_missing {
        TreatMissing::Breaching => (counted(breaching + fills), Some(true)),
        TreatMissing::NotBreaching => (counted(breaching), Some(false)),
        treat => (unfilled(treat, &real, breaching, m), None),
    };
    Verdict {
        outcome,
        evaluated,
        fills,
        fill_breaching,
    }
}

/// `missing` and `ignore` with fewer than N real datapoints (`real`: newest
/// first, with their ages), the fills counting as neither: the two tables'
/// reading given in the module's header.
fn unfilled(
    treat: TreatMissing,
    real: &[(usize, Datapoint)],
    breaching: usize,
    m: usize,
) -> Outcome {
    if breaching >= m {
        return Outcome::Alarm;
    }
    if breaching < real.len() {
        // A real datapoint that does not breach.
        return Outcome::Ok;
    }
    // Only breaching real datapoints, or none: the premature-alarm rule.
    let premature = real.last().is_some_and(|(age, _)| *age >= m);
    match (treat, premature) {
        (TreatMissing::Ignore, _) => Outcome::Kept,
        (_, true) => Outcome::Premature,
        (_, false) => Outcome::Unknown,
    }
}

/// `StateReason`. Two wordings are CloudWatch's, from alarm notifications
/// and the `describe-alarm-history` example (the design note's samples):
/// `Threshold Crossed: 1 out of the last 1 datapoints [1.0 (04/12/26
/// 18:05:00)] was greater than or equal to the threshold (1.0) (minimum 1
/// datapoint for OK -> ALARM transition).` and `Threshold Crossed: no
/// datapoints were received for 1 period and 1 missing datapoint was
/// treated as [NonBreaching].`; `OK` with one datapoint (`Threshold Crossed:
/// 1 datapoint [0.0 (…)] was not greater than or equal to the threshold
/// (1.0).`) and `Insufficient Data: 5 datapoints were unknown.` are from
/// public samples too. Guessed: the plural forms of the `OK` sentence, the
/// clause about filled datapoints next to real ones, and the `ignore`
/// text (never published: the state does not change).
fn reason(spec: &AlarmSpec, verdict: &Verdict, current: State) -> String {
    let (n, m) = spec.counts();
    let real: Vec<&Datapoint> = verdict
        .evaluated
        .iter()
        .filter(|d| d.value.is_some())
        .collect();
    let (breaching, clear): (Vec<&Datapoint>, Vec<&Datapoint>) = real.iter().partition(|d| {
        d.value
            .is_some_and(|v| spec.comparison.breaches(v, spec.threshold))
    });
    let (op, threshold) = (spec.comparison.words(), java_double(spec.threshold));
    let fills = verdict.fills;
    let treated = |breaching: bool| {
        let name = if breaching {
            "Breaching"
        } else {
            "NonBreaching"
        };
        format!(
            "{} missing {} {} treated as [{name}]",
            fills,
            noun(fills, "datapoint"),
            was(fills)
        )
    };
    let fill_clause = match verdict.fill_breaching {
        Some(b) if fills > 0 => format!(" and {}", treated(b)),
        _ => String::new(),
    };
    let crossed = || {
        format!(
            "Threshold Crossed: {} out of the last {n} datapoints [{}] {} {op} the threshold \
             ({threshold}){fill_clause} (minimum {m} {} for {} -> ALARM transition).",
            breaching.len(),
            listed(&breaching),
            was(breaching.len()),
            noun(m, "datapoint"),
            current.as_str(),
        )
    };
    match (verdict.outcome, verdict.fill_breaching) {
        (Outcome::Alarm | Outcome::Ok, Some(b)) if real.is_empty() => format!(
            "Threshold Crossed: no datapoints were received for {n} {} and {}.",
            noun(n, "period"),
            treated(b)
        ),
        (Outcome::Alarm | Outcome::Premature, _) => crossed(),
        (Outcome::Ok, _) if clear.is_empty() => crossed(),
        (Outcome::Ok, _) => format!(
            "Threshold Crossed: {} {} [{}] {} not {op} the threshold ({threshold}){fill_clause}.",
            clear.len(),
            noun(clear.len(), "datapoint"),
            listed(&clear),
            was(clear.len()),
        ),
        (Outcome::Unknown, _) => format!(
            "Insufficient Data: {fills} {} {} unknown.",
            noun(fills, "datapoint"),
            was(fills)
        ),
        (Outcome::Kept, _) => format!(
            "Unchanged: fewer than {n} datapoints, and TreatMissingData ignore keeps the {} state.",
            current.as_str()
        ),
    }
}

/// `StateReasonData`, as in `describe-alarm-history` (design note §2.5).
fn reason_data(spec: &AlarmSpec, verdict: &Verdict, now_ms: i64) -> Value {
    let real: Vec<&Datapoint> = verdict
        .evaluated
        .iter()
        .filter(|d| d.value.is_some())
        .collect();
    let evaluated: Vec<Value> = verdict
        .evaluated
        .iter()
        .map(|d| match d.value {
            Some(v) => json!({"timestamp": iso(d.start_ms), "value": v}),
            None => json!({"timestamp": iso(d.start_ms)}),
        })
        .collect();
    let mut data = json!({
        "version": "1.0",
        "queryDate": iso(now_ms),
        "statistic": spec.statistic_label,
        "period": spec.period_s,
        "recentDatapoints": real.iter().rev().filter_map(|d| d.value).collect::<Vec<f64>>(),
        "threshold": spec.threshold,
        "evaluatedDatapoints": evaluated,
    });
    if let Some(oldest) = real.last() {
        data["startDate"] = json!(iso(oldest.start_ms));
    }
    data
}

fn noun(count: usize, word: &str) -> String {
    if count == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

fn was(count: usize) -> &'static str {
    if count == 1 { "was" } else { "were" }
}

/// `1.0 (04/12/26 18:05:00), 0.5 (04/12/26 18:00:00)`: value and period
/// start (dd/MM/yy, UTC), as the reasons list them.
fn listed(points: &[&Datapoint]) -> String {
    points
        .iter()
        .map(|d| {
            let u = utc(d.start_ms);
            format!(
                "{} ({:02}/{:02}/{:02} {:02}:{:02}:{:02})",
                d.value.map_or_else(|| "-".to_owned(), java_double),
                u.day,
                u.month,
                u.year.rem_euclid(100),
                u.hour,
                u.minute,
                u.second
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `2026-12-04T18:06:00.100+0000`, CloudWatch's timestamps in reason data.
fn iso(ms: i64) -> String {
    let u = utc(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
        u.year, u.month, u.day, u.hour, u.minute, u.second, u.milli
    )
}

/// A number as Java's `Double.toString` writes it (CloudWatch's reasons
/// do): `1.0`, `0.5`, `1.0E7`, `1.5E-4`.
fn java_double(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN"
        } else if v > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        }
        .into();
    }
    let a = v.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        let s = v.to_string();
        return if s.contains('.') { s } else { format!("{s}.0") };
    }
    let s = format!("{v:e}");
    let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
    if mantissa.contains('.') {
        format!("{mantissa}E{exponent}")
    } else {
        format!("{mantissa}.0E{exponent}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Instants from `date -u -d 2026-12-04T18:05:00Z +%s%3N` and friends.
    const T_18_05: i64 = 1_796_407_500_000;
    const T_18_06_100: i64 = 1_796_407_560_100;
    const MINUTE: i64 = 60_000;

    fn spec(n: u32, m: u32, treat: TreatMissing) -> AlarmSpec {
        AlarmSpec {
            name: "an-alarm".into(),
            comparison: Comparison::GreaterThanThreshold,
            threshold: 3.0,
            period_s: 300,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            treat_missing: treat,
            statistic_label: "Sum".into(),
        }
    }

    /// A row of the page's tables: `0` not breaching, `X` breaching, `-`
    /// missing; "These data points are shown with the most recent data point
    /// on the right", so the rightmost is the newest (the page says so, and
    /// its note on row 2 agrees: the leftmost `0` "will no longer be in the
    /// evaluation range" at the next evaluation). Periods of 5 minutes
    /// ending at 18:05.
    fn row(text: &str) -> Vec<Datapoint> {
        let cells: Vec<&str> = text.split_whitespace().collect();
        let newest = cells.len() as i64 - 1;
        cells
            .iter()
            .enumerate()
            .map(|(i, cell)| Datapoint {
                start_ms: T_18_05 - (newest - i as i64) * 5 * MINUTE,
                value: match *cell {
                    "0" => Some(0.0),
                    "X" => Some(5.0),
                    "-" => None,
                    other => panic!("cell {other:?}"),
                },
            })
            .collect()
    }

    #[derive(Debug, Clone, Copy)]
    enum Expect {
        Is(State),
        Retain,
    }
    use Expect::{Is, Retain};
    const OK: Expect = Is(State::Ok);
    const ALARM: Expect = Is(State::Alarm);
    const INSUFFICIENT: Expect = Is(State::InsufficientData);

    const COLUMNS: [TreatMissing; 4] = [
        TreatMissing::Missing,
        TreatMissing::Ignore,
        TreatMissing::Breaching,
        TreatMissing::NotBreaching,
    ];

    /// Checks every row and column of one table: the fill count (column 2,
    /// read in the reason data under `breaching`) and each treatment's state
    /// from each current state.
    fn check_table(n: u32, m: u32, table: &[(&str, usize, [Expect; 4])]) {
        for (points, fills, expected) in table {
            let window = row(points);
            assert_eq!(
                window.len(),
                evaluation_range(&spec(n, m, TreatMissing::Missing))
            );
            let breaching = evaluate(
                &spec(n, m, TreatMissing::Breaching),
                &window,
                State::Ok,
                T_18_06_100,
            );
            let filled = breaching.reason_data["evaluatedDatapoints"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d.get("value").is_none())
                .count();
            assert_eq!(filled, *fills, "{points}: data points that must be filled");
            for (treat, expect) in COLUMNS.iter().zip(expected) {
                for current in [State::Ok, State::Alarm, State::InsufficientData] {
                    let got = evaluate(&spec(n, m, *treat), &window, current, T_18_06_100).state;
                    let want = match expect {
                        Is(state) => *state,
                        Retain => current,
                    };
                    assert_eq!(
                        got,
                        want,
                        "{n}/{m} {points} {} from {current:?}",
                        treat.as_str()
                    );
                }
            }
        }
    }

    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html,
    // first table: Datapoints to Alarm and Evaluation Periods both 3.
    // Columns: data points | # of data points that must be filled | MISSING |
    // IGNORE | BREACHING | NOT BREACHING.
    #[test]
    fn the_missing_data_table_for_3_out_of_3() {
        check_table(
            3,
            3,
            &[
                ("0 - X - X", 0, [OK, OK, OK, OK]),
                ("0 - - - -", 2, [OK, OK, OK, OK]),
                ("- - - - -", 3, [INSUFFICIENT, Retain, ALARM, OK]),
                ("0 X X - X", 0, [ALARM, ALARM, ALARM, ALARM]),
                ("- - X - -", 2, [ALARM, Retain, ALARM, OK]),
            ],
        );
    }

    // The same page, second table: Datapoints to Alarm 2, Evaluation Periods 3.
    // Columns: data points | # of missing data points | MISSING | IGNORE |
    // BREACHING | NOT BREACHING.
    #[test]
    fn the_missing_data_table_for_2_out_of_3() {
        check_table(
            3,
            2,
            &[
                ("0 - X - X", 0, [ALARM, ALARM, ALARM, ALARM]),
                ("0 0 X 0 X", 0, [ALARM, ALARM, ALARM, ALARM]),
                ("0 - X - -", 1, [OK, OK, ALARM, OK]),
                ("- - - - 0", 2, [OK, OK, ALARM, OK]),
                ("- - - X -", 2, [ALARM, Retain, ALARM, OK]),
            ],
        );
    }

    // The same page, "Avoiding premature transitions to alarm state": with
    // Evaluation Periods 3 and Datapoints to Alarm 3, "the alarm does not go
    // immediately into ALARM state when the data is either - - - - X or
    // - - - X -", so that "- - - X O or - - X - O" (the next point
    // non-breaching) find it not in ALARM; "- - X - -" goes to ALARM.
    #[test]
    fn the_premature_alarm_examples() {
        let missing = spec(3, 3, TreatMissing::Missing);
        for (points, state) in [
            ("- - - - X", State::InsufficientData),
            ("- - - X -", State::InsufficientData),
            ("- - - X 0", State::Ok),
            ("- - X - 0", State::Ok),
            ("- - X - -", State::Alarm),
        ] {
            let got = evaluate(&missing, &row(points), State::Ok, T_18_06_100);
            assert_eq!(got.state, state, "{points}");
        }
    }

    #[test]
    fn the_evaluation_range_is_n_plus_2() {
        // "5 is the evaluation range" for 3 evaluation periods.
        assert_eq!(evaluation_range(&spec(3, 3, TreatMissing::Missing)), 5);
        assert_eq!(evaluation_range(&spec(1, 1, TreatMissing::Missing)), 3);
    }

    /// The stack's errors alarm: Sum of Errors ≥ 1 over 5 minutes, 1 of 1,
    /// notBreaching.
    fn errors_alarm() -> AlarmSpec {
        AlarmSpec {
            name: "cc-agent-reconciler-errors-dev".into(),
            comparison: Comparison::GreaterThanOrEqualToThreshold,
            threshold: 1.0,
            period_s: 300,
            evaluation_periods: 1,
            datapoints_to_alarm: 1,
            treat_missing: TreatMissing::NotBreaching,
            statistic_label: "Sum".into(),
        }
    }

    fn points(values: &[Option<f64>]) -> Vec<Datapoint> {
        let newest = values.len() as i64 - 1;
        values
            .iter()
            .enumerate()
            .map(|(i, value)| Datapoint {
                start_ms: T_18_05 - (newest - i as i64) * 5 * MINUTE,
                value: *value,
            })
            .collect()
    }

    // The reason and reason data of the design note's samples (§2.3, §2.5).
    #[test]
    fn an_error_moves_the_errors_alarm_with_cloudwatchs_reason() {
        let decision = evaluate(
            &errors_alarm(),
            &points(&[None, None, Some(1.0)]),
            State::Ok,
            T_18_06_100,
        );
        assert_eq!(decision.state, State::Alarm);
        assert_eq!(
            decision.reason,
            "Threshold Crossed: 1 out of the last 1 datapoints [1.0 (04/12/26 18:05:00)] was \
             greater than or equal to the threshold (1.0) (minimum 1 datapoint for OK -> ALARM \
             transition)."
        );
        assert_eq!(
            decision.reason_data,
            json!({
                "version": "1.0",
                "queryDate": "2026-12-04T18:06:00.100+0000",
                "startDate": "2026-12-04T18:05:00.000+0000",
                "statistic": "Sum",
                "period": 300,
                "recentDatapoints": [1.0],
                "threshold": 1.0,
                "evaluatedDatapoints": [
                    {"timestamp": "2026-12-04T18:05:00.000+0000", "value": 1.0}
                ]
            })
        );
    }

    #[test]
    fn no_errors_at_all_is_ok_with_cloudwatchs_reason() {
        let decision = evaluate(
            &errors_alarm(),
            &points(&[None, None, None]),
            State::InsufficientData,
            T_18_06_100,
        );
        assert_eq!(decision.state, State::Ok);
        assert_eq!(
            decision.reason,
            "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint \
             was treated as [NonBreaching]."
        );
        assert_eq!(
            decision.reason_data,
            json!({
                "version": "1.0",
                "queryDate": "2026-12-04T18:06:00.100+0000",
                "statistic": "Sum",
                "period": 300,
                "recentDatapoints": [],
                "threshold": 1.0,
                "evaluatedDatapoints": [{"timestamp": "2026-12-04T18:05:00.000+0000"}]
            })
        );
    }

    // The page's note: alarms "might repeatedly re-evaluate the last set of
    // data points … after the metric has stopped flowing". With 1 of 1 the
    // last error keeps the alarm in ALARM while it is in the range.
    #[test]
    fn the_last_error_keeps_the_alarm_while_it_is_in_the_range() {
        let alarm = errors_alarm();
        let still = evaluate(
            &alarm,
            &points(&[Some(2.0), None, None]),
            State::Alarm,
            T_18_06_100,
        );
        assert_eq!(still.state, State::Alarm);
        assert!(
            still.reason.contains("[2.0 (04/12/26 17:55:00)]"),
            "{}",
            still.reason
        );
        let gone = evaluate(
            &alarm,
            &points(&[None, None, None]),
            State::Alarm,
            T_18_06_100,
        );
        assert_eq!(gone.state, State::Ok);
        let quiet = evaluate(
            &alarm,
            &points(&[Some(2.0), None, Some(0.0)]),
            State::Alarm,
            T_18_06_100,
        );
        assert_eq!(quiet.state, State::Ok);
        assert_eq!(
            quiet.reason,
            "Threshold Crossed: 1 datapoint [0.0 (04/12/26 18:05:00)] was not greater than or \
             equal to the threshold (1.0)."
        );
    }

    #[test]
    fn reasons_for_m_out_of_n_list_the_breaching_datapoints_newest_first() {
        let two_of_three = spec(3, 2, TreatMissing::Missing);
        let window = points(&[Some(9.0), Some(1.0), Some(4.0), Some(0.5), Some(5.0)]);
        let decision = evaluate(&two_of_three, &window, State::Ok, T_18_06_100);
        assert_eq!(decision.state, State::Alarm);
        assert_eq!(
            decision.reason,
            "Threshold Crossed: 2 out of the last 3 datapoints [5.0 (04/12/26 18:05:00), 4.0 \
             (04/12/26 17:55:00)] were greater than the threshold (3.0) (minimum 2 datapoints \
             for OK -> ALARM transition)."
        );
        assert_eq!(
            decision.reason_data["recentDatapoints"],
            json!([4.0, 0.5, 5.0])
        );
        assert_eq!(
            decision.reason_data["startDate"],
            json!("2026-12-04T17:55:00.000+0000")
        );
        let ok = evaluate(
            &two_of_three,
            &points(&[Some(9.0), Some(1.0), Some(1.0), Some(0.5), Some(5.0)]),
            State::Alarm,
            T_18_06_100,
        );
        assert_eq!(ok.state, State::Ok);
        assert_eq!(
            ok.reason,
            "Threshold Crossed: 2 datapoints [0.5 (04/12/26 18:00:00), 1.0 (04/12/26 17:55:00)] \
             were not greater than the threshold (3.0)."
        );
    }

    #[test]
    fn reasons_with_filled_and_unknown_datapoints() {
        let window = row("- - - - -");
        let breaching = evaluate(
            &spec(3, 3, TreatMissing::Breaching),
            &window,
            State::Ok,
            T_18_06_100,
        );
        assert_eq!(
            breaching.reason,
            "Threshold Crossed: no datapoints were received for 3 periods and 3 missing \
             datapoints were treated as [Breaching]."
        );
        let unknown = evaluate(
            &spec(3, 3, TreatMissing::Missing),
            &window,
            State::Ok,
            T_18_06_100,
        );
        assert_eq!(
            unknown.reason,
            "Insufficient Data: 3 datapoints were unknown."
        );
        assert_eq!(
            unknown.reason_data["evaluatedDatapoints"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        let mixed = evaluate(
            &spec(3, 3, TreatMissing::Breaching),
            &row("- - X - -"),
            State::Ok,
            T_18_06_100,
        );
        assert_eq!(
            mixed.reason,
            "Threshold Crossed: 1 out of the last 3 datapoints [5.0 (04/12/26 17:55:00)] was \
             greater than the threshold (3.0) and 2 missing datapoints were treated as \
             [Breaching] (minimum 3 datapoints for OK -> ALARM transition)."
        );
        let premature = evaluate(
            &spec(3, 3, TreatMissing::Missing),
            &row("- - X - -"),
            State::InsufficientData,
            T_18_06_100,
        );
        assert!(
            premature
                .reason
                .starts_with("Threshold Crossed: 1 out of the last 3 datapoints")
                && premature
                    .reason
                    .ends_with("(minimum 3 datapoints for INSUFFICIENT_DATA -> ALARM transition)."),
            "{}",
            premature.reason
        );
    }

    #[test]
    fn each_comparison_operator() {
        // value 2, 3 and 4 against the threshold 3.
        for (name, expected) in [
            ("GreaterThanOrEqualToThreshold", [false, true, true]),
            ("GreaterThanThreshold", [false, false, true]),
            ("LessThanThreshold", [true, false, false]),
            ("LessThanOrEqualToThreshold", [true, true, false]),
        ] {
            let comparison = Comparison::parse(name).unwrap();
            assert_eq!(comparison.as_str(), name);
            let got = [2.0, 3.0, 4.0].map(|v| comparison.breaches(v, 3.0));
            assert_eq!(got, expected, "{name}");
        }
        let mut less = spec(1, 1, TreatMissing::Missing);
        less.comparison = Comparison::LessThanOrEqualToThreshold;
        let decision = evaluate(&less, &points(&[Some(3.0)]), State::Ok, T_18_06_100);
        assert_eq!(
            decision.reason,
            "Threshold Crossed: 1 out of the last 1 datapoints [3.0 (04/12/26 18:05:00)] was less \
             than or equal to the threshold (3.0) (minimum 1 datapoint for OK -> ALARM \
             transition)."
        );
    }

    #[test]
    fn names_parse_and_print_as_the_api_writes_them() {
        for state in [State::Ok, State::Alarm, State::InsufficientData] {
            assert_eq!(State::parse(state.as_str()), Ok(state));
        }
        assert_eq!(State::Alarm.as_str(), "ALARM");
        assert_eq!(State::InsufficientData.as_str(), "INSUFFICIENT_DATA");
        assert!(
            State::parse("ok")
                .unwrap_err()
                .contains("\"ok\" is not an alarm state")
        );
        for treat in COLUMNS {
            assert_eq!(TreatMissing::parse(treat.as_str()), Ok(treat));
        }
        assert_eq!(
            TreatMissing::parse("notBreaching"),
            Ok(TreatMissing::NotBreaching)
        );
        assert_eq!(TreatMissing::default(), TreatMissing::Missing);
        assert!(
            TreatMissing::parse("NotBreaching")
                .unwrap_err()
                .contains("not a TreatMissingData")
        );
        for band in [
            "LessThanLowerOrGreaterThanUpperThreshold",
            "LessThanLowerThreshold",
            "GreaterThanUpperThreshold",
        ] {
            let error = Comparison::parse(band).unwrap_err();
            assert!(error.contains("anomaly detection band"), "{error}");
        }
        assert!(
            Comparison::parse(">=")
                .unwrap_err()
                .contains("not a comparison operator")
        );
    }

    #[test]
    fn the_spec_check_names_the_broken_rule() {
        assert_eq!(errors_alarm().check(), Ok(()));
        let mut drift = errors_alarm();
        drift.period_s = 21_600;
        assert_eq!(drift.check(), Ok(()), "6 h periods are allowed");
        type Change = fn(&mut AlarmSpec);
        let cases: [(Change, &str); 8] = [
            (
                |s| s.evaluation_periods = 0,
                "EvaluationPeriods must be at least 1",
            ),
            (
                |s| s.datapoints_to_alarm = 2,
                "DatapointsToAlarm (2) must be 1 to EvaluationPeriods (1)",
            ),
            (|s| s.datapoints_to_alarm = 0, "DatapointsToAlarm (0)"),
            (
                |s| s.period_s = 45,
                "Period (45) must be 10, 20, 30 or a multiple of 60",
            ),
            (|s| s.period_s = 0, "Period (0)"),
            (
                |s| {
                    s.period_s = 60;
                    s.evaluation_periods = 1441;
                    s.datapoints_to_alarm = 1;
                },
                "must not exceed 86400 seconds",
            ),
            (|s| s.threshold = f64::NAN, "Threshold must be a number"),
            (|s| s.name.clear(), "no name"),
        ];
        for (change, says) in cases {
            let mut spec = errors_alarm();
            change(&mut spec);
            let error = spec.check().unwrap_err();
            assert!(error.contains(says), "{error}");
        }
    }

    #[test]
    fn numbers_print_as_java_prints_them() {
        for (v, text) in [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (0.0, "0.0"),
            (-2.0, "-2.0"),
            (12_345.0, "12345.0"),
            (100.25, "100.25"),
            (0.001, "0.001"),
            (1e7, "1.0E7"),
            (1.5e-4, "1.5E-4"),
            (-2.5e10, "-2.5E10"),
        ] {
            assert_eq!(java_double(v), text);
        }
    }
}
