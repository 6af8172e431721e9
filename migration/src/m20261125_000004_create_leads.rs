//! Creates `leads`: a contact handed to (or by) a workspace.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_workspaces::Workspaces;
use crate::m20261125_000003_create_contacts::Contacts;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Leads::Table)
                    .col(big_pk_auto(Leads::Id))
                    .col(big_integer(Leads::ContactId))
                    .col(timestamp_with_time_zone(Leads::CreatedAt))
                    .col(text_null(Leads::WorkspaceId))
                    // No foreign key: `conversions.lead_id` references `leads`,
                    // and a key in both directions would be a cycle.
                    .col(uuid_null(Leads::ConversionId))
                    .col(json_binary_null(Leads::ConversionMetadata))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_leads_contact")
                            .from(Leads::Table, Leads::ContactId)
                            .to(Contacts::Table, Contacts::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_leads_workspace")
                            .from(Leads::Table, Leads::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_leads_contact")
                    .table(Leads::Table)
                    .col(Leads::ContactId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Leads::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub(crate) enum Leads {
    Table,
    Id,
    ContactId,
    CreatedAt,
    WorkspaceId,
    ConversionId,
    ConversionMetadata,
}
