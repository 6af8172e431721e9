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
    for literal in ["\"25000.000000000001\"", "2.5E+4", "\"2.5E+4\"", "25000.5"] {
        let body = log_graphql(&app, &ws, "conversionValue", literal).await;
        assert_graphql_error(&body, "BAD_USER_INPUT", Some("conversionValue"));
    }
    // A number no double holds is refused as soon as the document is read.
    for literal in ["25000.000000000001", "1.0000000000000001"] {
        let body = log_graphql(&app, &ws, "conversionValue", literal).await;
        assert_graphql_error(&body, "BAD_USER_INPUT", Some("query"));
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

/// `POST /graphql` with the variables written as raw JSON text, exactly as sent.
async fn graphql_raw(app: &TestApp, creds: &Creds, query: &str, variables: &str) -> Value {
    let body = format!(r#"{{"query": {}, "variables": {variables}}}"#, json!(query));
    let response = app
        .rest(Method::POST, "/graphql", creds)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

const LOG_WITH_DATA: &str = "mutation($d: JSON) { logConversion(input: { contactId: \"123456\", \
    convertedBy: \"a\", conversionType: \"sale\", customData: $d }) { customData } }";

async fn custom_numbers_are_kept_exactly_or_refused_on_both_doors() {
    let (app, ws) = fixture().await;
    // A number neither a 64-bit integer nor a double holds would be changed: refused.
    for data in [
        r#"{"fx_rate": 0.1234567890123456789}"#,
        r#"{"order_no": 123456789012345678901}"#,
        r#"{"deep": [{"x": 1.0000000000000001}]}"#,
    ] {
        let response = log_raw(&app, &ws, "custom_data", data).await;
        assert_problem(response, 422, "BAD_USER_INPUT", Some("custom_data")).await;
        let body = graphql_raw(&app, &ws, LOG_WITH_DATA, &format!(r#"{{"d": {data}}}"#)).await;
        assert!(
            body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT",
            "{body}"
        );
        let inline = data.replace('"', "").replace(':', ": ");
        let body = log_graphql(&app, &ws, "customData", &inline).await;
        assert!(
            body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT",
            "{body}"
        );
    }
    nothing_logged(&app).await;

    // What a double or i64 holds comes back as written (up to its form), on both databases.
    let data = r#"{"rate": 0.05, "id": 9007199254740993, "tiny": -1.5e-7, "cents": 1.50}"#;
    let response = log_raw(&app, &ws, "custom_data", data).await;
    assert_eq!(response.status(), 201);
    let stored = exact(&response.text().await.unwrap());
    let read = exact(
        &app.get(
            &format!("/conversions/{}", stored["id"].as_str().unwrap()),
            &ws,
        )
        .await
        .text()
        .await
        .unwrap(),
    );
    let expected =
        json!({"rate": "0.05", "id": "9007199254740993", "tiny": "-1.5e-7", "cents": "1.5"});
    assert_eq!(stored["custom_data"], expected);
    assert_eq!(read["custom_data"], expected);
}

async fn u0000_is_refused_the_same_on_both_databases() {
    let (app, ws) = fixture().await;
    let response = log_raw(&app, &ws, "custom_data", r#"{"note": "a\u0000b"}"#).await;
    assert_problem(response, 422, "BAD_USER_INPUT", Some("custom_data")).await;
    let body = graphql_raw(&app, &ws, LOG_WITH_DATA, r#"{"d": {"k\u0000": 1}}"#).await;
    assert_graphql_error(&body, "BAD_USER_INPUT", Some("customData"));
    let response = app
        .patch_json(
            "/contacts/123456/conversion",
            &ws,
            &json!({ "custom_metadata": { "x": "\u{0}" } }),
        )
        .await;
    assert_problem(response, 422, "BAD_USER_INPUT", Some("custom_metadata")).await;
    let response = app.get("/audit?object_type=%00", &app.admin).await;
    assert_problem(response, 422, "BAD_USER_INPUT", Some("object_type")).await;
    let query = "query($t: String) { auditLog(objectType: $t) { totalCount } }";
    let body = app
        .graphql(&app.admin, query, json!({ "t": "\u{0}" }))
        .await;
    assert_graphql_error(&body, "BAD_USER_INPUT", Some("objectType"));
    nothing_logged(&app).await;
}

crate::backend::on_both_backends!(
    custom_numbers_are_kept_exactly_or_refused_on_both_doors,
    u0000_is_refused_the_same_on_both_databases,
    amounts_are_refused_rather_than_rounded_on_both_doors,
    exact_amounts_are_the_same_on_both_doors,
    a_leap_second_is_refused_on_both_doors,
    a_day_its_zone_skipped_is_an_empty_day_not_an_error,
);
