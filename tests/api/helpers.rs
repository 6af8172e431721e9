//! The test harness: every test spawns its own convio on a random port, backed by a fresh
//! SQLite file in its own temporary directory or a fresh PostgreSQL database (see
//! `backend`), and talks to it only over HTTP and WebSocket.
//!
//! Logs stay silent unless `TEST_LOG=1` is set.

use crate::backend::Backend;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use std::sync::LazyLock;
use std::time::Duration;
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const ADMIN_KEY: &str = "convio_admin_test_key_0123456789abcdef";
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret";

/// How long any single wait on the server (a socket message, a subscriber count) may take.
pub const WAIT: Duration = Duration::from_secs(5);

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("convio=debug,tower_http=debug")
            .with_test_writer()
            .try_init();
    }
});

/// Credentials as a client presents them.
#[derive(Clone, Debug)]
pub enum Creds {
    /// No credentials at all.
    Anonymous,
    /// `X-Workspace-ID` + `X-API-Key` (plan §6).
    Headers {
        workspace_id: String,
        api_key: String,
    },
    /// `Authorization: Bearer <key or jwt>`.
    Bearer(String),
}

impl Creds {
    pub fn headers(workspace_id: &str, api_key: &str) -> Self {
        Creds::Headers {
            workspace_id: workspace_id.to_owned(),
            api_key: api_key.to_owned(),
        }
    }

    pub fn bearer(token: &str) -> Self {
        Creds::Bearer(token.to_owned())
    }

    pub fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Creds::Anonymous => request,
            Creds::Headers {
                workspace_id,
                api_key,
            } => request
                .header("X-Workspace-ID", workspace_id)
                .header("X-API-Key", api_key),
            Creds::Bearer(token) => request.bearer_auth(token),
        }
    }

    /// The same credentials as a graphql-transport-ws `connection_init` payload.
    pub fn connection_init_payload(&self) -> Value {
        match self {
            Creds::Anonymous => json!({}),
            Creds::Headers {
                workspace_id,
                api_key,
            } => {
                json!({ "X-Workspace-ID": workspace_id, "X-API-Key": api_key })
            }
            Creds::Bearer(token) => json!({ "Authorization": format!("Bearer {token}") }),
        }
    }
}

pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub admin: Creds,
    /// The database it serves (empty for `attach`), for tests that read it directly.
    pub database_url: String,
    // Dropped with the app: the database file lives exactly as long as the test.
    _db_dir: Option<TempDir>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// `spawn_app` with extra command-line flags, e.g. `["--rate-limit-per-hour", "3"]`.
pub async fn spawn_app_with(flags: &[&str]) -> TestApp {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = match crate::backend::current() {
        Backend::Sqlite => format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("convio.db").display()
        ),
        Backend::Postgres => crate::backend::fresh_postgres_database().await,
    };
    let mut app = spawn_app_on(&url, flags).await;
    app._db_dir = Some(dir);
    app
}

/// An in-process convio on the database at `url` (which outlives it), with extra flags:
/// several of them on one PostgreSQL database make a cluster.
pub async fn spawn_app_on(url: &str, flags: &[&str]) -> TestApp {
    LazyLock::force(&TRACING);
    let mut args = vec![
        "convio",
        "--bind",
        "127.0.0.1:0",
        "--database-url",
        url,
        "--admin-key",
        ADMIN_KEY,
        "--jwt-secret",
        JWT_SECRET,
        "--db-max-connections",
        "5",
    ];
    args.extend_from_slice(flags);
    let config = convio::Config::parse_from(args);
    let server = convio::build(config).await.expect("app builds");
    let addr = server.local_addr();
    tokio::spawn(server.serve());
    TestApp {
        address: format!("http://{addr}"),
        port: addr.port(),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client"),
        admin: Creds::bearer(ADMIN_KEY),
        database_url: url.to_owned(),
        _db_dir: None,
    }
}

impl TestApp {
    /// A client for a convio already serving on `port` (e.g. a node started as a process).
    pub fn attach(port: u16) -> TestApp {
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            port,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
            admin: Creds::bearer(ADMIN_KEY),
            database_url: String::new(),
            _db_dir: None,
        }
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A request with the given credentials, not yet sent.
    pub fn rest(&self, method: Method, path: &str, creds: &Creds) -> RequestBuilder {
        creds.apply(self.client.request(method, self.url(path)))
    }

    pub async fn get(&self, path: &str, creds: &Creds) -> Response {
        self.rest(Method::GET, path, creds)
            .send()
            .await
            .expect("GET sent")
    }

    pub async fn post_json(&self, path: &str, creds: &Creds, body: &Value) -> Response {
        self.rest(Method::POST, path, creds)
            .json(body)
            .send()
            .await
            .expect("POST sent")
    }

    pub async fn patch_json(&self, path: &str, creds: &Creds, body: &Value) -> Response {
        self.rest(Method::PATCH, path, creds)
            .json(body)
            .send()
            .await
            .expect("PATCH sent")
    }

    /// `POST /workspaces/register` with the admin key; returns the new workspace's API key.
    pub async fn register_workspace(&self, id: &str, permissions: &[&str]) -> String {
        let response = self
            .post_json(
                "/workspaces/register",
                &self.admin,
                &json!({
                    "workspace_id": id,
                    "workspace_name": format!("{id} team"),
                    "permissions": permissions,
                }),
            )
            .await;
        let body = expect_json(response, 201).await;
        body["api_key"].as_str().expect("an api_key").to_owned()
    }

    /// Registers a workspace with the default permissions (read, update, convert) and
    /// returns its `X-Workspace-ID` / `X-API-Key` credentials.
    pub async fn workspace(&self, id: &str) -> Creds {
        let key = self
            .register_workspace(id, &["read", "update", "convert"])
            .await;
        Creds::headers(id, &key)
    }

    /// `POST /workspaces/{id}/keys/revoke` as the admin, expecting `200`.
    pub async fn revoke_keys(&self, workspace_id: &str) {
        let response = self
            .post_json(
                &format!("/workspaces/{workspace_id}/keys/revoke"),
                &self.admin,
                &json!({}),
            )
            .await;
        expect_json(response, 200).await;
    }

    /// `POST /contacts` → the contact.
    pub async fn create_contact(&self, creds: &Creds, id: i64, name: &str) -> Value {
        let response = self
            .post_json("/contacts", creds, &json!({ "id": id, "name": name }))
            .await;
        expect_json(response, 201).await
    }

    /// `POST /leads` → the lead.
    pub async fn create_lead(&self, creds: &Creds, id: i64, contact_id: i64) -> Value {
        let response = self
            .post_json(
                "/leads",
                creds,
                &json!({ "id": id, "contact_id": contact_id }),
            )
            .await;
        expect_json(response, 201).await
    }

    /// `POST /contacts/{id}/send` from the caller's workspace to `to_workspace`.
    pub async fn send_contact(&self, from: &Creds, contact_id: i64, to_workspace: &str) -> Value {
        let response = self
            .post_json(
                &format!("/contacts/{contact_id}/send"),
                from,
                &json!({ "to_workspace_id": to_workspace }),
            )
            .await;
        expect_json(response, 200).await
    }

    /// A contact created by `source` and handed to `to_workspace`, as in real life.
    pub async fn contact_received_by(
        &self,
        source: &Creds,
        id: i64,
        name: &str,
        to_workspace: &str,
    ) {
        self.create_contact(source, id, name).await;
        self.send_contact(source, id, to_workspace).await;
    }

    /// `POST /conversions/log`, expecting `201`; returns the stored conversion.
    pub async fn log_conversion(&self, creds: &Creds, body: Value) -> Value {
        let response = self.post_json("/conversions/log", creds, &body).await;
        expect_json(response, 201).await
    }

    /// `POST /graphql`; returns the whole response (`data` and `errors`).
    pub async fn graphql(&self, creds: &Creds, query: &str, variables: Value) -> Value {
        let response = self
            .rest(Method::POST, "/graphql", creds)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("GraphQL request sent");
        let text = response.text().await.expect("GraphQL body");
        assert_no_internals(&text);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("GraphQL answered non-JSON ({e}): {text}"))
    }

    /// `POST /graphql`, expecting no errors; returns `data`.
    pub async fn graphql_data(&self, creds: &Creds, query: &str, variables: Value) -> Value {
        let body = self.graphql(creds, query, variables).await;
        assert!(
            body.get("errors").is_none_or(Value::is_null),
            "unexpected GraphQL errors: {body}"
        );
        body["data"].clone()
    }

    /// `convio_db_statements_total` from `GET /metrics`.
    pub async fn statements_total(&self) -> u64 {
        self.metric("convio_db_statements_total").await
    }

    pub async fn metric(&self, name: &str) -> u64 {
        let text = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics sent")
            .text()
            .await
            .expect("metrics body");
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
            .trim()
            .parse()
            .expect("a counter value")
    }

    /// Every conversion in the system, as the admin sees it (`GET /conversions`).
    pub async fn all_conversions(&self) -> Vec<Value> {
        let body = expect_json(self.get("/conversions?limit=200", &self.admin).await, 200).await;
        body["conversions"]
            .as_array()
            .expect("a conversions list")
            .clone()
    }

    /// A contact as the admin sees it, with money as exact text (see [`exact`]).
    pub async fn contact_exact(&self, id: i64) -> Value {
        let response = self.get(&format!("/contacts/{id}"), &self.admin).await;
        assert_eq!(response.status().as_u16(), 200, "GET /contacts/{id}");
        exact(&response.text().await.expect("contact body"))
    }

    /// Waits until this node's feed pump has published `n` events since the node started.
    /// The pump publishes a commit's events a moment after the commit answered, so a
    /// subscriber that must not see earlier events subscribes after this.
    pub async fn wait_for_feed_published(&self, n: u64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.metric("convio_feed_events_published_total").await < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the feed pump never published {n} events"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (bounded) until the live feed has at least `n` subscribers.
    pub async fn wait_for_subscribers(&self, n: u64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if self.metric("convio_feed_subscribers").await >= n {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the feed never reached {n} subscribers"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (bounded) until the live feed has at most `n` subscribers.
    pub async fn wait_for_subscribers_at_most(&self, n: u64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.metric("convio_feed_subscribers").await > n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the feed never went down to {n} subscribers"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Opens `/graphql/ws` speaking graphql-transport-ws, without initialising it yet.
    pub async fn feed_socket(&self) -> FeedSocket {
        let mut request = format!("ws://127.0.0.1:{}/graphql/ws", self.port)
            .into_client_request()
            .expect("a WebSocket request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        let (stream, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .expect("WebSocket upgrade within the timeout")
            .expect("WebSocket upgrade");
        FeedSocket { stream }
    }

    /// A socket already acknowledged with `creds` and subscribed (id "1") to `conversionFeed`.
    pub async fn subscribe_feed(&self, creds: &Creds, variables: Value) -> FeedSocket {
        self.subscribe_feed_with(creds, FEED_SUBSCRIPTION, variables)
            .await
    }

    /// The same with another document (`query`) on `conversionFeed`.
    pub async fn subscribe_feed_with(
        &self,
        creds: &Creds,
        query: &str,
        variables: Value,
    ) -> FeedSocket {
        let before = self.metric("convio_feed_subscribers").await;
        let mut socket = self.feed_socket().await;
        socket
            .init(creds.connection_init_payload())
            .await
            .expect("connection acknowledged");
        socket.subscribe("1", query, variables).await;
        self.wait_for_subscribers(before + 1).await;
        socket
    }
}

pub const FEED_SUBSCRIPTION: &str = r#"
subscription Feed($workspaceId: ID, $conversionTypes: [String!]) {
  conversionFeed(workspaceId: $workspaceId, conversionTypes: $conversionTypes) {
    conversion { id contactId workspaceId conversionType conversionValue currency convertedBy }
    contact { id name conversionStatus lifetimeValue conversionCount }
  }
}"#;

/// How the server answered a `connection_init`.
#[derive(Debug)]
pub enum Refusal {
    /// The socket was closed with this code and reason.
    Closed(Option<u16>, String),
    /// A graphql-transport-ws message other than `connection_ack` (e.g. an error).
    Message(Value),
    /// Nothing within the timeout.
    Silence,
}

pub struct FeedSocket {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl FeedSocket {
    pub async fn send(&mut self, message: Value) {
        self.stream
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("WebSocket send");
    }

    /// Sends `connection_init`; `Ok` on `connection_ack`, else how it was refused.
    pub async fn init(&mut self, payload: Value) -> Result<(), Refusal> {
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        match self.receive().await {
            Received::Message(m) if m["type"] == "connection_ack" => Ok(()),
            Received::Message(m) => Err(Refusal::Message(m)),
            Received::Closed(code, reason) => Err(Refusal::Closed(code, reason)),
            Received::Timeout => Err(Refusal::Silence),
        }
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({
            "id": id,
            "type": "subscribe",
            "payload": { "query": query, "variables": variables },
        }))
        .await;
    }

    /// The next `next` payload for any subscription, answering pings on the way; `None`
    /// when nothing arrives within the timeout. Panics on `error` or a closed socket.
    pub async fn next_event(&mut self) -> Option<Value> {
        match self.receive().await {
            Received::Message(m) if m["type"] == "next" => Some(m["payload"].clone()),
            Received::Message(m) => panic!("expected a `next` message, got {m}"),
            Received::Closed(code, reason) => panic!("the feed closed ({code:?}): {reason}"),
            Received::Timeout => None,
        }
    }

    /// The next protocol message of any type (pings answered); `None` on close or timeout.
    pub async fn next_message(&mut self) -> Option<Value> {
        match self.receive().await {
            Received::Message(m) => Some(m),
            Received::Closed(..) | Received::Timeout => None,
        }
    }

    /// The close the server sends next, as (code, reason); panics on a message or a timeout.
    pub async fn expect_close(&mut self) -> (Option<u16>, String) {
        match self.receive().await {
            Received::Closed(code, reason) => (code, reason),
            Received::Message(m) => panic!("expected the socket to close, got {m}"),
            Received::Timeout => panic!("expected the socket to close, but it stayed open"),
        }
    }

    /// The next protocol message (pings answered), the close, or a timeout.
    async fn receive(&mut self) -> Received {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Received::Timeout,
                Ok(frame) => frame,
            };
            match frame {
                None | Some(Err(_)) => return Received::Closed(None, String::new()),
                Some(Ok(Message::Close(frame))) => {
                    return match frame {
                        Some(f) => {
                            Received::Closed(Some(u16::from(f.code)), f.reason.as_str().to_owned())
                        }
                        None => Received::Closed(None, String::new()),
                    };
                }
                Some(Ok(Message::Text(text))) => {
                    let message: Value =
                        serde_json::from_str(text.as_str()).expect("a JSON message");
                    if message["type"] == "ping" {
                        self.send(json!({ "type": "pong" })).await;
                        continue;
                    }
                    return Received::Message(message);
                }
                Some(Ok(_)) => continue,
            }
        }
    }
}

enum Received {
    Message(Value),
    Closed(Option<u16>, String),
    Timeout,
}

/// The error code of a subscription the server refused. graphql-transport-ws allows either an
/// `error` message or a `next` whose payload has `errors` and no data; both are fine, as long
/// as no event is delivered.
pub fn refused_subscription_code(message: &Value) -> String {
    let errors = match message["type"].as_str() {
        Some("error") => &message["payload"],
        Some("next") => {
            assert_eq!(
                message["payload"]["data"],
                Value::Null,
                "a refused subscription got data: {message}"
            );
            &message["payload"]["errors"]
        }
        _ => panic!("expected the subscription to be refused, got {message}"),
    };
    errors[0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {message}"))
        .to_owned()
}

/// Reads a JSON body after checking the status (the body is shown when it differs).
pub async fn expect_json(response: Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.expect("a response body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    assert_no_internals(&text);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Like [`expect_json`], but numbers come back as their exact literal text (see [`exact`]).
pub async fn expect_exact(response: Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.expect("a response body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    exact(&text)
}

/// Asserts an RFC 9457 problem: status, content type, code and (where one field is at
/// fault) the field. Returns the problem body.
pub async fn assert_problem(
    response: Response,
    status: u16,
    code: &str,
    field: Option<&str>,
) -> Value {
    let got = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("a problem body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    assert!(
        content_type.starts_with("application/problem+json"),
        "expected application/problem+json, got {content_type:?}; body: {text}"
    );
    assert_no_internals(&text);
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(body["code"], code, "problem code; body: {text}");
    assert_eq!(body["status"], status, "problem status; body: {text}");
    if let Some(field) = field {
        assert_eq!(body["field"], field, "problem field; body: {text}");
    }
    // The rest of the RFC 9457 shape, as docs/api.md shows it.
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("/problems/")),
        "problem type; body: {text}"
    );
    assert!(body["title"].is_string(), "problem title; body: {text}");
    assert!(body["detail"].is_string(), "problem detail; body: {text}");
    assert!(
        body["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "problem request_id; body: {text}"
    );
    body
}

/// The first GraphQL error, asserting its `extensions.code` (and `extensions.field`).
pub fn assert_graphql_error(body: &Value, code: &str, field: Option<&str>) -> Value {
    let error = body["errors"]
        .as_array()
        .and_then(|errors| errors.first())
        .unwrap_or_else(|| panic!("expected a GraphQL error, got {body}"))
        .clone();
    assert_eq!(error["extensions"]["code"], code, "error code in {body}");
    if let Some(field) = field {
        assert_eq!(error["extensions"]["field"], field, "error field in {body}");
    }
    error
}

/// No client ever sees SQL, driver names or panics. A marker counts only as a word, not
/// between letters or digits: random tokens (a JWT, an API key) are made of those, and one
/// held `fSQLuf`.
pub fn assert_no_internals(text: &str) {
    let alphanumeric = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    for leak in [
        "SQL",
        "SQLite",
        "PostgreSQL",
        "SQLSTATE",
        "sqlx",
        "sea_orm",
        "DbErr",
        "panicked",
        "RUST_BACKTRACE",
    ] {
        let leaked = text.match_indices(leak).any(|(at, _)| {
            !alphanumeric(text[..at].chars().next_back())
                && !alphanumeric(text[at + leak.len()..].chars().next())
        });
        assert!(!leaked, "response leaks internals ({leak}): {text}");
    }
}

#[test]
fn internals_are_found_as_words_not_inside_tokens() {
    for leak in [
        "error returned from database: SQL logic error",
        r#"{"message":"sqlx::Error"}"#,
        "Custom(DbErr(\"x\"))",
        "thread 'main' panicked at src/x.rs",
        "SQLite busy",
        "PostgreSQL: relation does not exist",
    ] {
        assert!(
            std::panic::catch_unwind(|| assert_no_internals(leak)).is_err(),
            "{leak}"
        );
    }
    // The access token that failed CI on 2026-12-01.
    assert_no_internals(r#"{"access_token":"eyJ9.UgpKcZzdXHbpuiuZMNO3BhnrbsfSQLufDClBbcFa1LI"}"#);
}

/// Parses JSON with every number kept as its exact literal text, so that `25000.00` can be
/// told apart from `25000` (and `0.30` from `0.30000000000000004`).
pub fn exact(text: &str) -> Value {
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    let mut escaped = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if c == '-' || c.is_ascii_digit() {
            out.push('"');
            out.push(c);
            while let Some(&d) = chars.peek() {
                if d.is_ascii_digit() || matches!(d, '.' | 'e' | 'E' | '+' | '-') {
                    out.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push('"');
        } else {
            out.push(c);
        }
    }
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The ids of a list of conversions, in order.
pub fn ids(conversions: &[Value]) -> Vec<String> {
    conversions
        .iter()
        .map(|c| c["id"].as_str().expect("a conversion id").to_owned())
        .collect()
}
