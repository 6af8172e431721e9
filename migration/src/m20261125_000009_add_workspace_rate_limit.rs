//! Rate limiting (plan §5.1): a per-workspace override of the default hourly limit, and
//! `rate_limit_windows`, the request counters shared by every node on PostgreSQL. One row
//! per workspace and clock hour; rows older than two hours are deleted as new hours start.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Workspaces::Table)
                    .add_column(big_integer_null(Workspaces::RateLimitPerHour))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RateLimitWindows::Table)
                    .col(text(RateLimitWindows::WorkspaceId))
                    .col(big_integer(RateLimitWindows::WindowStart))
                    .col(big_integer(RateLimitWindows::Count))
                    .primary_key(
                        Index::create()
                            .col(RateLimitWindows::WorkspaceId)
                            .col(RateLimitWindows::WindowStart),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RateLimitWindows::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Workspaces::Table)
                    .drop_column(Workspaces::RateLimitPerHour)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    RateLimitPerHour,
}

#[derive(DeriveIden)]
enum RateLimitWindows {
    Table,
    WorkspaceId,
    WindowStart,
    Count,
}
