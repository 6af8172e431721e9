//! `POST /workspaces/register`, `GET /workspaces/{id}/activity`,
//! `POST /workspaces/{id}/keys/rotate`, `POST /workspaces/{id}/keys/revoke`, `POST /auth/token`.

use crate::auth::Caller;
use crate::domain::{Permission, WorkspaceId, required_text};
use crate::error::{AppError, AppResult};
use crate::http::body::{JsonBody, Params};
use crate::http::views::{ActivityView, RegisteredView};
use crate::service::Services;
use crate::service::workspace::{ACTIVITY_DEFAULT, ACTIVITY_MAX, MAX_WORKSPACE_NAME, NewWorkspace};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

/// The body of `POST /workspaces/register` (admin).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    workspace_id: String,
    workspace_name: String,
    api_key: Option<String>,
    /// `read`, `update`, `convert`; defaults to all three.
    permissions: Option<Vec<String>>,
    rate_limit_per_hour: Option<u32>,
}

impl TryFrom<RegisterBody> for NewWorkspace {
    type Error = AppError;

    fn try_from(body: RegisterBody) -> AppResult<Self> {
        Ok(NewWorkspace {
            id: WorkspaceId::parse("workspace_id", &body.workspace_id)?,
            name: required_text("workspace_name", &body.workspace_name, MAX_WORKSPACE_NAME)?,
            permissions: match body.permissions {
                Some(names) => names
                    .iter()
                    .map(|p| Permission::parse("permissions", p))
                    .collect::<AppResult<_>>()?,
                None => Permission::DEFAULT.to_vec(),
            },
            api_key: body.api_key,
            rate_limit_per_hour: body.rate_limit_per_hour,
        })
    }
}

pub async fn register(
    State(services): State<Services>,
    caller: Caller,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<RegisteredView>)> {
    let new = body.parse::<RegisterBody>()?.try_into()?;
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
