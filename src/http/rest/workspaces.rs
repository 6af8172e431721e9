//! `POST /workspaces/register`, `GET /workspaces/{id}/activity`, `PATCH /workspaces/{id}`,
//! `POST /workspaces/{id}/disable` and `/enable`, `POST /workspaces/{id}/keys/rotate`,
//! `POST /workspaces/{id}/keys/revoke`, `POST /auth/token`.

use crate::auth::Caller;
use crate::domain::{Permission, WorkspaceId, required_text};
use crate::error::{AppError, AppResult};
use crate::http::body::{JsonBody, Params};
use crate::http::views::{ActivityView, RegisteredView};
use crate::service::Services;
use crate::service::workspace::{
    ACTIVITY_DEFAULT, ACTIVITY_MAX, MAX_WORKSPACE_NAME, NewWorkspace, WorkspaceChange,
    permissions_of,
};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use entity::workspace;
use serde::{Deserialize, Deserializer, Serialize};
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

/// The body of `PATCH /workspaces/{id}` (admin); every field optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    workspace_name: Option<String>,
    /// Replaces the permissions: `read`, `update`, `convert`, `admin`.
    permissions: Option<Vec<String>>,
    /// A number (0: unlimited), or `null` for the server's default; absent: unchanged.
    #[serde(default, deserialize_with = "present")]
    rate_limit_per_hour: Option<Option<u32>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`, by `default`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(de: D) -> Result<Option<T>, D::Error> {
    T::deserialize(de).map(Some)
}

impl TryFrom<PatchBody> for WorkspaceChange {
    type Error = AppError;

    fn try_from(body: PatchBody) -> AppResult<Self> {
        Ok(WorkspaceChange {
            name: body
                .workspace_name
                .map(|name| required_text("workspace_name", &name, MAX_WORKSPACE_NAME))
                .transpose()?,
            permissions: body
                .permissions
                .map(|names| {
                    names
                        .iter()
                        .map(|p| Permission::parse("permissions", p))
                        .collect::<AppResult<_>>()
                })
                .transpose()?,
            rate_limit_per_hour: body.rate_limit_per_hour,
        })
    }
}

/// A workspace as `PATCH /workspaces/{id}`, `/disable` and `/enable` answer it.
#[derive(Serialize)]
pub struct WorkspaceView {
    workspace_id: String,
    workspace_name: String,
    permissions: Vec<&'static str>,
    /// Its own hourly limit (0: unlimited); `null` when the server's default applies.
    rate_limit_per_hour: Option<i64>,
    created_at: DateTime<Utc>,
    /// When it was disabled; `null` while it is enabled.
    disabled_at: Option<DateTime<Utc>>,
}

impl From<workspace::Model> for WorkspaceView {
    fn from(w: workspace::Model) -> Self {
        WorkspaceView {
            permissions: permissions_of(&w).iter().map(|p| p.as_str()).collect(),
            workspace_id: w.id,
            workspace_name: w.name,
            rate_limit_per_hour: w.rate_limit_per_hour,
            created_at: w.created_at,
            disabled_at: w.disabled_at,
        }
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

/// Changes the workspace's name, permissions or hourly limit (admin, with an API key).
pub async fn update(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody,
) -> AppResult<Json<WorkspaceView>> {
    let id = workspace_in_path(&id)?;
    let change = body.parse::<PatchBody>()?.try_into()?;
    let updated = services.update_workspace(&caller, &id, change).await?;
    Ok(Json(updated.into()))
}

/// Disables the workspace (admin): its keys, tokens and open connections stop at once.
pub async fn disable(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<Json<WorkspaceView>> {
    let id = workspace_in_path(&id)?;
    Ok(Json(services.disable_workspace(&caller, &id).await?.into()))
}

/// Enables the workspace again (admin, with an API key): its keys work again.
pub async fn enable(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<Json<WorkspaceView>> {
    let id = workspace_in_path(&id)?;
    Ok(Json(services.enable_workspace(&caller, &id).await?.into()))
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

/// Exchanges the API key in the headers for a short-lived JWT (a token is refused: tokens are
/// minted from keys only).
pub async fn token(State(services): State<Services>, caller: Caller) -> AppResult<Json<Value>> {
    let token = services.issue_token(&caller)?;
    Ok(Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": services.tokens.ttl_seconds,
    })))
}
