//! `POST /webhooks/endpoints`, `GET /webhooks/endpoints`, `DELETE /webhooks/endpoints/{id}`,
//! `GET /webhooks/endpoints/{id}/deliveries`, `POST /webhooks/deliveries/{id}/redeliver`.

use super::conversions::PageInfo;
use crate::auth::Caller;
use crate::domain::{EndpointUrl, EventType};
use crate::error::{AppError, AppResult};
use crate::http::body::{JsonBody, Params};
use crate::service::Services;
use crate::service::page::{DEFAULT_PAGE, MAX_PAGE, Window};
use crate::service::webhooks::{NewEndpoint, PENDING};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use entity::{webhook_delivery, webhook_endpoint};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;
use uuid::Uuid;

/// The body of `POST /webhooks/endpoints`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointBody {
    /// An `http` or `https` URL on a public address, at most 2048 bytes.
    #[schema(max_length = 2048, example = "https://crm.example.com/hooks/convio")]
    url: String,
    /// At least one of `conversion.logged`, `conversion.adjusted`, `conversion.retracted`,
    /// `contact.updated`.
    #[schema(min_items = 1, value_type = Vec<EventTypeName>)]
    event_types: Vec<String>,
}

/// An event type's wire name.
#[derive(ToSchema)]
#[schema(as = EventTypeName)]
#[allow(dead_code)]
pub enum EventTypeName {
    #[schema(rename = "conversion.logged")]
    ConversionLogged,
    #[schema(rename = "conversion.adjusted")]
    ConversionAdjusted,
    #[schema(rename = "conversion.retracted")]
    ConversionRetracted,
    #[schema(rename = "contact.updated")]
    ContactUpdated,
}

impl TryFrom<EndpointBody> for NewEndpoint {
    type Error = AppError;

    fn try_from(body: EndpointBody) -> AppResult<Self> {
        Ok(NewEndpoint {
            url: EndpointUrl::parse("url", &body.url)?,
            event_types: EventType::parse_list("event_types", &body.event_types)?,
        })
    }
}

/// A webhook endpoint.
#[derive(Serialize, ToSchema)]
pub struct EndpointView {
    id: Uuid,
    /// The workspace whose events it receives; `null`: the admin's, which receives all.
    workspace_id: Option<String>,
    url: String,
    #[schema(value_type = Vec<EventTypeName>)]
    event_types: Vec<&'static str>,
    created_at: DateTime<Utc>,
    /// Since when every attempt has failed; `null` after a success.
    failing_since: Option<DateTime<Utc>>,
    /// When it was disabled after sustained failure; `null` while enabled.
    disabled_at: Option<DateTime<Utc>>,
    /// Why it was disabled.
    notice: Option<String>,
}

impl From<webhook_endpoint::Model> for EndpointView {
    fn from(e: webhook_endpoint::Model) -> Self {
        EndpointView {
            id: e.id,
            workspace_id: e.workspace_id,
            url: e.url,
            event_types: EventType::from_mask(e.event_mask)
                .into_iter()
                .map(EventType::as_str)
                .collect(),
            created_at: e.created_at,
            failing_since: e.failing_since,
            disabled_at: e.disabled_at,
            notice: e.notice,
        }
    }
}

/// A new endpoint and its signing secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedEndpointView {
    #[serde(flatten)]
    endpoint: EndpointView,
    /// `whsec_` + base64: verify each delivery's `webhook-signature` with it. Shown once.
    secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointList {
    endpoints: Vec<EndpointView>,
}

/// One delivery of one event to one endpoint, with its latest attempt.
#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    id: i64,
    endpoint_id: Uuid,
    /// The `webhook-id` header: the same on every attempt.
    message_id: String,
    #[schema(value_type = EventTypeName)]
    event_type: String,
    /// `pending` (to be attempted), `delivered`, or `dead` (given up; redeliver by hand).
    status: String,
    attempts: i32,
    /// When it is attempted next; `null` unless `pending`.
    next_attempt_at: Option<DateTime<Utc>>,
    last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status the endpoint answered last; `null` if it did not answer.
    last_status_code: Option<i32>,
    /// Why the last attempt failed; `null` after a success.
    last_error: Option<String>,
    /// The first 4 KiB of the endpoint's last answer.
    last_response: Option<String>,
    /// The body sent: `{"type", "timestamp", "data"}`.
    #[schema(value_type = Object)]
    payload: Box<RawValue>,
    created_at: DateTime<Utc>,
}

impl From<webhook_delivery::Model> for DeliveryView {
    fn from(d: webhook_delivery::Model) -> Self {
        DeliveryView {
            payload: RawValue::from_string(d.payload).unwrap_or_default(),
            next_attempt_at: (d.status == PENDING).then_some(d.next_attempt_at),
            id: d.id,
            endpoint_id: d.endpoint_id,
            message_id: d.message_id,
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            last_attempt_at: d.last_attempt_at,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            last_response: d.last_response,
            created_at: d.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    deliveries: Vec<DeliveryView>,
    page_info: PageInfo,
}

fn endpoint_in_path(id: &str) -> AppResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| AppError::not_found("webhook endpoint", id))
}

/// Registers an endpoint for your workspace's events (the admin's: every workspace's) and
/// answers its signing secret, shown this once. Needs `update`.
#[utoipa::path(post, path = "/webhooks/endpoints", operation_id = "createWebhookEndpoint", tag = "webhooks", security(("api_key" = []), ("bearer" = [])), request_body = EndpointBody,
    responses((status = 201, description = "The endpoint and its secret", body = CreatedEndpointView),
        (status = 422, description = "A bad or non-public URL, or an unknown event type", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(services): State<Services>,
    caller: Caller,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<CreatedEndpointView>)> {
    let new = body.parse::<EndpointBody>()?.try_into()?;
    let (endpoint, secret) = services.create_webhook_endpoint(&caller, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedEndpointView {
            endpoint: endpoint.into(),
            secret,
        }),
    ))
}

/// Your endpoints, oldest first (the admin: every endpoint). Needs `read`.
#[utoipa::path(get, path = "/webhooks/endpoints", operation_id = "listWebhookEndpoints", tag = "webhooks", security(("api_key" = []), ("bearer" = [])),
    responses((status = 200, description = "The endpoints", body = EndpointList)))]
pub async fn list(
    State(services): State<Services>,
    caller: Caller,
) -> AppResult<Json<EndpointList>> {
    let endpoints = services.webhook_endpoints(&caller).await?;
    Ok(Json(EndpointList {
        endpoints: endpoints.into_iter().map(EndpointView::from).collect(),
    }))
}

/// Deletes an endpoint and its delivery log; nothing more is sent to it. Needs `update`.
#[utoipa::path(delete, path = "/webhooks/endpoints/{id}", operation_id = "deleteWebhookEndpoint", tag = "webhooks", security(("api_key" = []), ("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The endpoint's id")),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such endpoint, or not yours", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id = endpoint_in_path(&id)?;
    services.delete_webhook_endpoint(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An endpoint's delivery log, newest first, a page at a time. Needs `read`.
#[utoipa::path(get, path = "/webhooks/endpoints/{id}/deliveries", operation_id = "listWebhookDeliveries", tag = "webhooks", security(("api_key" = []), ("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The endpoint's id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Page size, 1 to 200 (default 50)"),
        ("after" = Option<String>, Query, pattern = "^$|^[0-9]{1,18}$", description = "The previous page's `page_info.end_cursor`")),
    responses((status = 200, description = "One page", body = DeliveryList),
        (status = 404, description = "No such endpoint, or not yours", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn deliveries(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
    mut params: Params,
) -> AppResult<Json<DeliveryList>> {
    let id = endpoint_in_path(&id)?;
    let limit = params.bounded("limit", DEFAULT_PAGE, MAX_PAGE)?;
    let after = params
        .get("after")
        .map(|a| {
            a.parse::<i64>()
                .map_err(|_| AppError::invalid("after", "must be an `end_cursor`"))
        })
        .transpose()?;
    params.finish(&["limit", "after"])?;
    let page = services
        .webhook_deliveries(&caller, id, &Window::first(limit, after))
        .await?;
    let end_cursor = page.items.last().map(|d| d.id.to_string());
    Ok(Json(DeliveryList {
        deliveries: page.items.into_iter().map(DeliveryView::from).collect(),
        page_info: PageInfo {
            has_next_page: page.has_next_page,
            end_cursor,
        },
    }))
}

/// Sends a delivery again now (a dead one, or one the receiver lost), with the same
/// `webhook-id` and body; enables its endpoint again if it was disabled. Needs `update`.
#[utoipa::path(post, path = "/webhooks/deliveries/{id}/redeliver", operation_id = "redeliverWebhook", tag = "webhooks", security(("api_key" = []), ("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "The delivery's id")),
    responses((status = 202, description = "Queued: the delivery, `pending`", body = DeliveryView),
        (status = 404, description = "No such delivery, or not yours", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn redeliver(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<(StatusCode, Json<DeliveryView>)> {
    let id = id
        .parse::<i64>()
        .map_err(|_| AppError::not_found("webhook delivery", &id))?;
    let delivery = services.redeliver_webhook(&caller, id).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery.into())))
}
