//! Conversion analytics with the plan's §2.1 shape, plus the §4.2 funnel. Definitions are in
//! docs/api.md. Correct first: totals are SQL aggregates, trends are bucketed here from the
//! matching rows (the fast, rolled-up version is a later step).

use super::Services;
use super::conversion::{ConversionFilter, scoped_workspace};
use super::workspace::conversion_rate;
use crate::auth::Caller;
use crate::domain::{ConversionStatus, ConversionType, DateRange, Money, Permission, WorkspaceId};
use crate::error::AppResult;
use chrono::{DateTime, Datelike, Duration, Utc};
use entity::{contact, conversion, workspace_tracking};
use sea_orm::sea_query::{Expr, Func, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, JoinType, QueryFilter, QuerySelect, RelationTrait,
};
use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Default)]
pub struct AnalyticsFilter {
    pub workspace_id: Option<WorkspaceId>,
    pub range: DateRange,
    pub conversion_type: Option<ConversionType>,
}

/// Count and exact total (minor units) of a group of conversions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub conversions: u64,
    pub total_minor: i64,
    /// Conversions that carry a value: the divisor of the average.
    pub valued: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.conversions += other.conversions;
        self.total_minor += other.total_minor;
        self.valued += other.valued;
    }
}

#[derive(Debug)]
pub struct WorkspaceFigures {
    pub workspace_id: String,
    pub tally: Tally,
    pub contacts_received: u64,
    pub conversion_rate: Option<f64>,
}

#[derive(Debug)]
pub struct TrendPoint {
    pub period: String,
    pub tally: Tally,
}

#[derive(Debug)]
pub struct FunnelStage {
    pub stage: &'static str,
    pub count: u64,
    pub percent: Option<f64>,
}

#[derive(Debug)]
pub struct Analytics {
    pub summary: Tally,
    pub average_minor: Option<i64>,
    pub contacts_received: u64,
    pub conversion_rate: Option<f64>,
    pub by_workspace: Vec<WorkspaceFigures>,
    pub by_type: Vec<(String, Tally)>,
    pub daily: Vec<TrendPoint>,
    pub weekly: Vec<TrendPoint>,
    pub monthly: Vec<TrendPoint>,
    pub funnel: Vec<FunnelStage>,
}

impl Services {
    pub async fn analytics(
        &self,
        caller: &Caller,
        filter: AnalyticsFilter,
    ) -> AppResult<Analytics> {
        caller.principal.require(Permission::Read)?;
        let workspace = scoped_workspace(caller, filter.workspace_id.as_ref())?;
        let cond = self.conversion_condition(
            caller,
            &ConversionFilter {
                workspace_id: workspace.clone(),
                range: filter.range,
                conversion_type: filter.conversion_type.clone(),
                ..Default::default()
            },
        )?;
        let conn = self.db.conn();

        let by_workspace_rows: Vec<(String, i64, Option<i64>, i64)> = tally_query(cond.clone())
            .column(conversion::Column::WorkspaceId)
            .group_by(conversion::Column::WorkspaceId)
            .into_tuple::<(i64, Option<i64>, i64, String)>()
            .all(conn)
            .await?
            .into_iter()
            .map(|(n, sum, valued, ws)| (ws, n, sum, valued))
            .collect();
        let by_type_rows: Vec<(i64, Option<i64>, i64, String)> = tally_query(cond.clone())
            .column(conversion::Column::ConversionType)
            .group_by(conversion::Column::ConversionType)
            .into_tuple()
            .all(conn)
            .await?;

        let received = received_pairs(conn, workspace.as_ref(), &filter.range).await?;
        let mut received_by_ws: BTreeMap<String, u64> = BTreeMap::new();
        for (ws, _, _) in &received {
            *received_by_ws.entry(ws.clone()).or_default() += 1;
        }

        let mut summary = Tally::default();
        let mut figures: BTreeMap<String, Tally> = BTreeMap::new();
        for (ws, n, sum, valued) in by_workspace_rows {
            let tally = Tally {
                conversions: n as u64,
                total_minor: sum.unwrap_or(0),
                valued: valued as u64,
            };
            summary.add(tally);
            figures.insert(ws, tally);
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
        let mut by_type: Vec<(String, Tally)> = by_type_rows
            .into_iter()
            .map(|(n, sum, valued, t)| {
                (
                    t,
                    Tally {
                        conversions: n as u64,
                        total_minor: sum.unwrap_or(0),
                        valued: valued as u64,
                    },
                )
            })
            .collect();
        by_type.sort_by(|a, b| b.1.conversions.cmp(&a.1.conversions).then(a.0.cmp(&b.0)));

        let points: Vec<(DateTime<Utc>, Option<i64>)> = conversion::Entity::find()
            .select_only()
            .column(conversion::Column::ConvertedAt)
            .column(conversion::Column::ValueMinor)
            .filter(cond)
            .into_tuple()
            .all(conn)
            .await?;
        let (daily, weekly, monthly) = trends(&points);

        let contacts_received = received.len() as u64;
        Ok(Analytics {
            conversion_rate: conversion_rate(summary.conversions, contacts_received),
            contacts_received,
            average_minor: Money::average_minor(summary.total_minor, summary.valued),
            summary,
            by_workspace,
            by_type,
            daily,
            weekly,
            monthly,
            funnel: funnel(&received),
        })
    }
}

/// `COUNT(*)`, exact `SUM(value_minor)` and `COUNT(value_minor)` of the matching conversions.
/// The sum is cast back to BIGINT because PostgreSQL widens it to NUMERIC.
fn tally_query(cond: Condition) -> sea_orm::Select<conversion::Entity> {
    conversion::Entity::find()
        .select_only()
        .column_as(
            SimpleExpr::from(Func::count(Expr::col(conversion::Column::Id))),
            "n",
        )
        .column_as(
            SimpleExpr::from(Func::cast_as(
                Func::sum(Expr::col(conversion::Column::ValueMinor)),
                "BIGINT",
            )),
            "total",
        )
        .column_as(
            SimpleExpr::from(Func::count(Expr::col(conversion::Column::ValueMinor))),
            "valued",
        )
        .filter(cond)
}

/// Distinct (workspace, contact) pairs received in the range, with the contact's status.
async fn received_pairs(
    conn: &sea_orm::DatabaseConnection,
    workspace: Option<&WorkspaceId>,
    range: &DateRange,
) -> AppResult<Vec<(String, i64, String)>> {
    let mut query = workspace_tracking::Entity::find()
        .select_only()
        .column(workspace_tracking::Column::WorkspaceId)
        .column(workspace_tracking::Column::ContactId)
        .column(contact::Column::ConversionStatus)
        .join(
            JoinType::InnerJoin,
            workspace_tracking::Relation::Contact.def(),
        )
        .filter(workspace_tracking::Column::Action.eq("received"))
        .distinct();
    if let Some(ws) = workspace {
        query = query.filter(workspace_tracking::Column::WorkspaceId.eq(ws.as_str()));
    }
    if let Some(from) = range.from {
        query = query.filter(workspace_tracking::Column::Timestamp.gte(from));
    }
    if let Some(until) = range.until {
        query = query.filter(workspace_tracking::Column::Timestamp.lt(until));
    }
    let rows: Vec<(String, i64, String)> = query.into_tuple().all(conn).await?;
    // DISTINCT already removes repeats; the set guards against a contact received twice
    // whose status row differs mid-read.
    let mut seen = HashSet::new();
    Ok(rows
        .into_iter()
        .filter(|(ws, c, _)| seen.insert((ws.clone(), *c)))
        .collect())
}

/// Plan §4.2: of the contacts received, how many reached each stage (by current status).
fn funnel(received: &[(String, i64, String)]) -> Vec<FunnelStage> {
    let total = received.len() as u64;
    let at_least = |rank: u8| {
        received
            .iter()
            .filter(|(_, _, s)| ConversionStatus::from_stored(s).rank() >= rank)
            .count() as u64
    };
    let stage = |stage, count: u64| FunnelStage {
        stage,
        count,
        percent: conversion_rate(count, total),
    };
    vec![
        stage("leads_received", total),
        stage("qualified", at_least(ConversionStatus::Qualified.rank())),
        stage(
            "appointments",
            at_least(ConversionStatus::Appointment.rank()),
        ),
        stage("conversions", at_least(ConversionStatus::Converted.rank())),
    ]
}

/// Daily, ISO-weekly (Monday) and monthly buckets in UTC, oldest first.
fn trends(
    points: &[(DateTime<Utc>, Option<i64>)],
) -> (Vec<TrendPoint>, Vec<TrendPoint>, Vec<TrendPoint>) {
    let mut daily: BTreeMap<String, Tally> = BTreeMap::new();
    let mut weekly: BTreeMap<String, Tally> = BTreeMap::new();
    let mut monthly: BTreeMap<String, Tally> = BTreeMap::new();
    for (at, value) in points {
        let tally = Tally {
            conversions: 1,
            total_minor: value.unwrap_or(0),
            valued: u64::from(value.is_some()),
        };
        let day = at.date_naive();
        let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
        daily
            .entry(day.format("%Y-%m-%d").to_string())
            .or_default()
            .add(tally);
        weekly
            .entry(monday.format("%Y-%m-%d").to_string())
            .or_default()
            .add(tally);
        monthly
            .entry(day.format("%Y-%m").to_string())
            .or_default()
            .add(tally);
    }
    let list = |m: BTreeMap<String, Tally>| {
        m.into_iter()
            .map(|(period, tally)| TrendPoint { period, tally })
            .collect()
    };
    (list(daily), list(weekly), list(monthly))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday_and_months_split() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let points = vec![
            (at("2024-01-28T23:59:59Z"), Some(100)), // Sunday: week of Jan 22
            (at("2024-01-29T00:00:00Z"), Some(200)), // Monday: week of Jan 29
            (at("2024-02-01T12:00:00Z"), None),      // same week, next month
        ];
        let (daily, weekly, monthly) = trends(&points);
        assert_eq!(daily.len(), 3);
        let weeks: Vec<_> = weekly
            .iter()
            .map(|p| (p.period.as_str(), p.tally.conversions))
            .collect();
        assert_eq!(weeks, vec![("2024-01-22", 1), ("2024-01-29", 2)]);
        let months: Vec<_> = monthly
            .iter()
            .map(|p| (p.period.as_str(), p.tally.total_minor))
            .collect();
        assert_eq!(months, vec![("2024-01", 300), ("2024-02", 0)]);
    }

    #[test]
    fn funnel_counts_by_reached_stage() {
        let r = |s: &str| ("w".to_owned(), 1, s.to_owned());
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
