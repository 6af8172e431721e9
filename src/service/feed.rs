//! The feed outbox: every logged conversion gets a `feed_events` row in its own transaction.
//! The row's id is the event's durable order; nodes pass only that id to each other.

use super::Services;
use crate::error::AppResult;
use crate::events::ConversionEvent;
use entity::{contact, conversion, feed_event};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use std::collections::HashMap;
use uuid::Uuid;

/// PostgreSQL channel that carries new event ids between nodes.
pub const CHANNEL: &str = "convio_feed";

/// Advisory lock key that orders feed appends across transactions ("convio" in ASCII).
const APPEND_LOCK: i64 = 0x636f_6e76_696f;

/// Appends the event for a stored conversion, inside the caller's write transaction.
pub(crate) async fn append(conn: &impl ConnectionTrait, conversion_id: Uuid) -> AppResult<()> {
    let postgres = conn.get_database_backend() == DbBackend::Postgres;
    if postgres {
        // Ids come from a sequence; without this lock a later id could commit before an
        // earlier one and a reader that already moved past it would skip it. Held until
        // commit, the lock makes id order equal commit order. (SQLite has one writer.)
        conn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({APPEND_LOCK})"))
            .await?;
    }
    let row = feed_event::ActiveModel {
        conversion_id: Set(conversion_id),
        created_at: Set(super::now()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    if postgres {
        // Delivered at commit, and only if the transaction commits.
        conn.execute_unprepared(&format!("SELECT pg_notify('{CHANNEL}', '{}')", row.id))
            .await?;
    }
    Ok(())
}

impl Services {
    /// The id of the newest event, where a node starting up begins following the feed.
    pub async fn feed_head(&self) -> AppResult<i64> {
        let head: Option<i64> = feed_event::Entity::find()
            .select_only()
            .column(feed_event::Column::Id)
            .order_by_desc(feed_event::Column::Id)
            .limit(1)
            .into_tuple()
            .one(self.db.conn())
            .await?;
        Ok(head.unwrap_or(0))
    }

    /// Events after `after`, oldest first, with their conversion and its contact as stored now.
    pub async fn feed_events_after(
        &self,
        after: i64,
        limit: u64,
    ) -> AppResult<Vec<ConversionEvent>> {
        let conn = self.db.conn();
        let rows = feed_event::Entity::find()
            .filter(feed_event::Column::Id.gt(after))
            .order_by_asc(feed_event::Column::Id)
            .limit(limit)
            .all(conn)
            .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = rows.iter().map(|r| r.conversion_id).collect();
        let conversions: HashMap<Uuid, conversion::Model> = conversion::Entity::find()
            .filter(conversion::Column::Id.is_in(ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let contact_ids: Vec<i64> = conversions.values().map(|c| c.contact_id).collect();
        let contacts: HashMap<i64, contact::Model> = contact::Entity::find()
            .filter(contact::Column::Id.is_in(contact_ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let conversion = conversions.get(&row.conversion_id)?.clone();
                let contact = contacts.get(&conversion.contact_id)?.clone();
                Some(ConversionEvent {
                    sequence: row.id,
                    conversion,
                    contact,
                })
            })
            .collect())
    }
}
