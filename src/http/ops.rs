//! Operational endpoints: health and metrics.

use crate::error::AppError;
use crate::service::Services;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::time::Duration;

/// 200 when the service can serve: the database answers within two seconds. Otherwise 503,
/// so a load balancer takes the node out of rotation (this is liveness and readiness both).
pub async fn healthz(State(services): State<Services>) -> (StatusCode, Json<Value>) {
    match tokio::time::timeout(Duration::from_secs(2), services.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, Json(json!({ "status": "ok" }))),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "health check: the database did not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable" })),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable" })),
        ),
    }
}

/// Prometheus text format.
pub async fn metrics(State(services): State<Services>) -> impl IntoResponse {
    let body = format!(
        "# HELP convio_db_statements_total SQL statements executed since start.\n\
         # TYPE convio_db_statements_total counter\n\
         convio_db_statements_total {}\n\
         # HELP convio_feed_subscribers Live conversionFeed subscriptions.\n\
         # TYPE convio_feed_subscribers gauge\n\
         convio_feed_subscribers {}\n",
        services.db.statements_executed(),
        services.bus.subscriber_count(),
    ) + &services.failed_auth_metrics();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

pub async fn not_found() -> AppError {
    AppError::NotFound("no such endpoint".into())
}

pub async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}
