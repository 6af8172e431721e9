//! Hardening: GraphQL cost limits, production mode, and CSRF on `POST /graphql`.

use crate::helpers::{Creds, assert_graphql_error, assert_problem, spawn_app, spawn_app_with};
use serde_json::{Value, json};

/// `__type(name: "Query") { ofType { … { name } } }`, `depth` fields deep.
fn nested_query(depth: usize) -> String {
    let inner = depth - 2;
    format!(
        "{{ __type(name: \"Query\") {{ {} name {} }} }}",
        "ofType { ".repeat(inner),
        "}".repeat(inner)
    )
}

/// One operation selecting `__typename` under `n` different aliases.
fn aliased_query(n: usize) -> String {
    let fields: Vec<String> = (0..n).map(|i| format!("a{i}: __typename")).collect();
    format!("{{ {} }}", fields.join(" "))
}

fn errors_message(body: &Value) -> String {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn a_query_deeper_than_the_default_limit_is_refused() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let at_limit = app.graphql(&app.admin, &nested_query(12), json!({})).await;
    let too_deep = app.graphql(&app.admin, &nested_query(13), json!({})).await;

    // Assert
    assert!(at_limit.get("errors").is_none(), "{at_limit}");
    assert_graphql_error(&too_deep, "BAD_USER_INPUT", None);
    assert!(errors_message(&too_deep).contains("too deep"), "{too_deep}");
    assert!(too_deep["data"].is_null(), "{too_deep}");
}

/// Thirteen fields, none aliased, three deep.
const THIRTEEN_FIELDS: &str = "{ __schema {
    queryType { name description kind }
    mutationType { name description kind }
    subscriptionType { name description kind } } }";

async fn a_query_more_complex_than_the_limit_is_refused() {
    // Arrange
    let default = spawn_app().await;
    let strict = spawn_app_with(&["--graphql-max-complexity", "10"]).await;

    // Act
    let allowed = default
        .graphql(&default.admin, THIRTEEN_FIELDS, json!({}))
        .await;
    let refused = strict
        .graphql(&strict.admin, THIRTEEN_FIELDS, json!({}))
        .await;

    // Assert
    assert!(allowed.get("errors").is_none(), "{allowed}");
    assert_graphql_error(&refused, "BAD_USER_INPUT", None);
    assert!(
        errors_message(&refused).contains("too complex"),
        "{refused}"
    );
}

async fn more_than_thirty_aliases_are_refused() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let thirty = app.graphql(&app.admin, &aliased_query(30), json!({})).await;
    let thirty_one = app.graphql(&app.admin, &aliased_query(31), json!({})).await;

    // Assert
    assert!(thirty.get("errors").is_none(), "{thirty}");
    assert_eq!(thirty["data"]["a29"], "Query");
    assert_graphql_error(&thirty_one, "BAD_USER_INPUT", None);
    assert!(
        errors_message(&thirty_one).contains("aliases"),
        "{thirty_one}"
    );
    assert!(thirty_one["data"].is_null(), "{thirty_one}");
}

const INTROSPECTION: &str = "{ __schema { queryType { name } } }";
const MISSPELLED: &str = "{ conversins(first: 1) { nodes { id } } }";

async fn by_default_introspection_suggestions_and_graphiql_are_served() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let introspection = app.graphql(&app.admin, INTROSPECTION, json!({})).await;
    let misspelled = app.graphql(&app.admin, MISSPELLED, json!({})).await;
    let graphiql = app.get("/graphiql", &Creds::Anonymous).await;

    // Assert
    assert_eq!(
        introspection["data"]["__schema"]["queryType"]["name"],
        "Query"
    );
    assert!(
        errors_message(&misspelled).contains("Did you mean"),
        "{misspelled}"
    );
    assert_eq!(graphiql.status().as_u16(), 200);
}

async fn production_mode_hides_introspection_suggestions_and_graphiql() {
    // Arrange
    let app = spawn_app_with(&["--production", "true"]).await;

    // Act
    let introspection = app.graphql(&app.admin, INTROSPECTION, json!({})).await;
    let misspelled = app.graphql(&app.admin, MISSPELLED, json!({})).await;
    let graphiql = app.get("/graphiql", &Creds::Anonymous).await;
    let ordinary = app
        .graphql(
            &app.admin,
            "{ conversions(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await;

    // Assert
    // The library answers a disabled `__schema` with null rather than an error.
    assert!(
        introspection["data"]["__schema"].is_null(),
        "introspection answered in production: {introspection}"
    );
    assert_graphql_error(&misspelled, "BAD_USER_INPUT", None);
    assert!(
        !errors_message(&misspelled).contains("Did you mean"),
        "{misspelled}"
    );
    assert_problem(graphiql, 404, "NOT_FOUND", None).await;
    assert!(ordinary.get("errors").is_none(), "{ordinary}");
}

const CREATE_CONTACT: &str =
    r#"mutation { createContact(input: { id: "777", name: "Mallory" }) { id } }"#;

async fn a_mutation_posted_as_a_form_or_text_writes_nothing() {
    // Arrange: what a page on another site can make a browser send without a preflight.
    let app = spawn_app().await;
    let body = json!({ "query": CREATE_CONTACT }).to_string();

    for content_type in [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        // Act
        let response = app
            .rest(reqwest::Method::POST, "/graphql", &app.admin)
            .header("Content-Type", content_type)
            .body(body.clone())
            .send()
            .await
            .expect("POST sent");

        // Assert
        assert_problem(response, 415, "BAD_USER_INPUT", None).await;
    }
    let missing = app.get("/contacts/777", &app.admin).await;
    assert_problem(missing, 404, "NOT_FOUND", None).await;

    // The same body as JSON is served (the refusal is about the type, not the request).
    let response = app
        .rest(reqwest::Method::POST, "/graphql", &app.admin)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST sent");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        app.get("/contacts/777", &app.admin).await.status().as_u16(),
        200
    );
}

crate::backend::on_both_backends!(
    a_query_deeper_than_the_default_limit_is_refused,
    a_query_more_complex_than_the_limit_is_refused,
    more_than_thirty_aliases_are_refused,
    by_default_introspection_suggestions_and_graphiql_are_served,
    production_mode_hides_introspection_suggestions_and_graphiql,
    a_mutation_posted_as_a_form_or_text_writes_nothing,
);
