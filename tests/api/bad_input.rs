//! Bad input is refused with a 4xx that names the field, as `application/problem+json` (REST)
//! or `extensions.code`/`extensions.field` (GraphQL), and nothing is written.

use crate::helpers::{Creds, TestApp, assert_graphql_error, assert_problem, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

/// workspace_123 has received contact 123456 and logged one 25000 sale on it.
struct Fixture {
    app: TestApp,
    workspace_123: Creds,
}

async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let workspace_123 = app.workspace("workspace_123").await;
    let lead_gen = app.workspace("lead_gen_team").await;
    app.contact_received_by(&lead_gen, 123456, "Jane Roe", "workspace_123")
        .await;
    app.contact_received_by(&lead_gen, 123457, "John Poe", "workspace_123")
        .await;
    app.create_lead(&lead_gen, 777, 123457).await;
    app.log_conversion(&workspace_123, valid()).await;
    Fixture { app, workspace_123 }
}

/// A body that would be accepted.
fn valid() -> Value {
    json!({
        "contact_id": 123456,
        "converted_by": "agent_john_doe",
        "conversion_type": "sale",
        "conversion_value": 25000,
        "custom_data": { "contract_id": "CTR-2024-001" }
    })
}

/// The valid body with one field set to `value` (or removed, for `None`).
fn with(field: &str, value: Option<Value>) -> Value {
    let mut body = valid();
    let map = body.as_object_mut().unwrap();
    match value {
        Some(value) => map.insert(field.to_owned(), value),
        None => map.remove(field),
    };
    body
}

/// `levels` objects nested inside each other.
fn nested(levels: usize) -> Value {
    let mut value = json!("leaf");
    for _ in 0..levels {
        value = json!({ "k": value });
    }
    value
}

impl Fixture {
    /// Still exactly the one conversion, and the contact as it was.
    async fn assert_nothing_written(&self) {
        assert_eq!(
            self.app.all_conversions().await.len(),
            1,
            "a conversion was written"
        );
        let contact = self.app.contact_exact(123456).await;
        assert_eq!(contact["lifetime_value"], "25000.00");
        assert_eq!(contact["conversion_count"], "1");
    }

    /// Posts `body` to `/conversions/log` and expects it refused.
    async fn refuses(&self, body: Value, status: u16, field: Option<&str>) -> Value {
        let response = self
            .app
            .post_json("/conversions/log", &self.workspace_123, &body)
            .await;
        let problem = assert_problem(response, status, "BAD_USER_INPUT", field).await;
        self.assert_nothing_written().await;
        problem
    }

    async fn refuses_raw(&self, content_type: &str, body: &str, status: u16) -> Value {
        let response = self
            .app
            .rest(Method::POST, "/conversions/log", &self.workspace_123)
            .header("Content-Type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, status, "BAD_USER_INPUT", None).await;
        self.assert_nothing_written().await;
        problem
    }

    async fn list_refuses(&self, path: &str, field: &str) {
        let response = self.app.get(path, &self.workspace_123).await;
        assert_problem(response, 422, "BAD_USER_INPUT", Some(field)).await;
    }
}

async fn an_empty_page_size_is_refused_by_name() {
    // `limit` is an integer in the contract; `limit=` is none (Schemathesis found it taken).
    let Fixture { app, .. } = fixture().await;
    for path in ["/audit?limit=", "/conversions?limit="] {
        let response = app.get(path, &app.admin).await;
        assert_problem(response, 422, "BAD_USER_INPUT", Some("limit")).await;
    }
}

async fn malformed_json_is_400() {
    let f = fixture().await;
    f.refuses_raw(
        "application/json",
        r#"{"contact_id": 123456, "converted_by": "#,
        400,
    )
    .await;
}

async fn a_body_that_is_not_an_object_is_400() {
    let f = fixture().await;
    f.refuses_raw("application/json", "[1, 2, 3]", 400).await;
}

async fn a_non_json_content_type_is_415() {
    let f = fixture().await;
    f.refuses_raw("text/plain", &valid().to_string(), 415).await;
}

async fn a_wrong_type_names_the_field() {
    let f = fixture().await;
    f.refuses(
        with("converted_by", Some(json!(42))),
        422,
        Some("converted_by"),
    )
    .await;
    f.refuses(
        with("contact_id", Some(json!("abc"))),
        422,
        Some("contact_id"),
    )
    .await;
    f.refuses(
        with("contact_id", Some(json!(true))),
        422,
        Some("contact_id"),
    )
    .await;
}

async fn a_missing_required_field_names_it() {
    let f = fixture().await;
    f.refuses(with("converted_by", None), 422, Some("converted_by"))
        .await;
    f.refuses(with("contact_id", None), 422, Some("contact_id"))
        .await;
    f.refuses(with("conversion_type", None), 422, Some("conversion_type"))
        .await;
    f.refuses(
        with("converted_by", Some(json!("   "))),
        422,
        Some("converted_by"),
    )
    .await;
}

async fn a_misspelled_field_is_refused_not_ignored() {
    let f = fixture().await;
    let mut body = with("conversion_value", None);
    body["conversion_vaule"] = json!(25000);
    f.refuses(body, 422, Some("conversion_vaule")).await;
}

async fn a_negative_value_is_refused() {
    let f = fixture().await;
    f.refuses(
        with("conversion_value", Some(json!(-5))),
        422,
        Some("conversion_value"),
    )
    .await;
}

async fn a_value_finer_than_a_cent_is_refused() {
    let f = fixture().await;
    let problem = f
        .refuses(
            with("conversion_value", Some(json!(10.001))),
            422,
            Some("conversion_value"),
        )
        .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("conversion_value"),
        "{problem}"
    );
    f.refuses(
        with("conversion_value", Some(json!("10.001"))),
        422,
        Some("conversion_value"),
    )
    .await;
}

async fn a_huge_value_is_refused() {
    let f = fixture().await;
    f.refuses_value_literal("1e30").await;
    f.refuses_value_literal("1000000000000.01").await;
    f.refuses_value_literal("99999999999999999999999999").await;
}

impl Fixture {
    /// Sends `conversion_value` as this exact JSON literal.
    async fn refuses_value_literal(&self, literal: &str) {
        let body = format!(
            r#"{{"contact_id": 123456, "converted_by": "agent_john_doe", "conversion_type": "sale", "conversion_value": {literal}}}"#
        );
        let response = self
            .app
            .rest(Method::POST, "/conversions/log", &self.workspace_123)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_problem(response, 422, "BAD_USER_INPUT", Some("conversion_value")).await;
        self.assert_nothing_written().await;
    }
}

async fn a_value_that_is_not_a_number_is_refused() {
    let f = fixture().await;
    f.refuses(
        with("conversion_value", Some(json!("lots"))),
        422,
        Some("conversion_value"),
    )
    .await;
    f.refuses(
        with("conversion_value", Some(json!({ "amount": 5 }))),
        422,
        Some("conversion_value"),
    )
    .await;
}

async fn an_unknown_contact_is_refused() {
    let f = fixture().await;
    f.refuses(
        with("contact_id", Some(json!(999999))),
        422,
        Some("contact_id"),
    )
    .await;
}

async fn a_lead_of_another_contact_is_refused() {
    let f = fixture().await;
    f.refuses(with("lead_id", Some(json!(777))), 422, Some("lead_id"))
        .await;
    f.refuses(with("lead_id", Some(json!(424242))), 422, Some("lead_id"))
        .await;
}

async fn a_bad_converted_at_is_refused() {
    let f = fixture().await;
    f.refuses(
        with("converted_at", Some(json!("yesterday"))),
        422,
        Some("converted_at"),
    )
    .await;
    f.refuses(
        with("converted_at", Some(json!("2024-01-15T10:00:00"))),
        422,
        Some("converted_at"),
    )
    .await;
    f.refuses(
        with("converted_at", Some(json!("2024-02-30T10:00:00Z"))),
        422,
        Some("converted_at"),
    )
    .await;
}

async fn a_converted_at_in_the_future_is_refused_through_both_doors() {
    // Arrange
    let f = fixture().await;
    let soon =
        |minutes: i64| (chrono::Utc::now() + chrono::Duration::minutes(minutes)).to_rfc3339();
    let mutation = r#"
      mutation($input: LogConversionInput!) { logConversion(input: $input) { id } }"#;
    let future = json!({ "input": {
        "contactId": "123456", "convertedBy": "agent_john_doe", "conversionType": "sale",
        "convertedAt": "2099-01-01T00:00:00Z" } });

    // Act + Assert: REST, alone and in a batch…
    for at in [json!("2099-01-01T00:00:00Z"), json!(soon(10))] {
        let problem = f
            .refuses(with("converted_at", Some(at)), 422, Some("converted_at"))
            .await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .starts_with("converted_at: must not be in the future"),
            "{problem}"
        );
    }
    let batch = f
        .app
        .post_json(
            "/conversions/batch",
            &f.workspace_123,
            &json!({ "conversions": [with("converted_at", Some(json!("2099-01-01T00:00:00Z")))] }),
        )
        .await;
    let batch: Value = batch.json().await.unwrap();
    assert_eq!(batch["results"][0]["status"], "rejected", "{batch}");
    assert_eq!(
        batch["results"][0]["error"]["field"], "converted_at",
        "{batch}"
    );
    // …and GraphQL.
    let body = f.app.graphql(&f.workspace_123, mutation, future).await;
    assert_graphql_error(&body, "BAD_USER_INPUT", Some("convertedAt"));
    assert_eq!(body["data"], Value::Null, "{body}");
    f.assert_nothing_written().await;

    // A clock a minute fast is not the future.
    let response = f
        .app
        .post_json(
            "/conversions/log",
            &f.workspace_123,
            &with("converted_at", Some(json!(soon(1)))),
        )
        .await;
    assert_eq!(response.status(), 201);
}

async fn each_door_names_the_fields_in_its_own_terms() {
    // Arrange
    let f = &fixture().await;
    let detail = |problem: Value| problem["detail"].as_str().unwrap().to_owned();
    let message = |error: Value| error["message"].as_str().unwrap().to_owned();
    let list = |path: &'static str| async move {
        let response = f.app.get(path, &f.workspace_123).await;
        assert_problem(response, 422, "BAD_USER_INPUT", None).await
    };
    let query = |document: &'static str| async move {
        let body = f.app.graphql(&f.workspace_123, document, json!({})).await;
        assert_graphql_error(&body, "BAD_USER_INPUT", None)
    };

    // Act + Assert: created_after takes an instant only, so a date is not offered.
    assert_eq!(
        detail(list("/conversions?created_after=2026-11-29").await),
        "created_after: must be an RFC 3339 timestamp with offset (2024-12-31T23:59:59Z)"
    );
    assert!(
        detail(list("/conversions?from_date=soon").await)
            .starts_with("from_date: must be a date (2024-12-31) or an RFC 3339 timestamp")
    );
    // A rule between two fields names both as the door spells them.
    assert_eq!(
        detail(list("/conversions?from_date=2024-02-01&to_date=2024-01-01").await),
        "to_date: must not be before from_date"
    );
    assert_eq!(
        detail(list("/conversions?min_value=10&max_value=5").await),
        "max_value: must not be below min_value"
    );
    assert_eq!(
        message(
            query(r#"{ conversions(filter: { fromDate: "2024-02-01", toDate: "2024-01-01" }) { nodes { id } } }"#)
                .await
        ),
        "toDate: must not be before fromDate"
    );
    assert_eq!(
        message(
            query(r#"{ contacts(filter: { receivedFrom: "2024-02-01", receivedTo: "2024-01-01" }) { nodes { id } } }"#)
                .await
        ),
        "receivedTo: must not be before receivedFrom"
    );
    assert_eq!(
        message(
            query(r#"{ conversions(filter: { minValue: "10", maxValue: "5" }) { nodes { id } } }"#)
                .await
        ),
        "maxValue: must not be below minValue"
    );
}

async fn oversized_custom_data_is_refused() {
    let f = fixture().await;
    let big = json!({ "notes": "x".repeat(17 * 1024) });
    f.refuses(with("custom_data", Some(big)), 422, Some("custom_data"))
        .await;
}

async fn custom_data_nested_deeper_than_eight_levels_is_refused() {
    let f = fixture().await;
    f.refuses(
        with("custom_data", Some(nested(9))),
        422,
        Some("custom_data"),
    )
    .await;
}

async fn custom_data_eight_levels_deep_is_accepted() {
    // Arrange
    let f = fixture().await;

    // Act
    let stored = f
        .app
        .log_conversion(&f.workspace_123, with("custom_data", Some(nested(8))))
        .await;

    // Assert
    assert_eq!(stored["custom_data"], nested(8));
}

async fn custom_data_that_is_not_an_object_is_refused() {
    let f = fixture().await;
    f.refuses(
        with("custom_data", Some(json!([1, 2]))),
        422,
        Some("custom_data"),
    )
    .await;
    f.refuses(
        with("custom_data", Some(json!("text"))),
        422,
        Some("custom_data"),
    )
    .await;
}

async fn a_bad_conversion_type_is_refused() {
    let f = fixture().await;
    f.refuses(
        with("conversion_type", Some(json!("Sale!"))),
        422,
        Some("conversion_type"),
    )
    .await;
    f.refuses(
        with("conversion_type", Some(json!("a".repeat(65)))),
        422,
        Some("conversion_type"),
    )
    .await;
}

async fn an_unknown_currency_is_refused() {
    let f = fixture().await;
    f.refuses(with("currency", Some(json!("ZZZ"))), 422, Some("currency"))
        .await;
    f.refuses(
        with("currency", Some(json!("dollars"))),
        422,
        Some("currency"),
    )
    .await;
}

async fn the_configured_currency_is_accepted() {
    // Arrange
    let f = fixture().await;

    // Act
    let stored = f
        .app
        .log_conversion(&f.workspace_123, with("currency", Some(json!("USD"))))
        .await;

    // Assert
    assert_eq!(stored["currency"], "USD");
}

async fn a_to_date_before_the_from_date_is_refused() {
    let f = fixture().await;
    f.list_refuses(
        "/conversions?from_date=2024-02-01&to_date=2024-01-01",
        "to_date",
    )
    .await;
    f.list_refuses(
        "/conversions/analytics?from_date=2024-02-01&to_date=2024-01-01",
        "to_date",
    )
    .await;
}

async fn a_bad_date_is_refused() {
    let f = fixture().await;
    f.list_refuses("/conversions?from_date=2024-13-45", "from_date")
        .await;
    f.list_refuses("/conversions?to_date=last-tuesday", "to_date")
        .await;
    f.list_refuses("/conversions/analytics?from_date=01/02/2024", "from_date")
        .await;
}

async fn bad_list_parameters_are_refused() {
    let f = fixture().await;
    f.list_refuses("/conversions?limit=0", "limit").await;
    f.list_refuses("/conversions?limit=201", "limit").await;
    f.list_refuses("/conversions?after=not-a-cursor", "after")
        .await;
    f.list_refuses("/conversions?min_value=abc", "min_value")
        .await;
    f.list_refuses("/conversions?conversion_type=Sale!", "conversion_type")
        .await;
    f.list_refuses(
        "/conversions/analytics?conversion_type=Sale!",
        "conversion_type",
    )
    .await;
}

async fn bad_patch_bodies_are_refused_and_change_nothing() {
    // Arrange
    let f = fixture().await;
    let before = f.app.contact_exact(123456).await;

    // Act + Assert
    for (body, field) in [
        (
            json!({ "custom_metadata": [1, 2] }),
            Some("custom_metadata"),
        ),
        (
            json!({ "custom_metadata": nested(9) }),
            Some("custom_metadata"),
        ),
        (
            json!({ "conversion_status": "CONVERTED!" }),
            Some("conversion_status"),
        ),
        (
            json!({ "conversion_statsu": "converted" }),
            Some("conversion_statsu"),
        ),
        (json!({ "converted_by": 5 }), Some("converted_by")),
    ] {
        let response = f
            .app
            .patch_json("/contacts/123456/conversion", &f.workspace_123, &body)
            .await;
        assert_problem(response, 422, "BAD_USER_INPUT", field).await;
    }
    assert_eq!(f.app.contact_exact(123456).await, before);
}

async fn graphql_names_the_field_in_camel_case_and_writes_nothing() {
    // Arrange
    let f = fixture().await;
    let mutation = r#"
      mutation($input: LogConversionInput!) { logConversion(input: $input) { id } }"#;
    let input = |field: &str, value: Value| {
        let mut input = json!({ "contactId": "123456", "convertedBy": "agent_john_doe", "conversionType": "sale" });
        input[field] = value;
        json!({ "input": input })
    };

    // Act + Assert
    for (field, value) in [
        ("conversionValue", json!("10.001")),
        ("conversionValue", json!("-5")),
        ("conversionValue", json!("lots")),
        ("conversionType", json!("Sale!")),
        ("currency", json!("ZZZ")),
        ("customData", nested(9)),
        ("customData", json!([1, 2])),
        ("contactId", json!("999999")),
    ] {
        let body = f
            .app
            .graphql(&f.workspace_123, mutation, input(field, value))
            .await;
        assert_graphql_error(&body, "BAD_USER_INPUT", Some(field));
        assert_eq!(body["data"], Value::Null, "{body}");
    }
    f.assert_nothing_written().await;
}

async fn graphql_refuses_reversed_dates_and_syntax_errors() {
    // Arrange
    let f = fixture().await;

    // Act
    let reversed = f
        .app
        .graphql(
            &f.workspace_123,
            r#"{ conversions(filter: { fromDate: "2024-02-01", toDate: "2024-01-01" }) { nodes { id } } }"#,
            json!({}),
        )
        .await;
    let syntax = f
        .app
        .graphql(&f.workspace_123, "{ conversions { nodes { id }", json!({}))
        .await;
    let unknown_field = f
        .app
        .graphql(
            &f.workspace_123,
            "{ conversions { nodes { conversion_vaule } } }",
            json!({}),
        )
        .await;

    // Assert
    assert_graphql_error(&reversed, "BAD_USER_INPUT", Some("toDate"));
    assert_graphql_error(&syntax, "BAD_USER_INPUT", None);
    assert_graphql_error(&unknown_field, "BAD_USER_INPUT", None);
}

async fn errors_never_show_internals() {
    // Arrange
    let f = fixture().await;

    // Act: a duplicate id, an id beyond 64 bits, and a nonsense path.
    let duplicate = f
        .app
        .post_json(
            "/contacts",
            &f.workspace_123,
            &json!({ "id": 123456, "name": "Again" }),
        )
        .await;
    let too_big = f
        .app
        .rest(Method::POST, "/contacts", &f.workspace_123)
        .header("Content-Type", "application/json")
        .body(r#"{"id": 99999999999999999999, "name": "Big"}"#)
        .send()
        .await
        .unwrap();
    let nowhere = f.app.get("/no/such/endpoint", &f.workspace_123).await;

    // Assert (assert_problem also checks the body for SQL, sqlx and panics).
    assert_problem(duplicate, 409, "CONFLICT", None).await;
    let status = too_big.status().as_u16();
    assert!(
        (400..500).contains(&status),
        "an id beyond 64 bits answered {status}"
    );
    crate::helpers::assert_no_internals(&too_big.text().await.unwrap());
    assert_problem(nowhere, 404, "NOT_FOUND", None).await;
}

async fn values_that_are_not_finite_are_refused() {
    let f = fixture().await;
    for text in ["NaN", "Infinity", "-Infinity", "1e3"] {
        f.refuses(
            with("conversion_value", Some(json!(text))),
            422,
            Some("conversion_value"),
        )
        .await;
    }
}

async fn the_largest_amount_is_accepted() {
    // Arrange
    let f = fixture().await;

    // Act: exactly 1,000,000,000,000 does not exceed the limit.
    let response = f
        .app
        .rest(Method::POST, "/conversions/log", &f.workspace_123)
        .header("Content-Type", "application/json")
        .body(r#"{"contact_id": 123456, "converted_by": "a", "conversion_type": "sale", "conversion_value": 1000000000000}"#)
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(response.status().as_u16(), 201);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#""conversion_value":1000000000000.00"#),
        "{text}"
    );
}

async fn a_body_over_a_megabyte_is_refused() {
    // Arrange
    let f = fixture().await;
    let body = with(
        "custom_data",
        Some(json!({ "notes": "x".repeat(1_100_000) })),
    );

    // Act
    let response = f
        .app
        .post_json("/conversions/log", &f.workspace_123, &body)
        .await;

    // Assert: 413 or 422, as a problem; nothing stored.
    let status = response.status().as_u16();
    assert!(
        status == 413 || status == 422,
        "a 1.1 MB body answered {status}"
    );
    let code = if status == 413 {
        "PAYLOAD_TOO_LARGE"
    } else {
        "BAD_USER_INPUT"
    };
    assert_problem(response, status, code, None).await;
    f.assert_nothing_written().await;
}

async fn a_wrong_method_is_a_problem_too() {
    // Arrange
    let f = fixture().await;

    // Act
    let response = f
        .app
        .rest(Method::PUT, "/conversions/log", &f.workspace_123)
        .json(&valid())
        .send()
        .await
        .unwrap();

    // Assert: every REST error is application/problem+json.
    let status = response.status().as_u16();
    assert_eq!(status, 405);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/problem+json"),
        "405 came as {content_type:?}"
    );
    f.assert_nothing_written().await;
}

async fn a_contact_with_a_bad_email_is_refused() {
    // Arrange
    let f = fixture().await;

    // Act
    let response = f
        .app
        .post_json(
            "/contacts",
            &f.workspace_123,
            &json!({ "id": 55, "email": "not an email" }),
        )
        .await;

    // Assert
    assert_problem(response, 422, "BAD_USER_INPUT", Some("email")).await;
    let missing = f.app.get("/contacts/55", &f.app.admin).await;
    assert_problem(missing, 404, "NOT_FOUND", None).await;
}

async fn limits_are_validated_the_same_through_both_doors() {
    // Arrange
    let f = fixture().await;
    let activity = r#"query($limit: Int) { workspaceActivity(workspaceId: "workspace_123", limit: $limit) { totalConversions } }"#;
    let conversions = "query($first: Int) { conversions(first: $first) { nodes { id } } }";

    // Act + Assert: REST
    for limit in ["0", "101"] {
        let response = f
            .app
            .get(
                &format!("/workspaces/workspace_123/activity?limit={limit}"),
                &f.workspace_123,
            )
            .await;
        assert_problem(response, 422, "BAD_USER_INPUT", Some("limit")).await;
    }
    // …and GraphQL
    for first in [-1, 201] {
        let body = f
            .app
            .graphql(&f.workspace_123, conversions, json!({ "first": first }))
            .await;
        assert_graphql_error(&body, "BAD_USER_INPUT", Some("first"));
    }
    for limit in [0, 101, -1] {
        let body = f
            .app
            .graphql(&f.workspace_123, activity, json!({ "limit": limit }))
            .await;
        assert_graphql_error(&body, "BAD_USER_INPUT", Some("limit"));
    }
}

crate::backend::on_both_backends!(
    an_empty_page_size_is_refused_by_name,
    malformed_json_is_400,
    a_body_that_is_not_an_object_is_400,
    a_non_json_content_type_is_415,
    a_wrong_type_names_the_field,
    a_missing_required_field_names_it,
    a_misspelled_field_is_refused_not_ignored,
    a_negative_value_is_refused,
    a_value_finer_than_a_cent_is_refused,
    a_huge_value_is_refused,
    a_value_that_is_not_a_number_is_refused,
    an_unknown_contact_is_refused,
    a_lead_of_another_contact_is_refused,
    a_bad_converted_at_is_refused,
    a_converted_at_in_the_future_is_refused_through_both_doors,
    each_door_names_the_fields_in_its_own_terms,
    oversized_custom_data_is_refused,
    custom_data_nested_deeper_than_eight_levels_is_refused,
    custom_data_eight_levels_deep_is_accepted,
    custom_data_that_is_not_an_object_is_refused,
    a_bad_conversion_type_is_refused,
    an_unknown_currency_is_refused,
    the_configured_currency_is_accepted,
    a_to_date_before_the_from_date_is_refused,
    a_bad_date_is_refused,
    bad_list_parameters_are_refused,
    bad_patch_bodies_are_refused_and_change_nothing,
    graphql_names_the_field_in_camel_case_and_writes_nothing,
    graphql_refuses_reversed_dates_and_syntax_errors,
    errors_never_show_internals,
    values_that_are_not_finite_are_refused,
    the_largest_amount_is_accepted,
    a_body_over_a_megabyte_is_refused,
    a_wrong_method_is_a_problem_too,
    a_contact_with_a_bad_email_is_refused,
    limits_are_validated_the_same_through_both_doors,
);
