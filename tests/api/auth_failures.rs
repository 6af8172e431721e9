//! Failed authentication attempts are limited per client address and counted: after
//! `--auth-failure-limit` failures, every door answers 429 `RATE_LIMITED` with `Retry-After`
//! until the window ends, without looking at the credentials; other addresses, and so the
//! workspace whose key was guessed at, are not affected.
//!
//! Clients take their own loopback address (127.0.0.2, 127.0.0.3, …: Linux routes all of
//! 127/8 to the loopback interface), so the server sees distinct peers without a proxy.
//!
//! Windows are aligned to the clock, so a run that straddles a window's end would see the count
//! start again: the tests use hour-long windows, except the one that checks the default.

use crate::backend::{fresh_postgres_database, postgres_or_skip};
use crate::cluster::convio;
use crate::helpers::{
    ADMIN_KEY, Creds, TestApp, WAIT, assert_problem, expect_json, spawn_app_on, spawn_app_with,
};
use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{WebSocketStream, client_async};

/// A JWT in form, signed with a secret the server does not have.
const FORGED_JWT: &str = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImRlYWRiZWVmIn0.\
                          eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.\
                          c2lnbmVkLXdpdGgtYW5vdGhlci1zZWNyZXQ";

const BAD_KEY: &str = "convio_not_the_key_of_anyone_at_all_0000";

/// A client of `app` connecting from its own loopback address `127.0.0.<host>`.
struct Client<'a> {
    app: &'a TestApp,
    ip: IpAddr,
    http: reqwest::Client,
}

impl<'a> Client<'a> {
    fn from(app: &'a TestApp, host: u8) -> Self {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, host));
        let http = reqwest::Client::builder()
            .local_address(ip)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        Client { app, ip, http }
    }

    fn request(&self, method: Method, path: &str, creds: &Creds) -> reqwest::RequestBuilder {
        creds.apply(self.http.request(method, self.app.url(path)))
    }

    async fn get(&self, path: &str, creds: &Creds) -> Response {
        self.request(Method::GET, path, creds)
            .send()
            .await
            .expect("GET sent")
    }

    async fn token(&self, creds: &Creds) -> Response {
        self.request(Method::POST, "/auth/token", creds)
            .send()
            .await
            .expect("POST /auth/token sent")
    }

    async fn graphql(&self, creds: &Creds) -> Response {
        self.request(Method::POST, "/graphql", creds)
            .json(&json!({ "query": "{ conversions { nodes { id } } }" }))
            .send()
            .await
            .expect("POST /graphql sent")
    }

    /// Upgrades `/graphql/ws` from this client's address; the HTTP answer when refused.
    async fn socket(
        &self,
    ) -> Result<Socket, tokio_tungstenite::tungstenite::http::Response<Option<Vec<u8>>>> {
        let tcp = TcpSocket::new_v4().expect("a socket");
        tcp.bind((self.ip, 0).into())
            .expect("bind the client address");
        let stream = tcp
            .connect(([127, 0, 0, 1], self.app.port).into())
            .await
            .expect("connect");
        let mut request = format!("ws://127.0.0.1:{}/graphql/ws", self.app.port)
            .into_client_request()
            .expect("a WebSocket request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        match tokio::time::timeout(WAIT, client_async(request, stream))
            .await
            .expect("an answer to the upgrade")
        {
            Ok((stream, _)) => Ok(Socket { stream }),
            Err(WsError::Http(response)) => Err(response),
            Err(other) => panic!("WebSocket upgrade failed: {other}"),
        }
    }
}

struct Socket {
    stream: WebSocketStream<TcpStream>,
}

impl Socket {
    /// Sends `connection_init` with `creds`: `Ok` on `connection_ack`, else the close code.
    async fn init(&mut self, creds: &Creds) -> Result<(), (u16, String)> {
        let init = json!({ "type": "connection_init", "payload": creds.connection_init_payload() });
        self.stream
            .send(Message::Text(init.to_string().into()))
            .await
            .expect("send connection_init");
        loop {
            let frame = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("an answer to connection_init");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(text.as_str()).expect("JSON");
                    assert_eq!(message["type"], "connection_ack", "{message}");
                    return Ok(());
                }
                Some(Ok(Message::Close(Some(frame)))) => {
                    return Err((u16::from(frame.code), frame.reason.as_str().to_owned()));
                }
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => {
                    panic!("the socket closed without a code")
                }
                Some(Ok(_)) => {}
            }
        }
    }
}

fn retry_after(response: &Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After header")
}

/// 429 problem+json `RATE_LIMITED` with a `Retry-After` within the window.
async fn assert_throttled(response: Response, window: u64) {
    let seconds = retry_after(&response);
    assert!((1..=window).contains(&seconds), "Retry-After {seconds}");
    assert_problem(response, 429, "RATE_LIMITED", None).await;
}

async fn assert_unauthenticated(response: Response) {
    assert_problem(response, 401, "UNAUTHENTICATED", None).await;
}

fn failures(credential: &str, transport: &str) -> String {
    format!("convio_auth_failures_total{{credential=\"{credential}\",transport=\"{transport}\"}}")
}

async fn bad_keys_are_throttled_per_address_and_the_workspace_keeps_working() {
    // Arrange: three failures allowed per address.
    let app = spawn_app_with(&["--auth-failure-limit", "3"]).await;
    let target = app.workspace("target").await;
    let guess = Creds::headers("target", BAD_KEY);
    let attacker = Client::from(&app, 2);
    let owner = Client::from(&app, 3);

    // Act
    for _ in 0..3 {
        assert_unauthenticated(attacker.get("/conversions", &guess).await).await;
    }
    let over = attacker.get("/conversions", &guess).await;
    let with_the_real_key = attacker.get("/conversions", &target).await;
    let from_the_owner = owner.get("/conversions", &target).await;

    // Assert: the attacker is refused, even with the real key, which was not even checked
    // (the workspace's hourly count shows only the owner's request); the owner is served.
    assert_throttled(over, 300).await;
    assert_throttled(with_the_real_key, 300).await;
    assert_eq!(from_the_owner.status().as_u16(), 200);
    assert_eq!(from_the_owner.headers()["x-ratelimit-remaining"], "999");
    assert_eq!(app.metric(&failures("api_key", "http")).await, 3);
    assert_eq!(app.metric("convio_auth_throttled_total").await, 2);
}

async fn every_door_counts_failures_and_answers_429_past_the_limit() {
    // Arrange: five failures allowed, one at each door.
    let app = spawn_app_with(&[
        "--auth-failure-limit",
        "5",
        "--auth-failure-window-seconds",
        "3600",
    ])
    .await;
    app.workspace("target").await;
    let header_key = Creds::headers("target", BAD_KEY);
    let bearer_key = Creds::bearer(BAD_KEY);
    let forged = Creds::bearer(FORGED_JWT);
    let client = Client::from(&app, 2);

    // Act: one failure per door.
    assert_unauthenticated(client.get("/conversions", &header_key).await).await;
    assert_unauthenticated(client.get("/conversions", &bearer_key).await).await;
    assert_unauthenticated(client.get("/conversions", &forged).await).await;
    assert_unauthenticated(client.token(&bearer_key).await).await;
    let mut socket = client.socket().await.expect("the upgrade is allowed");
    let refused_init = socket.init(&header_key).await;

    // Assert: counted by kind and transport; then every door refuses with 429.
    assert_eq!(refused_init.map_err(|(code, _)| code), Err(4403));
    assert_eq!(app.metric(&failures("api_key", "http")).await, 1);
    assert_eq!(app.metric(&failures("bearer_key", "http")).await, 2);
    assert_eq!(app.metric(&failures("jwt", "http")).await, 1);
    assert_eq!(app.metric(&failures("api_key", "websocket")).await, 1);
    assert_throttled(client.get("/conversions", &header_key).await, 3600).await;
    assert_throttled(client.get("/conversions", &forged).await, 3600).await;
    assert_throttled(client.token(&bearer_key).await, 3600).await;
    let graphql = client.graphql(&bearer_key).await;
    assert_eq!(graphql.status().as_u16(), 429);
    assert!((1..=3600).contains(&retry_after(&graphql)));
    let body: Value = graphql.json().await.expect("a GraphQL body");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "{body}"
    );
    let upgrade = client.socket().await.err().expect("the upgrade is refused");
    assert_eq!(upgrade.status().as_u16(), 429);
    assert!(upgrade.headers().contains_key("retry-after"));
    assert_eq!(app.metric("convio_auth_throttled_total").await, 5);
    assert_eq!(
        app.metric(&failures("api_key", "http")).await,
        1,
        "refused attempts are not checked, so they are not failures"
    );
}

async fn a_socket_opened_in_time_is_closed_with_4429_once_its_address_is_over_the_limit() {
    // Arrange
    let app = spawn_app_with(&[
        "--auth-failure-limit",
        "2",
        "--auth-failure-window-seconds",
        "3600",
    ])
    .await;
    let target = app.workspace("target").await;
    let client = Client::from(&app, 2);
    let mut socket = client.socket().await.expect("the upgrade is allowed");

    // Act: the address fails twice over HTTP, then initialises with the real key.
    for _ in 0..2 {
        let guess = Creds::headers("target", BAD_KEY);
        assert_unauthenticated(client.get("/conversions", &guess).await).await;
    }
    let refused = socket.init(&target).await;

    // Assert
    let (code, reason) = refused.expect_err("connection_init is refused");
    assert_eq!(code, 4429, "{reason}");
    assert!(reason.contains("failed authentication"), "{reason}");
}

async fn behind_a_trusted_proxy_each_forwarded_client_counts_on_its_own() {
    // Arrange: the test client (127.0.0.1) plays the proxy.
    let app = spawn_app_with(&[
        "--auth-failure-limit",
        "2",
        "--auth-failure-window-seconds",
        "3600",
        "--trusted-proxies",
        "127.0.0.1/32",
    ])
    .await;
    let target = app.workspace("target").await;
    let guess = Creds::headers("target", BAD_KEY);
    let via_proxy = |forwarded: &'static str, creds: &Creds| {
        app.rest(Method::GET, "/conversions", creds)
            .header("X-Forwarded-For", forwarded)
            .send()
    };

    // Act: 203.0.113.7 fails twice; then writes another address in front of its own.
    for _ in 0..2 {
        assert_unauthenticated(via_proxy("203.0.113.7", &guess).await.expect("sent")).await;
    }
    let disguised = via_proxy("198.51.100.2, 203.0.113.7", &guess)
        .await
        .expect("sent");
    let owner = via_proxy("198.51.100.2", &target).await.expect("sent");

    // Assert
    assert_throttled(disguised, 3600).await;
    assert_eq!(owner.status().as_u16(), 200);
}

async fn without_trusted_proxies_x_forwarded_for_is_ignored() {
    // Arrange
    let app = spawn_app_with(&[
        "--auth-failure-limit",
        "2",
        "--auth-failure-window-seconds",
        "3600",
    ])
    .await;
    app.workspace("target").await;
    let guess = Creds::headers("target", BAD_KEY);
    let client = Client::from(&app, 2);
    let spoofing = |forwarded: &'static str| {
        client
            .request(Method::GET, "/conversions", &guess)
            .header("X-Forwarded-For", forwarded)
            .send()
    };

    // Act: a fresh forwarded address on every attempt.
    assert_unauthenticated(spoofing("198.51.100.1").await.expect("sent")).await;
    assert_unauthenticated(spoofing("198.51.100.2").await.expect("sent")).await;
    let third = spoofing("198.51.100.3").await.expect("sent");

    // Assert
    assert_throttled(third, 3600).await;
}

crate::backend::on_both_backends!(
    bad_keys_are_throttled_per_address_and_the_workspace_keeps_working,
    every_door_counts_failures_and_answers_429_past_the_limit,
    a_socket_opened_in_time_is_closed_with_4429_once_its_address_is_over_the_limit,
    behind_a_trusted_proxy_each_forwarded_client_counts_on_its_own,
    without_trusted_proxies_x_forwarded_for_is_ignored,
);

/// Two nodes on one PostgreSQL database share the count: failures on one use up the
/// allowance on the other.
#[tokio::test]
async fn nodes_share_the_failure_count_on_postgres() {
    if postgres_or_skip().await.is_none() {
        return;
    }
    // Arrange
    let url = fresh_postgres_database().await;
    let node_a = spawn_app_on(
        &url,
        &[
            "--auth-failure-limit",
            "3",
            "--auth-failure-window-seconds",
            "3600",
        ],
    )
    .await;
    let node_b = spawn_app_on(
        &url,
        &[
            "--auth-failure-limit",
            "3",
            "--auth-failure-window-seconds",
            "3600",
        ],
    )
    .await;
    node_a.workspace("target").await;
    let guess = Creds::headers("target", BAD_KEY);
    let (on_a, on_b) = (Client::from(&node_a, 2), Client::from(&node_b, 2));

    // Act + Assert: three failures on A; the fourth attempt, on B, is over the shared limit.
    for _ in 0..3 {
        assert_unauthenticated(on_a.get("/conversions", &guess).await).await;
    }
    assert_throttled(on_b.get("/conversions", &guess).await, 3600).await;
    assert_throttled(on_b.get("/conversions", &guess).await, 3600).await;
    assert_throttled(on_a.get("/conversions", &guess).await, 3600).await;
    assert_eq!(
        node_b.metric(&failures("api_key", "http")).await,
        1,
        "B checked one attempt before it knew"
    );
}

/// A failed attempt is logged with the client, the kind of credential and the claimed
/// workspace, and never with the secret itself.
#[tokio::test]
async fn failures_are_logged_without_the_secret() {
    // Arrange
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("convio.db").display()
    );
    let log_path = dir.path().join("convio.log");
    let log_file = std::fs::File::create(&log_path).expect("a log file");
    let _child = convio(&url)
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
    let canary = "convio_canary_secret_key_5f2c9a7e1b3d";

    // Act
    let client = Client::from(&app, 2);
    assert_unauthenticated(
        client
            .get("/conversions", &Creds::headers("target", canary))
            .await,
    )
    .await;
    let mut socket = client.socket().await.expect("the upgrade is allowed");
    let _ = socket.init(&Creds::bearer(canary)).await;
    assert_unauthenticated(client.get("/conversions", &Creds::bearer(FORGED_JWT)).await).await;

    // Assert: the log is written asynchronously; wait for the third line.
    let mut log = String::new();
    for _ in 0..100 {
        log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.matches("authentication failed").count() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("authentication failed"))
        .collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(lines.iter().all(|line| line.contains("127.0.0.2")), "{log}");
    assert!(
        lines[0].contains("target") && lines[0].contains("api_key"),
        "{log}"
    );
    assert!(
        lines[1].contains("bearer_key") && lines[1].contains("websocket"),
        "{log}"
    );
    assert!(lines[2].contains("jwt"), "{log}");
    assert!(!log.contains(canary), "a key reached the log:\n{log}");
    assert!(!log.contains(FORGED_JWT), "a token reached the log:\n{log}");
}
