//! The GraphQL API: every query and mutation, as a dashboard or integration would use them.

use crate::helpers::{Creds, TestApp, assert_graphql_error, spawn_app};
use serde_json::{Value, json};

const REGISTER: &str = r#"
mutation Register($input: RegisterWorkspaceInput!) {
  registerWorkspace(input: $input) {
    apiKey
    workspace { id name permissions createdAt disabledAt }
  }
}"#;

const LOG: &str = r#"
mutation Log($input: LogConversionInput!) {
  logConversion(input: $input) {
    id contactId leadId workspaceId convertedBy convertedAt conversionType
    conversionValue currency customData createdAt
    contact { id lifetimeValue conversionCount conversionStatus }
    lead { id conversionId }
    workspace { id name }
  }
}"#;

async fn register(app: &TestApp, id: &str, name: &str) -> Creds {
    let data = app
        .graphql_data(
            &app.admin,
            REGISTER,
            json!({ "input": { "workspaceId": id, "workspaceName": name,
                               "permissions": ["READ", "UPDATE", "CONVERT"] } }),
        )
        .await;
    let key = data["registerWorkspace"]["apiKey"]
        .as_str()
        .expect("an api key");
    Creds::headers(id, key)
}

/// Built entirely through GraphQL mutations: lead_gen_team creates contacts 123456 (with lead
/// 1234567890) and 123457 and sends both to workspace_123, which logs a 25000 sale on the
/// first (2024-03-10) and an 18500.50 appointment on the second (2024-03-11).
struct Fixture {
    app: TestApp,
    workspace_123: Creds,
    lead_gen: Creds,
    sale: Value,
    appointment: Value,
}

async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let workspace_123 = register(&app, "workspace_123", "Sales Team Alpha").await;
    let lead_gen = register(&app, "lead_gen_team", "Lead Generation").await;
    for (id, name) in [("123456", "Jane Roe"), ("123457", "John Poe")] {
        app.graphql_data(
            &lead_gen,
            "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
            json!({ "input": { "id": id, "name": name, "customMetadata": { "source": "web" } } }),
        )
        .await;
    }
    app.graphql_data(
        &lead_gen,
        "mutation { createLead(input: { id: \"1234567890\", contactId: \"123456\" }) { id } }",
        json!({}),
    )
    .await;
    app.graphql_data(
        &lead_gen,
        r#"mutation { sendContact(contactId: "123456", toWorkspaceId: "workspace_123", leadId: "1234567890") { id } }"#,
        json!({}),
    )
    .await;
    app.graphql_data(
        &lead_gen,
        r#"mutation { sendContact(contactId: "123457", toWorkspaceId: "workspace_123") { id } }"#,
        json!({}),
    )
    .await;
    let sale = app
        .graphql_data(
            &workspace_123,
            LOG,
            json!({ "input": {
                "contactId": "123456", "leadId": "1234567890", "convertedBy": "agent_john_doe",
                "conversionType": "sale", "conversionValue": "25000",
                "convertedAt": "2024-03-10T10:00:00Z",
                "customData": { "contract_id": "CTR-2024-001", "term_months": 240 }
            } }),
        )
        .await["logConversion"]
        .clone();
    let appointment = app
        .graphql_data(
            &workspace_123,
            LOG,
            json!({ "input": {
                "contactId": "123457", "convertedBy": "agent_jane", "conversionType": "appointment",
                "conversionValue": "18500.5", "currency": "USD",
                "convertedAt": "2024-03-11T10:00:00+00:00"
            } }),
        )
        .await["logConversion"]
        .clone();
    Fixture {
        app,
        workspace_123,
        lead_gen,
        sale,
        appointment,
    }
}

async fn register_workspace_returns_the_workspace_and_its_key() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let data = app
        .graphql_data(
            &app.admin,
            REGISTER,
            json!({ "input": { "workspaceId": "workspace_123", "workspaceName": "Sales Team Alpha" } }),
        )
        .await;

    // Assert
    let registered = &data["registerWorkspace"];
    assert_eq!(registered["workspace"]["id"], "workspace_123");
    assert_eq!(registered["workspace"]["name"], "Sales Team Alpha");
    assert_eq!(
        registered["workspace"]["permissions"],
        json!(["READ", "UPDATE", "CONVERT"])
    );
    assert_eq!(registered["workspace"]["disabledAt"], Value::Null);
    let key = registered["apiKey"].as_str().unwrap();
    let works = app.get("/conversions", &Creds::bearer(key)).await;
    assert_eq!(works.status().as_u16(), 200);
}

async fn log_conversion_returns_exact_decimals_and_its_relations() {
    // Arrange + Act
    let f = fixture().await;

    // Assert
    let sale = &f.sale;
    assert_eq!(sale["contactId"], "123456");
    assert_eq!(sale["leadId"], "1234567890");
    assert_eq!(sale["workspaceId"], "workspace_123");
    assert_eq!(sale["convertedBy"], "agent_john_doe");
    assert_eq!(sale["conversionType"], "sale");
    assert_eq!(sale["conversionValue"], "25000.00");
    assert_eq!(sale["currency"], "USD");
    assert_eq!(
        sale["customData"],
        json!({ "contract_id": "CTR-2024-001", "term_months": 240 })
    );
    let at: chrono::DateTime<chrono::Utc> = sale["convertedAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        at,
        "2024-03-10T10:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    );
    assert_eq!(sale["contact"]["id"], "123456");
    assert_eq!(sale["contact"]["lifetimeValue"], "25000.00");
    assert_eq!(sale["contact"]["conversionCount"], 1);
    assert_eq!(sale["contact"]["conversionStatus"], "CONVERTED");
    assert_eq!(sale["lead"]["id"], "1234567890");
    assert_eq!(sale["lead"]["conversionId"], sale["id"]);
    assert_eq!(
        sale["workspace"],
        json!({ "id": "workspace_123", "name": "Sales Team Alpha" })
    );

    let appointment = &f.appointment;
    assert_eq!(
        appointment["conversionValue"], "18500.50",
        "a number input stays exact"
    );
    assert_eq!(appointment["lead"], Value::Null);
    assert_eq!(appointment["contact"]["conversionStatus"], "APPOINTMENT");
}

async fn conversion_reads_one_and_unknown_ids_are_null() {
    // Arrange
    let f = fixture().await;
    let query = "query($id: ID!) { conversion(id: $id) { id conversionValue contact { name } } }";

    // Act
    let found = f
        .app
        .graphql_data(&f.workspace_123, query, json!({ "id": f.sale["id"] }))
        .await;
    let missing = f
        .app
        .graphql_data(
            &f.workspace_123,
            query,
            json!({ "id": uuid::Uuid::new_v4().to_string() }),
        )
        .await;

    // Assert
    assert_eq!(found["conversion"]["id"], f.sale["id"]);
    assert_eq!(found["conversion"]["conversionValue"], "25000.00");
    assert_eq!(found["conversion"]["contact"]["name"], "Jane Roe");
    assert_eq!(missing["conversion"], Value::Null);
}

async fn conversions_is_a_relay_connection_newest_first() {
    // Arrange
    let f = fixture().await;
    let query = r#"
      query($first: Int, $after: String, $filter: ConversionFilter) {
        conversions(first: $first, after: $after, filter: $filter) {
          edges { cursor node { id conversionType } }
          nodes { id }
          pageInfo { hasNextPage endCursor }
        }
      }"#;

    // Act
    let first = f
        .app
        .graphql_data(&f.workspace_123, query, json!({ "first": 1 }))
        .await;
    let cursor = first["conversions"]["pageInfo"]["endCursor"].clone();
    let second = f
        .app
        .graphql_data(
            &f.workspace_123,
            query,
            json!({ "first": 1, "after": cursor }),
        )
        .await;

    // Assert
    let page = &first["conversions"];
    assert_eq!(
        page["edges"][0]["node"]["id"], f.appointment["id"],
        "newest first"
    );
    assert_eq!(page["nodes"], json!([{ "id": f.appointment["id"] }]));
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    assert_eq!(page["edges"][0]["cursor"], page["pageInfo"]["endCursor"]);
    let page = &second["conversions"];
    assert_eq!(page["nodes"], json!([{ "id": f.sale["id"] }]));
    assert_eq!(page["pageInfo"]["hasNextPage"], false);
}

/// The ids `conversions(filter:)` gives workspace_123, in order.
async fn filtered(f: &Fixture, filter: Value) -> Vec<Value> {
    let data = f
        .app
        .graphql_data(
            &f.workspace_123,
            "query($filter: ConversionFilter) { conversions(filter: $filter) { nodes { id } } }",
            json!({ "filter": filter }),
        )
        .await;
    data["conversions"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].clone())
        .collect()
}

async fn conversions_filters_combine() {
    // Arrange
    let f = fixture().await;
    let sale = f.sale["id"].clone();
    let appointment = f.appointment["id"].clone();

    // Act + Assert
    assert_eq!(
        filtered(&f, json!({ "conversionType": "sale" })).await,
        vec![sale.clone()]
    );
    assert_eq!(
        filtered(&f, json!({ "minValue": "20000" })).await,
        vec![sale.clone()]
    );
    assert_eq!(
        filtered(&f, json!({ "maxValue": 20000 })).await,
        vec![appointment.clone()]
    );
    assert_eq!(
        filtered(&f, json!({ "fromDate": "2024-03-11" })).await,
        vec![appointment.clone()]
    );
    assert_eq!(
        filtered(&f, json!({ "toDate": "2024-03-10" })).await,
        vec![sale.clone()]
    );
    assert_eq!(
        filtered(&f, json!({ "contactId": "123457" })).await,
        vec![appointment.clone()]
    );
    assert_eq!(
        filtered(
            &f,
            json!({ "workspaceId": "workspace_123", "fromDate": "2024-03-01", "toDate": "2024-03-31" })
        )
        .await,
        vec![appointment, sale]
    );
    assert!(
        filtered(
            &f,
            json!({ "conversionType": "sale", "contactId": "123457" })
        )
        .await
        .is_empty()
    );
}

async fn contact_shows_its_conversion_state_conversions_and_leads() {
    // Arrange
    let f = fixture().await;

    // Act
    let data = f
        .app
        .graphql_data(
            &f.workspace_123,
            r#"{ contact(id: "123456") {
                  id name email phone createdAt updatedAt sentFromWorkspace convertedFromWorkspace
                  conversionStatus convertedTimestamp convertedBy customMetadata lifetimeValue
                  currency conversionCount
                  conversions { totalCount nodes { id conversionValue } }
                  leads { totalCount nodes { id conversionId } }
               } }"#,
            json!({}),
        )
        .await;

    // Assert
    let contact = &data["contact"];
    assert_eq!(contact["id"], "123456");
    assert_eq!(contact["name"], "Jane Roe");
    assert_eq!(contact["sentFromWorkspace"], "lead_gen_team");
    assert_eq!(contact["convertedFromWorkspace"], "workspace_123");
    assert_eq!(contact["conversionStatus"], "CONVERTED");
    assert_eq!(contact["convertedBy"], "agent_john_doe");
    assert_eq!(contact["customMetadata"], json!({ "source": "web" }));
    assert_eq!(contact["lifetimeValue"], "25000.00");
    assert_eq!(contact["currency"], "USD");
    assert_eq!(contact["conversionCount"], 1);
    assert!(contact["convertedTimestamp"].is_string());
    assert_eq!(
        contact["conversions"],
        json!({ "totalCount": 1, "nodes": [{ "id": f.sale["id"], "conversionValue": "25000.00" }] })
    );
    assert_eq!(
        contact["leads"],
        json!({ "totalCount": 1, "nodes": [{ "id": "1234567890", "conversionId": f.sale["id"] }] })
    );
}

async fn contacts_pages_through_visible_contacts() {
    // Arrange
    let f = fixture().await;
    let query = "query($after: String) { contacts(first: 1, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }";

    // Act
    let first = f.app.graphql_data(&f.workspace_123, query, json!({})).await;
    let cursor = first["contacts"]["pageInfo"]["endCursor"].clone();
    let second = f
        .app
        .graphql_data(&f.workspace_123, query, json!({ "after": cursor }))
        .await;

    // Assert
    assert_eq!(first["contacts"]["nodes"], json!([{ "id": "123456" }]));
    assert_eq!(first["contacts"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(second["contacts"]["nodes"], json!([{ "id": "123457" }]));
    assert_eq!(second["contacts"]["pageInfo"]["hasNextPage"], false);
}

async fn lead_shows_its_contact_and_conversion() {
    // Arrange
    let f = fixture().await;

    // Act
    let data = f
        .app
        .graphql_data(
            &f.workspace_123,
            r#"{ lead(id: "1234567890") {
                  id contactId createdAt workspaceId conversionId conversionMetadata
                  contact { id name }
                  conversion { id conversionValue }
               } }"#,
            json!({}),
        )
        .await;

    // Assert
    let lead = &data["lead"];
    assert_eq!(lead["id"], "1234567890");
    assert_eq!(lead["contactId"], "123456");
    assert_eq!(lead["workspaceId"], "workspace_123");
    assert_eq!(lead["conversionId"], f.sale["id"]);
    assert_eq!(
        lead["conversionMetadata"],
        json!({ "contract_id": "CTR-2024-001", "term_months": 240 })
    );
    assert_eq!(
        lead["contact"],
        json!({ "id": "123456", "name": "Jane Roe" })
    );
    assert_eq!(
        lead["conversion"],
        json!({ "id": f.sale["id"], "conversionValue": "25000.00" })
    );
}

async fn workspace_and_workspaces_show_only_what_the_caller_may_see() {
    // Arrange
    let f = fixture().await;
    let query = r#"{ own: workspace(id: "workspace_123") { id name permissions }
                     other: workspace(id: "lead_gen_team") { id }
                     workspaces { id } }"#;

    // Act
    let as_workspace = f.app.graphql_data(&f.workspace_123, query, json!({})).await;
    let as_admin = f.app.graphql_data(&f.app.admin, query, json!({})).await;

    // Assert
    assert_eq!(
        as_workspace["own"],
        json!({ "id": "workspace_123", "name": "Sales Team Alpha", "permissions": ["READ", "UPDATE", "CONVERT"] })
    );
    assert_eq!(as_workspace["other"], Value::Null);
    assert_eq!(
        as_workspace["workspaces"],
        json!([{ "id": "workspace_123" }])
    );
    assert_eq!(as_admin["other"], json!({ "id": "lead_gen_team" }));
    let mut all: Vec<String> = as_admin["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_owned())
        .collect();
    all.sort();
    assert_eq!(all, vec!["lead_gen_team", "workspace_123"]);
}

async fn workspace_activity_counts_and_lists_recent_events() {
    // Arrange
    let f = fixture().await;

    // Act
    let data = f
        .app
        .graphql_data(
            &f.workspace_123,
            r#"{ workspaceActivity(workspaceId: "workspace_123", limit: 10) {
                  workspaceId totalContactsReceived totalContactsSent totalConversions conversionRate
                  recentActivity { id action contactId leadId timestamp metadata }
               } }"#,
            json!({}),
        )
        .await;
    let lead_gen = f
        .app
        .graphql_data(
            &f.lead_gen,
            r#"{ workspaceActivity(workspaceId: "lead_gen_team") { totalContactsSent conversionRate } }"#,
            json!({}),
        )
        .await;

    // Assert
    let activity = &data["workspaceActivity"];
    assert_eq!(activity["workspaceId"], "workspace_123");
    assert_eq!(activity["totalContactsReceived"], 2);
    assert_eq!(activity["totalContactsSent"], 0);
    assert_eq!(activity["totalConversions"], 2);
    assert_eq!(activity["conversionRate"], 100.0);
    let entries = activity["recentActivity"].as_array().unwrap();
    let mut actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    actions.sort_unstable();
    assert_eq!(
        actions,
        vec!["converted", "converted", "received", "received"]
    );
    let received_with_lead = entries
        .iter()
        .find(|e| e["action"] == "received" && e["contactId"] == "123456")
        .expect("the received event of 123456");
    assert_eq!(received_with_lead["leadId"], "1234567890");
    assert_eq!(lead_gen["workspaceActivity"]["totalContactsSent"], 2);
    assert_eq!(lead_gen["workspaceActivity"]["conversionRate"], Value::Null);
}

async fn conversion_analytics_sums_exactly() {
    // Arrange
    let f = fixture().await;

    // Act
    let data = f
        .app
        .graphql_data(
            &f.workspace_123,
            r#"{ conversionAnalytics {
                  currency
                  summary { totalConversions totalValue averageValue conversionRate contactsReceived }
                  byWorkspace { workspaceId conversions totalValue conversionRate contactsReceived }
                  byType { conversionType conversions totalValue }
                  trends { daily { period conversions totalValue } weekly { period conversions totalValue }
                           monthly { period conversions totalValue } }
                  funnel { stage count percent }
               } }"#,
            json!({}),
        )
        .await;

    // Assert
    let a = &data["conversionAnalytics"];
    assert_eq!(a["currency"], "USD");
    assert_eq!(
        a["summary"],
        json!({ "totalConversions": 2, "totalValue": "43500.50", "averageValue": "21750.25",
                "conversionRate": 100.0, "contactsReceived": 2 })
    );
    assert_eq!(
        a["byWorkspace"],
        json!([{ "workspaceId": "workspace_123", "conversions": 2, "totalValue": "43500.50",
                 "conversionRate": 100.0, "contactsReceived": 2 }])
    );
    let mut by_type = a["byType"].as_array().unwrap().clone();
    by_type.sort_by_key(|t| t["conversionType"].as_str().unwrap().to_owned());
    assert_eq!(
        by_type,
        vec![
            json!({ "conversionType": "appointment", "conversions": 1, "totalValue": "18500.50" }),
            json!({ "conversionType": "sale", "conversions": 1, "totalValue": "25000.00" }),
        ]
    );
    assert_eq!(
        a["trends"]["daily"],
        json!([{ "period": "2024-03-10", "conversions": 1, "totalValue": "25000.00" },
               { "period": "2024-03-11", "conversions": 1, "totalValue": "18500.50" }])
    );
    // 2024-03-10 is a Sunday: the two days fall in different ISO weeks.
    assert_eq!(
        a["trends"]["weekly"],
        json!([{ "period": "2024-03-04", "conversions": 1, "totalValue": "25000.00" },
               { "period": "2024-03-11", "conversions": 1, "totalValue": "18500.50" }])
    );
    assert_eq!(
        a["trends"]["monthly"],
        json!([{ "period": "2024-03", "conversions": 2, "totalValue": "43500.50" }])
    );
    assert_eq!(
        a["funnel"],
        json!([{ "stage": "leads_received", "count": 2, "percent": 100.0 },
               { "stage": "qualified", "count": 2, "percent": 100.0 },
               { "stage": "appointments", "count": 2, "percent": 100.0 },
               { "stage": "conversions", "count": 1, "percent": 50.0 }])
    );
}

async fn update_contact_conversion_merges_metadata_and_sets_status() {
    // Arrange
    let f = fixture().await;
    let mutation = r#"
      mutation($id: ID!, $input: UpdateContactConversionInput!) {
        updateContactConversion(contactId: $id, input: $input) {
          id conversionStatus convertedBy convertedFromWorkspace sentFromWorkspace customMetadata
        }
      }"#;

    // Act
    let merged = f
        .app
        .graphql_data(
            &f.workspace_123,
            mutation,
            json!({ "id": "123457", "input": {
                "conversionStatus": "QUALIFIED", "convertedBy": "agent_jane",
                "convertedFromWorkspace": "workspace_123",
                "customMetadata": { "qualification_score": 95, "source": null }
            } }),
        )
        .await;
    let replaced = f
        .app
        .graphql_data(
            &f.workspace_123,
            mutation,
            json!({ "id": "123457", "input": {
                "customMetadata": { "only": "this" }, "replaceCustomMetadata": true
            } }),
        )
        .await;

    // Assert
    let contact = &merged["updateContactConversion"];
    assert_eq!(
        contact["conversionStatus"], "QUALIFIED",
        "a PATCH may move backwards"
    );
    assert_eq!(contact["convertedBy"], "agent_jane");
    assert_eq!(contact["convertedFromWorkspace"], "workspace_123");
    assert_eq!(contact["sentFromWorkspace"], "lead_gen_team");
    assert_eq!(
        contact["customMetadata"],
        json!({ "qualification_score": 95 })
    );
    assert_eq!(
        replaced["updateContactConversion"]["customMetadata"],
        json!({ "only": "this" })
    );
}

async fn create_contact_lead_and_send_contact_return_what_was_stored() {
    // Arrange
    let app = spawn_app().await;
    let lead_gen = register(&app, "lead_gen_team", "Lead Generation").await;
    register(&app, "workspace_123", "Sales Team Alpha").await;

    // Act
    let contact = app
        .graphql_data(
            &lead_gen,
            r#"mutation { createContact(input: { name: "Jane Roe", email: "jane@example.com", phone: "+1 555 0100" }) {
                  id name email phone conversionStatus lifetimeValue currency conversionCount createdAt
               } }"#,
            json!({}),
        )
        .await["createContact"]
        .clone();
    let id = contact["id"].as_str().expect("an assigned id").to_owned();
    let lead = app
        .graphql_data(
            &lead_gen,
            "mutation($c: ID!) { createLead(input: { contactId: $c }) { id contactId conversionId contact { id } } }",
            json!({ "c": id }),
        )
        .await["createLead"]
        .clone();
    let sent = app
        .graphql_data(
            &lead_gen,
            "mutation($c: ID!, $l: ID) { sendContact(contactId: $c, toWorkspaceId: \"workspace_123\", leadId: $l) { id sentFromWorkspace } }",
            json!({ "c": id, "l": lead["id"] }),
        )
        .await["sendContact"]
        .clone();

    // Assert
    assert_eq!(contact["name"], "Jane Roe");
    assert_eq!(contact["email"], "jane@example.com");
    assert_eq!(contact["phone"], "+1 555 0100");
    assert_eq!(contact["conversionStatus"], "PENDING");
    assert_eq!(contact["lifetimeValue"], "0.00");
    assert_eq!(contact["currency"], "USD");
    assert_eq!(contact["conversionCount"], 0);
    assert!(id.parse::<i64>().is_ok_and(|n| n > 0), "a numeric id: {id}");
    assert!(lead["id"].as_str().unwrap().parse::<i64>().is_ok());
    assert_eq!(lead["contactId"], id.as_str());
    assert_eq!(lead["contact"]["id"], id.as_str());
    assert_eq!(lead["conversionId"], Value::Null);
    assert_eq!(
        sent,
        json!({ "id": id, "sentFromWorkspace": "lead_gen_team" })
    );
}

async fn queries_without_credentials_are_unauthenticated() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let body = app
        .graphql(
            &Creds::Anonymous,
            "{ conversions { nodes { id } } }",
            json!({}),
        )
        .await;
    let bad_key = app
        .graphql(
            &Creds::bearer("not-a-key-not-a-key"),
            "{ workspaces { id } }",
            json!({}),
        )
        .await;

    // Assert
    assert_graphql_error(&body, "UNAUTHENTICATED", None);
    assert_graphql_error(&bad_key, "UNAUTHENTICATED", None);
}

async fn introspection_needs_no_credentials() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let data = app
        .graphql_data(
            &Creds::Anonymous,
            "{ __schema { queryType { name } mutationType { name } subscriptionType { name } } }",
            json!({}),
        )
        .await;

    // Assert
    assert!(data["__schema"]["queryType"]["name"].is_string());
    assert!(data["__schema"]["subscriptionType"]["name"].is_string());
}

async fn mutations_need_the_right_permission() {
    // Arrange
    let f = fixture().await;
    let reader = {
        let data = f
            .app
            .graphql_data(
                &f.app.admin,
                REGISTER,
                json!({ "input": { "workspaceId": "reader", "workspaceName": "R", "permissions": ["READ"] } }),
            )
            .await;
        Creds::headers(
            "reader",
            data["registerWorkspace"]["apiKey"].as_str().unwrap(),
        )
    };

    // Act
    let log = f
        .app
        .graphql(
            &reader,
            LOG,
            json!({ "input": { "contactId": "123456", "convertedBy": "x", "conversionType": "sale" } }),
        )
        .await;
    let register_as_workspace = f
        .app
        .graphql(
            &f.workspace_123,
            REGISTER,
            json!({ "input": { "workspaceId": "intruder", "workspaceName": "I" } }),
        )
        .await;

    // Assert
    assert_graphql_error(&log, "FORBIDDEN", None);
    assert_graphql_error(&register_as_workspace, "FORBIDDEN", None);
}

async fn queries_also_work_over_get() {
    // Arrange: docs/api.md serves GraphQL queries over GET as well as POST.
    let app = spawn_app().await;
    let workspace_123 = app.workspace("workspace_123").await;

    // Act
    let response = app
        .rest(reqwest::Method::GET, "/graphql", &workspace_123)
        .query(&[("query", "{ workspaces { id } }")])
        .send()
        .await
        .unwrap();

    // Assert
    let body = crate::helpers::expect_json(response, 200).await;
    assert_eq!(
        body["data"]["workspaces"],
        json!([{ "id": "workspace_123" }]),
        "{body}"
    );
}

crate::backend::on_both_backends!(
    register_workspace_returns_the_workspace_and_its_key,
    log_conversion_returns_exact_decimals_and_its_relations,
    conversion_reads_one_and_unknown_ids_are_null,
    conversions_is_a_relay_connection_newest_first,
    conversions_filters_combine,
    contact_shows_its_conversion_state_conversions_and_leads,
    contacts_pages_through_visible_contacts,
    lead_shows_its_contact_and_conversion,
    workspace_and_workspaces_show_only_what_the_caller_may_see,
    workspace_activity_counts_and_lists_recent_events,
    conversion_analytics_sums_exactly,
    update_contact_conversion_merges_metadata_and_sets_status,
    create_contact_lead_and_send_contact_return_what_was_stored,
    queries_without_credentials_are_unauthenticated,
    introspection_needs_no_credentials,
    mutations_need_the_right_permission,
    queries_also_work_over_get,
);
