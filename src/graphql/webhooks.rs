//! Outgoing webhooks in GraphQL, mirroring `/webhooks/…`: `webhookEndpoints`,
//! `webhookDeliveries` (a Relay connection), `createWebhookEndpoint`,
//! `deleteWebhookEndpoint`, `redeliverWebhook`. Merged into the query and mutation roots.

use super::connection::{CountOf, Counted, Paging, WEBHOOK_DELIVERIES, connection};
use super::{caller, services};
use crate::domain::{EndpointUrl, EventType};
use crate::error::AppError;
use crate::service::webhooks::{NewEndpoint, PENDING};
use async_graphql::{Context, ID, InputObject, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{webhook_delivery, webhook_endpoint};
use uuid::Uuid;

/// Read webhook endpoints and their delivery logs.
#[derive(Default)]
pub struct WebhookQuery;

/// Register and delete webhook endpoints, and redeliver.
#[derive(Default)]
pub struct WebhookMutation;

/// A URL that receives signed events (Standard Webhooks) of the types it subscribed to.
pub struct WebhookEndpoint(webhook_endpoint::Model);

/// A URL that receives signed events (Standard Webhooks) of the types it subscribed to.
#[Object]
impl WebhookEndpoint {
    /// The endpoint's id (a UUID).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The workspace whose events it receives; null: the admin's, which receives all.
    async fn workspace_id(&self) -> Option<ID> {
        self.0.workspace_id.clone().map(ID)
    }

    /// Where deliveries are POSTed: an `http` or `https` URL.
    async fn url(&self) -> &str {
        &self.0.url
    }

    /// `conversion.logged`, `conversion.adjusted`, `conversion.retracted`, `contact.updated`.
    async fn event_types(&self) -> Vec<&'static str> {
        EventType::from_mask(self.0.event_mask)
            .into_iter()
            .map(EventType::as_str)
            .collect()
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// Since when every attempt has failed; null after a success.
    async fn failing_since(&self) -> Option<DateTime<Utc>> {
        self.0.failing_since
    }

    /// When it was disabled after sustained failure; null while enabled.
    async fn disabled_at(&self) -> Option<DateTime<Utc>> {
        self.0.disabled_at
    }

    /// Why it was disabled.
    async fn notice(&self) -> Option<&str> {
        self.0.notice.as_deref()
    }
}

/// A new endpoint and its signing secret, shown this once.
#[derive(SimpleObject)]
pub struct CreatedWebhookEndpoint {
    /// The endpoint registered.
    endpoint: WebhookEndpoint,
    /// `whsec_` + base64: verify each delivery's `webhook-signature` with it. Shown once.
    secret: String,
}

/// One delivery of one event to one endpoint, with its latest attempt.
pub struct WebhookDelivery(webhook_delivery::Model);

/// One delivery of one event to one endpoint, with its latest attempt.
#[Object]
impl WebhookDelivery {
    /// The delivery's id, increasing in the order deliveries were written.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The endpoint it goes to.
    async fn endpoint_id(&self) -> ID {
        ID(self.0.endpoint_id.to_string())
    }

    /// The `webhook-id` header: the same on every attempt.
    async fn message_id(&self) -> &str {
        &self.0.message_id
    }

    /// The event's type, e.g. `conversion.logged`.
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }

    /// `pending` (to be attempted), `delivered`, or `dead` (given up; redeliver by hand).
    async fn status(&self) -> &str {
        &self.0.status
    }

    /// Attempts made so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }

    /// When it is attempted next; null unless `pending`.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        (self.0.status == PENDING).then_some(self.0.next_attempt_at)
    }

    /// When it was last attempted; null before the first attempt.
    async fn last_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_attempt_at
    }

    /// The HTTP status the endpoint answered last; null if it did not answer.
    async fn last_status_code(&self) -> Option<i32> {
        self.0.last_status_code
    }

    /// Why the last attempt failed; null after a success.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }

    /// The first 4 KiB of the endpoint's last answer.
    async fn last_response(&self) -> Option<&str> {
        self.0.last_response.as_deref()
    }

    /// The body sent: `{"type", "timestamp", "data"}`.
    async fn payload(&self) -> Result<Json<serde_json::Value>> {
        serde_json::from_str(&self.0.payload)
            .map(Json)
            .map_err(|_| AppError::Internal("a stored webhook body is not JSON".into()).into())
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// An endpoint to register.
#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// An `http` or `https` URL on a public address, at most 2048 bytes.
    url: String,
    /// At least one of `conversion.logged`, `conversion.adjusted`, `conversion.retracted`,
    /// `contact.updated`.
    event_types: Vec<String>,
}

impl TryFrom<CreateWebhookEndpointInput> for NewEndpoint {
    type Error = AppError;

    fn try_from(input: CreateWebhookEndpointInput) -> Result<Self, AppError> {
        Ok(NewEndpoint {
            url: EndpointUrl::parse("url", &input.url)?,
            event_types: EventType::parse_list("event_types", &input.event_types)?,
        })
    }
}

/// An id in the form this server issues, else `NOT_FOUND` (as REST answers for the path).
fn uuid(what: &str, id: &ID) -> Result<Uuid, AppError> {
    Uuid::parse_str(id).map_err(|_| AppError::not_found(what, id.as_str()))
}

#[Object]
impl WebhookQuery {
    /// Your webhook endpoints, oldest first (the admin: every endpoint). Needs `read`.
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> Result<Vec<WebhookEndpoint>> {
        let found = services(ctx)?.webhook_endpoints(caller(ctx)?).await?;
        Ok(found.into_iter().map(WebhookEndpoint).collect())
    }

    /// One endpoint's delivery log, newest first (Relay connection). Needs `read`.
    #[graphql(complexity = "super::connection::cost(first, last, child_complexity)")]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint's id.")] endpoint_id: ID,
        #[graphql(
            desc = "Page forwards: this many items (0 to 200). Without `first` and \
                          `last`: 50."
        )]
        first: Option<i32>,
        #[graphql(desc = "Page forwards from this cursor (`pageInfo.endCursor`).")] after: Option<
            String,
        >,
        #[graphql(desc = "Page backwards: this many items (0 to 200). Not with `first`.")]
        last: Option<i32>,
        #[graphql(desc = "Page backwards from this cursor (`pageInfo.startCursor`).")]
        before: Option<String>,
    ) -> Result<Counted<WebhookDelivery>> {
        let endpoint = uuid("webhook endpoint", &endpoint_id)?;
        let paging = Paging {
            first,
            after,
            last,
            before,
        };
        let window = paging.window(
            WEBHOOK_DELIVERIES,
            |t| t.parse::<i64>().ok(),
            i64::to_string,
        )?;
        let page = services(ctx)?
            .webhook_deliveries(caller(ctx)?, endpoint, &window)
            .await?;
        Ok(connection(
            WEBHOOK_DELIVERIES,
            page,
            CountOf::WebhookDeliveries(endpoint),
            |d| d.id.to_string(),
            WebhookDelivery,
        ))
    }
}

#[Object]
impl WebhookMutation {
    /// Registers an endpoint for your workspace's events (the admin's: every workspace's);
    /// answers its signing secret, shown this once. Needs `update`.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> Result<CreatedWebhookEndpoint> {
        let new = NewEndpoint::try_from(input)?;
        let (endpoint, secret) = services(ctx)?
            .create_webhook_endpoint(caller(ctx)?, new)
            .await?;
        Ok(CreatedWebhookEndpoint {
            endpoint: WebhookEndpoint(endpoint),
            secret,
        })
    }

    /// Deletes one of your endpoints and its delivery log; answers its id. Needs `update`.
    async fn delete_webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let endpoint = uuid("webhook endpoint", &id)?;
        services(ctx)?
            .delete_webhook_endpoint(caller(ctx)?, endpoint)
            .await?;
        Ok(id)
    }

    /// Sends a delivery again now, with the same `webhook-id` and body; enables its endpoint
    /// again if it was disabled. Needs `update`.
    async fn redeliver_webhook(&self, ctx: &Context<'_>, id: ID) -> Result<WebhookDelivery> {
        let delivery = id
            .parse::<i64>()
            .map_err(|_| AppError::not_found("webhook delivery", id.as_str()))?;
        let queued = services(ctx)?
            .redeliver_webhook(caller(ctx)?, delivery)
            .await?;
        Ok(WebhookDelivery(queued))
    }
}
