//! The audit log: every write leaves an entry admins can query, entries are hash-chained,
//! and `convio audit verify` finds an entry changed behind convio's back — and, with the
//! anchor key and file, the newest entries removed.

use crate::helpers::{
    Creds, TestApp, assert_graphql_error, assert_problem, expect_json, spawn_app, spawn_app_on,
    spawn_app_with,
};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;

/// The anchor key every node of a test is started with, and verification is given.
const ANCHOR_KEY: &str = "audit-anchor-key-for-the-tests-0123456789";

const AUDIT_LOG: &str =
    "query($objectType: String, $objectId: String, $actor: String, $first: Int) {
    auditLog(objectType: $objectType, objectId: $objectId, actor: $actor, first: $first) {
        edges { node { id at actor action objectType objectId requestId details hash } }
        pageInfo { hasNextPage endCursor }
    }
}";

async fn audit_log(app: &TestApp, variables: Value) -> Vec<Value> {
    let data = app.graphql_data(&app.admin, AUDIT_LOG, variables).await;
    data["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// `convio audit verify` against the app's database, as an operator would run it.
pub(crate) async fn audit_verify(app: &TestApp) -> Output {
    audit_verify_with(app, &[]).await
}

/// `convio audit verify` with extra flags (the anchor key, the anchor file).
async fn audit_verify_with(app: &TestApp, flags: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_convio"))
        .args(["audit", "verify", "--database-url", &app.database_url])
        .args(flags)
        .env("RUST_LOG", "off")
        .env_remove("CONVIO_AUDIT_ANCHOR_KEY")
        .env_remove("CONVIO_AUDIT_ANCHOR_FILE")
        .output()
        .await
        .expect("convio audit verify runs")
}

/// What verification printed: stdout when it passed, stderr when it failed.
fn verdict(output: &Output) -> (bool, String) {
    let text = if output.status.success() {
        &output.stdout
    } else {
        &output.stderr
    };
    (
        output.status.success(),
        String::from_utf8_lossy(text).trim().to_owned(),
    )
}

/// Runs each statement on the app's database directly, behind convio's back.
async fn tamper(app: &TestApp, statements: &[&str]) {
    let db = Database::connect(app.database_url.as_str())
        .await
        .expect("connect to the app's database");
    for sql in statements {
        db.execute_unprepared(sql).await.expect(sql);
    }
    db.close().await.expect("close");
}

/// Deletes the newest `n` audit entries.
fn delete_newest(n: u32) -> String {
    format!(
        "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log ORDER BY id DESC LIMIT {n})"
    )
}

/// A workspace registered, a contact created and sent, a conversion logged.
async fn some_writes(app: &TestApp) -> Creds {
    let lead_gen = app.workspace("lead_gen_team").await;
    app.workspace("salesforce_prod").await;
    app.create_contact(&lead_gen, 123456, "Jane Roe").await;
    app.send_contact(&lead_gen, 123456, "salesforce_prod").await;
    lead_gen
}

async fn a_write_is_recorded_with_its_actor_object_and_request_id() {
    let app = spawn_app().await;
    let lead_gen = app.workspace("lead_gen_team").await;

    let response = lead_gen
        .apply(app.client.post(app.url("/contacts")))
        .header("x-request-id", "req-audit-42")
        .json(&json!({"id": 123456, "name": "Jane Roe"}))
        .send()
        .await
        .expect("request sent");
    // The server's own id ties the row to the response and logs; the client's is kept beside.
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("a request id")
        .to_owned();
    expect_json(response, 201).await;

    let entries = audit_log(&app, json!({"objectType": "contact", "objectId": "123456"})).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry["actor"], "workspace:lead_gen_team");
    assert_eq!(entry["action"], "contact.created");
    assert_eq!(entry["objectType"], "contact");
    assert_eq!(entry["objectId"], "123456");
    assert_eq!(entry["requestId"], request_id.as_str());
    assert_eq!(entry["details"]["client_request_id"], "req-audit-42");
    assert_eq!(entry["hash"].as_str().map(str::len), Some(64));

    // The admin's own action is recorded too, and REST answers the same filters.
    let by_admin = expect_json(app.get("/audit?actor=admin", &app.admin).await, 200).await;
    let actions: Vec<&str> = by_admin["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(actions, ["workspace.registered"]);
    let by_request = expect_json(
        app.get("/audit?object_type=contact&object_id=123456", &app.admin)
            .await,
        200,
    )
    .await;
    assert_eq!(by_request["entries"][0]["request_id"], request_id.as_str());

    // A conversion is written by the group writer, outside the request, and keeps both ids.
    let sales = app.workspace("salesforce_prod").await;
    app.send_contact(&lead_gen, 123456, "salesforce_prod").await;
    let response = sales
        .apply(app.client.post(app.url("/conversions/log")))
        .header("x-request-id", "hook-7")
        .json(&json!({"contact_id": 123456, "converted_by": "a", "conversion_type": "sale"}))
        .send()
        .await
        .expect("request sent");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("a request id")
        .to_owned();
    let conversion = expect_json(response, 201).await;
    let id = conversion["id"].as_str().expect("an id");
    let entries = audit_log(&app, json!({"objectType": "conversion", "objectId": id})).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["action"], "conversion.logged");
    assert_eq!(entries[0]["requestId"], request_id.as_str());
    assert_eq!(entries[0]["details"]["client_request_id"], "hook-7");
}

async fn entries_come_newest_first_in_pages() {
    let app = spawn_app().await;
    some_writes(&app).await;

    let all = audit_log(&app, json!({})).await;
    let ids: Vec<i64> = all
        .iter()
        .map(|e| e["id"].as_str().and_then(|i| i.parse().ok()).expect("id"))
        .collect();
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    let first = expect_json(app.get("/audit?limit=3", &app.admin).await, 200).await;
    assert_eq!(first["entries"].as_array().map(Vec::len), Some(3));
    assert_eq!(first["page_info"]["has_next_page"], true);
    let cursor = first["page_info"]["end_cursor"].as_str().expect("cursor");
    let rest = expect_json(
        app.get(&format!("/audit?limit=3&after={cursor}"), &app.admin)
            .await,
        200,
    )
    .await;
    assert_eq!(rest["entries"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["page_info"]["has_next_page"], false);
}

async fn a_workspace_cannot_read_the_audit_log() {
    let app = spawn_app().await;
    let lead_gen = some_writes(&app).await;

    let body = app.graphql(&lead_gen, AUDIT_LOG, json!({})).await;
    assert_graphql_error(&body, "FORBIDDEN", None);
    assert_problem(app.get("/audit", &lead_gen).await, 403, "FORBIDDEN", None).await;
}

async fn the_chain_verifies_after_concurrent_writes() {
    let app = spawn_app().await;
    let lead_gen = some_writes(&app).await;
    // Concurrent writers must still append to one chain, one after another.
    let creates = (1..=16).map(|id| app.create_contact(&lead_gen, id, "Concurrent"));
    futures_util::future::join_all(creates).await;

    let output = audit_verify(&app).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.trim(), "audit log intact: 20 entries");
}

async fn a_changed_entry_is_detected() {
    let app = spawn_app().await;
    some_writes(&app).await;
    let entries = audit_log(&app, json!({"objectType": "contact", "objectId": "123456"})).await;
    let tampered = entries
        .last()
        .and_then(|e| e["id"].as_str())
        .expect("an entry for the contact")
        .to_owned();

    let db = Database::connect(app.database_url.as_str())
        .await
        .expect("connect to the app's database");
    db.execute_unprepared(&format!(
        "UPDATE audit_log SET details = '{{\"fields\":[]}}' WHERE id = {tampered}"
    ))
    .await
    .expect("tamper with an entry");
    db.close().await.expect("close");

    let output = audit_verify(&app).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "tampering went unnoticed");
    assert!(
        stderr.contains(&format!("broken at entry {tampered}:")),
        "{stderr}"
    );
}

async fn deleting_the_newest_entries_is_detected_with_the_anchor_key() {
    // Arrange
    let app = spawn_app_with(&["--audit-anchor-key", ANCHOR_KEY]).await;
    let lead_gen = some_writes(&app).await;
    let keyed = ["--audit-anchor-key", ANCHOR_KEY];
    let (passed, said) = verdict(&audit_verify_with(&app, &keyed).await);
    assert!(passed, "{said}");
    assert!(
        said.starts_with("audit log intact: 4 entries; signed head at entry "),
        "{said}"
    );

    // Act: the two newest entries are deleted in the database.
    tamper(&app, &[&delete_newest(2)]).await;

    // Assert: the shorter chain is valid on its own, but not against its signed head.
    let (passed, said) = verdict(&audit_verify(&app).await);
    assert!(
        passed,
        "without the key a removed tail looks intact: {said}"
    );
    let (passed, said) = verdict(&audit_verify_with(&app, &keyed).await);
    assert!(!passed, "the truncation went unnoticed: {said}");
    assert!(said.contains("audit log truncated"), "{said}");
    assert!(said.contains("2 entries missing"), "{said}");
    // Later writes are served, and neither hide the gap nor sign over it.
    app.create_contact(&lead_gen, 99, "Later").await;
    let (passed, said) = verdict(&audit_verify_with(&app, &keyed).await);
    assert!(!passed, "a later write hid the truncation: {said}");
    assert!(said.contains("2 entries missing"), "{said}");
}

/// Reads the anchor file until it names `entries` chained entries.
async fn wait_for_anchor_file(path: &Path, entries: u64) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let named = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .and_then(|file| file["entries"].as_u64());
        if named == Some(entries) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the anchor file never named {entries} entries (it names {named:?})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn an_older_signed_head_put_back_is_caught_by_the_anchor_file() {
    // Arrange: a node keeping an anchor file where the operator keeps it.
    let kept = tempfile::tempdir().expect("a temporary directory");
    let file = kept.path().join("audit-anchor.json");
    let file = file.to_str().expect("a UTF-8 path");
    let app = spawn_app_with(&[
        "--audit-anchor-key",
        ANCHOR_KEY,
        "--audit-anchor-file",
        file,
    ])
    .await;
    let lead_gen = some_writes(&app).await;
    // Someone with access to the database keeps a copy of the signed head...
    tamper(
        &app,
        &["CREATE TABLE kept_anchor AS SELECT * FROM audit_anchors"],
    )
    .await;
    // ...then does what they want hidden.
    app.create_contact(&lead_gen, 7, "Hidden").await;
    wait_for_anchor_file(Path::new(file), 5).await;

    // Act: its entry is deleted and the older signed head put back.
    tamper(
        &app,
        &[
            &delete_newest(1),
            "DELETE FROM audit_anchors",
            "INSERT INTO audit_anchors SELECT * FROM kept_anchor",
            "DROP TABLE kept_anchor",
        ],
    )
    .await;

    // Assert: the database agrees with itself, but not with the file the operator kept.
    let keyed = ["--audit-anchor-key", ANCHOR_KEY];
    let (passed, said) = verdict(&audit_verify_with(&app, &keyed).await);
    assert!(passed, "{said}");
    let (passed, said) = verdict(
        &audit_verify_with(
            &app,
            &[
                "--audit-anchor-key",
                ANCHOR_KEY,
                "--audit-anchor-file",
                file,
            ],
        )
        .await,
    );
    assert!(!passed, "the rollback went unnoticed: {said}");
    assert!(
        said.contains("truncated: the anchor file names entry"),
        "{said}"
    );
    assert!(said.contains("1 entry missing"), "{said}");
    // The file is not moved back by later writes either.
    app.create_contact(&lead_gen, 8, "Later").await;
    tokio::time::sleep(convio::service::audit::FILE_POLL * 2).await;
    let (passed, said) = verdict(&audit_verify_with(&app, &["--audit-anchor-file", file]).await);
    assert!(!passed, "the file moved back: {said}");
}

async fn the_signed_head_follows_concurrent_writers_on_two_nodes() {
    // Arrange: two nodes on one database, with the same key.
    let keyed = ["--audit-anchor-key", ANCHOR_KEY];
    let a = spawn_app_with(&keyed).await;
    let b = spawn_app_on(&a.database_url, &keyed).await;
    let lead_gen = some_writes(&a).await;

    // Act: both append at once.
    let creates = (1..=16).map(|id| {
        let node = if id % 2 == 0 { &a } else { &b };
        node.create_contact(&lead_gen, id, "Concurrent")
    });
    futures_util::future::join_all(creates).await;

    // Assert
    let (passed, said) = verdict(&audit_verify_with(&a, &keyed).await);
    assert!(passed, "{said}");
    let newest = audit_log(&a, json!({"first": 1})).await;
    let newest = newest[0]["id"].as_str().expect("an id");
    assert!(
        said.starts_with(&format!(
            "audit log intact: 20 entries; signed head at entry {newest} "
        )),
        "{said}"
    );
}

async fn an_anchor_file_without_a_key_or_a_short_key_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("anchor.json");
    let url = match crate::backend::current() {
        crate::backend::Backend::Sqlite => format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("convio.db").display()
        ),
        crate::backend::Backend::Postgres => crate::backend::fresh_postgres_database().await,
    };
    let file = file.to_str().expect("a UTF-8 path");
    for (flags, named) in [
        (vec!["--audit-anchor-file", file], "--audit-anchor-key"),
        (vec!["--audit-anchor-key", "short"], "at least 32 bytes"),
    ] {
        let mut args = vec!["convio", "--bind", "127.0.0.1:0", "--database-url", &url];
        args.extend(flags);
        let refused = convio::build(<convio::Config as clap::Parser>::parse_from(args)).await;
        let err = refused.err().expect("refused at start");
        assert!(err.to_string().contains(named), "{err}");
    }
}

crate::backend::on_both_backends!(
    a_write_is_recorded_with_its_actor_object_and_request_id,
    entries_come_newest_first_in_pages,
    a_workspace_cannot_read_the_audit_log,
    the_chain_verifies_after_concurrent_writes,
    a_changed_entry_is_detected,
    deleting_the_newest_entries_is_detected_with_the_anchor_key,
    an_older_signed_head_put_back_is_caught_by_the_anchor_file,
    the_signed_head_follows_concurrent_writers_on_two_nodes,
    an_anchor_file_without_a_key_or_a_short_key_is_refused,
);

/// The admin key generated on a fresh database is an admin action too: it is audited.
#[tokio::test]
async fn generating_the_admin_key_is_audited() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("convio.db").display()
    );
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_convio"));
    command
        .args(["--bind", "127.0.0.1:0", "--database-url", &url])
        .env("NO_COLOR", "1")
        .env_remove("CONVIO_ADMIN_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("convio starts");
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut errors = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let key = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(line) = errors.next_line().await.expect("stderr line") {
            if let Some(key) = line
                .split_whitespace()
                .find(|w| w.starts_with("convio_admin_"))
            {
                return key.to_owned();
            }
        }
        panic!("no admin key was printed");
    })
    .await
    .expect("the key within 30 s");
    let port = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(line) = out.next_line().await.expect("stdout line") {
            if let Some(rest) = line.split("http://127.0.0.1:").nth(1) {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                return digits.parse::<u16>().expect("a port");
            }
        }
        panic!("convio exited before serving");
    })
    .await
    .expect("serving within 30 s");
    let app = TestApp::attach(port);
    let entries = crate::helpers::expect_json(
        app.get("/audit?object_type=api_key", &Creds::bearer(&key))
            .await,
        200,
    )
    .await;
    let first = &entries["entries"][0];
    assert_eq!(first["action"], "admin_key.generated", "{entries}");
    assert_eq!(first["actor"], "admin");
    let _ = child.start_kill();
}
