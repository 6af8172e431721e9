//! GraphQL over HTTP, as the GraphQL-over-HTTP spec and its `graphql-http` audit have it: the
//! response's media type follows `Accept`, request errors with
//! `application/graphql-response+json` are 400 without `data`, and every malformed request gets a
//! GraphQL error with `extensions.code` (never Rust debug text), writes nothing and costs nothing.

use crate::helpers::{Creds, TestApp, assert_no_internals, expect_json, spawn_app, spawn_app_with};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};

const JSON: &str = "application/json";
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

const CREATE_CONTACT: &str =
    r#"mutation { createContact(input: { id: "777", name: "Mallory" }) { id } }"#;

/// A `POST /graphql` with a JSON body (`body` is sent as is) and the given `Accept`.
fn post(app: &TestApp, creds: &Creds, accept: Option<&str>, body: &str) -> RequestBuilder {
    let request = app
        .rest(Method::POST, "/graphql", creds)
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    match accept {
        Some(accept) => request.header("Accept", accept),
        None => request,
    }
}

async fn send(request: RequestBuilder) -> Response {
    request.send().await.expect("request sent")
}

fn content_type(response: &Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A GraphQL response: checks status and media type, returns the body.
async fn graphql_response(response: Response, status: u16, media: &str) -> Value {
    let got = response.status().as_u16();
    let got_type = content_type(&response);
    let text = response.text().await.expect("a body");
    assert_eq!(got, status, "status; body: {text}");
    assert!(
        got_type.starts_with(media),
        "expected {media}, got {got_type:?}; body: {text}"
    );
    assert_no_internals(&text);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A request refused before anything ran: a GraphQL response (`application/json` unless the
/// client asked for `application/graphql-response+json`) with `status`, one error with `code`
/// (and `field` when given), and no `data`. Returns the error.
pub async fn assert_graphql_refusal(
    response: Response,
    status: u16,
    code: &str,
    field: Option<&str>,
) -> Value {
    let media = if content_type(&response).starts_with(GRAPHQL_RESPONSE) {
        GRAPHQL_RESPONSE
    } else {
        JSON
    };
    let body = graphql_response(response, status, media).await;
    assert!(body.get("data").is_none(), "a refusal has no data: {body}");
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{body}");
    let error = &errors[0];
    assert!(error["message"].is_string(), "{body}");
    assert_eq!(error["extensions"]["code"], code, "{body}");
    if let Some(field) = field {
        assert_eq!(error["extensions"]["field"], field, "{body}");
    }
    for debug in ["InvalidRequest", "Error(", "ParseRequestError"] {
        assert!(
            !error["message"]
                .as_str()
                .unwrap_or_default()
                .contains(debug),
            "{body}"
        );
    }
    error.clone()
}

async fn the_response_type_follows_accept() {
    // Arrange
    let app = spawn_app().await;
    let creds = app.workspace("workspace_123").await;
    let query = json!({ "query": "{ workspaces { id } }" }).to_string();
    let cases = [
        (None, JSON),
        (Some("application/json"), JSON),
        (Some("*/*"), JSON),
        (Some("text/html, */*;q=0.8"), JSON),
        (Some("application/graphql-response+json"), GRAPHQL_RESPONSE),
        (
            Some("application/graphql-response+json, application/json"),
            GRAPHQL_RESPONSE,
        ),
        (
            Some("application/json, application/graphql-response+json;q=0.9"),
            JSON,
        ),
    ];

    for (accept, media) in cases {
        // Act
        let response = send(post(&app, &creds, accept, &query)).await;

        // Assert
        let body = graphql_response(response, 200, media).await;
        assert_eq!(
            body,
            json!({ "data": { "workspaces": [{ "id": "workspace_123" }] } }),
            "Accept: {accept:?}"
        );
    }
    // The same over GET.
    let response = send(
        app.rest(Method::GET, "/graphql", &creds)
            .query(&[("query", "{ workspaces { id } }")])
            .header("Accept", GRAPHQL_RESPONSE),
    )
    .await;
    graphql_response(response, 200, GRAPHQL_RESPONSE).await;
}

async fn an_accept_without_either_type_is_406() {
    // Arrange
    let app = spawn_app().await;
    let query = json!({ "query": "{ __typename }" }).to_string();

    // Act
    let response = send(post(&app, &app.admin, Some("text/html"), &query)).await;

    // Assert
    assert_graphql_refusal(response, 406, "BAD_USER_INPUT", None).await;
}

async fn request_errors_are_400_without_data_for_graphql_response_json() {
    // Arrange
    let app = spawn_app().await;
    let creds = app.workspace("workspace_123").await;
    let cases = [
        ("parse", json!({ "query": "{" }), None),
        ("validation", json!({ "query": "{ noSuchField }" }), None),
        (
            "variables",
            json!({ "query": "query($id: ID!) { contact(id: $id) { id } }",
                    "variables": { "id": null } }),
            None,
        ),
        (
            "variable of the wrong type",
            json!({ "query": "query($id: ID!) { contact(id: $id) { id } }",
                    "variables": { "id": { "not": "an id" } } }),
            Some("id"),
        ),
        (
            "no operation chosen",
            json!({ "query": "query A { __typename } query B { __typename }" }),
            None,
        ),
    ];

    for (what, body, field) in cases {
        // Act
        let strict = send(post(
            &app,
            &creds,
            Some(GRAPHQL_RESPONSE),
            &body.to_string(),
        ))
        .await;
        let legacy = send(post(&app, &creds, Some(JSON), &body.to_string())).await;

        // Assert: 400 with graphql-response+json; 200 with application/json. Neither has data.
        let error = assert_graphql_refusal(strict, 400, "BAD_USER_INPUT", field).await;
        assert!(error["message"].is_string(), "{what}");
        assert_graphql_refusal(legacy, 200, "BAD_USER_INPUT", field).await;
    }
    // An operation that runs and fails in a field is not a request error: 200, with `data`
    // (null here, as the field is not nullable).
    let query = json!({ "query": "{ workspaces { id } }" }).to_string();
    let ran = send(post(
        &app,
        &Creds::Anonymous,
        Some(GRAPHQL_RESPONSE),
        &query,
    ))
    .await;
    let body = graphql_response(ran, 200, GRAPHQL_RESPONSE).await;
    assert!(body.get("data").is_some(), "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{body}"
    );
    assert_eq!(body["errors"][0]["path"], json!(["workspaces"]), "{body}");
}

async fn a_body_that_is_not_a_graphql_request_is_400() {
    // Arrange
    let app = spawn_app().await;
    let cases = [
        (json!({}), Some("query")),
        (json!({ "qeury": "{ __typename }" }), None),
        (json!({ "query": null }), Some("query")),
        (json!({ "query": 0 }), Some("query")),
        (json!({ "query": { "obj": "ect" } }), Some("query")),
        (
            json!({ "query": "{ __typename }", "operationName": false }),
            Some("operationName"),
        ),
        (
            json!({ "query": "{ __typename }", "variables": [7] }),
            Some("variables"),
        ),
        (
            json!({ "query": "{ __typename }", "variables": "string" }),
            Some("variables"),
        ),
        (
            json!({ "query": "{ __typename }", "extensions": 0 }),
            Some("extensions"),
        ),
        (json!({ "query": "{ __typename }", "varaibles": {} }), None),
    ];

    for (body, field) in cases {
        for accept in [None, Some(JSON), Some(GRAPHQL_RESPONSE)] {
            // Act
            let response = send(post(&app, &app.admin, accept, &body.to_string())).await;

            // Assert
            let error = assert_graphql_refusal(response, 400, "BAD_USER_INPUT", field).await;
            let message = error["message"].as_str().unwrap_or_default();
            if field.is_none() {
                assert!(
                    message.contains("unknown request parameter"),
                    "{body}: {message}"
                );
            }
        }
    }
    // Null stands for a parameter left out.
    let nulls = json!({ "query": "{ __typename }", "operationName": null,
                        "variables": null, "extensions": null });
    let response = send(post(&app, &app.admin, None, &nulls.to_string())).await;
    let body = graphql_response(response, 200, JSON).await;
    assert_eq!(body, json!({ "data": { "__typename": "Query" } }));
}

async fn malformed_requests_get_a_graphql_error_with_a_code() {
    // Arrange
    let app = spawn_app().await;
    let url = app.url("/graphql");
    let cases: Vec<(&str, RequestBuilder, u16)> = vec![
        ("empty body", post(&app, &app.admin, None, ""), 400),
        (
            "not JSON",
            post(&app, &app.admin, None, r#"{ "not a JSON"#),
            400,
        ),
        (
            "JSON, not an object",
            post(&app, &app.admin, None, "42"),
            400,
        ),
        (
            "a batch",
            post(&app, &app.admin, None, r#"[{"query": "{ __typename }"}]"#),
            400,
        ),
        (
            "text/plain",
            app.client
                .post(&url)
                .header("Content-Type", "text/plain")
                .body(r#"{"query": "{ __typename }"}"#),
            415,
        ),
        (
            "no content type",
            app.client.post(&url).body(r#"{"query": "{ __typename }"}"#),
            415,
        ),
        ("GET without query", app.client.get(&url), 400),
        (
            "GET with variables that are not JSON",
            app.client
                .get(&url)
                .query(&[("query", "{ __typename }"), ("variables", "{")]),
            400,
        ),
        (
            "GET with a parameter twice",
            app.client.get(format!(
                "{url}?query=%7B__typename%7D&query=%7B__typename%7D"
            )),
            400,
        ),
        (
            "GET with an unknown parameter",
            app.client
                .get(&url)
                .query(&[("query", "{ __typename }"), ("qeury", "x")]),
            400,
        ),
    ];

    for (what, request, status) in cases {
        for accept in [JSON, GRAPHQL_RESPONSE] {
            // Act
            let response = send(
                request
                    .try_clone()
                    .expect("a plain request")
                    .header("Accept", accept),
            )
            .await;

            // Assert: the type asked for, whatever the refusal.
            assert!(
                content_type(&response).starts_with(accept),
                "{what}: {response:?}"
            );
            let error = assert_graphql_refusal(response, status, "BAD_USER_INPUT", None).await;
            assert!(
                !error["message"].as_str().unwrap_or_default().is_empty(),
                "{what}"
            );
        }
    }
}

async fn a_batch_or_a_mutation_over_get_writes_nothing() {
    // Arrange
    let app = spawn_app().await;
    let creds = app.workspace("workspace_123").await;
    let batch = json!([{ "query": CREATE_CONTACT }, { "query": CREATE_CONTACT }]).to_string();

    // Act
    let batched = send(post(&app, &creds, None, &batch)).await;
    let over_get = send(
        app.rest(Method::GET, "/graphql", &creds)
            .query(&[("query", CREATE_CONTACT)])
            .header("Accept", GRAPHQL_RESPONSE),
    )
    .await;

    // Assert
    let error = assert_graphql_refusal(batched, 400, "BAD_USER_INPUT", None).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("batch"),
        "{error}"
    );
    assert_eq!(
        over_get
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    let error = assert_graphql_refusal(over_get, 405, "BAD_USER_INPUT", None).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("POST"),
        "{error}"
    );
    let missing = app.get("/contacts/777", &creds).await;
    assert_eq!(missing.status().as_u16(), 404);
    // The same mutation by POST is served.
    let posted = app.graphql_data(&creds, CREATE_CONTACT, json!({})).await;
    assert_eq!(posted["createContact"]["id"], "777");
}

async fn refused_requests_do_not_count_against_the_rate_limit() {
    // Arrange: two requests an hour.
    let app = spawn_app_with(&["--rate-limit-per-hour", "2"]).await;
    let creds = app.workspace("workspace_123").await;

    // Act: five requests that are not GraphQL requests at all.
    for body in [
        "",
        "nonsense",
        "[]",
        "{}",
        r#"{"query": "{ __typename }", "variables": 1}"#,
    ] {
        let response = send(post(&app, &creds, None, body)).await;
        assert_eq!(response.status().as_u16(), 400, "{body:?}");
    }

    // Assert: the hour's two requests are all still there.
    for remaining in [1, 0] {
        let response = send(post(
            &app,
            &creds,
            None,
            &json!({ "query": "{ workspaces { id } }" }).to_string(),
        ))
        .await;
        assert_eq!(
            response
                .headers()
                .get("x-ratelimit-remaining")
                .and_then(|v| v.to_str().ok()),
            Some(remaining.to_string().as_str())
        );
        let body = expect_json(response, 200).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
}

crate::backend::on_both_backends!(
    the_response_type_follows_accept,
    an_accept_without_either_type_is_406,
    request_errors_are_400_without_data_for_graphql_response_json,
    a_body_that_is_not_a_graphql_request_is_400,
    malformed_requests_get_a_graphql_error_with_a_code,
    a_batch_or_a_mutation_over_get_writes_nothing,
    refused_requests_do_not_count_against_the_rate_limit,
);
