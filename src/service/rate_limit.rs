//! Per-workspace rate limiting (plan §5.1): each workspace may make so many requests per
//! clock hour, by default `--rate-limit-per-hour`, or its own `rate_limit_per_hour`. The limit
//! comes with the caller's verified key (see `principal_cache`), so counting a request reads
//! nothing.
//!
//! Requests are counted in this process's memory. On SQLite that is the whole count: a SQLite
//! file is served by one process, so it is exact, and it spares every request a write (SQLite
//! has one writer at a time). A restart forgets the SQLite counts, erring towards letting
//! requests through.
//!
//! On PostgreSQL every node adds its counts to the shared `rate_limit_windows` table, so the
//! limit holds across the nodes behind a load balancer: in one statement per flush for all of
//! a node's workspaces, never one per request (see `tally`). A node refuses once the shared
//! total it last read plus what it counted since passes the limit. It flushes every 100 ms
//! while it has counts to write, and before deciding once its unwritten count for a workspace
//! reaches 1/32 of the allowance it last saw left — so on one node the count is exact, and
//! near the limit every request reads the shared total.
//!
//! The bound across nodes: what a node admits without the others knowing is what it counted
//! since its last flush, fewer than max(1, R/32) requests for a workspace whose remaining
//! allowance it last read as R ≤ L (the limit), and written within 100 ms. So with N nodes a
//! workspace can pass its hourly limit by at most about N × max(1, L/32) requests (L = 1000,
//! N = 2: 62), and only when several nodes serve it at the very moment it reaches the limit;
//! typically by fewer than N. A node that stops (crash or restart) loses at most the counts of
//! its last 100 ms.
//!
//! Failed authentication attempts have their own limit, per client address: `failed_auth`.

mod failed_auth;
mod tally;

pub use failed_auth::{FailedAuthLimit, Transport};

use super::Services;
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use chrono::Utc;
use entity::workspace;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QuerySelect, Statement};
use std::sync::{Arc, OnceLock};
use tally::Tallies;

const WINDOW_SECONDS: i64 = 3600;
/// Windows older than this are deleted. One spare hour tolerates clocks that disagree
/// between nodes.
const KEEP_SECONDS: i64 = 2 * WINDOW_SECONDS;

/// Where a limited caller stands in the current window, for the `X-RateLimit-*` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitStatus {
    /// Requests allowed per hour.
    pub limit: u64,
    /// Requests left in this hour.
    pub remaining: u64,
    /// Seconds until the window resets.
    pub reset_seconds: u64,
}

/// The default limit and this node's counts; and the limit on failed authentication attempts.
#[derive(Clone, Default)]
pub struct RateLimiter {
    default_per_hour: u64,
    tallies: Arc<Tallies>,
    /// Started with the first count on PostgreSQL: flushes the counts every `FLUSH_EVERY`.
    flusher: Arc<OnceLock<()>>,
    failed_auth: failed_auth::FailedAuth,
}

impl RateLimiter {
    /// `default_per_hour` applies to workspaces without their own limit; 0 disables it.
    pub fn new(default_per_hour: u64) -> Self {
        RateLimiter {
            default_per_hour,
            ..RateLimiter::default()
        }
    }

    /// Requests per clock hour for a workspace whose own `rate_limit_per_hour` is `own`: that,
    /// or the server default when it has none; 0 means unlimited.
    pub fn limit_or_default(&self, own: Option<i64>) -> u64 {
        match own {
            // Registration refuses negative limits; were one stored anyway, it would limit
            // nothing rather than everything.
            Some(own) => u64::try_from(own).unwrap_or(0),
            None => self.default_per_hour,
        }
    }
}

impl Services {
    /// Counts one request by `principal` and refuses it once its workspace is over the limit.
    /// Returns `None` when the caller is not limited (the admin key, or a limit of 0).
    pub async fn check_rate_limit(
        &self,
        principal: &Principal,
    ) -> AppResult<Option<RateLimitStatus>> {
        self.count_requests(principal, 1).await
    }

    /// Counts the items of a batch beyond the first as requests of their own (the request
    /// that carried them was counted at the door), so the limit covers all work. A batch that
    /// would pass the limit is refused whole and its items are not counted, so a workspace
    /// can still send what its remaining allowance holds.
    pub async fn count_batch_items(&self, principal: &Principal, items: usize) -> AppResult<()> {
        let extra = u64::try_from(items.saturating_sub(1)).unwrap_or(u64::MAX);
        if extra == 0 {
            return Ok(());
        }
        match self.count_requests(principal, extra).await {
            Err(refused @ AppError::RateLimited { .. }) => {
                self.refund(principal, extra).await?;
                Err(refused)
            }
            other => other.map(|_| ()),
        }
    }

    async fn refund(&self, principal: &Principal, units: u64) -> AppResult<()> {
        if let Some(workspace) = principal.workspace() {
            let units = -i64::try_from(units).unwrap_or(i64::MAX);
            // Written with the next flush, like any count.
            self.rate_limiter.tallies.add(
                workspace.as_str(),
                current_window_start(),
                units,
                u64::MAX,
                KEEP_SECONDS,
            );
        }
        Ok(())
    }

    /// Adds `units` requests to `principal`'s count and refuses them once its workspace is
    /// over the limit.
    async fn count_requests(
        &self,
        principal: &Principal,
        units: u64,
    ) -> AppResult<Option<RateLimitStatus>> {
        let Some(workspace) = principal.workspace() else {
            return Ok(None);
        };
        let limit = self.hourly_limit_of(principal).await?;
        if limit == 0 {
            return Ok(None);
        }
        let now = Utc::now().timestamp();
        let window_start = now - now.rem_euclid(WINDOW_SECONDS);
        let units = i64::try_from(units).unwrap_or(i64::MAX);
        let tallies = &self.rate_limiter.tallies;
        let counted = tallies.add(workspace.as_str(), window_start, units, limit, KEEP_SECONDS);
        let count = match self.db.backend() {
            DbBackend::Sqlite => counted.total,
            _ => {
                self.start_flushing_rate_counts();
                if counted.flush_first {
                    self.flush_rate_counts().await?;
                }
                tallies.recount(workspace.as_str(), window_start, counted)
            }
        };
        let reset_seconds = u64::try_from(window_start + WINDOW_SECONDS - now).unwrap_or(0);
        if count > limit {
            self.metrics.rate_limited();
            if count.saturating_sub(units.unsigned_abs()) <= limit {
                // Once per workspace and window: which workspace the alert is about.
                tracing::warn!(workspace = %workspace, limit, "hourly rate limit reached");
            }
            return Err(AppError::RateLimited {
                retry_after_seconds: reset_seconds,
                limit,
            });
        }
        Ok(Some(RateLimitStatus {
            limit,
            remaining: limit - count,
            reset_seconds,
        }))
    }

    /// Requests per clock hour `principal` may make: its workspace's own limit or the server
    /// default; 0 means unlimited (always so for the admin). Known without a statement when
    /// the key it presented is cached.
    pub async fn hourly_limit_of(&self, principal: &Principal) -> AppResult<u64> {
        let Some(workspace) = principal.workspace() else {
            return Ok(0);
        };
        let cached = principal
            .key_id
            .and_then(|key_id| self.principals.by_key(key_id))
            .filter(|standing| standing.owner.as_ref() == Some(workspace));
        if let Some(standing) = cached {
            return Ok(standing.hourly_limit);
        }
        let own: Option<Option<i64>> = workspace::Entity::find_by_id(workspace.as_str())
            .select_only()
            .column(workspace::Column::RateLimitPerHour)
            .into_tuple()
            .one(self.db.conn())
            .await?;
        Ok(self.rate_limiter.limit_or_default(own.flatten()))
    }

    /// Writes this node's counts to `rate_limit_windows` now, in a task of its own so that a
    /// request dropped meanwhile cannot cut the flush short.
    async fn flush_rate_counts(&self) -> AppResult<()> {
        let tallies = self.rate_limiter.tallies.clone();
        let db = self.db.clone();
        tokio::spawn(async move { tallies.flush(db.conn(), KEEP_SECONDS).await })
            .await
            .map_err(|e| AppError::Internal(format!("the rate-limit flush failed: {e}")))?
    }

    /// Writes this node's counts to `rate_limit_windows` every `FLUSH_EVERY`, from the first
    /// count on (PostgreSQL). The task ends when these services are dropped.
    fn start_flushing_rate_counts(&self) {
        self.rate_limiter.flusher.get_or_init(|| {
            let tallies = Arc::downgrade(&self.rate_limiter.tallies);
            let db = self.db.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(tally::FLUSH_EVERY);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    let Some(tallies) = tallies.upgrade() else {
                        return;
                    };
                    if let Err(err) = tallies.flush(db.conn(), KEEP_SECONDS).await {
                        tracing::warn!(error = %err, "writing rate-limit counts failed; retrying");
                    }
                }
            });
        });
    }

    /// Adds `units` (negative to subtract) to the shared counter `key` in one atomic
    /// statement, so concurrent counts on any node are never lost: for failed authentication
    /// attempts, keyed `auth:<address>` (`:` never occurs in a workspace id). Requests are
    /// counted in memory and flushed in groups instead (`tally`).
    async fn count_shared(&self, key: &str, window_start: i64, units: i64) -> AppResult<u64> {
        let backend = self.db.backend();
        let conn = self.db.conn();
        let upsert = Statement::from_sql_and_values(
            backend,
            placeholders(
                backend,
                "INSERT INTO rate_limit_windows (workspace_id, window_start, count) \
                 VALUES (?, ?, ?) \
                 ON CONFLICT (workspace_id, window_start) \
                 DO UPDATE SET count = rate_limit_windows.count + ? \
                 RETURNING count",
            ),
            [
                key.into(),
                window_start.into(),
                units.max(0).into(),
                units.into(),
            ],
        );
        let row = conn
            .query_one_raw(upsert)
            .await?
            .ok_or_else(|| AppError::Internal("rate limit upsert returned no row".into()))?;
        let count: i64 = row.try_get("", "count")?;
        if count == units {
            // A new window began for this workspace: a cheap moment to drop stale ones.
            conn.execute_raw(Statement::from_sql_and_values(
                backend,
                placeholders(
                    backend,
                    "DELETE FROM rate_limit_windows WHERE window_start < ?",
                ),
                [(window_start - KEEP_SECONDS).into()],
            ))
            .await?;
        }
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

/// The start of the current clock hour, in seconds since the epoch.
fn current_window_start() -> i64 {
    let now = Utc::now().timestamp();
    now - now.rem_euclid(WINDOW_SECONDS)
}

/// `?, ?` → `$1, $2` on PostgreSQL.
fn placeholders(backend: DbBackend, sql: &str) -> String {
    if backend != DbBackend::Postgres {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}
