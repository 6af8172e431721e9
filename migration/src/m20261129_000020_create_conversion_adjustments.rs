//! Retract and restate (issue #14): `conversion_adjustments`, one append-only row per
//! adjustment of a conversion, numbered per conversion; `conversions.status` (`active` or
//! `retracted`), while the row's type and value are its current ones; on `feed_events`, the
//! event's `kind` (`logged`, `adjusted`, `retracted`) and its adjustment; on
//! `idempotency_keys`, the adjustment a key stored (a key stored by logging has none).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConversionAdjustments::Table)
                    .col(uuid(ConversionAdjustments::Id).primary_key())
                    .col(uuid(ConversionAdjustments::ConversionId))
                    .col(integer(ConversionAdjustments::Sequence))
                    .col(text(ConversionAdjustments::WorkspaceId))
                    .col(text(ConversionAdjustments::Action))
                    .col(text(ConversionAdjustments::Reason))
                    .col(text(ConversionAdjustments::ConversionTypeBefore))
                    .col(text(ConversionAdjustments::ConversionTypeAfter))
                    .col(big_integer_null(ConversionAdjustments::ValueMinorBefore))
                    .col(big_integer_null(ConversionAdjustments::ValueMinorAfter))
                    .col(text(ConversionAdjustments::AdjustedBy))
                    .col(timestamp_with_time_zone(ConversionAdjustments::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversion_adjustments_conversion")
                            .from(
                                ConversionAdjustments::Table,
                                ConversionAdjustments::ConversionId,
                            )
                            .to(Conversions::Table, Conversions::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // A conversion's history in order; two writers cannot both append number n.
        manager
            .create_index(
                Index::create()
                    .name("ux_conversion_adjustments_sequence")
                    .table(ConversionAdjustments::Table)
                    .col(ConversionAdjustments::ConversionId)
                    .col(ConversionAdjustments::Sequence)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite adds one at a time.
        let add = |table: DynIden, column: ColumnDef| {
            Table::alter().table(table).add_column(column).to_owned()
        };
        for alter in [
            add(
                Conversions::Table.into_iden(),
                text(Conversions::Status).default("active").to_owned(),
            ),
            add(
                FeedEvents::Table.into_iden(),
                text(FeedEvents::Kind).default("logged").to_owned(),
            ),
            add(
                FeedEvents::Table.into_iden(),
                uuid_null(FeedEvents::AdjustmentId),
            ),
            add(
                IdempotencyKeys::Table.into_iden(),
                uuid_null(IdempotencyKeys::AdjustmentId),
            ),
        ] {
            manager.alter_table(alter).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let drop = |table: DynIden, column: DynIden| {
            Table::alter().table(table).drop_column(column).to_owned()
        };
        for alter in [
            drop(
                IdempotencyKeys::Table.into_iden(),
                IdempotencyKeys::AdjustmentId.into_iden(),
            ),
            drop(
                FeedEvents::Table.into_iden(),
                FeedEvents::AdjustmentId.into_iden(),
            ),
            drop(FeedEvents::Table.into_iden(), FeedEvents::Kind.into_iden()),
            drop(
                Conversions::Table.into_iden(),
                Conversions::Status.into_iden(),
            ),
        ] {
            manager.alter_table(alter).await?;
        }
        manager
            .drop_table(Table::drop().table(ConversionAdjustments::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ConversionAdjustments {
    Table,
    Id,
    ConversionId,
    Sequence,
    WorkspaceId,
    Action,
    Reason,
    ConversionTypeBefore,
    ConversionTypeAfter,
    ValueMinorBefore,
    ValueMinorAfter,
    AdjustedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Conversions {
    Table,
    Id,
    Status,
}

#[derive(DeriveIden)]
enum FeedEvents {
    Table,
    Kind,
    AdjustmentId,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    AdjustmentId,
}
