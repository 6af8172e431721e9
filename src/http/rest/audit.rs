//! `GET /audit`: the audit log for admins, newest first, with the GraphQL `auditLog` filters.

use super::conversions::PageInfo;
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
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
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

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    entries: Vec<AuditEntryView>,
    page_info: PageInfo,
}

pub(crate) const LIST_PARAMS: &[&str] = &["object_type", "object_id", "actor", "limit", "after"];

/// The audit log, newest first, a page at a time (admin only).
#[utoipa::path(get, path = "/audit", operation_id = "listAuditEntries", tag = "audit", security(("api_key" = []), ("bearer" = [])),
    params(
        ("object_type" = Option<String>, Query, pattern = r"^$|^[^\u0000-\u001F\u007F-\u009F]{0,255}$", description = "Only entries about this kind of object, e.g. `contact`"),
        ("object_id" = Option<String>, Query, pattern = r"^$|^[^\u0000-\u001F\u007F-\u009F]{0,255}$", description = "Only entries about the object with this id"),
        ("actor" = Option<String>, Query, pattern = r"^$|^[^\u0000-\u001F\u007F-\u009F]{0,255}$", description = "Only entries by `admin` or `workspace:<id>`"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Page size, 1 to 200 (default 50)"),
        ("after" = Option<String>, Query, pattern = "^$|^-?[0-9]{1,18}$", description = "The previous page's `page_info.end_cursor`")),
    responses((status = 200, description = "One page", body = AuditList)))]
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
