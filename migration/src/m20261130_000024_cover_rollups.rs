//! Dashboard reads as index-only scans on PostgreSQL (#12): the rollups' primary keys carry
//! the figures they sum (`INCLUDE`), so a read of a key range finds every figure in the index
//! and visits the table only for pages not yet marked all-visible by VACUUM.
//!
//! SQLite needs nothing: its rollup tables are `WITHOUT ROWID`, clustered on the same key.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, key columns, summed columns).
const ROLLUPS: [(&str, &str, &str); 2] = [
    (
        "conversion_rollups",
        "zone, grain, workspace_id, day, conversion_type, currency",
        "conversions, total_minor_low, total_minor_high, valued",
    ),
    (
        "contact_rollups",
        "zone, grain, workspace_id, day, status",
        "contacts",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        primary_keys(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        primary_keys(manager, false).await
    }
}

/// Rebuilds each rollup table's primary key on the same columns, with (`cover`) or without
/// the summed columns included.
async fn primary_keys(manager: &SchemaManager<'_>, cover: bool) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let conn = manager.get_connection();
    for (table, key, sums) in ROLLUPS {
        let include = match cover {
            true => format!(" INCLUDE ({sums})"),
            false => String::new(),
        };
        conn.execute_unprepared(&format!(
            "ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, \
             ADD CONSTRAINT {table}_pkey PRIMARY KEY ({key}){include}"
        ))
        .await?;
    }
    Ok(())
}
