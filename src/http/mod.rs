//! HTTP: the router, the GraphQL and WebSocket endpoints, and the REST shims. Handlers are
//! thin: parse, call the service layer, shape the reply.

mod assets;
mod body;
mod caller;
mod graphql;
mod limits;
pub mod openapi;
mod ops;
mod rate_limit;
mod rest;
mod views;
mod ws;

pub use ws::FeedGroups;

use crate::config::Hardening;
use crate::graphql::ConvioSchema;
use crate::request_id::RequestIds;
use crate::service::Services;
use axum::extract::{DefaultBodyLimit, FromRef, Request};
use axum::http::{HeaderValue, header};
use axum::routing::{MethodRouter, get, post};
use axum::{Router, middleware};
use std::sync::Arc;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub schema: ConvioSchema,
    /// The shared executions of `conversionFeed` on `/graphql/ws`.
    pub feed_groups: FeedGroups,
    /// Limits the handlers enforce themselves (origins, WebSocket timeouts and caps).
    pub hardening: Arc<Hardening>,
}

impl FromRef<AppState> for Services {
    fn from_ref(state: &AppState) -> Services {
        state.services.clone()
    }
}

/// The policy of every response that does not bring its own (the dashboard and GraphiQL do):
/// nothing may load, and no page may frame it. API responses are not pages, but an error
/// page, or a JSON body a browser is tricked into rendering, is covered all the same.
pub const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'none'";

/// `Cache-Control: no-store` for responses that carry API keys or tokens: no browser, proxy
/// or CDN may keep a copy.
fn no_store<S: Clone + Send + Sync + 'static>(route: MethodRouter<S>) -> MethodRouter<S> {
    route.layer(SetResponseHeaderLayer::overriding(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ))
}

/// The request span: method, path (never the query, which may carry personal data) and the
/// request's ids, so every log line of a request names the id its audit rows carry.
fn request_span(request: &Request) -> tracing::Span {
    let ids = request.extensions().get::<RequestIds>();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = request.uri().path(),
        request_id = ids.map(|ids| ids.server.as_str()),
        client_request_id = ids.and_then(|ids| ids.client.as_deref()),
    )
}

pub fn router(state: AppState) -> Router {
    // The dashboard is part of the product; the explorer is not served at all in production:
    // it would only invite exploration.
    // The REST reference documents what integrators may call, and calls nothing by itself.
    let mut router = Router::new()
        .nest_service("/dashboard", assets::dashboard())
        .nest_service("/docs", assets::docs());
    if !state.hardening.production {
        router = router.nest_service("/graphiql", assets::graphiql());
    }
    let (rest_routes, _) = rest::routes(Default::default()).split_for_parts();
    router
        .route(
            "/graphql",
            // Mutations (which may return keys) come only by POST.
            no_store(post(graphql::execute_post)).get(graphql::execute_get),
        )
        .route("/graphql/ws", get(ws::websocket))
        .merge(rest_routes)
        .route("/openapi.json", get(ops::openapi))
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
        // Logs method, path, status and the request's ids; never headers (keys, tokens),
        // query strings or bodies (PII).
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        // Counts and times every request by route template, method and status class.
        .layer(middleware::from_fn_with_state(
            state.services.metrics.clone(),
            crate::observability::track_requests,
        ))
        .layer(middleware::from_fn(crate::request_id::assign))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DEFAULT_CSP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .with_state(state)
}
