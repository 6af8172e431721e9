//! Denial of service: bodies over the limit on every route (declared or chunked), WebSocket
//! messages over theirs, and slow, idle or too many clients — refused or cut off, without
//! work done for them, while `/healthz` keeps answering everyone else.

use crate::helpers::{Creds, TestApp, WAIT, assert_problem, spawn_app_with};
use clap::Parser as _;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The body limit the tests run with: small, so an oversize body is quick to send.
const LIMIT: usize = 64 * 1024;
const LIMIT_FLAG: &str = "65536";

/// A raw HTTP/1.1 request head; `length` `None` means a chunked body.
fn head(method: &str, path: &str, creds: &Creds, length: Option<usize>) -> String {
    let auth = match creds {
        Creds::Anonymous => String::new(),
        Creds::Bearer(token) => format!("Authorization: Bearer {token}\r\n"),
        Creds::Headers {
            workspace_id,
            api_key,
        } => format!("X-Workspace-ID: {workspace_id}\r\nX-API-Key: {api_key}\r\n"),
    };
    let framing = match length {
        Some(n) => format!("Content-Length: {n}\r\n"),
        None => "Transfer-Encoding: chunked\r\n".to_owned(),
    };
    format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         {auth}{framing}\r\n"
    )
}

/// The status and body of the response on `stream`, read until the server closes it. The
/// server closes after refusing a body it did not read, which may reset the socket once the
/// response is in: what arrived before counts.
async fn response(stream: &mut (impl AsyncRead + Unpin)) -> (u16, Value) {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + WAIT;
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&bytes);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP response: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or(Value::Null);
    (status, body)
}

/// Sends `total` bytes of JSON-ish filler as a chunked body (8 KiB chunks) in the background,
/// ignoring the server hanging up, and returns the server's answer.
async fn send_chunked(
    app: &TestApp,
    method: &str,
    path: &str,
    creds: &Creds,
    total: usize,
) -> (u16, Value) {
    let stream = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let head = head(method, path, creds, None);
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = format!("2000\r\n{}\r\n", " ".repeat(0x2000));
        for _ in 0..total.div_ceil(0x2000) {
            writer.write_all(chunk.as_bytes()).await?;
        }
        writer.write_all(b"0\r\n\r\n").await
    });
    let answer = response(&mut reader).await;
    writing.abort();
    answer
}

/// The workspace's requests left this hour, as a request of its own reports them.
async fn requests_left(app: &TestApp, creds: &Creds) -> u64 {
    let response = app.get("/conversions?limit=1", creds).await;
    assert_eq!(response.status().as_u16(), 200);
    response.headers()["x-ratelimit-remaining"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("an x-ratelimit-remaining header")
}

/// No statement ran since `before` but the feed's backstop poll (one every 2 s, counted
/// with the rest).
async fn assert_no_statements_since(app: &TestApp, before: u64, since: Instant) {
    let polls = since.elapsed().as_secs() / 2 + 1;
    let ran = app.statements_total().await - before;
    assert!(ran <= polls, "{ran} statements ran; work was done");
}

fn assert_too_large(status: u16, body: &Value, what: &str) {
    assert_eq!(status, 413, "{what}: {body}");
    assert_eq!(body["code"], "PAYLOAD_TOO_LARGE", "{what}: {body}");
}

/// `/healthz` answers within `within`, on a new connection as a load balancer's probe (a
/// pooled one may be the server's to close: these tests set short header deadlines).
async fn assert_healthy_within(app: &TestApp, within: Duration) {
    let started = Instant::now();
    let probe = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("an HTTP client");
    let answer = tokio::time::timeout(within, probe.get(app.url("/healthz")).send())
        .await
        .unwrap_or_else(|_| panic!("/healthz did not answer within {within:?}"))
        .expect("a /healthz response");
    assert_eq!(answer.status().as_u16(), 200);
    assert!(started.elapsed() <= within);
}

async fn a_huge_unauthenticated_graphql_body_is_refused_at_once() {
    // Arrange: the default limit (1 MiB), and a client announcing 30 MiB.
    let app = spawn_app_with(&[]).await;
    let (before, since) = (app.statements_total().await, Instant::now());
    let declared = 30 * 1024 * 1024;
    let stream = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let head = head("POST", "/graphql", &Creds::Anonymous, Some(declared));

    // Act: send it for real, timing the answer.
    let started = Instant::now();
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let filler = vec![b' '; 1024 * 1024];
        for _ in 0..30 {
            writer.write_all(&filler).await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let (status, body) = response(&mut reader).await;
    let took = started.elapsed();
    writing.abort();

    // Assert: refused before it was read, with no database work (no authentication).
    assert_too_large(status, &body, "30 MiB POST /graphql");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_no_statements_since(&app, before, since).await;
    assert_healthy_within(&app, Duration::from_secs(1)).await;
}

async fn a_chunked_body_over_the_limit_is_refused() {
    // Arrange
    let app = spawn_app_with(&["--max-body-bytes", LIMIT_FLAG]).await;
    let (before, since) = (app.statements_total().await, Instant::now());

    // Act: no Content-Length, so the server only learns the size by reading.
    let (status, body) = send_chunked(&app, "POST", "/graphql", &Creds::Anonymous, 4 * LIMIT).await;

    // Assert
    assert_too_large(status, &body, "chunked POST /graphql");
    assert_no_statements_since(&app, before, since).await;
    // A body within the limit still goes through the same way.
    let (status, body) = send_chunked(&app, "POST", "/graphql", &app.admin, 0).await;
    assert_ne!(status, 413, "{body}");
}

/// Every route that takes a body, and one that does not: each must refuse the oversize body.
fn routes() -> Vec<(Method, &'static str)> {
    vec![
        (Method::POST, "/graphql"),
        (Method::POST, "/conversions/log"),
        (Method::POST, "/conversions/batch"),
        (Method::POST, "/contacts"),
        (Method::PATCH, "/contacts/1/conversion"),
        (Method::POST, "/contacts/1/send"),
        (Method::POST, "/contacts/1/erase"),
        (Method::POST, "/leads"),
        (Method::POST, "/workspaces/register"),
        (Method::POST, "/workspaces/acme/keys/rotate"),
        (Method::POST, "/workspaces/acme/keys/revoke"),
        (Method::POST, "/auth/token"),
        (Method::GET, "/conversions"),
    ]
}

async fn every_route_refuses_an_oversize_body_before_authenticating() {
    // Arrange: a real workspace whose key would cost a database lookup to check.
    let app = spawn_app_with(&["--max-body-bytes", LIMIT_FLAG]).await;
    let acme = app.workspace("acme").await;
    let oversize = format!("{{\"name\": \"{}\"}}", "x".repeat(LIMIT));
    let before = requests_left(&app, &acme).await;

    for (method, path) in routes() {
        // Act: once with Content-Length, once chunked.
        let declared = app
            .rest(method.clone(), path, &acme)
            .header("Content-Type", "application/json")
            .body(oversize.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let chunked = send_chunked(&app, method.as_str(), path, &acme, 2 * LIMIT).await;

        // Assert
        let problem = assert_problem(declared, 413, "PAYLOAD_TOO_LARGE", None).await;
        assert_eq!(problem["status"], 413, "{method} {path}");
        assert_too_large(chunked.0, &chunked.1, &format!("chunked {method} {path}"));
    }
    // Nothing was authenticated or counted (only the probe itself), nor written.
    assert_eq!(
        requests_left(&app, &acme).await,
        before - 1,
        "requests were counted"
    );
    let contacts = app.get("/contacts/1", &app.admin).await;
    assert_eq!(contacts.status().as_u16(), 404);
}

async fn a_body_that_stalls_gets_408() {
    // Arrange
    let app = spawn_app_with(&["--body-read-timeout-seconds", "1"]).await;
    let acme = app.workspace("acme").await;
    let mut stream = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");

    // Act: announce 100 bytes, send 10, stall.
    let started = Instant::now();
    let request = head("POST", "/contacts", &acme, Some(100)) + "{\"id\": 1, ";
    stream.write_all(request.as_bytes()).await.expect("write");
    let (status, body) = response(&mut stream).await;

    // Assert
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["code"], "REQUEST_TIMEOUT", "{body}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let contact = app.get("/contacts/1", &app.admin).await;
    assert_eq!(contact.status().as_u16(), 404);
}

/// A `connection_init` padded past 16 KiB (but within the HTTP body limit).
fn padded_init(creds: &Creds, pad: usize) -> Value {
    let mut payload = creds.connection_init_payload();
    payload["pad"] = json!("x".repeat(pad));
    json!({ "type": "connection_init", "payload": payload })
}

async fn an_oversize_websocket_message_before_init_closes_the_socket() {
    // Arrange
    let app = spawn_app_with(&[]).await;
    let (before, since) = (app.statements_total().await, Instant::now());
    let mut socket = app.feed_socket().await;

    // Act: 20 KiB, under the 1 MiB body limit but over what an unauthenticated socket may send.
    socket.send(padded_init(&app.admin, 20 * 1024)).await;

    // Assert: closed as "message too big", without authenticating.
    let (code, _) = socket.expect_close().await;
    assert_eq!(code, Some(1009));
    assert_no_statements_since(&app, before, since).await;
    // A small init on a new socket is fine.
    let mut socket = app.feed_socket().await;
    socket
        .init(padded_init(&app.admin, 100)["payload"].clone())
        .await
        .expect("a small connection_init is acknowledged");
}

async fn an_oversize_websocket_message_after_init_closes_the_socket() {
    // Arrange: an authenticated socket, which may now send more than 16 KiB.
    let app = spawn_app_with(&["--max-body-bytes", LIMIT_FLAG]).await;
    let acme = app.workspace("acme").await;
    let mut socket = app.feed_socket().await;
    socket
        .init(acme.connection_init_payload())
        .await
        .expect("connection acknowledged");
    let mut variables = json!({ "pad": "x".repeat(20 * 1024) });
    socket
        .subscribe("1", crate::helpers::FEED_SUBSCRIPTION, variables.clone())
        .await;
    app.wait_for_subscribers(1).await;

    // Act: one message over the HTTP body limit.
    variables["pad"] = json!("x".repeat(LIMIT + 1));
    socket
        .subscribe("2", crate::helpers::FEED_SUBSCRIPTION, variables)
        .await;

    // Assert
    let (code, _) = socket.expect_close().await;
    assert_eq!(code, Some(1009));
}

async fn half_sent_requests_are_closed_while_healthz_answers() {
    // Arrange
    let app = spawn_app_with(&["--header-read-timeout-seconds", "1"]).await;
    let mut crawlers = Vec::new();
    for _ in 0..64 {
        let mut stream = TcpStream::connect(("127.0.0.1", app.port))
            .await
            .expect("connect");
        stream
            .write_all(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-")
            .await
            .expect("write");
        crawlers.push(stream);
    }
    let started = Instant::now();

    // Act + Assert: others are served while the crawlers hang…
    assert_healthy_within(&app, Duration::from_secs(1)).await;

    // …and each crawler is cut off at the header deadline, without an answer.
    for mut stream in crawlers {
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf))
            .await
            .expect("a crawler was not closed within 3 s");
        assert!(matches!(read, Ok(0) | Err(_)), "answered: {read:?}");
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_healthy_within(&app, Duration::from_secs(1)).await;
}

async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    // Arrange: headers may take long, but a connection where nothing moves may not.
    let app = spawn_app_with(&[
        "--header-read-timeout-seconds",
        "30",
        "--idle-timeout-seconds",
        "1",
    ])
    .await;
    let mut stream = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");

    // Act
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf)).await;

    // Assert
    let read = read.expect("the idle connection was not closed within 3 s");
    assert!(matches!(read, Ok(0) | Err(_)), "answered: {read:?}");
}

async fn at_the_cap_crawlers_give_way_to_clients_that_send_requests() {
    // Arrange: four slots, and twice as many crawlers: half stall in their headers, half in
    // their bodies. Only the cap can save others here: the deadlines are long.
    let app = spawn_app_with(&[
        "--max-connections",
        "4",
        "--header-read-timeout-seconds",
        "30",
        "--body-read-timeout-seconds",
        "30",
    ])
    .await;
    let mut crawlers = Vec::new();
    for i in 0..8 {
        let mut stream = TcpStream::connect(("127.0.0.1", app.port))
            .await
            .expect("connect");
        let start: &[u8] = if i % 2 == 0 {
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow"
        } else {
            b"POST /contacts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{"
        };
        // Those past the cap sit in the listen backlog; their bytes wait there.
        stream.write_all(start).await.expect("write");
        crawlers.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Act + Assert: a client that sends its request is served, again and again.
    for _ in 0..3 {
        assert_healthy_within(&app, Duration::from_secs(1)).await;
    }
    drop(crawlers);
}

async fn connections_past_the_cap_wait_while_every_slot_works() {
    // Arrange: four slots, each held by a WebSocket (not stalled: it was upgraded).
    let app = spawn_app_with(&["--max-connections", "4"]).await;
    let mut sockets = Vec::new();
    for _ in 0..4 {
        let mut socket = app.feed_socket().await;
        socket
            .init(app.admin.connection_init_payload())
            .await
            .expect("connection acknowledged");
        sockets.push(socket);
    }

    // Act: a fifth client waits…
    let client = app.client.clone();
    let url = app.url("/healthz");
    let waiting = tokio::spawn(async move { client.get(url).send().await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let waited = !waiting.is_finished();
    // …until a socket closes.
    drop(sockets);
    let answer = tokio::time::timeout(Duration::from_secs(1), waiting)
        .await
        .expect("/healthz answered within 1 s of slots freeing")
        .expect("the request task")
        .expect("a /healthz response");

    // Assert
    assert!(waited, "a fifth connection was served past a cap of four");
    assert_eq!(answer.status().as_u16(), 200);
    assert_healthy_within(&app, Duration::from_secs(1)).await;
}

/// Shutdown (no database involved): the server stops accepting, drops a client stuck in its
/// headers at once, and finishes the request it is working on.
#[tokio::test]
async fn shutdown_drops_crawlers_and_finishes_requests_in_flight() {
    // Arrange: a bare router with a slow handler, served until `stop` fires.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let router = axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            "done"
        }),
    );
    let limits = convio::Config::parse_from(["convio"]).hardening.connections;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(convio::serve::serve(listener, router, limits, async {
        let _ = stopped.await;
    }));
    let mut crawler = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    crawler
        .write_all(b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Sl")
        .await
        .expect("write");
    let slow = tokio::spawn(reqwest::get(format!("http://127.0.0.1:{port}/slow")));
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Act
    let started = Instant::now();
    stop.send(()).expect("the server is running");

    // Assert: the crawler is dropped unanswered, the slow request answered, then serve returns.
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_millis(300), crawler.read(&mut buf))
        .await
        .expect("the crawler was not dropped at shutdown");
    assert!(matches!(read, Ok(0) | Err(_)), "answered: {read:?}");
    let answer = slow
        .await
        .expect("the request task")
        .expect("the request in flight was answered");
    assert_eq!(answer.text().await.expect("a body"), "done");
    tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .expect("serve returned after shutdown")
        .expect("the server task")
        .expect("serve ended cleanly");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
}

crate::backend::on_both_backends!(
    a_huge_unauthenticated_graphql_body_is_refused_at_once,
    a_chunked_body_over_the_limit_is_refused,
    every_route_refuses_an_oversize_body_before_authenticating,
    a_body_that_stalls_gets_408,
    an_oversize_websocket_message_before_init_closes_the_socket,
    an_oversize_websocket_message_after_init_closes_the_socket,
    half_sent_requests_are_closed_while_healthz_answers,
    a_silent_connection_is_closed_after_the_idle_timeout,
    at_the_cap_crawlers_give_way_to_clients_that_send_requests,
    connections_past_the_cap_wait_while_every_slot_works,
);
