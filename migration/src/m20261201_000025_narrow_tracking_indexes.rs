//! Fewer index rows per conversion on the ingest path (#12). Each conversion adds a tracking
//! row, and each index keyed by workspace took a row for it on a page of its own per
//! workspace: a page more for every group commit to write.
//!
//! - `idx_tracking_workspace_action_time` (workspace, action, time) served no query: reads by
//!   workspace and action probe (workspace, action, contact), and a workspace's activity in time
//!   order reads `idx_tracking_workspace_time`. Dropped.
//! - (workspace, action, contact) is read only for contacts sent and received. It becomes
//!   `idx_tracking_handoffs`, partial, over those two actions only, so a conversion's row costs
//!   it nothing. A query reads through it only when it repeats the index's condition word for
//!   word (`service::tracking::HANDOFFS`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WorkspaceTracking {
    Table,
    WorkspaceId,
    Action,
    ContactId,
    Timestamp,
}

const HANDOFFS: &str = "CREATE INDEX idx_tracking_handoffs ON workspace_tracking \
     (workspace_id, action, contact_id) WHERE action IN ('received', 'sent')";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "idx_tracking_workspace_action_time",
            "idx_tracking_workspace_action_contact",
        ] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(WorkspaceTracking::Table)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared(HANDOFFS)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_tracking_handoffs")
                    .table(WorkspaceTracking::Table)
                    .to_owned(),
            )
            .await?;
        for (name, last) in [
            (
                "idx_tracking_workspace_action_time",
                WorkspaceTracking::Timestamp,
            ),
            (
                "idx_tracking_workspace_action_contact",
                WorkspaceTracking::ContactId,
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(WorkspaceTracking::Table)
                        .col(WorkspaceTracking::WorkspaceId)
                        .col(WorkspaceTracking::Action)
                        .col(last)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
