//! Analytics rollups: for each configured time zone, per local day and per local month, the
//! count and exact total of conversions (by workspace, and for all workspaces, by type, each
//! currency apart) and
//! the contacts each workspace received (by the status that workspace itself reached with
//! them, so a shared contact's funnel shows each receiver only its own progress). Every write that changes
//! a figure adds a [`Delta`] and applies it in its own transaction, so the rollups always
//! equal a direct computation over the rows; a test holds them to that on random data.
//!
//! A total is stored as two BIGINTs (`entity::wide`) and added with its carry in SQL, so no
//! number of sales fills it: the all-workspace rows sum every tenant, and one tenant must not
//! be able to make them overflow for the others.
//!
//! Zones are part of the schema, not of a request: a dashboard's zone is answered from the
//! rollups only if it is configured (`--analytics-time-zones`); any other zone is computed
//! from the rows, exactly but slower.

use super::sets;
use crate::domain::{ConversionState, ConversionStatus, TrackingAction, local_day};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use entity::{
    contact_rollup, contact_state, conversion, conversion_rollup, rollup_zone, wide,
    workspace_tracking,
};
use futures_util::TryStreamExt;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Statement, StreamTrait,
    TransactionTrait,
};
use std::collections::{BTreeSet, HashMap, HashSet};

/// The `workspace_id` of conversion rollup rows that sum every workspace. Not a valid
/// workspace id, so it cannot collide with one.
pub const ALL_WORKSPACES: &str = "*";

/// Zone, grain, workspace, day, type and currency.
type ConversionKey = (Tz, Grain, String, NaiveDate, String, String);
type ContactKey = (Tz, Grain, String, NaiveDate, &'static str);

/// What a write adds to one conversion rollup row: negative when conversions leave it.
#[derive(Clone, Copy, Debug, Default)]
struct Change {
    conversions: i64,
    total_minor: i128,
    valued: i64,
}

impl Change {
    fn of(value_minor: Option<i64>) -> Change {
        Change {
            conversions: 1,
            total_minor: value_minor.map_or(0, i128::from),
            valued: i64::from(value_minor.is_some()),
        }
    }

    fn negated(self) -> Change {
        Change {
            conversions: -self.conversions,
            total_minor: -self.total_minor,
            valued: -self.valued,
        }
    }

    fn add(&mut self, other: Change) {
        self.conversions += other.conversions;
        self.total_minor += other.total_minor;
        self.valued += other.valued;
    }
}

/// The span a rollup row covers. Days answer any range and every trend; months let a long
/// range read a dozen rows per series instead of hundreds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Grain {
    Day,
    Month,
}

impl Grain {
    pub const ALL: [Grain; 2] = [Grain::Day, Grain::Month];

    pub fn as_str(self) -> &'static str {
        match self {
            Grain::Day => "day",
            Grain::Month => "month",
        }
    }

    /// The date of the row holding the local `day`: itself, or the first of its month.
    pub fn bucket(self, day: NaiveDate) -> NaiveDate {
        match self {
            Grain::Day => day,
            Grain::Month => day.with_day(1).unwrap_or(day),
        }
    }
}

/// What one write (or a rebuild) changes in the rollups, summed per row.
#[derive(Debug, Default)]
pub struct Delta {
    conversions: HashMap<ConversionKey, Change>,
    contacts: HashMap<ContactKey, i64>,
    /// Workspaces whose figures change, whatever the zones: their cached analytics go stale.
    touched: BTreeSet<String>,
}

impl Delta {
    /// A conversion was logged (or restated into this type and value), its value in minor
    /// units of `currency`.
    pub fn conversion(
        &mut self,
        zones: &[Tz],
        workspace: &str,
        kind: &str,
        currency: &str,
        at: DateTime<Utc>,
        value_minor: Option<i64>,
    ) {
        self.count(
            zones,
            (workspace, kind, currency),
            at,
            Change::of(value_minor),
        );
    }

    /// A conversion no longer counts as this type and value: retracted, or restated (the
    /// new figures are then added with [`Delta::conversion`]).
    pub fn conversion_removed(
        &mut self,
        zones: &[Tz],
        workspace: &str,
        kind: &str,
        currency: &str,
        at: DateTime<Utc>,
        value_minor: Option<i64>,
    ) {
        self.count(
            zones,
            (workspace, kind, currency),
            at,
            Change::of(value_minor).negated(),
        );
    }

    fn count(
        &mut self,
        zones: &[Tz],
        (workspace, kind, currency): (&str, &str, &str),
        at: DateTime<Utc>,
        change: Change,
    ) {
        self.touched.insert(workspace.to_owned());
        for &zone in zones {
            let day = local_day(zone, at);
            // Each conversion counts twice: under its workspace, and under ALL_WORKSPACES so
            // that all-workspace figures read one row per day and type, not one per workspace.
            for ws in [workspace, ALL_WORKSPACES] {
                for grain in Grain::ALL {
                    let key = (
                        zone,
                        grain,
                        ws.to_owned(),
                        grain.bucket(day),
                        kind.to_owned(),
                        currency.to_owned(),
                    );
                    self.conversions.entry(key).or_default().add(change);
                }
            }
        }
    }

    /// `workspace` received a contact for the first time at `at`, or (`by` = -1) a contact
    /// it received leaves `status`.
    pub fn contact(
        &mut self,
        zones: &[Tz],
        workspace: &str,
        at: DateTime<Utc>,
        status: ConversionStatus,
        by: i64,
    ) {
        self.touched.insert(workspace.to_owned());
        for &zone in zones {
            let day = local_day(zone, at);
            for grain in Grain::ALL {
                let key = (
                    zone,
                    grain,
                    workspace.to_owned(),
                    grain.bucket(day),
                    status.as_str(),
                );
                *self.contacts.entry(key).or_default() += by;
            }
        }
    }

    /// The status `workspace` reached with a contact moved from `from` to `to`: its receipt of
    /// the contact (on the day it was `first_received`, if it was) moves with it.
    pub fn status_moved(
        &mut self,
        zones: &[Tz],
        workspace: &str,
        first_received: Option<DateTime<Utc>>,
        from: ConversionStatus,
        to: ConversionStatus,
    ) {
        if from == to {
            return;
        }
        if let Some(at) = first_received {
            self.contact(zones, workspace, at, from, -1);
            self.contact(zones, workspace, at, to, 1);
        }
        self.touched.insert(workspace.to_owned());
    }

    /// Folds another write's changes into this one.
    pub fn merge(&mut self, other: Delta) {
        for (key, change) in other.conversions {
            self.conversions.entry(key).or_default().add(change);
        }
        for (key, n) in other.contacts {
            *self.contacts.entry(key).or_default() += n;
        }
        self.touched.extend(other.touched);
    }

    /// Adds the delta to the stored rollups (an upsert per table, all of its rows from one
    /// JSON parameter: `sets::insert_from`) and bumps the analytics version of every
    /// workspace it touches. Rows go in key order, so two writers lock shared rows in one order.
    pub async fn apply(self, conn: &impl ConnectionTrait) -> AppResult<()> {
        if !self.touched.is_empty() {
            let touched: Vec<String> = self.touched.into_iter().collect();
            let (list, values) = sets::key_list(conn.get_database_backend(), &touched);
            let sql = format!(
                "UPDATE workspaces SET analytics_version = analytics_version + 1 \
                 WHERE id IN ({list})"
            );
            conn.execute_raw(Statement::from_sql_and_values(
                conn.get_database_backend(),
                sql,
                values,
            ))
            .await?;
        }
        let mut conversions: Vec<_> = self.conversions.into_iter().collect();
        conversions.sort_unstable_by(|(a, _), (b, _)| key_order(a).cmp(&key_order(b)));
        let rows = conversions
            .into_iter()
            .map(|((zone, grain, ws, day, kind, currency), t)| {
                let (high, low) = wide::split_signed(t.total_minor).ok_or_else(|| {
                    AppError::Internal("a rollup change does not fit in 96 bits".into())
                })?;
                Ok(vec![
                    zone.name().into(),
                    grain.as_str().into(),
                    ws.into(),
                    day.into(),
                    kind.into(),
                    currency.into(),
                    t.conversions.into(),
                    low.into(),
                    high.into(),
                    t.valued.into(),
                ])
            })
            .collect::<AppResult<Vec<_>>>()?;
        // The total's halves: the low halves' sum (below 2^33) is masked, its carry moves up.
        let low_sum = added("conversion_rollups", "total_minor_low");
        let conflict = format!(
            " ON CONFLICT (zone, grain, workspace_id, day, conversion_type, currency) DO UPDATE \
             SET conversions = {}, valued = {}, total_minor_low = ({low_sum}) & {mask}, \
             total_minor_high = {} + (({low_sum}) >> {bits})",
            added("conversion_rollups", "conversions"),
            added("conversion_rollups", "valued"),
            added("conversion_rollups", "total_minor_high"),
            mask = wide::LOW_MASK,
            bits = wide::LOW_BITS,
        );
        sets::insert_from(
            conn,
            "conversion_rollups",
            &[
                ("zone", "text"),
                ("grain", "text"),
                ("workspace_id", "text"),
                ("day", "date"),
                ("conversion_type", "text"),
                ("currency", "text"),
                ("conversions", "bigint"),
                ("total_minor_low", "bigint"),
                ("total_minor_high", "bigint"),
                ("valued", "bigint"),
            ],
            rows,
            &conflict,
        )
        .await?;
        let mut contacts: Vec<_> = self.contacts.into_iter().filter(|(_, n)| *n != 0).collect();
        contacts.sort_unstable_by(|(a, _), (b, _)| contact_key_order(a).cmp(&contact_key_order(b)));
        let rows = contacts
            .into_iter()
            .map(|((zone, grain, ws, day, status), n)| {
                vec![
                    zone.name().into(),
                    grain.as_str().into(),
                    ws.into(),
                    day.into(),
                    status.into(),
                    n.into(),
                ]
            })
            .collect();
        let conflict = format!(
            " ON CONFLICT (zone, grain, workspace_id, day, status) DO UPDATE SET contacts = {}",
            added("contact_rollups", "contacts")
        );
        sets::insert_from(
            conn,
            "contact_rollups",
            &[
                ("zone", "text"),
                ("grain", "text"),
                ("workspace_id", "text"),
                ("day", "date"),
                ("status", "text"),
                ("contacts", "bigint"),
            ],
            rows,
            &conflict,
        )
        .await
    }
}

/// A conversion rollup key as something ordered: zones by name.
fn key_order(key: &ConversionKey) -> (&str, &str, &str, NaiveDate, &str, &str) {
    let (zone, grain, ws, day, kind, currency) = key;
    (zone.name(), grain.as_str(), ws, *day, kind, currency)
}

/// A contact rollup key as something ordered: zones by name.
fn contact_key_order(key: &ContactKey) -> (&str, &str, &str, NaiveDate, &str) {
    let (zone, grain, ws, day, status) = key;
    (zone.name(), grain.as_str(), ws, *day, status)
}

/// `stored + excluded` for a column of an upsert into `table`: both databases name the
/// proposed row `excluded`.
fn added(table: &str, column: &str) -> String {
    format!("\"{table}\".\"{column}\" + excluded.\"{column}\"")
}

/// When `workspace` first received the contact: the day its contact rollups count it on.
pub async fn first_receipt(
    conn: &impl ConnectionTrait,
    contact_id: i64,
    workspace: &str,
) -> AppResult<Option<DateTime<Utc>>> {
    let pair = (contact_id, workspace.to_owned());
    let first = crate::service::sets::first_receipts(conn, std::slice::from_ref(&pair)).await?;
    Ok(first.get(&pair).copied())
}

/// Moves `workspace`'s receipt of a contact from one status to another when the status that
/// workspace reached changes, and marks its figures stale (its conversions grouped by contact
/// status read that status). Each receiver's funnel counts its own progress only: another
/// workspace's work on a shared contact moves nothing here.
pub async fn status_changed(
    conn: &impl ConnectionTrait,
    zones: &[Tz],
    delta: &mut Delta,
    contact_id: i64,
    workspace: &str,
    from: ConversionStatus,
    to: ConversionStatus,
) -> AppResult<()> {
    if from != to {
        let first = first_receipt(conn, contact_id, workspace).await?;
        delta.status_moved(zones, workspace, first, from, to);
    }
    Ok(())
}

/// Brings the stored zones in line with the configured ones: builds the rollups of a zone
/// that is new (from the rows, in one transaction) and drops those of a zone no longer
/// configured, which would otherwise go stale. Runs under the start-up lock.
pub async fn sync_zones(conn: &sea_orm::DatabaseConnection, zones: &[Tz]) -> AppResult<()> {
    let stored: HashSet<String> = rollup_zone::Entity::find()
        .all(conn)
        .await?
        .into_iter()
        .map(|z| z.zone)
        .collect();
    let wanted: HashSet<String> = zones.iter().map(|z| z.name().to_owned()).collect();
    for gone in stored.difference(&wanted) {
        let txn = conn.begin().await?;
        drop_zone(&txn, gone).await?;
        txn.commit().await?;
        tracing::info!(zone = %gone, "analytics rollups dropped");
    }
    for &zone in zones.iter().filter(|z| !stored.contains(z.name())) {
        let started = std::time::Instant::now();
        let txn = conn.begin().await?;
        build_zone(&txn, zone).await?;
        txn.commit().await?;
        tracing::info!(zone = %zone.name(), ms = started.elapsed().as_millis() as u64, "analytics rollups built");
    }
    Ok(())
}

async fn drop_zone(conn: &impl ConnectionTrait, zone: &str) -> AppResult<()> {
    conversion_rollup::Entity::delete_many()
        .filter(conversion_rollup::Column::Zone.eq(zone))
        .exec(conn)
        .await?;
    contact_rollup::Entity::delete_many()
        .filter(contact_rollup::Column::Zone.eq(zone))
        .exec(conn)
        .await?;
    rollup_zone::Entity::delete_by_id(zone.to_owned())
        .exec(conn)
        .await?;
    Ok(())
}

/// Computes a zone's rollups from the rows, streaming them so memory stays flat.
pub async fn build_zone<C>(conn: &C, zone: Tz) -> AppResult<()>
where
    C: ConnectionTrait + StreamTrait,
{
    drop_zone(conn, zone.name()).await?;
    let zones = [zone];
    let mut delta = Delta::default();
    {
        let mut rows = conversion::Entity::find()
            .select_only()
            .column(conversion::Column::WorkspaceId)
            .column(conversion::Column::ConversionType)
            .column(conversion::Column::Currency)
            .column(conversion::Column::ConvertedAt)
            .column(conversion::Column::ValueMinor)
            .filter(conversion::Column::Status.eq(ConversionState::Active.as_str()))
            .into_tuple::<(String, String, String, DateTime<Utc>, Option<i64>)>()
            .stream(conn)
            .await?;
        while let Some((ws, kind, currency, at, value)) = rows.try_next().await? {
            delta.conversion(&zones, &ws, &kind, &currency, at, value);
        }
    }
    // Each (workspace, contact) receipt on its first day, under the status that workspace
    // reached (`contact_states`; pending without one). In a block, so the stream lets go of
    // the connection before the delta is applied.
    {
        let statement =
            ConnectionTrait::get_database_backend(conn).build(&receipts_by_own_status());
        let mut receipts = std::pin::pin!(conn.stream_raw(statement).await?);
        while let Some(row) = receipts.try_next().await? {
            let ws: String = row.try_get("", "workspace_id")?;
            let at: DateTime<Utc> = row.try_get("", "first")?;
            let status: Option<String> = row.try_get("", "status")?;
            let status = status.map_or(ConversionStatus::Pending, |s| {
                ConversionStatus::from_stored(&s)
            });
            delta.contact(&zones, &ws, at, status, 1);
        }
    }
    delta.apply(conn).await?;
    rollup_zone::Entity::insert(rollup_zone::ActiveModel {
        zone: sea_orm::Set(zone.name().to_owned()),
        built_at: sea_orm::Set(super::now()),
    })
    .exec(conn)
    .await?;
    Ok(())
}

/// `(workspace_id, first, status)` of every receipt: its first day and its receiver's status.
pub(super) fn receipts_by_own_status() -> sea_orm::sea_query::SelectStatement {
    use contact_state::Column as S;
    use workspace_tracking::Column as T;
    let t = workspace_tracking::Entity;
    let s = contact_state::Entity;
    let mut select = Query::select();
    select
        .column((t, T::WorkspaceId))
        .expr_as(Expr::col((t, T::Timestamp)).min(), Alias::new("first"))
        .expr_as(Expr::col((s, S::ConversionStatus)), Alias::new("status"))
        .from(t)
        .left_join(
            s,
            Expr::col((s, S::ContactId))
                .equals((t, T::ContactId))
                .and(Expr::col((s, S::WorkspaceId)).equals((t, T::WorkspaceId))),
        )
        .and_where(Expr::col((t, T::Action)).eq(TrackingAction::Received.as_str()))
        .and_where(super::tracking::handoffs())
        .group_by_col((t, T::WorkspaceId))
        .group_by_col((t, T::ContactId))
        .group_by_col((s, S::ConversionStatus));
    select
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Two sales whose low halves overflow 32 bits together: the upsert masks the low half
    /// and carries into the high one, as SQLite runs it.
    #[tokio::test]
    async fn totals_add_with_their_carry() {
        let (_dir, conn) = sets::migrated_sqlite().await;
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        for _ in 0..2 {
            let mut delta = Delta::default();
            delta.conversion(&[Tz::UTC], "ws", "sale", "USD", at, Some(3_000_000_000));
            delta.apply(&conn).await.expect("applied");
        }
        let rows = conversion_rollup::Entity::find()
            .all(&conn)
            .await
            .expect("rollups");
        assert_eq!(
            rows.len(),
            4,
            "a day and a month, for the workspace and for all"
        );
        for row in rows {
            assert_eq!(row.total_minor_low, 6_000_000_000 & wide::LOW_MASK);
            assert_eq!(row.total_minor_high, 1);
            assert_eq!((row.conversions, row.valued), (2, 2));
        }
    }
}
