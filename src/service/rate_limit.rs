//! Per-workspace rate limiting (plan §5.1): each workspace may make so many requests per
//! clock hour, by default `--rate-limit-per-hour`, or its own `rate_limit_per_hour`.
//!
//! On PostgreSQL the counters live in `rate_limit_windows`, so every node behind the load
//! balancer counts against the same number: one atomic upsert per request. On SQLite the
//! counters are kept in this process instead: a SQLite file is served by one process, so an
//! in-memory count is just as exact, and it spares every read request a write transaction
//! (SQLite has one writer at a time). A restart forgets the SQLite counts, erring towards
//! letting requests through.
//!
//! Failed authentication attempts have their own limit, per client address: `failed_auth`.

mod failed_auth;

pub use failed_auth::{FailedAuthLimit, Transport};

use super::Services;
use crate::auth::Principal;
use crate::domain::WorkspaceId;
use crate::error::{AppError, AppResult};
use chrono::Utc;
use entity::workspace;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QuerySelect, Statement};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

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

/// The default limit, and the in-process counters used on SQLite; and the limit on failed
/// authentication attempts.
#[derive(Clone, Default)]
pub struct RateLimiter {
    default_per_hour: u64,
    local: Arc<Mutex<HashMap<(String, i64), u64>>>,
    failed_auth: failed_auth::FailedAuth,
}

impl RateLimiter {
    /// `default_per_hour` applies to workspaces without their own limit; 0 disables it.
    pub fn new(default_per_hour: u64) -> Self {
        RateLimiter {
            default_per_hour,
            local: Arc::default(),
            failed_auth: failed_auth::FailedAuth::default(),
        }
    }

    /// Adds `units` (negative to refund) to the workspace's count in this window.
    fn count_locally(&self, workspace: &str, window_start: i64, units: i64) -> u64 {
        // A poisoned lock only means another request panicked mid-increment; the map is
        // still a valid set of counts.
        let mut windows = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (workspace.to_owned(), window_start);
        if !windows.contains_key(&key) {
            windows.retain(|(_, start), _| *start > window_start - KEEP_SECONDS);
        }
        let count = windows.entry(key).or_insert(0);
        *count = count.saturating_add_signed(units);
        *count
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
        let Some(workspace) = principal.workspace() else {
            return Ok(());
        };
        let units = -i64::try_from(units).unwrap_or(i64::MAX);
        let window_start = current_window_start();
        match self.db.backend() {
            DbBackend::Sqlite => {
                self.rate_limiter
                    .count_locally(workspace.as_str(), window_start, units);
            }
            _ => {
                self.count_shared(workspace.as_str(), window_start, units)
                    .await?;
            }
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
        let limit = self.rate_limit_of(workspace).await?;
        if limit == 0 {
            return Ok(None);
        }
        let now = Utc::now().timestamp();
        let window_start = now - now.rem_euclid(WINDOW_SECONDS);
        let units = i64::try_from(units).unwrap_or(i64::MAX);
        let count = match self.db.backend() {
            DbBackend::Sqlite => {
                self.rate_limiter
                    .count_locally(workspace.as_str(), window_start, units)
            }
            _ => {
                self.count_shared(workspace.as_str(), window_start, units)
                    .await?
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
    /// default; 0 means unlimited (always so for the admin key).
    pub async fn hourly_limit_of(&self, principal: &Principal) -> AppResult<u64> {
        match principal.workspace() {
            Some(workspace) => self.rate_limit_of(workspace).await,
            None => Ok(0),
        }
    }

    async fn rate_limit_of(&self, workspace: &WorkspaceId) -> AppResult<u64> {
        let own: Option<Option<i64>> = workspace::Entity::find_by_id(workspace.as_str())
            .select_only()
            .column(workspace::Column::RateLimitPerHour)
            .into_tuple()
            .one(self.db.conn())
            .await?;
        Ok(match own.flatten() {
            // Registration refuses negative limits; were one stored anyway, it would limit
            // nothing rather than everything.
            Some(own) => u64::try_from(own).unwrap_or(0),
            None => self.rate_limiter.default_per_hour,
        })
    }

    /// Adds `units` (negative to refund) to the counter `key` in one atomic statement, so
    /// concurrent requests on any node never lose a count. Keys are workspace ids, or
    /// `auth:<address>` for failed authentication attempts (`:` never occurs in a workspace id).
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
