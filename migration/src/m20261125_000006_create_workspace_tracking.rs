//! Creates `workspace_tracking`: the history of what each workspace did with each contact.

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
                    .table(WorkspaceTracking::Table)
                    .col(big_pk_auto(WorkspaceTracking::Id))
                    .col(big_integer(WorkspaceTracking::ContactId))
                    .col(big_integer_null(WorkspaceTracking::LeadId))
                    .col(text(WorkspaceTracking::WorkspaceId))
                    // 'created', 'sent', 'received', 'converted' or 'updated'.
                    .col(text(WorkspaceTracking::Action))
                    .col(timestamp_with_time_zone(WorkspaceTracking::Timestamp))
                    .col(json_binary_null(WorkspaceTracking::Metadata))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tracking_contact")
                            .from(WorkspaceTracking::Table, WorkspaceTracking::ContactId)
                            .to(Contacts::Table, Contacts::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tracking_lead")
                            .from(WorkspaceTracking::Table, WorkspaceTracking::LeadId)
                            .to(Leads::Table, Leads::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tracking_workspace")
                            .from(WorkspaceTracking::Table, WorkspaceTracking::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tracking_workspace_action_time")
                    .table(WorkspaceTracking::Table)
                    .col(WorkspaceTracking::WorkspaceId)
                    .col(WorkspaceTracking::Action)
                    .col(WorkspaceTracking::Timestamp)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tracking_contact_workspace")
                    .table(WorkspaceTracking::Table)
                    .col(WorkspaceTracking::ContactId)
                    .col(WorkspaceTracking::WorkspaceId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WorkspaceTracking::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum WorkspaceTracking {
    Table,
    Id,
    ContactId,
    LeadId,
    WorkspaceId,
    Action,
    Timestamp,
    Metadata,
}
