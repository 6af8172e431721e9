//! Date filters: `from_date` / `to_date` accept a calendar date (a whole local day of the
//! request's time zone, UTC unless given; inclusive) or an RFC 3339 instant.

use super::calendar::day_start;
use crate::error::AppError;
use chrono::{DateTime, Datelike, Duration, NaiveDate, SubsecRound, Timelike, Utc};
use chrono_tz::Tz;

/// A half-open interval `[from, until)` of instants; either end may be open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DateRange {
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl DateRange {
    /// Parses the pair, checking that the end does not come before the start.
    pub fn parse(
        from_field: &str,
        from: Option<&str>,
        to_field: &str,
        to: Option<&str>,
        zone: Tz,
    ) -> Result<Self, AppError> {
        let from_raw = from;
        let from = from
            .map(|raw| parse_bound(from_field, raw, Bound::Start, zone))
            .transpose()?;
        // The exclusive end of 9999-12-31 (or of its last microsecond) lies in year 10000, which
        // no stored instant reaches: such a range is open-ended rather than silently empty.
        let until = to
            .map(|raw| parse_bound(to_field, raw, Bound::End, zone))
            .transpose()?
            .filter(|u| u.year() <= 9999);
        // Two dates compare as dates: a day its zone skipped (Samoa's 2011-12-30) is an empty
        // range, where its start and end are one instant, not a reversed one.
        let reversed = match (from_raw.and_then(as_date), to.and_then(as_date)) {
            (Some(first), Some(last)) => last < first,
            _ => matches!((from, until), (Some(f), Some(u)) if u <= f),
        };
        if reversed {
            return Err(AppError::invalid_against(
                to_field,
                "must not be before",
                from_field,
            ));
        }
        Ok(DateRange { from, until })
    }

    /// The `from_date` / `to_date` pair every conversion filter takes, in `zone`'s days.
    pub fn dates(from: Option<&str>, to: Option<&str>, zone: Tz) -> Result<Self, AppError> {
        DateRange::parse("from_date", from, "to_date", to, zone)
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from.is_none_or(|f| at >= f) && self.until.is_none_or(|u| at < u)
    }
}

enum Bound {
    Start,
    End,
}

fn as_date(raw: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok()
}

fn parse_bound(field: &str, raw: &str, bound: Bound, zone: Tz) -> Result<DateTime<Utc>, AppError> {
    let raw = raw.trim();
    if let Some(date) = as_date(raw) {
        let at = match bound {
            Bound::Start => day_start(zone, date),
            // A date as the end means the whole day: stop where the next one starts.
            Bound::End => date.succ_opt().and_then(|next| day_start(zone, next)),
        };
        return at.ok_or_else(|| AppError::invalid(field, "is out of range"));
    }
    // A bound takes a date too, so its error names both forms (a bare instant's does not).
    let instant = parse_instant(field, raw).map_err(|_| {
        AppError::invalid(
            field,
            "must be a date (2024-12-31) or an RFC 3339 timestamp with offset (2024-12-31T23:59:59Z)",
        )
    })?;
    Ok(match bound {
        Bound::Start => instant,
        // An instant as the end is inclusive; the range is half-open, so step past it.
        Bound::End => instant + Duration::microseconds(1),
    })
}

/// Parses an RFC 3339 timestamp with an explicit offset, stored at microsecond precision
/// (what both SQLite text and PostgreSQL `timestamptz` keep).
pub fn parse_instant(field: &str, raw: &str) -> Result<DateTime<Utc>, AppError> {
    let parsed = DateTime::parse_from_rfc3339(raw.trim()).map_err(|_| {
        AppError::invalid(
            field,
            "must be an RFC 3339 timestamp with offset (2024-12-31T23:59:59Z)",
        )
    })?;
    instant(field, parsed.with_timezone(&Utc))
}

/// The one rule for every instant a client sends, whichever door parsed its text: a definite
/// UTC instant in years 1 to 9999, at the microsecond precision both databases store. A leap
/// second (`23:59:60`) is refused: UTC as both databases count it has no such second, and
/// SQLite and PostgreSQL would store and bucket it differently.
pub fn instant(field: &str, at: DateTime<Utc>) -> Result<DateTime<Utc>, AppError> {
    if at.nanosecond() >= 1_000_000_000 {
        return Err(AppError::invalid(
            field,
            "is a leap second (:60), which convio's UTC clock does not have; send :59.999999 or the next second",
        ));
    }
    if !(1..=9999).contains(&at.year()) {
        return Err(AppError::invalid(field, "must be in the years 1 to 9999"));
    }
    Ok(at.trunc_subsecs(6))
}

/// How far past the server's clock a client may date something that already happened: room
/// for clocks that disagree a little, not for events that have not happened yet.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);

/// `at`, the time something happened, unless it is later than `now` plus [`MAX_CLOCK_SKEW`]:
/// a future one would sit on top of every newest-first list until that day came.
pub fn happened_by(
    field: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, AppError> {
    if at > now + MAX_CLOCK_SKEW {
        return Err(AppError::invalid(
            field,
            format!(
                "must not be in the future (more than {} minutes after the server's clock)",
                MAX_CLOCK_SKEW.num_minutes()
            ),
        ));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_cover_whole_days() {
        let r = DateRange::parse(
            "from_date",
            Some("2024-01-01"),
            "to_date",
            Some("2024-12-31"),
            Tz::UTC,
        )
        .unwrap();
        assert!(r.contains("2024-12-31T23:59:59.999999Z".parse().unwrap()));
        assert!(!r.contains("2025-01-01T00:00:00Z".parse().unwrap()));
        assert!(r.contains("2024-01-01T00:00:00Z".parse().unwrap()));
    }

    #[test]
    fn instants_keep_their_offset() {
        let r =
            DateRange::parse("f", Some("2024-01-01T05:00:00+05:30"), "t", None, Tz::UTC).unwrap();
        assert_eq!(r.from.unwrap().to_rfc3339(), "2023-12-31T23:30:00+00:00");
    }

    #[test]
    fn dates_are_local_days_of_the_zone() {
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        let r =
            DateRange::parse("f", Some("2024-06-01"), "t", Some("2024-06-01"), kolkata).unwrap();
        assert_eq!(r.from.unwrap().to_rfc3339(), "2024-05-31T18:30:00+00:00");
        assert_eq!(r.until.unwrap().to_rfc3339(), "2024-06-01T18:30:00+00:00");
    }

    #[test]
    fn what_happened_may_be_late_by_the_clock_skew_only() {
        let now: DateTime<Utc> = "2026-11-29T12:00:00Z".parse().unwrap();
        assert!(happened_by("at", now - Duration::days(400), now).is_ok());
        assert!(happened_by("at", now + MAX_CLOCK_SKEW, now).is_ok());
        let err = happened_by("at", now + MAX_CLOCK_SKEW + Duration::microseconds(1), now);
        assert_eq!(err.unwrap_err().field(), Some("at"));
    }

    #[test]
    fn a_bare_instant_does_not_offer_a_date() {
        let err = parse_instant("created_after", "2026-11-29").unwrap_err();
        assert!(err.to_string().starts_with("must be an RFC 3339 timestamp"));
        let err = DateRange::parse("f", Some("soon"), "t", None, Tz::UTC).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("must be a date (2024-12-31) or an RFC 3339")
        );
    }

    #[test]
    fn rejects_reversed_and_malformed() {
        assert!(
            DateRange::parse("f", Some("2024-02-01"), "t", Some("2024-01-01"), Tz::UTC).is_err()
        );
        assert!(DateRange::parse("f", Some("yesterday"), "t", None, Tz::UTC).is_err());
        assert!(DateRange::parse("f", Some("2024-02-30"), "t", None, Tz::UTC).is_err());
        assert!(DateRange::parse("f", None, "t", Some("2024-01-01T00:00:00"), Tz::UTC).is_err());
    }
}
