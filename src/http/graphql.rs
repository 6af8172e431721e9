//! The GraphQL endpoint over HTTP, as the GraphQL-over-HTTP spec has it: POST with a JSON body,
//! and GET for queries. Subscriptions over WebSocket are in `ws.rs`.
//!
//! Every answer, refusals included, is a GraphQL response (`{"data": …, "errors": […]}`) in the
//! media type the client accepts (`media.rs`); every error in it carries `extensions.code`. A
//! request that is not a well-formed GraphQL-over-HTTP request (`request.rs`) is refused before
//! authentication, so it costs no database work and does not count against the rate limit.

mod media;
pub(super) mod request;

use super::AppState;
use super::body::is_json;
use super::caller::authenticate;
use super::rate_limit::RateLimitSlot;
use crate::error::AppError;
use crate::graphql::{RequestAuth, loaders};
use async_graphql::parser::types::OperationType;
use async_graphql::{ServerError, Value};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use media::Media;
use serde::Serialize;
use std::collections::BTreeMap;

/// `POST /graphql`. Only JSON bodies are read: a form or `text/plain` body is what a page on
/// another site can make a browser send without a CORS preflight (with the user's cookies or
/// ambient credentials), so such a request is refused with 415 before anything runs.
pub async fn execute_post(State(state): State<AppState>, request: Request) -> Response {
    let Some(media) = Media::negotiate(request.headers()) else {
        return not_acceptable();
    };
    if !is_json(request.headers()) {
        let refusal = AppError::UnsupportedMediaType(
            "send GraphQL requests as Content-Type: application/json".into(),
        );
        return refuse(refusal, media);
    }
    let (parts, body) = request.into_parts();
    // Already read whole, within its limit, by `limits::read_body`: this only collects it.
    let body = match axum::body::to_bytes(body, state.hardening.max_body_bytes).await {
        Ok(body) => body,
        Err(_) => {
            let refusal = AppError::malformed(None, "the request body could not be read");
            return refuse(refusal, media);
        }
    };
    match request::from_body(&body) {
        Ok(graphql) => execute(&state, &parts, graphql, media).await,
        Err(refusal) => refuse(refusal, media),
    }
}

/// `GET /graphql?query=…`: queries only (cacheable, linkable). A mutation is refused with 405,
/// because a GET can be triggered cross-site by any page.
pub async fn execute_get(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let Some(media) = Media::negotiate(&parts.headers) else {
        return not_acceptable();
    };
    let mut graphql = match request::from_query_string(parts.uri.query().unwrap_or_default()) {
        Ok(graphql) => graphql,
        Err(refusal) => return refuse(refusal, media),
    };
    if is_mutation(&mut graphql) {
        let refusal = AppError::malformed(None, "a mutation cannot be sent by GET: POST it");
        let mut response = refuse_with(StatusCode::METHOD_NOT_ALLOWED, refusal, media);
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(&state, &parts, graphql, media).await
}

/// Whether the operation the request selects is a mutation. A document that does not parse
/// selects nothing here; executing it reports the syntax error.
fn is_mutation(request: &mut async_graphql::Request) -> bool {
    let wanted = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return false;
    };
    document.operations.iter().any(|(name, operation)| {
        let selected = wanted
            .as_deref()
            .is_none_or(|want| name.is_some_and(|n| n.as_str() == want));
        selected && operation.node.ty == OperationType::Mutation
    })
}

/// One HTTP request is one operation (no batching), so it counts once against the rate limit; a
/// refused one fails every field that needs a caller with `RATE_LIMITED`.
async fn execute(
    state: &AppState,
    parts: &axum::http::request::Parts,
    mut request: async_graphql::Request,
    media: Media,
) -> Response {
    let slot = parts.extensions.get::<RateLimitSlot>();
    let auth = authenticate(&state.services, &parts.headers, slot).await;
    if let Ok(caller) = &auth {
        request = request.data(loaders::loaders(state.services.clone(), caller.clone()));
    }
    let mut response = state.schema.execute(request.data(RequestAuth(auth))).await;
    label_library_errors(&mut response);
    respond(response, media)
}

/// A GraphQL response on the wire: `data` is left out when no operation ran.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [ServerError],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: &'a BTreeMap<String, Value>,
}

/// The executed (or refused) operation as an HTTP response. A request error (the document does
/// not parse or validate, the variables do not fit it, no operation can be chosen) comes before
/// any field runs, so it has no `data`; with `application/graphql-response+json` it is a 400.
/// Field errors, even one that nulls the whole `data`, are answered 200: the operation ran;
/// except a refusal for the hourly limit, answered 429 with `Retry-After` (`rate_limited`).
fn respond(response: async_graphql::Response, media: Media) -> Response {
    let request_error = is_request_error(&response);
    let retry_after = rate_limited(&response);
    let status = if retry_after.is_some() {
        StatusCode::TOO_MANY_REQUESTS
    } else if request_error && media == Media::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = Body {
        data: (!request_error).then_some(&response.data),
        errors: &response.errors,
        extensions: &response.extensions,
    };
    let mut reply = encoded(status, &body, media);
    let headers = reply.headers_mut();
    if response.errors.is_empty()
        && let Some(value) = response.cache_control.value()
        && let Ok(value) = HeaderValue::from_str(&value)
    {
        headers.insert(header::CACHE_CONTROL, value);
    }
    headers.extend(response.http_headers);
    if let Some(seconds) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    reply
}

/// When a field was refused for the workspace's hourly limit (an operation over the limit, or
/// a batch that would pass it), the seconds until a retry may succeed: the response is then a
/// 429 with `Retry-After`, so that GraphQL clients' retry logic sees what REST clients see.
/// A document that needed no caller (`{ __typename }`) was answered, and stays a 200.
fn rate_limited(response: &async_graphql::Response) -> Option<u64> {
    response
        .errors
        .iter()
        .filter_map(|error| error.extensions.as_ref())
        .filter(|extensions| {
            matches!(extensions.get("code"), Some(Value::String(code)) if code == "RATE_LIMITED")
        })
        .map(|extensions| match extensions.get("retryAfterSeconds") {
            Some(Value::Number(n)) => n.as_u64().unwrap_or(1),
            _ => 1,
        })
        .max()
}

/// A request refused before execution, as a GraphQL response with one error and no `data`; the
/// status is the error's own (400 for a malformed request, 415 for a body that is not JSON, 405
/// for a mutation over GET).
fn refuse(refusal: AppError, media: Media) -> Response {
    refuse_with(refusal.status(), refusal, media)
}

/// 406: the client accepts neither media type we answer in. The refusal itself is sent as
/// application/json, which every GraphQL client reads.
fn not_acceptable() -> Response {
    let refusal = AppError::malformed(
        None,
        "send Accept: application/graphql-response+json or application/json (or leave it out)",
    );
    refuse_with(StatusCode::NOT_ACCEPTABLE, refusal, Media::Json)
}

fn refuse_with(status: StatusCode, refusal: AppError, media: Media) -> Response {
    let error = async_graphql::Error::from(refusal);
    let mut server_error = ServerError::new(error.message, None);
    server_error.extensions = error.extensions;
    let body = Body {
        data: None,
        errors: std::slice::from_ref(&server_error),
        extensions: &BTreeMap::new(),
    };
    encoded(status, &body, media)
}

fn encoded(status: StatusCode, body: &Body<'_>, media: Media) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, media.content_type());
            (status, headers, bytes).into_response()
        }
        Err(err) => {
            AppError::Internal(format!("GraphQL response not encoded: {err}")).into_response()
        }
    }
}

/// Whether `response` answers a request error: one that came before any field ran, so it has
/// errors without a path and no `data` (the WebSocket answers these with `error`, too).
pub(super) fn is_request_error(response: &async_graphql::Response) -> bool {
    response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// Parse and validation errors come from the library without a code; every error a client
/// sees carries one (over HTTP and over the WebSocket).
pub(super) fn label_library_errors(response: &mut async_graphql::Response) {
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
        let field = argument_named(&error.message).map(str::to_owned);
        let extensions = error.extensions.get_or_insert_with(Default::default);
        extensions.set("code", "BAD_USER_INPUT");
        // `Invalid value for argument "input.conversionValue", …` names the input field.
        if let Some(field) = field {
            extensions.set("field", field);
        }
    }
}

/// The innermost field of the argument a validation message names, if it names one.
fn argument_named(message: &str) -> Option<&str> {
    let path = message.split_once("argument \"")?.1.split('"').next()?;
    path.rsplit('.').next().filter(|f| !f.is_empty())
}
