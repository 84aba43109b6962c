//! Times and durations on the command line, one way for every command:
//! `6h`, `90m`, `3600s`, `2d`, `1h30m` ([`parse_duration`]); a moment as
//! RFC 3339 (`2026-11-29T10:00:00Z`), a date (`2026-11-29`, midnight UTC),
//! `now`, or a duration ago (`6h`) ([`parse_time`]). Pure: the current time
//! is always passed in.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiff::{Span, SpanRelativeTo, Timestamp, Unit};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Parses `6h`, `90m`, `3600s`, `2d`, `1h30m` (units `d`, `h`, `m`, `s`,
/// each at most once, largest first; a day is 24 hours). `jiff` reads the
/// span; only the compact spelling is let through to it (no spaces, signs,
/// fractions or unit words), so that one spelling means one thing.
///
/// # Errors
/// Not such a duration: one line saying what is expected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let expected = || {
        format!(
            "{text:?} is not a duration: expected a number and a unit, e.g. 6h, 90m, 3600s, 2d \
             or 1h30m"
        )
    };
    let compact = text.trim();
    let spelled = !compact.is_empty()
        && compact.starts_with(|c: char| c.is_ascii_digit())
        && compact.ends_with(['d', 'h', 'm', 's'])
        && compact
            .chars()
            .all(|c| c.is_ascii_digit() || "dhms".contains(c));
    if !spelled {
        return Err(expected());
    }
    let span: Span = compact.parse().map_err(|_| expected())?;
    let seconds = span
        .total((Unit::Second, SpanRelativeTo::days_are_24_hours()))
        .map_err(|_| expected())?;
    // Whole units only: the total is an integer number of seconds.
    Ok(Duration::from_secs(seconds as u64))
}

/// Parses a moment: RFC 3339 (`2026-11-29T10:00:00Z`, offsets allowed), a
/// date (`2026-11-29`: midnight UTC), `now`, or a duration ago (`6h`: six
/// hours before `now_ms`). Milliseconds since the epoch.
///
/// # Errors
/// None of those: one line with the accepted forms.
pub fn parse_time(text: &str, now_ms: i64) -> Result<i64, String> {
    let text = text.trim();
    if text == "now" {
        return Ok(now_ms);
    }
    if let Ok(ago) = parse_duration(text) {
        let ago = i64::try_from(ago.as_millis()).unwrap_or(i64::MAX);
        return Ok(now_ms.saturating_sub(ago));
    }
    let moment = match text.parse::<jiff::civil::Date>() {
        Ok(date) if text.len() == 10 => date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|midnight| midnight.timestamp()),
        _ => text.parse::<Timestamp>(),
    };
    moment.map(|t| t.as_millisecond()).map_err(|_| {
        format!(
            "{text:?} is not a time: expected RFC 3339 (2026-11-29T10:00:00Z), a date \
             (2026-11-29, midnight UTC), `now`, or a duration ago (6h)"
        )
    })
}

/// `2026-11-29T10:00:00Z` (UTC, to the second).
pub fn format_time(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| format!("{ms} ms"))
}

/// `20261129T100000Z`: a time in a name (replay names allow no `:`).
pub fn compact_time(ms: i64) -> String {
    format_time(ms).replace(['-', ':'], "")
}

/// `3d4h`, `5m12s`, `42s`.
pub fn format_age(age: Duration) -> String {
    let s = age.as_secs();
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// The age of something that happened at `then_ms`, at `now_ms` (zero if in
/// the future).
pub fn age(then_ms: i64, now_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(now_ms.saturating_sub(then_ms)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit_and_combined() {
        for (text, secs) in [
            ("6h", 21_600),
            ("90m", 5_400),
            ("3600s", 3_600),
            ("2d", 172_800),
            ("1h30m", 5_400),
            ("1d2h3m4s", 93_784),
            ("0s", 0),
            (" 15m ", 900),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_durations_are_one_line_with_examples() {
        for text in [
            "",
            "6",
            "h",
            "6x",
            "-6h",
            "1.5h",
            "30m1h",
            "1h1h",
            "6 h",
            "99999999999999999999s",
        ] {
            let error = parse_duration(text).unwrap_err();
            assert!(error.contains("e.g. 6h, 90m, 3600s"), "{text}: {error}");
            assert!(!error.contains('\n'));
        }
    }

    const NOW: i64 = 1_796_000_000_000; // 2026-11-30T…

    #[test]
    fn times_in_every_form() {
        assert_eq!(
            parse_time("2026-11-29T10:00:00Z", NOW),
            Ok(1_795_946_400_000)
        );
        assert_eq!(
            parse_time("2026-11-29T11:00:00+01:00", NOW),
            Ok(1_795_946_400_000)
        );
        assert_eq!(
            parse_time("2026-11-29T09:30:00-00:30", NOW),
            Ok(1_795_946_400_000)
        );
        assert_eq!(parse_time("2026-11-29", NOW), Ok(1_795_910_400_000));
        assert_eq!(parse_time("now", NOW), Ok(NOW));
        assert_eq!(parse_time("6h", NOW), Ok(NOW - 21_600_000));
        let error = parse_time("yesterday", NOW).unwrap_err();
        assert!(
            error.contains("RFC 3339") && error.contains("6h"),
            "{error}"
        );
        assert!(parse_time("2026-13-45", NOW).is_err());
    }

    #[test]
    fn times_print_as_rfc3339_and_compact() {
        assert_eq!(format_time(1_795_946_400_123), "2026-11-29T10:00:00Z");
        assert_eq!(compact_time(1_795_946_400_000), "20261129T100000Z");
        assert_eq!(
            parse_time(&format_time(1_795_946_400_000), NOW),
            Ok(1_795_946_400_000)
        );
    }

    #[test]
    fn ages_are_short() {
        assert_eq!(format_age(Duration::from_secs(42)), "42s");
        assert_eq!(format_age(Duration::from_secs(312)), "5m12s");
        assert_eq!(format_age(Duration::from_secs(3 * 3600 + 120)), "3h2m");
        assert_eq!(
            format_age(Duration::from_secs(3 * 86_400 + 4 * 3600 + 5)),
            "3d4h"
        );
        assert_eq!(age(2_000, 1_000), Duration::ZERO);
        assert_eq!(age(1_000, 61_000), Duration::from_secs(60));
    }
}
