//! No personal data or secret reaches a log line, at any level: canary values are sent
//! through every door (REST, GraphQL, WebSocket, bad requests) to a server logging at
//! `debug`, and its whole output is scanned for them.

use crate::cluster::convio;
use crate::helpers::{ADMIN_KEY, Creds, TestApp, expect_json};
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;

const EMAIL: &str = "canary.person@example.com";
const NAME: &str = "Canaryfirst Canarylast";
const PHONE: &str = "+1-555-0199-7321";
const SECRET_NOTE: &str = "canary-secret-note-91d2";

#[tokio::test]
async fn no_personal_data_or_secret_appears_in_any_log_line() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("convio.db").display()
    );
    let log_path = dir.path().join("convio.log");
    let log_file = std::fs::File::create(&log_path).expect("a log file");
    let mut child = convio(&url)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::from(log_file.try_clone().expect("clone")))
        .stderr(Stdio::from(log_file))
        .spawn()
        .expect("convio starts");

    // The bound port is in the start-up log.
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

    let key = app
        .register_workspace("salesforce_prod", &["read", "update", "convert"])
        .await;
    let sales = Creds::headers("salesforce_prod", &key);
    let lead_gen = app.workspace("lead_gen_team").await;
    let contact = json!({"id": 123456, "name": NAME, "email": EMAIL, "phone": PHONE,
                         "custom_metadata": {"note": SECRET_NOTE}});
    expect_json(app.post_json("/contacts", &lead_gen, &contact).await, 201).await;
    app.send_contact(&lead_gen, 123456, "salesforce_prod").await;
    app.log_conversion(
        &sales,
        json!({"contact_id": 123456, "converted_by": EMAIL, "conversion_type": "sale",
                                      "conversion_value": 10, "custom_data": {"phone": PHONE}}),
    )
    .await;
    app.patch_json(
        "/contacts/123456/conversion",
        &sales,
        &json!({"custom_metadata": {"email": EMAIL}}),
    )
    .await;
    // Bad requests carrying personal data must not echo it into logs either.
    app.post_json(
        "/contacts",
        &lead_gen,
        &json!({"id": 123456, "email": EMAIL}),
    )
    .await;
    app.post_json(
        "/contacts",
        &lead_gen,
        &json!({"email": format!("{EMAIL} not an email")}),
    )
    .await;
    app.post_json(
        "/conversions/log",
        &sales,
        &json!({"contact_id": 1, "converted_by": NAME, "conversion_type": "Bad Type"}),
    )
    .await;
    let token = expect_json(
        app.rest(reqwest::Method::POST, "/auth/token", &sales)
            .send()
            .await
            .expect("sent"),
        200,
    )
    .await;
    let jwt = token["access_token"].as_str().expect("a token").to_owned();
    app.graphql(
        &Creds::bearer(&jwt),
        "{ contact(id: \"123456\") { name email phone } }",
        json!({}),
    )
    .await;
    app.graphql(
        &sales,
        "mutation($e: String) { createContact(input: {email: $e}) { id } }",
        json!({"e": EMAIL}),
    )
    .await;
    app.get(
        "/conversions",
        &Creds::headers("salesforce_prod", "wrong-key-canary-0000"),
    )
    .await;
    let mut socket = app.feed_socket().await;
    let _ = socket.init(sales.connection_init_payload()).await;
    drop(socket);

    child.start_kill().expect("stop convio");
    child.wait().await.expect("convio stopped");
    let logs = std::fs::read_to_string(&log_path).expect("the log");
    assert!(
        logs.lines().count() > 20,
        "the server did log at debug level:\n{logs}"
    );
    for canary in [
        EMAIL,
        NAME,
        "Canaryfirst",
        PHONE,
        SECRET_NOTE,
        key.as_str(),
        jwt.as_str(),
        ADMIN_KEY,
        "wrong-key-canary",
    ] {
        let leaked: Vec<&str> = logs.lines().filter(|l| l.contains(canary)).collect();
        assert!(
            leaked.is_empty(),
            "`{canary}` leaked into the logs: {leaked:#?}"
        );
    }
}
