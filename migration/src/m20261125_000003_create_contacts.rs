//! Creates `contacts`: the people being tracked, with conversion state and lifetime value.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Contacts::Table)
                    .col(big_pk_auto(Contacts::Id))
                    .col(text_null(Contacts::Name))
                    .col(text_null(Contacts::Email))
                    .col(text_null(Contacts::Phone))
                    .col(timestamp_with_time_zone(Contacts::CreatedAt))
                    .col(timestamp_with_time_zone(Contacts::UpdatedAt))
                    .col(text_null(Contacts::SentFromWorkspace))
                    .col(text_null(Contacts::ConvertedFromWorkspace))
                    .col(text(Contacts::ConversionStatus).default("pending"))
                    .col(timestamp_with_time_zone_null(Contacts::ConvertedTimestamp))
                    .col(text_null(Contacts::ConvertedBy))
                    .col(json_binary_null(Contacts::CustomMetadata))
                    .col(big_integer(Contacts::LifetimeValueMinor).default(0))
                    .col(text(Contacts::Currency))
                    .col(integer(Contacts::ConversionCount).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_contacts_status")
                    .table(Contacts::Table)
                    .col(Contacts::ConversionStatus)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Contacts::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub(crate) enum Contacts {
    Table,
    Id,
    Name,
    Email,
    Phone,
    CreatedAt,
    UpdatedAt,
    SentFromWorkspace,
    ConvertedFromWorkspace,
    ConversionStatus,
    ConvertedTimestamp,
    ConvertedBy,
    CustomMetadata,
    LifetimeValueMinor,
    Currency,
    ConversionCount,
}
