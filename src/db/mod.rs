//! The database handle: one pool for SQLite or PostgreSQL (on SQLite, plus one connection
//! that every write transaction runs on, in turn), write transactions that cannot deadlock
//! on SQLite, and every statement reported to the server's metrics (count, errors, latency:
//! see `observability`).
//!
//! A statement waits at most the lock timeout for a lock another connection or process holds
//! (SQLite's busy timeout, PostgreSQL's `lock_timeout`), and a request at most
//! [`ACQUIRE_TIMEOUT`] for a pooled connection; past either, the error maps to
//! `AppError::DatabaseBusy` (503, `Retry-After`), with nothing written.
//!
//! SQLite is the copy libsqlite3-sys bundles, built with `SQLITE_DEFAULT_MEMSTATUS=0`
//! (`.cargo/config.toml`): with allocation statistics on, each of its allocations took a
//! global mutex, which cost the writer's SQLite thread about a tenth of its time. Its heap
//! keeps what a statement frees (`heap`) instead of faulting it in again at the next.
//!
//! On SQLite, deleted and overwritten content is zeroed (`secure_delete`), and
//! [`Db::checkpoint`] (after an erasure, and at shutdown) empties the `-wal` file, so erased
//! values are left in no file: see docs/security.md.

mod checkpoint;
mod heap;
#[cfg(target_os = "linux")]
mod nodelay;

use crate::error::{AppError, AppResult};
use crate::observability::{Metrics, PoolUse};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::sqlx::{self, Connection as _};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    /// SQLite: the one connection write transactions run on (see [`connect`]).
    writer: Option<DatabaseConnection>,
    /// Where statements are counted and timed: the server's metrics.
    metrics: Metrics,
    /// SQLite has one writer at a time. Queueing writers here, in FIFO order, is fairer and
    /// faster than letting them spin on SQLite's busy handler.
    write_gate: Option<Arc<Mutex<()>>>,
    /// Run by every write transaction as it commits (the audit anchor).
    commit_hook: Option<Arc<dyn CommitHook>>,
    /// SQLite: checkpoints the `-wal` file beside the writer (see `checkpoint`).
    checkpoints: Option<Arc<checkpoint::Checkpoints>>,
}

/// Work every write transaction does as it commits: [`CommitHook::before_commit`] runs
/// inside the transaction (an error rolls it back), and what it returns runs once the commit
/// succeeded. The audit anchor (`service::audit`) signs the chain's new head this way, in
/// the transaction that appended to it.
pub trait CommitHook: Send + Sync {
    fn before_commit<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
    ) -> Pin<Box<dyn Future<Output = AppResult<Option<AfterCommit>>> + Send + 'a>>;
}

/// Work to do once a transaction has committed.
pub type AfterCommit = Box<dyn FnOnce() + Send>;

/// How long a shutdown waits for connections still in use before leaving them.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a statement waits for a lock held elsewhere unless told otherwise
/// (`--db-lock-timeout-ms`).
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request waits for a free pooled connection.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

impl Db {
    /// Connects with the default lock timeout and metrics of its own (tools that do not serve
    /// requests).
    pub async fn connect(url: &str, max_connections: u32) -> AppResult<Self> {
        Self::connect_with(
            url,
            max_connections,
            DEFAULT_LOCK_TIMEOUT,
            &Metrics::default(),
        )
        .await
    }

    /// Connects a pool of at most `max_connections`, whose statements wait at most
    /// `lock_timeout` for a lock another connection or process holds, and are reported to
    /// `metrics`. On SQLite write transactions get a connection of their own besides.
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
        lock_timeout: Duration,
        metrics: &Metrics,
    ) -> AppResult<Self> {
        let observed = |mut conn: DatabaseConnection| {
            let observer = metrics.clone();
            conn.set_metric_callback(move |info| observer.db_statement(info));
            conn
        };
        let conn = observed(connect(url, max_connections, lock_timeout, false).await?);
        let sqlite = conn.get_database_backend() == DbBackend::Sqlite;
        if sqlite {
            heap::keep_freed_memory();
        }
        let writer = match sqlite {
            true => Some(observed(connect(url, 1, lock_timeout, true).await?)),
            false => None,
        };
        let checkpoints = sqlite.then(|| Arc::new(checkpoint::Checkpoints::new(conn.clone())));
        Ok(Db {
            conn,
            writer,
            metrics: metrics.clone(),
            write_gate: sqlite.then(|| Arc::new(Mutex::new(()))),
            commit_hook: None,
            checkpoints,
        })
    }

    /// This handle with `hook` run by every write transaction it begins from now on.
    pub fn with_commit_hook(mut self, hook: Arc<dyn CommitHook>) -> Self {
        self.commit_hook = Some(hook);
        self
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// The metrics this handle reports its statements to: the server's.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The pool now: connections open, idle among them, and the most it may open.
    pub fn pool_use(&self) -> PoolUse {
        match self.backend() {
            DbBackend::Postgres => {
                let pool = self.conn.get_postgres_connection_pool();
                PoolUse {
                    size: pool.size(),
                    idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                    max: pool.options().get_max_connections(),
                }
            }
            DbBackend::Sqlite => {
                let pool = self.conn.get_sqlite_connection_pool();
                PoolUse {
                    size: pool.size(),
                    idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                    max: pool.options().get_max_connections(),
                }
            }
            // Only the two sqlx drivers are compiled in.
            _ => PoolUse::default(),
        }
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so it can never fail later trying to upgrade a read lock.
    pub async fn begin_write(&self) -> AppResult<WriteTxn> {
        let guard = match &self.write_gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        };
        let txn = self
            .writer
            .as_ref()
            .unwrap_or(&self.conn)
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?;
        Ok(WriteTxn {
            txn,
            hook: self.commit_hook.clone(),
            checkpoints: self.checkpoints.clone(),
            _guard: guard,
        })
    }

    /// SQLite: copies every committed page from the `-wal` file into the database file and
    /// truncates the `-wal` file to zero bytes (`PRAGMA wal_checkpoint(TRUNCATE)`), so nothing
    /// overwritten or erased survives in it. It first waits for a passive checkpoint that runs
    /// (`checkpoint`), and writers of this process wait meanwhile; readers
    /// still using the WAL are waited for at most the lock timeout. Returns `false` when one
    /// outlasted it (the WAL is then left as it was, to retry). PostgreSQL: nothing to do.
    pub async fn checkpoint(&self) -> AppResult<bool> {
        if self.backend() != DbBackend::Sqlite {
            return Ok(true);
        }
        let _gate = match &self.write_gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        };
        let _turn = match &self.checkpoints {
            Some(checkpoints) => Some(checkpoints.turn().await),
            None => None,
        };
        let row = self
            .conn
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA wal_checkpoint(TRUNCATE)",
            ))
            .await?;
        // (busy, frames in the log, frames checkpointed): busy is 1 when a reader or writer
        // held on past the busy timeout.
        let busy: i32 = match row {
            Some(row) => row.try_get_by_index(0)?,
            None => 0,
        };
        Ok(busy == 0)
    }

    /// Ends this handle's use of the database, at shutdown: checkpoints (see
    /// [`Db::checkpoint`]), then closes the pool, waiting at most [`CLOSE_TIMEOUT`] for
    /// connections still in use. On SQLite, closing the last connection also removes the
    /// `-wal` and `-shm` files.
    pub async fn close(&self) {
        match self.checkpoint().await {
            Ok(true) => {}
            Ok(false) => tracing::warn!("the final WAL checkpoint was blocked by a reader"),
            Err(err) => tracing::warn!(error = %err, "the final WAL checkpoint failed"),
        }
        let closed = async {
            if let Some(writer) = &self.writer {
                let _ = writer.close_by_ref().await;
            }
            self.conn.close_by_ref().await
        };
        if tokio::time::timeout(CLOSE_TIMEOUT, closed).await.is_err() {
            tracing::warn!("database connections still in use at shutdown were left open");
        }
    }

    /// Serialises start-up work (migrations, the admin-key bootstrap) across nodes that
    /// start together on one PostgreSQL database: a session advisory lock on a dedicated
    /// connection. SQLite is one process's file, so it needs none.
    pub async fn startup_lock(&self, url: &str) -> AppResult<Option<StartupLock>> {
        if self.backend() != DbBackend::Postgres {
            return Ok(None);
        }
        let fail =
            |e: sqlx::Error| AppError::Internal(format!("taking the start-up lock failed: {e}"));
        let mut conn = PgConnection::connect(url).await.map_err(fail)?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(STARTUP_LOCK)
            .execute(&mut conn)
            .await
            .map_err(fail)?;
        Ok(Some(StartupLock(conn)))
    }

    pub async fn ping(&self) -> AppResult<()> {
        self.conn.ping().await.map_err(AppError::from)
    }
}

/// A pool of at most `max_connections` to `url`. `writer`: the SQLite connection write
/// transactions run on, whose statement journals stay in memory (`temp_store`). Inside a
/// transaction every multi-row statement journals the pages it changes first, so that it can
/// be undone alone; in a temporary file that was most of the writer's disk writes. convio's
/// write transactions are bounded (groups of at most 512 conversions, sweeps in batches), so
/// their journals are too; reads, whose sorts may be large, keep their temporary files.
async fn connect(
    url: &str,
    max_connections: u32,
    lock_timeout: Duration,
    writer: bool,
) -> AppResult<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // The writer's connection is pinged as it goes back to the pool (sqlx always does);
        // a second ping as it comes out again cost each group a hand-off to SQLite's thread.
        .test_before_acquire(!writer)
        // Statement logging would print parameter values: names, emails, phones.
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| {
            // WAL lets readers run beside the writer; FULL syncs each commit so an
            // acknowledged write survives power loss, not only a crash.
            // Named for what they serve, in `top -H`, `perf` and the bench's CPU by thread.
            o.thread_name(move |id| match writer {
                true => format!("sqlite-writer-{id}"),
                false => format!("sqlite-reader-{id}"),
            })
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(lock_timeout)
            .foreign_keys(true)
            // Deleted and overwritten content is zeroed, in the page and on freed
            // pages, so an erased value is not left behind in the file.
            .pragma("secure_delete", "on")
            .pragma("temp_store", if writer { "memory" } else { "default" })
            // The pool checkpoints beside the writer (`checkpoint`); the writer only
            // when those fall behind.
            .pragma(
                "wal_autocheckpoint",
                match writer {
                    true => checkpoint::BACKSTOP_PAGES.to_string(),
                    false => "1000".to_owned(),
                },
            )
        })
        // A startup parameter, as sea-orm sets statement_timeout: no extra round trip.
        .map_sqlx_postgres_opts(move |o| {
            o.options([("lock_timeout", format!("{}ms", lock_timeout.as_millis()))])
        });
    if let Some(port) = postgres_port(url) {
        options.map_sqlx_postgres_pool_opts(move |o| {
            o.after_connect(move |_, _| {
                Box::pin(async move {
                    no_delay_towards(port);
                    Ok(())
                })
            })
        });
    }
    Database::connect(options).await.map_err(|e| {
        AppError::Internal(format!(
            "cannot connect to the database {}: {e}",
            describe_url(url)
        ))
    })
}

/// A database URL as it may be logged: the backend, user, host, port and database (or
/// file) read from the parsed URL, never a password, whether it was given in the userinfo
/// (`postgres://user:secret@host/db`) or as a parameter (`?password=secret`), and no other
/// parameter either (an `sslpassword`, a key path). A URL that does not parse is not shown.
pub fn describe_url(url: &str) -> String {
    if url.starts_with("sqlite:") {
        return match SqliteConnectOptions::from_str(url) {
            Ok(options) => format!("sqlite://{}", options.get_filename().display()),
            Err(_) => "sqlite://(unparsable URL)".to_owned(),
        };
    }
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        return match PgConnectOptions::from_str(url) {
            Ok(options) => format!(
                "postgres://{}@{}:{}/{}",
                options.get_username(),
                options.get_host(),
                options.get_port(),
                options.get_database().unwrap_or_default()
            ),
            Err(_) => "postgres://(unparsable URL)".to_owned(),
        };
    }
    "(a database URL of unknown scheme)".to_owned()
}

/// The PostgreSQL server's TCP port named by `url`, if it names one.
pub(crate) fn postgres_port(url: &str) -> Option<u16> {
    if !url.starts_with("postgres") {
        return None;
    }
    let options = PgConnectOptions::from_str(url).ok()?;
    // A host starting with `/` is a Unix socket's directory: no TCP, no Nagle.
    (!options.get_host().starts_with('/')).then(|| options.get_port())
}

/// `TCP_NODELAY` on this process's connections to the database server's `port` (see
/// `nodelay`); run after each new PostgreSQL connection.
pub(crate) fn no_delay_towards(port: u16) {
    #[cfg(target_os = "linux")]
    nodelay::set_towards(port);
    #[cfg(not(target_os = "linux"))]
    let _ = port;
}

/// Advisory lock key for start-up work ("convio:s" in ASCII).
const STARTUP_LOCK: i64 = 0x636f_6e76_696f_3a73;

/// Held while one node migrates; released explicitly, or when its connection closes.
pub struct StartupLock(PgConnection);

impl StartupLock {
    pub async fn release(mut self) {
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(STARTUP_LOCK)
            .execute(&mut self.0)
            .await;
        let _ = self.0.close().await;
    }
}

/// A write transaction. Dropping it without `commit` rolls back, so `?` never half-writes.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    hook: Option<Arc<dyn CommitHook>>,
    checkpoints: Option<Arc<checkpoint::Checkpoints>>,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl WriteTxn {
    /// Runs the commit hook inside the transaction, commits, lets the next writer in, then
    /// runs what the hook left for after the commit.
    pub async fn commit(self) -> AppResult<()> {
        let after = match &self.hook {
            Some(hook) => hook.before_commit(&self.txn).await?,
            None => None,
        };
        let WriteTxn {
            txn,
            checkpoints,
            _guard,
            ..
        } = self;
        txn.commit().await?;
        drop(_guard);
        if let Some(checkpoints) = checkpoints {
            checkpoints.committed();
        }
        if let Some(after) = after {
            after();
        }
        Ok(())
    }

    /// Rolls back everything written in it, then lets the next writer in.
    pub async fn rollback(self) -> AppResult<()> {
        let WriteTxn { txn, _guard, .. } = self;
        txn.rollback().await?;
        Ok(())
    }
}

impl Deref for WriteTxn {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

#[cfg(test)]
mod tests {
    use super::describe_url;

    #[test]
    fn database_urls_are_described_without_credentials() {
        for url in [
            "postgres://u:pw-canary@db:5432/x",
            "postgres://u@db:5432/x?password=pw-canary&sslmode=disable",
            "postgresql://u@db/x?sslpassword=pw-canary",
            "postgres://u:pw%40canary@db/x",
        ] {
            let shown = describe_url(url);
            assert!(!shown.contains("pw"), "{url} shown as {shown}");
            assert!(shown.starts_with("postgres://u@db:"), "{shown}");
        }
        assert_eq!(
            describe_url("postgres://u:pw@db:5433/x?sslmode=disable"),
            "postgres://u@db:5433/x"
        );
        assert!(describe_url("sqlite://convio.db?mode=rwc").ends_with("convio.db"));
        assert!(!describe_url("mysql://u:pw@h/x").contains("pw"));
    }

    /// SQLite is built as `.cargo/config.toml` asks (`LIBSQLITE3_FLAGS`): without allocation
    /// statistics, each of whose updates took a global mutex (docs/performance.md).
    #[tokio::test]
    async fn sqlite_is_built_without_allocation_statistics() {
        use sea_orm::{ConnectionTrait, Database};
        let conn = Database::connect("sqlite::memory:").await.expect("SQLite");
        let found = conn
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                "SELECT count(*) FROM pragma_compile_options \
                 WHERE compile_options = 'DEFAULT_MEMSTATUS=0'",
            ))
            .await
            .expect("a query")
            .expect("a row");
        assert_eq!(found.try_get_by_index::<i64>(0).expect("a count"), 1);
    }
}
