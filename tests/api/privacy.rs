//! GDPR: erasing a contact removes its personal data but keeps its conversions, so totals
//! stay right; a retention policy does the same by age. Erased values are left in no file of
//! the database, and an erased contact takes no new free-form data.

use crate::backend::{Backend, current, fresh_postgres_database};
use crate::helpers::{
    Creds, TestApp, assert_graphql_error, assert_problem, expect_json, spawn_app, spawn_app_on,
};
use chrono::{Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, Database, EntityTrait, IntoActiveModel, Set, Statement,
};
use serde_json::{Value, json};
use std::path::Path;

async fn contact_with_a_sale(app: &TestApp, id: i64) -> Creds {
    let lead_gen = app.workspace(&format!("lead_gen_{id}")).await;
    let sales = app.workspace(&format!("sales_{id}")).await;
    let contact = json!({"id": id, "name": "Jane Roe", "email": "jane@example.com", "phone": "+1 555 0100",
                         "custom_metadata": {"notes": "prefers mornings"}});
    expect_json(app.post_json("/contacts", &lead_gen, &contact).await, 201).await;
    app.send_contact(&lead_gen, id, &format!("sales_{id}"))
        .await;
    app.log_conversion(&sales, json!({"contact_id": id, "converted_by": "agent", "conversion_type": "sale",
                                      "conversion_value": "2500.00", "custom_data": {"notes": "spoke to Jane"}}))
        .await;
    sales
}

async fn total_value(app: &TestApp) -> Value {
    let analytics = app.get("/conversions/analytics", &app.admin).await;
    crate::helpers::exact(&analytics.text().await.expect("body"))["summary"]["total_value"].clone()
}

async fn erasing_a_contact_removes_personal_data_and_keeps_the_totals() {
    let app = spawn_app().await;
    let sales = contact_with_a_sale(&app, 123456).await;
    let before = total_value(&app).await;

    let erased = expect_json(
        app.post_json("/contacts/123456/erase", &app.admin, &json!({}))
            .await,
        200,
    )
    .await;
    for field in ["name", "email", "phone", "custom_metadata"] {
        assert_eq!(erased[field], Value::Null, "{field} erased");
    }
    assert!(erased["erased_at"].is_string());
    assert_eq!(erased["conversion_count"], 1);

    let conversions = app.all_conversions().await;
    assert_eq!(conversions.len(), 1, "the conversion stays");
    assert_eq!(
        conversions[0]["custom_data"],
        Value::Null,
        "its free-form data is destroyed"
    );
    assert_eq!(total_value(&app).await, before, "totals unchanged");
    // The workspace still sees the (now anonymous) contact it converted.
    let seen = expect_json(app.get("/contacts/123456", &sales).await, 200).await;
    assert_eq!(seen["email"], Value::Null);
}

async fn only_the_admin_may_erase() {
    let app = spawn_app().await;
    let sales = contact_with_a_sale(&app, 5).await;
    let refused = app.post_json("/contacts/5/erase", &sales, &json!({})).await;
    assert_problem(refused, 403, "FORBIDDEN", None).await;
    let missing = app
        .post_json("/contacts/999/erase", &app.admin, &json!({}))
        .await;
    assert_problem(missing, 404, "NOT_FOUND", None).await;
    let kept = expect_json(app.get("/contacts/5", &app.admin).await, 200).await;
    assert_eq!(kept["email"], "jane@example.com");
}

async fn graphql_erases_too() {
    let app = spawn_app().await;
    contact_with_a_sale(&app, 7).await;
    let data = app
        .graphql_data(
            &app.admin,
            r#"mutation { eraseContact(contactId: "7") { name email erasedAt } }"#,
            json!({}),
        )
        .await;
    assert_eq!(data["eraseContact"]["email"], Value::Null);
    assert!(data["eraseContact"]["erasedAt"].is_string());
}

async fn the_retention_policy_erases_contacts_older_than_it_allows() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = match current() {
        Backend::Sqlite => format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("convio.db").display()
        ),
        Backend::Postgres => fresh_postgres_database().await,
    };
    let app = spawn_app_on(&url, &[]).await;
    contact_with_a_sale(&app, 1).await;
    contact_with_a_sale(&app, 2).await;
    let before = total_value(&app).await;
    // Contact 1 was created long ago.
    let db = Database::connect(url.as_str()).await.expect("connect");
    let old = entity::contact::Entity::find_by_id(1_i64)
        .one(&db)
        .await
        .expect("read")
        .expect("contact 1");
    let mut old = old.into_active_model();
    old.created_at = Set(Utc::now() - Duration::days(400));
    old.update(&db).await.expect("backdate");

    // A node with a one-year policy sweeps at start.
    let swept = spawn_app_on(&url, &["--personal-data-retention-days", "365"]).await;
    let mut erased = Value::Null;
    for _ in 0..100 {
        erased = expect_json(swept.get("/contacts/1", &swept.admin).await, 200).await;
        if erased["erased_at"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(erased["email"], Value::Null, "contact 1 erased: {erased}");
    let recent = expect_json(swept.get("/contacts/2", &swept.admin).await, 200).await;
    assert_eq!(
        recent["email"], "jane@example.com",
        "a recent contact is kept"
    );
    assert_eq!(total_value(&swept).await, before, "totals unchanged");
    // The sweep let go of the writer: the node still takes writes. (On SQLite it once held
    // its last, empty transaction while its checkpoint waited for that transaction.)
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        contact_with_a_sale(&swept, 3),
    )
    .await
    .expect("writes after the sweep answered within 10 s");
}

/// The erased contact's personal data, each value a string found nowhere else.
const ERASED: [&str; 6] = [
    "Canary Roe-7q",
    "canary.7q@example.com",
    "+1 555 0177 937",
    "canary-metadata-prefers-mornings",
    "canary-conversion-spoke-to-her",
    "canary-lead-called-back",
];
/// The name of a contact that is not erased: the same scan finding it proves it reads the
/// data.
const KEPT: &str = "kept-marker-5d1e";

/// Everything the database holds, as stored: on SQLite the bytes of every file in its
/// directory (the database, `-wal`, `-shm`, any journal); on PostgreSQL every row of every
/// table as text.
async fn stored_bytes(database_url: &str, dir: &Path) -> String {
    match current() {
        Backend::Sqlite => {
            let mut bytes = Vec::new();
            for file in std::fs::read_dir(dir).expect("the database directory") {
                let path = file.expect("a directory entry").path();
                bytes.extend(std::fs::read(&path).expect("a database file"));
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Backend::Postgres => {
            let db = Database::connect(database_url).await.expect("connect");
            let backend = db.get_database_backend();
            let tables = db
                .query_all_raw(Statement::from_string(
                    backend,
                    "SELECT table_name::text AS t FROM information_schema.tables \
                     WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
                ))
                .await
                .expect("the tables");
            let mut text = String::new();
            for table in tables {
                let table: String = table.try_get("", "t").expect("a table name");
                let rows = db
                    .query_all_raw(Statement::from_string(
                        backend,
                        format!("SELECT CAST(r AS TEXT) AS t FROM \"{table}\" r"),
                    ))
                    .await
                    .expect("the rows");
                for row in rows {
                    text.push_str(&row.try_get::<String>("", "t").expect("a row as text"));
                    text.push('\n');
                }
            }
            db.close().await.expect("close");
            text
        }
    }
}

async fn assert_erased_everywhere(database_url: &str, dir: &Path, when: &str) {
    let stored = stored_bytes(database_url, dir).await;
    assert!(
        stored.contains(KEPT),
        "{when}: the scan reads the stored data"
    );
    for value in ERASED {
        assert!(!stored.contains(value), "{when}: {value:?} is still stored");
    }
}

/// Sends SIGTERM, as an init system stops a service, and waits for a clean exit.
async fn stop_cleanly(mut node: crate::cluster::Node) {
    let pid = node.child.id().expect("convio is running");
    let signalled = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .expect("kill runs");
    assert!(signalled.success(), "SIGTERM sent");
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), node.child.wait())
        .await
        .expect("convio stops within 30 s")
        .expect("convio's exit status");
    assert!(status.success(), "a clean shutdown: {status}");
}

async fn erased_values_are_left_in_no_database_file() {
    // Arrange: a convio process whose database (on SQLite) has a directory of its own.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = match current() {
        Backend::Sqlite => format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("convio.db").display()
        ),
        Backend::Postgres => fresh_postgres_database().await,
    };
    let node = crate::cluster::start(crate::cluster::convio(&url)).await;
    let app = &node.app;
    let lead_gen = app.workspace("lead_gen").await;
    let sales = app.workspace("sales").await;
    let [name, email, phone, metadata, conversion_note, lead_note] = ERASED;
    let contact = json!({"id": 1, "name": name, "email": email, "phone": phone,
                         "custom_metadata": {"notes": metadata}});
    expect_json(app.post_json("/contacts", &lead_gen, &contact).await, 201).await;
    app.send_contact(&lead_gen, 1, "sales").await;
    app.create_lead(&lead_gen, 11, 1).await;
    app.log_conversion(&sales, json!({"contact_id": 1, "lead_id": 11, "converted_by": "agent",
                                      "conversion_type": "sale", "conversion_value": "10.00",
                                      "custom_data": {"notes": conversion_note, "call": lead_note}}))
        .await;
    app.create_contact(&lead_gen, 2, KEPT).await;

    // Act
    let erased = app
        .post_json("/contacts/1/erase", &app.admin, &json!({}))
        .await;
    expect_json(erased, 200).await;

    // Assert: gone from every file while convio runs, and after it stops cleanly.
    assert_erased_everywhere(&url, dir.path(), "while serving").await;
    app.create_contact(&lead_gen, 3, "Written after the erasure")
        .await;
    stop_cleanly(node).await;
    assert_erased_everywhere(&url, dir.path(), "after a clean shutdown").await;
    // A clean shutdown leaves SQLite's write-ahead log empty: everything is in the file.
    let wal = std::fs::metadata(dir.path().join("convio.db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "bytes left in convio.db-wal");
}

async fn an_erased_contact_takes_no_new_free_form_data() {
    // Arrange
    let app = spawn_app().await;
    let sales = contact_with_a_sale(&app, 31).await;
    let before = total_value(&app).await;
    expect_json(
        app.post_json("/contacts/31/erase", &app.admin, &json!({}))
            .await,
        200,
    )
    .await;

    // Act and assert: free-form data is refused through both doors, naming the field.
    let patched = app
        .patch_json(
            "/contacts/31/conversion",
            &sales,
            &json!({"custom_metadata": {"notes": "canary-after-erasure"}}),
        )
        .await;
    assert_problem(patched, 409, "ERASED", Some("custom_metadata")).await;
    let body = app
        .graphql(
            &sales,
            r#"mutation { updateContactConversion(contactId: "31",
                 input: { customMetadata: { notes: "canary-after-erasure" } }) { id } }"#,
            json!({}),
        )
        .await;
    assert_graphql_error(&body, "ERASED", Some("customMetadata"));
    let sale = json!({"contact_id": 31, "converted_by": "agent", "conversion_type": "sale",
                      "conversion_value": "100.00", "custom_data": {"notes": "canary-after-erasure"}});
    let logged = app.post_json("/conversions/log", &sales, &sale).await;
    assert_problem(logged, 409, "ERASED", Some("custom_data")).await;
    let body = app
        .graphql(
            &sales,
            r#"mutation { logConversion(input: { contactId: "31", convertedBy: "agent",
                 conversionType: "sale", customData: { notes: "canary-after-erasure" } }) { id } }"#,
            json!({}),
        )
        .await;
    assert_graphql_error(&body, "ERASED", Some("customData"));

    // Conversions are still logged against it (totals stay right), and its status still moves.
    let mut plain = sale.clone();
    plain
        .as_object_mut()
        .expect("an object")
        .remove("custom_data");
    app.log_conversion(&sales, plain).await;
    let moved = app
        .patch_json(
            "/contacts/31/conversion",
            &sales,
            &json!({"conversion_status": "lost"}),
        )
        .await;
    expect_json(moved, 200).await;

    // Nothing refused was stored.
    let contact = app.contact_exact(31).await;
    assert_eq!(contact["custom_metadata"], Value::Null, "{contact}");
    assert_eq!(contact["conversion_count"], "2", "{contact}");
    let conversions = app.all_conversions().await;
    assert_eq!(conversions.len(), 2);
    assert!(
        conversions.iter().all(|c| c["custom_data"].is_null()),
        "{conversions:?}"
    );
    assert_ne!(total_value(&app).await, before, "the new sale counts");
}

/// An idempotency key's fingerprint digests its request, free-form data included: after the
/// contact is erased, replaying the key answers the same whatever the body guesses, so the
/// erased data cannot be confirmed, and no duplicate is stored.
async fn an_idempotency_key_cannot_confirm_erased_data() {
    // Arrange
    let app = spawn_app().await;
    let sales = contact_with_a_sale(&app, 41).await;
    let sale = |notes: &str| {
        json!({"contact_id": 41, "converted_by": "agent", "conversion_type": "sale",
               "conversion_value": "100.00", "custom_data": {"notes": notes}})
    };
    let keyed = |body: Value| {
        app.rest(reqwest::Method::POST, "/conversions/log", &sales)
            .header("Idempotency-Key", "order-41")
            .json(&body)
            .send()
    };
    expect_json(keyed(sale("canary-idempotent")).await.unwrap(), 201).await;
    expect_json(
        app.post_json("/contacts/41/erase", &app.admin, &json!({}))
            .await,
        200,
    )
    .await;

    // Act
    let right = keyed(sale("canary-idempotent")).await.unwrap();
    let wrong = keyed(sale("a wrong guess")).await.unwrap();
    let mut amount_guess = sale("x");
    amount_guess.as_object_mut().unwrap().remove("custom_data");
    let amount_guess = keyed(amount_guess).await.unwrap();

    // Assert
    let right = assert_problem(right, 409, "ERASED", None).await;
    let wrong = assert_problem(wrong, 409, "ERASED", None).await;
    assert_eq!(
        (&right["detail"], &right["field"]),
        (&wrong["detail"], &wrong["field"])
    );
    assert_problem(amount_guess, 409, "ERASED", Some("idempotency_key")).await;
    assert_eq!(app.all_conversions().await.len(), 2, "no duplicate");
}

crate::backend::on_both_backends!(
    erasing_a_contact_removes_personal_data_and_keeps_the_totals,
    only_the_admin_may_erase,
    graphql_erases_too,
    the_retention_policy_erases_contacts_older_than_it_allows,
    erased_values_are_left_in_no_database_file,
    an_erased_contact_takes_no_new_free_form_data,
    an_idempotency_key_cannot_confirm_erased_data,
);
