//! Outgoing webhooks (Standard Webhooks): endpoints a workspace (or the admin) registers, the
//! outbox rows written with each event (`outbox`), and the worker that delivers them
//! (`worker`), signed (`signature`), to public addresses only (`target`), over a bounded
//! HTTP client (`send`).
//!
//! Tenancy: a workspace manages and sees only its own endpoints, and they receive only its
//! own events; the admin's endpoints (no workspace) receive every workspace's events.

mod outbox;
pub mod payload;
mod send;
pub mod signature;
pub mod target;
mod worker;

pub use crate::domain::EventType;
pub use outbox::{Outgoing, record};
pub use worker::run;

use super::page::{Page, Window};
use super::{Services, audit, now};
use crate::auth::{Caller, Principal};
use crate::config;
use crate::domain::{EndpointUrl, Permission};
use crate::error::{AppError, AppResult};
use entity::{webhook_delivery, webhook_endpoint};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;
use signature::Secret;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

/// Endpoints one workspace (or the admin) may have at most.
pub const MAX_ENDPOINTS: u64 = 20;

/// A delivery's states: waiting for its next attempt, delivered, or given up (dead letter).
pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const DEAD: &str = "dead";

/// An endpoint to register (`POST /webhooks/endpoints`, `createWebhookEndpoint`).
#[derive(Debug)]
pub struct NewEndpoint {
    pub url: EndpointUrl,
    /// At least one, no duplicates.
    pub event_types: Vec<EventType>,
}

/// The delivery worker's schedule and limits (`--webhook-*`).
#[derive(Clone, Debug)]
pub struct Settings {
    pub allow_private_targets: bool,
    pub retry_base: Duration,
    pub retry_max_delay: Duration,
    pub retry_for: Duration,
    pub disable_after: Duration,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub poll: Duration,
}

impl From<&config::Webhooks> for Settings {
    fn from(c: &config::Webhooks) -> Self {
        let ms = Duration::from_millis;
        Settings {
            allow_private_targets: c.allow_private_targets,
            retry_base: ms(c.retry_base_ms),
            retry_max_delay: ms(c.retry_max_delay_ms.max(c.retry_base_ms)),
            retry_for: ms(c.retry_for_ms),
            disable_after: ms(c.disable_after_ms),
            timeout: ms(c.timeout_ms),
            connect_timeout: ms(c.connect_timeout_ms.min(c.timeout_ms)),
            poll: ms(c.poll_ms),
        }
    }
}

/// The flags' defaults: public targets only; retries from 5 s doubling up to 10 h apart,
/// for 24 h; disabled after 5 days of failure; 10 s per attempt, 3 s to connect.
impl Default for Settings {
    fn default() -> Self {
        Settings {
            allow_private_targets: false,
            retry_base: Duration::from_secs(5),
            retry_max_delay: Duration::from_secs(10 * 3600),
            retry_for: Duration::from_secs(24 * 3600),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            poll: Duration::from_secs(1),
        }
    }
}

/// What the service keeps for webhooks: the settings, the client, and the worker's bell.
pub(crate) struct Webhooks {
    settings: Settings,
    client: send::Client,
    wake: Notify,
    /// Set by the group writer when its group recorded deliveries.
    recorded: AtomicBool,
    /// Attempts this node may have in flight at once (`worker::IN_FLIGHT`), one per endpoint.
    attempts: Arc<tokio::sync::Semaphore>,
}

impl Webhooks {
    pub(crate) fn new(settings: Settings) -> Arc<Self> {
        Arc::new(Webhooks {
            client: send::Client::new(settings.connect_timeout),
            settings,
            wake: Notify::new(),
            recorded: AtomicBool::new(false),
            attempts: Arc::new(tokio::sync::Semaphore::new(worker::IN_FLIGHT)),
        })
    }
}

/// The binding of an endpoint's sealed secret: it opens for that endpoint only.
fn secret_binding(id: Uuid) -> Vec<u8> {
    format!("convio:webhook_endpoints:{id}:secret").into_bytes()
}

/// Whose endpoints a caller manages: its own workspace's, or (admin) the global ones.
fn owner(principal: &Principal) -> Option<String> {
    principal.scope().map(|w| w.as_str().to_owned())
}

impl Services {
    /// Uses these webhook settings (from `--webhook-*`).
    pub fn with_webhooks(mut self, settings: Settings) -> Self {
        self.parts_mut().webhooks = Webhooks::new(settings);
        self
    }

    /// Tells this node's delivery worker that deliveries were just committed: call it after
    /// the commit of a transaction whose [`record`] wrote rows.
    pub fn wake_webhooks(&self) {
        self.webhooks.wake.notify_one();
    }

    /// Notes that the group being written recorded deliveries, for
    /// [`Services::wake_webhooks_if_recorded`] after its commit.
    pub(crate) fn webhooks_recorded(&self) {
        self.webhooks.recorded.store(true, Ordering::Relaxed);
    }

    /// Wakes the worker if deliveries were recorded since it was last woken so: the group
    /// writer's way (its statements run deep below the commit). A rolled-back group may
    /// cause one needless wake-up, nothing worse.
    pub(crate) fn wake_webhooks_if_recorded(&self) {
        if self.webhooks.recorded.swap(false, Ordering::Relaxed) {
            self.wake_webhooks();
        }
    }

    /// Registers an endpoint for the caller's workspace (the admin's receive every
    /// workspace's events) and returns it with its secret, `whsec_…`, shown this once. Needs
    /// `update`. Errors: `BAD_USER_INPUT` naming `url` when it does not resolve or resolves
    /// to a non-public address (unless private targets are allowed); `CONFLICT` past
    /// [`MAX_ENDPOINTS`].
    pub async fn create_webhook_endpoint(
        &self,
        caller: &Caller,
        new: NewEndpoint,
    ) -> AppResult<(webhook_endpoint::Model, String)> {
        caller.principal.require(Permission::Update)?;
        let settings = &self.webhooks.settings;
        target::resolve(
            &new.url,
            settings.allow_private_targets,
            settings.connect_timeout,
        )
        .await
        .map_err(|refused| AppError::invalid("url", refused.to_string()))?;
        let workspace_id = owner(&caller.principal);
        let id = Uuid::new_v4();
        let secret = Secret::generate()?;
        let stored_secret = match self
            .keyring
            .seal(&secret_binding(id), secret.to_text().as_bytes())
        {
            Some(sealed) => sealed.map_err(|e| AppError::Internal(e.to_string()))?,
            None => secret.to_text(),
        };
        let txn = self.db.begin_write().await?;
        // The audit chain first, then the endpoint: the order ingest takes them in.
        audit::record(
            &*txn,
            caller,
            "webhook_endpoint.created",
            "webhook_endpoint",
            &id.to_string(),
            json!({
                "workspace_id": workspace_id,
                "url": new.url.as_str(),
                "event_types": new.event_types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            }),
        )
        .await?;
        let existing = webhook_endpoint::Entity::find()
            .filter(match &workspace_id {
                Some(w) => webhook_endpoint::Column::WorkspaceId.eq(w.as_str()),
                None => webhook_endpoint::Column::WorkspaceId.is_null(),
            })
            .count(&*txn)
            .await?;
        if existing >= MAX_ENDPOINTS {
            return Err(AppError::Conflict(format!(
                "at most {MAX_ENDPOINTS} webhook endpoints each: delete one first"
            )));
        }
        let endpoint = webhook_endpoint::ActiveModel {
            id: Set(id),
            workspace_id: Set(workspace_id),
            url: Set(new.url.as_str().to_owned()),
            event_mask: Set(EventType::mask(&new.event_types)),
            secret: Set(stored_secret),
            created_at: Set(now()),
            failing_since: Set(None),
            disabled_at: Set(None),
            notice: Set(None),
        }
        .insert(&*txn)
        .await?;
        txn.commit().await?;
        Ok((endpoint, secret.to_text()))
    }

    /// The caller's endpoints, oldest first (the admin: every endpoint). Needs `read`.
    pub async fn webhook_endpoints(
        &self,
        caller: &Caller,
    ) -> AppResult<Vec<webhook_endpoint::Model>> {
        caller.principal.require(Permission::Read)?;
        let mut query = webhook_endpoint::Entity::find();
        if let Some(own) = owner(&caller.principal) {
            query = query.filter(webhook_endpoint::Column::WorkspaceId.eq(own));
        }
        Ok(query
            .order_by_asc(webhook_endpoint::Column::CreatedAt)
            .order_by_asc(webhook_endpoint::Column::Id)
            .all(self.db.conn())
            .await?)
    }

    /// Deletes one of the caller's endpoints with its delivery log; pending deliveries are
    /// dropped. Needs `update`. `NOT_FOUND` for an endpoint that is not the caller's.
    pub async fn delete_webhook_endpoint(&self, caller: &Caller, id: Uuid) -> AppResult<()> {
        caller.principal.require(Permission::Update)?;
        let txn = self.db.begin_write().await?;
        let endpoint = visible_endpoint(&*txn, &caller.principal, id).await?;
        audit::record(
            &*txn,
            caller,
            "webhook_endpoint.deleted",
            "webhook_endpoint",
            &id.to_string(),
            json!({ "workspace_id": endpoint.workspace_id, "url": endpoint.url }),
        )
        .await?;
        webhook_delivery::Entity::delete_many()
            .filter(webhook_delivery::Column::EndpointId.eq(id))
            .exec(&*txn)
            .await?;
        webhook_endpoint::Entity::delete_by_id(id)
            .exec(&*txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// One page of an endpoint's delivery log, newest first. Needs `read`; `NOT_FOUND` for an
    /// endpoint that is not the caller's.
    pub async fn webhook_deliveries(
        &self,
        caller: &Caller,
        endpoint_id: Uuid,
        window: &Window<i64>,
    ) -> AppResult<Page<webhook_delivery::Model>> {
        caller.principal.require(Permission::Read)?;
        visible_endpoint(self.db.conn(), &caller.principal, endpoint_id).await?;
        let query = window.select(
            webhook_delivery::Entity::find()
                .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id)),
            &[(webhook_delivery::Column::Id, Order::Desc)],
            |id| vec![(*id).into()],
        );
        Ok(window.page(query.all(self.db.conn()).await?))
    }

    /// How many deliveries an endpoint's log holds.
    pub async fn count_webhook_deliveries(
        &self,
        caller: &Caller,
        endpoint_id: Uuid,
    ) -> AppResult<u64> {
        caller.principal.require(Permission::Read)?;
        visible_endpoint(self.db.conn(), &caller.principal, endpoint_id).await?;
        Ok(webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id))
            .count(self.db.conn())
            .await?)
    }

    /// Queues a delivery again now, whatever its state (a dead one, or one delivered that
    /// the receiver lost), with the same `webhook-id` and body; a disabled endpoint is
    /// enabled again. Needs `update`; `NOT_FOUND` for a delivery that is not the caller's.
    pub async fn redeliver_webhook(
        &self,
        caller: &Caller,
        delivery_id: i64,
    ) -> AppResult<webhook_delivery::Model> {
        caller.principal.require(Permission::Update)?;
        let missing = || AppError::not_found("webhook delivery", delivery_id);
        let txn = self.db.begin_write().await?;
        let delivery = webhook_delivery::Entity::find_by_id(delivery_id)
            .one(&*txn)
            .await?
            .ok_or_else(missing)?;
        let endpoint = visible_endpoint(&*txn, &caller.principal, delivery.endpoint_id)
            .await
            .map_err(|_| missing())?;
        audit::record(
            &*txn,
            caller,
            "webhook_delivery.redelivered",
            "webhook_delivery",
            &delivery_id.to_string(),
            json!({ "endpoint_id": endpoint.id, "status_before": delivery.status }),
        )
        .await?;
        if endpoint.disabled_at.is_some() {
            let mut row: webhook_endpoint::ActiveModel = endpoint.into();
            row.disabled_at = Set(None);
            row.failing_since = Set(None);
            row.notice = Set(None);
            row.update(&*txn).await?;
        }
        let mut row: webhook_delivery::ActiveModel = delivery.into();
        row.status = Set(PENDING.to_owned());
        row.next_attempt_at = Set(now());
        row.locked_until = Set(None);
        let delivery = row.update(&*txn).await?;
        txn.commit().await?;
        self.wake_webhooks();
        Ok(delivery)
    }

    /// The endpoint's secret, opened.
    fn endpoint_secret(&self, endpoint: &webhook_endpoint::Model) -> Result<Secret, String> {
        let text = match endpoint.secret.starts_with(signature::SECRET_PREFIX) {
            true => endpoint.secret.as_bytes().to_vec(),
            false => self
                .keyring
                .open(&secret_binding(endpoint.id), &endpoint.secret)
                .map_err(|e| format!("the endpoint's secret cannot be opened: {e}"))?,
        };
        std::str::from_utf8(&text)
            .ok()
            .and_then(Secret::parse)
            .ok_or_else(|| "the endpoint's secret is malformed".to_owned())
    }
}

/// The endpoint `id` if `principal` may manage it, else `NOT_FOUND`.
async fn visible_endpoint(
    conn: &impl sea_orm::ConnectionTrait,
    principal: &Principal,
    id: Uuid,
) -> AppResult<webhook_endpoint::Model> {
    let found = webhook_endpoint::Entity::find_by_id(id).one(conn).await?;
    found
        .filter(|e| match owner(principal) {
            None => true,
            Some(own) => e.workspace_id.as_deref() == Some(own.as_str()),
        })
        .ok_or_else(|| AppError::not_found("webhook endpoint", id))
}
