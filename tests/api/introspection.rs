//! Introspection is bounded on its own terms: the standard query of graphql-js 16 (what
//! GraphiQL, code generators and IDE plugins send) succeeds at the default limits, while deep
//! data queries and absurd introspection chains are still refused.

use crate::hardening::nested_query;
use crate::helpers::{Creds, assert_graphql_error, spawn_app, spawn_app_with};
use serde_json::{Value, json};

/// graphql-js 16.15.0 `getIntrospectionQuery()`, and the variant GraphiQL sends when asked
/// for deprecated arguments and the schema description.
const STANDARD: &str = include_str!("introspection_query.graphql");
const STANDARD_FULL: &str = include_str!("introspection_query_full.graphql");

fn type_names(body: &Value) -> Vec<&str> {
    body["data"]["__schema"]["types"]
        .as_array()
        .map(|types| types.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default()
}

/// `__type(name: "Query") { ofType { … { name } } }`, `depth` fields deep.
fn type_chain(depth: usize) -> String {
    let inner = depth - 2;
    format!(
        "{{ __type(name: \"Query\") {{ {} name {} }} }}",
        "ofType { ".repeat(inner),
        "}".repeat(inner)
    )
}

async fn the_standard_introspection_query_succeeds_at_the_default_limits() {
    // Arrange
    let app = spawn_app().await;

    for query in [STANDARD, STANDARD_FULL] {
        for creds in [&app.admin, &Creds::Anonymous] {
            // Act
            let body = app.graphql(creds, query, json!({})).await;

            // Assert
            assert!(body.get("errors").is_none(), "{body}");
            let names = type_names(&body);
            for expected in [
                "Query",
                "ConversionAnalytics",
                "ContactFilter",
                "ServiceInfo",
            ] {
                assert!(
                    names.contains(&expected),
                    "{expected} missing from {names:?}"
                );
            }
        }
    }
}

async fn deep_data_queries_are_refused_even_through_fragments() {
    // Arrange
    let app = spawn_app().await;
    let fragments = "{ contact(id: \"1\") { ...A } }
        fragment A on Contact { conversions(first: 1) { nodes { contact { ...B } } } }
        fragment B on Contact { conversions(first: 1) { nodes { contact { ...C } } } }
        fragment C on Contact { conversions(first: 1) { nodes { contact { ...D } } } }
        fragment D on Contact { conversions(first: 1) { nodes { id } } }";

    // Act
    let at_limit = app.graphql(&app.admin, &nested_query(12), json!({})).await;
    let too_deep = app.graphql(&app.admin, &nested_query(13), json!({})).await;
    let hidden = app.graphql(&app.admin, fragments, json!({})).await;

    // Assert
    assert!(at_limit.get("errors").is_none(), "{at_limit}");
    for refused in [&too_deep, &hidden] {
        let error = assert_graphql_error(refused, "BAD_USER_INPUT", None);
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("nested too deep: 13 levels"),
            "{refused}"
        );
        assert!(refused["data"].is_null(), "{refused}");
    }
}

async fn an_absurdly_deep_introspection_chain_is_refused() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let modest = app.graphql(&app.admin, &type_chain(20), json!({})).await;
    let absurd = app.graphql(&app.admin, &type_chain(30), json!({})).await;
    // Past 32 levels the parser itself refuses, before any limit is measured.
    let unparsable = app.graphql(&app.admin, &type_chain(40), json!({})).await;

    // Assert
    assert!(modest.get("errors").is_none(), "{modest}");
    let error = assert_graphql_error(&absurd, "BAD_USER_INPUT", None);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("introspection query is nested too deep"),
        "{absurd}"
    );
    assert!(absurd["data"].is_null(), "{absurd}");
    assert_graphql_error(&unparsable, "BAD_USER_INPUT", None);
    assert!(unparsable["data"].is_null(), "{unparsable}");
}

async fn production_still_disables_introspection() {
    // Arrange
    let app = spawn_app_with(&["--production", "true"]).await;

    // Act
    let body = app.graphql(&app.admin, STANDARD, json!({})).await;

    // Assert: the library answers a disabled `__schema` with null (or an error), never types.
    assert!(
        type_names(&body).is_empty(),
        "introspection answered: {body}"
    );
    assert!(body["data"]["__schema"].is_null(), "{body}");
}

crate::backend::on_both_backends!(
    the_standard_introspection_query_succeeds_at_the_default_limits,
    deep_data_queries_are_refused_even_through_fragments,
    an_absurdly_deep_introspection_chain_is_refused,
    production_still_disables_introspection,
);
