//! Relay connections, as a Relay or Apollo client pages them: forwards with `first`/`after`,
//! backwards with `last`/`before`, through every connection field, with opaque cursors that
//! belong to their list, and `first: 0`.

use crate::helpers::{Creds, TestApp, assert_graphql_error, spawn_app};
use serde_json::{Value, json};

/// Every connection field: a name, the document (the connection aliased `c`, under
/// `contact(id: 1)` for a contact's own), and who reads it.
const CONNECTIONS: [(&str, &str); 5] = [
    ("conversions", "conversions"),
    ("contacts", "contacts"),
    ("auditLog", "auditLog"),
    ("Contact.conversions", "contact(id: 1) { c: conversions"),
    ("Contact.leads", "contact(id: 1) { c: leads"),
];

/// The document that reads the connection `name` (one of [`CONNECTIONS`]).
fn document(name: &str) -> String {
    let field = field(name);
    let nested = field.contains('{');
    let (open, close) = if nested {
        (field.to_owned(), "}")
    } else {
        (format!("c: {field}"), "")
    };
    format!(
        "query($first: Int, $after: String, $last: Int, $before: String) {{ \
           {open}(first: $first, after: $after, last: $last, before: $before) {{ \
             totalCount edges {{ cursor node {{ __typename }} }} \
             pageInfo {{ hasPreviousPage hasNextPage startCursor endCursor }} }} {close} }}"
    )
}

/// Alpha's contact 1 with leads 11, 12, 13, conversions on it and on contacts 2 and 3.
async fn history() -> (TestApp, Creds) {
    let app = spawn_app().await;
    let alpha = app.workspace("alpha").await;
    for id in [1, 2, 3] {
        app.create_contact(&alpha, id, &format!("Contact {id}"))
            .await;
    }
    for id in [11, 12, 13] {
        app.create_lead(&alpha, id, 1).await;
    }
    for (contact, day) in [(1, 1), (1, 2), (2, 3), (1, 4), (3, 5), (1, 6)] {
        let body = json!({ "contact_id": contact, "converted_by": "agent",
                           "conversion_type": "sale", "conversion_value": day,
                           "converted_at": format!("2026-11-0{day}T12:00:00Z") });
        app.log_conversion(&alpha, body).await;
    }
    (app, alpha)
}

fn field(name: &str) -> &'static str {
    CONNECTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, field)| *field)
        .expect("a connection of CONNECTIONS")
}

/// One page of the connection `name` as `creds` reads it with `variables`.
async fn page(app: &TestApp, creds: &Creds, name: &str, variables: Value) -> Value {
    let data = app.graphql_data(creds, &document(name), variables).await;
    if field(name).contains('{') {
        data["contact"]["c"].clone()
    } else {
        data["c"].clone()
    }
}

fn cursors(page: &Value) -> Vec<Value> {
    page["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| edge["cursor"].clone())
        .collect()
}

/// The whole list read forwards two at a time, then backwards two at a time: the same items
/// in the same order, and `pageInfo` right at every step.
async fn backward_pages_read_the_list_forward_pages_read() {
    // Arrange
    let (app, alpha) = history().await;

    for (name, _) in CONNECTIONS {
        let creds = if name == "auditLog" {
            &app.admin
        } else {
            &alpha
        };

        // Act: forwards.
        let mut forward = Vec::new();
        let mut after = Value::Null;
        loop {
            let p = page(&app, creds, name, json!({ "first": 2, "after": after })).await;
            assert_eq!(
                p["pageInfo"]["hasPreviousPage"],
                !after.is_null(),
                "{name}: {p}"
            );
            forward.extend(cursors(&p));
            after = p["pageInfo"]["endCursor"].clone();
            if p["pageInfo"]["hasNextPage"] == false {
                break;
            }
        }
        // Act: backwards, from the end.
        let mut backward = Vec::new();
        let mut before = Value::Null;
        loop {
            let p = page(&app, creds, name, json!({ "last": 2, "before": before })).await;
            assert_eq!(
                p["pageInfo"]["hasNextPage"],
                !before.is_null(),
                "{name}: {p}"
            );
            let mut these = cursors(&p);
            these.extend(backward);
            backward = these;
            before = p["pageInfo"]["startCursor"].clone();
            if p["pageInfo"]["hasPreviousPage"] == false {
                break;
            }
        }

        // Assert
        let total = page(&app, creds, name, json!({})).await["totalCount"].clone();
        assert_eq!(forward.len() as u64, total.as_u64().unwrap(), "{name}");
        assert!(forward.len() >= 3, "{name}: several pages");
        assert_eq!(backward, forward, "{name}: the same list both ways");
    }
}

/// `last` with `after`, and `first` with `before`, read what lies between the two cursors.
async fn both_bounds_read_what_lies_between() {
    // Arrange
    let (app, alpha) = history().await;
    let all = page(&app, &alpha, "conversions", json!({ "first": 6 })).await;
    let every = cursors(&all);

    // Act
    let between = page(
        &app,
        &alpha,
        "conversions",
        json!({ "first": 10, "after": every[0], "before": every[4] }),
    )
    .await;
    let tail = page(
        &app,
        &alpha,
        "conversions",
        json!({ "last": 2, "after": every[0], "before": every[4] }),
    )
    .await;

    // Assert
    assert_eq!(cursors(&between), every[1..4]);
    assert_eq!(cursors(&tail), every[2..4]);
    assert_eq!(tail["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(tail["pageInfo"]["hasNextPage"], true);
}

/// `first: 0` (and `last: 0`) reads no items but tells whether there are any.
async fn an_empty_page_counts_and_tells_what_follows() {
    // Arrange
    let (app, alpha) = history().await;

    // Act
    let none = page(&app, &alpha, "conversions", json!({ "first": 0 })).await;
    let none_back = page(&app, &alpha, "Contact.leads", json!({ "last": 0 })).await;

    // Assert
    assert_eq!(none["edges"], json!([]));
    assert_eq!(none["totalCount"], 6);
    assert_eq!(none["pageInfo"]["hasNextPage"], true);
    assert_eq!(none["pageInfo"]["startCursor"], Value::Null);
    assert_eq!(none_back["edges"], json!([]));
    assert_eq!(none_back["pageInfo"]["hasPreviousPage"], true);
}

/// Cursors are opaque and belong to their list: another list's cursor, a raw id, or both
/// directions at once are refused naming the argument.
async fn cursors_are_opaque_and_belong_to_their_list() {
    // Arrange
    let (app, alpha) = history().await;
    let contacts = page(&app, &alpha, "contacts", json!({ "first": 1 })).await;
    let contact_cursor = contacts["pageInfo"]["endCursor"].clone();

    // Act
    let foreign = app
        .graphql(
            &alpha,
            &document("Contact.leads"),
            json!({ "after": contact_cursor }),
        )
        .await;
    let raw_id = app
        .graphql(&alpha, &document("contacts"), json!({ "before": "1" }))
        .await;
    let both = app
        .graphql(
            &alpha,
            &document("contacts"),
            json!({ "first": 1, "last": 1 }),
        )
        .await;
    let too_many = app
        .graphql(&app.admin, &document("auditLog"), json!({ "last": 201 }))
        .await;

    // Assert
    assert_ne!(contact_cursor, "1", "a cursor is not the raw id");
    assert_graphql_error(&foreign, "BAD_USER_INPUT", Some("after"));
    assert_graphql_error(&raw_id, "BAD_USER_INPUT", Some("before"));
    assert_graphql_error(&both, "BAD_USER_INPUT", Some("last"));
    assert_graphql_error(&too_many, "BAD_USER_INPUT", Some("last"));
}

crate::backend::on_both_backends!(
    backward_pages_read_the_list_forward_pages_read,
    both_bounds_read_what_lies_between,
    an_empty_page_counts_and_tells_what_follows,
    cursors_are_opaque_and_belong_to_their_list,
);
