//! Operating convio: `/metrics` after real traffic (the series move, and their labels stay
//! bounded whatever clients send), `/healthz` naming the check that failed, and JSON logs
//! whose every request line carries the request id.

use crate::backend::{Backend, admin_url, current};
use crate::helpers::{ADMIN_KEY, Creds, TestApp, expect_json, spawn_app, spawn_app_with};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// One scrape of `/metrics`: each sample line as (series with its labels, value).
struct Scrape {
    text: String,
}

impl Scrape {
    async fn of(app: &TestApp) -> Scrape {
        let response = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics");
        assert_eq!(response.status().as_u16(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        Scrape {
            text: response.text().await.expect("the metrics text"),
        }
    }

    /// The value of `series` (name and labels exactly as rendered), or 0 when absent.
    fn get(&self, series: &str) -> f64 {
        self.text
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map_or(0.0, |value| value.trim().parse().expect("a number"))
    }

    /// How many samples of `name` there are (one per label set; a histogram's buckets count).
    fn samples(&self, name: &str) -> usize {
        self.text
            .lines()
            .filter(|line| {
                line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
            })
            .count()
    }
}

fn http(route: &str, method: &str, status: &str) -> String {
    format!(
        "convio_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}}"
    )
}

fn conversions(kind: &str) -> String {
    format!("convio_conversions_total{{conversion_type=\"{kind}\"}}")
}

fn value_of(kind: &str) -> String {
    format!("convio_conversion_value_minor_units_total{{conversion_type=\"{kind}\"}}")
}

fn graphql(operation: &str, transport: &str, code: &str) -> String {
    format!(
        "convio_graphql_operations_total{{operation=\"{operation}\",transport=\"{transport}\",code=\"{code}\"}}"
    )
}

fn cache(result: &str) -> String {
    format!("convio_analytics_cache_requests_total{{cache=\"analytics\",result=\"{result}\"}}")
}

async fn log(app: &TestApp, creds: &Creds, contact: i64, kind: &str, value: &str) {
    app.log_conversion(
        creds,
        json!({ "contact_id": contact, "converted_by": "rep_1", "conversion_type": kind,
                "conversion_value": value }),
    )
    .await;
}

/// Waits (bounded) until `series` reaches `at_least`.
async fn wait_for(app: &TestApp, series: &str, at_least: f64) -> Scrape {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let scrape = Scrape::of(app).await;
        if scrape.get(series) >= at_least || tokio::time::Instant::now() > deadline {
            return scrape;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn traffic_moves_every_series_it_touches() {
    // Arrange: a receiving workspace with one contact, and a live subscriber.
    let app = spawn_app().await;
    let lead_gen = app.workspace("lead_gen_team").await;
    let alpha = app.workspace("alpha").await;
    app.contact_received_by(&lead_gen, 1, "Jane Roe", "alpha")
        .await;
    let before = Scrape::of(&app).await;
    let mut feed = app.subscribe_feed(&alpha, json!({})).await;

    // Act: two conversions (one of a type not listed for labels), analytics twice, GraphQL
    // that works and GraphQL that does not parse, and a path no route matches.
    log(&app, &alpha, 1, "sale", "250.00").await;
    feed.next_event().await.expect("the sale on the feed");
    log(&app, &alpha, 1, "solar_install", "1.50").await;
    for _ in 0..2 {
        let response = app.get("/conversions/analytics", &alpha).await;
        expect_json(response, 200).await;
    }
    app.graphql_data(&alpha, "{ contact(id: 1) { id } }", json!({}))
        .await;
    let broken = app
        .graphql(&alpha, "{ contact(id: 1) { id }", json!({}))
        .await;
    assert_eq!(broken["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let missing = app.get("/no/such/path/12345", &alpha).await;
    assert_eq!(missing.status().as_u16(), 404);
    for id in [2, 3, 4] {
        app.create_contact(&alpha, id, "Someone").await;
    }
    let after = wait_for(&app, "convio_feed_deliveries_total", 2.0).await;

    // Assert: requests by route template, never by raw path.
    let posted = http("/conversions/log", "POST", "2xx");
    assert_eq!(
        after.get(&posted) - before.get(&posted),
        2.0,
        "{}",
        after.text
    );
    let created = http("/contacts", "POST", "2xx");
    assert_eq!(after.get(&created) - before.get(&created), 3.0);
    assert!(after.get(&http("/contacts/{id}/send", "POST", "2xx")) >= 1.0);
    assert_eq!(after.get(&http("unmatched", "GET", "4xx")), 1.0);
    assert!(!after.text.contains("12345"), "a raw path became a label");
    assert!(!after.text.contains("alpha"), "a workspace became a label");
    let bucket = "convio_http_request_duration_seconds_bucket{route=\"/conversions/log\",\
                  method=\"POST\",status=\"2xx\",le=\"0.2\"}";
    assert!(
        after.text.contains(bucket),
        "no 200 ms bucket:\n{}",
        after.text
    );
    // Conversions and their value by type; unlisted types are `other`.
    assert_eq!(after.get(&conversions("sale")), 1.0);
    assert_eq!(after.get(&value_of("sale")), 25_000.0);
    assert_eq!(after.get(&conversions("other")), 1.0);
    assert_eq!(after.get(&value_of("other")), 150.0);
    assert!(!after.text.contains("solar_install"));
    assert_eq!(after.get("convio_contacts_received_total"), 1.0);
    assert!(after.get("convio_ingest_group_size_count") >= 1.0);
    // The analytics cache: the first look misses, the repeat hits.
    assert!(after.get(&cache("miss")) >= 1.0, "{}", after.text);
    assert!(after.get(&cache("hit")) >= 1.0, "{}", after.text);
    // GraphQL by operation type, transport and code.
    assert_eq!(after.get(&graphql("query", "http", "OK")), 1.0);
    assert_eq!(
        after.get(&graphql("unknown", "http", "BAD_USER_INPUT")),
        1.0
    );
    assert_eq!(after.get(&graphql("subscription", "websocket", "OK")), 1.0);
    // The feed: both events delivered to the one subscriber, over one open WebSocket.
    assert_eq!(after.get("convio_feed_deliveries_total"), 2.0);
    assert_eq!(after.get("convio_feed_delivery_seconds_count"), 2.0);
    assert!(after.get("convio_feed_events_published_total") >= 2.0);
    assert_eq!(after.get("convio_feed_subscribers"), 1.0);
    assert_eq!(after.get("convio_websocket_connections"), 1.0);
    assert_eq!(after.get("convio_websocket_connections_total"), 1.0);
    // The database: statements counted and timed, the pool, the probe.
    assert!(after.get("convio_db_statements_total") > before.get("convio_db_statements_total"));
    assert!(after.get("convio_db_statement_duration_seconds_count{statement=\"insert\"}") >= 2.0);
    assert_eq!(after.get("convio_db_pool_max_connections"), 5.0);
    assert_eq!(after.get("convio_db_up"), 1.0);
    // The process.
    assert!(
        after.get("process_resident_memory_bytes") > 0.0,
        "{}",
        after.text
    );
    assert!(after.text.contains("process_cpu_seconds_total"));
    // A closed socket is no longer counted as open.
    drop(feed);
    let closed = wait_until(&app, |s| s.get("convio_websocket_connections") == 0.0).await;
    assert_eq!(closed.get("convio_websocket_connections_total"), 1.0);
}

/// Waits (bounded) until a scrape satisfies `done`, and returns it.
async fn wait_until(app: &TestApp, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let scrape = Scrape::of(app).await;
        if done(&scrape) {
            return scrape;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never:\n{}",
            scrape.text
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_thousand_conversion_types_make_one_series() {
    // Arrange: a workspace allowed to log 1,000 conversions at once.
    let app = spawn_app_with(&["--rate-limit-per-hour", "0"]).await;
    let lead_gen = app.workspace("lead_gen_team").await;
    let alpha = app.workspace("alpha").await;
    app.contact_received_by(&lead_gen, 1, "Jane Roe", "alpha")
        .await;
    let items: Vec<Value> = (0..1000)
        .map(|i| {
            json!({ "contact_id": 1, "converted_by": "rep_1",
                    "conversion_type": format!("campaign_{i}"), "conversion_value": "1.00" })
        })
        .collect();

    // Act
    let response = app
        .post_json(
            "/conversions/batch",
            &alpha,
            &json!({ "conversions": items }),
        )
        .await;
    let outcome = expect_json(response, 200).await;
    assert_eq!(outcome["stored"], 1000, "{outcome}");
    for id in 0..50 {
        let _ = app.get(&format!("/contacts/{}", 1000 + id), &alpha).await;
    }

    // Assert: one `other` series beside the listed types, however many types were sent.
    let scrape = Scrape::of(&app).await;
    assert_eq!(scrape.get(&conversions("other")), 1000.0, "{}", scrape.text);
    assert_eq!(scrape.get(&value_of("other")), 100_000.0);
    assert_eq!(
        scrape.samples("convio_conversions_total"),
        4,
        "{}",
        scrape.text
    );
    assert!(!scrape.text.contains("campaign_"));
    // Fifty contact ids are one route.
    assert_eq!(scrape.get(&http("/contacts/{id}", "GET", "4xx")), 50.0);
    assert_eq!(
        scrape
            .text
            .matches("convio_http_requests_total{route=\"/contacts/{id}\"")
            .count(),
        1
    );
}

async fn healthz_says_ok_and_why() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app.get("/healthz", &Creds::Anonymous).await;

    // Assert
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = expect_json(response, 200).await;
    assert_eq!(body["status"], "ok", "{body}");
    for check in ["database", "migrations", "feed_pump"] {
        assert_eq!(body["checks"][check]["ok"], true, "{body}");
    }
    let applied = body["checks"]["migrations"]["detail"].as_str().unwrap();
    assert!(
        applied.starts_with("all ") && applied.ends_with(" applied"),
        "{body}"
    );
}

async fn healthz_names_a_migration_that_is_not_applied() {
    // Arrange: the newest migration's record removed, as by a rollback behind the node's back.
    let app = spawn_app().await;
    let db = Database::connect(app.database_url.as_str())
        .await
        .expect("connect");
    let newest: String = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT MAX(version) AS v FROM seaql_migrations",
        ))
        .await
        .expect("read the migrations")
        .expect("a row")
        .try_get("", "v")
        .expect("a version");
    db.execute_unprepared(&format!(
        "DELETE FROM seaql_migrations WHERE version = '{newest}'"
    ))
    .await
    .expect("forget a migration");

    // Act
    let response = app.get("/healthz", &Creds::Anonymous).await;

    // Assert
    let body = expect_json(response, 503).await;
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(body["checks"]["database"]["ok"], true, "{body}");
    assert_eq!(body["checks"]["migrations"]["ok"], false, "{body}");
    let detail = body["checks"]["migrations"]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&newest) && detail.contains("convio migrate"),
        "{body}"
    );
}

/// PostgreSQL only: a SQLite file cannot become unreachable under an open pool.
async fn healthz_and_metrics_name_an_unreachable_database() {
    if current() != Backend::Postgres {
        return;
    }
    // Arrange: the node's database dropped under it, its connections cut.
    let app = spawn_app().await;
    let name = app
        .database_url
        .rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .expect("a database name")
        .to_owned();
    let admin = Database::connect(admin_url())
        .await
        .expect("connect as admin");
    admin
        .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .await
        .expect("drop the node's database");

    // Act
    let response = app.get("/healthz", &Creds::Anonymous).await;

    // Assert
    let body = expect_json(response, 503).await;
    assert_eq!(body["checks"]["database"]["ok"], false, "{body}");
    assert_eq!(body["checks"]["migrations"]["ok"], false, "{body}");
    let detail = body["checks"]["database"]["detail"].as_str().unwrap();
    assert!(!detail.contains(&name), "internals in {body}");
    let scrape = Scrape::of(&app).await;
    assert_eq!(scrape.get("convio_db_up"), 0.0);
    assert!(scrape.get("convio_db_probe_failures_total{reason=\"error\"}") >= 2.0);
}

crate::backend::on_both_backends!(
    traffic_moves_every_series_it_touches,
    a_thousand_conversion_types_make_one_series,
    healthz_says_ok_and_why,
    healthz_names_a_migration_that_is_not_applied,
    healthz_and_metrics_name_an_unreachable_database,
);

/// `--log-format json`: every line is a JSON object, and a line logged while serving a request
/// carries that request's id, the one the response's `x-request-id` names.
#[tokio::test]
async fn json_logs_carry_the_request_id() {
    // Arrange: the real binary, logging JSON to a pipe we read.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("convio.db").display()
    );
    let mut child = crate::cluster::convio(&url)
        .args(["--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("convio starts");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut reader = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let sink = lines.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = reader.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    let port = wait_for_line(&lines, |line| line.contains("http://127.0.0.1:"))
        .await
        .split("http://127.0.0.1:")
        .nth(1)
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|digits| digits.parse::<u16>().ok())
        .expect("convio announced its port");
    let app = TestApp::attach(port);
    expect_json(
        app.post_json(
            "/workspaces/register",
            &Creds::bearer(ADMIN_KEY),
            &json!({ "workspace_id": "target", "workspace_name": "Target" }),
        )
        .await,
        201,
    )
    .await;

    // Act: a request the server logs (a failed authentication).
    let response = app
        .get(
            "/conversions",
            &Creds::headers("target", "convio_wrong_key_0123456789"),
        )
        .await;
    assert_eq!(response.status().as_u16(), 401);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();

    // Assert
    let line = wait_for_line(&lines, |line| line.contains("authentication failed")).await;
    let event: Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(event["level"], "WARN", "{line}");
    assert_eq!(
        event["fields"]["message"], "authentication failed",
        "{line}"
    );
    assert_eq!(event["span"]["request_id"], request_id.as_str(), "{line}");
    assert_eq!(event["span"]["name"], "request", "{line}");
    for line in lines.lock().unwrap().iter() {
        let parsed: Result<Value, _> = serde_json::from_str(line);
        assert!(
            parsed.is_ok_and(|v| v.is_object()),
            "not a JSON object: {line}"
        );
    }
    let _ = child.kill().await;
}

/// The first line (already read or still to come, within 30 s) that `wanted` accepts.
async fn wait_for_line(lines: &Mutex<Vec<String>>, wanted: impl Fn(&str) -> bool) -> String {
    for _ in 0..600 {
        if let Some(line) = lines.lock().unwrap().iter().find(|l| wanted(l)) {
            return line.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no such log line:\n{}", lines.lock().unwrap().join("\n"));
}
