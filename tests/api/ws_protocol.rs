//! graphql-transport-ws as PROTOCOL.md of the reference `graphql-ws` has it, on `/graphql/ws`:
//! every close code the server uses (4400, 4401, 4403, 4408, 4409, 4429), each with a reason
//! that fits a close frame (at most 123 bytes) and quotes no parser; `error` messages with
//! `extensions.code` for operations that fail as a whole; ping and pong; `complete` from the
//! client; and the deprecated `graphql-ws` subprotocol refused at the upgrade.

use crate::helpers::{Creds, FEED_SUBSCRIPTION, TestApp, WAIT, spawn_app, spawn_app_with};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// RFC 6455: a close frame carries at most 125 bytes, two of them the code.
const MAX_CLOSE_REASON: usize = 123;

const LOG_SALE: &str =
    "mutation($input: LogConversionInput!) { logConversion(input: $input) { id } }";

fn sale_on(contact: i64) -> Value {
    json!({ "input": { "contactId": contact.to_string(), "convertedBy": "agent",
                       "conversionType": "sale" } })
}

/// A raw graphql-transport-ws client: sends any text, and reads messages and the close as
/// they come (the server never pings, so nothing is answered on the way).
struct Socket {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// Upgrades `/graphql/ws` offering `protocols` (`Sec-WebSocket-Protocol`, if any): the socket
/// and the subprotocol the server chose, or the status and body of the refusal.
async fn upgrade(
    app: &TestApp,
    protocols: Option<&'static str>,
) -> Result<(Socket, Option<String>), (u16, String)> {
    let mut request = format!("ws://127.0.0.1:{}/graphql/ws", app.port)
        .into_client_request()
        .expect("a WebSocket request");
    if let Some(protocols) = protocols {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(protocols),
        );
    }
    let upgraded = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("an answer to the upgrade");
    match upgraded {
        Ok((stream, response)) => {
            let chosen = response
                .headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok((Socket { stream }, chosen))
        }
        Err(WsError::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            Err((
                response.status().as_u16(),
                String::from_utf8_lossy(&body).into_owned(),
            ))
        }
        Err(other) => panic!("WebSocket upgrade failed: {other}"),
    }
}

impl Socket {
    /// A socket speaking graphql-transport-ws, not yet initialised.
    async fn open(app: &TestApp) -> Socket {
        let (socket, chosen) = upgrade(app, Some("graphql-transport-ws"))
            .await
            .expect("upgraded");
        assert_eq!(chosen.as_deref(), Some("graphql-transport-ws"));
        socket
    }

    /// A socket whose `connection_init` with `creds` was acknowledged.
    async fn acknowledged(app: &TestApp, creds: &Creds) -> Socket {
        let mut socket = Socket::open(app).await;
        socket.init(creds).await;
        let ack = socket.next_message().await;
        assert_eq!(ack, json!({ "type": "connection_ack" }));
        socket
    }

    async fn init(&mut self, creds: &Creds) {
        self.send(json!({ "type": "connection_init", "payload": creds.connection_init_payload() }))
            .await;
    }

    async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::Text(text.to_owned().into()))
            .await
            .expect("WebSocket send");
    }

    async fn send(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({ "id": id, "type": "subscribe",
                          "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// The next message; panics on a close or when nothing comes in time.
    async fn next_message(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("a message within the timeout");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(text.as_str()).expect("a JSON message");
                }
                Some(Ok(Message::Close(frame))) => panic!("expected a message, got {frame:?}"),
                Some(Ok(_)) => continue,
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// The close the server sends next, as (code, reason). The frame must be well formed:
    /// a reason over 123 bytes breaks it, and clients then see 1006 without a reason.
    async fn closed(&mut self) -> (u16, String) {
        loop {
            let frame = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("a close within the timeout");
            match frame {
                Some(Ok(Message::Close(Some(frame)))) => {
                    let reason = frame.reason.as_str().to_owned();
                    assert!(reason.len() <= MAX_CLOSE_REASON, "{} bytes", reason.len());
                    return (u16::from(frame.code), reason);
                }
                Some(Ok(Message::Text(text))) => panic!("expected a close, got {text}"),
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame with a code, got {other:?}"),
            }
        }
    }

    /// Proves that nothing was sent before this point: the next message is the `pong`.
    async fn assert_nothing_pending(&mut self) {
        self.send(json!({ "type": "ping", "payload": { "marker": true } }))
            .await;
        let next = self.next_message().await;
        assert_eq!(
            next,
            json!({ "type": "pong", "payload": { "marker": true } })
        );
    }
}

/// A reason that says what was wrong without quoting a parser (serde's "at line 1 column 5",
/// "expected one of …", "unknown variant …").
fn assert_plain(reason: &str) {
    for internal in ["line ", "column", "expected", "variant", "EOF", "Error("] {
        assert!(!reason.contains(internal), "{reason}");
    }
}

async fn subscribe_before_connection_ack_closes_with_4401() {
    // Arrange
    let app = spawn_app().await;
    let mut socket = Socket::open(&app).await;

    // Act: an operation, before any connection_init.
    socket.subscribe("1", "{ __typename }", json!({})).await;

    // Assert
    assert_eq!(socket.closed().await, (4401, "Unauthorized".to_owned()));
}

async fn a_second_connection_init_closes_with_4429() {
    // Arrange
    let app = spawn_app().await;
    let mut socket = Socket::acknowledged(&app, &app.admin).await;

    // Act
    socket.init(&app.admin).await;

    // Assert
    assert_eq!(
        socket.closed().await,
        (4429, "Too many initialisation requests".to_owned())
    );
}

async fn refused_credentials_close_with_4403() {
    // Arrange
    let app = spawn_app().await;
    let mut socket = Socket::open(&app).await;

    // Act
    socket
        .init(&Creds::headers("workspace_123", "wrong-key-wrong-key"))
        .await;

    // Assert
    let (code, reason) = socket.closed().await;
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.starts_with("Forbidden"), "{reason}");
}

async fn a_socket_that_never_initialises_closes_with_4408() {
    // Arrange
    let app = spawn_app_with(&["--ws-init-timeout-seconds", "1"]).await;
    let mut socket = Socket::open(&app).await;

    // Act: a ping is not a connection_init.
    socket.send(json!({ "type": "ping" })).await;
    assert_eq!(socket.next_message().await, json!({ "type": "pong" }));

    // Assert
    assert_eq!(
        socket.closed().await,
        (4408, "Connection initialisation timeout".to_owned())
    );
}

async fn a_duplicate_running_id_closes_with_4409() {
    // Arrange: subscription "1" is running.
    let app = spawn_app().await;
    let mut socket = Socket::acknowledged(&app, &app.admin).await;
    socket.subscribe("1", FEED_SUBSCRIPTION, json!({})).await;
    app.wait_for_subscribers(1).await;

    // Act: a query under the same id.
    socket
        .subscribe("1", "{ conversions { nodes { id } } }", json!({}))
        .await;

    // Assert
    assert_eq!(
        socket.closed().await,
        (4409, "Subscriber for 1 already exists".to_owned())
    );
}

async fn a_long_duplicate_id_is_cut_short_in_the_close_reason() {
    // Arrange
    let app = spawn_app().await;
    let id = "é".repeat(150);
    let mut socket = Socket::acknowledged(&app, &app.admin).await;
    socket.subscribe(&id, FEED_SUBSCRIPTION, json!({})).await;
    app.wait_for_subscribers(1).await;

    // Act
    socket.subscribe(&id, FEED_SUBSCRIPTION, json!({})).await;

    // Assert: a well-formed close (checked by `closed`) that still says what happened.
    let (code, reason) = socket.closed().await;
    assert_eq!(code, 4409);
    assert!(reason.starts_with("Subscriber for éé"), "{reason}");
    assert!(reason.ends_with("… already exists"), "{reason}");
}

async fn completing_a_subscription_stops_it_and_frees_its_id() {
    // Arrange
    let app = spawn_app().await;
    let acme = app.workspace("acme").await;
    app.create_contact(&acme, 1, "Jane Roe").await;
    let mut socket = Socket::acknowledged(&app, &acme).await;
    socket.subscribe("1", FEED_SUBSCRIPTION, json!({})).await;
    app.wait_for_subscribers(1).await;

    // Act: complete it (and an id that never ran, which is ignored), then reuse the id.
    socket.send(json!({ "type": "complete", "id": "1" })).await;
    socket
        .send(json!({ "type": "complete", "id": "never-ran" }))
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.metric("convio_feed_subscribers").await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the subscription kept running"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    socket.assert_nothing_pending().await;
    socket.subscribe("1", FEED_SUBSCRIPTION, json!({})).await;
    app.wait_for_subscribers(1).await;
    let logged = app
        .log_conversion(
            &acme,
            json!({ "contact_id": 1, "converted_by": "agent", "conversion_type": "sale" }),
        )
        .await;

    // Assert: the new subscription "1" delivers; the socket was never closed.
    let event = socket.next_message().await;
    assert_eq!(event["id"], "1", "{event}");
    assert_eq!(event["type"], "next", "{event}");
    assert_eq!(
        event["payload"]["data"]["conversionFeed"]["conversion"]["id"],
        logged["id"]
    );
}

/// Each message on a fresh socket (acknowledged first when `after_ack`): closed with 4400
/// and a short, plain reason.
async fn assert_bad_request(app: &TestApp, text: &str, after_ack: bool) -> String {
    let mut socket = if after_ack {
        Socket::acknowledged(app, &app.admin).await
    } else {
        Socket::open(app).await
    };
    socket.send_text(text).await;
    let (code, reason) = socket.closed().await;
    assert_eq!(code, 4400, "{text}: {reason}");
    assert!(reason.starts_with("Invalid message"), "{text}: {reason}");
    assert_plain(&reason);
    reason
}

async fn messages_the_protocol_does_not_define_close_with_4400() {
    // Arrange
    let app = spawn_app().await;
    app.create_contact(&app.admin, 1, "Target").await;
    let long_type = format!(r#"{{"type":"{}"}}"#, "x".repeat(300));
    let legacy_start = json!({ "id": "1", "type": "start",
        "payload": { "query": LOG_SALE, "variables": sale_on(1) } })
    .to_string();

    // Act + Assert: before and after the acknowledgement.
    for text in [
        "not json",
        "{\"type\": \"connection_init\"",
        "[]",
        "{}",
        r#"{"type": 1}"#,
        r#"{"type": "connection_init", "payload": "a token"}"#,
        long_type.as_str(),
    ] {
        assert_bad_request(&app, text, false).await;
    }
    for text in [
        r#"{"type": "subscribe", "payload": {"query": "{ __typename }"}}"#,
        r#"{"type": "subscribe", "id": "", "payload": {"query": "{ __typename }"}}"#,
        r#"{"type": "subscribe", "id": 1, "payload": {"query": "{ __typename }"}}"#,
        r#"{"type": "subscribe", "id": "1"}"#,
        r#"{"type": "subscribe", "id": "1", "payload": {"variables": {}}}"#,
        r#"{"type": "subscribe", "id": "1", "payload": {"query": "{ __typename }", "variables": [1]}}"#,
        r#"{"type": "complete"}"#,
        r#"{"type": "next", "id": "1", "payload": {"data": {}}}"#,
        r#"{"type": "stop", "id": "1"}"#,
        r#"{"type": "connection_terminate"}"#,
        legacy_start.as_str(),
    ] {
        assert_bad_request(&app, text, true).await;
    }
    // The legacy `start` ran nothing.
    assert!(app.all_conversions().await.is_empty());
    let reason = assert_bad_request(&app, &legacy_start, true).await;
    assert!(reason.contains("'subscribe'"), "{reason}");
}

/// The one `error` message for operation `id`, checked for a code on every error.
async fn assert_error_message(socket: &mut Socket, id: &str) -> Value {
    let message = socket.next_message().await;
    assert_eq!(message["id"], id, "{message}");
    assert_eq!(message["type"], "error", "{message}");
    let errors = message["payload"].as_array().expect("a list of errors");
    assert!(!errors.is_empty(), "{message}");
    for error in errors {
        assert!(error["extensions"]["code"].is_string(), "{message}");
    }
    message
}

async fn parse_and_validation_errors_come_as_one_error_message_with_a_code() {
    // Arrange
    let app = spawn_app().await;
    let mut socket = Socket::acknowledged(&app, &app.admin).await;

    // Act + Assert: each fails whole with `error`, no `complete` follows, and the connection
    // carries on.
    socket
        .subscribe("parse", "{ conversions(first: ", json!({}))
        .await;
    let parse = assert_error_message(&mut socket, "parse").await;
    assert_eq!(parse["payload"][0]["extensions"]["code"], "BAD_USER_INPUT");
    socket.assert_nothing_pending().await;

    socket
        .subscribe("validation", "{ noSuchField }", json!({}))
        .await;
    assert_error_message(&mut socket, "validation").await;
    socket.assert_nothing_pending().await;

    socket
        .subscribe(
            "variables",
            "query($first: Int) { conversions(first: $first) { nodes { id } } }",
            json!({ "first": "ten" }),
        )
        .await;
    assert_error_message(&mut socket, "variables").await;
    socket.assert_nothing_pending().await;

    socket
        .subscribe(
            "feed",
            FEED_SUBSCRIPTION,
            json!({ "conversionTypes": ["Sale!"] }),
        )
        .await;
    let refused = assert_error_message(&mut socket, "feed").await;
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    socket.assert_nothing_pending().await;

    // The ids are free again.
    socket.subscribe("parse", "{ __typename }", json!({})).await;
    let next = socket.next_message().await;
    assert_eq!(next["type"], "next", "{next}");
}

async fn a_subscription_without_permission_gets_an_error_message() {
    // Arrange
    let app = spawn_app().await;
    let key = app.register_workspace("writer", &["convert"]).await;
    let mut socket = Socket::acknowledged(&app, &Creds::headers("writer", &key)).await;

    // Act
    socket.subscribe("1", FEED_SUBSCRIPTION, json!({})).await;

    // Assert
    let refused = assert_error_message(&mut socket, "1").await;
    assert_eq!(refused["payload"][0]["extensions"]["code"], "FORBIDDEN");
    socket.assert_nothing_pending().await;
}

async fn a_query_and_a_mutation_are_single_results() {
    // Arrange
    let app = spawn_app().await;
    let acme = app.workspace("acme").await;
    app.create_contact(&acme, 1, "Jane Roe").await;
    let mut socket = Socket::acknowledged(&app, &acme).await;

    // Act
    socket.subscribe("sale", LOG_SALE, sale_on(1)).await;
    let sale = socket.next_message().await;
    let sale_done = socket.next_message().await;
    socket
        .subscribe("list", "{ conversions { nodes { id } } }", json!({}))
        .await;
    let list = socket.next_message().await;
    let list_done = socket.next_message().await;

    // Assert
    assert_eq!(sale["type"], "next", "{sale}");
    let id = &sale["payload"]["data"]["logConversion"]["id"];
    assert!(id.is_string(), "{sale}");
    assert_eq!(sale_done, json!({ "id": "sale", "type": "complete" }));
    assert_eq!(list["type"], "next", "{list}");
    assert_eq!(
        list["payload"]["data"]["conversions"]["nodes"][0]["id"],
        *id
    );
    assert_eq!(list_done, json!({ "id": "list", "type": "complete" }));
}

async fn ping_is_answered_with_pong_at_any_time() {
    // Arrange
    let app = spawn_app().await;
    let mut socket = Socket::open(&app).await;

    // Act + Assert: before connection_init, with and without a payload.
    socket
        .send(json!({ "type": "ping", "payload": { "sent": 1 } }))
        .await;
    assert_eq!(
        socket.next_message().await,
        json!({ "type": "pong", "payload": { "sent": 1 } })
    );
    socket
        .send(json!({ "type": "ping", "payload": null }))
        .await;
    assert_eq!(socket.next_message().await, json!({ "type": "pong" }));

    // After it; an unsolicited pong is a heartbeat and gets no answer.
    socket.init(&app.admin).await;
    assert_eq!(
        socket.next_message().await,
        json!({ "type": "connection_ack" })
    );
    socket.send(json!({ "type": "pong" })).await;
    socket.assert_nothing_pending().await;
}

async fn the_deprecated_graphql_ws_subprotocol_is_refused() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let legacy = upgrade(&app, Some("graphql-ws")).await;
    let none = upgrade(&app, None).await;
    let both = upgrade(&app, Some("graphql-ws, graphql-transport-ws")).await;

    // Assert
    let Err((status, body)) = legacy else {
        panic!("the deprecated subprotocol was accepted");
    };
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("graphql-transport-ws"), "{body}");
    assert!(body.contains("deprecated"), "{body}");
    assert!(matches!(none, Err((400, _))));
    let Ok((mut socket, chosen)) = both else {
        panic!("a client offering graphql-transport-ws was refused");
    };
    assert_eq!(chosen.as_deref(), Some("graphql-transport-ws"));
    socket.init(&app.admin).await;
    assert_eq!(
        socket.next_message().await,
        json!({ "type": "connection_ack" })
    );
}

crate::backend::on_both_backends!(
    subscribe_before_connection_ack_closes_with_4401,
    a_second_connection_init_closes_with_4429,
    refused_credentials_close_with_4403,
    a_socket_that_never_initialises_closes_with_4408,
    a_duplicate_running_id_closes_with_4409,
    a_long_duplicate_id_is_cut_short_in_the_close_reason,
    completing_a_subscription_stops_it_and_frees_its_id,
    messages_the_protocol_does_not_define_close_with_4400,
    parse_and_validation_errors_come_as_one_error_message_with_a_code,
    a_subscription_without_permission_gets_an_error_message,
    a_query_and_a_mutation_are_single_results,
    ping_is_answered_with_pong_at_any_time,
    the_deprecated_graphql_ws_subprotocol_is_refused,
);
