//! Operational endpoints: health and metrics. Neither needs credentials; neither shows an
//! internal error's text (that goes to the log).

use crate::error::AppError;
use crate::observability::{Scrape, health};
use crate::service::Services;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `GET /healthz`: 200 when this node can serve, else 503 so a load balancer takes it out of
/// rotation (it is liveness and readiness both). The body says which check failed and why:
///
/// ```json
/// {"status": "unavailable",
///  "checks": {"database":   {"ok": false, "detail": "no answer within 2 s (…)"},
///             "migrations": {"ok": false, "detail": "not checked: the database did not answer"},
///             "feed_pump":  {"ok": true,  "detail": "last pass 812 ms ago"}}}
/// ```
pub async fn healthz(State(services): State<Services>) -> Response {
    let report = health::check(&services.db, &services.metrics).await;
    let status = if report.healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = (status, Json(report)).into_response();
    // Polled: an answer must never come from a cache.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /metrics`: every series in the Prometheus text format (0.0.4). Each scrape also probes
/// the database (`convio_db_up`), so a node whose database is gone says so even when idle.
pub async fn metrics(State(services): State<Services>) -> impl IntoResponse {
    let _ = health::probe_database(&services.db, &services.metrics).await;
    let (auth_failures, auth_throttled) = services.failed_auth_counts();
    let scrape = Scrape {
        feed_subscribers: services.bus.subscriber_count(),
        ingest_waiting: services.ingest_waiting(),
        pool: services.db.pool_use(),
        auth_failures,
        auth_throttled,
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        services.metrics.render(&scrape),
    )
}

pub async fn not_found() -> AppError {
    AppError::NotFound("no such endpoint".into())
}

pub async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}

/// `GET /openapi.json`: the REST contract (OpenAPI 3.1), generated once.
pub async fn openapi() -> impl IntoResponse {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let json = DOCUMENT.get_or_init(super::openapi::json);
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json.as_str(),
    )
}
