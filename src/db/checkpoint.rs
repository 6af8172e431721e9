//! SQLite checkpoints, off the writer's path. A checkpoint copies the pages committed to the
//! `-wal` file back into the database file and syncs it. Left to SQLite, the commit that
//! takes the log past 1,000 pages does that work itself, while every writer queued behind it
//! waits: under ingest it was a sixth of the writer thread's time. Instead, the writer
//! connection checkpoints only as a backstop ([`BACKSTOP_PAGES`]), and after a commit this
//! starts a passive checkpoint on a pooled connection, at most one at a time and one per
//! [`EVERY`] (a quarter second: the shorter the wait, the less the backstop finds to copy).
//! Passive checkpoints run beside the writer and readers and wait for neither; what a reader
//! still uses is copied by the next one. Pages rewritten by many commits in between (index
//! roots, rollup rows, the audit head) are copied once.
//!
//! [`super::Db::checkpoint`] still truncates the log after an erasure and at shutdown. It
//! waits for its [`Checkpoints::turn`] first: SQLite refuses a checkpoint at once, without
//! calling the busy handler, while another one runs.

use sea_orm::{ConnectionTrait, DatabaseConnection};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex as TurnLock, MutexGuard};

/// How often a passive checkpoint may start while commits keep coming.
const EVERY: Duration = Duration::from_millis(250);

/// Pages in the `-wal` file past which the writer connection checkpoints on its own, should
/// the passive ones fall behind (SQLite's `wal_autocheckpoint`; 64 MiB at 4 KiB pages).
pub(super) const BACKSTOP_PAGES: u32 = 16_384;

/// Starts passive checkpoints on `pool` after commits.
pub(super) struct Checkpoints {
    pool: DatabaseConnection,
    /// Held by the checkpoint that runs, this node's only one.
    turn: Arc<TurnLock<()>>,
    /// When the last passive checkpoint started.
    last: Mutex<Option<Instant>>,
}

impl Checkpoints {
    pub(super) fn new(pool: DatabaseConnection) -> Self {
        Checkpoints {
            pool,
            turn: Arc::default(),
            last: Mutex::new(None),
        }
    }

    /// Called after each write commit: starts a checkpoint in the background unless one runs
    /// or one started less than [`EVERY`] ago.
    pub(super) fn committed(self: &Arc<Self>) {
        let turn = {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| at.elapsed() < EVERY) {
                return;
            }
            let Ok(turn) = self.turn.clone().try_lock_owned() else {
                return;
            };
            *last = Some(Instant::now());
            turn
        };
        let pool = self.pool.clone();
        tokio::spawn(async move {
            if let Err(err) = pool
                .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
                .await
            {
                tracing::debug!(error = %err, "a passive WAL checkpoint failed; the next commit retries");
            }
            drop(turn);
        });
    }

    /// Waits for the running checkpoint, if any, and keeps others from starting while held.
    pub(super) async fn turn(&self) -> MutexGuard<'_, ()> {
        self.turn.lock().await
    }
}

#[cfg(test)]
mod tests {
    use super::super::Db;
    use sea_orm::ConnectionTrait;
    use std::time::Duration;

    /// A database whose first commit wrote 256 rows of about a page each (1/64 of the
    /// backstop), which started a passive checkpoint.
    async fn committed(path: &std::path::Path) -> Db {
        let db = Db::connect(&format!("sqlite://{}?mode=rwc", path.display()), 2)
            .await
            .expect("a database");
        let txn = db.begin_write().await.expect("a write transaction");
        for sql in [
            "CREATE TABLE t (x BLOB)",
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 256) \
             INSERT INTO t SELECT randomblob(4000) FROM n",
        ] {
            txn.execute_unprepared(sql).await.expect("written");
        }
        txn.commit().await.expect("committed");
        db
    }

    /// A commit far below the writer's backstop still reaches the database file: a passive
    /// checkpoint copied it there.
    #[tokio::test]
    async fn committed_pages_reach_the_database_file_without_the_backstop() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("checkpoints.db");
        let _db = committed(&path).await;
        let size = || std::fs::metadata(&path).map_or(0, |m| m.len());
        for _ in 0..100 {
            if size() >= 256 * 4000 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the database file holds {} bytes 5 s after the commit",
            size()
        );
    }

    /// The truncating checkpoint an erasure asks for right after its commit is not refused
    /// for the passive one that commit started: it waits its turn, and empties the log.
    #[tokio::test]
    async fn a_truncating_checkpoint_waits_for_the_passive_one() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("truncate.db");
        let db = committed(&path).await;
        assert!(
            db.checkpoint().await.expect("checkpointed"),
            "refused as busy"
        );
        let wal = dir.path().join("truncate.db-wal");
        assert_eq!(std::fs::metadata(wal).map_or(0, |m| m.len()), 0);
    }
}
