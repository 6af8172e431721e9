//! The GraphQL endpoint, GraphiQL, and graphql-transport-ws subscriptions.

use super::AppState;
use super::body::is_json;
use super::caller::authenticate;
use crate::auth::{Caller, Credentials};
use crate::error::AppError;
use crate::graphql::{RequestAuth, loaders};
use crate::service::Services;
use async_graphql::http::{
    ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource, WebSocket as GraphQLWebSocketStream,
    WebSocketProtocols, WsMessage,
};
use async_graphql::{Data, Response, ServerError};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{FromRequest, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse};
use futures_util::{SinkExt, StreamExt};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub async fn execute(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let auth = authenticate(&state.services, &headers).await;
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
    match GraphQLRequest::from_request(request, &state).await {
        Ok(graphql) => execute(State(state), headers, graphql)
            .await
            .into_response(),
        Err(rejection) => rejection.into_response(),
    }
}

/// Queries may also come over GET (cacheable, linkable); mutations may not, because a GET
/// can be triggered cross-site by any page.
pub async fn execute_get(
    state: State<AppState>,
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
    Ok(execute(state, headers, request).await)
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

pub async fn graphiql() -> impl IntoResponse {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .title("convio GraphiQL")
            .finish(),
    )
}

/// graphql-transport-ws. Credentials travel in the `connection_init` payload, under the same
/// names as the HTTP headers; without valid ones the connection is closed with 4403, as the
/// protocol specifies.
pub async fn websocket(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<impl IntoResponse, AppError> {
    let protocol = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|list| {
            list.split(',')
                .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
        })
        .ok_or_else(|| AppError::malformed(None, "ask for the graphql-transport-ws subprotocol"))?;
    Ok(upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve_socket(socket, state, protocol)))
}

async fn serve_socket(socket: WebSocket, state: AppState, protocol: WebSocketProtocols) {
    let (mut sink, incoming) = socket.split();
    let incoming = incoming
        .take_while(|message| std::future::ready(message.is_ok()))
        .filter_map(|message| {
            std::future::ready(match message {
                Ok(Message::Text(text)) => Some(text.as_bytes().to_vec()),
                Ok(Message::Binary(bytes)) => Some(bytes.to_vec()),
                _ => None,
            })
        });
    // The library closes a refused connection_init with 1002; the protocol asks for 4403.
    let refused = Arc::new(AtomicBool::new(false));
    let services = state.services.clone();
    let flag = refused.clone();
    let mut outgoing = GraphQLWebSocketStream::new(state.schema.clone(), incoming, protocol)
        .on_connection_init(move |payload| {
            let services = services.clone();
            let flag = flag.clone();
            async move {
                let caller = authenticate_payload(&services, &payload)
                    .await
                    .inspect_err(|_| {
                        flag.store(true, Ordering::SeqCst);
                    })?;
                let mut data = Data::default();
                data.insert(loaders::loaders(services.clone(), caller.clone()));
                data.insert(RequestAuth(Ok(caller)));
                Ok(data)
            }
        });
    while let Some(message) = outgoing.next().await {
        let sent = match message {
            WsMessage::Text(text) => sink.send(Message::Text(text.into())).await,
            WsMessage::Close(code, reason) => {
                let code = if refused.load(Ordering::SeqCst) {
                    4403
                } else {
                    code
                };
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
        };
        if sent.is_err() {
            break;
        }
    }
}

async fn authenticate_payload(
    services: &Services,
    payload: &serde_json::Value,
) -> Result<Caller, AppError> {
    let pairs: Vec<(&str, &str)> = payload
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    let principal = services
        .authenticate(&Credentials::from_pairs(pairs))
        .await?;
    Ok(Caller {
        principal,
        request_id: None,
    })
}
