//! Creates `conversions`: one row per conversion event reported by a workspace.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_workspaces::Workspaces;
use crate::m20261125_000003_create_contacts::Contacts;
use crate::m20261125_000004_create_leads::Leads;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Conversions::Table)
                    .col(pk_uuid(Conversions::Id))
                    .col(big_integer(Conversions::ContactId))
                    .col(big_integer_null(Conversions::LeadId))
                    .col(text(Conversions::WorkspaceId))
                    .col(text(Conversions::ConvertedBy))
                    .col(timestamp_with_time_zone(Conversions::ConvertedAt))
                    .col(text(Conversions::ConversionType))
                    .col(big_integer_null(Conversions::ValueMinor))
                    .col(text(Conversions::Currency))
                    .col(json_binary_null(Conversions::CustomData))
                    .col(timestamp_with_time_zone(Conversions::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversions_contact")
                            .from(Conversions::Table, Conversions::ContactId)
                            .to(Contacts::Table, Contacts::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversions_lead")
                            .from(Conversions::Table, Conversions::LeadId)
                            .to(Leads::Table, Leads::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversions_workspace")
                            .from(Conversions::Table, Conversions::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("idx_conversions_workspace_time")
                    .table(Conversions::Table)
                    .col(Conversions::WorkspaceId)
                    .col(Conversions::ConvertedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_conversions_time")
                    .table(Conversions::Table)
                    .col(Conversions::ConvertedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_conversions_contact")
                    .table(Conversions::Table)
                    .col(Conversions::ContactId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_conversions_type_time")
                    .table(Conversions::Table)
                    .col(Conversions::ConversionType)
                    .col(Conversions::ConvertedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Conversions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Conversions {
    Table,
    Id,
    ContactId,
    LeadId,
    WorkspaceId,
    ConvertedBy,
    ConvertedAt,
    ConversionType,
    ValueMinor,
    Currency,
    CustomData,
    CreatedAt,
}
