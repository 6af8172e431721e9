//! Grouped conversion figures: count, exact total and average of the conversions matching a
//! filter, grouped by any of workspace, conversion type, the contact's status and a time
//! bucket in the caller's time zone. Every analytics answer is built from this.
//!
//! Two ways to the same numbers: from the daily rollups (a configured zone, whole local days,
//! no row-level filters) or from the conversion rows. The first reads a few hundred rows
//! whatever the size of the table; the second is exact for any filter and zone.

use super::Services;
use super::analytics::Tally;
use super::conversion::{ConversionFilter, scoped_workspace};
use super::fx::RateBook;
use super::reporting::Figures;
use super::rollup::{ALL_WORKSPACES, Grain};
use crate::auth::Caller;
use crate::domain::{
    ConversionState, ConversionStatus, Currency, DateRange, Granularity, Permission,
    TrackingAction, WeekStart, WorkspaceId, as_day_boundary, local_day,
};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Months, NaiveDate, Utc};
use chrono_tz::Tz;
use entity::{
    contact_rollup, contact_state, conversion, conversion_rollup, wide, workspace_tracking,
};
use futures_util::TryStreamExt;
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Func, IntoColumnRef, IntoIden, Query, SelectStatement, SimpleExpr,
};
use sea_orm::{ConnectionTrait, QueryResult, StreamTrait};
use std::collections::BTreeMap;

/// What to group conversions by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dimension {
    Workspace,
    ConversionType,
    ContactStatus,
    Period(Granularity),
}

#[derive(Debug)]
pub struct StatsQuery {
    pub filter: ConversionFilter,
    pub zone: Tz,
    pub week_start: WeekStart,
    pub group_by: Vec<Dimension>,
    /// The currency totals are converted into; the server's (`--currency`) when `None`.
    pub reporting_currency: Option<Currency>,
}

/// One group's coordinates; a dimension not grouped by is `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKey {
    pub period: Option<String>,
    pub workspace_id: Option<String>,
    pub conversion_type: Option<String>,
    pub contact_status: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Stats {
    /// Groups in key order (periods oldest first); groups without conversions are absent.
    /// Totals are in `currency` (see `service::reporting` for the rule), with each logged
    /// currency's own figures beside them.
    pub groups: Vec<(GroupKey, Figures)>,
    /// The reporting currency.
    pub currency: Currency,
    /// Currencies of valued conversions that have no rate into `currency` on their date,
    /// sorted: the totals those conversions are part of are unknown, never counted as 0.
    pub missing_rates: Vec<String>,
    /// Whether the answer came from the rollups (for metrics and the benchmark).
    pub from_rollups: bool,
}

/// Conversions by group and currency, as read: not yet converted.
type ByCurrency = BTreeMap<(GroupKey, String), Tally>;

/// Groups in key order and the currencies that lacked a rate.
type Reported = (Vec<(GroupKey, Figures)>, Vec<String>);

/// Σ values and count of valued conversions by group, foreign currency and UTC date.
type Foreign = BTreeMap<(GroupKey, String, NaiveDate), (i128, u64)>;

/// Contacts received per workspace and current status: the denominators of conversion rates
/// and the funnel. A contact counts on the day its workspace first received it.
pub type Received = Vec<(String, String, u64)>;

impl Services {
    /// Grouped figures; answered from the cache while nothing they cover changed.
    pub async fn conversion_stats(&self, caller: &Caller, query: StatsQuery) -> AppResult<Stats> {
        caller.principal.require(Permission::Read)?;
        let scope = scoped_workspace(caller, query.filter.workspace_id.as_ref())?;
        let key = format!("{scope:?}|{query:?}");
        self.stats_cache
            .get_or_compute(
                self.db.conn(),
                scope.as_ref(),
                key,
                self.compute_stats(caller, query),
            )
            .await
    }

    pub(super) async fn compute_stats(
        &self,
        caller: &Caller,
        query: StatsQuery,
    ) -> AppResult<Stats> {
        let periods = query
            .group_by
            .iter()
            .filter(|d| matches!(d, Dimension::Period(_)))
            .count();
        if periods > 1 {
            return Err(AppError::invalid(
                "group_by",
                "may hold at most one time bucket",
            ));
        }
        let mut filter = query.filter;
        filter.workspace_id = scoped_workspace(caller, filter.workspace_id.as_ref())?;
        let plan = Plan {
            zone: query.zone,
            week_start: query.week_start,
            group_by: query.group_by,
        };
        let reporting = query.reporting_currency.unwrap_or(self.currency);
        let conn = self.db.conn();
        let (read, from_rollups) = match self.rollup_days(&plan, &filter) {
            Some(days) => (plan.read_rollups(conn, &filter, days).await?, true),
            None => {
                let cond = self.conversion_condition(caller, &filter)?;
                (plan.read_rows(conn, cond).await?, false)
            }
        };
        // Values in other currencies are converted at each conversion's own date, so they
        // are read again by date: from the rows, whichever path gave the counts.
        let foreign = read
            .iter()
            .any(|((_, currency), t)| currency != reporting.code() && t.valued > 0);
        let (foreign, book) = if foreign {
            let cond = self.conversion_condition(caller, &filter)?;
            let values = plan.read_foreign(conn, cond, reporting).await?;
            (values, RateBook::load(conn).await?)
        } else {
            Default::default()
        };
        let (groups, missing_rates) = report(read, foreign, &book, reporting)?;
        Ok(Stats {
            groups,
            currency: reporting,
            missing_rates,
            from_rollups,
        })
    }

    /// Contacts received in the range, by workspace and current status.
    pub async fn received(
        &self,
        caller: &Caller,
        workspace: Option<&WorkspaceId>,
        range: DateRange,
        zone: Tz,
    ) -> AppResult<Received> {
        caller.principal.require(Permission::Read)?;
        let workspace = scoped_workspace(caller, workspace)?;
        let conn = self.db.conn();
        let rows = match self.zone_days(zone, &range) {
            Some((from, until)) => {
                use contact_rollup::Column as K;
                let mut rows = Vec::new();
                for (grain, from, until) in spans(from, until, false) {
                    let mut select = Query::select();
                    select
                        .column(K::WorkspaceId)
                        .column(K::Status)
                        .expr_as(sum(K::Contacts), Alias::new("n"))
                        .from(contact_rollup::Entity)
                        .and_where(Expr::col(K::Zone).eq(zone.name()))
                        .and_where(Expr::col(K::Grain).eq(grain.as_str()))
                        .group_by_columns([K::WorkspaceId, K::Status]);
                    if let Some(ws) = &workspace {
                        select.and_where(Expr::col(K::WorkspaceId).eq(ws.as_str()));
                    }
                    day_bounds(&mut select, K::Day, from, until);
                    rows.extend(conn.query_all(&select).await?);
                }
                rows
            }
            None => {
                conn.query_all(&received_from_rows(workspace.as_ref(), &range))
                    .await?
            }
        };
        rows.iter()
            .map(|row| {
                let n: i64 = row.try_get("", "n")?;
                Ok((
                    row.try_get("", "workspace_id")?,
                    row.try_get("", "status")?,
                    u64::try_from(n).unwrap_or(0),
                ))
            })
            .filter(|r: &AppResult<(String, String, u64)>| !matches!(r, Ok((_, _, 0))))
            .collect()
    }

    /// The local days `[from, until)` to read from the rollups, if they can answer.
    fn rollup_days(
        &self,
        plan: &Plan,
        filter: &ConversionFilter,
    ) -> Option<(Option<NaiveDate>, Option<NaiveDate>)> {
        let row_level = filter.contact_id.is_some()
            || filter.created_after.is_some()
            || filter.min_value.is_some()
            || filter.max_value.is_some()
            || plan.group_by.contains(&Dimension::ContactStatus);
        if row_level {
            return None;
        }
        self.zone_days(plan.zone, &filter.range)
    }

    /// A range as whole local days of a rolled-up zone, or `None` if it is not one.
    fn zone_days(
        &self,
        zone: Tz,
        range: &DateRange,
    ) -> Option<(Option<NaiveDate>, Option<NaiveDate>)> {
        if !self.rollup_zones.contains(&zone) {
            return None;
        }
        let day = |at: Option<DateTime<Utc>>| match at {
            None => Some(None),
            Some(at) => as_day_boundary(zone, at).map(Some),
        };
        Some((day(range.from)?, day(range.until)?))
    }
}

struct Plan {
    zone: Tz,
    week_start: WeekStart,
    group_by: Vec<Dimension>,
}

impl Plan {
    fn period(&self) -> Option<Granularity> {
        self.group_by.iter().find_map(|d| match d {
            Dimension::Period(g) => Some(*g),
            _ => None,
        })
    }

    fn has(&self, dimension: Dimension) -> bool {
        self.group_by.contains(&dimension)
    }

    async fn read_rollups(
        &self,
        conn: &impl ConnectionTrait,
        filter: &ConversionFilter,
        (from, until): (Option<NaiveDate>, Option<NaiveDate>),
    ) -> AppResult<ByCurrency> {
        use conversion_rollup::Column as C;
        let days_only = matches!(self.period(), Some(Granularity::Day | Granularity::Week));
        let mut groups = BTreeMap::new();
        for (grain, from, until) in spans(from, until, days_only) {
            let mut select = Query::select();
            select
                .expr_as(sum(C::Conversions), Alias::new("n"))
                .expr_as(sum(C::TotalMinorHigh), Alias::new("total_high"))
                .expr_as(sum(C::TotalMinorLow), Alias::new("total_low"))
                .expr_as(sum(C::Valued), Alias::new("valued"))
                .from(conversion_rollup::Entity)
                .and_where(Expr::col(C::Zone).eq(self.zone.name()))
                .and_where(Expr::col(C::Grain).eq(grain.as_str()));
            let workspace = match (&filter.workspace_id, self.has(Dimension::Workspace)) {
                (Some(ws), _) => Expr::col(C::WorkspaceId).eq(ws.as_str()),
                (None, true) => Expr::col(C::WorkspaceId).ne(ALL_WORKSPACES),
                (None, false) => Expr::col(C::WorkspaceId).eq(ALL_WORKSPACES),
            };
            select.and_where(workspace);
            if let Some(kind) = &filter.conversion_type {
                select.and_where(Expr::col(C::ConversionType).eq(kind.as_str()));
            }
            day_bounds(&mut select, C::Day, from, until);
            self.group(
                &mut select,
                false,
                C::WorkspaceId,
                C::ConversionType,
                None::<C>,
            );
            if self.period().is_some() {
                select.column(C::Day).group_by_col(C::Day);
            }
            select.column(C::Currency).group_by_col(C::Currency);
            for row in conn.query_all(&select).await? {
                let day = match self.period() {
                    Some(_) => Some(row.try_get::<NaiveDate>("", "day")?),
                    None => None,
                };
                let tally = Tally::from_sums(&row, wide::LOW_BITS)?;
                let currency: String = row.try_get("", "currency")?;
                groups
                    .entry((self.key(&row, day)?, currency))
                    .or_insert_with(Tally::default)
                    .add(tally);
            }
        }
        // A row whose conversions were all retracted or restated away stays, at zero; the
        // rows' path would not show its group.
        groups.retain(|_, t: &mut Tally| t.conversions > 0);
        Ok(groups)
    }

    async fn read_rows(
        &self,
        conn: &(impl ConnectionTrait + StreamTrait),
        cond: sea_orm::Condition,
    ) -> AppResult<ByCurrency> {
        use conversion::Column as C;
        let per_row = self.period().is_some();
        let mut select = self.rows_select(cond, per_row);
        let currency = Expr::col((conversion::Entity, C::Currency));
        select.expr_as(currency.clone(), Alias::new("currency"));
        if !per_row {
            select.add_group_by([currency]);
        }
        let mut groups = BTreeMap::new();
        if per_row {
            // Local days depend on the zone's rules, so each row is bucketed here.
            select
                .column((conversion::Entity, C::ConvertedAt))
                .column((conversion::Entity, C::ValueMinor));
            // Streamed: a zone without rollups over millions of rows must not load them all.
            let statement = ConnectionTrait::get_database_backend(conn).build(&select);
            let mut rows = std::pin::pin!(conn.stream_raw(statement).await?);
            while let Some(row) = rows.try_next().await? {
                let at: DateTime<Utc> = row.try_get("", "converted_at")?;
                let value: Option<i64> = row.try_get("", "value_minor")?;
                let currency: String = row.try_get("", "currency")?;
                let key = self.key(&row, Some(local_day(self.zone, at)))?;
                groups
                    .entry((key, currency))
                    .or_insert_with(Tally::default)
                    .add(Tally::of(value));
            }
        } else {
            let value = Expr::col((conversion::Entity, C::ValueMinor));
            select
                .expr_as(
                    Func::count(Expr::col((conversion::Entity, C::Id))),
                    Alias::new("n"),
                )
                .expr_as(
                    sum_of(value.clone().right_shift(VALUE_LOW_BITS)),
                    Alias::new("total_high"),
                )
                .expr_as(
                    sum_of(value.bit_and(VALUE_LOW_MASK)),
                    Alias::new("total_low"),
                )
                .expr_as(
                    Func::count(Expr::col((conversion::Entity, C::ValueMinor))),
                    Alias::new("valued"),
                );
            for row in conn.query_all(&select).await? {
                let key = self.key(&row, None)?;
                let currency: String = row.try_get("", "currency")?;
                groups.insert((key, currency), Tally::from_sums(&row, VALUE_LOW_BITS)?);
            }
        }
        Ok(groups)
    }

    /// Σ values of the valued conversions not in `reporting`, by group, currency and the
    /// UTC date their rate is chosen by. Streamed, one row at a time.
    async fn read_foreign(
        &self,
        conn: &(impl ConnectionTrait + StreamTrait),
        cond: sea_orm::Condition,
        reporting: Currency,
    ) -> AppResult<Foreign> {
        use conversion::Column as C;
        let cond = cond
            .add(Expr::col((conversion::Entity, C::Currency)).ne(reporting.code()))
            .add(Expr::col((conversion::Entity, C::ValueMinor)).is_not_null());
        let mut select = self.rows_select(cond, true);
        select
            .column((conversion::Entity, C::Currency))
            .column((conversion::Entity, C::ConvertedAt))
            .column((conversion::Entity, C::ValueMinor));
        let statement = ConnectionTrait::get_database_backend(conn).build(&select);
        let mut rows = std::pin::pin!(conn.stream_raw(statement).await?);
        let mut sums = Foreign::new();
        while let Some(row) = rows.try_next().await? {
            let at: DateTime<Utc> = row.try_get("", "converted_at")?;
            let value: Option<i64> = row.try_get("", "value_minor")?;
            let currency: String = row.try_get("", "currency")?;
            let day = self.period().map(|_| local_day(self.zone, at));
            let entry = sums
                .entry((self.key(&row, day)?, currency, at.date_naive()))
                .or_default();
            entry.0 += i128::from(value.unwrap_or(0));
            entry.1 += 1;
        }
        Ok(sums)
    }

    /// The conversions matching `cond` (active ones only), with the requested non-time
    /// dimensions selected, grouped by them unless `per_row`.
    fn rows_select(&self, cond: sea_orm::Condition, per_row: bool) -> SelectStatement {
        use conversion::Column as C;
        let mut select = Query::select();
        // A retracted conversion counts in no figure.
        let cond = cond
            .add(Expr::col((conversion::Entity, C::Status)).eq(ConversionState::Active.as_str()));
        select.from(conversion::Entity).cond_where(cond);
        // A conversion's contact status is the one its own workspace reached with the contact
        // (`contact_states`), so grouping a workspace's conversions by status shows nothing of
        // what another workspace did with a contact they share.
        let status = self.has(Dimension::ContactStatus).then(|| {
            use contact_state::Column as S;
            let s = contact_state::Entity;
            select.left_join(
                s,
                Expr::col((s, S::ContactId))
                    .equals((conversion::Entity, C::ContactId))
                    .and(
                        Expr::col((s, S::WorkspaceId)).equals((conversion::Entity, C::WorkspaceId)),
                    ),
            );
            own_status(Expr::col((s, S::ConversionStatus)))
        });
        self.group(
            &mut select,
            per_row,
            (conversion::Entity, C::WorkspaceId),
            (conversion::Entity, C::ConversionType),
            None::<C>,
        );
        if let Some(status) = status {
            select.expr_as(status.clone(), Alias::new("conversion_status"));
            if !per_row {
                select.add_group_by([status]);
            }
        }
        select
    }

    /// Selects the requested non-time dimensions, and groups by them unless `per_row`.
    fn group<W, T, S>(
        &self,
        select: &mut SelectStatement,
        per_row: bool,
        workspace: W,
        kind: T,
        status: Option<S>,
    ) where
        W: IntoColumnRef,
        T: IntoColumnRef,
        S: IntoColumnRef,
    {
        let mut add = |col: sea_orm::sea_query::ColumnRef| {
            select.column(col.clone());
            if !per_row {
                select.group_by_col(col);
            }
        };
        if self.has(Dimension::Workspace) {
            add(workspace.into_column_ref());
        }
        if self.has(Dimension::ConversionType) {
            add(kind.into_column_ref());
        }
        if let Some(status) = status {
            add(status.into_column_ref());
        }
    }

    fn key(&self, row: &QueryResult, day: Option<NaiveDate>) -> AppResult<GroupKey> {
        let text = |wanted: bool, column: &str| -> AppResult<Option<String>> {
            Ok(if wanted {
                Some(row.try_get("", column)?)
            } else {
                None
            })
        };
        Ok(GroupKey {
            period: self
                .period()
                .zip(day)
                .map(|(g, day)| g.label(day, self.week_start)),
            workspace_id: text(self.has(Dimension::Workspace), "workspace_id")?,
            conversion_type: text(self.has(Dimension::ConversionType), "conversion_type")?,
            contact_status: text(self.has(Dimension::ContactStatus), "conversion_status")?,
        })
    }
}

/// Each group's figures in `reporting`: its own currency's totals as they are, the others'
/// converted at the rate of each conversion's UTC date (`service::reporting` has the rule);
/// and the currencies that lacked a rate.
fn report(
    read: ByCurrency,
    foreign: Foreign,
    book: &RateBook,
    reporting: Currency,
) -> AppResult<Reported> {
    let mut groups: BTreeMap<GroupKey, Figures> = BTreeMap::new();
    for ((key, currency), tally) in read {
        let native = currency == reporting.code();
        groups
            .entry(key)
            .or_default()
            .record(&currency, tally, native);
    }
    let mut missing = std::collections::BTreeSet::new();
    for ((key, code, day), (sum, valued)) in foreign {
        let from = Currency::parse("currency", &code)
            .map_err(|_| AppError::Internal(format!("a stored currency is not one: {code}")))?;
        let figures = groups.entry(key).or_default();
        match book.on(&code, reporting.code(), day) {
            Some(rate) => figures.convert(sum, from, reporting, rate),
            None => {
                figures.unpriced(valued);
                missing.insert(code);
            }
        }
    }
    Ok((groups.into_iter().collect(), missing.into_iter().collect()))
}

/// The rollup rows that cover the local days `[from, until)`: whole months from month rows,
/// the days before the first and after the last whole month from day rows. A series by day
/// or week needs day rows throughout.
fn spans(
    from: Option<NaiveDate>,
    until: Option<NaiveDate>,
    days_only: bool,
) -> Vec<(Grain, Option<NaiveDate>, Option<NaiveDate>)> {
    if days_only {
        return vec![(Grain::Day, from, until)];
    }
    let month_start = |d: NaiveDate| Grain::Month.bucket(d);
    let first_month = from.map(|f| match month_start(f) {
        start if start == f => f,
        start => start.checked_add_months(Months::new(1)).unwrap_or(f),
    });
    let end_month = until.map(month_start);
    if let (Some(a), Some(b)) = (first_month, end_month)
        && a >= b
    {
        return vec![(Grain::Day, from, until)];
    }
    let mut spans = vec![(Grain::Month, first_month, end_month)];
    if let (Some(f), Some(a)) = (from, first_month)
        && f < a
    {
        spans.push((Grain::Day, Some(f), Some(a)));
    }
    if let (Some(b), Some(u)) = (end_month, until)
        && b < u
    {
        spans.push((Grain::Day, Some(b), Some(u)));
    }
    spans
}

/// `CAST(SUM(x) AS BIGINT)`: PostgreSQL widens a BIGINT sum to NUMERIC. Every sum here is
/// of small counts or of one half of a money total, so it stays far inside 64 bits.
fn sum(col: impl sea_orm::sea_query::IntoColumnRef) -> SimpleExpr {
    sum_of(Expr::col(col))
}

fn sum_of(x: SimpleExpr) -> SimpleExpr {
    Func::cast_as(Func::sum(x), "BIGINT").into()
}

/// Conversion values (below 2^50 minor units) are summed in two halves of 25 bits: each
/// half's sum stays inside 64 bits for 2^38 conversions, and the halves join exactly in
/// [`Tally::from_sums`]. A plain `SUM(value_minor)` overflowed after some 92,000 sales of the
/// largest amount (an error on both databases).
const VALUE_LOW_BITS: i32 = 25;
const VALUE_LOW_MASK: i64 = (1 << VALUE_LOW_BITS) - 1;

fn day_bounds(
    select: &mut SelectStatement,
    col: impl IntoIden + Copy + 'static,
    from: Option<NaiveDate>,
    until: Option<NaiveDate>,
) {
    if let Some(from) = from {
        select.and_where(Expr::col(col).gte(from));
    }
    if let Some(until) = until {
        select.and_where(Expr::col(col).lt(until));
    }
}

/// Received contacts counted from the tracking rows: each (workspace, contact) pair once,
/// on its first receipt, with the status that workspace reached (`contact_states`).
pub(super) fn received_from_rows(
    workspace: Option<&WorkspaceId>,
    range: &DateRange,
) -> SelectStatement {
    use contact_state::Column as S;
    use workspace_tracking::Column as T;
    let first = Alias::new("first_at");
    let mut pairs = Query::select();
    pairs
        .column(T::WorkspaceId)
        .column(T::ContactId)
        .expr_as(Func::min(Expr::col(T::Timestamp)), first.clone())
        .from(workspace_tracking::Entity)
        .and_where(Expr::col(T::Action).eq(TrackingAction::Received.as_str()))
        .and_where(super::tracking::handoffs())
        .group_by_columns([T::WorkspaceId, T::ContactId]);
    if let Some(ws) = workspace {
        pairs.and_where(Expr::col(T::WorkspaceId).eq(ws.as_str()));
    }
    let r = Alias::new("r");
    let s = contact_state::Entity;
    let status = own_status(Expr::col((s, S::ConversionStatus)));
    let mut select = Query::select();
    select
        .expr_as(
            Expr::col((r.clone(), T::WorkspaceId)),
            Alias::new("workspace_id"),
        )
        .expr_as(status.clone(), Alias::new("status"))
        .expr_as(
            Func::count(Expr::col((r.clone(), T::ContactId))),
            Alias::new("n"),
        )
        .from_subquery(pairs, r.clone())
        .left_join(
            s,
            Expr::col((s, S::ContactId))
                .equals((r.clone(), T::ContactId))
                .and(Expr::col((s, S::WorkspaceId)).equals((r.clone(), T::WorkspaceId))),
        )
        .group_by_col((r.clone(), T::WorkspaceId))
        .add_group_by([status]);
    if let Some(from) = range.from {
        select.and_where(Expr::col((r.clone(), first.clone())).gte(from));
    }
    if let Some(until) = range.until {
        select.and_where(Expr::col((r, first)).lt(until));
    }
    select
}

/// A workspace's own status of a contact, `pending` where it has no state yet. The default is
/// written into the SQL rather than bound, so that PostgreSQL sees a `GROUP BY` of this
/// expression as the very expression selected.
pub(crate) fn own_status(stored: Expr) -> SimpleExpr {
    let pending = format!("'{}'", ConversionStatus::Pending.as_str());
    Func::coalesce([stored, Expr::cust(pending)]).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<NaiveDate> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn long_ranges_read_months_and_edge_days() {
        assert_eq!(
            spans(d("2024-02-15"), d("2024-11-20"), false),
            vec![
                (Grain::Month, d("2024-03-01"), d("2024-11-01")),
                (Grain::Day, d("2024-02-15"), d("2024-03-01")),
                (Grain::Day, d("2024-11-01"), d("2024-11-20")),
            ]
        );
        assert_eq!(
            spans(d("2024-03-01"), d("2024-05-01"), false),
            vec![(Grain::Month, d("2024-03-01"), d("2024-05-01"))]
        );
        assert_eq!(spans(None, None, false), vec![(Grain::Month, None, None)]);
    }

    #[test]
    fn short_ranges_and_day_series_read_days() {
        assert_eq!(
            spans(d("2024-03-09"), d("2024-03-12"), false),
            vec![(Grain::Day, d("2024-03-09"), d("2024-03-12"))]
        );
        assert_eq!(spans(None, None, true), vec![(Grain::Day, None, None)]);
    }
}
