//! Encryption at rest of sensitive custom data: values under `secret_…` keys never reach the
//! database in plaintext, authorised readers get them back, read-only readers see a mask,
//! keys rotate, and a ciphertext moved to another row fails to open.

use crate::backend::{Backend, current};
use crate::helpers::{
    Creds, TestApp, assert_graphql_error, assert_problem, expect_json, spawn_app_on, spawn_app_with,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};

const SSN: &str = "canary-ssn-078-05-1120";
const PASSPORT: &str = "canary-passport-X1234567";
/// A non-sensitive value stored next to them: finding it proves the scan reads the data.
const PLAIN: &str = "plain-marker-7f3a9c";

/// `kid=base64key` for a 32-byte key filled with `byte`.
fn key(kid: &str, byte: u8) -> String {
    format!("{kid}={}", BASE64.encode([byte; 32]))
}

async fn app_with_keys(keys: &str) -> TestApp {
    spawn_app_with(&["--encryption-keys", keys]).await
}

/// Contact 1001 created by lead_gen, with lead 2001, received by `sales`, which converted
/// it with a sensitive value, and patched its metadata with another one. Returns sales'
/// credentials and the conversion id.
async fn sensitive_sale(app: &TestApp) -> (Creds, String) {
    let lead_gen = app.workspace("lead_gen").await;
    let sales = app.workspace("sales").await;
    app.contact_received_by(&lead_gen, 1001, "Jane Roe", "sales")
        .await;
    app.create_lead(&lead_gen, 2001, 1001).await;
    let logged = app
        .log_conversion(
            &sales,
            json!({"contact_id": 1001, "lead_id": 2001, "converted_by": "agent", "conversion_type": "sale",
                   "custom_data": {"secret_ssn": SSN, "plan": PLAIN}}),
        )
        .await;
    let patched = app
        .patch_json(
            "/contacts/1001/conversion",
            &sales,
            &json!({"custom_metadata": {"secret_passport": PASSPORT, "tier": PLAIN}}),
        )
        .await;
    let patched = expect_json(patched, 200).await;
    assert_eq!(patched["custom_metadata"]["secret_passport"], PASSPORT);
    (sales, logged["id"].as_str().expect("an id").to_owned())
}

/// A read-only workspace that sees contact 1001 because `sales` sent it there.
async fn read_only_viewer(app: &TestApp, sales: &Creds) -> Creds {
    let key = app.register_workspace("viewer", &["read"]).await;
    app.send_contact(sales, 1001, "viewer").await;
    Creds::headers("viewer", &key)
}

async fn query(database_url: &str, sql: &str) -> Vec<Option<String>> {
    let db = Database::connect(database_url).await.expect("connect");
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query");
    db.close().await.expect("close");
    rows.iter()
        .map(|row| {
            row.try_get::<Option<String>>("", "t")
                .expect("a text column")
        })
        .collect()
}

async fn execute(database_url: &str, sql: &str) {
    let db = Database::connect(database_url).await.expect("connect");
    db.execute_unprepared(sql).await.expect("execute");
    db.close().await.expect("close");
}

/// Everything the database holds, as stored: on SQLite the bytes of the database file and
/// its WAL and journal; on PostgreSQL the raw text of every custom data column.
async fn raw_database(app: &TestApp) -> String {
    match current() {
        Backend::Sqlite => {
            let path = app
                .database_url
                .trim_start_matches("sqlite://")
                .split('?')
                .next()
                .expect("a path")
                .to_owned();
            let mut bytes = Vec::new();
            for suffix in ["", "-wal", "-journal"] {
                if let Ok(content) = std::fs::read(format!("{path}{suffix}")) {
                    bytes.extend(content);
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Backend::Postgres => {
            let mut text = String::new();
            for sql in [
                "SELECT custom_data::text AS t FROM conversions",
                "SELECT custom_metadata::text AS t FROM contacts",
                "SELECT conversion_metadata::text AS t FROM leads",
                "SELECT details::text AS t FROM audit_log",
                "SELECT metadata::text AS t FROM workspace_tracking",
            ] {
                for value in query(&app.database_url, sql).await.into_iter().flatten() {
                    text.push_str(&value);
                    text.push('\n');
                }
            }
            text
        }
    }
}

async fn the_database_holds_no_plaintext_of_sensitive_values() {
    // Arrange
    let app = app_with_keys(&key("k1", 1)).await;

    // Act
    sensitive_sale(&app).await;

    // Assert
    let raw = raw_database(&app).await;
    assert!(raw.contains(PLAIN), "the scan reads the stored data");
    assert!(raw.contains("v1:k1:"), "sealed values are stored");
    for canary in [SSN, PASSPORT] {
        assert!(!raw.contains(canary), "{canary} is stored in plaintext");
    }
}

const CONVERSION_QUERY: &str = r#"query($id: ID!) {
  conversion(id: $id) { customData contact { customMetadata leads { nodes { conversionMetadata } } } }
}"#;

async fn authorised_readers_get_plaintext_and_read_only_ones_a_mask() {
    // Arrange
    let app = app_with_keys(&key("k1", 1)).await;
    let (sales, id) = sensitive_sale(&app).await;
    let viewer = read_only_viewer(&app, &sales).await;
    // The admin logs a conversion on behalf of the read-only workspace.
    let own = app
        .log_conversion(
            &app.admin,
            json!({"contact_id": 1001, "workspace_id": "viewer", "converted_by": "agent",
                   "conversion_type": "sale", "custom_data": {"secret_ssn": SSN, "plan": PLAIN}}),
        )
        .await;
    assert_eq!(own["custom_data"]["secret_ssn"], SSN, "the admin reads it");

    // Act
    let by_sales = expect_json(app.get(&format!("/conversions/{id}"), &sales).await, 200).await;
    let by_admin = expect_json(
        app.get(&format!("/conversions/{id}"), &app.admin).await,
        200,
    )
    .await;
    let graphql_by_sales = app
        .graphql_data(&sales, CONVERSION_QUERY, json!({ "id": id }))
        .await;
    let viewer_rest = expect_json(
        app.get(
            &format!("/conversions/{}", own["id"].as_str().unwrap()),
            &viewer,
        )
        .await,
        200,
    )
    .await;
    let viewer_contact = expect_json(app.get("/contacts/1001", &viewer).await, 200).await;
    let viewer_graphql = app
        .graphql_data(&viewer, CONVERSION_QUERY, json!({ "id": own["id"] }))
        .await;

    // Assert
    for conversion in [&by_sales, &by_admin] {
        assert_eq!(conversion["custom_data"]["secret_ssn"], SSN);
        assert_eq!(conversion["custom_data"]["plan"], PLAIN);
    }
    let found = &graphql_by_sales["conversion"];
    assert_eq!(found["customData"]["secret_ssn"], SSN);
    assert_eq!(
        found["contact"]["customMetadata"]["secret_passport"],
        PASSPORT
    );
    assert_eq!(
        found["contact"]["leads"]["nodes"][0]["conversionMetadata"]["secret_ssn"], SSN,
        "the lead's copy opens too"
    );

    assert_eq!(viewer_rest["custom_data"]["secret_ssn"], "***");
    assert_eq!(
        viewer_rest["custom_data"]["plan"], PLAIN,
        "only sensitive keys masked"
    );
    assert_eq!(viewer_contact["custom_metadata"]["secret_passport"], "***");
    assert_eq!(viewer_contact["custom_metadata"]["tier"], PLAIN);
    let seen = &viewer_graphql["conversion"];
    assert_eq!(seen["customData"]["secret_ssn"], "***");
    assert_eq!(seen["contact"]["customMetadata"]["secret_passport"], "***");
}

const FEED_WITH_DATA: &str = r#"
subscription { conversionFeed { conversion { id customData } contact { customMetadata } } }"#;

async fn the_live_feed_masks_for_read_only_subscribers_too() {
    // Arrange
    let app = app_with_keys(&key("k1", 1)).await;
    let (sales, _) = sensitive_sale(&app).await;
    let viewer = read_only_viewer(&app, &sales).await;
    let mut masked = app.feed_socket().await;
    masked
        .init(viewer.connection_init_payload())
        .await
        .expect("acknowledged");
    masked.subscribe("1", FEED_WITH_DATA, json!({})).await;
    let mut clear = app.feed_socket().await;
    clear
        .init(app.admin.connection_init_payload())
        .await
        .expect("acknowledged");
    clear.subscribe("1", FEED_WITH_DATA, json!({})).await;
    app.wait_for_subscribers(2).await;

    // Act
    app.log_conversion(
        &app.admin,
        json!({"contact_id": 1001, "workspace_id": "viewer", "converted_by": "agent",
               "conversion_type": "sale", "custom_data": {"secret_ssn": SSN}}),
    )
    .await;

    // Assert
    let event = masked.next_event().await.expect("an event");
    let event = &event["data"]["conversionFeed"];
    assert_eq!(event["conversion"]["customData"]["secret_ssn"], "***");
    assert_eq!(event["contact"]["customMetadata"]["secret_passport"], "***");
    let event = clear.next_event().await.expect("an event");
    let event = &event["data"]["conversionFeed"];
    assert_eq!(event["conversion"]["customData"]["secret_ssn"], SSN);
    assert_eq!(
        event["contact"]["customMetadata"]["secret_passport"],
        PASSPORT
    );
}

async fn after_rotation_old_values_still_open_and_new_ones_use_the_new_key() {
    // Arrange
    let app = app_with_keys(&key("k1", 1)).await;
    let (sales, old) = sensitive_sale(&app).await;

    // Act: restarted with a new first key, the old one still listed.
    let rotated = spawn_app_on(
        &app.database_url,
        &[
            "--encryption-keys",
            &format!("{},{}", key("k2", 2), key("k1", 1)),
        ],
    )
    .await;
    let fresh = rotated
        .log_conversion(
            &sales,
            json!({"contact_id": 1001, "converted_by": "agent_rotated", "conversion_type": "sale",
                   "custom_data": {"secret_ssn": "canary-new-ssn"}}),
        )
        .await;
    let read_old = rotated.get(&format!("/conversions/{old}"), &sales).await;
    // A node that dropped the old key too early cannot open the old value, and says so.
    let dropped = spawn_app_on(&app.database_url, &["--encryption-keys", &key("k2", 2)]).await;
    let unreadable = dropped.get(&format!("/conversions/{old}"), &sales).await;

    // Assert
    assert_eq!(
        expect_json(read_old, 200).await["custom_data"]["secret_ssn"],
        SSN
    );
    assert_eq!(fresh["custom_data"]["secret_ssn"], "canary-new-ssn");
    let stored = query(
        &app.database_url,
        "SELECT CAST(custom_data AS TEXT) AS t FROM conversions WHERE converted_by = 'agent_rotated'",
    )
    .await;
    let stored = stored[0].as_deref().expect("stored custom data");
    assert!(
        stored.contains("v1:k2:"),
        "new values use the first key: {stored}"
    );
    let problem = assert_problem(unreadable, 500, "UNDECRYPTABLE", None).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("'k1' is not configured"),
        "{problem}"
    );
}

async fn a_ciphertext_moved_to_another_row_fails_to_open() {
    // Arrange
    let app = app_with_keys(&key("k1", 1)).await;
    let (sales, first) = sensitive_sale(&app).await;
    let second = app
        .log_conversion(
            &sales,
            json!({"contact_id": 1001, "converted_by": "agent_two", "conversion_type": "sale",
                   "custom_data": {"secret_ssn": "canary-other-ssn"}}),
        )
        .await;
    let second = second["id"].as_str().unwrap();

    // Act: someone with database access copies the first row's data into the second.
    execute(
        &app.database_url,
        "UPDATE conversions SET custom_data = \
         (SELECT custom_data FROM conversions WHERE converted_by = 'agent') \
         WHERE converted_by = 'agent_two'",
    )
    .await;
    let rest = app.get(&format!("/conversions/{second}"), &sales).await;
    let graphql = app
        .graphql(
            &sales,
            "query($id: ID!) { conversion(id: $id) { id customData } }",
            json!({ "id": second }),
        )
        .await;
    let untouched = app.get(&format!("/conversions/{first}"), &sales).await;

    // Assert
    let problem = assert_problem(rest, 500, "UNDECRYPTABLE", None).await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("secret_ssn") && detail.contains("moved"),
        "{detail}"
    );
    assert!(!detail.contains(SSN), "the error never shows the value");
    assert_graphql_error(&graphql, "UNDECRYPTABLE", None);
    assert_eq!(graphql["data"]["conversion"]["customData"], Value::Null);
    assert_eq!(
        graphql["data"]["conversion"]["id"], second,
        "the rest of the row is served"
    );
    assert_eq!(
        expect_json(untouched, 200).await["custom_data"]["secret_ssn"],
        SSN
    );
}

async fn without_keys_sensitive_values_are_refused_not_stored() {
    // Arrange
    let app = spawn_app_with(&[]).await;
    let sales = app.workspace("sales").await;
    app.create_contact(&sales, 1001, "Jane Roe").await;

    // Act
    let refused = app
        .post_json(
            "/conversions/log",
            &sales,
            &json!({"contact_id": 1001, "converted_by": "agent", "conversion_type": "sale",
                    "custom_data": {"secret_ssn": SSN}}),
        )
        .await;
    let refused_contact = app
        .post_json(
            "/contacts",
            &sales,
            &json!({"id": 1002, "custom_metadata": {"secret_passport": PASSPORT}}),
        )
        .await;

    // Assert
    let problem = assert_problem(refused, 422, "BAD_USER_INPUT", Some("custom_data")).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("CONVIO_ENCRYPTION_KEYS"),
        "{problem}"
    );
    assert_problem(
        refused_contact,
        422,
        "BAD_USER_INPUT",
        Some("custom_metadata"),
    )
    .await;
    assert!(app.all_conversions().await.is_empty(), "nothing stored");
    let missing = app.get("/contacts/1002", &app.admin).await;
    assert_problem(missing, 404, "NOT_FOUND", None).await;
}

async fn erasing_a_contact_destroys_its_sealed_values() {
    // Arrange
    let app = app_with_keys(&key("k1", 1)).await;
    sensitive_sale(&app).await;

    // Act
    let erased = app
        .post_json("/contacts/1001/erase", &app.admin, &json!({}))
        .await;

    // Assert
    expect_json(erased, 200).await;
    for sql in [
        "SELECT CAST(custom_data AS TEXT) AS t FROM conversions",
        "SELECT CAST(custom_metadata AS TEXT) AS t FROM contacts",
        "SELECT CAST(conversion_metadata AS TEXT) AS t FROM leads",
    ] {
        let values = query(&app.database_url, sql).await;
        assert!(!values.is_empty(), "{sql}");
        assert!(values.iter().all(Option::is_none), "{sql}: {values:?}");
    }
}

/// The size limit (16 KiB of JSON) holds for metadata as written, not for its sealed form,
/// which is a third larger: a contact created with a large secret still takes changes, and a
/// change that takes the plaintext over the limit is still refused.
async fn the_metadata_limit_measures_what_was_written_not_its_sealed_form() {
    // Arrange
    let app = app_with_keys(&key("k1", 1)).await;
    let owner = app.workspace("owner").await;
    let large = "s".repeat(12_500);
    let created = app
        .post_json(
            "/contacts",
            &owner,
            &json!({ "id": 5001, "custom_metadata": { "secret_notes": large } }),
        )
        .await;
    expect_json(created, 201).await;

    // Act
    let small_change = app
        .patch_json(
            "/contacts/5001/conversion",
            &owner,
            &json!({ "custom_metadata": { "plan": "gold" } }),
        )
        .await;
    let over_the_limit = app
        .patch_json(
            "/contacts/5001/conversion",
            &owner,
            &json!({ "custom_metadata": { "more": "m".repeat(4_000) } }),
        )
        .await;

    // Assert
    let contact = expect_json(small_change, 200).await;
    assert_eq!(contact["custom_metadata"]["plan"], "gold");
    assert_eq!(contact["custom_metadata"]["secret_notes"], large.as_str());
    assert_problem(
        over_the_limit,
        422,
        "BAD_USER_INPUT",
        Some("custom_metadata"),
    )
    .await;
}

crate::backend::on_both_backends!(
    the_metadata_limit_measures_what_was_written_not_its_sealed_form,
    the_database_holds_no_plaintext_of_sensitive_values,
    authorised_readers_get_plaintext_and_read_only_ones_a_mask,
    the_live_feed_masks_for_read_only_subscribers_too,
    after_rotation_old_values_still_open_and_new_ones_use_the_new_key,
    a_ciphertext_moved_to_another_row_fails_to_open,
    without_keys_sensitive_values_are_refused_not_stored,
    erasing_a_contact_destroys_its_sealed_values,
);
