//! The HTTP layer's metrics: every request counted and timed by route template (axum's
//! `MatchedPath`, never the raw path), method and status class.

use super::labels;
use super::registry::Metrics;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

/// Middleware: counts and times each request, from its arrival here to its response's head
/// (a streamed body, such as an export, is not waited for). Requests that matched no route
/// share the route `unmatched`.
pub async fn track_requests(
    State(metrics): State<Metrics>,
    request: Request,
    next: Next,
) -> Response {
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let nested = nest_point(request.uri().path());
    let method = labels::method(request.method());
    let _in_flight = metrics.http_in_flight();
    let started = Instant::now();
    let response = next.run(request).await;
    let route = template.unwrap_or_else(|| route_without_template(&nested, response.status()));
    metrics.http_request(&route, method, response.status(), started.elapsed());
    response
}

/// `/dashboard/*` for `/dashboard/assets/app.js`: a nested service's tail has no template the
/// outer router knows, so its requests are labelled by where it is nested.
fn nest_point(path: &str) -> String {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    format!("/{first}/*")
}

/// The route of a request without a template: a nested service's requests that it answered
/// are labelled by their nest point (only nested services answer them, so these are few);
/// anything refused as not found or not allowed is `unmatched`, whatever path it asked for.
fn route_without_template(nested: &str, status: StatusCode) -> String {
    if status.is_success() || status.is_redirection() {
        nested.to_owned()
    } else {
        labels::UNMATCHED_ROUTE.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_answered_nested_requests_are_labelled_by_path() {
        let nested = nest_point("/dashboard/assets/app-QIO2CVU6.js");
        assert_eq!(nested, "/dashboard/*");
        assert_eq!(
            route_without_template(&nested, StatusCode::OK),
            "/dashboard/*"
        );
        assert_eq!(
            route_without_template(&nested, StatusCode::NOT_MODIFIED),
            "/dashboard/*"
        );
        let unknown = nest_point("/wp-admin/setup.php");
        assert_eq!(
            route_without_template(&unknown, StatusCode::NOT_FOUND),
            "unmatched"
        );
    }
}
