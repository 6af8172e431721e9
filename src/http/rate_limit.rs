//! `X-RateLimit-Limit`, `-Remaining` and `-Reset` on responses to rate-limited callers.
//!
//! The count happens where the caller is authenticated (`caller::authenticate`), deep inside
//! an extractor or handler that cannot touch the response; it leaves the outcome in a slot
//! this middleware put into the request, and the middleware copies it onto the response.

use crate::error::{AppError, AppResult};
use crate::service::rate_limit::RateLimitStatus;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::{Arc, Mutex, PoisonError};

/// Where this request stands against its workspace's limit, once it is known.
#[derive(Clone, Default)]
pub struct RateLimitSlot(Arc<Mutex<Option<RateLimitStatus>>>);

impl RateLimitSlot {
    /// Notes the outcome of a rate-limit check; a refusal shows as nothing remaining.
    pub fn record(&self, outcome: &AppResult<Option<RateLimitStatus>>) {
        let status = match outcome {
            Ok(status) => *status,
            Err(AppError::RateLimited {
                retry_after_seconds,
                limit,
            }) => Some(RateLimitStatus {
                limit: *limit,
                remaining: 0,
                reset_seconds: *retry_after_seconds,
            }),
            Err(_) => None,
        };
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = status;
    }

    fn get(&self) -> Option<RateLimitStatus> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub async fn headers(mut request: Request, next: Next) -> Response {
    let slot = RateLimitSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    if let Some(status) = slot.get() {
        let headers = response.headers_mut();
        for (name, value) in [
            ("x-ratelimit-limit", status.limit),
            ("x-ratelimit-remaining", status.remaining),
            ("x-ratelimit-reset", status.reset_seconds),
        ] {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
    }
    response
}
