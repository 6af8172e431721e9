//! Creates `workspaces`: the tenants that send and convert contacts.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Workspaces::Table)
                    .col(text(Workspaces::Id).primary_key())
                    .col(text(Workspaces::Name))
                    .col(json_binary(Workspaces::Permissions))
                    .col(timestamp_with_time_zone(Workspaces::CreatedAt))
                    .col(timestamp_with_time_zone_null(Workspaces::DisabledAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Workspaces::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub(crate) enum Workspaces {
    Table,
    Id,
    Name,
    Permissions,
    CreatedAt,
    DisabledAt,
}
