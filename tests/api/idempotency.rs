//! Ingest that never loses or doubles a conversion: idempotency keys on REST and GraphQL,
//! and batches whose items succeed or fail on their own.

use crate::helpers::{
    Creds, TestApp, assert_graphql_error, assert_problem, expect_json, spawn_app,
};
use serde_json::{Value, json};

async fn sales_app() -> (TestApp, Creds) {
    let app = spawn_app().await;
    let lead_gen = app.workspace("lead_gen_team").await;
    let sales = app.workspace("salesforce_prod").await;
    app.contact_received_by(&lead_gen, 123456, "Jane Roe", "salesforce_prod")
        .await;
    (app, sales)
}

fn sale(value: u64) -> Value {
    json!({
        "contact_id": 123456,
        "converted_by": "agent_john_doe",
        "conversion_type": "sale",
        "conversion_value": value,
    })
}

async fn post_with_key(app: &TestApp, creds: &Creds, key: &str, body: &Value) -> reqwest::Response {
    creds
        .apply(app.client.post(app.url("/conversions/log")))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("request sent")
}

async fn a_retry_with_the_same_key_returns_the_first_conversion_and_writes_nothing() {
    let (app, sales) = sales_app().await;

    let first = post_with_key(&app, &sales, "sf-opp-006xx-1", &sale(25000)).await;
    assert!(first.headers().get("idempotency-replayed").is_none());
    let first = expect_json(first, 201).await;
    // The retry spells the same request differently: it is still the same request.
    let retry = post_with_key(
        &app,
        &sales,
        "sf-opp-006xx-1",
        &json!({"conversion_value": "25000.00", "conversion_type": "sale", "converted_by": "agent_john_doe", "contact_id": 123456}),
    )
    .await;
    assert_eq!(retry.headers()["idempotency-replayed"], "true");
    let retry = expect_json(retry, 201).await;

    assert_eq!(retry["id"], first["id"]);
    assert_eq!(app.all_conversions().await.len(), 1);
    let contact = app.contact_exact(123456).await;
    assert_eq!(contact["lifetime_value"], "25000.00", "counted once");
    assert_eq!(contact["conversion_count"], "1");
}

async fn the_same_key_with_a_different_body_is_a_conflict_and_writes_nothing() {
    let (app, sales) = sales_app().await;
    expect_json(post_with_key(&app, &sales, "k-1", &sale(100)).await, 201).await;

    let response = post_with_key(&app, &sales, "k-1", &sale(200)).await;
    assert_problem(response, 422, "IDEMPOTENCY_CONFLICT", None).await;
    assert_eq!(app.all_conversions().await.len(), 1);
}

async fn keys_are_scoped_per_workspace() {
    let (app, sales) = sales_app().await;
    let other = app.workspace("hubspot_marketing").await;
    let source = app.workspace("lead_gen_2").await;
    app.contact_received_by(&source, 777, "John Doe", "hubspot_marketing")
        .await;

    let a = expect_json(
        post_with_key(&app, &sales, "shared-key", &sale(100)).await,
        201,
    )
    .await;
    let mut body = sale(100);
    body["contact_id"] = json!(777);
    let b = expect_json(post_with_key(&app, &other, "shared-key", &body).await, 201).await;
    assert_ne!(
        a["id"], b["id"],
        "another workspace's key never replays mine"
    );
}

async fn a_hundred_concurrent_requests_with_one_key_create_exactly_one_conversion() {
    let (app, sales) = sales_app().await;
    let body = sale(999);
    let requests = (0..100).map(|_| post_with_key(&app, &sales, "storm", &body));
    let responses = futures_util::future::join_all(requests).await;
    let mut ids = std::collections::HashSet::new();
    for response in responses {
        let stored = expect_json(response, 201).await;
        ids.insert(stored["id"].as_str().expect("an id").to_owned());
    }
    assert_eq!(ids.len(), 1, "every response names the one conversion");
    assert_eq!(app.all_conversions().await.len(), 1);
    assert_eq!(app.contact_exact(123456).await["lifetime_value"], "999.00");
}

async fn a_malformed_key_is_refused() {
    let (app, sales) = sales_app().await;
    let response = post_with_key(&app, &sales, &"k".repeat(256), &sale(1)).await;
    assert_problem(response, 422, "BAD_USER_INPUT", Some("Idempotency-Key")).await;
    assert!(app.all_conversions().await.is_empty());
}

const LOG: &str = r#"mutation Log($input: LogConversionInput!, $key: String) {
  logConversion(input: $input, idempotencyKey: $key) { id conversionValue }
}"#;

async fn graphql_mutations_take_an_idempotency_key() {
    let (app, sales) = sales_app().await;
    let input = json!({"contactId": "123456", "convertedBy": "a", "conversionType": "sale", "conversionValue": "10.50"});
    let first = app
        .graphql_data(&sales, LOG, json!({"input": input, "key": "g-1"}))
        .await;
    let again = app
        .graphql_data(&sales, LOG, json!({"input": input, "key": "g-1"}))
        .await;
    assert_eq!(first["logConversion"]["id"], again["logConversion"]["id"]);
    assert_eq!(app.all_conversions().await.len(), 1);

    let mut changed = input.clone();
    changed["conversionValue"] = json!("11.00");
    let body = app
        .graphql(&sales, LOG, json!({"input": changed, "key": "g-1"}))
        .await;
    assert_graphql_error(&body, "IDEMPOTENCY_CONFLICT", None);
    assert_eq!(app.all_conversions().await.len(), 1);
}

async fn a_batch_logs_each_item_on_its_own_and_can_be_retried_safely() {
    let (app, sales) = sales_app().await;
    let batch = json!({"conversions": [
        {"contact_id": 123456, "converted_by": "a", "conversion_type": "qualified", "idempotency_key": "b-1"},
        {"contact_id": 999999, "converted_by": "a", "conversion_type": "sale", "idempotency_key": "b-2"},
        {"contact_id": 123456, "converted_by": "a", "conversion_type": "sale", "conversion_value": 18500.50, "idempotency_key": "b-3"},
    ]});
    let first = expect_json(
        app.post_json("/conversions/batch", &sales, &batch).await,
        200,
    )
    .await;
    assert_eq!(
        (
            first["stored"].clone(),
            first["replayed"].clone(),
            first["rejected"].clone()
        ),
        (json!(2), json!(0), json!(1))
    );
    let results = first["results"].as_array().expect("results");
    assert_eq!(results[0]["status"], "stored");
    assert_eq!(results[1]["status"], "rejected");
    assert_eq!(results[1]["error"]["field"], "contact_id");
    assert_eq!(results[1]["error"]["code"], "BAD_USER_INPUT");
    assert_eq!(results[2]["status"], "stored");
    assert_eq!(results[2]["conversion"]["conversion_type"], "sale");

    // The integrator retries the whole batch: nothing is doubled.
    let retry = expect_json(
        app.post_json("/conversions/batch", &sales, &batch).await,
        200,
    )
    .await;
    assert_eq!(
        (
            retry["stored"].clone(),
            retry["replayed"].clone(),
            retry["rejected"].clone()
        ),
        (json!(0), json!(2), json!(1))
    );
    assert_eq!(
        retry["results"][2]["conversion"]["id"],
        results[2]["conversion"]["id"]
    );
    assert_eq!(app.all_conversions().await.len(), 2);
    assert_eq!(
        app.contact_exact(123456).await["lifetime_value"],
        "18500.50"
    );
}

async fn a_batch_must_hold_one_to_a_thousand_items() {
    let (app, sales) = sales_app().await;
    let empty = app
        .post_json("/conversions/batch", &sales, &json!({"conversions": []}))
        .await;
    assert_problem(empty, 422, "BAD_USER_INPUT", Some("conversions")).await;
    let item = json!({"contact_id": 123456, "converted_by": "a", "conversion_type": "qualified"});
    let too_many = json!({"conversions": vec![item; 1001]});
    let response = app.post_json("/conversions/batch", &sales, &too_many).await;
    assert_problem(response, 422, "BAD_USER_INPUT", Some("conversions")).await;
    assert!(app.all_conversions().await.is_empty());
}

const LOG_MANY: &str = r#"mutation Many($items: [LogConversionItem!]!) {
  logConversions(conversions: $items) { index status conversion { id } error { code field } }
}"#;

async fn graphql_batches_report_each_item() {
    let (app, sales) = sales_app().await;
    let items = json!([
        {"idempotencyKey": "m-1", "conversion": {"contactId": "123456", "convertedBy": "a", "conversionType": "sale", "conversionValue": "5"}},
        {"conversion": {"contactId": "123456", "convertedBy": "a", "conversionType": "Not A Type"}},
    ]);
    let data = app
        .graphql_data(&sales, LOG_MANY, json!({"items": items}))
        .await;
    let results = data["logConversions"].as_array().expect("results");
    assert_eq!(results[0]["status"], "STORED");
    assert_eq!(results[1]["status"], "REJECTED");
    assert_eq!(results[1]["error"]["code"], "BAD_USER_INPUT");
    assert_eq!(results[1]["error"]["field"], "conversionType");
    let again = app
        .graphql_data(&sales, LOG_MANY, json!({"items": items}))
        .await;
    assert_eq!(again["logConversions"][0]["status"], "REPLAYED");
    assert_eq!(app.all_conversions().await.len(), 1);
}

crate::backend::on_both_backends!(
    a_retry_with_the_same_key_returns_the_first_conversion_and_writes_nothing,
    the_same_key_with_a_different_body_is_a_conflict_and_writes_nothing,
    keys_are_scoped_per_workspace,
    a_hundred_concurrent_requests_with_one_key_create_exactly_one_conversion,
    a_malformed_key_is_refused,
    graphql_mutations_take_an_idempotency_key,
    a_batch_logs_each_item_on_its_own_and_can_be_retried_safely,
    a_batch_must_hold_one_to_a_thousand_items,
    graphql_batches_report_each_item,
);
