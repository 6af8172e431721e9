//! Exact input, the same through both doors (#11): an amount, an instant or a local day is
//! either taken exactly or refused with a 4xx naming the field — never rounded, never stored
//! differently by the two databases — and a refusal writes nothing.

use crate::helpers::{
    Creds, TestApp, assert_graphql_error, assert_problem, exact, expect_json, spawn_app,
};
use reqwest::Method;
use serde_json::{Value, json};

/// workspace_123 has received contact 123456 (and nothing is logged yet).
async fn fixture() -> (TestApp, Creds) {
    let app = spawn_app().await;
    let workspace_123 = app.workspace("workspace_123").await;
    let lead_gen = app.workspace("lead_gen_team").await;
    app.contact_received_by(&lead_gen, 123456, "Jane Roe", "workspace_123")
        .await;
    (app, workspace_123)
}

/// `POST /conversions/log` with `field` written as the raw JSON `literal`, exactly as sent.
async fn log_raw(app: &TestApp, creds: &Creds, field: &str, literal: &str) -> reqwest::Response {
    let body = format!(
        r#"{{"contact_id": 123456, "converted_by": "agent", "conversion_type": "sale", "{field}": {literal}}}"#
    );
    app.rest(Method::POST, "/conversions/log", creds)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// `logConversion` with `conversionValue` (or another field) written inline as `literal`.
async fn log_graphql(app: &TestApp, creds: &Creds, field: &str, literal: &str) -> Value {
    let query = format!(
        r#"mutation {{ logConversion(input: {{ contactId: "123456", convertedBy: "agent",
             conversionType: "sale", {field}: {literal} }}) {{ conversionValue convertedAt }} }}"#
    );
    app.graphql(creds, &query, json!({})).await
}

async fn nothing_logged(app: &TestApp) {
    assert_eq!(
        app.all_conversions().await.len(),
        0,
        "a conversion was written"
    );
}

async fn amounts_are_refused_rather_than_rounded_on_both_doors() {
    let (app, ws) = fixture().await;
    // Beyond the cent, with an exponent, or signed: refused by REST as a number or a string…
    for literal in [
        "25000.000000000001",
        "\"25000.000000000001\"",
        "1.0000000000000001",
        "2.5E+4",
        "\"2.5E+4\"",
        "-0",
    ] {
        let response = log_raw(&app, &ws, "conversion_value", literal).await;
        assert_problem(response, 422, "BAD_USER_INPUT", Some("conversion_value")).await;
    }
    // …and by GraphQL, as a string, an inline number or a variable.
    for literal in [
        "\"25000.000000000001\"",
        "25000.000000000001",
        "1.0000000000000001",
        "2.5E+4",
        "\"2.5E+4\"",
        "25000.5",
    ] {
        let body = log_graphql(&app, &ws, "conversionValue", literal).await;
        assert_graphql_error(&body, "BAD_USER_INPUT", Some("conversionValue"));
    }
    let query = "mutation($v: Decimal) { logConversion(input: { contactId: \"123456\", \
                 convertedBy: \"a\", conversionType: \"sale\", conversionValue: $v }) { id } }";
    let body = app
        .rest(Method::POST, "/graphql", &ws)
        .header("Content-Type", "application/json")
        .body(format!(
            r#"{{"query": {}, "variables": {{"v": 2.5E+4}}}}"#,
            json!(query)
        ))
        .send()
        .await
        .unwrap();
    let body: Value = body.json().await.unwrap();
    assert_graphql_error(&body, "BAD_USER_INPUT", None);
    nothing_logged(&app).await;
}

async fn exact_amounts_are_the_same_on_both_doors() {
    let (app, ws) = fixture().await;
    let rest = |literal: &'static str| {
        let (app, ws) = (&app, &ws);
        async move {
            let response = log_raw(app, ws, "conversion_value", literal).await;
            assert_eq!(response.status(), 201);
            exact(&response.text().await.unwrap())["conversion_value"].clone()
        }
    };
    assert_eq!(rest("18500.50").await, "18500.50");
    assert_eq!(rest("\"18500.5\"").await, "18500.50");
    assert_eq!(rest("1000000000000").await, "1000000000000.00");
    let gql = |literal: &'static str| {
        let (app, ws) = (&app, &ws);
        async move {
            let body = log_graphql(app, ws, "conversionValue", literal).await;
            assert!(body.get("errors").is_none(), "{body}");
            body["data"]["logConversion"]["conversionValue"].clone()
        }
    };
    assert_eq!(gql("\"18500.50\"").await, "18500.50");
    assert_eq!(gql("25000").await, "25000.00");
    assert_eq!(gql("\"0.1\"").await, "0.10");
}

async fn a_leap_second_is_refused_on_both_doors() {
    let (app, ws) = fixture().await;
    for literal in [
        "\"2016-12-31T23:59:60Z\"",
        "\"2016-12-31T23:59:60.5+01:00\"",
        "\"0000-12-31T00:00:00Z\"",
    ] {
        let response = log_raw(&app, &ws, "converted_at", literal).await;
        assert_problem(response, 422, "BAD_USER_INPUT", Some("converted_at")).await;
        let body = log_graphql(&app, &ws, "convertedAt", literal).await;
        assert!(body["errors"].is_array(), "{literal}: {body}");
    }
    let body = log_graphql(&app, &ws, "convertedAt", "\"2016-12-31T23:59:60Z\"").await;
    assert_graphql_error(&body, "BAD_USER_INPUT", Some("convertedAt"));
    let response = app
        .get("/conversions?created_after=2016-12-31T23:59:60Z", &ws)
        .await;
    assert_problem(response, 422, "BAD_USER_INPUT", Some("created_after")).await;
    nothing_logged(&app).await;

    // The second before it is one instant, printed the same by both doors and databases.
    let response = log_raw(&app, &ws, "converted_at", "\"2016-12-31T23:59:59.999999Z\"").await;
    let stored = expect_json(response, 201).await;
    assert_eq!(stored["converted_at"], "2016-12-31T23:59:59.999999Z");
}

async fn a_day_its_zone_skipped_is_an_empty_day_not_an_error() {
    let (app, ws) = fixture().await;
    // Samoa moved across the date line: 2011-12-29 (UTC−10) was followed by 2011-12-31 (UTC+14).
    for at in ["2011-12-29T12:00:00-10:00", "2011-12-31T12:00:00+14:00"] {
        let response = log_raw(&app, &ws, "converted_at", &json!(at).to_string()).await;
        expect_json(response, 201).await;
    }
    let count = |from: &'static str, to: &'static str| {
        let (app, ws) = (&app, &ws);
        async move {
            let path = format!("/conversions?time_zone=Pacific/Apia&from_date={from}&to_date={to}");
            let body = expect_json(app.get(&path, ws).await, 200).await;
            let rest = body["conversions"].as_array().unwrap().len();
            let query = "query($f: ConversionFilter) { conversions(filter: $f) { totalCount } }";
            let filter = json!({ "timeZone": "Pacific/Apia", "fromDate": from, "toDate": to });
            let data = app.graphql_data(ws, query, json!({ "f": filter })).await;
            assert_eq!(data["conversions"]["totalCount"], rest, "{from}..{to}");
            rest
        }
    };
    assert_eq!(count("2011-12-29", "2011-12-29").await, 1);
    assert_eq!(count("2011-12-30", "2011-12-30").await, 0);
    assert_eq!(count("2011-12-31", "2011-12-31").await, 1);
    assert_eq!(count("2011-12-29", "2011-12-31").await, 2);
}

crate::backend::on_both_backends!(
    amounts_are_refused_rather_than_rounded_on_both_doors,
    exact_amounts_are_the_same_on_both_doors,
    a_leap_second_is_refused_on_both_doors,
    a_day_its_zone_skipped_is_an_empty_day_not_an_error,
);
