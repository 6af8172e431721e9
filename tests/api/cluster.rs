//! Several convio processes on one PostgreSQL database, as behind a load balancer: a
//! conversion logged through node A reaches subscribers on node B, in order and exactly once,
//! even when B's LISTEN connection is killed in the middle. Also: a node refuses a schema
//! older than its code.

use crate::backend::{fresh_postgres_database, postgres_or_skip};
use crate::helpers::{ADMIN_KEY, Creds, JWT_SECRET, TestApp};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::{self, Connection};
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A convio process and a client for it; the process is killed when this is dropped.
pub(crate) struct Node {
    pub child: Child,
    pub app: TestApp,
}

pub(crate) fn convio(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_convio"));
    command
        .args(["--bind", "127.0.0.1:0", "--database-url", database_url])
        .args(["--admin-key", ADMIN_KEY, "--jwt-secret", JWT_SECRET])
        .env("RUST_LOG", "convio=info")
        .env("NO_COLOR", "1")
        .kill_on_drop(true);
    command
}

async fn start_node(database_url: &str) -> Node {
    start(convio(database_url)).await
}

/// Starts a convio process and waits until it serves.
pub(crate) async fn start(mut command: Command) -> Node {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the convio binary starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    // The start-up log names the bound address: "GraphQL http://127.0.0.1:<port>/graphql".
    let port = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("read the log") {
            if let Some(rest) = line.split("http://127.0.0.1:").nth(1) {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                return digits.parse::<u16>().expect("a port");
            }
        }
        panic!("convio exited before serving");
    })
    .await
    .expect("convio serves within 30 s");
    // Keep draining the log so the process never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Node {
        child,
        app: TestApp::attach(port),
    }
}

async fn log_sale(node: &TestApp, creds: &Creds, contact_id: i64, value: &str) -> String {
    let stored = node
        .log_conversion(
            creds,
            json!({
                "contact_id": contact_id,
                "converted_by": "agent_1",
                "conversion_type": "sale",
                "conversion_value": value,
            }),
        )
        .await;
    stored["id"].as_str().expect("an id").to_owned()
}

/// Ids of the next `n` feed events, failing if any is missing.
async fn receive(socket: &mut crate::helpers::FeedSocket, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    while ids.len() < n {
        let event = socket
            .next_event()
            .await
            .unwrap_or_else(|| panic!("only {} of {n} events arrived: {ids:?}", ids.len()));
        ids.push(
            event["data"]["conversionFeed"]["conversion"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    ids
}

/// Kills node B's LISTEN connection and waits until B has listened again.
async fn cut_listener(database_url: &str, pid: u32) {
    let name = format!("convio-feed-listener-{pid}");
    let mut conn = PgConnection::connect(database_url).await.expect("connect");
    let killed: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(&name)
    .fetch_all(&mut conn)
    .await
    .expect("terminate the listener");
    assert_eq!(
        killed.len(),
        1,
        "node B had exactly one listener connection"
    );
    let _ = conn.close().await;
}

/// The `application_name` of the test's own probing connections, so that a query about the
/// node's connections can leave them out: a closed one stays listed in `pg_stat_activity`
/// until its backend has exited.
const PROBE: &str = "convio-test-probe";

async fn wait_for_listener(database_url: &str, pid: u32) {
    let name = format!("convio-feed-listener-{pid}");
    let options = database_url
        .parse::<PgConnectOptions>()
        .expect("a PostgreSQL URL")
        .application_name(PROBE);
    let mut conn = PgConnection::connect_with(&options).await.expect("connect");
    for _ in 0..200 {
        let (n,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
                .bind(&name)
                .fetch_one(&mut conn)
                .await
                .expect("count listeners");
        if n == 1 {
            let _ = conn.close().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("node B's listener never (re)connected");
}

#[tokio::test]
async fn a_conversion_crosses_nodes_in_order_exactly_once_even_across_a_dropped_listener() {
    if postgres_or_skip().await.is_none() {
        return;
    }
    let url = fresh_postgres_database().await;
    let a = start_node(&url).await;
    let b = start_node(&url).await;
    let b_pid = b.child.id().expect("node B runs");
    wait_for_listener(&url, b_pid).await;

    // Arrange, all through node A.
    let lead_gen = a.app.workspace("lead_gen_team").await;
    let sales = a.app.workspace("salesforce_prod").await;
    a.app
        .contact_received_by(&lead_gen, 123456, "Jane Roe", "salesforce_prod")
        .await;
    let mut feed = b.app.subscribe_feed(&sales, json!({})).await;

    // Logged on A, received on B, in order.
    let mut sent = Vec::new();
    for value in ["100.00", "200.00", "300.00"] {
        sent.push(log_sale(&a.app, &sales, 123456, value).await);
    }
    assert_eq!(
        receive(&mut feed, 3).await,
        sent,
        "B receives A's conversions in order"
    );

    // B's LISTEN connection dies; conversions logged during the gap still arrive once.
    cut_listener(&url, b_pid).await;
    let mut during_gap = Vec::new();
    for value in ["400.00", "500.00", "600.00"] {
        during_gap.push(log_sale(&a.app, &sales, 123456, value).await);
    }
    wait_for_listener(&url, b_pid).await;
    let mut after = Vec::new();
    for value in ["700.00", "800.00"] {
        after.push(log_sale(&a.app, &sales, 123456, value).await);
    }
    let expected: Vec<String> = during_gap.iter().chain(&after).cloned().collect();
    assert_eq!(
        receive(&mut feed, 5).await,
        expected,
        "nothing lost, nothing reordered"
    );

    // Exactly once: nothing further arrives (the wait is the helper's bounded timeout).
    let extra: Option<Value> = feed.next_event().await;
    assert!(extra.is_none(), "an event was delivered twice: {extra:?}");

    // And B serves the same data: the contact's lifetime value counts all eight sales.
    let contact = b.app.contact_exact(123456).await;
    assert_eq!(contact["lifetime_value"], "3600.00");
    assert_eq!(contact["conversion_count"], "8");
}

#[tokio::test]
async fn nodes_started_together_on_a_fresh_database_migrate_once_and_all_serve() {
    if postgres_or_skip().await.is_none() {
        return;
    }
    // An empty database (not the migrated template): both nodes race to migrate it.
    let url = fresh_empty_database().await;
    let (a, b) = tokio::join!(start_node(&url), start_node(&url));
    for node in [&a, &b] {
        let health = node.app.get("/healthz", &Creds::Anonymous).await;
        assert_eq!(health.status().as_u16(), 200);
    }
    // One registry of workspaces: registered on A, usable on B.
    let creds = a.app.workspace("shared_ws").await;
    let seen = b.app.get("/workspaces/shared_ws/activity", &creds).await;
    assert_eq!(seen.status().as_u16(), 200);
}

#[tokio::test]
async fn a_node_refuses_a_schema_older_than_its_code_when_not_migrating() {
    if postgres_or_skip().await.is_none() {
        return;
    }
    let url = fresh_empty_database().await;
    let output = convio(&url)
        .args(["--auto-migrate", "false"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("convio runs");
    assert!(
        !output.status.success(),
        "convio must not serve on an unmigrated schema"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("older than this build"),
        "a clear message: {stderr}"
    );
    assert!(
        stderr.contains("convio migrate"),
        "it says what to do: {stderr}"
    );

    // After the deploy step, the same node starts.
    let migrated = convio(&url)
        .arg("migrate")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .expect("convio migrate runs");
    assert!(migrated.success());
    let mut command = convio(&url);
    command.args(["--auto-migrate", "false"]);
    let node = start(command).await;
    let health = node.app.get("/healthz", &Creds::Anonymous).await;
    assert_eq!(health.status().as_u16(), 200);
}

/// A new database with no tables at all.
async fn fresh_empty_database() -> String {
    let name = format!(
        "convio_test_{}_empty_{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );
    let mut admin = PgConnection::connect(&crate::backend::admin_url())
        .await
        .expect("connect");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .expect("create database");
    let _ = admin.close().await;
    crate::backend::database_url(&name)
}

#[tokio::test]
async fn a_node_keeps_serving_a_schema_a_newer_build_already_migrated() {
    if postgres_or_skip().await.is_none() {
        return;
    }
    // A later build's (additive) migration is already applied, as mid-way through a rolling
    // deploy: this build must still start, with or without auto-migrate.
    let url = fresh_postgres_database().await;
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    sqlx::query("INSERT INTO seaql_migrations (version, applied_at) VALUES ('m29990101_000001_from_the_future', 0)")
        .execute(&mut conn)
        .await
        .expect("record a future migration");
    let _ = conn.close().await;
    for auto_migrate in ["true", "false"] {
        let mut command = convio(&url);
        command.args(["--auto-migrate", auto_migrate]);
        let node = start(command).await;
        let health = node.app.get("/healthz", &Creds::Anonymous).await;
        assert_eq!(health.status().as_u16(), 200, "auto-migrate {auto_migrate}");
    }
}

#[tokio::test]
async fn a_node_connects_over_tls_when_the_url_asks_for_it() {
    if postgres_or_skip().await.is_none() {
        return;
    }
    let url = fresh_postgres_database().await;
    let mut admin = PgConnection::connect(&url).await.expect("connect");
    let (ssl,): (String,) = sqlx::query_as("SHOW ssl")
        .fetch_one(&mut admin)
        .await
        .expect("SHOW ssl");
    if ssl != "on" {
        eprintln!("SKIPPED: this PostgreSQL server has ssl = {ssl}");
        return;
    }
    let tls_url = if url.contains("sslmode=") {
        url.replace("sslmode=disable", "sslmode=require")
    } else {
        format!(
            "{url}{}sslmode=require",
            if url.contains('?') { '&' } else { '?' }
        )
    };
    let node = start_node(&tls_url).await;
    wait_for_listener(&url, node.child.id().expect("the node runs")).await;
    let health = node.app.get("/healthz", &Creds::Anonymous).await;
    assert_eq!(health.status().as_u16(), 200);
    let database = url
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    let (plain,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
         WHERE a.datname = $1 AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend' AND NOT s.ssl
           AND a.application_name <> $2",
    )
    .bind(&database)
    .bind(PROBE)
    .fetch_one(&mut admin)
    .await
    .expect("inspect connections");
    // Only client backends: autovacuum workers visit the database too, without TLS.
    assert_eq!(plain, 0, "every connection of the node uses TLS");
    let (encrypted,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
         WHERE a.datname = $1 AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend' AND s.ssl",
    )
    .bind(&database)
    .fetch_one(&mut admin)
    .await
    .expect("inspect connections");
    assert!(
        encrypted >= 2,
        "the pool and the feed listener connected over TLS ({encrypted})"
    );
    let _ = admin.close().await;
}
