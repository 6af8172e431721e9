//! Creates `idempotency_keys`: a retried webhook with the same key returns the conversion
//! the first attempt stored instead of logging it twice. Written in the same transaction
//! as the conversion, so a key is never recorded without its conversion or vice versa.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    // Whose key: `admin` or `workspace:<id>`; keys are scoped per caller.
                    .col(text(IdempotencyKeys::Scope))
                    .col(text(IdempotencyKeys::Key))
                    // SHA-256 of the parsed request: the same key with another body conflicts.
                    .col(text(IdempotencyKeys::Fingerprint))
                    .col(uuid(IdempotencyKeys::ConversionId))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::Scope)
                            .col(IdempotencyKeys::Key),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_idempotency_conversion")
                            .from(IdempotencyKeys::Table, IdempotencyKeys::ConversionId)
                            .to(Conversions::Table, Conversions::Id),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Scope,
    Key,
    Fingerprint,
    ConversionId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Conversions {
    Table,
    Id,
}
