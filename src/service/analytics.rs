//! Conversion analytics with the plan's §2.1 shape, plus the §4.2 funnel, in the caller's
//! time zone. Definitions are in docs/api.md. Every figure comes from the grouped stats
//! (src/service/stats.rs), which read the rollups when they can.

use super::Services;
use super::conversion::{ConversionFilter, scoped_workspace};
use super::reporting::Figures;
use super::stats::{Dimension, Received, StatsQuery};
use super::workspace::conversion_rate;
use crate::auth::Caller;
use crate::domain::{
    ConversionStatus, ConversionType, Currency, DateRange, FunnelStage as Stage, Granularity,
    Money, Permission, WeekStart, WorkspaceId,
};
use crate::error::AppResult;
use chrono::NaiveDate;
use chrono_tz::Tz;
use sea_orm::QueryResult;
use std::collections::BTreeMap;

#[derive(Debug)]
pub struct AnalyticsFilter {
    pub workspace_id: Option<WorkspaceId>,
    pub range: DateRange,
    pub conversion_type: Option<ConversionType>,
    /// Days, weeks and months are those of this zone; date bounds are its local days.
    pub zone: Tz,
    pub week_start: WeekStart,
    /// The currency of every converted total; the server's when `None`.
    pub reporting_currency: Option<Currency>,
}

/// Count and exact total (minor units of one currency) of a group of conversions.
///
/// The total is 128 bits wide: each amount is below 2^50 minor units, so no number of
/// conversions that could ever be stored overflows it (a 64-bit total overflowed after some
/// 92,000 sales of the largest amount).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub conversions: u64,
    pub total_minor: i128,
    /// Conversions that carry a value: the divisor of the average.
    pub valued: u64,
}

impl Tally {
    /// One conversion with this value.
    pub fn of(value_minor: Option<i64>) -> Tally {
        Tally {
            conversions: 1,
            total_minor: value_minor.map_or(0, i128::from),
            valued: u64::from(value_minor.is_some()),
        }
    }

    pub fn add(&mut self, other: Tally) {
        self.conversions += other.conversions;
        self.total_minor += other.total_minor;
        self.valued += other.valued;
    }

    /// Reads the `n` and `valued` counts and the total of a grouped query, summed in two
    /// halves (`total_high` × 2^`low_bits` + `total_low`) so that no SQL sum overflows.
    pub(crate) fn from_sums(row: &QueryResult, low_bits: i32) -> AppResult<Tally> {
        let n: Option<i64> = row.try_get("", "n")?;
        let high: Option<i64> = row.try_get("", "total_high")?;
        let low: Option<i64> = row.try_get("", "total_low")?;
        let valued: Option<i64> = row.try_get("", "valued")?;
        Ok(Tally {
            conversions: n.unwrap_or(0).max(0) as u64,
            total_minor: (i128::from(high.unwrap_or(0)) << low_bits) + i128::from(low.unwrap_or(0)),
            valued: valued.unwrap_or(0).max(0) as u64,
        })
    }

    pub fn average_minor(&self) -> Option<i128> {
        Money::average_minor(self.total_minor, self.valued)
    }
}

#[derive(Clone, Debug)]
pub struct WorkspaceFigures {
    pub workspace_id: String,
    pub tally: Figures,
    pub contacts_received: u64,
    pub conversion_rate: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct TrendPoint {
    pub period: String,
    pub tally: Figures,
}

#[derive(Clone, Debug)]
pub struct FunnelStage {
    pub stage: &'static str,
    pub count: u64,
    pub percent: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct Analytics {
    /// Totals in `currency`, with each logged currency's own figures (`by_currency`).
    pub summary: Figures,
    pub average_minor: Option<i128>,
    pub contacts_received: u64,
    pub conversion_rate: Option<f64>,
    pub by_workspace: Vec<WorkspaceFigures>,
    pub by_type: Vec<(String, Figures)>,
    pub daily: Vec<TrendPoint>,
    pub weekly: Vec<TrendPoint>,
    pub monthly: Vec<TrendPoint>,
    pub funnel: Vec<FunnelStage>,
    /// The time zone the days are in.
    pub zone: Tz,
    /// The reporting currency.
    pub currency: Currency,
    /// Currencies with valued conversions here but no rate into `currency` on their dates.
    pub missing_rates: Vec<String>,
}

impl Services {
    /// The dashboard's figures; answered from the cache while nothing they cover changed.
    pub async fn analytics(
        &self,
        caller: &Caller,
        filter: AnalyticsFilter,
    ) -> AppResult<Analytics> {
        caller.principal.require(Permission::Read)?;
        let scope = scoped_workspace(caller, filter.workspace_id.as_ref())?;
        let key = format!("{scope:?}|{filter:?}");
        self.analytics_cache
            .get_or_compute(
                self.db.conn(),
                scope.as_ref(),
                key,
                self.compute_analytics(caller, filter),
            )
            .await
    }

    async fn compute_analytics(
        &self,
        caller: &Caller,
        filter: AnalyticsFilter,
    ) -> AppResult<Analytics> {
        let query = |group_by: Vec<Dimension>| StatsQuery {
            filter: ConversionFilter {
                workspace_id: filter.workspace_id.clone(),
                range: filter.range,
                conversion_type: filter.conversion_type.clone(),
                ..Default::default()
            },
            zone: filter.zone,
            week_start: filter.week_start,
            group_by,
            reporting_currency: filter.reporting_currency,
        };
        // Four reads, each on a pooled connection of its own at once: on PostgreSQL a
        // dashboard on a cache miss waits for the slowest instead of the sum of four round
        // trips. They were never one snapshot; the cache's version check (taken before them)
        // keeps an answer that a write overtook from being served as current.
        let (by_workspace, by_type, daily, received) = futures_util::try_join!(
            self.compute_stats(caller, query(vec![Dimension::Workspace])),
            self.compute_stats(caller, query(vec![Dimension::ConversionType])),
            self.compute_stats(caller, query(vec![Dimension::Period(Granularity::Day)])),
            self.received(
                caller,
                filter.workspace_id.as_ref(),
                filter.range,
                filter.zone,
            ),
        )?;

        let mut received_by_ws: BTreeMap<String, u64> = BTreeMap::new();
        for (ws, _, n) in &received {
            *received_by_ws.entry(ws.clone()).or_default() += n;
        }
        let currency = by_workspace.currency;
        let mut missing_rates = by_workspace.missing_rates.clone();
        missing_rates.extend(by_type.missing_rates.iter().cloned());
        missing_rates.extend(daily.missing_rates.iter().cloned());
        missing_rates.sort();
        missing_rates.dedup();
        let mut summary = Figures::default();
        let mut figures: BTreeMap<String, Figures> = BTreeMap::new();
        for (key, tally) in by_workspace.groups {
            summary.add(&tally);
            figures.insert(key.workspace_id.unwrap_or_default(), tally);
        }
        for ws in received_by_ws.keys() {
            figures.entry(ws.clone()).or_default();
        }
        let by_workspace = figures
            .into_iter()
            .map(|(workspace_id, tally)| {
                let contacts_received = received_by_ws.get(&workspace_id).copied().unwrap_or(0);
                WorkspaceFigures {
                    conversion_rate: conversion_rate(tally.conversions, contacts_received),
                    workspace_id,
                    tally,
                    contacts_received,
                }
            })
            .collect();
        let mut by_type: Vec<(String, Figures)> = by_type
            .groups
            .into_iter()
            .map(|(key, tally)| (key.conversion_type.unwrap_or_default(), tally))
            .collect();
        by_type.sort_by(|a, b| b.1.conversions.cmp(&a.1.conversions).then(a.0.cmp(&b.0)));

        let days: Vec<(NaiveDate, Figures)> = daily
            .groups
            .into_iter()
            .filter_map(|(key, tally)| Some((key.period?.parse().ok()?, tally)))
            .collect();
        let contacts_received = received_by_ws.values().sum();
        Ok(Analytics {
            conversion_rate: conversion_rate(summary.conversions, contacts_received),
            contacts_received,
            average_minor: summary.average_minor(),
            summary,
            by_workspace,
            by_type,
            daily: trend(&days, Granularity::Day, filter.week_start),
            weekly: trend(&days, Granularity::Week, filter.week_start),
            monthly: trend(&days, Granularity::Month, filter.week_start),
            funnel: funnel(&received),
            zone: filter.zone,
            currency,
            missing_rates,
        })
    }
}

/// Daily figures summed into coarser buckets, oldest first. Weeks and months are whole local
/// days, so this is exact.
fn trend(
    days: &[(NaiveDate, Figures)],
    granularity: Granularity,
    week_start: WeekStart,
) -> Vec<TrendPoint> {
    let mut buckets: BTreeMap<String, Figures> = BTreeMap::new();
    for (day, tally) in days {
        buckets
            .entry(granularity.label(*day, week_start))
            .or_default()
            .add(tally);
    }
    buckets
        .into_iter()
        .map(|(period, tally)| TrendPoint { period, tally })
        .collect()
}

/// Plan §4.2: of the contacts received, how many reached each stage (by current status).
fn funnel(received: &Received) -> Vec<FunnelStage> {
    let total = received.iter().map(|(_, _, n)| n).sum();
    Stage::ALL
        .into_iter()
        .map(|stage| {
            let count = received
                .iter()
                .filter(|(_, s, _)| stage.reached_by(ConversionStatus::from_stored(s)))
                .map(|(_, _, n)| n)
                .sum();
            FunnelStage {
                stage: stage.as_str(),
                count,
                percent: conversion_rate(count, total),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_and_months_are_sums_of_days() {
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        let usd = |value| {
            let mut f = Figures::default();
            f.record("USD", Tally::of(value), true);
            f
        };
        let days = vec![
            (day("2024-01-28"), usd(Some(100))), // Sunday: week of Jan 22
            (day("2024-01-29"), usd(Some(200))), // Monday: week of Jan 29
            (day("2024-02-01"), usd(None)),      // same week, next month
        ];
        let weeks: Vec<_> = trend(&days, Granularity::Week, WeekStart::Monday)
            .iter()
            .map(|p| (p.period.clone(), p.tally.conversions))
            .collect();
        assert_eq!(
            weeks,
            vec![("2024-01-22".into(), 1), ("2024-01-29".into(), 2)]
        );
        let sunday_weeks = trend(&days, Granularity::Week, WeekStart::Sunday);
        assert_eq!(sunday_weeks[0].period, "2024-01-28");
        assert_eq!(sunday_weeks[0].tally.conversions, 3);
        let months: Vec<_> = trend(&days, Granularity::Month, WeekStart::Monday)
            .iter()
            .map(|p| (p.period.clone(), p.tally.total_minor()))
            .collect();
        assert_eq!(
            months,
            vec![("2024-01".into(), Some(300)), ("2024-02".into(), Some(0))]
        );
    }

    #[test]
    fn funnel_counts_by_reached_stage() {
        let r = |s: &str| ("w".to_owned(), s.to_owned(), 1);
        let received = vec![
            r("pending"),
            r("qualified"),
            r("appointment"),
            r("converted"),
            r("lost"),
        ];
        let f = funnel(&received);
        let counts: Vec<_> = f.iter().map(|s| s.count).collect();
        assert_eq!(counts, vec![5, 3, 2, 1]);
        assert_eq!(f[3].percent, Some(20.0));
    }
}
