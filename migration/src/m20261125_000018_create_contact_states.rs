//! Creates `contact_states`: per (contact, workspace), what that workspace made of the contact
//! (its own conversions' count, total and latest, the status it reached, who sent it the
//! contact) and whether it owns the contact. A contact several workspaces received used to show
//! each of them the whole outcome, so one receiver read another's sale off the shared row; a
//! receiver now sees its own state instead, and the funnel counts each receiver's own progress.
//!
//! Existing data is backfilled: a row for every (contact, workspace) pair with tracking; the
//! owner is the workspace that created the contact, or for a contact created without one, the
//! first workspace it was sent from that had not held it; figures and status come from each
//! workspace's own conversions. (A status a receiver set by `PATCH` before this migration was
//! stored only on the shared row and cannot be told apart from others': it is rebuilt from the
//! receiver's conversions.) The analytics rollups are dropped, and the next start rebuilds the
//! configured zones, now counting each receipt by its receiver's own status.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_workspaces::Workspaces;
use crate::m20261125_000003_create_contacts::Contacts;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ContactStates::Table)
                    .col(big_integer(ContactStates::ContactId))
                    .col(text(ContactStates::WorkspaceId))
                    .col(boolean(ContactStates::Owner).default(false))
                    .col(text(ContactStates::ConversionStatus).default("pending"))
                    .col(integer(ContactStates::ConversionCount).default(0))
                    .col(big_integer(ContactStates::LifetimeValueLow).default(0))
                    .col(big_integer(ContactStates::LifetimeValueHigh).default(0))
                    .col(text_null(ContactStates::ConvertedBy))
                    .col(text_null(ContactStates::ConvertedFromWorkspace))
                    .col(timestamp_with_time_zone_null(
                        ContactStates::ConvertedTimestamp,
                    ))
                    .col(text_null(ContactStates::SentFromWorkspace))
                    .col(timestamp_with_time_zone(ContactStates::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(ContactStates::ContactId)
                            .col(ContactStates::WorkspaceId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_contact_states_contact")
                            .from(ContactStates::Table, ContactStates::ContactId)
                            .to(Contacts::Table, Contacts::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_contact_states_workspace")
                            .from(ContactStates::Table, ContactStates::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // A workspace's contacts by the status it reached: the `status` filter of `contacts`.
        manager
            .create_index(
                Index::create()
                    .name("idx_contact_states_workspace_status")
                    .table(ContactStates::Table)
                    .col(ContactStates::WorkspaceId)
                    .col(ContactStates::ConversionStatus)
                    .col(ContactStates::ContactId)
                    .to_owned(),
            )
            .await?;
        backfill(manager).await?;
        drop_rollups(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ContactStates::Table).to_owned())
            .await?;
        // Rebuilt at the next start with the shared status, as before.
        drop_rollups(manager).await
    }
}

async fn backfill(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    // The workspace the tracking row `r` names as the other side of a send.
    let counterpart = match conn.get_database_backend() {
        DbBackend::Postgres => "r.metadata->>'counterpart'",
        _ => "json_extract(r.metadata, '$.counterpart')",
    };
    conn.execute_unprepared(&format!(
        "INSERT INTO contact_states (contact_id, workspace_id, owner, conversion_status, \
         conversion_count, lifetime_value_low, lifetime_value_high, sent_from_workspace, updated_at) \
         SELECT t.contact_id, t.workspace_id, \
           (MAX(CASE WHEN t.action = 'created' THEN 1 ELSE 0 END) = 1 \
            OR (NOT EXISTS (SELECT 1 FROM workspace_tracking c \
                            WHERE c.contact_id = t.contact_id AND c.action = 'created') \
                AND t.workspace_id = ({FIRST_SENDER}))), \
           'pending', 0, 0, 0, \
           (SELECT {counterpart} FROM workspace_tracking r \
            WHERE r.contact_id = t.contact_id AND r.workspace_id = t.workspace_id \
              AND r.action = 'received' ORDER BY r.id DESC LIMIT 1), \
           MAX(t.timestamp) \
         FROM workspace_tracking t GROUP BY t.contact_id, t.workspace_id"
    ))
    .await?;
    conn.execute_unprepared(&format!(
        "UPDATE contact_states SET \
           conversion_count = (SELECT COUNT(*) FROM conversions v WHERE {PAIR}), \
           lifetime_value_high = (SELECT CAST(COALESCE(SUM(COALESCE(v.value_minor, 0) >> 32), 0) AS BIGINT) \
             + (CAST(COALESCE(SUM(COALESCE(v.value_minor, 0) & {LOW_MASK}), 0) AS BIGINT) >> 32) \
             FROM conversions v WHERE {PAIR}), \
           lifetime_value_low = (SELECT CAST(COALESCE(SUM(COALESCE(v.value_minor, 0) & {LOW_MASK}), 0) AS BIGINT) \
             & {LOW_MASK} FROM conversions v WHERE {PAIR}), \
           converted_timestamp = (SELECT MAX(v.converted_at) FROM conversions v WHERE {PAIR}), \
           converted_by = (SELECT v.converted_by FROM conversions v WHERE {PAIR} \
             ORDER BY v.created_at DESC LIMIT 1), \
           converted_from_workspace = workspace_id, \
           conversion_status = CASE \
             WHEN EXISTS (SELECT 1 FROM conversions v WHERE {PAIR} AND v.conversion_type = 'sale') \
               THEN 'converted' \
             WHEN EXISTS (SELECT 1 FROM conversions v WHERE {PAIR} AND v.conversion_type = 'appointment') \
               THEN 'appointment' \
             WHEN EXISTS (SELECT 1 FROM conversions v WHERE {PAIR} AND v.conversion_type = 'qualified') \
               THEN 'qualified' \
             ELSE conversion_status END \
         WHERE EXISTS (SELECT 1 FROM conversions v WHERE {PAIR})"
    ))
    .await?;
    Ok(())
}

/// The first workspace the contact `t` was sent from that held nothing of it before.
const FIRST_SENDER: &str = "SELECT s.workspace_id FROM workspace_tracking s \
     WHERE s.contact_id = t.contact_id AND s.action = 'sent' \
       AND NOT EXISTS (SELECT 1 FROM workspace_tracking e WHERE e.contact_id = s.contact_id \
                       AND e.workspace_id = s.workspace_id AND e.id < s.id) \
     ORDER BY s.id LIMIT 1";

/// The conversions `v` of the `contact_states` row being updated.
const PAIR: &str = "v.contact_id = contact_states.contact_id \
     AND v.workspace_id = contact_states.workspace_id";

/// `2^32 − 1`: the low half of a wide total (see `entity/src/wide.rs`).
const LOW_MASK: i64 = 4_294_967_295;

/// Drops every rollup; the next start rebuilds the configured zones from the rows.
async fn drop_rollups(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    for table in ["conversion_rollups", "contact_rollups", "rollup_zones"] {
        conn.execute_unprepared(&format!("DELETE FROM {table}"))
            .await?;
    }
    Ok(())
}

#[derive(DeriveIden)]
enum ContactStates {
    Table,
    ContactId,
    WorkspaceId,
    Owner,
    ConversionStatus,
    ConversionCount,
    LifetimeValueLow,
    LifetimeValueHigh,
    ConvertedBy,
    ConvertedFromWorkspace,
    ConvertedTimestamp,
    SentFromWorkspace,
    UpdatedAt,
}
