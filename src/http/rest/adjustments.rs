//! `POST /conversions/{id}/adjustments`: retract or restate a conversion.

use super::conversions::{idempotency_key, replay_marked};
use crate::auth::Caller;
use crate::domain::{AdjustmentAction, ConversionType, required_text};
use crate::error::{AppError, AppResult};
use crate::http::body::{JsonBody, amount};
use crate::http::views::{AdjustmentView, ConversionView};
use crate::service::Services;
use crate::service::adjustment::{self, AdjustConversion, Adjusted};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;
use uuid::Uuid;

/// The body of `POST /conversions/{id}/adjustments`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"action": "restate", "reason": "Contract renegotiated",
                          "conversion_value": 21000}))]
pub struct AdjustmentBody {
    /// `retract` (it stops counting, for good) or `restate` (a new value and/or type).
    #[schema(pattern = "^(retract|restate)$", example = "retract")]
    action: String,
    /// Why: 1 to 1,000 characters.
    #[schema(
        min_length = 1,
        max_length = 1000,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    reason: String,
    /// A restatement's new amount: a JSON number or a decimal string, in the conversion's
    /// currency.
    #[schema(schema_with = crate::http::openapi::amount_input)]
    conversion_value: Option<Box<RawValue>>,
    /// A restatement's new type.
    #[schema(pattern = r"^[a-z][a-z0-9_]{0,63}$", example = "sale")]
    conversion_type: Option<String>,
}

impl TryFrom<AdjustmentBody> for AdjustConversion {
    type Error = AppError;

    fn try_from(body: AdjustmentBody) -> AppResult<Self> {
        let action = AdjustmentAction::parse("action", &body.action)?;
        let value = amount("conversion_value", body.conversion_value)?;
        let conversion_type = body
            .conversion_type
            .map(|t| ConversionType::parse("conversion_type", &t))
            .transpose()?;
        Ok(AdjustConversion {
            change: adjustment::change(action, value, conversion_type)?,
            reason: required_text("reason", &body.reason, adjustment::MAX_REASON)?,
        })
    }
}

/// The adjustment, and the conversion as it stands after it, its history included.
#[derive(Serialize, ToSchema)]
pub struct AdjustedView {
    adjustment: AdjustmentView,
    conversion: ConversionView,
}

/// Retracts or restates a conversion.
///
/// Only the workspace that logged the conversion (or the admin) may adjust it. The adjustment
/// is kept with who, when and why; every figure the conversion counted in (analytics, the
/// contact's lifetime value, count and status, the workspace's activity) moves in the same
/// transaction, and the live feed emits an `ADJUSTED` or `RETRACTED` event. With an
/// `Idempotency-Key`, a retry answers the first attempt's adjustment (`Idempotency-Replayed:
/// true`) and writes nothing.
#[utoipa::path(post, path = "/conversions/{id}/adjustments", operation_id = "adjustConversion", tag = "conversions", security(("api_key" = []), ("bearer" = [])),
    request_body = AdjustmentBody,
    params(("id" = String, Path, format = Uuid, description = "The conversion's id (a UUID)"),
           ("Idempotency-Key" = Option<String>, Header,
            description = "Makes retries safe: 1 to 255 visible ASCII characters, kept 24 hours")),
    responses(
        (status = 201, description = "Stored (or replayed)", body = AdjustedView,
         headers(("Idempotency-Replayed" = Option<String>, description = "`true` on a replay"))),
        (status = 404, description = "No such conversion of yours", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The conversion was retracted already (`CONFLICT`), or the key was used for another request",
         body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn adjust(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonBody,
) -> AppResult<Response> {
    let uuid = Uuid::parse_str(&id).map_err(|_| AppError::not_found("conversion", &id))?;
    let key = idempotency_key(&headers)?;
    let request: AdjustConversion = body.parse::<AdjustmentBody>()?.try_into()?;
    let adjusted = services
        .adjust_conversion(&caller, uuid, request, key.as_ref())
        .await?;
    let (replayed, done) = match adjusted {
        Adjusted::Stored(done) => (false, done),
        Adjusted::Replayed(done) => (true, done),
    };
    let history = services
        .adjustments_of(&[done.conversion.id])
        .await?
        .remove(&done.conversion.id)
        .unwrap_or_default();
    let currency = done.conversion.currency.clone();
    let conversion = ConversionView::from(services.reveal(&caller.principal, done.conversion)?)
        .with_adjustments(history);
    let response = (
        StatusCode::CREATED,
        Json(AdjustedView {
            adjustment: AdjustmentView::new(done.adjustment, &currency),
            conversion,
        }),
    )
        .into_response();
    Ok(replay_marked(response, replayed))
}
