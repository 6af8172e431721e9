//! SQLite checkpoints, off the writer's path. A checkpoint copies the pages committed to the
//! `-wal` file back into the database file and syncs it. Left to SQLite, the commit that
//! takes the log past 1,000 pages does that work itself, while every writer queued behind it
//! waits: under ingest it was a sixth of the writer thread's time. Instead, the writer
//! connection checkpoints only as a backstop ([`BACKSTOP_PAGES`]), and after a commit this
//! starts a passive checkpoint on a pooled connection, at most one at a time and one per
//! [`EVERY`] (a quarter second: the shorter the wait, the less the backstop finds to copy). Passive checkpoints run beside the writer and readers and wait for neither;
//! what a reader still uses is copied by the next one. Pages rewritten by many commits in
//! between (index roots, rollup rows, the audit head) are copied once.
//!
//! [`super::Db::checkpoint`] still truncates the log after an erasure and at shutdown.

use sea_orm::{ConnectionTrait, DatabaseConnection};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a passive checkpoint may start while commits keep coming.
const EVERY: Duration = Duration::from_millis(250);

/// Pages in the `-wal` file past which the writer connection checkpoints on its own, should
/// the passive ones fall behind (SQLite's `wal_autocheckpoint`; 64 MiB at 4 KiB pages).
pub(super) const BACKSTOP_PAGES: u32 = 16_384;

/// Starts passive checkpoints on `pool` after commits.
pub(super) struct Checkpoints {
    pool: DatabaseConnection,
    running: AtomicBool,
    last: Mutex<Option<Instant>>,
}

impl Checkpoints {
    pub(super) fn new(pool: DatabaseConnection) -> Self {
        Checkpoints {
            pool,
            running: AtomicBool::new(false),
            last: Mutex::new(None),
        }
    }

    /// Called after each write commit: starts a checkpoint in the background unless one runs
    /// or one started less than [`EVERY`] ago.
    pub(super) fn committed(self: &std::sync::Arc<Self>) {
        {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| at.elapsed() < EVERY) {
                return;
            }
            if self.running.swap(true, Ordering::AcqRel) {
                return;
            }
            *last = Some(Instant::now());
        }
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(err) = this
                .pool
                .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
                .await
            {
                tracing::debug!(error = %err, "a passive WAL checkpoint failed; the next commit retries");
            }
            this.running.store(false, Ordering::Release);
        });
    }
}
