//! The `Caller` extractor: authenticates the request's credentials headers (within the limit
//! on failed attempts) and counts the request against its workspace's rate limit.

use crate::auth::{Caller, Credentials};
use crate::error::{AppError, AppResult};
use crate::http::rate_limit::RateLimitSlot;
use crate::service::Services;
use crate::service::rate_limit::Transport;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::{HeaderMap, request::Parts};

/// Reads the credentials in `headers` and the request id, authenticates them (unless the
/// client address in `slot` is over the failed-authentication limit), and counts the request
/// against the caller's rate limit, noting the outcome in `slot` for the response's headers.
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
    let client = slot.and_then(RateLimitSlot::client);
    let (outcome, status) = match services
        .authenticate_from(&creds, client, Transport::Http)
        .await
    {
        Ok(principal) => match services.check_rate_limit(&principal).await {
            Ok(status) => (Ok(principal), status),
            Err(refused) => (Err(refused), None),
        },
        Err(refused) => (Err(refused), None),
    };
    if let Some(slot) = slot {
        slot.record(&outcome, status);
    }
    let principal = outcome?;
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
