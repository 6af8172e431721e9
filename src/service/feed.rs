//! The feed outbox: every logged conversion gets a `feed_events` row in its own transaction.
//! The row's id is the event's durable order; nodes pass only that id to each other.

use super::Services;
use super::shared::SeenContact;
use crate::domain::{AdjustmentAction, ConversionState};
use crate::error::{AppError, AppResult};
use crate::events::{ConversionEvent, EventKind};
use chrono::{DateTime, Utc};
use entity::{contact, contact_state, conversion, conversion_adjustment, feed_event};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

/// PostgreSQL channel that carries new event ids between nodes.
pub const CHANNEL: &str = "convio_feed";

/// Advisory lock key that orders feed appends across transactions ("convio" in ASCII).
const APPEND_LOCK: i64 = 0x636f_6e76_696f;

/// What a feed event promises about its contact: its conversion state right after the event's
/// conversion, captured in the writing transaction. Personal data is not copied: it is read
/// as stored now, so an erased contact stays erased in old events too.
#[derive(Serialize, Deserialize)]
struct ContactAfter {
    conversion_status: String,
    conversion_count: i32,
    lifetime_value_low: i64,
    lifetime_value_high: i64,
    converted_by: Option<String>,
    converted_from_workspace: Option<String>,
    converted_timestamp: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    /// The converting workspace's own state right after: what it sees of a contact it does
    /// not own. Absent from events stored before `contact_states` existed.
    #[serde(default)]
    converter: Option<ConverterAfter>,
}

/// A `contact_states` row as the event's conversion left it.
#[derive(Serialize, Deserialize)]
struct ConverterAfter {
    owner: bool,
    conversion_status: String,
    conversion_count: i32,
    lifetime_value_low: i64,
    lifetime_value_high: i64,
    converted_by: Option<String>,
    converted_from_workspace: Option<String>,
    converted_timestamp: Option<DateTime<Utc>>,
    sent_from_workspace: Option<String>,
    updated_at: DateTime<Utc>,
}

impl ConverterAfter {
    fn of(state: &contact_state::Model) -> Self {
        ConverterAfter {
            owner: state.owner,
            conversion_status: state.conversion_status.clone(),
            conversion_count: state.conversion_count,
            lifetime_value_low: state.lifetime_value_low,
            lifetime_value_high: state.lifetime_value_high,
            converted_by: state.converted_by.clone(),
            converted_from_workspace: state.converted_from_workspace.clone(),
            converted_timestamp: state.converted_timestamp,
            sent_from_workspace: state.sent_from_workspace.clone(),
            updated_at: state.updated_at,
        }
    }

    fn state(self, contact_id: i64, workspace_id: &str) -> contact_state::Model {
        contact_state::Model {
            contact_id,
            workspace_id: workspace_id.to_owned(),
            owner: self.owner,
            conversion_status: self.conversion_status,
            conversion_count: self.conversion_count,
            lifetime_value_low: self.lifetime_value_low,
            lifetime_value_high: self.lifetime_value_high,
            converted_by: self.converted_by,
            converted_from_workspace: self.converted_from_workspace,
            converted_timestamp: self.converted_timestamp,
            sent_from_workspace: self.sent_from_workspace,
            updated_at: self.updated_at,
        }
    }
}

impl ContactAfter {
    fn of(contact: &contact::Model, converter: &contact_state::Model) -> Self {
        ContactAfter {
            converter: Some(ConverterAfter::of(converter)),
            conversion_status: contact.conversion_status.clone(),
            conversion_count: contact.conversion_count,
            lifetime_value_low: contact.lifetime_value_low,
            lifetime_value_high: contact.lifetime_value_high,
            converted_by: contact.converted_by.clone(),
            converted_from_workspace: contact.converted_from_workspace.clone(),
            converted_timestamp: contact.converted_timestamp,
            updated_at: contact.updated_at,
        }
    }

    /// `now` (the contact as stored now) with the state the event captured.
    fn over(self, now: &contact::Model) -> contact::Model {
        contact::Model {
            conversion_status: self.conversion_status,
            conversion_count: self.conversion_count,
            lifetime_value_low: self.lifetime_value_low,
            lifetime_value_high: self.lifetime_value_high,
            converted_by: self.converted_by,
            converted_from_workspace: self.converted_from_workspace,
            converted_timestamp: self.converted_timestamp,
            updated_at: self.updated_at,
            ..now.clone()
        }
    }
}

/// The event for a stored conversion, or for its `adjustment`, with `contact` and the
/// converting workspace's own `state` as it left them; [`append`] stores it.
pub(crate) fn event(
    conversion_id: Uuid,
    contact: &contact::Model,
    state: &contact_state::Model,
    adjustment: Option<&conversion_adjustment::Model>,
) -> AppResult<feed_event::ActiveModel> {
    let contact_after = serde_json::to_value(ContactAfter::of(contact, state))
        .map_err(|e| AppError::Internal(format!("feed contact state: {e}")))?;
    let kind = match adjustment {
        None => EventKind::Logged,
        Some(a) if a.action == AdjustmentAction::Retract.as_str() => EventKind::Retracted,
        Some(_) => EventKind::Adjusted,
    };
    Ok(feed_event::ActiveModel {
        conversion_id: Set(conversion_id),
        created_at: Set(super::now()),
        contact_after: Set(Some(contact_after)),
        kind: Set(kind.as_str().to_owned()),
        adjustment_id: Set(adjustment.map(|a| a.id)),
        ..Default::default()
    })
}

/// Appends events, in their order, inside the caller's write transaction: one insert, and on
/// PostgreSQL one notification to the other nodes, sent at commit.
pub(crate) async fn append(
    conn: &impl ConnectionTrait,
    events: Vec<feed_event::ActiveModel>,
) -> AppResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let postgres = conn.get_database_backend() == DbBackend::Postgres;
    if postgres {
        // Ids come from a sequence; without this lock a later id could commit before an
        // earlier one and a reader that already moved past it would skip it. Held until
        // commit, the lock makes id order equal commit order. (SQLite has one writer.)
        conn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({APPEND_LOCK})"))
            .await?;
    }
    super::sets::insert_all(conn, events).await?;
    if postgres {
        // Delivered at commit, and only if the transaction commits; listeners read every
        // event after the last they saw, so the payload carries nothing.
        conn.execute_unprepared(&format!("SELECT pg_notify('{CHANNEL}', '')"))
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

    /// How many events were committed after `after`, and the id of the newest (`None`: none).
    /// One index range read; nothing is assembled.
    pub async fn feed_events_since(&self, after: i64) -> AppResult<(usize, Option<i64>)> {
        let (count, head): (i64, Option<i64>) = feed_event::Entity::find()
            .select_only()
            .column_as(Expr::col(feed_event::Column::Id).count(), "count")
            .column_as(Expr::col(feed_event::Column::Id).max(), "head")
            .filter(feed_event::Column::Id.gt(after))
            .into_tuple()
            .one(self.db.conn())
            .await?
            .unwrap_or((0, None));
        Ok((usize::try_from(count).unwrap_or(0), head))
    }

    /// Events after `after`, oldest first, with their conversion and its contact as that
    /// conversion left it (personal data as stored now): whole, and as the converting
    /// workspace sees it. Four queries at most per call, however many events.
    pub async fn feed_events_after(
        &self,
        after: i64,
        limit: u64,
    ) -> AppResult<Vec<ConversionEvent>> {
        let rows = feed_event::Entity::find()
            .filter(feed_event::Column::Id.gt(after))
            .order_by_asc(feed_event::Column::Id)
            .limit(limit)
            .all(self.db.conn())
            .await?;
        self.events_of(rows).await
    }

    /// The events of these `feed_events` rows, in their order, assembled as
    /// [`Services::feed_events_after`] describes. Three queries at most, however many rows.
    pub(super) async fn events_of(
        &self,
        rows: Vec<feed_event::Model>,
    ) -> AppResult<Vec<ConversionEvent>> {
        let conn = self.db.conn();
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
            .filter(contact::Column::Id.is_in(contact_ids.clone()))
            .all(conn)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        // In one query: the adjustment each adjustment event reports, and the first adjustment
        // of each logged event's conversion, if any (it says what the conversion was logged as).
        let adjustment_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.adjustment_id).collect();
        let logged: Vec<Uuid> = rows
            .iter()
            .filter(|r| r.adjustment_id.is_none())
            .map(|r| r.conversion_id)
            .collect();
        let mut adjustments: HashMap<Uuid, conversion_adjustment::Model> = HashMap::new();
        let mut first: HashMap<Uuid, conversion_adjustment::Model> = HashMap::new();
        for a in conversion_adjustment::Entity::find()
            .filter(
                Condition::any()
                    .add(conversion_adjustment::Column::Id.is_in(adjustment_ids))
                    .add(
                        Condition::all()
                            .add(conversion_adjustment::Column::ConversionId.is_in(logged))
                            .add(conversion_adjustment::Column::Sequence.eq(1)),
                    ),
            )
            .all(conn)
            .await?
        {
            if a.sequence == 1 {
                first.insert(a.conversion_id, a.clone());
            }
            adjustments.insert(a.id, a);
        }
        let captured: Vec<Option<ContactAfter>> = rows
            .iter()
            .map(|row| {
                row.contact_after
                    .clone()
                    .and_then(|state| serde_json::from_value::<ContactAfter>(state).ok())
            })
            .collect();
        // Events stored before the converter's state was captured show its state as now.
        let states: HashMap<(i64, String), contact_state::Model> = if captured
            .iter()
            .any(|c| c.as_ref().is_none_or(|c| c.converter.is_none()))
        {
            contact_state::Entity::find()
                .filter(contact_state::Column::ContactId.is_in(contact_ids))
                .all(conn)
                .await?
                .into_iter()
                .map(|s| ((s.contact_id, s.workspace_id.clone()), s))
                .collect()
        } else {
            HashMap::new()
        };
        Ok(rows
            .into_iter()
            .zip(captured)
            .filter_map(|(row, captured)| {
                let adjustment = row
                    .adjustment_id
                    .and_then(|id| adjustments.get(&id))
                    .cloned();
                let stored = conversions.get(&row.conversion_id)?;
                let conversion = match &adjustment {
                    Some(a) => as_left(stored, a),
                    None => as_logged(stored, first.get(&stored.id)),
                };
                let now = contacts.get(&conversion.contact_id)?;
                let (contact, converter) = match captured {
                    Some(mut state) => {
                        let converter = state
                            .converter
                            .take()
                            .map(|c| c.state(conversion.contact_id, &conversion.workspace_id));
                        (state.over(now), converter)
                    }
                    None => (now.clone(), None),
                };
                let converter = converter.or_else(|| {
                    states
                        .get(&(conversion.contact_id, conversion.workspace_id.clone()))
                        .cloned()
                });
                Some(ConversionEvent {
                    sequence: row.id,
                    kind: EventKind::from_stored(&row.kind),
                    adjustment,
                    contact_for_workspace: SeenContact::by_holder(
                        contact.clone(),
                        converter.as_ref(),
                    ),
                    contact: SeenContact::whole(contact),
                    conversion,
                })
            })
            .collect())
    }
}

/// The conversion as `adjustment` left it.
fn as_left(now: &conversion::Model, a: &conversion_adjustment::Model) -> conversion::Model {
    let state = if a.action == AdjustmentAction::Retract.as_str() {
        ConversionState::Retracted
    } else {
        ConversionState::Active
    };
    conversion::Model {
        conversion_type: a.conversion_type_after.clone(),
        value_minor: a.value_minor_after,
        status: state.as_str().to_owned(),
        ..now.clone()
    }
}

/// The conversion as it was logged: before its `first` adjustment, if it has one.
fn as_logged(
    now: &conversion::Model,
    first: Option<&conversion_adjustment::Model>,
) -> conversion::Model {
    let Some(a) = first else {
        return now.clone();
    };
    conversion::Model {
        conversion_type: a.conversion_type_before.clone(),
        value_minor: a.value_minor_before,
        status: ConversionState::Active.as_str().to_owned(),
        ..now.clone()
    }
}
