//! The `Caller` extractor: authenticates the request's credentials headers and counts the
//! request against its workspace's rate limit.

use crate::auth::{Caller, Credentials};
use crate::error::{AppError, AppResult};
use crate::http::rate_limit::RateLimitSlot;
use crate::service::Services;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::{HeaderMap, request::Parts};

/// Reads the credentials in `headers` and the request id, authenticates them, and counts the
/// request against the caller's rate limit (noting where it stands in `slot`, for headers).
pub async fn authenticate(
    services: &Services,
    headers: &HeaderMap,
    slot: Option<&RateLimitSlot>,
) -> AppResult<Caller> {
    let creds = Credentials::from_pairs(
        headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))),
    );
    let principal = services.authenticate(&creds).await?;
    let limited = services.check_rate_limit(&principal).await;
    if let Some(slot) = slot {
        slot.record(&limited);
    }
    limited?;
    Ok(Caller {
        principal,
        request_id: request_id(headers),
    })
}

pub fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Services: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let slot = parts.extensions.get::<RateLimitSlot>().cloned();
        authenticate(&Services::from_ref(state), &parts.headers, slot.as_ref()).await
    }
}
