//! Multi-currency (#14 §3): `exchange_rates`, set by the admin, and a currency in the
//! conversion rollups' key, so that yen and dollars are never summed as one number.
//!
//! The rollups are derived data: the table is recreated with `currency` in its primary key
//! and `rollup_zones` is emptied, so the next start rebuilds every configured zone from the
//! conversions (as for a newly configured zone). Until then analytics read the rows.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ExchangeRates::Table)
                    .col(text(ExchangeRates::Base))
                    .col(text(ExchangeRates::Quote))
                    .col(date(ExchangeRates::EffectiveDate))
                    // Exact decimal text as the admin wrote it, canonical: `1.0842`.
                    .col(text(ExchangeRates::Rate))
                    .col(text(ExchangeRates::SetBy))
                    .col(timestamp_with_time_zone(ExchangeRates::SetAt))
                    .primary_key(
                        Index::create()
                            .col(ExchangeRates::Base)
                            .col(ExchangeRates::Quote)
                            .col(ExchangeRates::EffectiveDate),
                    )
                    .to_owned(),
            )
            .await?;
        rollups(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rollups(manager, false).await?;
        manager
            .drop_table(Table::drop().table(ExchangeRates::Table).to_owned())
            .await
    }
}

/// Recreates `conversion_rollups` with (`with_currency`) or without the currency in its key,
/// and has the next start rebuild every zone.
async fn rollups(manager: &SchemaManager<'_>, with_currency: bool) -> Result<(), DbErr> {
    manager
        .drop_table(Table::drop().table(ConversionRollups::Table).to_owned())
        .await?;
    let conn = manager.get_connection();
    // Gone with its table; dropped by name as well, so that no path leaves it behind.
    conn.execute_unprepared("DROP INDEX IF EXISTS idx_conversion_rollups_zone_day")
        .await?;
    let mut key = Index::create();
    key.col(ConversionRollups::Zone)
        .col(ConversionRollups::Grain)
        .col(ConversionRollups::WorkspaceId)
        .col(ConversionRollups::Day)
        .col(ConversionRollups::ConversionType);
    let mut table = Table::create();
    table
        .table(ConversionRollups::Table)
        .col(text(ConversionRollups::Zone))
        .col(text(ConversionRollups::Grain))
        .col(text(ConversionRollups::WorkspaceId))
        .col(date(ConversionRollups::Day))
        .col(text(ConversionRollups::ConversionType));
    if with_currency {
        table.col(text(ConversionRollups::Currency));
        key.col(ConversionRollups::Currency);
    }
    table
        .col(big_integer(ConversionRollups::Conversions))
        .col(big_integer(ConversionRollups::TotalMinorLow))
        .col(big_integer(ConversionRollups::TotalMinorHigh))
        .col(big_integer(ConversionRollups::Valued))
        .primary_key(&mut key);
    let table = table.to_owned();
    if manager.get_database_backend() == DbBackend::Sqlite {
        // Clustered on its key, as the table it replaces (m20261125_000014).
        let sql = format!("{} WITHOUT ROWID", table.to_string(SqliteQueryBuilder));
        conn.execute_unprepared(&sql).await?;
    } else {
        manager.create_table(table).await?;
    }
    manager
        .create_index(
            Index::create()
                // Not the old index's name: on SQLite a pooled connection that prepared the
                // old `CREATE INDEX` text could otherwise find it "already exists".
                .name("idx_conversion_rollups_by_day")
                .table(ConversionRollups::Table)
                .col(ConversionRollups::Zone)
                .col(ConversionRollups::Grain)
                .col(ConversionRollups::Day)
                .to_owned(),
        )
        .await?;
    for table in ["contact_rollups", "rollup_zones"] {
        conn.execute_unprepared(&format!("DELETE FROM {table}"))
            .await?;
    }
    Ok(())
}

#[derive(DeriveIden)]
enum ExchangeRates {
    Table,
    Base,
    Quote,
    EffectiveDate,
    Rate,
    SetBy,
    SetAt,
}

#[derive(DeriveIden)]
enum ConversionRollups {
    Table,
    Zone,
    Grain,
    WorkspaceId,
    Day,
    ConversionType,
    Currency,
    Conversions,
    TotalMinorLow,
    TotalMinorHigh,
    Valued,
}
