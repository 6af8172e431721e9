//! Per-workspace rate limits (plan §5.1): so many requests per clock hour, then 429 (REST)
//! or `RATE_LIMITED` (GraphQL, over HTTP and per operation over WebSocket) until the hour is
//! over. The admin key is never limited.
//!
//! (A run that straddles the top of the hour would see the counts reset; the tests make a
//! handful of requests in well under a second.)

use crate::helpers::{
    Creds, FEED_SUBSCRIPTION, FeedSocket, TestApp, assert_graphql_error, assert_problem,
    refused_subscription_code, spawn_app, spawn_app_on, spawn_app_with,
};
use reqwest::Response;
use serde_json::{Value, json};

fn header(response: &Response, name: &str) -> Option<u64> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Registers `id` over REST with `rate_limit_per_hour` (if any) and returns its credentials.
async fn register_limited(app: &TestApp, id: &str, per_hour: Option<i64>) -> Creds {
    let mut body = json!({ "workspace_id": id, "workspace_name": id });
    if let Some(per_hour) = per_hour {
        body["rate_limit_per_hour"] = json!(per_hour);
    }
    let response = app
        .post_json("/workspaces/register", &app.admin, &body)
        .await;
    assert_eq!(response.status().as_u16(), 201);
    let body: serde_json::Value = response.json().await.expect("JSON");
    Creds::headers(id, body["api_key"].as_str().expect("an api_key"))
}

async fn assert_allowed(app: &TestApp, creds: &Creds, remaining: u64) {
    let response = app.get("/conversions", creds).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(header(&response, "x-ratelimit-remaining"), Some(remaining));
}

async fn assert_refused(app: &TestApp, creds: &Creds) {
    let response = app.get("/conversions", creds).await;
    let retry_after = header(&response, "retry-after").expect("a Retry-After header");
    assert!(
        (1..=3600).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert_eq!(header(&response, "x-ratelimit-remaining"), Some(0));
    assert_problem(response, 429, "RATE_LIMITED", None).await;
}

async fn the_fourth_request_over_a_limit_of_three_is_refused_with_retry_after() {
    // Arrange
    let app = spawn_app().await;
    let creds = register_limited(&app, "small_team", Some(3)).await;

    // Act
    let first = app.get("/conversions", &creds).await;

    // Assert
    assert_eq!(first.status().as_u16(), 200);
    assert_eq!(header(&first, "x-ratelimit-limit"), Some(3));
    assert_eq!(header(&first, "x-ratelimit-remaining"), Some(2));
    let reset = header(&first, "x-ratelimit-reset").expect("X-RateLimit-Reset");
    assert!((1..=3600).contains(&reset), "reset {reset}");
    assert_allowed(&app, &creds, 1).await;
    assert_allowed(&app, &creds, 0).await;
    assert_refused(&app, &creds).await;
    assert_refused(&app, &creds).await;
}

async fn graphql_over_the_default_limit_answers_rate_limited() {
    // Arrange
    let app = spawn_app_with(&["--rate-limit-per-hour", "3"]).await;
    let creds = app.workspace("workspace_123").await;
    let query = "{ conversions { nodes { id } } }";

    // Act
    for _ in 0..3 {
        let body = app.graphql(&creds, query, json!({})).await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let response = app
        .rest(reqwest::Method::POST, "/graphql", &creds)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();

    let needs_no_caller = app
        .rest(reqwest::Method::POST, "/graphql", &creds)
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();

    // Assert: a GraphQL client's retry logic reads the status and Retry-After, as REST's; a
    // document that needed no caller was answered, so it is not a 429.
    assert_eq!(needs_no_caller.status().as_u16(), 200);
    assert_eq!(response.status().as_u16(), 429);
    let retry_after = header(&response, "retry-after").expect("Retry-After");
    assert!(
        (1..=3600).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert_eq!(header(&response, "x-ratelimit-remaining"), Some(0));
    let refused: serde_json::Value = response.json().await.unwrap();
    assert_graphql_error(&refused, "RATE_LIMITED", None);
    assert_refused(&app, &creds).await;
}

async fn graphql_registration_sets_a_workspaces_own_limit() {
    // Arrange
    let app = spawn_app().await;
    let data = app
        .graphql_data(
            &app.admin,
            "mutation($input: RegisterWorkspaceInput!) { registerWorkspace(input: $input) { apiKey } }",
            json!({ "input": { "workspaceId": "one_shot", "workspaceName": "One shot",
                               "rateLimitPerHour": 1 } }),
        )
        .await;
    let key = data["registerWorkspace"]["apiKey"].as_str().expect("a key");
    let creds = Creds::headers("one_shot", key);

    // Act + Assert
    assert_allowed(&app, &creds, 0).await;
    assert_refused(&app, &creds).await;
}

async fn other_workspaces_and_the_admin_are_not_affected() {
    // Arrange
    let app = spawn_app_with(&["--rate-limit-per-hour", "1"]).await;
    let busy = app.workspace("busy").await;
    let quiet = app.workspace("quiet").await;
    assert_allowed(&app, &busy, 0).await;
    assert_refused(&app, &busy).await;

    // Act + Assert
    assert_allowed(&app, &quiet, 0).await;
    for _ in 0..5 {
        let response = app.get("/conversions", &app.admin).await;
        assert_eq!(response.status().as_u16(), 200);
        assert!(response.headers().get("x-ratelimit-limit").is_none());
    }
}

async fn a_workspace_limit_of_zero_is_unlimited_and_a_negative_one_is_refused() {
    // Arrange
    let app = spawn_app_with(&["--rate-limit-per-hour", "1"]).await;
    let unlimited = register_limited(&app, "unlimited", Some(0)).await;

    // Act + Assert
    for _ in 0..3 {
        let response = app.get("/conversions", &unlimited).await;
        assert_eq!(response.status().as_u16(), 200);
        assert!(response.headers().get("x-ratelimit-limit").is_none());
    }
    let response = app
        .post_json(
            "/workspaces/register",
            &app.admin,
            &json!({ "workspace_id": "neg", "workspace_name": "neg", "rate_limit_per_hour": -1 }),
        )
        .await;
    assert_problem(response, 422, "BAD_USER_INPUT", Some("rate_limit_per_hour")).await;
}

/// The next message for operation `id` (`next` or `error`), passing over the others
/// (`complete`s, and events of other operations such as a live feed).
async fn reply_to(socket: &mut FeedSocket, id: &str) -> Value {
    loop {
        let message = socket
            .next_message()
            .await
            .unwrap_or_else(|| panic!("no reply to operation {id}"));
        if message["id"] == id && message["type"] != "complete" {
            return message;
        }
    }
}

const LOG_SALE: &str =
    "mutation($input: LogConversionInput!) { logConversion(input: $input) { id } }";

fn sale_on(contact: i64) -> Value {
    json!({ "input": { "contactId": contact.to_string(), "convertedBy": "agent",
                       "conversionType": "sale" } })
}

/// `id`'s reply carries data and no errors.
async fn assert_ran(socket: &mut FeedSocket, id: &str) -> Value {
    let reply = reply_to(socket, id).await;
    assert_eq!(reply["type"], "next", "{reply}");
    assert!(reply["payload"]["errors"].is_null(), "{reply}");
    reply["payload"]["data"].clone()
}

async fn every_operation_over_a_websocket_counts_and_one_over_the_limit_does_not_run() {
    // Arrange: a limit of 6; creating the contact is request 1. Opening and initialising the
    // socket counts nothing.
    let app = spawn_app().await;
    let creds = register_limited(&app, "streamer", Some(6)).await;
    app.create_contact(&creds, 1, "Socket target").await;
    let mut socket = app.feed_socket().await;
    socket
        .init(creds.connection_init_payload())
        .await
        .expect("connection acknowledged");

    // Act: a subscription (2), a query (3) and two mutations (4, 5) over the socket, then one
    // HTTP request (6), then a mutation and a query over the socket.
    socket.subscribe("feed", FEED_SUBSCRIPTION, json!({})).await;
    app.wait_for_subscribers(1).await;
    socket
        .subscribe("query", "{ conversions { nodes { id } } }", json!({}))
        .await;
    assert_ran(&mut socket, "query").await;
    for id in ["sale-1", "sale-2"] {
        socket.subscribe(id, LOG_SALE, sale_on(1)).await;
        assert_ran(&mut socket, id).await;
    }
    assert_allowed(&app, &creds, 0).await;
    socket.subscribe("sale-3", LOG_SALE, sale_on(1)).await;
    let refused_mutation = reply_to(&mut socket, "sale-3").await;
    socket
        .subscribe("query-2", "{ conversions { nodes { id } } }", json!({}))
        .await;
    let refused_query = reply_to(&mut socket, "query-2").await;

    // Assert: both refused with RATE_LIMITED, the refused sale not written, HTTP refused too.
    for refused in [&refused_mutation, &refused_query] {
        assert_eq!(refused["type"], "error", "{refused}");
        assert_eq!(refused_subscription_code(refused), "RATE_LIMITED");
        let retry = refused["payload"][0]["extensions"]["retryAfterSeconds"].as_u64();
        assert!(retry.is_some_and(|s| (1..=3600).contains(&s)), "{refused}");
    }
    assert_eq!(
        app.all_conversions().await.len(),
        2,
        "the refused sale wrote nothing"
    );
    assert_refused(&app, &creds).await;

    // The socket stays usable: its live subscription still delivers.
    let logged = app
        .log_conversion(
            &app.admin,
            json!({ "contact_id": 1, "converted_by": "agent", "conversion_type": "sale",
                    "workspace_id": "streamer" }),
        )
        .await;
    loop {
        let event = assert_ran(&mut socket, "feed").await;
        if event["conversionFeed"]["conversion"]["id"] == logged["id"] {
            break;
        }
    }
}

async fn a_batch_over_a_websocket_counts_each_item() {
    // Arrange: a limit of 5; creating the contact is request 1.
    let app = spawn_app().await;
    let creds = register_limited(&app, "batcher", Some(5)).await;
    app.create_contact(&creds, 1, "Batch target").await;
    let mut socket = app.feed_socket().await;
    socket
        .init(creds.connection_init_payload())
        .await
        .expect("connection acknowledged");
    let batch = "mutation($items: [LogConversionItem!]!) { logConversions(conversions: $items) { status } }";
    let item = json!({ "conversion": { "contactId": "1", "convertedBy": "agent", "conversionType": "sale" } });

    // Act: three items are requests 2 to 4; one HTTP request is the 5th.
    socket
        .subscribe("batch", batch, json!({ "items": vec![item; 3] }))
        .await;
    assert_ran(&mut socket, "batch").await;

    // Assert
    assert_allowed(&app, &creds, 0).await;
    socket.subscribe("sale", LOG_SALE, sale_on(1)).await;
    let refused = reply_to(&mut socket, "sale").await;
    assert_eq!(refused_subscription_code(&refused), "RATE_LIMITED");
    assert_eq!(app.all_conversions().await.len(), 3);
}

/// `n` sales for contact 1, as a REST batch body.
fn rest_batch(n: usize) -> serde_json::Value {
    let item = json!({ "contact_id": 1, "converted_by": "agent", "conversion_type": "sale" });
    json!({ "conversions": vec![item; n] })
}

async fn each_item_of_a_batch_counts_as_a_request_and_an_over_limit_batch_writes_nothing() {
    // Arrange: a limit of 10; creating the contact is request 1.
    let app = spawn_app().await;
    let creds = register_limited(&app, "batcher", Some(10)).await;
    app.create_contact(&creds, 1, "Batch target").await;
    let graphql_batch = "mutation($items: [LogConversionItem!]!) { logConversions(conversions: $items) { status } }";
    let item = json!({ "conversion": { "contactId": "1", "convertedBy": "agent", "conversionType": "sale" } });

    // Act
    let five = app
        .post_json("/conversions/batch", &creds, &rest_batch(5))
        .await;
    let five_more = app
        .rest(reqwest::Method::POST, "/graphql", &creds)
        .json(&json!({ "query": graphql_batch, "variables": { "items": vec![item; 5] } }))
        .send()
        .await
        .unwrap();
    let five_more_status = five_more.status().as_u16();
    let five_more_retry_after = header(&five_more, "retry-after");
    let five_more: serde_json::Value = five_more.json().await.unwrap();
    let logged_after_refusal = app.all_conversions().await.len();
    let three = app
        .post_json("/conversions/batch", &creds, &rest_batch(3))
        .await;

    // Assert: 1 + 5 = 6; the GraphQL request is 7 and its 4 further items would make 11:
    // refused whole, the items not counted; then 7 + 3 = 10, and the next request is over.
    assert_eq!(five.status().as_u16(), 200);
    assert_graphql_error(&five_more, "RATE_LIMITED", None);
    assert_eq!(
        five_more_status, 429,
        "refused whole, as REST's batch is: {five_more}"
    );
    assert!(five_more_retry_after.is_some_and(|s| s >= 1));
    assert_eq!(logged_after_refusal, 5, "the refused batch wrote nothing");
    assert_eq!(three.status().as_u16(), 200);
    assert_refused(&app, &creds).await;
    assert_eq!(app.all_conversions().await.len(), 8);
}

/// 130 requests at once against a limit of 100: one node knows all its own counts, so exactly
/// 100 pass on either database, though PostgreSQL writes them in groups.
async fn at_once_exactly_the_limit_passes() {
    // Arrange
    let app = spawn_app().await;
    let creds = register_limited(&app, "busy_team", Some(100)).await;

    // Act
    let requests = (0..130).map(|_| app.get("/conversions?limit=1", &creds));
    let statuses: Vec<u16> = futures_util::future::join_all(requests)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();

    // Assert
    let passed = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((passed, refused), (100, 30), "{statuses:?}");
    assert_refused(&app, &creds).await;
}

crate::backend::on_both_backends!(
    at_once_exactly_the_limit_passes,
    each_item_of_a_batch_counts_as_a_request_and_an_over_limit_batch_writes_nothing,
    every_operation_over_a_websocket_counts_and_one_over_the_limit_does_not_run,
    a_batch_over_a_websocket_counts_each_item,
    the_fourth_request_over_a_limit_of_three_is_refused_with_retry_after,
    graphql_over_the_default_limit_answers_rate_limited,
    graphql_registration_sets_a_workspaces_own_limit,
    other_workspaces_and_the_admin_are_not_affected,
    a_workspace_limit_of_zero_is_unlimited_and_a_negative_one_is_refused,
);

/// Two nodes on one PostgreSQL database count against the same limit.
#[tokio::test]
async fn nodes_share_one_count_on_postgres() {
    if crate::backend::postgres_or_skip().await.is_none() {
        return;
    }
    // Arrange
    let url = crate::backend::fresh_postgres_database().await;
    let node_a = spawn_app_on(&url, &[]).await;
    let node_b = spawn_app_on(&url, &[]).await;
    let creds = register_limited(&node_a, "shared", Some(3)).await;

    // Act + Assert: 2 on A, 1 on B, then the 4th (on B, then on A) is refused.
    assert_allowed(&node_a, &creds, 2).await;
    assert_allowed(&node_a, &creds, 1).await;
    assert_allowed(&node_b, &creds, 0).await;
    assert_refused(&node_b, &creds).await;
    assert_refused(&node_a, &creds).await;
}

/// Two nodes taking turns against a limit of 64 pass it by at most the bound the rate-limit
/// module documents: N × max(1, L / 32) = 2 × 2.
#[tokio::test]
async fn two_nodes_pass_a_limit_by_at_most_the_documented_bound() {
    if crate::backend::postgres_or_skip().await.is_none() {
        return;
    }
    // Arrange
    let url = crate::backend::fresh_postgres_database().await;
    let nodes = [spawn_app_on(&url, &[]).await, spawn_app_on(&url, &[]).await];
    let creds = register_limited(&nodes[0], "shared", Some(64)).await;

    // Act
    let mut passed = 0;
    for i in 0..100 {
        let response = nodes[i % 2].get("/conversions?limit=1", &creds).await;
        passed += usize::from(response.status().as_u16() == 200);
    }

    // Assert
    assert!((64..=68).contains(&passed), "{passed} of 100 passed");
}
