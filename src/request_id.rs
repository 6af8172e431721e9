//! The id of the request being served, so that a problem response can name it and a log line
//! can be found from it. Set by a middleware from the `x-request-id` header.

use axum::{extract::Request, middleware::Next, response::Response};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The current request's id, when called while serving one.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs the rest of the stack with the request id in scope.
pub async fn scope(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    REQUEST_ID.scope(id, next.run(request)).await
}
