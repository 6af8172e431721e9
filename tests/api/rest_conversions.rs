//! `POST /conversions/log`, `GET /conversions`, `GET /conversions/{id}`: the plan's §2.1 and
//! §6.1 examples, exact money, filters and pagination.

use crate::helpers::{Creds, TestApp, expect_exact, expect_json, ids, spawn_app};
use serde_json::{Value, json};
use std::collections::HashSet;

/// workspace_123 has received contact 123456 (with lead 1234567890) from a lead source.
async fn plan_fixture() -> (TestApp, Creds) {
    let app = spawn_app().await;
    let workspace_123 = app.workspace("workspace_123").await;
    let lead_gen = app.workspace("lead_gen_team").await;
    app.create_contact(&lead_gen, 123456, "Jane Roe").await;
    app.create_lead(&lead_gen, 1234567890, 123456).await;
    app.send_contact(&lead_gen, 123456, "workspace_123").await;
    (app, workspace_123)
}

fn plan_log_body() -> Value {
    // Plan §2.1, verbatim.
    json!({
      "contact_id": 123456,
      "lead_id": 1234567890,
      "workspace_id": "workspace_123",
      "converted_by": "agent_john_doe",
      "conversion_type": "sale",
      "conversion_value": 25000,
      "custom_data": {
        "product": "solar_panel_system",
        "contract_id": "CTR-2024-001",
        "financing_type": "loan",
        "term_months": 240,
        "commission_rate": 0.05,
        "notes": "Customer opted for premium package"
      }
    })
}

async fn logging_the_plans_example_stores_it_and_answers_201_with_location() {
    // Arrange
    let (app, workspace_123) = plan_fixture().await;

    // Act
    let response = app
        .post_json("/conversions/log", &workspace_123, &plan_log_body())
        .await;

    // Assert
    assert_eq!(response.status().as_u16(), 201);
    let location = response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned();
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#""conversion_value":25000.00"#),
        "value not exact: {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    let id = body["id"].as_str().expect("an id");
    assert_eq!(location, format!("/conversions/{id}"));
    assert_eq!(body["contact_id"], 123456);
    assert_eq!(body["lead_id"], 1234567890);
    assert_eq!(body["workspace_id"], "workspace_123");
    assert_eq!(body["converted_by"], "agent_john_doe");
    assert_eq!(body["conversion_type"], "sale");
    assert_eq!(body["currency"], "USD");
    assert_eq!(body["custom_data"], plan_log_body()["custom_data"]);
    assert!(body["converted_at"].is_string());
    assert!(body["created_at"].is_string());

    // The Location reads back the same conversion.
    let read = app.get(&location, &workspace_123).await;
    let read = expect_json(read, 200).await;
    assert_eq!(read["id"], id);
    assert_eq!(read["custom_data"], plan_log_body()["custom_data"]);
}

async fn logging_a_sale_updates_the_contact_and_links_the_lead() {
    // Arrange
    let (app, workspace_123) = plan_fixture().await;

    // Act
    let conversion = app.log_conversion(&workspace_123, plan_log_body()).await;

    // Assert: the contact
    let response = app.get("/contacts/123456", &workspace_123).await;
    let contact = expect_exact(response, 200).await;
    assert_eq!(contact["lifetime_value"], "25000.00");
    assert_eq!(contact["conversion_count"], "1");
    assert_eq!(contact["conversion_status"], "converted");
    assert_eq!(contact["converted_from_workspace"], "workspace_123");
    assert_eq!(contact["converted_by"], "agent_john_doe");
    assert!(contact["converted_timestamp"].is_string(), "{contact}");

    // Assert: the lead
    let data = app
        .graphql_data(
            &workspace_123,
            r#"{ lead(id: "1234567890") { id contactId conversionId workspaceId conversionMetadata } }"#,
            json!({}),
        )
        .await;
    assert_eq!(data["lead"]["conversionId"], conversion["id"]);
    assert_eq!(data["lead"]["workspaceId"], "workspace_123");
    assert_eq!(data["lead"]["contactId"], "123456");
    assert_eq!(
        data["lead"]["conversionMetadata"],
        plan_log_body()["custom_data"]
    );
}

async fn amounts_with_cents_stay_exact() {
    // Arrange
    let (app, workspace_123) = plan_fixture().await;
    app.log_conversion(&workspace_123, plan_log_body()).await;

    // Act
    let response = app
        .post_json(
            "/conversions/log",
            &workspace_123,
            &json!({
                "contact_id": 123456,
                "converted_by": "agent_john_doe",
                "conversion_type": "sale",
                "conversion_value": 18500.50
            }),
        )
        .await;

    // Assert
    assert_eq!(response.status().as_u16(), 201);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#""conversion_value":18500.50"#),
        "value not exact: {text}"
    );
    let contact = app.contact_exact(123456).await;
    assert_eq!(contact["lifetime_value"], "43500.50");
    assert_eq!(contact["conversion_count"], "2");
}

async fn amounts_as_strings_and_tenths_add_up_without_float_error() {
    // Arrange
    let (app, workspace_123) = plan_fixture().await;

    // Act: 0.10 + 0.20 is 0.30 in money, not 0.30000000000000004.
    for value in [json!("0.10"), json!(0.2)] {
        app.log_conversion(
            &workspace_123,
            json!({
                "contact_id": 123456,
                "converted_by": "agent_john_doe",
                "conversion_type": "tip",
                "conversion_value": value
            }),
        )
        .await;
    }

    // Assert
    let contact = app.contact_exact(123456).await;
    assert_eq!(contact["lifetime_value"], "0.30");
    let listed = expect_exact(app.get("/conversions", &workspace_123).await, 200).await;
    let values: Vec<&Value> = listed["conversions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["conversion_value"])
        .collect();
    assert!(
        values.contains(&&json!("0.10")) && values.contains(&&json!("0.20")),
        "{values:?}"
    );
}

async fn the_salesforce_webhook_example_works_verbatim() {
    // Arrange: plan §6.1
    let app = spawn_app().await;
    let key = app
        .register_workspace("salesforce_prod", &["read", "update", "convert"])
        .await;
    let lead_gen = app.workspace("lead_gen_team").await;
    app.contact_received_by(&lead_gen, 123456, "Jane Roe", "salesforce_prod")
        .await;
    let salesforce_opportunity = json!({
        "id": "0065g00000XyZabAAB",
        "convio_contact_id": 123456,
        "owner_id": "0055g00000AbCdEAAV",
        "amount": 32000,
        "stage": "Closed Won",
        "close_date": "2024-03-15",
        "line_items": [
            { "product": "solar_panel_system", "quantity": 1 },
            { "product": "battery", "quantity": 2 }
        ]
    });

    // Act: the integration's request, header for header.
    let response = app
        .client
        .post(app.url("/conversions/log"))
        .header("Content-Type", "application/json")
        .header("X-Workspace-ID", "salesforce_prod")
        .header("X-API-Key", &key)
        .body(
            json!({
                "contact_id": salesforce_opportunity["convio_contact_id"],
                "workspace_id": "salesforce_prod",
                "converted_by": salesforce_opportunity["owner_id"],
                "conversion_type": "sale",
                "conversion_value": salesforce_opportunity["amount"],
                "custom_data": {
                    "opportunity_id": salesforce_opportunity["id"],
                    "stage": salesforce_opportunity["stage"],
                    "close_date": salesforce_opportunity["close_date"],
                    "products": salesforce_opportunity["line_items"]
                }
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(response.status().as_u16(), 201);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#""conversion_value":32000.00"#),
        "value not exact: {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["workspace_id"], "salesforce_prod");
    assert_eq!(body["contact_id"], 123456);
    assert_eq!(body["converted_by"], "0055g00000AbCdEAAV");
    assert_eq!(body["custom_data"]["opportunity_id"], "0065g00000XyZabAAB");
    assert_eq!(body["custom_data"]["stage"], "Closed Won");
    assert_eq!(body["custom_data"]["products"][1]["product"], "battery");
}

/// Six conversions on chosen dates across two workspaces:
///
/// | name | workspace     | contact | type        | value | converted_at          |
/// |------|---------------|---------|-------------|-------|-----------------------|
/// | e    | workspace_123 | 123456  | qualified   | —     | 2023-12-31T23:59:59Z  |
/// | a    | workspace_123 | 123456  | sale        | 25000 | 2024-03-10T10:00:00Z  |
/// | f    | workspace_456 | 123458  | sale        | 50000 | 2024-05-05T12:00:00Z  |
/// | b    | workspace_123 | 123456  | appointment | —     | 2024-06-01T09:00:00Z  |
/// | c    | workspace_123 | 123457  | sale        | 8000  | 2024-12-31T23:59:59Z  |
/// | d    | workspace_123 | 123457  | sale        | 15000 | 2025-01-01T00:00:00Z  |
struct ListFixture {
    app: TestApp,
    workspace_123: Creds,
    ids: std::collections::HashMap<&'static str, String>,
}

async fn list_fixture() -> ListFixture {
    let app = spawn_app().await;
    let workspace_123 = app.workspace("workspace_123").await;
    let workspace_456 = app.workspace("workspace_456").await;
    let lead_gen = app.workspace("lead_gen_team").await;
    app.contact_received_by(&lead_gen, 123456, "Jane Roe", "workspace_123")
        .await;
    app.contact_received_by(&lead_gen, 123457, "John Poe", "workspace_123")
        .await;
    app.contact_received_by(&lead_gen, 123458, "Ann Moe", "workspace_456")
        .await;
    #[allow(clippy::type_complexity)]
    let rows: [(&str, &Creds, i64, &str, Option<i64>, &str); 6] = [
        (
            "e",
            &workspace_123,
            123456,
            "qualified",
            None,
            "2023-12-31T23:59:59Z",
        ),
        (
            "a",
            &workspace_123,
            123456,
            "sale",
            Some(25000),
            "2024-03-10T10:00:00Z",
        ),
        (
            "f",
            &workspace_456,
            123458,
            "sale",
            Some(50000),
            "2024-05-05T12:00:00Z",
        ),
        (
            "b",
            &workspace_123,
            123456,
            "appointment",
            None,
            "2024-06-01T09:00:00Z",
        ),
        (
            "c",
            &workspace_123,
            123457,
            "sale",
            Some(8000),
            "2024-12-31T23:59:59Z",
        ),
        (
            "d",
            &workspace_123,
            123457,
            "sale",
            Some(15000),
            "2025-01-01T00:00:00Z",
        ),
    ];
    let mut ids = std::collections::HashMap::new();
    for (name, creds, contact, kind, value, at) in rows {
        let mut body = json!({
            "contact_id": contact,
            "converted_by": "agent_john_doe",
            "conversion_type": kind,
            "converted_at": at,
        });
        if let Some(value) = value {
            body["conversion_value"] = json!(value);
        }
        let stored = app.log_conversion(creds, body).await;
        ids.insert(name, stored["id"].as_str().unwrap().to_owned());
    }
    ListFixture {
        app,
        workspace_123,
        ids,
    }
}

impl ListFixture {
    fn named(&self, names: &[&str]) -> Vec<String> {
        names.iter().map(|n| self.ids[n].clone()).collect()
    }

    async fn list(&self, creds: &Creds, query: &str) -> Vec<String> {
        let body = expect_json(
            self.app.get(&format!("/conversions?{query}"), creds).await,
            200,
        )
        .await;
        ids(body["conversions"].as_array().expect("a conversions list"))
    }
}

async fn listing_by_workspace_and_year_gives_that_workspaces_2024_newest_first() {
    // Arrange
    let f = list_fixture().await;
    let query = "workspace_id=workspace_123&from_date=2024-01-01&to_date=2024-12-31";

    // Act
    let as_admin = f.list(&f.app.admin, query).await;
    let as_owner = f.list(&f.workspace_123, query).await;

    // Assert: the last second of 2024 is in; the first of 2025 and the last of 2023 are out.
    assert_eq!(as_admin, f.named(&["c", "b", "a"]));
    assert_eq!(as_owner, f.named(&["c", "b", "a"]));
}

async fn listing_by_contact_gives_that_contacts_conversions() {
    // Arrange
    let f = list_fixture().await;

    // Act
    let as_admin = f.list(&f.app.admin, "contact_id=123456").await;
    let as_owner = f.list(&f.workspace_123, "contact_id=123456").await;

    // Assert
    assert_eq!(as_admin, f.named(&["b", "a", "e"]));
    assert_eq!(as_owner, f.named(&["b", "a", "e"]));
}

async fn listing_by_type_and_minimum_value_gives_the_big_sales() {
    // Arrange
    let f = list_fixture().await;

    // Act
    let as_admin = f
        .list(&f.app.admin, "conversion_type=sale&min_value=10000")
        .await;
    let as_owner = f
        .list(&f.workspace_123, "conversion_type=sale&min_value=10000")
        .await;
    let capped = f.list(&f.app.admin, "max_value=15000").await;

    // Assert
    assert_eq!(as_admin, f.named(&["d", "f", "a"]));
    assert_eq!(as_owner, f.named(&["d", "a"]));
    assert_eq!(
        capped,
        f.named(&["d", "c"]),
        "max_value is inclusive; valueless rows excluded"
    );
}

async fn listing_without_filters_is_newest_first() {
    // Arrange
    let f = list_fixture().await;

    // Act
    let all = f.list(&f.app.admin, "").await;

    // Assert
    assert_eq!(all, f.named(&["d", "c", "b", "f", "a", "e"]));
}

async fn pages_follow_each_other_without_duplicates_or_gaps() {
    // Arrange: seven conversions, two of them at the very same instant.
    let (app, workspace_123) = plan_fixture().await;
    let times = [
        "2024-01-01T10:00:00Z",
        "2024-01-02T10:00:00Z",
        "2024-01-03T10:00:00Z",
        "2024-01-03T10:00:00Z",
        "2024-01-04T10:00:00Z",
        "2024-01-05T10:00:00Z",
        "2024-01-06T10:00:00Z",
    ];
    for at in times {
        app.log_conversion(
            &workspace_123,
            json!({
                "contact_id": 123456, "converted_by": "agent_john_doe",
                "conversion_type": "sale", "conversion_value": 100, "converted_at": at
            }),
        )
        .await;
    }
    let everything = expect_json(app.get("/conversions", &workspace_123).await, 200).await;
    let everything = ids(everything["conversions"].as_array().unwrap());
    assert_eq!(everything.len(), 7);

    // Act: walk the pages three at a time.
    let mut walked = Vec::new();
    let mut has_next = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..5 {
        let path = match &after {
            Some(cursor) => format!("/conversions?limit=3&after={cursor}"),
            None => "/conversions?limit=3".to_owned(),
        };
        let page = expect_json(app.get(&path, &workspace_123).await, 200).await;
        walked.extend(ids(page["conversions"].as_array().unwrap()));
        let next = page["page_info"]["has_next_page"]
            .as_bool()
            .expect("has_next_page");
        has_next.push(next);
        if !next {
            break;
        }
        after = Some(
            page["page_info"]["end_cursor"]
                .as_str()
                .expect("end_cursor")
                .to_owned(),
        );
    }

    // Assert
    assert_eq!(has_next, vec![true, true, false]);
    assert_eq!(walked, everything, "the pages concatenate to the full list");
    assert_eq!(
        walked.iter().collect::<HashSet<_>>().len(),
        7,
        "no duplicates"
    );
}

async fn listed_conversions_are_ordered_by_converted_at_descending() {
    // Arrange
    let f = list_fixture().await;

    // Act
    let body = expect_json(f.app.get("/conversions", &f.app.admin).await, 200).await;

    // Assert
    let times: Vec<chrono::DateTime<chrono::Utc>> = body["conversions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["converted_at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    assert_eq!(body["page_info"]["has_next_page"], false);
}

async fn a_conversion_reads_back_by_id_and_unknown_ids_are_404() {
    // Arrange
    let (app, workspace_123) = plan_fixture().await;
    let stored = app.log_conversion(&workspace_123, plan_log_body()).await;
    let id = stored["id"].as_str().unwrap();

    // Act
    let found = app.get(&format!("/conversions/{id}"), &workspace_123).await;
    let missing = app
        .get(
            &format!("/conversions/{}", uuid::Uuid::new_v4()),
            &workspace_123,
        )
        .await;
    let garbage = app.get("/conversions/not-a-uuid", &workspace_123).await;

    // Assert
    assert_eq!(found.status().as_u16(), 200);
    let text = found.text().await.unwrap();
    assert!(text.contains(r#""conversion_value":25000.00"#), "{text}");
    let mut found: Value = serde_json::from_str(&text).unwrap();
    // One conversion comes with its history (none yet); otherwise as stored.
    assert_eq!(found["adjustments"], serde_json::json!([]));
    found.as_object_mut().unwrap().remove("adjustments");
    assert_eq!(found, stored);
    crate::helpers::assert_problem(missing, 404, "NOT_FOUND", None).await;
    crate::helpers::assert_problem(garbage, 404, "NOT_FOUND", None).await;
}

async fn a_conversion_without_value_or_time_gets_null_value_and_now() {
    // Arrange
    let (app, workspace_123) = plan_fixture().await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(5);

    // Act
    let stored = app
        .log_conversion(
            &workspace_123,
            json!({ "contact_id": 123456, "converted_by": "agent_john_doe", "conversion_type": "qualified" }),
        )
        .await;

    // Assert
    assert_eq!(stored["conversion_value"], Value::Null);
    assert_eq!(
        stored["workspace_id"], "workspace_123",
        "defaults to the caller"
    );
    let at: chrono::DateTime<chrono::Utc> =
        stored["converted_at"].as_str().unwrap().parse().unwrap();
    assert!(at >= before && at <= chrono::Utc::now() + chrono::Duration::seconds(5));
    let contact = app.contact_exact(123456).await;
    assert_eq!(contact["lifetime_value"], "0.00");
    assert_eq!(contact["conversion_status"], "qualified");
}

async fn concurrent_conversions_on_one_contact_all_count() {
    // Arrange
    let (app, workspace_123) = plan_fixture().await;

    // Act: ten webhooks at once.
    let body = json!({ "contact_id": 123456, "converted_by": "agent_john_doe",
                       "conversion_type": "sale", "conversion_value": "1.10" });
    let requests = (0..10).map(|_| app.post_json("/conversions/log", &workspace_123, &body));
    let responses = futures_util::future::join_all(requests).await;

    // Assert: no lost update.
    for response in responses {
        assert_eq!(response.status().as_u16(), 201);
    }
    let contact = app.contact_exact(123456).await;
    assert_eq!(contact["lifetime_value"], "11.00");
    assert_eq!(contact["conversion_count"], "10");
    assert_eq!(app.all_conversions().await.len(), 10);
}

crate::backend::on_both_backends!(
    logging_the_plans_example_stores_it_and_answers_201_with_location,
    logging_a_sale_updates_the_contact_and_links_the_lead,
    amounts_with_cents_stay_exact,
    amounts_as_strings_and_tenths_add_up_without_float_error,
    the_salesforce_webhook_example_works_verbatim,
    listing_by_workspace_and_year_gives_that_workspaces_2024_newest_first,
    listing_by_contact_gives_that_contacts_conversions,
    listing_by_type_and_minimum_value_gives_the_big_sales,
    listing_without_filters_is_newest_first,
    pages_follow_each_other_without_duplicates_or_gaps,
    listed_conversions_are_ordered_by_converted_at_descending,
    a_conversion_reads_back_by_id_and_unknown_ids_are_404,
    a_conversion_without_value_or_time_gets_null_value_and_now,
    concurrent_conversions_on_one_contact_all_count,
);
