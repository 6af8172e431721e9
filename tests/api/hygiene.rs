//! Hygiene: no secret in any log line even at `RUST_LOG=trace`; security and cache headers on
//! every response; the server's own request id in the audit log, the client's only as a short,
//! well-formed correlation id; a database held busy by another process answers 503 with
//! `Retry-After`, nothing written.

use crate::backend::Backend;
use crate::cluster::convio;
use crate::helpers::{
    ADMIN_KEY, Creds, TestApp, assert_graphql_error, assert_problem, expect_json, spawn_app,
    spawn_app_with,
};
use reqwest::{Method, Response};
use sea_orm::sqlx::{self, Connection as _};
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;

fn header<'r>(response: &'r Response, name: &str) -> &'r str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// No secret in any log line

const URL_PASSWORD: &str = "canary-url-password-5f1e";
const URL_SSL_PASSWORD: &str = "canary-sslpassword-77a0";

/// The test database's URL with secrets a careless operator might put in it: a `password`
/// parameter (when it has no password of its own) and an `sslpassword` sqlx does not know.
fn url_with_secrets(url: &str) -> String {
    if !url.starts_with("postgres") {
        return url.to_owned();
    }
    let userinfo = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split_once('@'));
    let has_password = userinfo.is_some_and(|(info, _)| info.contains(':'));
    let separator = if url.contains('?') { '&' } else { '?' };
    let mut url = format!("{url}{separator}sslpassword={URL_SSL_PASSWORD}");
    if !has_password {
        url.push_str(&format!("&password={URL_PASSWORD}"));
    }
    url
}

async fn no_secret_reaches_the_log_even_at_trace_level() {
    // Arrange: the real binary, logging everything it and its dependencies say.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = match crate::backend::current() {
        Backend::Sqlite => format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("convio.db").display()
        ),
        Backend::Postgres => url_with_secrets(&crate::backend::fresh_postgres_database().await),
    };
    let log_path = dir.path().join("convio.log");
    let log_file = std::fs::File::create(&log_path).expect("a log file");
    let mut child = convio(&url)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::from(log_file.try_clone().expect("clone")))
        .stderr(Stdio::from(log_file))
        .spawn()
        .expect("convio starts");
    let mut port = None;
    for _ in 0..600 {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(rest) = text.split("http://127.0.0.1:").nth(1) {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            port = digits.parse::<u16>().ok();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let app = TestApp::attach(port.expect("convio announced its port"));

    // Act: credentials through every door, the WebSocket's connection_init included.
    let key = app
        .register_workspace("salesforce_prod", &["read", "update", "convert"])
        .await;
    let sales = Creds::headers("salesforce_prod", &key);
    let token = expect_json(
        app.rest(Method::POST, "/auth/token", &sales)
            .send()
            .await
            .expect("sent"),
        200,
    )
    .await;
    let jwt = token["access_token"].as_str().expect("a token").to_owned();
    app.graphql(
        &Creds::bearer(&jwt),
        "{ contacts { totalCount } }",
        json!({}),
    )
    .await;
    for creds in [&sales, &Creds::bearer(&jwt)] {
        let mut socket = app.feed_socket().await;
        socket
            .init(creds.connection_init_payload())
            .await
            .expect("connection acknowledged");
        socket
            .subscribe("1", crate::helpers::FEED_SUBSCRIPTION, json!({}))
            .await;
        drop(socket);
    }
    app.create_contact(&sales, 42, "Jane Roe").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.start_kill().expect("stop convio");
    child.wait().await.expect("convio stopped");

    // Assert
    let logs = std::fs::read_to_string(&log_path).expect("the log");
    assert!(
        logs.lines().filter(|l| l.contains("DEBUG")).count() > 10,
        "the server did log below info:\n{logs}"
    );
    for secret in [
        key.as_str(),
        jwt.as_str(),
        ADMIN_KEY,
        URL_PASSWORD,
        URL_SSL_PASSWORD,
    ] {
        let leaked: Vec<&str> = logs.lines().filter(|l| l.contains(secret)).collect();
        assert!(
            leaked.is_empty(),
            "`{secret}` leaked into the logs: {leaked:#?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Response headers

async fn every_response_is_nosniff_and_refuses_to_be_framed() {
    // Arrange
    let app = spawn_app_with(&["--max-body-bytes", "1024"]).await;
    let too_big = "x".repeat(4096);

    // Act: pages, assets' misses, API answers and errors of every kind.
    let responses = vec![
        (
            "dashboard",
            app.client.get(app.url("/dashboard")).send().await,
        ),
        (
            "dashboard/",
            app.client.get(app.url("/dashboard/")).send().await,
        ),
        (
            "graphiql",
            app.client.get(app.url("/graphiql")).send().await,
        ),
        (
            "missing asset",
            app.client
                .get(app.url("/dashboard/assets/nope.js"))
                .send()
                .await,
        ),
        ("healthz", app.client.get(app.url("/healthz")).send().await),
        ("metrics", app.client.get(app.url("/metrics")).send().await),
        (
            "unknown path",
            app.client.get(app.url("/nope")).send().await,
        ),
        (
            "wrong method",
            app.client.delete(app.url("/healthz")).send().await,
        ),
        (
            "no credentials",
            app.client.get(app.url("/conversions")).send().await,
        ),
        (
            "body too large",
            app.client
                .post(app.url("/contacts"))
                .header("content-type", "application/json")
                .body(too_big)
                .send()
                .await,
        ),
        (
            "graphql",
            app.client
                .post(app.url("/graphql"))
                .json(&json!({"query": "{ __typename }"}))
                .send()
                .await,
        ),
    ];

    // Assert
    for (what, response) in responses {
        let response = response.expect("request sent");
        let status = response.status();
        assert_eq!(
            header(&response, "x-content-type-options"),
            "nosniff",
            "{what} ({status})"
        );
        let csp = header(&response, "content-security-policy");
        assert!(
            csp.contains("frame-ancestors 'none'"),
            "{what} ({status}) has CSP {csp:?}"
        );
        assert_eq!(
            header(&response, "x-frame-options"),
            "DENY",
            "{what} ({status})"
        );
        if header(&response, "content-type").starts_with("text/html") {
            assert!(csp.contains("default-src"), "{what}: {csp}");
        }
    }
}

async fn responses_carrying_keys_or_tokens_are_never_stored() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let registered = app
        .post_json(
            "/workspaces/register",
            &app.admin,
            &json!({"workspace_id": "workspace_123", "workspace_name": "Team"}),
        )
        .await;
    let registered_no_store = header(&registered, "cache-control").to_owned();
    let key = expect_json(registered, 201).await["api_key"]
        .as_str()
        .expect("a key")
        .to_owned();
    let creds = Creds::headers("workspace_123", &key);
    let token = app
        .rest(Method::POST, "/auth/token", &creds)
        .send()
        .await
        .expect("sent");
    let rotated = app
        .post_json(
            "/workspaces/workspace_123/keys/rotate",
            &app.admin,
            &json!({}),
        )
        .await;
    let graphql = |query: &'static str| {
        app.rest(Method::POST, "/graphql", &app.admin)
            .json(&json!({"query": query}))
            .send()
    };
    let registered_by_graphql = graphql(
        r#"mutation { registerWorkspace(input: {workspaceId: "workspace_456", workspaceName: "Other"}) { apiKey } }"#,
    )
    .await
    .expect("sent");
    let rotated_by_graphql =
        graphql(r#"mutation { rotateApiKey(workspaceId: "workspace_456") { apiKey } }"#)
            .await
            .expect("sent");

    // Assert
    assert_eq!(registered_no_store, "no-store", "POST /workspaces/register");
    for (what, response) in [
        ("POST /auth/token", token),
        ("POST /workspaces/{id}/keys/rotate", rotated),
        ("registerWorkspace", registered_by_graphql),
        ("rotateApiKey", rotated_by_graphql),
    ] {
        assert_eq!(header(&response, "cache-control"), "no-store", "{what}");
        let status = response.status().as_u16();
        let body = response.text().await.expect("a body");
        assert_eq!(status, 200, "{what}: {body}");
        assert!(
            body.contains("access_token") || body.contains("api_key") || body.contains("apiKey"),
            "{what} carries a credential: {body}"
        );
        assert!(!body.contains("\"errors\""), "{what}: {body}");
    }
}

// ---------------------------------------------------------------------------------------
// Request ids

/// `POST /contacts` with `x-request-id: client_id`; returns the response's request-id
/// headers (the server's, the echoed client's).
async fn create_contact_with_request_id(
    app: &TestApp,
    creds: &Creds,
    id: i64,
    client_id: &str,
) -> (String, String) {
    let response = creds
        .apply(app.client.post(app.url("/contacts")))
        .header("x-request-id", client_id)
        .json(&json!({"id": id, "name": "Jane Roe"}))
        .send()
        .await
        .expect("request sent");
    let ids = (
        header(&response, "x-request-id").to_owned(),
        header(&response, "x-client-request-id").to_owned(),
    );
    expect_json(response, 201).await;
    ids
}

/// The audit entry of the contact's creation, as the admin reads it.
async fn creation_entry(app: &TestApp, id: i64) -> Value {
    let body = expect_json(
        app.get(
            &format!("/audit?object_type=contact&object_id={id}"),
            &app.admin,
        )
        .await,
        200,
    )
    .await;
    body["entries"][0].clone()
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36 && text.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

async fn a_long_or_malformed_client_request_id_is_not_stored() {
    // Arrange
    let app = spawn_app().await;
    let lead_gen = app.workspace("lead_gen_team").await;
    let long = "a".repeat(8_000);

    for (id, client_id) in [
        (1, long.as_str()),
        (2, "has spaces and \"quotes\""),
        (3, &"b".repeat(65)),
    ] {
        // Act
        let (server_id, echoed) =
            create_contact_with_request_id(&app, &lead_gen, id, client_id).await;
        let entry = creation_entry(&app, id).await;

        // Assert
        assert!(is_uuid(&server_id), "the server's own id: {server_id}");
        assert_eq!(echoed, "", "a refused id is not echoed");
        assert_eq!(entry["request_id"], server_id.as_str(), "{entry}");
        assert!(
            !entry
                .to_string()
                .contains(&client_id[..20.min(client_id.len())]),
            "the client's id was stored: {entry}"
        );
    }
}

async fn requests_sharing_a_client_id_get_distinct_server_ids_in_the_audit() {
    // Arrange
    let app = spawn_app().await;
    let lead_gen = app.workspace("lead_gen_team").await;

    // Act
    let first = create_contact_with_request_id(&app, &lead_gen, 1, "order-7781:retry.1").await;
    let second = create_contact_with_request_id(&app, &lead_gen, 2, "order-7781:retry.1").await;
    let (one, two) = (creation_entry(&app, 1).await, creation_entry(&app, 2).await);
    let problem = app
        .client
        .post(app.url("/contacts"))
        .header("x-request-id", "order-7781:retry.1")
        .json(&json!({"id": 3}))
        .send()
        .await
        .expect("sent");
    let problem_server_id = header(&problem, "x-request-id").to_owned();
    let problem = assert_problem(problem, 401, "UNAUTHENTICATED", None).await;

    // Assert: the server's ids tie rows to responses; the client's is kept beside them.
    assert_ne!(first.0, second.0);
    assert!(
        is_uuid(&first.0) && is_uuid(&second.0),
        "{first:?} {second:?}"
    );
    assert_eq!(first.1, "order-7781:retry.1", "echoed");
    assert_eq!(one["request_id"], first.0.as_str(), "{one}");
    assert_eq!(two["request_id"], second.0.as_str(), "{two}");
    for entry in [&one, &two] {
        assert_eq!(
            entry["details"]["client_request_id"], "order-7781:retry.1",
            "{entry}"
        );
    }
    assert_eq!(
        problem["request_id"],
        problem_server_id.as_str(),
        "{problem}"
    );
}

// ---------------------------------------------------------------------------------------
// A busy database

/// Another process's connection holding the database's write lock (SQLite) or a lock on
/// `contacts` that blocks every write to it (PostgreSQL), until dropped.
enum LockHolder {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl LockHolder {
    async fn take(database_url: &str) -> LockHolder {
        match crate::backend::current() {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(database_url)
                    .await
                    .expect("a second connection to the file");
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut conn)
                    .await
                    .expect("the write lock");
                LockHolder::Sqlite(conn)
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(database_url)
                    .await
                    .expect("a second connection");
                sqlx::raw_sql("BEGIN; LOCK TABLE contacts IN EXCLUSIVE MODE")
                    .execute(&mut conn)
                    .await
                    .expect("the table lock");
                LockHolder::Postgres(conn)
            }
        }
    }

    async fn release(self) {
        let done = match self {
            LockHolder::Sqlite(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.map(drop)
            }
            LockHolder::Postgres(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.map(drop)
            }
        };
        done.expect("released");
    }
}

async fn a_write_blocked_by_another_process_lock_gets_503_and_writes_nothing() {
    // Arrange
    let app = spawn_app_with(&["--db-lock-timeout-ms", "300"]).await;
    let lead_gen = app.workspace("lead_gen_team").await;
    let lock = LockHolder::take(&app.database_url).await;

    // Act
    let rest = app
        .post_json(
            "/contacts",
            &lead_gen,
            &json!({"id": 1, "name": "Jane Roe"}),
        )
        .await;
    let retry_after = header(&rest, "retry-after").to_owned();
    let graphql = app
        .graphql(
            &lead_gen,
            r#"mutation { createContact(input: {id: "2", name: "John Roe"}) { id } }"#,
            json!({}),
        )
        .await;
    let healthz = app.get("/healthz", &Creds::Anonymous).await.status();
    lock.release().await;

    // Assert: retryable, specific, and nothing was written.
    assert_problem(rest, 503, "DATABASE_BUSY", None).await;
    assert_eq!(retry_after, "1");
    let error = assert_graphql_error(&graphql, "DATABASE_BUSY", None);
    assert_eq!(error["extensions"]["retryAfterSeconds"], 1, "{graphql}");
    assert_eq!(graphql["data"], Value::Null, "{graphql}");
    assert_eq!(healthz.as_u16(), 200, "reads still served");
    for id in [1, 2] {
        let stored = app.get(&format!("/contacts/{id}"), &app.admin).await;
        assert_eq!(stored.status().as_u16(), 404, "contact {id} was written");
    }
    let audit = expect_json(app.get("/audit?object_type=contact", &app.admin).await, 200).await;
    assert_eq!(audit["entries"], json!([]), "{audit}");

    // Once the lock is gone the same request succeeds.
    app.create_contact(&lead_gen, 1, "Jane Roe").await;
}

crate::backend::on_both_backends!(
    no_secret_reaches_the_log_even_at_trace_level,
    every_response_is_nosniff_and_refuses_to_be_framed,
    responses_carrying_keys_or_tokens_are_never_stored,
    a_long_or_malformed_client_request_id_is_not_stored,
    requests_sharing_a_client_id_get_distinct_server_ids_in_the_audit,
    a_write_blocked_by_another_process_lock_gets_503_and_writes_nothing,
);
