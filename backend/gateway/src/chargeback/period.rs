//! Report ranges and statement months, all in UTC. A range is half-open, `[from, to)`: `to=2026-12-01` covers
//! the whole of November 30 and nothing of December 1.

use crate::store::partitions::month_start;
use chrono::{DateTime, NaiveDate, TimeZone, Timelike, Utc};

/// Reads a range bound: a date (`2026-11-01`, its midnight) or an RFC 3339 timestamp. Whether it is a whole hour
/// is checked by the report itself.
pub fn parse_bound(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(midnight(day));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            format!("`{text}` is neither a date (2026-11-01) nor an RFC 3339 time (2026-11-01T08:00:00Z)")
        })
}

/// The default range: from the first of the current month to the end of the current hour, so the hour in
/// progress is included.
pub fn default_range(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let from = midnight(month_start(now.date_naive(), 0));
    let hour = now
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now);
    (from, hour + chrono::Duration::hours(1))
}

/// A statement month, `YYYY-MM`; returns its first day.
pub fn parse_month(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d")
        .ok()
        .filter(|_| text.trim().len() == 7)
        .ok_or_else(|| format!("`{text}` is not a month such as 2026-10"))
}

/// A month is closed once the next one has begun (UTC): only then can its statement no longer change, except
/// for late events replayed from a gateway's spool.
pub fn is_closed(month: NaiveDate, now: DateTime<Utc>) -> bool {
    month_start(month, 1) <= now.date_naive()
}

/// `[first of the month, first of the next)`.
pub fn month_range(month: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        midnight(month_start(month, 0)),
        midnight(month_start(month, 1)),
    )
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        parse_bound(text).unwrap_or_default()
    }

    #[test]
    fn dates_are_utc_midnights_and_times_keep_their_instant() {
        assert_eq!(at("2026-11-01").to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(
            at("2026-11-01T10:00:00+02:00").to_rfc3339(),
            "2026-11-01T08:00:00+00:00"
        );
        assert!(parse_bound("yesterday").is_err());
    }

    #[test]
    fn the_default_range_runs_from_the_first_of_the_month_through_the_current_hour() {
        let (from, to) = default_range(at("2026-11-30T08:15:00Z"));
        assert_eq!(from, at("2026-11-01"));
        assert_eq!(to, at("2026-11-30T09:00:00Z"));
    }

    #[test]
    fn a_month_is_closed_once_the_next_has_begun() {
        let october = parse_month("2026-10").unwrap_or_default();
        assert!(is_closed(october, at("2026-11-01T00:00:00Z")));
        assert!(!is_closed(october, at("2026-10-31T23:59:59Z")));
        assert!(parse_month("2026-13").is_err());
        assert!(parse_month("2026-1").is_err());
        assert_eq!(month_range(october), (at("2026-10-01"), at("2026-11-01")));
    }
}
