//! The GraphQL endpoint, GraphiQL, and graphql-transport-ws subscriptions.

use super::AppState;
use super::caller::authenticate;
use crate::auth::{Caller, Credentials};
use crate::graphql::{RequestAuth, loaders};
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql::{Data, Response, ServerError};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse};

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
/// names as the HTTP headers; without valid ones the connection is closed (4403).
pub async fn websocket(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> impl IntoResponse {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| {
            let services = state.services.clone();
            GraphQLWebSocket::new(stream, state.schema.clone(), protocol)
                .on_connection_init(move |payload| async move {
                    let pairs: Vec<(String, String)> = payload
                        .as_object()
                        .map(|o| {
                            o.iter()
                                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                                .collect()
                        })
                        .unwrap_or_default();
                    let creds = Credentials::from_pairs(
                        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    );
                    let principal = services.authenticate(&creds).await?;
                    let caller = Caller {
                        principal,
                        request_id: None,
                    };
                    let mut data = Data::default();
                    data.insert(loaders::loaders(services.clone(), caller.clone()));
                    data.insert(RequestAuth(Ok(caller)));
                    Ok(data)
                })
                .serve()
        })
}
