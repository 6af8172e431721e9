//! The outbox: a delivery row per event and subscribed endpoint, written in the transaction
//! that wrote the event, so an event is delivered exactly when it was committed.
//!
//! Cost when nobody listens: one probe of `webhook_endpoints` per call (a write transaction,
//! or a whole group of conversions). Otherwise one `INSERT … SELECT` per chunk of events,
//! which matches every event against every enabled endpoint (its workspace, or the admin's
//! endpoints, which take every workspace's events; and its event types) in the database, so
//! nothing is read into memory and an event nobody subscribed to writes nothing.

use crate::domain::{EventType, WorkspaceId};
use crate::error::{AppError, AppResult};
use crate::service::sets;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Statement, Value as SqlValue};
use serde::Serialize;
use serde_json::value::RawValue;

/// One event to deliver to whoever subscribed to it.
#[derive(Debug)]
pub struct Outgoing {
    /// Whose event it is: that workspace's endpoints and the admin's receive it. `None`: the
    /// admin's endpoints only.
    pub workspace_id: Option<WorkspaceId>,
    pub event_type: EventType,
    /// The payload's `data`: the object as the REST view shows it (see `payload`).
    pub data: Box<RawValue>,
    /// When it happened: the payload's `timestamp`.
    pub occurred_at: DateTime<Utc>,
}

/// The body every delivery sends (Standard Webhooks' shape): `type`, `timestamp`, `data`.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: DateTime<Utc>,
    data: &'a RawValue,
}

/// Values per row of the `VALUES` list: message id, type, body, workspace, type bit, and
/// the event's place in the chunk (so that deliveries are numbered in event order).
const WIDTH: usize = 6;

/// Writes the deliveries of `events` inside the caller's transaction `conn`, in order (a
/// delivery's id is its place in its endpoint's order). Returns how many rows it wrote;
/// call `Services::wake_webhooks` after commit when that is more than 0.
pub async fn record(conn: &impl ConnectionTrait, events: &[Outgoing]) -> AppResult<u64> {
    if events.is_empty() || !any_endpoint(conn).await? {
        return Ok(0);
    }
    let backend = conn.get_database_backend();
    let now = crate::service::now();
    let mut written = 0;
    for chunk in sets::chunks(events) {
        let mut values: Vec<SqlValue> = Vec::with_capacity(chunk.len() * WIDTH + 1);
        for (place, event) in (0_i64..).zip(chunk) {
            let body = serde_json::to_string(&Body {
                kind: event.event_type.as_str(),
                timestamp: event.occurred_at,
                data: &event.data,
            })
            .map_err(|e| AppError::Internal(format!("serialising a webhook body failed: {e}")))?;
            values.extend([
                message_id().into(),
                event.event_type.as_str().into(),
                body.into(),
                event
                    .workspace_id
                    .as_ref()
                    .map(|w| w.as_str().to_owned())
                    .into(),
                event.event_type.bit().into(),
                place.into(),
            ]);
        }
        values.push(now.into());
        let now_param = match backend {
            sea_orm::DbBackend::Postgres => format!("${}", chunk.len() * WIDTH + 1),
            _ => "?".to_owned(),
        };
        // `VALUES` comes first in the text, so its placeholders are numbered first.
        let sql = format!(
            "WITH v AS (VALUES {rows}) \
             INSERT INTO webhook_deliveries (endpoint_id, message_id, event_type, payload, \
             status, attempts, next_attempt_at, created_at) \
             SELECT e.id, v.column1, v.column2, v.column3, 'pending', 0, t.at, t.at \
             FROM v JOIN webhook_endpoints e \
             ON (e.workspace_id IS NULL OR e.workspace_id = v.column4) \
             AND (e.event_mask & v.column5) <> 0 \
             CROSS JOIN (SELECT {now_param} AS at) t \
             WHERE e.disabled_at IS NULL \
             ORDER BY v.column6, e.id",
            rows = sets::values_list(backend, chunk.len(), WIDTH),
        );
        let result = conn
            .execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        written += result.rows_affected();
    }
    Ok(written)
}

/// Whether any endpoint is enabled at all: one cheap probe, read in the writing
/// transaction, so it is right on every node without a cache to keep in step.
async fn any_endpoint(conn: &impl ConnectionTrait) -> AppResult<bool> {
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT 1 AS one FROM webhook_endpoints WHERE disabled_at IS NULL LIMIT 1",
        ))
        .await?;
    Ok(row.is_some())
}

/// A new `webhook-id`: `msg_` and 32 hex digits.
fn message_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}
