//! Creates `webhook_endpoints` (where a workspace, or the admin, wants events sent) and
//! `webhook_deliveries` (the outbox: one row per event and endpoint, inserted in the
//! transaction that wrote the event, then attempted by the delivery worker until delivered
//! or dead).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .col(pk_uuid(WebhookEndpoints::Id))
                    // NULL: the admin's endpoint, which receives every workspace's events.
                    .col(text_null(WebhookEndpoints::WorkspaceId))
                    .col(text(WebhookEndpoints::Url))
                    // One bit per event type (service::webhooks::EventType::bit).
                    .col(big_integer(WebhookEndpoints::EventMask))
                    // Sealed with the encryption keys when configured, else `whsec_…`.
                    .col(text(WebhookEndpoints::Secret))
                    .col(timestamp_with_time_zone(WebhookEndpoints::CreatedAt))
                    .col(timestamp_with_time_zone_null(
                        WebhookEndpoints::FailingSince,
                    ))
                    .col(timestamp_with_time_zone_null(WebhookEndpoints::DisabledAt))
                    .col(text_null(WebhookEndpoints::Notice))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_endpoints_workspace")
                    .table(WebhookEndpoints::Table)
                    .col(WebhookEndpoints::WorkspaceId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(big_pk_auto(WebhookDeliveries::Id))
                    .col(uuid(WebhookDeliveries::EndpointId))
                    // `webhook-id`: the same on every attempt, and for every endpoint.
                    .col(text(WebhookDeliveries::MessageId))
                    .col(text(WebhookDeliveries::EventType))
                    // The exact body signed and sent.
                    .col(text(WebhookDeliveries::Payload))
                    // `pending`, `delivered` or `dead`.
                    .col(text(WebhookDeliveries::Status))
                    .col(integer(WebhookDeliveries::Attempts))
                    .col(timestamp_with_time_zone(WebhookDeliveries::NextAttemptAt))
                    // A node's claim on the delivery while it attempts it.
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::LockedUntil,
                    ))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::LastAttemptAt,
                    ))
                    .col(integer_null(WebhookDeliveries::LastStatusCode))
                    .col(text_null(WebhookDeliveries::LastError))
                    .col(text_null(WebhookDeliveries::LastResponse))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_deliveries_endpoint")
                            .from(WebhookDeliveries::Table, WebhookDeliveries::EndpointId)
                            .to(WebhookEndpoints::Table, WebhookEndpoints::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The worker's question: what is due?
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_due")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        // An endpoint's delivery log, newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_endpoint")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::EndpointId)
                    .col(WebhookDeliveries::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(WebhookEndpoints::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    WorkspaceId,
    Url,
    EventMask,
    Secret,
    CreatedAt,
    FailingSince,
    DisabledAt,
    Notice,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    EndpointId,
    MessageId,
    EventType,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    LastAttemptAt,
    LastStatusCode,
    LastError,
    LastResponse,
    CreatedAt,
}
