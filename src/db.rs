//! The database handle: one pool for SQLite or PostgreSQL, write transactions that cannot
//! deadlock on SQLite, and a statement counter for `/metrics`.

use crate::error::{AppError, AppResult};
use sea_orm::sqlx::postgres::PgConnection;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::sqlx::{self, Connection as _};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    statements: Arc<AtomicU64>,
    /// SQLite has one writer at a time. Queueing writers here, in FIFO order, is fairer and
    /// faster than letting them spin on SQLite's busy handler.
    write_gate: Option<Arc<Mutex<()>>>,
}

impl Db {
    pub async fn connect(url: &str, max_connections: u32) -> AppResult<Self> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            // Statement logging would print parameter values: names, emails, phones.
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| {
                // WAL lets readers run beside the writer; FULL syncs each commit so an
                // acknowledged write survives power loss, not only a crash.
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
        let mut conn = Database::connect(options)
            .await
            .map_err(|e| AppError::Internal(format!("cannot connect to the database: {e}")))?;
        let statements = Arc::new(AtomicU64::new(0));
        let counter = statements.clone();
        conn.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        let write_gate =
            (conn.get_database_backend() == DbBackend::Sqlite).then(|| Arc::new(Mutex::new(())));
        Ok(Db {
            conn,
            statements,
            write_gate,
        })
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Statements executed since start.
    pub fn statements_executed(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so it can never fail later trying to upgrade a read lock.
    pub async fn begin_write(&self) -> AppResult<WriteTxn> {
        let guard = match &self.write_gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        };
        let txn = self
            .conn
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?;
        Ok(WriteTxn { txn, _guard: guard })
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
    _guard: Option<OwnedMutexGuard<()>>,
}

impl WriteTxn {
    pub async fn commit(self) -> AppResult<()> {
        self.txn.commit().await.map_err(AppError::from)
    }
}

impl Deref for WriteTxn {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}
