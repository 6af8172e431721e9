//! `feed_events.contact_after`: the contact's conversion state right after the event's
//! conversion, captured in the writing transaction, so a feed event shows the contact as it
//! stood then (not as a later conversion in the same batch left it). Older rows have none and
//! show the contact as stored now.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(FeedEvents::Table)
                    .add_column(json_binary_null(FeedEvents::ContactAfter))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(FeedEvents::Table)
                    .drop_column(FeedEvents::ContactAfter)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum FeedEvents {
    Table,
    ContactAfter,
}
