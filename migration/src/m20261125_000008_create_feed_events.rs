//! Creates `feed_events`: the durable, ordered identity of every event on the live feed.
//! Nodes notify each other with just the id (PostgreSQL NOTIFY) and read the rest from
//! here, so a node that missed notifications catches up from the table.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FeedEvents::Table)
                    .col(big_pk_auto(FeedEvents::Id))
                    .col(uuid(FeedEvents::ConversionId))
                    .col(timestamp_with_time_zone(FeedEvents::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_feed_events_conversion")
                            .from(FeedEvents::Table, FeedEvents::ConversionId)
                            .to(Conversions::Table, Conversions::Id),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FeedEvents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum FeedEvents {
    Table,
    Id,
    ConversionId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Conversions {
    Table,
    Id,
}
