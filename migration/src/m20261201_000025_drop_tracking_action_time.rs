//! One index fewer on the ingest path (#12): `idx_tracking_workspace_action_time`
//! (workspace, action, time) served no query. Every read by workspace and action
//! (receipts, contacts sent, first receipts) probes `idx_tracking_workspace_action_contact`, and
//! the workspace's activity in time order reads `idx_tracking_workspace_time`. Each conversion
//! adds a tracking row, and this index's row for it landed on a page of its own per workspace:
//! a page more for every group commit to write.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WorkspaceTracking {
    Table,
    WorkspaceId,
    Action,
    Timestamp,
}

const NAME: &str = "idx_tracking_workspace_action_time";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(NAME)
                    .table(WorkspaceTracking::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(WorkspaceTracking::Table)
                    .col(WorkspaceTracking::WorkspaceId)
                    .col(WorkspaceTracking::Action)
                    .col(WorkspaceTracking::Timestamp)
                    .to_owned(),
            )
            .await
    }
}
