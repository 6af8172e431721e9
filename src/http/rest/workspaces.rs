//! `POST /workspaces/register`, `GET /workspaces/{id}/activity`, `PATCH /workspaces/{id}`,
//! `POST /workspaces/{id}/disable` and `/enable`, `POST /workspaces/{id}/keys/rotate`,
//! `POST /workspaces/{id}/keys/revoke`, `POST /auth/token`.

use crate::auth::Caller;
use crate::domain::{Permission, WorkspaceId, required_text};
use crate::error::{AppError, AppResult};
use crate::http::body::{Count, JsonBody, Params};
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
use utoipa::ToSchema;

/// The body of `POST /workspaces/register` (admin).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// 1 to 64 letters, digits, `_`, `-` or `.`.
    #[schema(pattern = r"^[A-Za-z0-9_.-]{1,64}$")]
    workspace_id: String,
    /// 1 to 200 characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    workspace_name: String,
    /// A key of your choosing (e.g. one your CRM already stores): 16 to 256 visible ASCII
    /// characters; default: a strong random key.
    #[schema(pattern = "^[!-~]{16,256}$")]
    api_key: Option<String>,
    /// `read`, `update`, `convert` (and `admin`); defaults to the first three.
    #[schema(value_type = Option<Vec<crate::http::openapi::PermissionName>>)]
    permissions: Option<Vec<String>>,
    /// Its own hourly request limit (0: unlimited); default: the server's.
    #[schema(value_type = Option<u32>)]
    rate_limit_per_hour: Option<Count>,
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
            rate_limit_per_hour: body.rate_limit_per_hour.map(|c| c.0),
        })
    }
}

/// The body of `PATCH /workspaces/{id}` (admin); every field optional.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    /// 1 to 200 characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    workspace_name: Option<String>,
    /// Replaces the permissions: `read`, `update`, `convert`, `admin`.
    #[schema(value_type = Option<Vec<crate::http::openapi::PermissionName>>)]
    permissions: Option<Vec<String>>,
    /// A number (0: unlimited), or `null` for the server's default; absent: unchanged.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    rate_limit_per_hour: Option<Option<Count>>,
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
            rate_limit_per_hour: body.rate_limit_per_hour.map(|l| l.map(|c| c.0)),
        })
    }
}

/// A workspace as `PATCH /workspaces/{id}`, `/disable` and `/enable` answer it.
#[derive(Serialize, ToSchema)]
pub struct WorkspaceView {
    workspace_id: String,
    workspace_name: String,
    #[schema(value_type = Vec<crate::http::openapi::PermissionName>)]
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

/// Registers a workspace (admin only) and answers its API key, shown this once.
#[utoipa::path(post, path = "/workspaces/register", operation_id = "registerWorkspace", tag = "workspaces", security(("api_key" = []), ("bearer" = [])), request_body = RegisterBody,
    responses((status = 201, description = "The workspace and its key", body = RegisteredView),
        (status = 409, description = "The id is taken", body = crate::error::Problem, content_type = "application/problem+json")))]
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

/// A workspace's activity: totals, its rate and its recent tracking events.
#[utoipa::path(get, path = "/workspaces/{id}/activity", operation_id = "workspaceActivity", tag = "workspaces", security(("api_key" = []), ("bearer" = [])),
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$", example = "workspace_123", description = "The workspace's id"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Recent entries, 1 to 100 (default 20)")),
    responses((status = 200, description = "The activity", body = ActivityView),
        (status = 404, description = "No such workspace, or not yours", body = crate::error::Problem, content_type = "application/problem+json")))]
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
#[utoipa::path(patch, path = "/workspaces/{id}", operation_id = "updateWorkspace", tag = "workspaces", security(("api_key" = []), ("bearer" = [])), params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$", example = "workspace_123", description = "The workspace's id")), request_body = PatchBody,
    responses((status = 200, description = "The workspace", body = WorkspaceView),
        (status = 404, description = "No such workspace", body = crate::error::Problem, content_type = "application/problem+json")))]
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
#[utoipa::path(post, path = "/workspaces/{id}/disable", operation_id = "disableWorkspace", tag = "workspaces", security(("api_key" = []), ("bearer" = [])), params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$", example = "workspace_123", description = "The workspace's id")),
    responses((status = 200, description = "The workspace", body = WorkspaceView),
        (status = 404, description = "No such workspace", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn disable(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<Json<WorkspaceView>> {
    let id = workspace_in_path(&id)?;
    Ok(Json(services.disable_workspace(&caller, &id).await?.into()))
}

/// Enables the workspace again (admin, with an API key): its keys work again.
#[utoipa::path(post, path = "/workspaces/{id}/enable", operation_id = "enableWorkspace", tag = "workspaces", security(("api_key" = []), ("bearer" = [])), params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$", example = "workspace_123", description = "The workspace's id")),
    responses((status = 200, description = "The workspace", body = WorkspaceView),
        (status = 404, description = "No such workspace", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn enable(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<Json<WorkspaceView>> {
    let id = workspace_in_path(&id)?;
    Ok(Json(services.enable_workspace(&caller, &id).await?.into()))
}

/// Issues a new key, shown this once; the previous keys work until `previous_keys_expire_at`.
#[utoipa::path(post, path = "/workspaces/{id}/keys/rotate", operation_id = "rotateApiKey", tag = "workspaces", security(("api_key" = []), ("bearer" = [])), params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$", example = "workspace_123", description = "The workspace's id")),
    responses((status = 200, description = "The new key, shown this once", body = RotatedKeyView),
        (status = 404, description = "No such workspace, or not yours", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn rotate_key(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<Json<RotatedKeyView>> {
    let id = workspace_in_path(&id)?;
    let (key, expires_at) = services.rotate_api_key(&caller, &id).await?;
    Ok(Json(RotatedKeyView {
        workspace_id: id.to_string(),
        api_key: key,
        previous_keys_expire_at: expires_at,
    }))
}

/// Revokes every key of the workspace at once (admin only).
#[utoipa::path(post, path = "/workspaces/{id}/keys/revoke", operation_id = "revokeApiKeys", tag = "workspaces", security(("api_key" = []), ("bearer" = [])), params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$", example = "workspace_123", description = "The workspace's id")),
    responses((status = 200, description = "How many keys were revoked", body = RevokedKeysView),
        (status = 404, description = "No such workspace", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn revoke_keys(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<Json<RevokedKeysView>> {
    let id = workspace_in_path(&id)?;
    let revoked = services.revoke_api_keys(&caller, &id).await?;
    Ok(Json(RevokedKeysView {
        workspace_id: id.to_string(),
        revoked,
    }))
}

/// Exchanges the API key in the headers for a short-lived JWT.
///
/// A token is refused: tokens are minted from keys only, and die with the key.
#[utoipa::path(post, path = "/auth/token", operation_id = "issueToken", tag = "workspaces", security(("api_key" = []), ("bearer" = [])),
    responses((status = 200, description = "A short-lived JWT for `Authorization: Bearer`", body = TokenView)))]
pub async fn token(State(services): State<Services>, caller: Caller) -> AppResult<Json<TokenView>> {
    let token = services.issue_token(&caller)?;
    Ok(Json(TokenView {
        access_token: token,
        token_type: "Bearer",
        expires_in: services.tokens.ttl_seconds,
    }))
}

/// A new API key (`POST /workspaces/{id}/keys/rotate`).
#[derive(Serialize, ToSchema)]
pub struct RotatedKeyView {
    workspace_id: String,
    /// Shown this once: store it now.
    api_key: String,
    /// When the workspace's previous keys stop working (the rotation grace period).
    previous_keys_expire_at: DateTime<Utc>,
}

/// `POST /workspaces/{id}/keys/revoke`'s answer.
#[derive(Serialize, ToSchema)]
pub struct RevokedKeysView {
    workspace_id: String,
    /// How many keys were revoked.
    revoked: u64,
}

/// A token from `POST /auth/token` (RFC 6749's access-token response).
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    /// A JWT for `Authorization: Bearer`.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until it expires.
    expires_in: i64,
}
