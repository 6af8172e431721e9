//! A key, once verified, costs no SQL statement on the requests that follow (nor does a token
//! minted from it); and yet every change to what it stands for — revoked, rotated out,
//! expired, its workspace disabled, its permissions or limit changed — applies to the very
//! next request, and on PostgreSQL to the other nodes within moments.

use crate::backend::{Backend, run_on};
use crate::cluster::{Node, convio, start};
use crate::helpers::{Creds, TestApp, assert_problem, expect_json, spawn_app, spawn_app_with};
use crate::rest_workspaces::issue_token;
use serde_json::json;
use std::time::{Duration, Instant};

const READ: &str = "/conversions?limit=1";

/// Waits until the app can cache verified keys: at once on SQLite; on PostgreSQL once its
/// listener for other nodes' changes is connected.
async fn listening(app: &TestApp) {
    if crate::backend::current() == Backend::Sqlite {
        return;
    }
    for _ in 0..200 {
        let metrics = app.client.get(app.url("/metrics")).send().await;
        let text = metrics.expect("GET /metrics").text().await.expect("a body");
        if text
            .lines()
            .any(|l| l == "convio_feed_listener_connected 1")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the feed listener never connected");
}

async fn status(app: &TestApp, creds: &Creds) -> u16 {
    app.get(READ, creds).await.status().as_u16()
}

/// Statements `n` reads by `creds` take, after one that may verify the key.
async fn statements_for_reads(app: &TestApp, creds: &Creds, n: u64) -> u64 {
    assert_eq!(status(app, creds).await, 200);
    let before = app.statements_total().await;
    for _ in 0..n {
        assert_eq!(status(app, creds).await, 200);
    }
    app.statements_total().await - before
}

/// Statements `n` conversions logged by `creds` for `workspace` on contact 1 take, after one
/// that may verify the key.
async fn statements_for_logs(app: &TestApp, creds: &Creds, workspace: &str, n: u64) -> u64 {
    let sale = json!({
        "contact_id": 1,
        "workspace_id": workspace,
        "converted_by": "agent_1",
        "conversion_type": "sale",
        "conversion_value": "10.00",
    });
    // Each conversion's feed event is published before the next request: the feed pump then
    // reads alike for every conversion, instead of once for the few a wake-up finds together,
    // which varied the count by a dozen statements between runs.
    let mut published = app.metric("convio_feed_events_published_total").await + 1;
    app.log_conversion(creds, sale.clone()).await;
    app.wait_for_feed_published(published).await;
    let before = app.statements_total().await;
    for _ in 0..n {
        app.log_conversion(creds, sale.clone()).await;
        published += 1;
        app.wait_for_feed_published(published).await;
    }
    app.statements_total().await - before
}

/// The statements a run of `elapsed` may spend beyond its requests' own: on PostgreSQL each
/// node writes its rate-limit counts every 100 ms while it has any (and, once an hour, deletes
/// old windows with them); on SQLite a commit may start a passive WAL checkpoint, at most
/// every 250 ms.
fn flushes_within(elapsed: Duration) -> u64 {
    match crate::backend::current() {
        Backend::Sqlite => 1 + elapsed.as_millis() as u64 / 250,
        Backend::Postgres => 2 + elapsed.as_millis() as u64 / 100,
    }
}

/// Asserts that `creds` are served from the cache: reads by them take no more statements
/// than the same reads by the configured admin key, which is never looked up (but for
/// rate-limit flushes on PostgreSQL).
async fn assert_cached(app: &TestApp, creds: &Creds) {
    let started = Instant::now();
    let by_admin = statements_for_reads(app, &app.admin, 3).await;
    let by_creds = statements_for_reads(app, creds, 3).await;
    assert!(
        by_creds <= by_admin + flushes_within(started.elapsed()),
        "3 reads took {by_creds} statements with these credentials, {by_admin} with the admin key"
    );
}

async fn assert_refused(app: &TestApp, creds: &Creds) {
    assert_problem(app.get(READ, creds).await, 401, "UNAUTHENTICATED", None).await;
}

async fn a_verified_key_costs_no_statement_on_later_requests() {
    // Arrange
    let app = spawn_app().await;
    listening(&app).await;
    let lead_gen = app.workspace("lead_gen_team").await;
    let sales = app.workspace("salesforce_prod").await;
    app.contact_received_by(&lead_gen, 1, "Jane Roe", "salesforce_prod")
        .await;
    let token = Creds::bearer(&issue_token(&app, &sales).await);
    let n = 30;

    // Act
    let started = Instant::now();
    let reads_by_admin = statements_for_reads(&app, &app.admin, n).await;
    let reads_by_key = statements_for_reads(&app, &sales, n).await;
    let reads_by_token = statements_for_reads(&app, &token, n).await;
    let logs_by_admin = statements_for_logs(&app, &app.admin, "salesforce_prod", n).await;
    let logs_by_key = statements_for_logs(&app, &sales, "salesforce_prod", n).await;
    // The write path's own count varies by a statement here and there; the larger of two runs
    // around the key's is the baseline.
    let logs_by_admin =
        logs_by_admin.max(statements_for_logs(&app, &app.admin, "salesforce_prod", n).await);

    // Assert: a workspace's key or token costs what the admin key costs (on PostgreSQL, plus
    // the rate-limit counts written every 100 ms).
    let allowance = n / 10 + flushes_within(started.elapsed());
    let per = |total: u64| total as f64 / n as f64;
    eprintln!(
        "statements per request ({:?}): GET {READ}: admin key {:.2}, workspace key {:.2}, \
         token {:.2}; POST /conversions/log: admin key {:.2}, workspace key {:.2}",
        crate::backend::current(),
        per(reads_by_admin),
        per(reads_by_key),
        per(reads_by_token),
        per(logs_by_admin),
        per(logs_by_key),
    );
    // A workspace's conversion costs the writer one statement the admin's does not: the check
    // that the workspace may see the contact (one per group, here a group per request).
    let tenancy_checks = n;
    for (what, total, baseline) in [
        ("reads by key", reads_by_key, reads_by_admin),
        ("reads by token", reads_by_token, reads_by_admin),
        ("logs by key", logs_by_key, logs_by_admin + tenancy_checks),
    ] {
        assert!(
            total <= baseline + allowance,
            "{what}: {total} statements for {n} requests, against {baseline} with the admin key"
        );
    }
}

/// An app with the workspace `sales`, whose key and a token minted from it are cached.
async fn cached_key_and_token() -> (TestApp, Creds, Creds) {
    let app = spawn_app().await;
    listening(&app).await;
    let sales = app.workspace("sales").await;
    let token = Creds::bearer(&issue_token(&app, &sales).await);
    assert_cached(&app, &sales).await;
    assert_cached(&app, &token).await;
    (app, sales, token)
}

async fn a_revoked_key_and_its_tokens_are_refused_on_the_next_request() {
    // Arrange
    let (app, sales, token) = cached_key_and_token().await;

    // Act
    app.revoke_keys("sales").await;

    // Assert
    assert_refused(&app, &sales).await;
    assert_refused(&app, &token).await;
}

async fn a_rotated_out_key_is_refused_once_its_grace_ends_though_it_was_cached() {
    // Arrange: a grace of 0 ends the old key at once; one of 2 s, while it is cached.
    for grace in [0, 2] {
        let app = spawn_app_with(&["--key-rotation-grace-seconds", &grace.to_string()]).await;
        listening(&app).await;
        let old = app.workspace("sales").await;
        assert_cached(&app, &old).await;

        // Act
        let rotated = expect_json(
            app.post_json("/workspaces/sales/keys/rotate", &old, &json!({}))
                .await,
            200,
        )
        .await;
        let new = Creds::headers("sales", rotated["api_key"].as_str().expect("a key"));

        // Assert
        assert_cached(&app, &new).await;
        if grace > 0 {
            assert_cached(&app, &old).await;
            tokio::time::sleep(Duration::from_millis(grace * 1000 + 200)).await;
        }
        assert_refused(&app, &old).await;
        assert_eq!(status(&app, &new).await, 200, "the new key works");
    }
}

async fn a_disabled_workspace_is_refused_at_once_and_an_enabled_one_served_at_once() {
    // Arrange
    let (app, sales, token) = cached_key_and_token().await;

    // Act + Assert
    let disable = app
        .post_json("/workspaces/sales/disable", &app.admin, &json!({}))
        .await;
    expect_json(disable, 200).await;
    assert_refused(&app, &sales).await;
    assert_refused(&app, &token).await;
    let enable = app
        .post_json("/workspaces/sales/enable", &app.admin, &json!({}))
        .await;
    expect_json(enable, 200).await;
    assert_eq!(status(&app, &sales).await, 200);
    assert_eq!(status(&app, &token).await, 200);
}

/// `PATCH /workspaces/sales` as the admin, expecting `200`.
async fn change(app: &TestApp, body: serde_json::Value) {
    expect_json(
        app.patch_json("/workspaces/sales", &app.admin, &body).await,
        200,
    )
    .await;
}

async fn a_change_of_permissions_or_limit_applies_to_the_next_request() {
    // Arrange
    let (app, sales, token) = cached_key_and_token().await;

    // Act + Assert: without `read`, reading is forbidden at once, by key and by token…
    change(&app, json!({ "permissions": ["convert"] })).await;
    for creds in [&sales, &token] {
        assert_problem(app.get(READ, creds).await, 403, "FORBIDDEN", None).await;
    }
    // …and allowed again at once.
    change(&app, json!({ "permissions": ["read"] })).await;
    assert_eq!(status(&app, &sales).await, 200);
    assert_eq!(status(&app, &token).await, 200);
    // A lower limit than already used refuses the next request.
    change(&app, json!({ "rate_limit_per_hour": 2 })).await;
    let refused = app.get(READ, &sales).await;
    assert_eq!(
        refused
            .headers()
            .get("x-ratelimit-limit")
            .and_then(|v| v.to_str().ok()),
        Some("2")
    );
    assert_problem(refused, 429, "RATE_LIMITED", None).await;
}

crate::backend::on_both_backends!(
    a_verified_key_costs_no_statement_on_later_requests,
    a_revoked_key_and_its_tokens_are_refused_on_the_next_request,
    a_rotated_out_key_is_refused_once_its_grace_ends_though_it_was_cached,
    a_disabled_workspace_is_refused_at_once_and_an_enabled_one_served_at_once,
    a_change_of_permissions_or_limit_applies_to_the_next_request,
);

/// How long another node may take to hear of a change: a NOTIFY on a local PostgreSQL.
const ACROSS_NODES: Duration = Duration::from_secs(1);

/// Polls `node` until `creds` get `expected`; returns how long that took.
async fn until_status(node: &TestApp, creds: &Creds, expected: u16) -> Duration {
    let started = Instant::now();
    while started.elapsed() < ACROSS_NODES * 5 {
        if status(node, creds).await == expected {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the node never answered {expected}");
}

async fn listening_node(url: &str) -> Node {
    let node = start(convio(url)).await;
    listening(&node.app).await;
    node
}

/// Two convio processes on one PostgreSQL database: a key cached on node B stops working
/// there within moments of being revoked through node A, and a permission change made
/// through A applies on B as promptly.
#[tokio::test]
async fn a_change_through_one_node_applies_on_another_within_moments() {
    run_on(Backend::Postgres, async {
        // Arrange
        let url = crate::backend::fresh_postgres_database().await;
        let (a, b) = (listening_node(&url).await, listening_node(&url).await);
        let (a, b) = (&a.app, &b.app);
        let reader = a.workspace("reader").await;
        let sales = a.workspace("sales").await;
        let token = Creds::bearer(&issue_token(a, &sales).await);
        for creds in [&reader, &sales, &token] {
            assert_cached(b, creds).await;
        }

        // Act + Assert: revoked through A, refused by B…
        a.revoke_keys("sales").await;
        let revoked = until_status(b, &sales, 401).await;
        assert_refused(b, &token).await;
        // …and a permission taken away through A, taken away on B.
        let change = a
            .patch_json(
                "/workspaces/reader",
                &a.admin,
                &json!({ "permissions": ["convert"] }),
            )
            .await;
        expect_json(change, 200).await;
        let changed = until_status(b, &reader, 403).await;
        eprintln!("node B refused after {revoked:?} (revoked), {changed:?} (permissions)");
        assert!(revoked < ACROSS_NODES, "revocation took {revoked:?}");
        assert!(changed < ACROSS_NODES, "the change took {changed:?}");
    })
    .await;
}
