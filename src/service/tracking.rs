//! `workspace_tracking`: what happened between a workspace and a contact. It is also what
//! decides which contacts a workspace may see.

use crate::domain::{ContactId, LeadId, TrackingAction, WorkspaceId};
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use entity::{conversion, workspace_tracking};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ConnectionTrait, Set};
use serde_json::{Value, json};

/// The condition of `idx_tracking_handoffs` (migration 25): (workspace, action, contact) over
/// the contacts sent and received only, so a conversion's tracking row costs that index
/// nothing. A read meant to go through the index adds this exact text as a condition
/// ([`handoffs`]): SQLite uses a partial index only when the query repeats its condition, and
/// PostgreSQL cannot prove it from a bound parameter in a generic plan.
pub(crate) const HANDOFFS: &str = "action IN ('received', 'sent')";

/// [`HANDOFFS`] as a condition for sea-query.
pub(crate) fn handoffs() -> SimpleExpr {
    Expr::cust(HANDOFFS)
}

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

/// The `converted` row a conversion leaves beside it: by its workspace, on its contact and
/// lead, at its `created_at`, naming it and its type in `metadata`. Written by ingest and by
/// `convio seed`, so a seeded history reads like a logged one.
pub(crate) fn converted(conversion: &conversion::Model) -> workspace_tracking::ActiveModel {
    row(Event {
        contact_id: ContactId(conversion.contact_id),
        lead_id: conversion.lead_id.map(LeadId),
        workspace_id: &WorkspaceId::from_trusted(conversion.workspace_id.clone()),
        action: TrackingAction::Converted,
        at: conversion.created_at,
        metadata: Some(json!({
            "conversion_id": conversion.id,
            "conversion_type": conversion.conversion_type,
        })),
    })
}

#[cfg(test)]
mod tests {
    use crate::domain::{DateRange, WorkspaceId};
    use crate::service::{contact_list, rollup, sets, stats, workspace};
    use sea_orm::DbBackend;

    /// Every read of contacts sent or received goes through `idx_tracking_handoffs` on
    /// SQLite, whose planner takes a partial index only when the read repeats its condition.
    #[tokio::test]
    async fn handoff_reads_use_the_partial_index_on_sqlite() {
        let ws = WorkspaceId::from_trusted("ws".into());
        let all = DateRange::default();
        let sqlite = DbBackend::Sqlite;
        let reads = [
            (
                "stats::received_from_rows",
                sqlite.build(&stats::received_from_rows(Some(&ws), &all)),
            ),
            (
                "contact_list::received_in",
                sqlite.build(&contact_list::received_in(Some(&ws), &all, None)),
            ),
            (
                "rollup::receipts_by_own_status",
                sqlite.build(&rollup::receipts_by_own_status()),
            ),
            ("workspace::sent_by", sqlite.build(&workspace::sent_by(&ws))),
        ];
        let (names, statements): (Vec<_>, Vec<_>) = reads.into_iter().unzip();
        for (read, plan) in names.into_iter().zip(sets::sqlite_plans(statements).await) {
            assert!(
                plan.iter()
                    .any(|step| step.contains("idx_tracking_handoffs")),
                "{read} does not read the handoff index: {plan:?}"
            );
        }
    }
}
