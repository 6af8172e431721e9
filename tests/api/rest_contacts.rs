//! `PATCH /contacts/{id}/conversion` (plan §2.1, §6.2), custom metadata merging, and how
//! logged conversions move a contact's status.

use crate::helpers::{Creds, TestApp, assert_problem, expect_json, spawn_app};
use serde_json::{Value, json};

/// workspace_123 created contact 123456 and sent it to workspace_456.
async fn received_by_456() -> (TestApp, Creds, Creds) {
    let app = spawn_app().await;
    let workspace_123 = app.workspace("workspace_123").await;
    let workspace_456 = app.workspace("workspace_456").await;
    app.contact_received_by(&workspace_123, 123456, "Jane Roe", "workspace_456")
        .await;
    (app, workspace_123, workspace_456)
}

async fn patch(app: &TestApp, creds: &Creds, id: i64, body: Value) -> Value {
    let response = app
        .patch_json(&format!("/contacts/{id}/conversion"), creds, &body)
        .await;
    expect_json(response, 200).await
}

async fn the_plans_patch_example_updates_the_contact() {
    // Arrange
    let (app, _, workspace_456) = received_by_456().await;
    // Plan §2.1, verbatim.
    let body = json!({
      "sent_from_workspace": "workspace_123",
      "converted_from_workspace": "workspace_456",
      "conversion_status": "converted",
      "converted_by": "agent_john_doe",
      "custom_metadata": {
        "qualification_score": 95,
        "interested_products": ["solar", "battery"],
        "preferred_contact_time": "morning",
        "decision_timeline": "30_days"
      }
    });

    // Act
    let response = app
        .patch_json("/contacts/123456/conversion", &workspace_456, &body)
        .await;

    // Assert
    let contact = expect_json(response, 200).await;
    assert_eq!(contact["id"], 123456);
    assert_eq!(contact["name"], "Jane Roe");
    assert_eq!(contact["sent_from_workspace"], "workspace_123");
    assert_eq!(contact["converted_from_workspace"], "workspace_456");
    assert_eq!(contact["conversion_status"], "converted");
    assert_eq!(contact["converted_by"], "agent_john_doe");
    assert_eq!(contact["custom_metadata"], body["custom_metadata"]);
    assert_eq!(contact["conversion_count"], 0, "a PATCH logs no conversion");
    let read = expect_json(app.get("/contacts/123456", &workspace_456).await, 200).await;
    assert_eq!(read["conversion_status"], "converted");
    assert_eq!(read["custom_metadata"], body["custom_metadata"]);
}

async fn the_hubspot_workflow_example_works_verbatim() {
    // Arrange: plan §6.2
    let app = spawn_app().await;
    let lead_gen = app.workspace("lead_gen_team").await;
    let key = app
        .register_workspace("hubspot_marketing", &["read", "update", "convert"])
        .await;
    app.contact_received_by(&lead_gen, 777001, "Sam Hale", "hubspot_marketing")
        .await;
    let hubspot_contact = json!({
        "convio_id": 777001,
        "owner": "owner_1",
        "lead_score": 87,
        "lifecycle_stage": "marketingqualifiedlead",
        "email_metrics": { "opens": 12, "clicks": 3 },
        "behavior_score": 42
    });

    // Act: the workflow's request, header for header.
    let response = app
        .client
        .patch(app.url(&format!(
            "/contacts/{}/conversion",
            hubspot_contact["convio_id"]
        )))
        .header("Content-Type", "application/json")
        .header("X-Workspace-ID", "hubspot_marketing")
        .header("X-API-Key", &key)
        .body(
            json!({
                "sent_from_workspace": "lead_gen_team",
                "converted_from_workspace": "hubspot_marketing",
                "conversion_status": "qualified",
                "converted_by": hubspot_contact["owner"],
                "custom_metadata": {
                    "lead_score": hubspot_contact["lead_score"],
                    "lifecycle_stage": hubspot_contact["lifecycle_stage"],
                    "email_engagement": hubspot_contact["email_metrics"],
                    "behavior_score": hubspot_contact["behavior_score"]
                }
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();

    // Assert
    let contact = expect_json(response, 200).await;
    assert_eq!(contact["id"], 777001);
    assert_eq!(contact["sent_from_workspace"], "lead_gen_team");
    assert_eq!(contact["converted_from_workspace"], "hubspot_marketing");
    assert_eq!(contact["conversion_status"], "qualified");
    assert_eq!(contact["converted_by"], "owner_1");
    assert_eq!(
        contact["custom_metadata"],
        json!({
            "lead_score": 87,
            "lifecycle_stage": "marketingqualifiedlead",
            "email_engagement": { "opens": 12, "clicks": 3 },
            "behavior_score": 42
        })
    );
}

async fn custom_metadata_is_merged_key_by_key() {
    // Arrange
    let (app, _, workspace_456) = received_by_456().await;
    patch(
        &app,
        &workspace_456,
        123456,
        json!({ "custom_metadata": { "a": 1, "b": 2, "c": 3, "nested": { "x": 1 } } }),
    )
    .await;

    // Act
    let contact = patch(
        &app,
        &workspace_456,
        123456,
        json!({ "custom_metadata": { "b": 20, "c": null, "d": 4 } }),
    )
    .await;

    // Assert: old keys kept, overwritten keys changed, null removes.
    assert_eq!(
        contact["custom_metadata"],
        json!({ "a": 1, "b": 20, "d": 4, "nested": { "x": 1 } })
    );
    let read = expect_json(app.get("/contacts/123456", &workspace_456).await, 200).await;
    assert_eq!(read["custom_metadata"], contact["custom_metadata"]);
}

async fn replace_custom_metadata_replaces_the_stored_object() {
    // Arrange
    let (app, _, workspace_456) = received_by_456().await;
    patch(
        &app,
        &workspace_456,
        123456,
        json!({ "custom_metadata": { "a": 1, "b": 2 } }),
    )
    .await;

    // Act
    let contact = patch(
        &app,
        &workspace_456,
        123456,
        json!({ "custom_metadata": { "z": true }, "replace_custom_metadata": true }),
    )
    .await;

    // Assert
    assert_eq!(contact["custom_metadata"], json!({ "z": true }));
}

async fn a_patch_that_changes_only_the_status_keeps_the_metadata() {
    // Arrange
    let (app, _, workspace_456) = received_by_456().await;
    patch(
        &app,
        &workspace_456,
        123456,
        json!({ "custom_metadata": { "a": 1 } }),
    )
    .await;

    // Act
    let contact = patch(
        &app,
        &workspace_456,
        123456,
        json!({ "conversion_status": "lost" }),
    )
    .await;

    // Assert
    assert_eq!(contact["conversion_status"], "lost");
    assert_eq!(contact["custom_metadata"], json!({ "a": 1 }));
}

async fn log(app: &TestApp, creds: &Creds, kind: &str) {
    app.log_conversion(
        creds,
        json!({ "contact_id": 123456, "converted_by": "agent_john_doe", "conversion_type": kind }),
    )
    .await;
}

async fn status(app: &TestApp, creds: &Creds) -> Value {
    expect_json(app.get("/contacts/123456", creds).await, 200).await["conversion_status"].clone()
}

async fn logging_moves_the_status_forward_but_never_back() {
    // Arrange
    let (app, _, workspace_456) = received_by_456().await;
    assert_eq!(status(&app, &workspace_456).await, "pending");

    // Act + Assert: each step as a user would see it.
    log(&app, &workspace_456, "qualified").await;
    assert_eq!(status(&app, &workspace_456).await, "qualified");
    log(&app, &workspace_456, "appointment").await;
    assert_eq!(status(&app, &workspace_456).await, "appointment");
    log(&app, &workspace_456, "sale").await;
    assert_eq!(status(&app, &workspace_456).await, "converted");
    log(&app, &workspace_456, "qualified").await;
    assert_eq!(
        status(&app, &workspace_456).await,
        "converted",
        "never backwards"
    );
    log(&app, &workspace_456, "appointment").await;
    assert_eq!(
        status(&app, &workspace_456).await,
        "converted",
        "never backwards"
    );

    let contact = expect_json(app.get("/contacts/123456", &workspace_456).await, 200).await;
    assert_eq!(contact["conversion_count"], 5);
}

async fn a_sale_then_a_qualification_stays_converted() {
    // Arrange
    let (app, _, workspace_456) = received_by_456().await;

    // Act
    log(&app, &workspace_456, "sale").await;
    log(&app, &workspace_456, "qualified").await;

    // Assert
    assert_eq!(status(&app, &workspace_456).await, "converted");
}

async fn a_lost_contact_moves_forward_only_on_funnel_evidence() {
    // Arrange: workspace_456 marks its contact lost.
    let (app, _, workspace_456) = received_by_456().await;
    let lost = json!({ "conversion_status": "lost" });
    let response = app
        .patch_json("/contacts/123456/conversion", &workspace_456, &lost)
        .await;
    assert_eq!(response.status(), 200);

    // Act + Assert: a conversion of another type leaves it lost (docs/api.md, "Conversion
    // status"); a qualification is new evidence and moves it forward.
    log(&app, &workspace_456, "demo_booked").await;
    assert_eq!(status(&app, &workspace_456).await, "lost");
    log(&app, &workspace_456, "qualified").await;
    assert_eq!(status(&app, &workspace_456).await, "qualified");
}

async fn other_conversion_types_leave_the_status_alone() {
    // Arrange
    let (app, _, workspace_456) = received_by_456().await;

    // Act
    log(&app, &workspace_456, "demo_booked").await;

    // Assert
    assert_eq!(status(&app, &workspace_456).await, "pending");
}

async fn a_patch_may_set_any_status_even_backwards() {
    // Arrange
    let (app, _, workspace_456) = received_by_456().await;
    log(&app, &workspace_456, "sale").await;

    // Act
    let contact = patch(
        &app,
        &workspace_456,
        123456,
        json!({ "conversion_status": "pending" }),
    )
    .await;

    // Assert
    assert_eq!(contact["conversion_status"], "pending");
    log(&app, &workspace_456, "appointment").await;
    assert_eq!(status(&app, &workspace_456).await, "appointment");
}

async fn a_patch_naming_an_unregistered_workspace_is_refused() {
    // Arrange
    let (app, _, workspace_456) = received_by_456().await;

    // Act
    let response = app
        .patch_json(
            "/contacts/123456/conversion",
            &workspace_456,
            &json!({ "sent_from_workspace": "nobody_here", "conversion_status": "qualified" }),
        )
        .await;

    // Assert
    assert_problem(response, 422, "BAD_USER_INPUT", Some("sent_from_workspace")).await;
    assert_eq!(
        status(&app, &workspace_456).await,
        "pending",
        "nothing written"
    );
}

async fn a_patch_claiming_another_workspace_converted_it_is_forbidden() {
    // Arrange
    let (app, _, workspace_456) = received_by_456().await;

    // Act
    let response = app
        .patch_json(
            "/contacts/123456/conversion",
            &workspace_456,
            &json!({ "converted_from_workspace": "workspace_123" }),
        )
        .await;

    // Assert
    assert_problem(response, 403, "FORBIDDEN", None).await;
    let contact = expect_json(app.get("/contacts/123456", &workspace_456).await, 200).await;
    assert_eq!(contact["converted_from_workspace"], Value::Null);
}

async fn an_empty_patch_is_refused() {
    // Arrange
    let (app, _, workspace_456) = received_by_456().await;

    // Act
    let response = app
        .patch_json("/contacts/123456/conversion", &workspace_456, &json!({}))
        .await;

    // Assert
    assert_problem(response, 422, "BAD_USER_INPUT", None).await;
}

async fn a_bad_status_names_the_field() {
    // Arrange
    let (app, _, workspace_456) = received_by_456().await;

    // Act
    let response = app
        .patch_json(
            "/contacts/123456/conversion",
            &workspace_456,
            &json!({ "conversion_status": "won" }),
        )
        .await;

    // Assert
    assert_problem(response, 422, "BAD_USER_INPUT", Some("conversion_status")).await;
}

async fn contacts_and_leads_are_created_and_read_back() {
    // Arrange
    let app = spawn_app().await;
    let lead_gen = app.workspace("lead_gen_team").await;

    // Act
    let response = app
        .post_json(
            "/contacts",
            &lead_gen,
            &json!({
                "id": 123456, "name": "Jane Roe", "email": "jane@example.com",
                "phone": "+1 555 0100", "custom_metadata": { "source": "web" }
            }),
        )
        .await;
    let created = expect_json(response, 201).await;
    let lead = app
        .post_json(
            "/leads",
            &lead_gen,
            &json!({ "id": 1234567890, "contact_id": 123456 }),
        )
        .await;
    let lead = expect_json(lead, 201).await;
    let duplicate = app
        .post_json(
            "/contacts",
            &lead_gen,
            &json!({ "id": 123456, "name": "Again" }),
        )
        .await;

    // Assert
    assert_eq!(created["id"], 123456);
    assert_eq!(created["email"], "jane@example.com");
    assert_eq!(created["conversion_status"], "pending");
    assert_eq!(created["conversion_count"], 0);
    assert_eq!(created["currency"], "USD");
    assert_eq!(created["custom_metadata"], json!({ "source": "web" }));
    let read = expect_json(app.get("/contacts/123456", &lead_gen).await, 200).await;
    assert_eq!(read["name"], "Jane Roe");
    assert_eq!(lead["id"], 1234567890);
    assert_eq!(lead["contact_id"], 123456);
    assert_eq!(lead["conversion_id"], Value::Null);
    assert_problem(duplicate, 409, "CONFLICT", None).await;
}

crate::backend::on_both_backends!(
    the_plans_patch_example_updates_the_contact,
    the_hubspot_workflow_example_works_verbatim,
    custom_metadata_is_merged_key_by_key,
    replace_custom_metadata_replaces_the_stored_object,
    a_patch_that_changes_only_the_status_keeps_the_metadata,
    logging_moves_the_status_forward_but_never_back,
    a_sale_then_a_qualification_stays_converted,
    other_conversion_types_leave_the_status_alone,
    a_lost_contact_moves_forward_only_on_funnel_evidence,
    a_patch_may_set_any_status_even_backwards,
    a_patch_naming_an_unregistered_workspace_is_refused,
    a_patch_claiming_another_workspace_converted_it_is_forbidden,
    an_empty_patch_is_refused,
    a_bad_status_names_the_field,
    contacts_and_leads_are_created_and_read_back,
);
