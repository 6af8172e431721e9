//! Ceilings, measured in the same run as convio so that a figure survives a noisy machine:
//! reference servers that do the least any server must do for `POST /conversions/log`, loaded
//! by the same clients for the same time. convio's throughput is reported as a ratio to each.
//!
//! - `echo`: a bare axum handler that parses the JSON body and answers an id; no database.
//! - `durable-insert`: the same, plus one row per request inserted into a SQLite file (WAL,
//!   `synchronous=FULL`, as convio runs) by a single writer with group commit: every request
//!   waiting is inserted, one statement each, in one transaction, synced before any answer.
//!
//! Each runs as a child process of the bench (this same executable, started with
//! `CONVIO_BENCH_REFERENCE` set), so it has its own runtime, as convio has.

use axum::Json;
use axum::http::StatusCode;
use axum::routing::post;
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::sqlx::{self, SqlitePool};
use serde_json::{Value, json};
use std::path::PathBuf;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Set in a child's environment to the reference it must serve.
const ENV: &str = "CONVIO_BENCH_REFERENCE";

/// The references, in the order they are measured.
pub const KINDS: [&str; 2] = ["echo", "durable-insert"];

/// Requests the writer inserts in one transaction at most.
const MAX_GROUP: usize = 512;

/// When this process was started as a reference server: serves it until killed (never
/// returns), or returns the reason it could not. `None` when it is the bench itself.
pub fn serve_if_asked() -> Option<String> {
    let kind = std::env::var(ENV).ok()?;
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return Some(e.to_string()),
    };
    Some(runtime.block_on(serve(&kind)).err().unwrap_or_default())
}

async fn serve(kind: &str) -> Result<(), String> {
    let route = match kind {
        "echo" => post(|Json(_): Json<Value>| async {
            (StatusCode::CREATED, Json(json!({ "id": Uuid::new_v4() })))
        }),
        "durable-insert" => {
            let writer = Writer::start().await?;
            post(move |Json(body): Json<Value>| {
                let writer = writer.clone();
                async move { writer.insert(body).await }
            })
        }
        other => return Err(format!("no reference server {other:?}")),
    };
    let app = axum::Router::new().route("/conversions/log", route);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    // The parent reads this line to learn the port.
    println!("http://{address}");
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}

type Reply = oneshot::Sender<Result<Uuid, String>>;

#[derive(Clone)]
struct Writer {
    queue: mpsc::Sender<(Value, Reply)>,
}

impl Writer {
    async fn start() -> Result<Writer, String> {
        let path = database_path();
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|e| e.to_string())?;
        sqlx::query(
            "CREATE TABLE conversions (id TEXT PRIMARY KEY, contact_id INTEGER NOT NULL, \
             converted_by TEXT NOT NULL, conversion_type TEXT NOT NULL, value TEXT, \
             created_at TEXT NOT NULL)",
        )
        .execute(&pool)
        .await
        .map_err(|e| e.to_string())?;
        let (queue, jobs) = mpsc::channel(4_096);
        tokio::spawn(write_groups(pool, jobs));
        Ok(Writer { queue })
    }

    async fn insert(&self, body: Value) -> (StatusCode, Json<Value>) {
        let (reply, answer) = oneshot::channel();
        let inserted = match self.queue.send((body, reply)).await {
            Ok(()) => answer.await.unwrap_or_else(|_| Err("writer gone".into())),
            Err(_) => Err("writer gone".into()),
        };
        match inserted {
            Ok(id) => (StatusCode::CREATED, Json(json!({ "id": id }))),
            Err(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": e })),
            ),
        }
    }
}

async fn write_groups(pool: SqlitePool, mut jobs: mpsc::Receiver<(Value, Reply)>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while jobs.recv_many(&mut group, MAX_GROUP).await > 0 {
        let result = insert_group(&pool, &group).await;
        for ((_, reply), outcome) in group.drain(..).zip(result) {
            let _ = reply.send(outcome);
        }
    }
}

/// One transaction, one insert per request, one commit: the outcome of each.
async fn insert_group(pool: &SqlitePool, group: &[(Value, Reply)]) -> Vec<Result<Uuid, String>> {
    let attempt = async {
        let mut txn = pool.begin().await?;
        let mut ids = Vec::with_capacity(group.len());
        for (body, _) in group {
            let id = Uuid::new_v4();
            sqlx::query("INSERT INTO conversions VALUES (?, ?, ?, ?, ?, ?)")
                .bind(id.to_string())
                .bind(body["contact_id"].as_i64().unwrap_or_default())
                .bind(body["converted_by"].as_str().unwrap_or_default())
                .bind(body["conversion_type"].as_str().unwrap_or_default())
                .bind(body["conversion_value"].as_str())
                .bind(chrono::Utc::now().to_rfc3339())
                .execute(&mut *txn)
                .await?;
            ids.push(id);
        }
        txn.commit().await?;
        Ok::<_, sqlx::Error>(ids)
    };
    match attempt.await {
        Ok(ids) => ids.into_iter().map(Ok).collect(),
        Err(e) => group.iter().map(|_| Err(e.to_string())).collect(),
    }
}

/// The durable reference's database: in the temporary directory, named by its process id
/// (the parent removes it after the run).
fn database_path() -> PathBuf {
    std::env::temp_dir().join(format!("convio-bench-reference-{}.db", std::process::id()))
}

/// A reference server running as a child process; killed when dropped.
pub struct Reference {
    child: Child,
    pub url: String,
}

impl Reference {
    /// Starts the reference `kind` (one of [`KINDS`]) and waits until it listens.
    pub async fn start(kind: &str) -> Result<Reference, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .env(ENV, kind)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting the {kind} reference: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .map_err(|e| e.to_string())?;
        let url = line.trim().to_owned();
        if !url.starts_with("http://") {
            return Err(format!("the {kind} reference did not start"));
        }
        Ok(Reference { child, url })
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let pid = self.child.id();
        let _ = self.child.start_kill();
        if let Some(pid) = pid {
            let path = std::env::temp_dir().join(format!("convio-bench-reference-{pid}.db"));
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}
