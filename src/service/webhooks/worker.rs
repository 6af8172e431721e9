//! The delivery worker: at-least-once delivery of the outbox, on every node.
//!
//! Each round claims the oldest due delivery of each endpoint that has none in flight (up to
//! the free slots of [`IN_FLIGHT`]) by setting a lease (`locked_until`) on it, in one
//! statement (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so two nodes never claim the same row),
//! and attempts each in a task of its own, which records the outcome and rings for the next
//! round. So an endpoint has one attempt in flight at a time, and a slow or hanging receiver
//! holds only its own slot (for at most the attempt's time limit), never the others'
//! deliveries. A node that dies mid-attempt leaves a lease that runs out, and the delivery
//! is attempted again: a receiver may see a `webhook-id` twice, never zero times.
//!
//! A failed attempt is retried after `base · 2^(attempts−1)` (at most the max delay), less a
//! random jitter of up to half, until the delivery is older than `retry_for`; the next
//! failure makes it `dead`. An endpoint that has failed every attempt for `disable_after`
//! is disabled with a notice, and its pending deliveries become `dead`.

use super::send::Answer;
use super::{DEAD, DELIVERED, PENDING, Services, target};
use crate::domain::EndpointUrl;
use crate::error::AppResult;
use crate::service::now;
use chrono::{DateTime, Utc};
use entity::{webhook_delivery, webhook_endpoint};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect, Set, Statement,
};
use std::collections::HashMap;
use std::time::Duration;

/// Attempts in flight on one node at most (one per endpoint).
pub(super) const IN_FLIGHT: usize = 32;
/// What a lease adds to the attempt's own time limit, for recording its outcome.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// How many poll intervals an idle worker waits when nothing is pending at all: deliveries
/// this node writes wake it at once, so the wait only bounds how late it takes over what
/// another node left behind, while an idle server runs almost no statements.
const IDLE_POLLS: u32 = 60;

/// Runs the worker until the process ends. Every node runs one.
pub async fn run(services: Services) {
    // At start, what is pending was left by a node that stopped: take it over at the idle
    // backstop (or at once when this node writes deliveries), so that a node starting
    // idle runs no statements for a while.
    let backstop = services.webhooks.settings.poll.saturating_mul(IDLE_POLLS);
    tokio::select! {
        () = services.webhooks.wake.notified() => {}
        () = tokio::time::sleep(backstop) => {}
    }
    loop {
        let free = services.webhooks.attempts.available_permits();
        let worked = match free {
            0 => 0,
            _ => match services.deliver_due(free).await {
                Ok(n) => n,
                Err(err) => {
                    tracing::warn!(error = %err, "webhook round failed; trying again");
                    0
                }
            },
        };
        if worked == 0 {
            // Every slot busy: a finished attempt rings. Otherwise until the next is due.
            let wait = match free {
                0 => backstop,
                _ => services.idle_wait().await,
            };
            tokio::select! {
                () = services.webhooks.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

impl Services {
    /// One round: claims up to `free` due deliveries and starts an attempt of each, in a task
    /// of its own. Returns how many it claimed.
    async fn deliver_due(&self, free: usize) -> AppResult<usize> {
        let claimed = self.claim(free).await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let ids: Vec<uuid::Uuid> = claimed.iter().map(|d| d.endpoint_id).collect();
        let endpoints: HashMap<uuid::Uuid, webhook_endpoint::Model> =
            webhook_endpoint::Entity::find()
                .filter(webhook_endpoint::Column::Id.is_in(ids))
                .all(self.db.conn())
                .await?
                .into_iter()
                .map(|e| (e.id, e))
                .collect();
        let count = claimed.len();
        for delivery in claimed {
            let Some(endpoint) = endpoints.get(&delivery.endpoint_id).cloned() else {
                continue;
            };
            // Free slots were counted before the claim, and only this task takes them.
            let Ok(slot) = self.webhooks.attempts.clone().try_acquire_owned() else {
                break;
            };
            let services = self.clone();
            tokio::spawn(async move {
                services.deliver(&endpoint, delivery).await;
                drop(slot);
                services.webhooks.wake.notify_one();
            });
        }
        Ok(count)
    }

    /// How long to wait for the next round: until the next pending delivery that could be
    /// claimed is due (at most a poll interval), or [`IDLE_POLLS`] intervals when none is
    /// (what waits behind an attempt in flight is rung for when that attempt ends).
    async fn idle_wait(&self) -> Duration {
        let poll = self.webhooks.settings.poll;
        let next: Option<DateTime<Utc>> = webhook_delivery::Entity::find()
            .select_only()
            .column_as(webhook_delivery::Column::NextAttemptAt.min(), "next")
            .filter(webhook_delivery::Column::Status.eq(PENDING))
            // The claim's rule: no attempt of the same endpoint in flight.
            .filter(Expr::cust_with_values(
                format!(
                    "NOT EXISTS (SELECT 1 FROM webhook_deliveries d3 \
                     WHERE d3.endpoint_id = webhook_deliveries.endpoint_id \
                     AND d3.status = '{PENDING}' AND d3.locked_until > ?)"
                ),
                [now()],
            ))
            .into_tuple::<Option<DateTime<Utc>>>()
            .one(self.db.conn())
            .await
            .ok()
            .flatten()
            .flatten();
        match next {
            None => poll.saturating_mul(IDLE_POLLS),
            Some(at) => (at - Utc::now()).to_std().unwrap_or_default().min(poll),
        }
    }

    /// Leases the oldest due delivery of each enabled endpoint without one in flight: `limit`
    /// at most.
    async fn claim(&self, limit: usize) -> AppResult<Vec<webhook_delivery::Model>> {
        let settings = &self.webhooks.settings;
        let at = now();
        let until = at + chrono_duration(settings.timeout + LEASE_MARGIN);
        let backend = self.db.backend();
        let (p, lock) = match backend {
            DbBackend::Postgres => (["$1", "$2"], " FOR UPDATE OF d SKIP LOCKED"),
            // Numbered, so `now` can be used twice.
            _ => (["?1", "?2"], ""),
        };
        let due = format!(
            "d2.status = '{PENDING}' AND d2.next_attempt_at <= {now} \
             AND (d2.locked_until IS NULL OR d2.locked_until <= {now}) \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d3 \
               WHERE d3.endpoint_id = d2.endpoint_id AND d3.status = '{PENDING}' \
               AND d3.locked_until > {now})",
            now = p[1]
        );
        let sql = format!(
            "UPDATE webhook_deliveries SET locked_until = {until} WHERE id IN (\
               SELECT d.id FROM webhook_deliveries d WHERE d.id IN (\
                 SELECT MIN(d2.id) FROM webhook_deliveries d2 \
                 JOIN webhook_endpoints e ON e.id = d2.endpoint_id \
                 WHERE {due} AND e.disabled_at IS NULL GROUP BY d2.endpoint_id) \
               ORDER BY d.id LIMIT {limit}{lock}) \
             RETURNING *",
            until = p[0],
        );
        let values: Vec<sea_orm::Value> = vec![until.into(), at.into()];
        let txn = self.db.begin_write().await?;
        let mut claimed = webhook_delivery::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
            .all(&*txn)
            .await?;
        txn.commit().await?;
        claimed.sort_by_key(|d| d.id);
        Ok(claimed)
    }

    /// Attempts one delivery and records what came of it.
    async fn deliver(&self, endpoint: &webhook_endpoint::Model, delivery: webhook_delivery::Model) {
        let outcome = self.attempt(endpoint, &delivery).await;
        if let Err(err) = self.record_outcome(endpoint, delivery, outcome).await {
            // The lease runs out and the delivery is attempted again: at least once.
            tracing::warn!(error = %err, endpoint = %endpoint.id, "recording a webhook attempt failed");
        }
    }

    /// One signed POST within the attempt's time limit: `Ok` with whatever the endpoint
    /// answered, `Err` with why nothing was answered.
    async fn attempt(
        &self,
        endpoint: &webhook_endpoint::Model,
        delivery: &webhook_delivery::Model,
    ) -> Result<Answer, String> {
        let settings = &self.webhooks.settings;
        let secret = self.endpoint_secret(endpoint)?;
        let url = EndpointUrl::from_stored(&endpoint.url).map_err(|_| "the URL is malformed")?;
        let attempt = async {
            let addrs = target::resolve(
                &url,
                settings.allow_private_targets,
                settings.connect_timeout,
            )
            .await
            .map_err(|refused| format!("refused: the URL {refused}"))?;
            let timestamp = Utc::now().timestamp();
            let headers = [
                ("webhook-id", delivery.message_id.clone()),
                ("webhook-timestamp", timestamp.to_string()),
                (
                    "webhook-signature",
                    secret.sign(&delivery.message_id, timestamp, &delivery.payload),
                ),
            ];
            self.webhooks
                .client
                .post(&url, &addrs, &headers, delivery.payload.clone())
                .await
        };
        tokio::time::timeout(settings.timeout, attempt)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no answer within {} ms",
                    settings.timeout.as_millis()
                ))
            })
    }

    /// Stores the attempt's outcome on the delivery (and the endpoint's failure streak).
    async fn record_outcome(
        &self,
        endpoint: &webhook_endpoint::Model,
        delivery: webhook_delivery::Model,
        outcome: Result<Answer, String>,
    ) -> AppResult<()> {
        let settings = &self.webhooks.settings;
        let at = now();
        let attempts = delivery.attempts.saturating_add(1);
        let (status_code, response, error) = match outcome {
            Ok(answer) if (200..300).contains(&answer.status) => {
                (Some(answer.status), Some(answer.body), None)
            }
            Ok(answer) => (
                Some(answer.status),
                Some(answer.body),
                Some(format!("the endpoint answered {}", answer.status)),
            ),
            Err(reason) => (None, None, Some(reason)),
        };
        let succeeded = error.is_none();
        let expired = at - delivery.created_at >= chrono_duration(settings.retry_for);
        let status = match (succeeded, expired) {
            (true, _) => DELIVERED,
            (false, true) => DEAD,
            (false, false) => PENDING,
        };
        self.metrics.webhook_attempt(status);
        let txn = self.db.begin_write().await?;
        let mut row: webhook_delivery::ActiveModel = delivery.into();
        row.status = Set(status.to_owned());
        row.attempts = Set(attempts);
        row.last_attempt_at = Set(Some(at));
        row.last_status_code = Set(status_code.map(i32::from));
        row.last_error = Set(error.clone());
        row.last_response = Set(response);
        row.locked_until = Set(None);
        if status == PENDING {
            row.next_attempt_at = Set(at + chrono_duration(backoff(settings, attempts)));
        }
        row.update(&*txn).await?;
        if succeeded {
            if endpoint.failing_since.is_some() {
                webhook_endpoint::Entity::update_many()
                    .col_expr(
                        webhook_endpoint::Column::FailingSince,
                        Expr::value(None::<DateTime<Utc>>),
                    )
                    .filter(webhook_endpoint::Column::Id.eq(endpoint.id))
                    .exec(&*txn)
                    .await?;
            }
        } else {
            self.note_failure(&*txn, endpoint, at, error.as_deref().unwrap_or_default())
                .await?;
        }
        txn.commit().await
    }

    /// Starts or extends the endpoint's failure streak; disables it once the streak has
    /// lasted `disable_after`, with a notice, and gives up its pending deliveries.
    async fn note_failure(
        &self,
        conn: &impl sea_orm::ConnectionTrait,
        endpoint: &webhook_endpoint::Model,
        at: DateTime<Utc>,
        error: &str,
    ) -> AppResult<()> {
        let Some(since) = endpoint.failing_since else {
            webhook_endpoint::Entity::update_many()
                .col_expr(
                    webhook_endpoint::Column::FailingSince,
                    Expr::value(Some(at)),
                )
                .filter(webhook_endpoint::Column::Id.eq(endpoint.id))
                .filter(webhook_endpoint::Column::FailingSince.is_null())
                .exec(conn)
                .await?;
            return Ok(());
        };
        if at - since < chrono_duration(self.webhooks.settings.disable_after) {
            return Ok(());
        }
        let notice = format!(
            "disabled at {at}: every delivery attempt failed since {since} (the last: {error}); \
             redeliver a delivery to enable it again"
        );
        tracing::warn!(endpoint = %endpoint.id, "webhook endpoint disabled after sustained failure");
        let mut row: webhook_endpoint::ActiveModel = endpoint.clone().into();
        row.disabled_at = Set(Some(at));
        row.notice = Set(Some(notice));
        row.update(conn).await?;
        webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::Status, Expr::value(DEAD))
            .col_expr(
                webhook_delivery::Column::LastError,
                Expr::value("the endpoint was disabled after sustained failure"),
            )
            .filter(webhook_delivery::Column::EndpointId.eq(endpoint.id))
            .filter(webhook_delivery::Column::Status.eq(PENDING))
            .exec(conn)
            .await?;
        Ok(())
    }
}

/// The wait before the attempt after `attempts` failed ones: `base · 2^(attempts−1)`, at most
/// the max delay, less a random jitter of up to half of it (so receivers that come back are
/// not hit by every sender at once).
fn backoff(settings: &super::Settings, attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(40);
    let full = settings
        .retry_base
        .saturating_mul(1 << exponent.min(31))
        .min(settings.retry_max_delay);
    let mut bytes = [0u8; 8];
    let random = match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => 0,
    };
    let half = full / 2;
    let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    full - Duration::from_millis(random % jitter_ms.max(1))
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_with_jitter_up_to_the_cap() {
        let settings = super::super::Settings {
            retry_base: Duration::from_secs(5),
            retry_max_delay: Duration::from_secs(36_000),
            ..Default::default()
        };
        for attempts in 1..=20 {
            let full = (5u64 << (attempts - 1).min(31)).min(36_000);
            let wait = backoff(&settings, attempts).as_secs_f64();
            assert!(
                wait <= full as f64 && wait >= full as f64 / 2.0,
                "attempt {attempts}: {wait} s of {full}"
            );
        }
    }
}
