//! `audit_anchors`: the audit chain's head, signed with a key the database does not hold
//! (`--audit-anchor-key`), so that removing the newest entries of `audit_log` — which leaves
//! a valid, shorter chain — is detected. One row (`id` 1), moved forward by every write
//! transaction that appends to the chain, in that transaction.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditAnchors::Table)
                    .col(integer(AuditAnchors::Id).primary_key())
                    .col(big_integer(AuditAnchors::EntryId))
                    .col(text(AuditAnchors::EntryHash))
                    .col(big_integer(AuditAnchors::Entries))
                    .col(big_integer(AuditAnchors::SinceEntryId))
                    .col(text(AuditAnchors::KeyId))
                    .col(text(AuditAnchors::Mac))
                    .col(timestamp_with_time_zone(AuditAnchors::SignedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditAnchors::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AuditAnchors {
    Table,
    Id,
    EntryId,
    EntryHash,
    Entries,
    SinceEntryId,
    KeyId,
    Mac,
    SignedAt,
}
