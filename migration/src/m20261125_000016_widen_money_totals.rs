//! Money totals that no number of conversions can overflow. A contact's lifetime value and a
//! rollup's total were one BIGINT each: one workspace logging enough large sales filled the
//! all-workspace rollup of a month (PostgreSQL then refused every tenant's valued sale in it;
//! SQLite turned the total into an inexact float) or a shared contact's lifetime value (others'
//! conversions on it were refused). Each total is now two BIGINTs, `high × 2^32 + low` with
//! `0 ≤ low < 2^32`, which SQL adds exactly (see `entity/src/wide.rs`).
//!
//! Stored totals are re-encoded in place. A SQLite rollup total that had already overflowed
//! into a float cannot be trusted: then every rollup is dropped, and the next start rebuilds
//! the configured zones from the conversions (as for a newly configured zone).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `2^32 − 1` and `2^32`.
const LOW_MASK: i64 = 4_294_967_295;
const BASE: i64 = 4_294_967_296;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Looked for first: splitting a float would turn it into some integer.
        let overflowed = sqlite_totals_overflowed(manager).await?;
        widen(
            manager,
            Contacts::Table,
            Contacts::LifetimeValueMinor,
            Contacts::LifetimeValueLow,
            Contacts::LifetimeValueHigh,
        )
        .await?;
        widen(
            manager,
            ConversionRollups::Table,
            ConversionRollups::TotalMinor,
            ConversionRollups::TotalMinorLow,
            ConversionRollups::TotalMinorHigh,
        )
        .await?;
        if overflowed {
            let conn = manager.get_connection();
            for table in ["conversion_rollups", "contact_rollups", "rollup_zones"] {
                conn.execute_unprepared(&format!("DELETE FROM {table}"))
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        narrow(
            manager,
            Contacts::Table,
            Contacts::LifetimeValueMinor,
            Contacts::LifetimeValueLow,
            Contacts::LifetimeValueHigh,
        )
        .await?;
        narrow(
            manager,
            ConversionRollups::Table,
            ConversionRollups::TotalMinor,
            ConversionRollups::TotalMinorLow,
            ConversionRollups::TotalMinorHigh,
        )
        .await
    }
}

/// Whether a SQLite rollup total holds a float: what an integer sum past 2^63 - 1 becomes
/// there. (PostgreSQL refused such a sum instead.)
async fn sqlite_totals_overflowed(manager: &SchemaManager<'_>) -> Result<bool, DbErr> {
    let conn = manager.get_connection();
    if conn.get_database_backend() != DbBackend::Sqlite {
        return Ok(false);
    }
    let floats = conn
        .query_one_raw(sea_orm_migration::sea_orm::Statement::from_string(
            DbBackend::Sqlite,
            "SELECT COUNT(*) AS n FROM conversion_rollups WHERE typeof(total_minor) <> 'integer'",
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    Ok(floats > 0)
}

/// Renames `old` to `low`, adds `high`, and moves every value's upper bits into `high`.
async fn widen<T, C>(
    manager: &SchemaManager<'_>,
    table: T,
    old: C,
    low: C,
    high: C,
) -> Result<(), DbErr>
where
    T: IntoIden + Copy + 'static,
    C: IntoIden + Copy + 'static,
{
    manager
        .alter_table(
            Table::alter()
                .table(table)
                .rename_column(old, low)
                .to_owned(),
        )
        .await?;
    manager
        .alter_table(
            Table::alter()
                .table(table)
                .add_column(big_integer(high).default(0))
                .to_owned(),
        )
        .await?;
    // Both expressions read the row as it was, so `low` is split before it is masked.
    let update = Query::update()
        .table(table)
        .value(high, Expr::col(low).right_shift(32))
        .value(low, Expr::col(low).bit_and(LOW_MASK))
        .and_where(Expr::col(low).gt(LOW_MASK))
        .to_owned();
    manager.exec_stmt(update).await
}

/// Undoes [`widen`]. A total beyond 2^63 − 1 has no old form: it keeps only its low bits.
async fn narrow<T, C>(
    manager: &SchemaManager<'_>,
    table: T,
    old: C,
    low: C,
    high: C,
) -> Result<(), DbErr>
where
    T: IntoIden + Copy + 'static,
    C: IntoIden + Copy + 'static,
{
    let update = Query::update()
        .table(table)
        .value(low, Expr::col(low).add(Expr::col(high).mul(BASE)))
        .and_where(Expr::col(high).gt(0))
        .and_where(Expr::col(high).lte(i64::from(i32::MAX)))
        .to_owned();
    manager.exec_stmt(update).await?;
    manager
        .alter_table(Table::alter().table(table).drop_column(high).to_owned())
        .await?;
    manager
        .alter_table(
            Table::alter()
                .table(table)
                .rename_column(low, old)
                .to_owned(),
        )
        .await
}

#[derive(DeriveIden, Clone, Copy)]
enum Contacts {
    Table,
    LifetimeValueMinor,
    LifetimeValueLow,
    LifetimeValueHigh,
}

#[derive(DeriveIden, Clone, Copy)]
enum ConversionRollups {
    Table,
    TotalMinor,
    TotalMinorLow,
    TotalMinorHigh,
}
