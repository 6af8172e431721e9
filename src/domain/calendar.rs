//! Local calendars: which day, week and month an instant falls in for an IANA time zone, and
//! when a local day starts. Analytics bucket in the dashboard's zone, not in UTC, so these
//! rules must hold across DST changes and for half-hour offsets.

use crate::error::AppError;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// Parses an IANA time zone name such as `America/New_York`.
pub fn parse_zone(field: &str, raw: &str) -> Result<Tz, AppError> {
    raw.trim()
        .parse::<Tz>()
        .map_err(|_| AppError::invalid(field, "must be an IANA time zone such as Europe/Paris"))
}

/// The request's time zone: `raw` parsed, or UTC when absent.
pub fn zone_or_utc(field: &str, raw: Option<&str>) -> Result<Tz, AppError> {
    raw.map_or(Ok(Tz::UTC), |z| parse_zone(field, z))
}

/// The local date of `at` in `zone`.
pub fn local_day(zone: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&zone).date_naive()
}

/// The first instant of the local `day` in `zone`. Where midnight falls in a DST gap (some
/// zones change at 00:00) the day starts when the clocks resume.
pub fn day_start(zone: Tz, day: NaiveDate) -> Option<DateTime<Utc>> {
    let midnight = day.and_time(NaiveTime::MIN);
    // The first local instant at or after midnight. DST gaps last an hour or two, but a zone
    // may skip a whole day (Pacific/Apia skipped 2011-12-30): that day then starts, and ends,
    // where the next one starts. Step a quarter hour at a time through up to two days.
    (0..=4 * 48).find_map(|quarter| {
        zone.from_local_datetime(&(midnight + Duration::minutes(15 * quarter)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// Whether `at` is exactly the start of its local day, so a range bounded by it is made of
/// whole local days (and can be answered from daily rollups).
pub fn as_day_boundary(zone: Tz, at: DateTime<Utc>) -> Option<NaiveDate> {
    let day = local_day(zone, at);
    (day_start(zone, day) == Some(at)).then_some(day)
}

/// The day a week begins on, for weekly trends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeekStart {
    #[default]
    Monday,
    Sunday,
}

impl WeekStart {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "monday" => Ok(WeekStart::Monday),
            "sunday" => Ok(WeekStart::Sunday),
            _ => Err(AppError::invalid(field, "must be monday or sunday")),
        }
    }

    /// The first day of the week holding `day`.
    pub fn week_of(self, day: NaiveDate) -> NaiveDate {
        let first = match self {
            WeekStart::Monday => Weekday::Mon,
            WeekStart::Sunday => Weekday::Sun,
        };
        day - Duration::days(i64::from(day.weekday().days_since(first)))
    }
}

/// A trend's bucket size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Granularity {
    Day,
    Week,
    Month,
}

impl Granularity {
    /// The label of the bucket holding the local `day`: `2024-03-10` for a day or a week (its
    /// first day), `2024-03` for a month. Labels sort in time order.
    pub fn label(self, day: NaiveDate, week_start: WeekStart) -> String {
        match self {
            Granularity::Day => day.format("%Y-%m-%d").to_string(),
            Granularity::Week => week_start.week_of(day).format("%Y-%m-%d").to_string(),
            Granularity::Month => day.format("%Y-%m").to_string(),
        }
    }
}

/// A calendar date written `2026-01-01` (exactly that form); errors name `field`.
pub fn parse_date(field: &str, text: &str) -> Result<NaiveDate, crate::error::AppError> {
    let bad = || crate::error::AppError::invalid(field, "must be a date such as 2026-01-01");
    if text.len() != 10 {
        return Err(bad());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn new_york_days_follow_dst() {
        let ny: Tz = "America/New_York".parse().unwrap();
        // 2024-03-10 springs forward: that day is 23 hours long.
        assert_eq!(
            day_start(ny, date("2024-03-10")),
            Some(at("2024-03-10T05:00:00Z"))
        );
        assert_eq!(
            day_start(ny, date("2024-03-11")),
            Some(at("2024-03-11T04:00:00Z"))
        );
        assert_eq!(
            local_day(ny, at("2024-03-11T03:59:59Z")),
            date("2024-03-10")
        );
        // 2024-11-03 falls back: 25 hours.
        assert_eq!(
            day_start(ny, date("2024-11-04")),
            Some(at("2024-11-04T05:00:00Z"))
        );
        assert_eq!(
            local_day(ny, at("2024-11-04T04:30:00Z")),
            date("2024-11-03")
        );
    }

    #[test]
    fn kolkata_days_start_at_half_past() {
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        assert_eq!(
            day_start(kolkata, date("2024-06-01")),
            Some(at("2024-05-31T18:30:00Z"))
        );
        assert_eq!(
            local_day(kolkata, at("2024-05-31T18:29:59Z")),
            date("2024-05-31")
        );
        assert_eq!(
            as_day_boundary(kolkata, at("2024-05-31T18:30:00Z")),
            Some(date("2024-06-01"))
        );
        assert_eq!(as_day_boundary(kolkata, at("2024-05-31T18:00:00Z")), None);
    }

    #[test]
    fn a_midnight_gap_starts_the_day_when_clocks_resume() {
        // Santiago springs forward at 24:00 on the first Saturday of September 2024.
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let start = day_start(santiago, date("2024-09-08")).unwrap();
        assert_eq!(local_day(santiago, start), date("2024-09-08"));
        assert_eq!(
            local_day(santiago, start - Duration::seconds(1)),
            date("2024-09-07")
        );
    }

    #[test]
    fn weeks_start_where_asked() {
        let sunday = date("2024-03-10");
        assert_eq!(WeekStart::Monday.week_of(sunday), date("2024-03-04"));
        assert_eq!(WeekStart::Sunday.week_of(sunday), sunday);
        assert_eq!(
            Granularity::Week.label(date("2024-03-12"), WeekStart::Sunday),
            "2024-03-10"
        );
        assert_eq!(
            Granularity::Month.label(sunday, WeekStart::Monday),
            "2024-03"
        );
    }

    #[test]
    fn zones_are_iana_names() {
        assert!(parse_zone("time_zone", "Asia/Kolkata").is_ok());
        assert!(parse_zone("time_zone", "UTC").is_ok());
        assert!(parse_zone("time_zone", "Mars/Olympus").is_err());
        assert!(parse_zone("time_zone", "+05:30").is_err());
    }
}
