//! The `Caller` extractor: authenticates the request's credentials headers.

use crate::auth::{Caller, Credentials};
use crate::error::{AppError, AppResult};
use crate::service::Services;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::{HeaderMap, request::Parts};

/// Reads the credentials in `headers` and the request id, and authenticates them.
pub async fn authenticate(services: &Services, headers: &HeaderMap) -> AppResult<Caller> {
    let creds = Credentials::from_pairs(
        headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))),
    );
    let principal = services.authenticate(&creds).await?;
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
        authenticate(&Services::from_ref(state), &parts.headers).await
    }
}
