//! EventBridge schedule expressions, `rate(...)` and six-field `cron(...)`,
//! and when a rule with one fires next (UTC), as documented on
//! <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html>
//! (formerly `eb-create-rule-schedule.html`):
//!
//! - `rate(value unit)`: a positive whole value; units `minute`, `minutes`,
//!   `hour`, `hours`, `day`, `days`; a value of 1 takes the singular unit,
//!   a larger value the plural (`rate(1 hours)` and `rate(5 hour)` are
//!   refused, as the page says).
//! - `cron(Minutes Hours Day-of-month Month Day-of-week Year)`: `, - * /`
//!   everywhere, month names `JAN`–`DEC`, day names `SUN`–`SAT` (1 = Sunday:
//!   "3#2 would be the second Tuesday … the 3 refers to Tuesday"), years
//!   1970–2199, `?` in exactly one of the two day fields, `L` and `nW` in
//!   Day-of-month, `L`, `nL` and `n#m` in Day-of-week (one `#` expression
//!   only, as the page's note says). Ranges may wrap (`20-2` in Hours: the
//!   page's own example). Undocumented forms (`LW`, `L-3`, `L` or `W` inside
//!   a list) are refused with an error naming them.
//!
//! What the page leaves open, decided here and kept in one place each:
//! - the first fire of a `rate` rule: "A rate expression starts when you
//!   create the scheduled event rule" does not say whether it fires at
//!   creation or one period later; [`Schedule::next_after`] fires at
//!   `created + period`, then every period ([`rate_next`]).
//! - `nW` never leaves the month (the 1st on a Saturday → Monday the 3rd;
//!   the last day on a Sunday → the Friday before): the Quartz scheduler's
//!   rule, whose syntax EventBridge's cron borrows; the page says only "the
//!   weekday closest to the third day of the month".
//! - names are accepted in any case (`mon-fri` as `MON-FRI`).
//!
//! Pure: the current time is always passed in.

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// `rate(value unit)`: every `period_ms`, counted from the rule's creation.
    Rate {
        /// The period, in milliseconds.
        period_ms: i64,
    },
    /// `cron(...)`: at the minutes the six fields allow, UTC.
    Cron(Cron),
}

/// The six fields of a `cron(...)` expression, each as the set of values it allows.
#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    minutes: Set,
    hours: Set,
    days: Days,
    months: Set,
    years: Set,
}

/// Which days of a month fire: one of the two day fields holds `?`.
#[derive(Debug, Clone, PartialEq)]
enum Days {
    OfMonth(MonthDays),
    OfWeek(WeekDays),
}

#[derive(Debug, Clone, PartialEq)]
enum MonthDays {
    Listed(Set),
    /// `L`: the month's last day.
    Last,
    /// `nW`: the weekday nearest day `n`, within the month.
    NearestWeekday(u32),
}

#[derive(Debug, Clone, PartialEq)]
enum WeekDays {
    Listed(Set),
    /// `nL`: the last weekday `n` (1 = Sunday) of the month.
    Last(u32),
    /// `n#m`: the `m`-th weekday `n` of the month.
    Nth {
        weekday: u32,
        nth: u32,
    },
}

/// The values a field allows: `allowed[v - first]`.
#[derive(Debug, Clone, PartialEq)]
struct Set {
    first: u32,
    allowed: Vec<bool>,
}

/// A cron field: its name in errors, its bounds, its names (index 0 = `min`).
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTES: Field = Field {
    name: "Minutes",
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Field = Field {
    name: "Hours",
    min: 0,
    max: 23,
    names: &[],
};
const DAYS_OF_MONTH: Field = Field {
    name: "Day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Field = Field {
    name: "Month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
const DAYS_OF_WEEK: Field = Field {
    name: "Day-of-week",
    min: 1,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};
const YEARS: Field = Field {
    name: "Year",
    min: 1970,
    max: 2199,
    names: &[],
};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Parses `rate(...)` or `cron(...)`.
///
/// # Errors
/// Anything else, or a field out of its documented range: one line naming
/// the expression and what is wrong in it.
pub fn parse(expr: &str) -> Result<Schedule, String> {
    let text = expr.trim();
    if let Some(inner) = inside(text, "rate(") {
        return parse_rate(inner).map_err(|why| {
            format!(
                "{text:?} is not a valid rate expression: {why} (e.g. rate(1 minute), \
                 rate(6 hours), rate(2 days))"
            )
        });
    }
    if let Some(inner) = inside(text, "cron(") {
        return parse_cron(inner)
            .map(Schedule::Cron)
            .map_err(|why| format!("{text:?} is not a valid cron expression: {why}"));
    }
    Err(format!(
        "{text:?} is not a schedule expression: expected rate(value unit) or cron(Minutes Hours \
         Day-of-month Month Day-of-week Year)"
    ))
}

fn inside<'a>(text: &'a str, head: &str) -> Option<&'a str> {
    text.strip_prefix(head)?.strip_suffix(')')
}

fn parse_rate(inner: &str) -> Result<Schedule, String> {
    let words: Vec<&str> = inner.split_whitespace().collect();
    let [value, unit] = words[..] else {
        return Err("it needs two fields, a value and a unit".into());
    };
    let value: i64 = value
        .parse()
        .ok()
        .filter(|v| *v > 0 && value.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("the value {value:?} is not a positive whole number"))?;
    let (singular, unit_ms) = match unit {
        "minute" => (true, MINUTE_MS),
        "minutes" => (false, MINUTE_MS),
        "hour" => (true, HOUR_MS),
        "hours" => (false, HOUR_MS),
        "day" => (true, DAY_MS),
        "days" => (false, DAY_MS),
        _ => {
            return Err(format!(
                "the unit {unit:?} is not one of minute, minutes, hour, hours, day, days"
            ));
        }
    };
    if singular != (value == 1) {
        return Err(if value == 1 {
            format!("a value of 1 takes a singular unit, not {unit:?}")
        } else {
            format!("a value over 1 takes a plural unit, not {unit:?}")
        });
    }
    let period_ms = value
        .checked_mul(unit_ms)
        .ok_or_else(|| format!("the value {value} is too large"))?;
    Ok(Schedule::Rate { period_ms })
}

fn parse_cron(inner: &str) -> Result<Cron, String> {
    let fields: Vec<&str> = inner.split_whitespace().collect();
    let [minutes, hours, day_of_month, month, day_of_week, year] = fields[..] else {
        return Err(format!(
            "it has {} fields; a cron expression has six: Minutes Hours Day-of-month Month \
             Day-of-week Year",
            fields.len()
        ));
    };
    let days = match (day_of_month, day_of_week) {
        ("?", "?") => {
            return Err("only one of Day-of-month and Day-of-week may be ?".into());
        }
        (dom, "?") => Days::OfMonth(parse_month_days(dom)?),
        ("?", dow) => Days::OfWeek(parse_week_days(dow)?),
        _ => {
            return Err(
                "Day-of-month and Day-of-week can't both be given: use ? in one of them".into(),
            );
        }
    };
    Ok(Cron {
        minutes: Set::parse(minutes, &MINUTES)?,
        hours: Set::parse(hours, &HOURS)?,
        days,
        months: Set::parse(month, &MONTHS)?,
        years: Set::parse(year, &YEARS)?,
    })
}

fn parse_month_days(text: &str) -> Result<MonthDays, String> {
    if text == "L" {
        return Ok(MonthDays::Last);
    }
    if let Some(day) = text
        .strip_suffix('W')
        .filter(|day| !day.is_empty() && day.bytes().all(|b| b.is_ascii_digit()))
    {
        return DAYS_OF_MONTH.value(day).map(MonthDays::NearestWeekday);
    }
    if text.contains(['L', 'W']) {
        return Err(format!(
            "Day-of-month {text:?}: L and W are supported as the documented L and nW (e.g. 3W), \
             alone in the field"
        ));
    }
    Set::parse(text, &DAYS_OF_MONTH).map(MonthDays::Listed)
}

fn parse_week_days(text: &str) -> Result<WeekDays, String> {
    if text == "L" {
        // "the last day of the … week": Saturday.
        return Set::parse("7", &DAYS_OF_WEEK).map(WeekDays::Listed);
    }
    if let Some((weekday, nth)) = text.split_once('#') {
        if text.contains(',') {
            return Err(format!(
                "Day-of-week {text:?}: with #, the field holds one expression only (3#1,6#3 is \
                 not valid)"
            ));
        }
        let nth = match nth.parse::<u32>() {
            Ok(n @ 1..=5) => n,
            _ => return Err(format!("Day-of-week {text:?}: after # comes 1 to 5")),
        };
        let weekday = DAYS_OF_WEEK.value(weekday)?;
        return Ok(WeekDays::Nth { weekday, nth });
    }
    if let Some(weekday) = text.strip_suffix('L') {
        return Ok(WeekDays::Last(DAYS_OF_WEEK.value(weekday)?));
    }
    Set::parse(text, &DAYS_OF_WEEK).map(WeekDays::Listed)
}

impl Field {
    /// One value: a number in range or a name.
    fn value(&self, text: &str) -> Result<u32, String> {
        let upper = text.to_ascii_uppercase();
        if let Some(i) = self.names.iter().position(|n| *n == upper) {
            return u32::try_from(i)
                .map(|i| self.min + i)
                .map_err(|_| format!("{} {text:?} is out of range", self.name));
        }
        match text.parse::<u32>() {
            Ok(v)
                if (self.min..=self.max).contains(&v)
                    && text.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Ok(v)
            }
            _ => {
                let names = match (self.names.first(), self.names.last()) {
                    (Some(first), Some(last)) => format!(" or {first}-{last}"),
                    _ => String::new(),
                };
                Err(format!(
                    "{} value {text:?} is not {}-{}{names}",
                    self.name, self.min, self.max
                ))
            }
        }
    }
}

impl Set {
    /// A comma-separated list of `*`, `v`, `a-b` (wrapping when `a > b`),
    /// each with an optional `/step` (`v/step` runs to the field's end).
    fn parse(text: &str, field: &Field) -> Result<Set, String> {
        let span = field.max - field.min + 1;
        let mut allowed = vec![false; span as usize];
        for item in text.split(',') {
            let (base, step) = match item.split_once('/') {
                Some((base, step)) => match step.parse::<u32>() {
                    Ok(s) if s > 0 => (base, Some(s)),
                    _ => {
                        return Err(format!(
                            "{} {item:?}: the step after / must be a positive number",
                            field.name
                        ));
                    }
                },
                None => (item, None),
            };
            let (from, to) = match base.split_once('-') {
                _ if base == "*" => (field.min, field.max),
                Some((a, b)) => (field.value(a)?, field.value(b)?),
                None => {
                    let v = field.value(base)?;
                    (v, if step.is_some() { field.max } else { v })
                }
            };
            let count = if to >= from {
                to - from
            } else {
                to + span - from
            };
            for k in (0..=count).step_by(step.unwrap_or(1) as usize) {
                allowed[((from - field.min + k) % span) as usize] = true;
            }
        }
        Ok(Set {
            first: field.min,
            allowed,
        })
    }

    fn contains(&self, value: i64) -> bool {
        value
            .checked_sub(i64::from(self.first))
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.allowed.get(i).copied())
            .unwrap_or(false)
    }

    /// The smallest allowed value above `value`, if any.
    fn next_above(&self, value: i64) -> Option<i64> {
        ((value + 1)..=i64::from(self.first) + self.allowed.len() as i64)
            .find(|v| self.contains(*v))
    }
}

impl Schedule {
    /// The first fire strictly after `now_ms` of a rule created at
    /// `created_ms` (both epoch ms, UTC). `None` when a cron expression never
    /// fires again (`cron(0 0 30 FEB ? *)`, or its years are over).
    pub fn next_after(&self, now_ms: i64, created_ms: i64) -> Option<i64> {
        match self {
            Schedule::Rate { period_ms } => Some(rate_next(*period_ms, now_ms, created_ms)),
            Schedule::Cron(cron) => cron.next_after(now_ms.max(created_ms)),
        }
    }
}

/// THE choice for `rate`: fires at `created + k·period`, `k ≥ 1` (one period
/// after creation first; the docs leave it open).
fn rate_next(period_ms: i64, now_ms: i64, created_ms: i64) -> i64 {
    let first = created_ms.saturating_add(period_ms);
    if now_ms < first {
        return first;
    }
    let k = (now_ms - created_ms) / period_ms + 1;
    created_ms.saturating_add(k.saturating_mul(period_ms))
}

impl Cron {
    /// The first minute strictly after `from_ms` that every field allows.
    fn next_after(&self, from_ms: i64) -> Option<i64> {
        let mut t = (from_ms.div_euclid(MINUTE_MS) + 1) * MINUTE_MS;
        loop {
            let u = utc(t);
            if !self.years.contains(u.year) {
                let year = self.years.next_above(u.year)?;
                t = days_from_civil(year, 1, 1) * DAY_MS;
            } else if !self.months.contains(i64::from(u.month)) {
                t = match self.months.next_above(i64::from(u.month)) {
                    Some(month) => days_from_civil(u.year, month as u32, 1) * DAY_MS,
                    None => days_from_civil(u.year + 1, 1, 1) * DAY_MS,
                };
            } else if !self.days.allow(u.year, u.month, u.day) {
                t = (t.div_euclid(DAY_MS) + 1) * DAY_MS;
            } else if !self.hours.contains(i64::from(u.hour)) {
                t = (t.div_euclid(HOUR_MS) + 1) * HOUR_MS;
            } else if !self.minutes.contains(i64::from(u.minute)) {
                t += MINUTE_MS;
            } else {
                return Some(t);
            }
        }
    }
}

impl Days {
    fn allow(&self, year: i64, month: u32, day: u32) -> bool {
        let last = days_in_month(year, month);
        match self {
            Days::OfMonth(MonthDays::Listed(set)) => set.contains(i64::from(day)),
            Days::OfMonth(MonthDays::Last) => day == last,
            Days::OfMonth(MonthDays::NearestWeekday(n)) => {
                *n <= last && day == nearest_weekday(year, month, *n, last)
            }
            Days::OfWeek(week) => {
                let weekday = weekday(year, month, day);
                match week {
                    WeekDays::Listed(set) => set.contains(i64::from(weekday)),
                    WeekDays::Last(w) => weekday == *w && day + 7 > last,
                    WeekDays::Nth { weekday: w, nth } => weekday == *w && (day - 1) / 7 + 1 == *nth,
                }
            }
        }
    }
}

/// The weekday nearest day `n` of the month, without leaving the month.
fn nearest_weekday(year: i64, month: u32, n: u32, last: u32) -> u32 {
    match weekday(year, month, n) {
        7 if n == 1 => 3,        // Saturday the 1st → Monday the 3rd
        7 => n - 1,              // Saturday → Friday
        1 if n == last => n - 2, // Sunday the last → Friday
        1 => n + 1,              // Sunday → Monday
        _ => n,
    }
}

/// A moment in UTC, split into its calendar fields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Utc {
    pub(super) year: i64,
    pub(super) month: u32,
    pub(super) day: u32,
    pub(super) hour: u32,
    pub(super) minute: u32,
    pub(super) second: u32,
    pub(super) milli: u32,
}

/// Splits epoch milliseconds into UTC calendar fields.
pub(super) fn utc(ms: i64) -> Utc {
    let days = ms.div_euclid(DAY_MS);
    let of_day = ms.rem_euclid(DAY_MS);
    let (year, month, day) = civil_from_days(days);
    // Each part is below 86 400 000, so the casts cannot truncate.
    Utc {
        year,
        month,
        day,
        hour: (of_day / HOUR_MS) as u32,
        minute: (of_day % HOUR_MS / MINUTE_MS) as u32,
        second: (of_day % MINUTE_MS / 1000) as u32,
        milli: (of_day % 1000) as u32,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// 1 = Sunday … 7 = Saturday, EventBridge's numbering (1970-01-01 was a Thursday).
fn weekday(year: i64, month: u32, day: u32) -> u32 {
    (days_from_civil(year, month, day) + 4).rem_euclid(7) as u32 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected instants were computed with `date -u -d <time> +%s%3N`, not by
    // this module.
    const FRI_2026_12_04_1805: i64 = 1_796_407_500_000;

    /// "YYYY-MM-DDTHH:MM" as epoch ms, by a naive model independent of the
    /// module's calendar: whole years and months counted one by one.
    fn at(text: &str) -> i64 {
        let (date, time) = text.split_once('T').unwrap();
        let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
        let t: Vec<i64> = time.split(':').map(|p| p.parse().unwrap()).collect();
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let mut days = 0;
        for y in 1970..d[0] {
            days += if leap(y) { 366 } else { 365 };
        }
        for y in d[0]..1970 {
            days -= if leap(y) { 366 } else { 365 };
        }
        let lengths = [
            31,
            if leap(d[0]) { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        days += lengths[..(d[1] - 1) as usize].iter().sum::<i64>() + d[2] - 1;
        ((days * 24 + t[0]) * 60 + t[1]) * 60_000
    }

    #[test]
    fn the_calendar_agrees_with_date() {
        // The tests' model against `date`, then the module against both.
        for (text, ms) in [
            ("1970-01-01T00:00", 0),
            ("2026-12-04T18:05", FRI_2026_12_04_1805),
            ("2024-12-04T18:00", 1_733_335_200_000),
            ("2024-02-29T00:00", 1_709_164_800_000),
            ("2026-01-01T00:00", 1_767_225_600_000),
            ("1969-12-31T23:59", -60_000),
        ] {
            assert_eq!(at(text), ms, "{text}");
            let u = utc(ms);
            assert_eq!(
                format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}",
                    u.year, u.month, u.day, u.hour, u.minute
                ),
                text
            );
        }
        let u = utc(1_796_407_560_100);
        assert_eq!(
            (u.year, u.month, u.day, u.hour, u.minute, u.second, u.milli),
            (2026, 12, 4, 18, 6, 0, 100)
        );
        // 2026-12-04 is a Friday, 2024-02-29 a Thursday, 1970-01-01 a Thursday.
        assert_eq!(weekday(2026, 12, 4), 6);
        assert_eq!(weekday(2024, 2, 29), 5);
        assert_eq!(weekday(1970, 1, 1), 5);
    }

    // The rate rules and examples of
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html
    #[test]
    fn rates_take_a_positive_value_and_a_unit_of_the_right_number() {
        for (expr, period_ms) in [
            ("rate(1 minute)", 60_000),
            ("rate(5 minutes)", 300_000),
            ("rate(1 hour)", 3_600_000),
            ("rate(6 hours)", 21_600_000),
            ("rate(1 day)", 86_400_000),
            ("rate(2 days)", 172_800_000),
        ] {
            assert_eq!(parse(expr), Ok(Schedule::Rate { period_ms }), "{expr}");
        }
        for (expr, says) in [
            ("rate(1 hours)", "a value of 1 takes a singular unit"),
            ("rate(5 hour)", "a value over 1 takes a plural unit"),
            ("rate(0 minutes)", "not a positive whole number"),
            ("rate(-5 minutes)", "not a positive whole number"),
            ("rate(1.5 hours)", "not a positive whole number"),
            ("rate(2 weeks)", "is not one of minute, minutes"),
            ("rate(5)", "two fields"),
            ("rate(5 minutes", "not a schedule expression"),
            ("every 5 minutes", "not a schedule expression"),
        ] {
            let error = parse(expr).unwrap_err();
            assert!(error.contains(says), "{expr}: {error}");
        }
    }

    #[test]
    fn a_rate_fires_one_period_after_creation_then_every_period() {
        let six_hours = parse("rate(6 hours)").unwrap();
        let created = at("2026-12-04T18:05");
        assert_eq!(
            six_hours.next_after(created, created),
            Some(at("2026-12-05T00:05"))
        );
        assert_eq!(
            six_hours.next_after(at("2026-12-05T00:05"), created),
            Some(at("2026-12-05T06:05")),
            "strictly after now"
        );
        assert_eq!(
            six_hours.next_after(at("2026-12-07T01:00"), created),
            Some(at("2026-12-07T06:05"))
        );
        assert_eq!(
            six_hours.next_after(at("2026-12-01T00:00"), created),
            Some(at("2026-12-05T00:05")),
            "nothing before the rule exists"
        );
    }

    /// Each `(expression, now, next)`: the expression's next fire after now.
    fn fires(cases: &[(&str, &str, &str)]) {
        for (expr, now, next) in cases {
            let schedule = parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
            assert_eq!(
                schedule.next_after(at(now), 0),
                Some(at(next)),
                "{expr} after {now}"
            );
        }
    }

    // The example table and commands of the EventBridge page (URL above).
    #[test]
    fn the_documented_cron_examples_fire_when_the_page_says() {
        // 2026-12-04 is a Friday; 2026-12-05 a Saturday; 2026-12-07 a Monday.
        fires(&[
            // "Run at 10:00 am (UTC+0) every day"
            ("cron(0 10 * * ? *)", "2026-12-04T18:05", "2026-12-05T10:00"),
            ("cron(0 10 * * ? *)", "2026-12-05T09:59", "2026-12-05T10:00"),
            // "Run at 12:15 pm (UTC+0) every day"
            (
                "cron(15 12 * * ? *)",
                "2026-12-04T12:15",
                "2026-12-05T12:15",
            ),
            // "Run at 6:00 pm (UTC+0) every Monday through Friday"
            (
                "cron(0 18 ? * MON-FRI *)",
                "2026-12-04T18:05",
                "2026-12-07T18:00",
            ),
            (
                "cron(0 18 ? * MON-FRI *)",
                "2026-12-04T17:00",
                "2026-12-04T18:00",
            ),
            // "Run at 8:00 am (UTC+0) every 1st day of the month"
            ("cron(0 8 1 * ? *)", "2026-12-04T18:05", "2027-01-01T08:00"),
            // "Run every 15 minutes"
            (
                "cron(0/15 * * * ? *)",
                "2026-12-04T18:05",
                "2026-12-04T18:15",
            ),
            (
                "cron(0/15 * * * ? *)",
                "2026-12-04T23:50",
                "2026-12-05T00:00",
            ),
            // "Run every 10 minutes Monday through Friday"
            (
                "cron(0/10 * ? * MON-FRI *)",
                "2026-12-04T23:55",
                "2026-12-07T00:00",
            ),
            // "Run every 5 minutes Monday through Friday between 8:00 am and 5:55 pm"
            (
                "cron(0/5 8-17 ? * MON-FRI *)",
                "2026-12-04T17:55",
                "2026-12-07T08:00",
            ),
            (
                "cron(0/5 8-17 ? * MON-FRI *)",
                "2026-12-04T17:52",
                "2026-12-04T17:55",
            ),
            // Hours 20-2 wraps past midnight (the table's words say 10:00 pm,
            // its field says 20: the field is what is evaluated).
            (
                "cron(0/30 20-2 ? * MON-FRI *)",
                "2026-12-04T19:00",
                "2026-12-04T20:00",
            ),
            (
                "cron(0/30 20-2 ? * MON-FRI *)",
                "2026-12-07T02:30",
                "2026-12-07T20:00",
            ),
            (
                "cron(0/30 20-2 ? * MON-FRI *)",
                "2026-12-07T23:30",
                "2026-12-08T00:00",
            ),
            // "runs every day at 12:00pm UTC+0"
            ("cron(0 12 * * ? *)", "2026-12-04T12:00", "2026-12-05T12:00"),
            // "every day, at 2:05pm and 2:35pm UTC+0"
            (
                "cron(5,35 14 * * ? *)",
                "2026-12-04T14:05",
                "2026-12-04T14:35",
            ),
            // "10:15am UTC+0 on the last Friday of each month during the years
            // 2019 to 2022": the last Friday of December 2022 is the 30th.
            (
                "cron(15 10 ? * 6L 2019-2022)",
                "2022-12-01T00:00",
                "2022-12-30T10:15",
            ),
            (
                "cron(15 10 ? * 6L 2019-2022)",
                "2018-06-01T00:00",
                "2019-01-25T10:15",
            ),
        ]);
        let over = parse("cron(15 10 ? * 6L 2019-2022)").unwrap();
        assert_eq!(
            over.next_after(at("2022-12-30T10:15"), 0),
            None,
            "years over"
        );
    }

    // The wildcard descriptions of the same page.
    #[test]
    fn the_documented_wildcards() {
        fires(&[
            // "1/10 … every tenth minute, starting from the first minute of the
            // hour (for example, the 11th, 21st, and 31st minute …)"
            (
                "cron(1/10 * * * ? *)",
                "2026-12-04T18:05",
                "2026-12-04T18:11",
            ),
            (
                "cron(1/10 * * * ? *)",
                "2026-12-04T18:51",
                "2026-12-04T19:01",
            ),
            // "JAN,FEB,MAR includes January, February, and March"
            (
                "cron(0 0 1 JAN,FEB,MAR ? *)",
                "2026-12-04T18:05",
                "2027-01-01T00:00",
            ),
            (
                "cron(0 0 1 JAN,FEB,MAR ? *)",
                "2027-03-01T00:00",
                "2028-01-01T00:00",
            ),
            // "1-15 includes days 1 through 15"
            (
                "cron(0 0 1-15 * ? *)",
                "2026-12-15T00:00",
                "2027-01-01T00:00",
            ),
            // "L … the last day of the month": February 2028 has 29 days.
            ("cron(0 0 L * ? *)", "2028-02-01T00:00", "2028-02-29T00:00"),
            ("cron(0 0 L * ? *)", "2027-02-01T00:00", "2027-02-28T00:00"),
            // "3W specifies the weekday closest to the third day of the month":
            // 2026-01-03 is a Saturday → Friday the 2nd; 2026-05-03 a Sunday
            // → Monday the 4th; 2026-12-03 a Thursday.
            ("cron(0 9 3W * ? *)", "2025-12-31T00:00", "2026-01-02T09:00"),
            ("cron(0 9 3W * ? *)", "2026-04-30T00:00", "2026-05-04T09:00"),
            ("cron(0 9 3W * ? *)", "2026-12-01T00:00", "2026-12-03T09:00"),
            // Quartz's rule (see the module's header): 2026-08-01 is a
            // Saturday → Monday the 3rd, not Friday 31 July.
            ("cron(0 9 1W * ? *)", "2026-07-15T00:00", "2026-08-03T09:00"),
            // "3#2 would be the second Tuesday of the month": 2026-12-08.
            (
                "cron(0 9 ? * 3#2 *)",
                "2026-12-04T18:05",
                "2026-12-08T09:00",
            ),
            (
                "cron(0 9 ? * TUE#2 *)",
                "2026-12-08T09:00",
                "2027-01-12T09:00",
            ),
            // L alone in Day-of-week: the last day of the week, Saturday.
            ("cron(0 9 ? * L *)", "2026-12-04T18:05", "2026-12-05T09:00"),
            // Day names in any case; 1 = Sunday.
            (
                "cron(0 9 ? * sun *)",
                "2026-12-04T18:05",
                "2026-12-06T09:00",
            ),
            ("cron(0 9 ? * 1 *)", "2026-12-04T18:05", "2026-12-06T09:00"),
            // A step over a range, and a step on the years.
            (
                "cron(10-40/15 * * * ? *)",
                "2026-12-04T18:26",
                "2026-12-04T18:40",
            ),
            (
                "cron(0 0 1 1 ? 2030/5)",
                "2026-12-04T18:05",
                "2030-01-01T00:00",
            ),
            (
                "cron(0 0 1 1 ? 2030/5)",
                "2030-01-01T00:00",
                "2035-01-01T00:00",
            ),
        ]);
    }

    #[test]
    fn a_cron_rule_fires_only_after_its_creation() {
        let daily = parse("cron(0 10 * * ? *)").unwrap();
        assert_eq!(
            daily.next_after(at("2026-12-04T09:00"), at("2026-12-04T10:00") + 30_000),
            Some(at("2026-12-05T10:00"))
        );
    }

    #[test]
    fn a_cron_that_never_fires_gives_none() {
        let never = parse("cron(0 0 30 FEB ? *)").unwrap();
        assert_eq!(never.next_after(at("2026-12-04T18:05"), 0), None);
    }

    #[test]
    fn bad_cron_expressions_say_what_is_wrong() {
        for (expr, says) in [
            ("cron(0 10 * * *)", "has 5 fields"),
            ("cron(0 10 * * * *)", "can't both be given"),
            ("cron(0 10 1 * MON *)", "can't both be given"),
            (
                "cron(0 10 ? * ? *)",
                "only one of Day-of-month and Day-of-week may be ?",
            ),
            ("cron(60 10 * * ? *)", "Minutes value \"60\" is not 0-59"),
            ("cron(0 24 * * ? *)", "Hours value \"24\" is not 0-23"),
            ("cron(0 10 0 * ? *)", "Day-of-month value \"0\" is not 1-31"),
            (
                "cron(0 10 * 13 ? *)",
                "Month value \"13\" is not 1-12 or JAN-DEC",
            ),
            ("cron(0 10 * FOO ? *)", "Month value \"FOO\""),
            (
                "cron(0 10 ? * 8 *)",
                "Day-of-week value \"8\" is not 1-7 or SUN-SAT",
            ),
            (
                "cron(0 10 * * ? 1969)",
                "Year value \"1969\" is not 1970-2199",
            ),
            (
                "cron(0/0 10 * * ? *)",
                "the step after / must be a positive number",
            ),
            (
                "cron(0 10 LW * ? *)",
                "L and W are supported as the documented L and nW",
            ),
            ("cron(0 10 L-3 * ? *)", "L and W are supported"),
            ("cron(0 10 1,L * ? *)", "L and W are supported"),
            ("cron(0 10 ? * 3#1,6#3 *)", "one expression only"),
            ("cron(0 10 ? * 3#6 *)", "after # comes 1 to 5"),
            ("cron(, 10 * * ? *)", "Minutes value \"\""),
        ] {
            let error = parse(expr).unwrap_err();
            assert!(error.contains(says), "{expr}: {error}");
            assert!(error.contains(expr), "names the expression: {error}");
        }
    }
}
