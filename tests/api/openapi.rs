//! The REST contract: `/openapi.json` is the committed document, and the edges Schemathesis
//! found while the document was written stay fixed.

use crate::helpers::{assert_problem, expect_json, spawn_app};
use serde_json::json;

async fn the_served_document_is_the_committed_one() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = reqwest::get(app.url("/openapi.json")).await.unwrap();

    // Assert
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let served: serde_json::Value = response.json().await.unwrap();
    let committed: serde_json::Value =
        serde_json::from_str(include_str!("../../openapi.json")).unwrap();
    assert_eq!(served, committed);
    assert_eq!(served["openapi"], "3.1.0");
}

/// The key may come in the body (tools that cannot set headers); header and body must agree.
async fn an_idempotency_key_may_come_in_the_body() {
    // Arrange
    let app = spawn_app().await;
    let creds = app.workspace("alpha").await;
    app.create_contact(&creds, 1, "Jane").await;
    let sale = json!({ "contact_id": 1, "converted_by": "a", "conversion_type": "sale",
                       "idempotency_key": "crm-event-1" });

    // Act
    let first = app.post_json("/conversions/log", &creds, &sale).await;
    let retry = app.post_json("/conversions/log", &creds, &sale).await;
    let disagreeing = app
        .rest(reqwest::Method::POST, "/conversions/log", &creds)
        .header("Idempotency-Key", "crm-event-2")
        .json(&sale)
        .send()
        .await
        .unwrap();

    // Assert
    let first = expect_json(first, 201).await;
    assert_eq!(retry.headers()["idempotency-replayed"], "true");
    assert_eq!(expect_json(retry, 201).await["id"], first["id"]);
    assert_problem(disagreeing, 422, "BAD_USER_INPUT", Some("idempotency_key")).await;
    assert_eq!(app.all_conversions().await.len(), 1);
}

/// A batch's envelope is checked whole: an `Idempotency-Key` header (each item has its own) or
/// an item that is not an object refuses it; each object's content is checked on its own.
async fn a_batch_envelope_is_checked_whole() {
    // Arrange
    let app = spawn_app().await;
    let creds = app.workspace("alpha").await;
    app.create_contact(&creds, 1, "Jane").await;
    let item = json!({ "contact_id": 1, "converted_by": "a", "conversion_type": "sale" });

    // Act
    let with_header = app
        .rest(reqwest::Method::POST, "/conversions/batch", &creds)
        .header("Idempotency-Key", "batch-1")
        .json(&json!({ "conversions": [item] }))
        .send()
        .await
        .unwrap();
    let not_an_object = app
        .post_json(
            "/conversions/batch",
            &creds,
            &json!({ "conversions": [item, [1]] }),
        )
        .await;

    // Assert
    assert_problem(with_header, 422, "BAD_USER_INPUT", Some("Idempotency-Key")).await;
    assert_problem(not_an_object, 422, "BAD_USER_INPUT", Some("conversions[1]")).await;
    assert!(app.all_conversions().await.is_empty(), "nothing written");
}

/// JSON (and JSON Schema's `integer`) do not tell `1000` from `1000.0`; a chosen key goes in a
/// header, so it is visible ASCII.
async fn integers_may_carry_a_zero_fraction_and_chosen_keys_are_ascii() {
    // Arrange
    let app = spawn_app().await;
    let app = &app;
    let register = |body: serde_json::Value| async move {
        app.post_json("/workspaces/register", &app.admin, &body)
            .await
    };

    // Act
    let whole = register(json!({ "workspace_id": "a", "workspace_name": "A",
                                 "rate_limit_per_hour": 1000.0 }))
    .await;
    let fraction = register(json!({ "workspace_id": "b", "workspace_name": "B",
                                    "rate_limit_per_hour": 1000.5 }))
    .await;
    let non_ascii = register(json!({ "workspace_id": "c", "workspace_name": "C",
                                     "api_key": "schlüssel-schlüssel-schlüssel" }))
    .await;

    // Assert
    expect_json(whole, 201).await;
    assert_problem(fraction, 422, "BAD_USER_INPUT", Some("rate_limit_per_hour")).await;
    assert_problem(non_ascii, 422, "BAD_USER_INPUT", Some("api_key")).await;
}

crate::backend::on_both_backends!(
    the_served_document_is_the_committed_one,
    an_idempotency_key_may_come_in_the_body,
    a_batch_envelope_is_checked_whole,
    integers_may_carry_a_zero_fraction_and_chosen_keys_are_ascii,
);
