//! Multi-currency (#14 §3): conversions in any ISO 4217 currency with its own minor units,
//! exchange rates set by the admin, analytics in a reporting currency that equal a direct
//! computation (each conversion converted exactly at the rate of its UTC date, summed
//! exactly, rounded once half to even), and a missing rate that is never counted as 0.

use crate::helpers::{
    Creds, TestApp, assert_graphql_error, assert_problem, expect_exact, expect_json, spawn_app,
    spawn_app_with,
};
use reqwest::Method;
use serde_json::{Value, json};

/// A workspace that has received contact 1 from a lead source.
async fn fixture(app: &TestApp) -> Creds {
    let ws = app.workspace("alpha").await;
    let lead_gen = app.workspace("lead_gen_team").await;
    app.contact_received_by(&lead_gen, 1, "Ana Example", "alpha")
        .await;
    ws
}

fn sale(value: &str, currency: &str, at: &str) -> Value {
    json!({
        "contact_id": 1,
        "converted_by": "agent_ana",
        "conversion_type": "sale",
        "conversion_value": value,
        "currency": currency,
        "converted_at": at,
    })
}

async fn put_rate(app: &TestApp, creds: &Creds, body: Value) -> reqwest::Response {
    app.rest(Method::PUT, "/exchange-rates", creds)
        .json(&body)
        .send()
        .await
        .expect("PUT sent")
}

async fn set_rate(app: &TestApp, base: &str, quote: &str, rate: &str, from: &str) {
    let response = put_rate(
        app,
        &app.admin,
        json!({ "base": base, "quote": quote, "rate": rate, "effective_date": from }),
    )
    .await;
    expect_json(response, 200).await;
}

async fn analytics(app: &TestApp, query: &str) -> Value {
    let response = app
        .get(&format!("/conversions/analytics{query}"), &app.admin)
        .await;
    expect_exact(response, 200).await
}

async fn minor_units_follow_each_currency() {
    // Arrange
    let app = spawn_app().await;
    let ws = fixture(&app).await;
    let at = "2026-03-01T12:00:00Z";

    // Act
    let mut shown = Vec::new();
    for (value, currency) in [("1500", "JPY"), ("1.234", "BHD"), ("10.5", "USD")] {
        let response = app
            .post_json("/conversions/log", &ws, &sale(value, currency, at))
            .await;
        let stored = expect_exact(response, 201).await;
        let id = stored["id"].as_str().unwrap();
        let read = expect_exact(app.get(&format!("/conversions/{id}"), &ws).await, 200).await;
        assert_eq!(read["conversion_value"], stored["conversion_value"]);
        assert_eq!(read["currency"], currency);
        shown.push(stored["conversion_value"].clone());
    }

    // Assert: each value has its currency's places, no more and no fewer.
    assert_eq!(shown, vec![json!("1500"), json!("1.234"), json!("10.50")]);
    for (value, currency) in [("1.5", "JPY"), ("1.2345", "BHD"), ("10.001", "USD")] {
        let response = app
            .post_json("/conversions/log", &ws, &sale(value, currency, at))
            .await;
        assert_problem(response, 422, "BAD_USER_INPUT", Some("conversion_value")).await;
    }
    // The contact's lifetime value stays in the server's currency: only the dollars.
    let contact = app.contact_exact(1).await;
    assert_eq!(contact["lifetime_value"], "10.50", "{contact}");
    assert_eq!(contact["conversion_count"], "3", "{contact}");
}

async fn an_unknown_currency_is_refused_and_nothing_written() {
    let app = spawn_app().await;
    let ws = fixture(&app).await;
    for code in ["ZZZ", "XAU", "usd", "EURO"] {
        let response = app
            .post_json(
                "/conversions/log",
                &ws,
                &sale("10", code, "2026-03-01T00:00:00Z"),
            )
            .await;
        assert_problem(response, 422, "BAD_USER_INPUT", Some("currency")).await;
    }
    let mutation =
        r#"mutation($input: LogConversionInput!) { logConversion(input: $input) { id } }"#;
    let body = app
        .graphql(
            &ws,
            mutation,
            json!({ "input": { "contactId": "1", "convertedBy": "a", "conversionType": "sale",
                               "conversionValue": "10", "currency": "ZZZ" } }),
        )
        .await;
    assert_graphql_error(&body, "BAD_USER_INPUT", Some("currency"));
    assert!(app.all_conversions().await.is_empty());
}

async fn rates_are_set_by_the_admin_only_and_refused_by_field() {
    // Arrange
    let app = spawn_app().await;
    let ws = fixture(&app).await;
    let body = |base: &str, quote: &str, rate: &str, date: &str| json!({ "base": base, "quote": quote, "rate": rate, "effective_date": date });

    // Act + Assert: a workspace may read rates, never set them.
    let response = put_rate(&app, &ws, body("EUR", "USD", "1.0842", "2026-01-01")).await;
    assert_problem(response, 403, "FORBIDDEN", None).await;
    let set =
        r#"mutation($input: SetExchangeRateInput!) { setExchangeRate(input: $input) { rate } }"#;
    let input = json!({ "input": { "base": "EUR", "quote": "USD", "rate": "1.0842", "effectiveDate": "2026-01-01" } });
    assert_graphql_error(
        &app.graphql(&ws, set, input.clone()).await,
        "FORBIDDEN",
        None,
    );

    for (bad, field) in [
        (body("ZZZ", "USD", "1", "2026-01-01"), "base"),
        (body("EUR", "eur", "1", "2026-01-01"), "quote"),
        (body("EUR", "EUR", "1", "2026-01-01"), "quote"),
        (body("EUR", "USD", "0", "2026-01-01"), "rate"),
        (body("EUR", "USD", "-1.2", "2026-01-01"), "rate"),
        (body("EUR", "USD", "1e3", "2026-01-01"), "rate"),
        (body("EUR", "USD", "1.0000000000001", "2026-01-01"), "rate"),
        (body("EUR", "USD", "1.08", "2026-13-01"), "effective_date"),
        (body("EUR", "USD", "1.08", "1/1/2026"), "effective_date"),
    ] {
        let response = put_rate(&app, &app.admin, bad.clone()).await;
        assert_problem(response, 422, "BAD_USER_INPUT", Some(field)).await;
    }
    let as_number =
        json!({ "base": "EUR", "quote": "USD", "rate": 1.08, "effective_date": "2026-01-01" });
    let response = put_rate(&app, &app.admin, as_number).await;
    assert_eq!(response.status().as_u16(), 422);
    let listed = expect_json(app.get("/exchange-rates", &ws).await, 200).await;
    assert_eq!(listed["exchange_rates"], json!([]), "nothing written");

    // Act: set, then replace the same day's rate, and add a later one.
    let stored = put_rate(
        &app,
        &app.admin,
        body("EUR", "USD", "01.08420", "2026-01-01"),
    )
    .await;
    let stored = expect_json(stored, 200).await;
    assert_eq!(stored["rate"], "1.0842", "stored exactly, canonical");
    let replaced = app.graphql_data(&app.admin, set, input).await;
    assert_eq!(replaced["setExchangeRate"]["rate"], "1.0842");
    set_rate(&app, "EUR", "USD", "1.1", "2026-02-01").await;

    // Assert
    let listed = expect_json(app.get("/exchange-rates", &ws).await, 200).await;
    let rates: Vec<(String, String)> = listed["exchange_rates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["effective_date"].as_str().unwrap().to_owned(),
                r["rate"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rates,
        vec![
            ("2026-01-01".to_owned(), "1.0842".to_owned()),
            ("2026-02-01".to_owned(), "1.1".to_owned())
        ]
    );
    let query = "{ exchangeRates { base quote rate effectiveDate setBy } }";
    let data = app.graphql_data(&ws, query, json!({})).await;
    assert_eq!(data["exchangeRates"][1]["rate"], "1.1");
    assert_eq!(data["exchangeRates"][0]["setBy"], "admin");
    let audit = expect_json(
        app.get("/audit?object_type=exchange_rate", &app.admin)
            .await,
        200,
    )
    .await;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "every set is audited: {audit}");
    assert!(entries.iter().all(|e| e["action"] == "exchange_rate.set"));
}

/// Two EUR sales either side of a rate change, two one-yen sales and one in dollars; the
/// direct computation, in cents:
///   99.99 USD                       =  9999
///   10.00 EUR × 1.0842 (31 Jan)     =  1084.2
///   10.00 EUR × 1.1    (1 Feb)      =  1100
///   2 × 1 JPY × 0.0065              =     1.3
///   exact sum                       = 12184.5 → half to even: 12184 (121.84 USD)
/// Rounding half up would give 12185, and rounding each conversion first 12185 too.
async fn log_mixed(app: &TestApp, ws: &Creds) {
    set_rate(app, "EUR", "USD", "1.0842", "2026-01-01").await;
    set_rate(app, "EUR", "USD", "1.1", "2026-02-01").await;
    set_rate(app, "JPY", "USD", "0.0065", "2026-01-01").await;
    for (value, currency, at) in [
        ("99.99", "USD", "2026-01-10T09:00:00Z"),
        ("10.00", "EUR", "2026-01-31T23:59:59Z"),
        ("10.00", "EUR", "2026-02-01T00:00:00Z"),
        ("1", "JPY", "2026-01-15T00:00:00Z"),
        ("1", "JPY", "2026-02-15T00:00:00Z"),
    ] {
        app.log_conversion(ws, sale(value, currency, at)).await;
    }
}

const ANALYTICS: &str = r#"
query($filter: AnalyticsFilter) {
  conversionAnalytics(filter: $filter) {
    currency missingRates
    summary { totalConversions totalValue averageValue }
    byCurrency { currency conversions totalValue missingRate }
    trends { monthly { period totalValue } }
  }
}"#;

const STATS: &str = r#"
query($filter: ConversionFilter, $groupBy: [StatsDimension!]!, $currency: String) {
  conversionStats(filter: $filter, groupBy: $groupBy, reportingCurrency: $currency) {
    currency fromRollups missingRates
    groups { period conversions totalValue byCurrency { currency conversions totalValue } }
  }
}"#;

async fn analytics_in_a_reporting_currency_equal_a_direct_computation() {
    // Arrange
    let app = spawn_app_with(&["--analytics-time-zones", "UTC,Asia/Kolkata"]).await;
    let ws = fixture(&app).await;
    log_mixed(&app, &ws).await;

    // Act
    let rest = analytics(&app, "?reporting_currency=USD").await;
    let default = analytics(&app, "").await;

    // Assert: the rate is the one of each conversion's UTC date; one rounding, at the end.
    assert_eq!(rest["currency"], "USD");
    assert_eq!(rest["summary"]["total_value"], "121.84", "{rest}");
    // 12184.5 / 5 valued = 2436.9 → 2437, from the exact total.
    assert_eq!(rest["summary"]["average_value"], "24.37", "{rest}");
    assert_eq!(rest["missing_rates"], json!([]));
    let by_currency: Vec<(String, String, String)> = rest["by_currency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["currency"].as_str().unwrap().to_owned(),
                c["conversions"].as_str().unwrap().to_owned(),
                c["total_value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        by_currency,
        vec![
            ("EUR".into(), "2".into(), "20.00".into()),
            ("JPY".into(), "2".into(), "2".into()),
            ("USD".into(), "1".into(), "99.99".into()),
        ]
    );
    assert_eq!(
        default["summary"], rest["summary"],
        "the server's currency by default"
    );
    // January: 9999 + 1084.2 + 0.65 = 11083.85 → 11084; February: 1100 + 0.65 → 1101.
    let months = &rest["trends"]["monthly"];
    assert_eq!(months[0]["total_value"], "110.84", "{months}");
    assert_eq!(months[1]["total_value"], "11.01", "{months}");

    // GraphQL agrees, and so do the rollups (UTC, Kolkata) and the rows (Tokyo).
    let filter = json!({ "reportingCurrency": "USD" });
    let data = app
        .graphql_data(&app.admin, ANALYTICS, json!({ "filter": filter }))
        .await;
    let a = &data["conversionAnalytics"];
    assert_eq!(a["summary"]["totalValue"], "121.84");
    assert_eq!(a["byCurrency"][0]["totalValue"], "20.00");
    for (zone, rolled_up) in [("UTC", true), ("Asia/Kolkata", true), ("Asia/Tokyo", false)] {
        let data = app
            .graphql_data(
                &app.admin,
                STATS,
                json!({ "filter": { "timeZone": zone }, "groupBy": [], "currency": "USD" }),
            )
            .await;
        let stats = &data["conversionStats"];
        assert_eq!(stats["fromRollups"], rolled_up, "{zone}");
        assert_eq!(
            stats["groups"][0]["totalValue"], "121.84",
            "{zone}: {stats}"
        );
        assert_eq!(stats["groups"][0]["conversions"], 5, "{zone}");
    }
    // The same sales in yen: 99.99 USD has no USD→JPY rate, so the total is unknown.
    let yen = analytics(&app, "?reporting_currency=JPY").await;
    assert_eq!(yen["summary"]["total_value"], Value::Null, "{yen}");
}

async fn a_missing_rate_is_never_counted_as_zero_and_is_named() {
    // Arrange: a JPY sale dated before the first JPY→USD rate, and EUR with no rate at all.
    let app = spawn_app().await;
    let ws = fixture(&app).await;
    set_rate(&app, "JPY", "USD", "0.0065", "2026-01-01").await;
    for (value, currency, at) in [
        ("50.00", "USD", "2026-01-10T00:00:00Z"),
        ("1000", "JPY", "2025-12-31T23:59:59Z"),
        ("1000", "JPY", "2026-01-01T00:00:00Z"),
        ("7.00", "EUR", "2026-01-02T00:00:00Z"),
    ] {
        app.log_conversion(&ws, sale(value, currency, at)).await;
    }

    // Act
    let a = analytics(&app, "?reporting_currency=USD").await;

    // Assert
    assert_eq!(a["missing_rates"], json!(["EUR", "JPY"]), "{a}");
    assert_eq!(a["summary"]["total_value"], Value::Null, "{a}");
    assert_eq!(a["summary"]["average_value"], Value::Null, "{a}");
    assert_eq!(a["summary"]["total_conversions"], "4");
    let jpy = a["by_currency"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["currency"] == "JPY")
        .unwrap()
        .clone();
    assert_eq!(jpy["total_value"], "2000", "both yen sales, in yen: {a}");
    assert_eq!(jpy["missing_rate"], true);
    // A day whose conversions all have rates keeps its total: 2 Jan (EUR) does not.
    let daily = a["trends"]["daily"].as_array().unwrap();
    let day = |d: &str| daily.iter().find(|p| p["period"] == d).unwrap()["total_value"].clone();
    assert_eq!(day("2026-01-01"), "6.50", "1000 JPY × 0.0065");
    assert_eq!(day("2025-12-31"), Value::Null);
    assert_eq!(day("2026-01-02"), Value::Null);
    assert_eq!(day("2026-01-10"), "50.00");

    let data = app
        .graphql_data(
            &app.admin,
            STATS,
            json!({ "groupBy": ["DAY"], "currency": "USD" }),
        )
        .await;
    assert_eq!(
        data["conversionStats"]["missingRates"],
        json!(["EUR", "JPY"])
    );
    let groups = data["conversionStats"]["groups"].as_array().unwrap();
    assert_eq!(
        groups[0]["totalValue"],
        Value::Null,
        "2025-12-31: {groups:?}"
    );
    assert_eq!(groups[0]["byCurrency"][0]["totalValue"], "1000");

    // An unknown reporting currency is refused by name through both doors.
    let response = app
        .get("/conversions/analytics?reporting_currency=ZZZ", &app.admin)
        .await;
    assert_problem(response, 422, "BAD_USER_INPUT", Some("reporting_currency")).await;
    let body = app
        .graphql(
            &app.admin,
            STATS,
            json!({ "groupBy": [], "currency": "ZZZ" }),
        )
        .await;
    assert_graphql_error(&body, "BAD_USER_INPUT", Some("reportingCurrency"));
}

crate::backend::on_both_backends!(
    minor_units_follow_each_currency,
    an_unknown_currency_is_refused_and_nothing_written,
    rates_are_set_by_the_admin_only_and_refused_by_field,
    analytics_in_a_reporting_currency_equal_a_direct_computation,
    a_missing_rate_is_never_counted_as_zero_and_is_named,
);
