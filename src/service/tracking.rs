//! `workspace_tracking`: what happened between a workspace and a contact. It is also what
//! decides which contacts a workspace may see.

use crate::domain::{ContactId, LeadId, TrackingAction, WorkspaceId};
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use entity::workspace_tracking;
use sea_orm::{ConnectionTrait, Set};
use serde_json::Value;

pub(crate) struct Event<'a> {
    pub contact_id: ContactId,
    pub lead_id: Option<LeadId>,
    pub workspace_id: &'a WorkspaceId,
    pub action: TrackingAction,
    pub at: DateTime<Utc>,
    pub metadata: Option<Value>,
}

pub(crate) async fn record(conn: &impl ConnectionTrait, event: Event<'_>) -> AppResult<()> {
    super::sets::insert_all(conn, [row(event)]).await
}

/// The row for `event`, to insert with others (`insert_all`).
pub(crate) fn row(event: Event<'_>) -> workspace_tracking::ActiveModel {
    workspace_tracking::ActiveModel {
        contact_id: Set(event.contact_id.0),
        lead_id: Set(event.lead_id.map(|l| l.0)),
        workspace_id: Set(event.workspace_id.as_str().to_owned()),
        action: Set(event.action.as_str().to_owned()),
        timestamp: Set(event.at),
        metadata: Set(event.metadata),
        ..Default::default()
    }
}
