//! `GET /audit`: the audit log for admins, newest first, with the GraphQL `auditLog` filters.

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::http::body::Params;
use crate::service::Services;
use crate::service::audit::AuditFilter;
use crate::service::page::{DEFAULT_PAGE, MAX_PAGE, Window};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use entity::audit_log;
use serde::Serialize;
use serde_json::Value;

#[derive(Serialize)]
pub struct AuditEntryView {
    id: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    object_type: String,
    object_id: String,
    request_id: Option<String>,
    details: Option<Value>,
    hash: Option<String>,
}

impl From<audit_log::Model> for AuditEntryView {
    fn from(e: audit_log::Model) -> Self {
        AuditEntryView {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            object_type: e.object_type,
            object_id: e.object_id,
            request_id: e.request_id,
            details: e.details,
            hash: e.hash,
        }
    }
}

#[derive(Serialize)]
pub struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(Serialize)]
pub struct AuditList {
    entries: Vec<AuditEntryView>,
    page_info: PageInfo,
}

const LIST_PARAMS: &[&str] = &["object_type", "object_id", "actor", "limit", "after"];

pub async fn list(
    State(services): State<Services>,
    caller: Caller,
    mut params: Params,
) -> AppResult<Json<AuditList>> {
    let filter = AuditFilter {
        object_type: params.get("object_type"),
        object_id: params.get("object_id"),
        actor: params.get("actor"),
    };
    let limit = params.bounded("limit", DEFAULT_PAGE, MAX_PAGE)?;
    let after = params
        .get("after")
        .map(|a| {
            a.parse::<i64>()
                .map_err(|_| AppError::invalid("after", "must be an `end_cursor`"))
        })
        .transpose()?;
    params.finish(LIST_PARAMS)?;
    let page = services
        .audit_entries(&caller, filter, &Window::first(limit, after))
        .await?;
    let end_cursor = page.items.last().map(|e| e.id.to_string());
    Ok(Json(AuditList {
        entries: page.items.into_iter().map(AuditEntryView::from).collect(),
        page_info: PageInfo {
            has_next_page: page.has_next_page,
            end_cursor,
        },
    }))
}
