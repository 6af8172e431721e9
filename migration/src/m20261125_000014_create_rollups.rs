//! Creates the analytics rollups: per time zone, per local day and per local month (`grain`;
//! a month's row is dated its first day), the count and exact total of
//! conversions (by workspace and type) and the contacts received (by workspace and current
//! status). They are kept in the same transaction as the rows they summarise, so a dashboard
//! reads a few hundred rollup rows instead of grouping millions of conversions.
//! `rollup_zones` records which zones are complete: a zone added to the configuration is
//! backfilled once, at start. `workspaces.analytics_version` is bumped by every write that
//! changes a workspace's figures, so cached analytics are invalidated on write, on every node.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_clustered(
            manager,
            Table::create()
                .table(ConversionRollups::Table)
                .col(text(ConversionRollups::Zone))
                .col(text(ConversionRollups::Grain))
                .col(text(ConversionRollups::WorkspaceId))
                .col(date(ConversionRollups::Day))
                .col(text(ConversionRollups::ConversionType))
                .col(big_integer(ConversionRollups::Conversions))
                .col(big_integer(ConversionRollups::TotalMinor))
                .col(big_integer(ConversionRollups::Valued))
                // Workspace first: most dashboard reads are one workspace's days.
                .primary_key(
                    Index::create()
                        .col(ConversionRollups::Zone)
                        .col(ConversionRollups::Grain)
                        .col(ConversionRollups::WorkspaceId)
                        .col(ConversionRollups::Day)
                        .col(ConversionRollups::ConversionType),
                )
                .to_owned(),
        )
        .await?;
        // The admin's all-workspace reads go by day.
        manager
            .create_index(
                Index::create()
                    .name("idx_conversion_rollups_zone_day")
                    .table(ConversionRollups::Table)
                    .col(ConversionRollups::Zone)
                    .col(ConversionRollups::Grain)
                    .col(ConversionRollups::Day)
                    .to_owned(),
            )
            .await?;
        create_clustered(
            manager,
            Table::create()
                .table(ContactRollups::Table)
                .col(text(ContactRollups::Zone))
                .col(text(ContactRollups::Grain))
                .col(text(ContactRollups::WorkspaceId))
                // The local day the workspace first received the contact.
                .col(date(ContactRollups::Day))
                .col(text(ContactRollups::Status))
                .col(big_integer(ContactRollups::Contacts))
                .primary_key(
                    Index::create()
                        .col(ContactRollups::Zone)
                        .col(ContactRollups::Grain)
                        .col(ContactRollups::WorkspaceId)
                        .col(ContactRollups::Day)
                        .col(ContactRollups::Status),
                )
                .to_owned(),
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_contact_rollups_zone_day")
                    .table(ContactRollups::Table)
                    .col(ContactRollups::Zone)
                    .col(ContactRollups::Grain)
                    .col(ContactRollups::Day)
                    .to_owned(),
            )
            .await?;
        // Workspace activity counts the distinct contacts a workspace sent (from this index
        // alone) and lists its latest events (in this index's order, with no sort).
        manager
            .create_index(
                Index::create()
                    .name("idx_tracking_workspace_action_contact")
                    .table(WorkspaceTracking::Table)
                    .col(WorkspaceTracking::WorkspaceId)
                    .col(WorkspaceTracking::Action)
                    .col(WorkspaceTracking::ContactId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tracking_workspace_time")
                    .table(WorkspaceTracking::Table)
                    .col(WorkspaceTracking::WorkspaceId)
                    .col(WorkspaceTracking::Timestamp)
                    .col(WorkspaceTracking::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RollupZones::Table)
                    .col(text(RollupZones::Zone).primary_key())
                    .col(timestamp_with_time_zone(RollupZones::BuiltAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Workspaces::Table)
                    .add_column(big_integer(Workspaces::AnalyticsVersion).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_tracking_workspace_action_contact")
                    .table(WorkspaceTracking::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_tracking_workspace_time")
                    .table(WorkspaceTracking::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Workspaces::Table)
                    .drop_column(Workspaces::AnalyticsVersion)
                    .to_owned(),
            )
            .await?;
        for table in [
            RollupZones::Table.into_iden(),
            ContactRollups::Table.into_iden(),
            ConversionRollups::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Creates `table`, on SQLite `WITHOUT ROWID`: rows are then stored in primary-key order, so a
/// workspace's (or all workspaces') run of days is one contiguous read, not a lookup per row.
/// PostgreSQL has no such option; its index-only scans serve the same end.
async fn create_clustered(
    manager: &SchemaManager<'_>,
    table: TableCreateStatement,
) -> Result<(), DbErr> {
    if manager.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Sqlite {
        let sql = format!("{} WITHOUT ROWID", table.to_string(SqliteQueryBuilder));
        manager.get_connection().execute_unprepared(&sql).await?;
        Ok(())
    } else {
        manager.create_table(table).await
    }
}

#[derive(DeriveIden)]
enum ConversionRollups {
    Table,
    Zone,
    Grain,
    WorkspaceId,
    Day,
    ConversionType,
    Conversions,
    TotalMinor,
    Valued,
}

#[derive(DeriveIden)]
enum ContactRollups {
    Table,
    Zone,
    Grain,
    WorkspaceId,
    Day,
    Status,
    Contacts,
}

#[derive(DeriveIden)]
enum RollupZones {
    Table,
    Zone,
    BuiltAt,
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    AnalyticsVersion,
}

#[derive(DeriveIden)]
enum WorkspaceTracking {
    Table,
    Id,
    WorkspaceId,
    Action,
    ContactId,
    Timestamp,
}
