//! Hardening: GraphQL cost limits, production mode, CSRF on `POST /graphql`, and the
//! WebSocket controls (Origin, initialisation timeout, subscriptions per connection).

use crate::helpers::{
    Creds, TestApp, WAIT, assert_graphql_error, assert_problem, refused_subscription_code,
    spawn_app, spawn_app_with,
};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// `contact › conversions › nodes › contact › … › __typename`, `depth` fields deep: ordinary data
/// selections, which `--graphql-max-depth` bounds (null data is fine; depth is refused first).
/// Pages of one row keep it far below the complexity limit.
pub fn nested_query(depth: usize) -> String {
    let chain: Vec<&str> = (1..depth)
        .map(|level| match level {
            1 => "contact(id: \"1\") {",
            l if l % 3 == 2 => "conversions(first: 1) {",
            l if l % 3 == 0 => "nodes {",
            _ => "contact {",
        })
        .collect();
    format!(
        "{{ {} __typename {} }}",
        chain.join(" "),
        "}".repeat(depth - 1)
    )
}

/// One operation selecting `__typename` under `n` different aliases.
fn aliased_query(n: usize) -> String {
    let fields: Vec<String> = (0..n).map(|i| format!("a{i}: __typename")).collect();
    format!("{{ {} }}", fields.join(" "))
}

fn errors_message(body: &Value) -> String {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn a_query_deeper_than_the_default_limit_is_refused() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let at_limit = app.graphql(&app.admin, &nested_query(12), json!({})).await;
    let too_deep = app.graphql(&app.admin, &nested_query(13), json!({})).await;

    // Assert
    assert!(at_limit.get("errors").is_none(), "{at_limit}");
    assert_graphql_error(&too_deep, "BAD_USER_INPUT", None);
    assert!(errors_message(&too_deep).contains("too deep"), "{too_deep}");
    assert!(too_deep["data"].is_null(), "{too_deep}");
}

/// Thirteen fields, none aliased, three deep.
const THIRTEEN_FIELDS: &str = "{ __schema {
    queryType { name description kind }
    mutationType { name description kind }
    subscriptionType { name description kind } } }";

async fn a_query_more_complex_than_the_limit_is_refused() {
    // Arrange
    let default = spawn_app().await;
    let strict = spawn_app_with(&["--graphql-max-complexity", "10"]).await;

    // Act
    let allowed = default
        .graphql(&default.admin, THIRTEEN_FIELDS, json!({}))
        .await;
    let refused = strict
        .graphql(&strict.admin, THIRTEEN_FIELDS, json!({}))
        .await;

    // Assert
    assert!(allowed.get("errors").is_none(), "{allowed}");
    assert_graphql_error(&refused, "BAD_USER_INPUT", None);
    assert!(
        errors_message(&refused).contains("too complex"),
        "{refused}"
    );
}

async fn more_than_thirty_aliases_are_refused() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let thirty = app.graphql(&app.admin, &aliased_query(30), json!({})).await;
    let thirty_one = app.graphql(&app.admin, &aliased_query(31), json!({})).await;

    // Assert
    assert!(thirty.get("errors").is_none(), "{thirty}");
    assert_eq!(thirty["data"]["a29"], "Query");
    assert_graphql_error(&thirty_one, "BAD_USER_INPUT", None);
    assert!(
        errors_message(&thirty_one).contains("aliases"),
        "{thirty_one}"
    );
    assert!(thirty_one["data"].is_null(), "{thirty_one}");
}

const INTROSPECTION: &str = "{ __schema { queryType { name } } }";
const MISSPELLED: &str = "{ conversins(first: 1) { nodes { id } } }";

async fn by_default_introspection_suggestions_and_graphiql_are_served() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let introspection = app.graphql(&app.admin, INTROSPECTION, json!({})).await;
    let misspelled = app.graphql(&app.admin, MISSPELLED, json!({})).await;
    let graphiql = app.get("/graphiql", &Creds::Anonymous).await;

    // Assert
    assert_eq!(
        introspection["data"]["__schema"]["queryType"]["name"],
        "Query"
    );
    assert!(
        errors_message(&misspelled).contains("Did you mean"),
        "{misspelled}"
    );
    assert_eq!(graphiql.status().as_u16(), 200);
}

async fn production_mode_hides_introspection_suggestions_and_graphiql() {
    // Arrange
    let app = spawn_app_with(&["--production", "true"]).await;

    // Act
    let introspection = app.graphql(&app.admin, INTROSPECTION, json!({})).await;
    let misspelled = app.graphql(&app.admin, MISSPELLED, json!({})).await;
    let graphiql = app.get("/graphiql", &Creds::Anonymous).await;
    let ordinary = app
        .graphql(
            &app.admin,
            "{ conversions(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await;

    // Assert
    // The library answers a disabled `__schema` with null rather than an error.
    assert!(
        introspection["data"]["__schema"].is_null(),
        "introspection answered in production: {introspection}"
    );
    assert_graphql_error(&misspelled, "BAD_USER_INPUT", None);
    assert!(
        !errors_message(&misspelled).contains("Did you mean"),
        "{misspelled}"
    );
    assert_problem(graphiql, 404, "NOT_FOUND", None).await;
    assert!(ordinary.get("errors").is_none(), "{ordinary}");
}

const CREATE_CONTACT: &str =
    r#"mutation { createContact(input: { id: "777", name: "Mallory" }) { id } }"#;

async fn a_mutation_posted_as_a_form_or_text_writes_nothing() {
    // Arrange: what a page on another site can make a browser send without a preflight.
    let app = spawn_app().await;
    let body = json!({ "query": CREATE_CONTACT }).to_string();

    for content_type in [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        // Act
        let response = app
            .rest(reqwest::Method::POST, "/graphql", &app.admin)
            .header("Content-Type", content_type)
            .body(body.clone())
            .send()
            .await
            .expect("POST sent");

        // Assert
        crate::graphql_http::assert_graphql_refusal(response, 415, "BAD_USER_INPUT", None).await;
    }
    let missing = app.get("/contacts/777", &app.admin).await;
    assert_problem(missing, 404, "NOT_FOUND", None).await;

    // The same body as JSON is served (the refusal is about the type, not the request).
    let response = app
        .rest(reqwest::Method::POST, "/graphql", &app.admin)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST sent");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        app.get("/contacts/777", &app.admin).await.status().as_u16(),
        200
    );
}

type RawSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens `/graphql/ws` (graphql-transport-ws), with an `Origin` header when given.
async fn open_socket(app: &TestApp, origin: Option<&str>) -> Result<RawSocket, tungstenite::Error> {
    let mut request = format!("ws://127.0.0.1:{}/graphql/ws", app.port)
        .into_client_request()
        .expect("a WebSocket request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", HeaderValue::from_str(origin).expect("an origin"));
    }
    tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("an answer to the upgrade within the timeout")
        .map(|(stream, _)| stream)
}

/// Asserts the upgrade was refused with 403 problem+json.
fn assert_refused_origin(result: Result<RawSocket, tungstenite::Error>) {
    match result {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 403);
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            let body: Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                    .expect("a problem body");
            assert_eq!(body["code"], "FORBIDDEN", "{body}");
        }
        Err(other) => panic!("expected a 403, got {other}"),
        Ok(_) => panic!("the WebSocket was upgraded for a foreign Origin"),
    }
}

async fn a_websocket_from_a_foreign_origin_is_refused() {
    // Arrange
    let app = spawn_app().await;
    let same_origin = format!("http://127.0.0.1:{}", app.port);

    // Act + Assert
    assert_refused_origin(open_socket(&app, Some("https://evil.example")).await);
    assert_refused_origin(open_socket(&app, Some("null")).await);
    open_socket(&app, Some(&same_origin))
        .await
        .expect("a same-origin page may connect");
    open_socket(&app, None)
        .await
        .expect("a client without an Origin (not a browser) may connect");
}

async fn listed_origins_may_open_a_websocket() {
    // Arrange
    let app = spawn_app_with(&[
        "--allowed-origins",
        "https://dash.example,https://ops.example",
    ])
    .await;

    // Act + Assert
    open_socket(&app, Some("https://dash.example"))
        .await
        .expect("a listed origin may connect");
    open_socket(&app, Some("https://ops.example"))
        .await
        .expect("a listed origin may connect");
    assert_refused_origin(open_socket(&app, Some("https://evil.example")).await);
}

async fn a_socket_that_never_initialises_is_closed_with_4408() {
    // Arrange
    let app = spawn_app_with(&["--ws-init-timeout-seconds", "1"]).await;
    let mut silent = open_socket(&app, None).await.expect("upgraded");
    let mut initialised = app.feed_socket().await;
    initialised
        .init(app.admin.connection_init_payload())
        .await
        .expect("acknowledged");

    // Act: say nothing for longer than the timeout.
    let close = tokio::time::timeout(WAIT, async {
        loop {
            match silent.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("closed within the timeout");

    // Assert
    let frame = close.expect("a close frame with a code");
    assert_eq!(u16::from(frame.code), 4408, "{}", frame.reason);
    // The socket that did initialise is still served after the timeout.
    tokio::time::sleep(Duration::from_millis(500)).await;
    initialised.send(json!({ "type": "ping" })).await;
    let pong = initialised.next_message().await.expect("an answer");
    assert_eq!(pong["type"], "pong", "{pong}");
}

async fn subscriptions_over_the_cap_are_refused_on_that_connection() {
    // Arrange
    let app = spawn_app_with(&["--ws-max-subscriptions", "2"]).await;
    let mut socket = app.feed_socket().await;
    socket
        .init(app.admin.connection_init_payload())
        .await
        .expect("acknowledged");
    socket
        .subscribe("1", crate::helpers::FEED_SUBSCRIPTION, json!({}))
        .await;
    socket
        .subscribe("2", crate::helpers::FEED_SUBSCRIPTION, json!({}))
        .await;
    app.wait_for_subscribers(2).await;

    // Act
    socket
        .subscribe("3", crate::helpers::FEED_SUBSCRIPTION, json!({}))
        .await;

    // Assert: refused with a code, and the count did not grow.
    let refusal = socket.next_message().await.expect("an answer to id 3");
    assert_eq!(refusal["id"], "3", "{refusal}");
    assert_eq!(refused_subscription_code(&refusal), "BAD_USER_INPUT");
    assert_eq!(app.metric("convio_feed_subscribers").await, 2);

    // Completing one frees a slot.
    socket.send(json!({ "id": "1", "type": "complete" })).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.metric("convio_feed_subscribers").await > 1 {
        assert!(tokio::time::Instant::now() < deadline, "id 1 never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    socket
        .subscribe("4", crate::helpers::FEED_SUBSCRIPTION, json!({}))
        .await;
    app.wait_for_subscribers(2).await;
}

crate::backend::on_both_backends!(
    a_query_deeper_than_the_default_limit_is_refused,
    a_query_more_complex_than_the_limit_is_refused,
    more_than_thirty_aliases_are_refused,
    by_default_introspection_suggestions_and_graphiql_are_served,
    production_mode_hides_introspection_suggestions_and_graphiql,
    a_mutation_posted_as_a_form_or_text_writes_nothing,
    a_websocket_from_a_foreign_origin_is_refused,
    listed_origins_may_open_a_websocket,
    a_socket_that_never_initialises_is_closed_with_4408,
    subscriptions_over_the_cap_are_refused_on_that_connection,
);
