//! This node's request counts per workspace and window, and (PostgreSQL) their flush to the
//! shared `rate_limit_windows` table: every node adds its counts there in one statement per
//! flush, not one per request, and reads back the totals every node has written.
//!
//! A node decides from the shared total it last read plus what it counted since. It flushes
//! every [`FLUSH_EVERY`] while it has counts to write, and at once, before deciding, when its
//! unwritten count for a workspace reaches 1/[`SLACK_DIVISOR`] of the allowance it last saw
//! left (so every request, once fewer than 2 × `SLACK_DIVISOR` remain). The bound this gives
//! is in the parent module's documentation.

use crate::error::{AppError, AppResult};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How often counts are written to the shared table while there are any.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// A node reads the shared total before deciding once its unwritten count for a workspace
/// reaches the allowance it saw left divided by this.
pub const SLACK_DIVISOR: u64 = 32;

/// One workspace's count in one window, as this node knows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    /// The total in `rate_limit_windows` when this node last wrote to it, its own counts
    /// included (PostgreSQL; always 0 on SQLite).
    shared: u64,
    /// Counted here and being written by the flush under way.
    in_flight: i64,
    /// Counted here and not written yet (on SQLite, never written: the whole count). Negative
    /// when refunds outnumber new counts.
    pending: i64,
    /// What the other nodes have added, as far as this node's flushes have shown it.
    others: i64,
}

impl Tally {
    /// Every request this node knows of: the shared total and its own since.
    fn total(&self) -> u64 {
        self.shared
            .saturating_add_signed(self.in_flight.saturating_add(self.pending))
    }

    /// Whether to read the shared total before deciding on a request under `limit`: when the
    /// unwritten count reaches the slack. Not when the total already known is at the limit,
    /// since a fresher total could only refuse as well.
    fn due(&self, limit: u64) -> bool {
        let known = self.shared.saturating_add_signed(self.in_flight);
        if known >= limit {
            return false;
        }
        let slack = ((limit - known) / SLACK_DIVISOR).max(1);
        self.pending >= i64::try_from(slack).unwrap_or(i64::MAX)
    }
}

/// Counts kept on this node, by workspace id (or `auth:` key) and window start.
#[derive(Default)]
pub struct Tallies {
    windows: Mutex<HashMap<(String, i64), Tally>>,
    /// One flush at a time, so a count is never in two flushes; it holds the newest window
    /// start whose stale predecessors were deleted, so they are deleted once per window.
    flushing: tokio::sync::Mutex<i64>,
}

/// Where a count stands: its place among every request this node knows of (itself
/// included), and whether to flush before deciding.
#[derive(Clone, Copy, Debug)]
pub struct Counted {
    pub total: u64,
    pub flush_first: bool,
    /// `Tally::others` when counted: a flush moves the count on by what it shows of the other
    /// nodes since, not by the requests counted here after it.
    others: i64,
}

impl Tallies {
    fn windows(&self) -> MutexGuard<'_, HashMap<(String, i64), Tally>> {
        // A poisoned lock only means another request panicked mid-update; every tally is
        // still a valid count.
        self.windows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `units` (negative to refund) to `key`'s count in the window starting at
    /// `window_start`; windows older than `keep_seconds` are dropped as a new one begins.
    pub fn add(
        &self,
        key: &str,
        window_start: i64,
        units: i64,
        limit: u64,
        keep_seconds: i64,
    ) -> Counted {
        let mut windows = self.windows();
        let id = (key.to_owned(), window_start);
        if !windows.contains_key(&id) {
            windows.retain(|(_, start), _| *start > window_start - keep_seconds);
        }
        let tally = windows.entry(id).or_default();
        tally.pending = tally.pending.saturating_add(units);
        Counted {
            total: tally.total(),
            flush_first: tally.due(limit),
            others: tally.others,
        }
    }

    /// `counted`'s place after a flush: moved on by what the other nodes added meanwhile, so
    /// that concurrent requests here keep the order they were counted in (on one node the
    /// count is exact).
    pub fn recount(&self, key: &str, window_start: i64, counted: Counted) -> u64 {
        let others = self
            .windows()
            .get(&(key.to_owned(), window_start))
            .map_or(counted.others, |tally| tally.others);
        counted
            .total
            .saturating_add_signed(others.saturating_sub(counted.others))
    }

    /// Writes every unwritten count to `rate_limit_windows` in one statement and keeps the
    /// totals it returns; deletes windows older than `keep_seconds` once a newer one begins
    /// (once per window and node). On error the counts stay unwritten, for the next flush.
    /// PostgreSQL only. Not to be cancelled midway (run it in a task of its own): counts
    /// taken for writing would be lost.
    pub async fn flush(&self, conn: &impl ConnectionTrait, keep_seconds: i64) -> AppResult<()> {
        let mut swept = self.flushing.lock().await;
        let deltas: Vec<(String, i64, i64)> = {
            let mut windows = self.windows();
            windows
                .iter_mut()
                .filter(|(_, tally)| tally.pending != 0)
                .map(|((key, start), tally)| {
                    tally.in_flight = tally.pending;
                    tally.pending = 0;
                    (key.clone(), *start, tally.in_flight)
                })
                .collect()
        };
        if deltas.is_empty() {
            return Ok(());
        }
        match add_to_shared(conn, &deltas).await {
            Ok(totals) => {
                {
                    let mut windows = self.windows();
                    for (key, start, total) in &totals {
                        if let Some(tally) = windows.get_mut(&(key.clone(), *start)) {
                            let before = i64::try_from(tally.shared).unwrap_or(i64::MAX);
                            let seen = total.saturating_sub(before).saturating_sub(tally.in_flight);
                            tally.others = tally.others.saturating_add(seen);
                            tally.shared = u64::try_from(*total).unwrap_or(0);
                            tally.in_flight = 0;
                        }
                    }
                }
                let newest = deltas.iter().map(|d| d.1).max().unwrap_or(*swept);
                if newest > *swept {
                    // A new window began: a cheap moment to drop the stale ones.
                    delete_windows_before(conn, newest - keep_seconds).await?;
                    *swept = newest;
                }
                Ok(())
            }
            Err(err) => {
                let mut windows = self.windows();
                for (key, start, _) in &deltas {
                    if let Some(tally) = windows.get_mut(&(key.clone(), *start)) {
                        tally.pending = tally.pending.saturating_add(tally.in_flight);
                        tally.in_flight = 0;
                    }
                }
                Err(err)
            }
        }
    }
}

/// Adds each `(key, window_start, delta)` to its row, creating it (never below 0), in one
/// statement; returns each row's new total, in the order given.
async fn add_to_shared(
    conn: &impl ConnectionTrait,
    deltas: &[(String, i64, i64)],
) -> AppResult<Vec<(String, i64, i64)>> {
    let rows: Vec<_> = deltas
        .iter()
        .map(|(key, start, delta)| json!({ "k": key, "s": start, "d": delta }))
        .collect();
    // One parameter whatever the number of rows, so the statement is prepared once. The delta
    // is read from `input` again on conflict: a refund must lower an existing count, though a
    // new row starts at 0, not below.
    let sql = "WITH input AS ( \
                   SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(k text, s bigint, d bigint)) \
               INSERT INTO rate_limit_windows (workspace_id, window_start, count) \
               SELECT k, s, GREATEST(d, 0) FROM input \
               ON CONFLICT (workspace_id, window_start) DO UPDATE \
               SET count = rate_limit_windows.count + (SELECT d FROM input \
                   WHERE k = EXCLUDED.workspace_id AND s = EXCLUDED.window_start) \
               RETURNING workspace_id, window_start, count";
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [serde_json::Value::Array(rows).into()],
    );
    let mut totals: HashMap<(String, i64), i64> = HashMap::with_capacity(deltas.len());
    for row in conn.query_all_raw(statement).await? {
        let key: String = row.try_get("", "workspace_id")?;
        let start: i64 = row.try_get("", "window_start")?;
        totals.insert((key, start), row.try_get("", "count")?);
    }
    deltas
        .iter()
        .map(|(key, start, _)| {
            totals
                .remove(&(key.clone(), *start))
                .map(|total| (key.clone(), *start, total))
                .ok_or_else(|| AppError::Internal("rate limit flush lost a row".into()))
        })
        .collect()
}

async fn delete_windows_before(conn: &impl ConnectionTrait, start: i64) -> AppResult<()> {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "DELETE FROM rate_limit_windows WHERE window_start < $1",
        [start.into()],
    ))
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_flushes_when_its_own_count_reaches_a_share_of_what_is_left() {
        let mut tally = Tally {
            pending: 30,
            ..Tally::default()
        };
        assert!(!tally.due(1000), "30 < 1000 / 32");
        tally.pending = 31;
        assert!(tally.due(1000));
        tally.shared = 990;
        tally.pending = 1;
        assert!(
            tally.due(1000),
            "near the limit, every request reads the total"
        );
    }

    #[test]
    fn a_node_already_at_the_limit_refuses_without_reading() {
        let tally = Tally {
            shared: 1000,
            pending: 5,
            ..Tally::default()
        };
        assert!(!tally.due(1000));
        assert_eq!(tally.total(), 1005);
    }

    #[test]
    fn refunds_lower_the_count_and_old_windows_are_dropped() {
        let tallies = Tallies::default();
        assert_eq!(tallies.add("team", 0, 3, 10, 7200).total, 3);
        assert_eq!(tallies.add("team", 0, -2, 10, 7200).total, 1);
        assert_eq!(tallies.add("team", 7200, 1, 10, 7200).total, 1);
        assert_eq!(tallies.windows().len(), 1, "the old window was dropped");
    }

    #[test]
    fn a_flush_moves_a_count_on_by_the_other_nodes_only() {
        let tallies = Tallies::default();
        let first = tallies.add("team", 0, 1, 10, 7200);
        let second = tallies.add("team", 0, 1, 10, 7200);
        // A flush writes both and finds 5 more from other nodes.
        if let Some(tally) = tallies.windows().get_mut(&("team".to_owned(), 0)) {
            *tally = Tally {
                shared: 7,
                others: 5,
                ..Tally::default()
            };
        }
        assert_eq!(tallies.recount("team", 0, first), 6);
        assert_eq!(tallies.recount("team", 0, second), 7);
    }
}
