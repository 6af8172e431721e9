//! A cache in front of analytics that can never show a number older than the latest write.
//! Each answer is stored with the analytics version of what it covers (one workspace's
//! `analytics_version`, or their sum for an all-workspace answer); every write that changes
//! a figure bumps that version in its own transaction, so a lookup that reads the current
//! version either finds the answer still exact or misses. The version is read from the
//! database, so a write on any node invalidates every node's cache.

use crate::domain::WorkspaceId;
use crate::error::AppResult;
use crate::observability::CacheCounters;
use entity::workspace;
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Entries kept per cache; past it, one arbitrary entry makes room.
const CAPACITY: usize = 4_096;

/// Cached answers of one kind, keyed by the caller's scope and the normalised query.
pub struct VersionedCache<V> {
    entries: Mutex<HashMap<String, (i64, Arc<V>)>>,
    /// Off, every lookup misses and nothing is stored (`--analytics-cache false`).
    enabled: bool,
    /// Hits and misses, for `/metrics`.
    counters: CacheCounters,
}

impl<V> VersionedCache<V> {
    pub fn new(enabled: bool, counters: CacheCounters) -> Self {
        VersionedCache {
            entries: Mutex::new(HashMap::new()),
            enabled,
            counters,
        }
    }

    fn get(&self, key: &str, version: i64) -> Option<Arc<V>> {
        if !self.enabled {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(v, _)| *v == version)
            .map(|(_, value)| value.clone())
    }

    fn put(&self, key: String, version: i64, value: Arc<V>) {
        if !self.enabled {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY && !entries.contains_key(&key) {
            let victim = entries.keys().next().cloned();
            if let Some(victim) = victim {
                entries.remove(&victim);
            }
        }
        entries.insert(key, (version, value));
    }
}

impl<V: Clone> VersionedCache<V> {
    /// The answer stored under `key` if nothing `scope` covers changed since, else the one
    /// `compute` gives (then stored). The version is read first, so a write that lands while
    /// computing leaves an answer under the old version, which the next lookup misses.
    pub async fn get_or_compute(
        &self,
        conn: &impl ConnectionTrait,
        scope: Option<&WorkspaceId>,
        key: String,
        compute: impl Future<Output = AppResult<V>>,
    ) -> AppResult<V> {
        let version = analytics_version(conn, scope).await?;
        if let Some(hit) = self.get(&key, version) {
            self.counters.hit();
            return Ok((*hit).clone());
        }
        self.counters.miss();
        let value = compute.await?;
        self.put(key, version, Arc::new(value.clone()));
        Ok(value)
    }
}

/// The version of the figures a query covers: one workspace's, or all of them.
async fn analytics_version(
    conn: &impl ConnectionTrait,
    scope: Option<&WorkspaceId>,
) -> AppResult<i64> {
    let mut query = workspace::Entity::find().select_only();
    query = match scope {
        Some(ws) => query
            .column(workspace::Column::AnalyticsVersion)
            .filter(workspace::Column::Id.eq(ws.as_str())),
        // Versions only grow, so their sum changes whenever any of them does.
        None => query.column_as(
            Expr::from(Func::cast_as(
                Func::sum(Expr::col(workspace::Column::AnalyticsVersion)),
                "BIGINT",
            )),
            "total",
        ),
    };
    let version: Option<Option<i64>> = query.into_tuple().one(conn).await?;
    Ok(version.flatten().unwrap_or(0))
}
