//! When a scheduled meeting starts, ends and can be joined, and how EnableX wants the time.

use super::FieldError;
use chrono::{DateTime, Duration, Timelike, Utc};

/// EnableX opens a scheduled room this long before its start.
pub const JOIN_EARLY_MINUTES: i64 = 15;
/// Longest meeting roomgate accepts, in minutes (one day).
pub const MAX_DURATION_MINUTES: i64 = 1440;

/// The earliest instant roomgate takes or gives: 1970-01-01T00:00:00Z.
pub const MIN_INSTANT: DateTime<Utc> = DateTime::UNIX_EPOCH;
/// The latest instant roomgate takes or gives, derived ones (a meeting's end) included:
/// 9999-12-31T23:59:59Z, the last second RFC 3339's four-digit years can write.
pub const MAX_INSTANT: DateTime<Utc> = match DateTime::from_timestamp(253_402_300_799, 0) {
    Some(t) => t,
    None => DateTime::UNIX_EPOCH,
};

/// A scheduled meeting's time: a start in UTC, whole seconds, and a length in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    starts_at: DateTime<Utc>,
    duration_minutes: u32,
}

impl Schedule {
    /// Checks a requested schedule given as text: `starts_at` RFC 3339 with an explicit offset
    /// (see [`parse_instant`]), then as [`Schedule::new`].
    pub fn parse(
        starts_at: Option<&str>,
        duration_minutes: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let start = starts_at.and_then(|text| {
            parse_instant(text)
                .map_err(|message| errors.push(FieldError::new("starts_at", message)))
                .ok()
        });
        Self::check(starts_at.is_some(), start, duration_minutes, now, errors)
    }

    /// Checks a requested schedule: `starts_at` in the future (after `now`),
    /// `duration_minutes` 1..=1440. Every problem found is reported, each naming its field.
    pub fn new(
        starts_at: Option<DateTime<Utc>>,
        duration_minutes: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Self, Vec<FieldError>> {
        Self::check(
            starts_at.is_some(),
            starts_at,
            duration_minutes,
            now,
            Vec::new(),
        )
    }

    fn check(
        start_given: bool,
        start: Option<DateTime<Utc>>,
        duration_minutes: Option<i64>,
        now: DateTime<Utc>,
        mut errors: Vec<FieldError>,
    ) -> Result<Self, Vec<FieldError>> {
        if !start_given {
            errors.push(FieldError::new(
                "starts_at",
                "is required for a scheduled meeting",
            ));
        }
        let start = match start {
            Some(start) if start <= now => {
                errors.push(FieldError::new("starts_at", "must be in the future"));
                None
            }
            // The end must still be a time roomgate can store and write.
            Some(start)
                if duration_minutes.is_some_and(|m| {
                    (1..=MAX_DURATION_MINUTES).contains(&m)
                        && start + Duration::minutes(m) > MAX_INSTANT
                }) =>
            {
                errors.push(FieldError::new(
                    "starts_at",
                    "with its duration, must end by 9999-12-31T23:59:59Z",
                ));
                None
            }
            other => other,
        };
        let duration = match duration_minutes {
            None => {
                errors.push(FieldError::new(
                    "duration_minutes",
                    "is required for a scheduled meeting",
                ));
                None
            }
            Some(minutes) if !(1..=MAX_DURATION_MINUTES).contains(&minutes) => {
                errors.push(FieldError::new(
                    "duration_minutes",
                    format!("must be between 1 and {MAX_DURATION_MINUTES}"),
                ));
                None
            }
            Some(minutes) => u32::try_from(minutes).ok(),
        };
        match (start, duration) {
            (Some(starts_at), Some(duration_minutes)) if errors.is_empty() => Ok(Self {
                starts_at,
                duration_minutes,
            }),
            _ => Err(errors),
        }
    }

    /// A schedule read back from storage, trusted as it was checked when written.
    pub fn from_stored(starts_at: DateTime<Utc>, duration_minutes: u32) -> Self {
        Self {
            starts_at,
            duration_minutes,
        }
    }

    pub fn starts_at(&self) -> DateTime<Utc> {
        self.starts_at
    }

    pub fn duration_minutes(&self) -> u32 {
        self.duration_minutes
    }

    pub fn ends_at(&self) -> DateTime<Utc> {
        self.starts_at + Duration::minutes(i64::from(self.duration_minutes))
    }

    /// EnableX lets people in from 15 minutes before the start.
    pub fn joinable_from(&self) -> DateTime<Utc> {
        self.starts_at - Duration::minutes(JOIN_EARLY_MINUTES)
    }

    /// The start as EnableX's `scheduled_time`: `YYYY-MM-DD HH:MM:SS` in UTC.
    pub fn enablex_time(&self) -> String {
        self.starts_at.format("%Y-%m-%d %H:%M:%S").to_string()
    }
}

/// Parses an RFC 3339 instant that carries its offset (`Z` or `±hh:mm`) and converts it to UTC.
/// A time without an offset is refused: it would mean a different instant in every time zone.
/// So is a leap second (`23:59:60`), which neither EnableX nor the databases can hold, and an
/// instant outside [`MIN_INSTANT`]..=[`MAX_INSTANT`] in UTC.
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    let shown = || text.chars().take(64).collect::<String>();
    let parsed = DateTime::parse_from_rfc3339(text.trim()).map_err(|_| {
        format!(
            "'{}' is not an RFC 3339 time with an offset, such as 2026-12-01T10:30:00+05:30",
            shown()
        )
    })?;
    if parsed.nanosecond() >= 1_000_000_000 {
        return Err(format!(
            "'{}' is a leap second, which cannot be used",
            shown()
        ));
    }
    let utc = parsed.with_timezone(&Utc);
    if !(MIN_INSTANT..=MAX_INSTANT).contains(&utc) {
        return Err(format!(
            "'{}' is outside 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z",
            shown()
        ));
    }
    // Whole seconds (`duration_trunc` cannot work past 2262, where nanoseconds overflow).
    Ok(utc.with_nanosecond(0).unwrap_or(utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        parse_instant("2026-11-29T00:00:00Z").expect("valid")
    }

    #[test]
    fn an_offset_time_is_converted_to_utc() {
        let s = Schedule::parse(Some("2026-12-01T10:30:00+05:30"), Some(30), now()).expect("ok");
        assert_eq!(s.starts_at().to_rfc3339(), "2026-12-01T05:00:00+00:00");
        assert_eq!(s.enablex_time(), "2026-12-01 05:00:00");
    }

    #[test]
    fn a_negative_offset_can_cross_midnight() {
        let s = Schedule::parse(Some("2026-12-31T22:15:00-03:00"), Some(60), now()).expect("ok");
        assert_eq!(s.enablex_time(), "2027-01-01 01:15:00");
        assert_eq!(s.ends_at().to_rfc3339(), "2027-01-01T02:15:00+00:00");
    }

    #[test]
    fn the_room_opens_fifteen_minutes_early_and_closes_after_the_duration() {
        let s = Schedule::parse(Some("2026-12-01T10:30:00+05:30"), Some(30), now()).expect("ok");
        assert_eq!(s.joinable_from().to_rfc3339(), "2026-12-01T04:45:00+00:00");
        assert_eq!(s.ends_at().to_rfc3339(), "2026-12-01T05:30:00+00:00");
    }

    #[test]
    fn fractional_seconds_are_dropped() {
        let s = Schedule::parse(Some("2026-12-01T05:00:00.987Z"), Some(5), now()).expect("ok");
        assert_eq!(s.enablex_time(), "2026-12-01 05:00:00");
    }

    #[test]
    fn a_time_without_an_offset_is_refused() {
        let errors = Schedule::parse(Some("2026-12-01T10:30:00"), Some(30), now()).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "starts_at");
        assert!(errors[0].message.contains("offset"));
    }

    #[test]
    fn a_past_or_present_start_is_refused() {
        let errors = Schedule::parse(Some("2026-11-29T00:00:00Z"), Some(30), now()).unwrap_err();
        assert_eq!(errors[0].message, "must be in the future");
    }

    #[test]
    fn both_fields_are_required_and_each_is_named() {
        let errors = Schedule::parse(None, None, now()).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["starts_at", "duration_minutes"]);
    }

    #[test]
    fn instants_outside_the_range_and_leap_seconds_are_refused() {
        for bad in [
            "9999-12-31T23:59:59-23:59",
            "1969-12-31T23:59:59Z",
            "2026-12-01T12:00:60Z",
        ] {
            assert!(parse_instant(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_instant("9999-12-31T23:59:59Z"), Ok(MAX_INSTANT));
        let errors = Schedule::parse(Some("9999-12-31T23:00:00Z"), Some(120), now()).unwrap_err();
        assert_eq!(errors[0].field, "starts_at");
        assert!(Schedule::parse(Some("9999-12-31T23:00:00Z"), Some(59), now()).is_ok());
    }

    #[test]
    fn duration_must_be_within_a_day() {
        for bad in [0, -5, 1441] {
            let errors = Schedule::parse(Some("2026-12-01T05:00:00Z"), Some(bad), now());
            assert_eq!(errors.unwrap_err()[0].field, "duration_minutes", "{bad}");
        }
        assert!(Schedule::parse(Some("2026-12-01T05:00:00Z"), Some(1440), now()).is_ok());
    }
}
