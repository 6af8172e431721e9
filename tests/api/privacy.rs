//! GDPR: erasing a contact removes its personal data but keeps its conversions, so totals
//! stay right; a retention policy does the same by age.

use crate::backend::{Backend, current, fresh_postgres_database};
use crate::helpers::{Creds, TestApp, assert_problem, expect_json, spawn_app, spawn_app_on};
use chrono::{Duration, Utc};
use sea_orm::{ActiveModelTrait, Database, EntityTrait, IntoActiveModel, Set};
use serde_json::{Value, json};

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
}

crate::backend::on_both_backends!(
    erasing_a_contact_removes_personal_data_and_keeps_the_totals,
    only_the_admin_may_erase,
    graphql_erases_too,
    the_retention_policy_erases_contacts_older_than_it_allows,
);
