//! A table of hostile inputs through both doors: each gets a clear 4xx, nothing is written,
//! and the server keeps serving.

use crate::helpers::{Creds, TestApp, assert_no_internals, spawn_app};
use serde_json::json;

async fn arranged() -> (TestApp, Creds) {
    let app = spawn_app().await;
    let lead_gen = app.workspace("lead_gen_team").await;
    let sales = app.workspace("salesforce_prod").await;
    app.workspace("other_ws").await;
    app.contact_received_by(&lead_gen, 123456, "Jane Roe", "salesforce_prod")
        .await;
    (app, sales)
}

fn log_body(field: &str, value: serde_json::Value) -> Vec<u8> {
    let mut body = json!({"contact_id": 123456, "converted_by": "a", "conversion_type": "sale", "conversion_value": 10});
    body[field] = value;
    serde_json::to_vec(&body).expect("json")
}

async fn hostile_rest_bodies_are_refused_and_write_nothing() {
    let (app, sales) = arranged().await;
    let mut deep = String::new();
    for _ in 0..5000 {
        deep.push_str("{\"a\":");
    }
    deep.push('1');
    for _ in 0..5000 {
        deep.push('}');
    }
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("invalid UTF-8", b"{\"contact_id\": 123456, \"converted_by\": \"\xff\xfe\"}".to_vec()),
        ("10 MB body", log_body("converted_by", json!("x".repeat(10 * 1024 * 1024)))),
        ("5000-deep JSON", format!("{{\"contact_id\":123456,\"converted_by\":\"a\",\"conversion_type\":\"sale\",\"custom_data\":{deep}}}").into_bytes()),
        ("huge number", br#"{"contact_id":123456,"converted_by":"a","conversion_type":"sale","conversion_value":1e400}"#.to_vec()),
        ("huge integer", log_body("conversion_value", json!("99999999999999999999999999"))),
        ("huge id", br#"{"contact_id":99999999999999999999999,"converted_by":"a","conversion_type":"sale"}"#.to_vec()),
        ("NaN as text", log_body("conversion_value", json!("NaN"))),
        ("SQL in a type", log_body("conversion_type", json!("sale'; DROP TABLE conversions; --"))),
        ("SQL in an id", log_body("contact_id", json!("123456 OR 1=1"))),
        ("script in a type", log_body("conversion_type", json!("<script>alert(1)</script>"))),
        ("quote in a workspace id", log_body("workspace_id", json!("salesforce_prod'--"))),
        ("another workspace's id", log_body("workspace_id", json!("other_ws"))),
        ("currency injection", log_body("currency", json!("USD'; --"))),
        ("custom data not an object", log_body("custom_data", json!("<img src=x>"))),
    ];
    for (what, body) in cases {
        let response = sales
            .apply(app.client.post(app.url("/conversions/log")))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("sent");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        assert!(
            (400..500).contains(&status),
            "{what}: expected a 4xx, got {status}: {text}"
        );
        assert_no_internals(&text);
    }
    assert!(
        app.all_conversions().await.is_empty(),
        "nothing was written"
    );
    assert_eq!(
        app.get("/healthz", &Creds::Anonymous)
            .await
            .status()
            .as_u16(),
        200
    );
}

async fn hostile_graphql_inputs_are_refused_and_write_nothing() {
    let (app, sales) = arranged().await;
    let mutation =
        r#"mutation($input: LogConversionInput!) { logConversion(input: $input) { id } }"#;
    let base = json!({"contactId": "123456", "convertedBy": "a", "conversionType": "sale"});
    let cases = [
        ("conversionValue", json!(1e300)),
        ("conversionValue", json!("-1")),
        (
            "conversionType",
            json!("sale\"; DROP TABLE conversions; --"),
        ),
        ("contactId", json!("1 OR 1=1")),
        ("workspaceId", json!("other_ws")),
        ("customData", json!([1, 2, 3])),
    ];
    for (field, value) in cases {
        let mut input = base.clone();
        input[field] = value.clone();
        let body = app.graphql(&sales, mutation, json!({"input": input})).await;
        assert!(
            body["errors"].is_array(),
            "{field} = {value}: expected an error, got {body}"
        );
        let code = body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            ["BAD_USER_INPUT", "FORBIDDEN"].contains(&code.as_str()),
            "{field}: code {code}"
        );
        assert_no_internals(&body.to_string());
    }
    assert!(
        app.all_conversions().await.is_empty(),
        "nothing was written"
    );
}

crate::backend::on_both_backends!(
    hostile_rest_bodies_are_refused_and_write_nothing,
    hostile_graphql_inputs_are_refused_and_write_nothing,
);
