//! Relations in GraphQL lists resolve in a bounded number of SQL statements (DataLoaders),
//! not one per row.

use crate::helpers::{Creds, TestApp, spawn_app};
use serde_json::json;

/// 50 conversions by workspace_123 over five contacts, each with its own lead.
async fn fifty_conversions() -> (TestApp, Creds) {
    let app = spawn_app().await;
    let workspace_123 = app.workspace("workspace_123").await;
    let lead_gen = app.workspace("lead_gen_team").await;
    for contact in 1..=5 {
        app.create_contact(&lead_gen, contact, &format!("Contact {contact}"))
            .await;
        app.create_lead(&lead_gen, 100 + contact, contact).await;
        app.send_contact(&lead_gen, contact, "workspace_123").await;
    }
    for i in 0..50_i64 {
        let contact = i % 5 + 1;
        app.log_conversion(
            &workspace_123,
            json!({
                "contact_id": contact, "lead_id": 100 + contact, "converted_by": "agent",
                "conversion_type": "sale", "conversion_value": 100 + i,
            }),
        )
        .await;
    }
    (app, workspace_123)
}

const QUERY: &str = r#"
query($first: Int) {
  conversions(first: $first) {
    nodes { id contactId leadId contact { id name } lead { id } workspace { id } }
  }
}"#;

/// Statements the server ran for one GraphQL query listing `first` conversions.
async fn statements_for(app: &TestApp, creds: &Creds, first: i64) -> (u64, serde_json::Value) {
    let before = app.statements_total().await;
    let data = app
        .graphql_data(creds, QUERY, json!({ "first": first }))
        .await;
    let after = app.statements_total().await;
    (after - before, data)
}

async fn fifty_conversions_with_their_relations_take_a_handful_of_statements() {
    // Arrange
    let (app, workspace_123) = fifty_conversions().await;

    // Act
    let (for_five, _) = statements_for(&app, &workspace_123, 5).await;
    let (for_fifty, data) = statements_for(&app, &workspace_123, 50).await;

    // Assert: the data is right…
    let nodes = data["conversions"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 50);
    for node in nodes {
        assert_eq!(node["contact"]["id"], node["contactId"]);
        assert_eq!(
            node["contact"]["name"],
            format!("Contact {}", node["contactId"].as_str().unwrap())
        );
        assert_eq!(node["lead"]["id"], node["leadId"]);
        assert_eq!(node["workspace"]["id"], "workspace_123");
    }
    // …and took a bounded number of statements, not one or three per row.
    assert!(
        for_fifty <= 10,
        "50 conversions with relations took {for_fifty} statements"
    );
    assert!(
        for_fifty <= for_five + 2,
        "5 conversions took {for_five} statements, 50 took {for_fifty}: it grows with the page"
    );
}

crate::backend::on_both_backends!(
    fifty_conversions_with_their_relations_take_a_handful_of_statements,
);
