//! Chains `audit_log` into a tamper-evident list: each entry stores the hash of the entry
//! before it (`prev_hash`) and its own hash over that and its content (`hash`). Both are
//! nullable so rows written before this migration stay valid; those rows are outside the
//! chain, which starts at the first entry written afterwards.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one column at a time.
        for column in [AuditLog::PrevHash, AuditLog::Hash] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditLog::Table)
                        .add_column(text_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [AuditLog::Hash, AuditLog::PrevHash] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditLog::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditLog {
    Table,
    PrevHash,
    Hash,
}
