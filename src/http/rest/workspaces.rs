//! `POST /workspaces/register`, `GET /workspaces/{id}/activity`,
//! `POST /workspaces/{id}/keys/rotate`, `POST /workspaces/{id}/keys/revoke`, `POST /auth/token`.

use crate::auth::Caller;
use crate::domain::{Permission, WorkspaceId};
use crate::error::{AppError, AppResult};
use crate::http::body::{JsonBody, Params};
use crate::http::views::{ActivityView, RegisteredView};
use crate::input::RegisterWorkspace;
use crate::service::Services;
use crate::service::workspace::{ACTIVITY_DEFAULT, ACTIVITY_MAX};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

pub async fn register(
    State(services): State<Services>,
    caller: Caller,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<RegisteredView>)> {
    let f = body.fields(&[
        "workspace_id",
        "workspace_name",
        "api_key",
        "permissions",
        "rate_limit_per_hour",
    ])?;
    let permissions = f
        .opt::<Vec<String>>("permissions")?
        .map(|ps| {
            ps.iter()
                .map(|p| Permission::parse("permissions", p))
                .collect::<AppResult<Vec<_>>>()
        })
        .transpose()?;
    let new = RegisterWorkspace {
        workspace_id: f.req("workspace_id")?,
        workspace_name: f.req("workspace_name")?,
        permissions,
        api_key: f.opt("api_key")?,
        rate_limit_per_hour: f.opt("rate_limit_per_hour")?,
    }
    .parse()?;
    let (workspace, key) = services.register_workspace(&caller, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(RegisteredView::new(workspace, key)),
    ))
}

pub async fn activity(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
    mut params: Params,
) -> AppResult<Json<ActivityView>> {
    let id = WorkspaceId::parse("id", &id).map_err(|_| AppError::not_found("workspace", &id))?;
    let limit = params.bounded("limit", ACTIVITY_DEFAULT, ACTIVITY_MAX)?;
    params.finish(&["limit"])?;
    let activity = services.workspace_activity(&caller, &id, limit).await?;
    Ok(Json(activity.into()))
}

fn workspace_in_path(id: &str) -> AppResult<WorkspaceId> {
    WorkspaceId::parse("id", id).map_err(|_| AppError::not_found("workspace", id))
}

/// Issues a new key, shown this once; the previous keys work until `previous_keys_expire_at`.
pub async fn rotate_key(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    let id = workspace_in_path(&id)?;
    let (key, expires_at) = services.rotate_api_key(&caller, &id).await?;
    Ok(Json(json!({
        "workspace_id": id.as_str(),
        "api_key": key,
        "previous_keys_expire_at": expires_at,
    })))
}

/// Revokes every key of the workspace at once (admin only).
pub async fn revoke_keys(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    let id = workspace_in_path(&id)?;
    let revoked = services.revoke_api_keys(&caller, &id).await?;
    Ok(Json(
        json!({ "workspace_id": id.as_str(), "revoked": revoked }),
    ))
}

/// Exchanges the credentials in the headers for a short-lived JWT.
pub async fn token(State(services): State<Services>, caller: Caller) -> AppResult<Json<Value>> {
    let token = services.issue_token(&caller)?;
    Ok(Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": services.tokens.ttl_seconds,
    })))
}
