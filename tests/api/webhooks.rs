//! Outgoing webhooks, against a real HTTP receiver on a random port: deliveries are signed as
//! Standard Webhooks says (verified here independently), shaped as the REST views, retried
//! while the receiver is down, dead-lettered and redelivered by hand, never lost across a
//! SIGKILL, sent only to the workspace they belong to, and never to internal addresses
//! unless the operator allows them.

use crate::cluster::{convio, start};
use crate::helpers::{Creds, TestApp, assert_problem, expect_json, spawn_app, spawn_app_with};
use axum::body::Bytes;
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Millisecond schedules, and 127.0.0.1 allowed (the receiver lives there).
const FAST: [&str; 12] = [
    "--webhook-allow-private-targets",
    "true",
    "--webhook-retry-base-ms",
    "20",
    "--webhook-retry-max-delay-ms",
    "100",
    "--webhook-poll-ms",
    "50",
    "--webhook-timeout-ms",
    "2000",
    "--webhook-connect-timeout-ms",
    "500",
];

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// A local HTTP server that records every request and answers `status`.
struct Receiver {
    url: String,
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receiver() -> Receiver {
    receiver_on(0).await
}

async fn receiver_on(port: u16) -> Receiver {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the receiver");
    let port = listener.local_addr().expect("an address").port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let status = Arc::new(AtomicU16::new(200));
    let (record, answer) = (got.clone(), status.clone());
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let (record, answer) = (record.clone(), answer.clone());
        async move {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            record.lock().expect("lock").push(Received {
                id: header("webhook-id"),
                timestamp: header("webhook-timestamp"),
                signature: header("webhook-signature"),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            let code =
                axum::http::StatusCode::from_u16(answer.load(Ordering::SeqCst)).expect("a status");
            (code, "ok")
        }
    });
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver {
        url: format!("http://127.0.0.1:{port}/hooks/convio?tenant=1"),
        port,
        got,
        status,
        server,
    }
}

impl Receiver {
    fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    /// Waits until at least `n` requests arrived.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {n} deliveries, got {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Verifies a delivery as a receiver would, from the Standard Webhooks spec alone:
/// base64 HMAC-SHA256, keyed with the base64-decoded part of `whsec_…`, over
/// `{webhook-id}.{webhook-timestamp}.{body}`, matching one of the `v1,` signatures, with a
/// timestamp within five minutes.
fn verify(secret: &str, r: &Received) -> bool {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(format!("{}.{}.{}", r.id, r.timestamp, r.body).as_bytes());
    let expected = BASE64.encode(mac.finalize().into_bytes());
    let sent: i64 = r.timestamp.parse().expect("a unix timestamp");
    let fresh = (chrono::Utc::now().timestamp() - sent).abs() < 300;
    fresh
        && r.signature
            .split(' ')
            .filter_map(|s| s.strip_prefix("v1,"))
            .any(|sig| sig == expected)
}

struct Fixture {
    app: TestApp,
    crm: Creds,
    other: Creds,
}

/// Workspaces `crm` and `other`, each holding one contact (1001 and 2001).
async fn fixture_with(flags: &[&str]) -> Fixture {
    let app = spawn_app_with(flags).await;
    let crm = app.workspace("crm").await;
    let other = app.workspace("other").await;
    let leads = app.workspace("lead_gen").await;
    app.contact_received_by(&leads, 1001, "Jane Roe", "crm")
        .await;
    app.contact_received_by(&leads, 2001, "John Doe", "other")
        .await;
    Fixture { app, crm, other }
}

async fn fixture() -> Fixture {
    fixture_with(&FAST).await
}

async fn register(app: &TestApp, creds: &Creds, url: &str, types: &[&str]) -> Value {
    let response = app
        .post_json(
            "/webhooks/endpoints",
            creds,
            &json!({ "url": url, "event_types": types }),
        )
        .await;
    expect_json(response, 201).await
}

async fn sale(app: &TestApp, creds: &Creds, contact_id: i64, value: &str) -> Value {
    app.log_conversion(
        creds,
        json!({ "contact_id": contact_id, "converted_by": "rep_1", "conversion_type": "sale",
                "conversion_value": value, "custom_data": { "deal": "9001", "secret_ssn": null } }),
    )
    .await
}

async fn deliveries(app: &TestApp, creds: &Creds, endpoint: &Value) -> Vec<Value> {
    let path = format!(
        "/webhooks/endpoints/{}/deliveries",
        endpoint["id"].as_str().expect("id")
    );
    let page = expect_json(app.get(&path, creds).await, 200).await;
    page["deliveries"].as_array().expect("a list").clone()
}

/// Polls the endpoint's newest delivery until `done` holds for it.
async fn wait_delivery(
    app: &TestApp,
    creds: &Creds,
    endpoint: &Value,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log = deliveries(app, creds, endpoint).await;
        if let Some(d) = log.first().filter(|d| done(d)) {
            return d.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivery log: {log:?}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

async fn a_logged_conversion_arrives_signed_and_shaped_as_the_rest_view() {
    let Fixture { app, crm, .. } = fixture().await;
    let hook = receiver().await;
    let endpoint = register(&app, &crm, &hook.url, &["conversion.logged"]).await;
    let secret = endpoint["secret"].as_str().expect("a secret").to_owned();
    assert!(secret.starts_with("whsec_"), "{endpoint}");
    assert_eq!(endpoint["workspace_id"], "crm");
    assert_eq!(endpoint["event_types"], json!(["conversion.logged"]));

    let logged = sale(&app, &crm, 1001, "12500.00").await;
    let got = hook.wait_for(1).await;
    let delivery = &got[0];
    assert!(
        verify(&secret, delivery),
        "signature must verify: {delivery:?}"
    );
    assert!(delivery.id.starts_with("msg_"));
    let body = delivery.json();
    assert_eq!(body["type"], "conversion.logged");
    assert!(body["timestamp"].is_string());
    // `data` is the conversion as `GET /conversions/{id}` shows it.
    let id = logged["id"].as_str().expect("an id");
    let shown =
        crate::helpers::expect_exact(app.get(&format!("/conversions/{id}"), &crm).await, 200).await;
    let data = crate::helpers::exact(&delivery.body)["data"].clone();
    for (key, value) in data.as_object().expect("an object") {
        assert_eq!(&shown[key], value, "data.{key}");
    }
    for key in [
        "id",
        "contact_id",
        "workspace_id",
        "conversion_type",
        "conversion_value",
        "converted_at",
        "custom_data",
    ] {
        assert!(data.get(key).is_some(), "data.{key} missing");
    }
    assert_eq!(data["custom_data"]["deal"], "9001");

    // The log says so; the secret is never shown again.
    let log = wait_delivery(&app, &crm, &endpoint, |d| d["status"] == "delivered").await;
    assert_eq!(log["attempts"], 1);
    assert_eq!(log["last_status_code"], 200);
    assert_eq!(log["message_id"], delivery.id.as_str());
    let listed = expect_json(app.get("/webhooks/endpoints", &crm).await, 200).await;
    assert_eq!(listed["endpoints"].as_array().expect("list").len(), 1);
    assert!(!listed.to_string().contains(&secret[6..]));
    // Exactly one request: no duplicate without a failure.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hook.received().len(), 1);
}

async fn a_contact_update_is_delivered_to_the_workspace_that_made_it() {
    let Fixture { app, crm, .. } = fixture().await;
    let hook = receiver().await;
    let endpoint = register(&app, &crm, &hook.url, &["contact.updated"]).await;
    let secret = endpoint["secret"].as_str().expect("a secret").to_owned();
    sale(&app, &crm, 1001, "10").await; // not subscribed: nothing sent
    let response = app
        .patch_json(
            "/contacts/1001/conversion",
            &crm,
            &json!({ "conversion_status": "qualified" }),
        )
        .await;
    expect_json(response, 200).await;
    let got = hook.wait_for(1).await;
    assert!(verify(&secret, &got[0]));
    let body = got[0].json();
    assert_eq!(body["type"], "contact.updated");
    assert_eq!(body["data"]["id"], 1001);
    assert_eq!(body["data"]["conversion_status"], "qualified");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hook.received().len(), 1, "only the subscribed event type");
}

async fn restatements_and_retractions_arrive_with_the_history() {
    let Fixture { app, crm, .. } = fixture().await;
    let hook = receiver().await;
    let endpoint = register(
        &app,
        &crm,
        &hook.url,
        &["conversion.adjusted", "conversion.retracted"],
    )
    .await;
    let secret = endpoint["secret"].as_str().expect("a secret").to_owned();
    let logged = sale(&app, &crm, 1001, "12500.00").await; // not subscribed: nothing sent
    let id = logged["id"].as_str().expect("an id");
    for body in [
        json!({"action": "restate", "reason": "discount", "conversion_value": "11000"}),
        json!({"action": "retract", "reason": "cancelled"}),
    ] {
        let response = app
            .post_json(&format!("/conversions/{id}/adjustments"), &crm, &body)
            .await;
        expect_json(response, 201).await;
    }
    let got = hook.wait_for(2).await;
    assert!(got.iter().all(|d| verify(&secret, d)));
    let bodies: Vec<Value> = got.iter().map(|d| crate::helpers::exact(&d.body)).collect();
    assert_eq!(bodies[0]["type"], "conversion.adjusted");
    assert_eq!(bodies[0]["data"]["conversion_value"], "11000.00");
    assert_eq!(bodies[0]["data"]["adjustments"][0]["reason"], "discount");
    assert_eq!(bodies[1]["type"], "conversion.retracted");
    assert_eq!(bodies[1]["data"]["status"], "retracted");
    // The last one is the conversion as `GET /conversions/{id}` shows it now.
    let shown =
        crate::helpers::expect_exact(app.get(&format!("/conversions/{id}"), &crm).await, 200).await;
    assert_eq!(bodies[1]["data"], shown);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        hook.received().len(),
        2,
        "the logged event was not subscribed"
    );
}

async fn a_hanging_receiver_holds_up_no_other_endpoint() {
    // Arrange: `other`'s receiver accepts connections and never answers (the attempts' time
    // limit is 2 s); `crm`'s answers at once.
    let Fixture {
        app, crm, other, ..
    } = fixture().await;
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging_url = format!("http://{}/hook", hanging.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = hanging.accept().await {
            open.push(socket);
        }
    });
    register(&app, &other, &hanging_url, &["conversion.logged"]).await;
    let hook = receiver().await;
    register(&app, &crm, &hook.url, &["conversion.logged"]).await;

    // Act: the hanging endpoint gets a backlog; then crm logs, one after another.
    for _ in 0..3 {
        sale(&app, &other, 2001, "1").await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = tokio::time::Instant::now();
    for n in 1..=3 {
        sale(&app, &crm, 1001, "2").await;
        hook.wait_for(n).await;
    }

    // Assert: well inside one attempt's time limit, however long the other one hangs.
    let took = started.elapsed();
    held.abort();
    assert!(took < Duration::from_millis(1_500), "crm waited {took:?}");
}

async fn deliveries_are_retried_until_the_receiver_comes_back() {
    let Fixture { app, crm, .. } = fixture().await;
    // A port nobody listens on yet.
    let port = receiver().await.port;
    let url = format!("http://127.0.0.1:{port}/hook");
    let endpoint = register(&app, &crm, &url, &["conversion.logged"]).await;
    let secret = endpoint["secret"].as_str().expect("a secret").to_owned();
    sale(&app, &crm, 1001, "10").await;
    let failing = wait_delivery(&app, &crm, &endpoint, |d| d["attempts"].as_i64() >= Some(2)).await;
    assert_eq!(failing["status"], "pending", "{failing}");
    assert!(failing["last_error"].is_string(), "{failing}");
    assert!(failing["next_attempt_at"].is_string(), "{failing}");

    let hook = receiver_on(port).await;
    let got = hook.wait_for(1).await;
    assert!(verify(&secret, &got[0]));
    let done = wait_delivery(&app, &crm, &endpoint, |d| d["status"] == "delivered").await;
    assert_eq!(done["message_id"], got[0].id.as_str());
    assert!(done["next_attempt_at"].is_null());
}

async fn a_delivery_that_keeps_failing_is_dead_lettered_and_can_be_redelivered() {
    let mut flags = FAST.to_vec();
    flags.extend(["--webhook-retry-for-ms", "300"]);
    let Fixture {
        app, crm, other, ..
    } = fixture_with(&flags).await;
    let hook = receiver().await;
    hook.status.store(500, Ordering::SeqCst);
    let endpoint = register(&app, &crm, &hook.url, &["conversion.logged"]).await;
    sale(&app, &crm, 1001, "10").await;
    let dead = wait_delivery(&app, &crm, &endpoint, |d| d["status"] == "dead").await;
    assert_eq!(dead["last_status_code"], 500);
    assert!(dead["attempts"].as_i64() >= Some(2), "{dead}");
    assert_eq!(dead["last_response"], "ok");
    let attempts = hook.received().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        hook.received().len(),
        attempts,
        "a dead delivery is not retried"
    );

    // Another workspace cannot redeliver it.
    let path = format!("/webhooks/deliveries/{}/redeliver", dead["id"]);
    let refused = app.post_json(&path, &other, &json!({})).await;
    assert_problem(refused, 404, "NOT_FOUND", None).await;

    hook.status.store(200, Ordering::SeqCst);
    let queued = expect_json(app.post_json(&path, &crm, &json!({})).await, 202).await;
    assert_eq!(queued["status"], "pending");
    let done = wait_delivery(&app, &crm, &endpoint, |d| d["status"] == "delivered").await;
    let got = hook.received();
    assert_eq!(
        got.last().expect("one").id,
        done["message_id"].as_str().expect("id")
    );
    assert!(
        got.iter().all(|r| r.id == got[0].id),
        "the same webhook-id on every attempt"
    );
}

async fn each_workspace_receives_only_its_own_events_and_the_admin_all() {
    let Fixture { app, crm, other } = fixture().await;
    let (crm_hook, other_hook, admin_hook) = (receiver().await, receiver().await, receiver().await);
    let crm_endpoint = register(&app, &crm, &crm_hook.url, &["conversion.logged"]).await;
    register(&app, &other, &other_hook.url, &["conversion.logged"]).await;
    let admin_endpoint = register(&app, &app.admin, &admin_hook.url, &["conversion.logged"]).await;
    assert!(admin_endpoint["workspace_id"].is_null());

    let a = sale(&app, &crm, 1001, "10").await;
    let b = sale(&app, &other, 2001, "20").await;
    admin_hook.wait_for(2).await;
    let crm_got = crm_hook.wait_for(1).await;
    let other_got = other_hook.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ids = |got: &[Received]| -> Vec<Value> {
        got.iter().map(|r| r.json()["data"]["id"].clone()).collect()
    };
    assert_eq!(ids(&crm_hook.received()), vec![a["id"].clone()]);
    assert_eq!(ids(&other_hook.received()), vec![b["id"].clone()]);
    assert_eq!(admin_hook.received().len(), 2);
    assert_eq!(crm_got.len() + other_got.len(), 2);

    // `other` neither sees nor manages `crm`'s endpoint.
    let listed = expect_json(app.get("/webhooks/endpoints", &other).await, 200).await;
    assert_eq!(listed["endpoints"].as_array().expect("list").len(), 1);
    let crm_id = crm_endpoint["id"].as_str().expect("id");
    let log = app
        .get(&format!("/webhooks/endpoints/{crm_id}/deliveries"), &other)
        .await;
    assert_problem(log, 404, "NOT_FOUND", None).await;
    let delete = app
        .rest(
            reqwest::Method::DELETE,
            &format!("/webhooks/endpoints/{crm_id}"),
            &other,
        )
        .send()
        .await
        .expect("DELETE sent");
    assert_problem(delete, 404, "NOT_FOUND", None).await;
    // The admin sees all three; `crm` deletes its own, audited.
    let all = expect_json(app.get("/webhooks/endpoints", &app.admin).await, 200).await;
    assert_eq!(all["endpoints"].as_array().expect("list").len(), 3);
    let delete = app
        .rest(
            reqwest::Method::DELETE,
            &format!("/webhooks/endpoints/{crm_id}"),
            &crm,
        )
        .send()
        .await
        .expect("DELETE sent");
    assert_eq!(delete.status().as_u16(), 204);
    let audit = expect_json(
        app.get("/audit?object_type=webhook_endpoint", &app.admin)
            .await,
        200,
    )
    .await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "webhook_endpoint.created")
            .count(),
        3
    );
    assert!(actions.contains(&"webhook_endpoint.deleted"));
    assert!(!audit.to_string().contains("whsec_"));
}

async fn internal_addresses_are_refused_without_the_operator_flag() {
    let app = spawn_app().await;
    let crm = app.workspace("crm").await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.7/hook",
        "http://[::1]/hook",
        "http://localhost/hook",
        "https://192.168.1.1/hook",
        "http://100.64.0.1/hook",
    ] {
        let response = app
            .post_json(
                "/webhooks/endpoints",
                &crm,
                &json!({ "url": url, "event_types": ["conversion.logged"] }),
            )
            .await;
        assert_problem(response, 422, "BAD_USER_INPUT", Some("url")).await;
    }
    let listed = expect_json(app.get("/webhooks/endpoints", &crm).await, 200).await;
    assert_eq!(listed["endpoints"], json!([]));
}

async fn bad_input_is_refused_and_writes_nothing() {
    let Fixture { app, crm, .. } = fixture().await;
    let cases = [
        (
            json!({ "url": "http://127.0.0.1:9/x", "event_types": ["conversion.deleted"] }),
            "event_types",
        ),
        (
            json!({ "url": "http://127.0.0.1:9/x", "event_types": [] }),
            "event_types",
        ),
        (
            json!({ "url": "not a url", "event_types": ["conversion.logged"] }),
            "url",
        ),
        (
            json!({ "url": "ftp://127.0.0.1/x", "event_types": ["conversion.logged"] }),
            "url",
        ),
        (
            json!({ "url": "http://u:p@127.0.0.1/x", "event_types": ["conversion.logged"] }),
            "url",
        ),
    ];
    for (body, field) in cases {
        let response = app.post_json("/webhooks/endpoints", &crm, &body).await;
        assert_problem(response, 422, "BAD_USER_INPUT", Some(field)).await;
    }
    let missing = app
        .post_json(
            "/webhooks/endpoints",
            &crm,
            &json!({ "url": "http://127.0.0.1:9/x" }),
        )
        .await;
    assert_eq!(missing.status().as_u16(), 422);
    let listed = expect_json(app.get("/webhooks/endpoints", &crm).await, 200).await;
    assert_eq!(listed["endpoints"], json!([]));
    let audit = expect_json(
        app.get("/audit?object_type=webhook_endpoint", &app.admin)
            .await,
        200,
    )
    .await;
    assert_eq!(audit["entries"], json!([]));
    // A read-only key may look but not register.
    let key = app.register_workspace("dashboard", &["read"]).await;
    let reader = Creds::headers("dashboard", &key);
    let response = app
        .post_json(
            "/webhooks/endpoints",
            &reader,
            &json!({ "url": "http://127.0.0.1:9/x", "event_types": ["conversion.logged"] }),
        )
        .await;
    assert_problem(response, 403, "FORBIDDEN", None).await;
}

async fn graphql_mirrors_the_rest_operations() {
    let Fixture { app, crm, .. } = fixture().await;
    let hook = receiver().await;
    let create = "mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { secret endpoint { id workspaceId url eventTypes } } }";
    let bad = app
        .graphql(
            &crm,
            create,
            json!({ "input": { "url": hook.url, "eventTypes": ["conversion.deleted"] } }),
        )
        .await;
    crate::helpers::assert_graphql_error(&bad, "BAD_USER_INPUT", Some("eventTypes"));
    let created = app
        .graphql_data(
            &crm,
            create,
            json!({ "input": { "url": hook.url, "eventTypes": ["conversion.logged"] } }),
        )
        .await;
    let created = &created["createWebhookEndpoint"];
    let secret = created["secret"].as_str().expect("a secret").to_owned();
    let id = created["endpoint"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    assert_eq!(created["endpoint"]["workspaceId"], "crm");
    sale(&app, &crm, 1001, "10").await;
    let got = hook.wait_for(1).await;
    assert!(verify(&secret, &got[0]));
    let log = "query($id: ID!) { webhookDeliveries(endpointId: $id, first: 10) { totalCount edges { node { id status attempts messageId lastStatusCode payload } } } }";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let node = loop {
        let data = app.graphql_data(&crm, log, json!({ "id": id })).await;
        let node = data["webhookDeliveries"]["edges"][0]["node"].clone();
        if node["status"] == "delivered" {
            assert_eq!(data["webhookDeliveries"]["totalCount"], 1);
            break node;
        }
        assert!(tokio::time::Instant::now() < deadline, "{data}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    };
    assert_eq!(node["messageId"], got[0].id.as_str());
    assert_eq!(node["payload"]["type"], "conversion.logged");
    let redelivered = app
        .graphql_data(
            &crm,
            "mutation($id: ID!) { redeliverWebhook(id: $id) { status } }",
            json!({ "id": node["id"] }),
        )
        .await;
    assert_eq!(redelivered["redeliverWebhook"]["status"], "pending");
    hook.wait_for(2).await;
    let listed = app
        .graphql_data(&crm, "{ webhookEndpoints { id } }", json!({}))
        .await;
    assert_eq!(
        listed["webhookEndpoints"].as_array().expect("list").len(),
        1
    );
    let deleted = app
        .graphql_data(
            &crm,
            "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(deleted["deleteWebhookEndpoint"], id.as_str());
    let app_without_flag = spawn_app().await;
    let ws = app_without_flag.workspace("crm").await;
    let refused = app_without_flag
        .graphql(&ws, create, json!({ "input": { "url": "http://169.254.169.254/", "eventTypes": ["conversion.logged"] } }))
        .await;
    crate::helpers::assert_graphql_error(&refused, "BAD_USER_INPUT", Some("url"));
}

crate::backend::on_both_backends!(
    graphql_mirrors_the_rest_operations,
    a_logged_conversion_arrives_signed_and_shaped_as_the_rest_view,
    a_contact_update_is_delivered_to_the_workspace_that_made_it,
    restatements_and_retractions_arrive_with_the_history,
    a_hanging_receiver_holds_up_no_other_endpoint,
    deliveries_are_retried_until_the_receiver_comes_back,
    a_delivery_that_keeps_failing_is_dead_lettered_and_can_be_redelivered,
    each_workspace_receives_only_its_own_events_and_the_admin_all,
    internal_addresses_are_refused_without_the_operator_flag,
    bad_input_is_refused_and_writes_nothing,
);

/// Conversions logged while the receiver is down, then a SIGKILL: after a restart every one
/// of them is delivered (duplicates allowed, at least once; none missing).
#[tokio::test]
async fn nothing_is_lost_across_a_sigkill() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("convio.db").display()
    );
    let mut command = convio(&url);
    command.args(FAST);
    let mut node = start(command).await;
    let crm = node.app.workspace("crm").await;
    let leads = node.app.workspace("lead_gen").await;
    node.app
        .contact_received_by(&leads, 1001, "Jane Roe", "crm")
        .await;
    let port = receiver().await.port;
    let endpoint_url = format!("http://127.0.0.1:{port}/hook");
    register(&node.app, &crm, &endpoint_url, &["conversion.logged"]).await;
    let mut logged = std::collections::HashSet::new();
    for n in 0..20 {
        let c = sale(&node.app, &crm, 1001, &format!("{n}.00")).await;
        logged.insert(c["id"].as_str().expect("id").to_owned());
    }
    node.child.start_kill().expect("SIGKILL");
    node.child.wait().await.expect("the server died");

    let hook = receiver_on(port).await;
    let mut command = convio(&url);
    command.args(FAST);
    let _node = start(command).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got: std::collections::HashSet<String> = hook
            .received()
            .iter()
            .map(|r| r.json()["data"]["id"].as_str().expect("id").to_owned())
            .collect();
        if got == logged {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivered {} of {}",
            got.len(),
            logged.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // At least once, and each event under one webhook-id whatever its attempts.
    let mut ids: Vec<String> = hook.received().iter().map(|r| r.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), logged.len());
}
