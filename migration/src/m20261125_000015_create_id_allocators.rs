//! `id_allocators`: where convio takes the ids it assigns to contacts and leads created
//! without one. Clients may choose ids from 1 to 999,999,999,999,999; convio assigns from
//! 1,000,000,000,000,000 up to 2^53 − 1, one row per table counting upwards. The two ranges
//! never meet, so a client-chosen id can neither collide with an assigned one nor push the
//! counter (before this, PostgreSQL's sequence followed `MAX(id)`, and one contact created as
//! id 2^63 − 1 left no id to assign, for every tenant). Rows stored before the split may sit
//! in the assigned range; the allocator steps over them.

use sea_orm_migration::{prelude::*, schema::*};

/// The first id convio assigns (`ASSIGNED_ID_MIN` in `src/domain/ids.rs`).
const FIRST_ASSIGNED_ID: i64 = 1_000_000_000_000_000;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdAllocators::Table)
                    .col(text(IdAllocators::TableName).primary_key())
                    .col(big_integer(IdAllocators::NextId))
                    .to_owned(),
            )
            .await?;
        let insert = Query::insert()
            .into_table(IdAllocators::Table)
            .columns([IdAllocators::TableName, IdAllocators::NextId])
            .values_panic(["contacts".into(), FIRST_ASSIGNED_ID.into()])
            .values_panic(["leads".into(), FIRST_ASSIGNED_ID.into()])
            .to_owned();
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdAllocators::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum IdAllocators {
    Table,
    TableName,
    NextId,
}
