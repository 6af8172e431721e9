//! HTTP: the router, the GraphQL and WebSocket endpoints, and the REST shims. Handlers are
//! thin: parse, call the service layer, shape the reply.

mod assets;
mod body;
mod caller;
mod graphql;
mod limits;
mod ops;
mod rate_limit;
mod rest;
mod views;
mod ws;

use crate::config::Hardening;
use crate::graphql::ConvioSchema;
use crate::service::Services;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::HeaderName;
use axum::routing::{get, patch, post};
use axum::{Router, middleware};
use std::sync::Arc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub schema: ConvioSchema,
    /// Limits the handlers enforce themselves (origins, WebSocket timeouts and caps).
    pub hardening: Arc<Hardening>,
}

impl FromRef<AppState> for Services {
    fn from_ref(state: &AppState) -> Services {
        state.services.clone()
    }
}

pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    // The dashboard is part of the product; the explorer is not served at all in production:
    // it would only invite exploration.
    let mut router = Router::new().nest_service("/dashboard", assets::dashboard());
    if !state.hardening.production {
        router = router.nest_service("/graphiql", assets::graphiql());
    }
    router
        .route(
            "/graphql",
            post(graphql::execute_post).get(graphql::execute_get),
        )
        .route("/graphql/ws", get(ws::websocket))
        .route("/conversions/log", post(rest::conversions::log))
        .route("/conversions/batch", post(rest::conversions::batch))
        .route("/conversions", get(rest::conversions::list))
        .route("/conversions/analytics", get(rest::conversions::analytics))
        .route("/conversions/export", get(rest::export::export))
        .route("/conversions/{id}", get(rest::conversions::show))
        .route("/contacts", post(rest::contacts::create))
        .route("/contacts/{id}", get(rest::contacts::show))
        .route(
            "/contacts/{id}/conversion",
            patch(rest::contacts::update_conversion),
        )
        .route("/contacts/{id}/send", post(rest::contacts::send))
        .route("/contacts/{id}/erase", post(rest::contacts::erase))
        .route("/leads", post(rest::contacts::create_lead))
        .route("/workspaces/register", post(rest::workspaces::register))
        .route("/workspaces/{id}/activity", get(rest::workspaces::activity))
        .route(
            "/workspaces/{id}/keys/rotate",
            post(rest::workspaces::rotate_key),
        )
        .route(
            "/workspaces/{id}/keys/revoke",
            post(rest::workspaces::revoke_keys),
        )
        .route("/auth/token", post(rest::workspaces::token))
        .route("/audit", get(rest::audit::list))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.hardening.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            rate_limit::ClientAddresses::of(&state.hardening),
            rate_limit::headers,
        ))
        // Bodies are read whole, within the limit and deadline, before anything looks at them.
        .layer(middleware::from_fn_with_state(
            limits::BodyLimits::of(&state.hardening),
            limits::read_body,
        ))
        .layer(middleware::from_fn(crate::request_id::scope))
        // Logs method, path and status; never headers (keys, tokens) or bodies (PII).
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}
