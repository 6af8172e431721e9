//! The GraphQL endpoint over HTTP (POST, and GET for queries). Subscriptions
//! over WebSocket are in `ws.rs`.

use super::AppState;
use super::body::is_json;
use super::caller::authenticate;
use super::rate_limit::RateLimitSlot;
use crate::error::AppError;
use crate::graphql::{RequestAuth, loaders};
use async_graphql::{Response, ServerError};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::{Extension, FromRequest, Request, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;

/// One HTTP request is one operation (no batching), so it counts once against the rate limit;
/// a refused one fails every field that needs a caller with `RATE_LIMITED`.
pub async fn execute(
    State(state): State<AppState>,
    slot: Option<Extension<RateLimitSlot>>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let slot = slot.map(|Extension(slot)| slot);
    let auth = authenticate(&state.services, &headers, slot.as_ref()).await;
    let mut request = request.into_inner();
    if let Ok(caller) = &auth {
        request = request.data(loaders::loaders(state.services.clone(), caller.clone()));
    }
    let mut response = state.schema.execute(request.data(RequestAuth(auth))).await;
    label_library_errors(&mut response);
    response.into()
}

/// `POST /graphql`. Only JSON bodies are read: a form or `text/plain` body is what a page on
/// another site can make a browser send without a CORS preflight (with the user's cookies
/// or ambient credentials), so such a request is refused with 415 before anything runs.
pub async fn execute_post(
    State(state): State<AppState>,
    request: Request,
) -> axum::response::Response {
    if !is_json(request.headers()) {
        return AppError::UnsupportedMediaType(
            "send GraphQL requests as Content-Type: application/json".into(),
        )
        .into_response();
    }
    let headers = request.headers().clone();
    let slot = request
        .extensions()
        .get::<RateLimitSlot>()
        .cloned()
        .map(Extension);
    match GraphQLRequest::from_request(request, &state).await {
        Ok(graphql) => execute(State(state), slot, headers, graphql)
            .await
            .into_response(),
        Err(rejection) => rejection.into_response(),
    }
}

/// Queries may also come over GET (cacheable, linkable); mutations may not, because a GET
/// can be triggered cross-site by any page.
pub async fn execute_get(
    state: State<AppState>,
    slot: Option<Extension<RateLimitSlot>>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Result<GraphQLResponse, AppError> {
    let inner = &request.0;
    let is_mutation = async_graphql::parser::parse_query(&inner.query)
        .map(|doc| {
            doc.operations.iter().any(|(name, op)| {
                let selected = inner
                    .operation_name
                    .as_deref()
                    .is_none_or(|want| name.is_some_and(|n| n.as_str() == want));
                selected && op.node.ty == async_graphql::parser::types::OperationType::Mutation
            })
        })
        .unwrap_or(false);
    if is_mutation {
        return Err(AppError::MethodNotAllowed);
    }
    Ok(execute(state, slot, headers, request).await)
}

/// Parse and validation errors come from the library without a code; every error a client
/// sees carries one.
fn label_library_errors(response: &mut Response) {
    for error in &mut response.errors {
        label(error);
    }
}

fn label(error: &mut ServerError) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some());
    if !has_code {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", "BAD_USER_INPUT");
    }
}
