//! `PUT /exchange-rates` (admin) and `GET /exchange-rates`.

use crate::auth::Caller;
use crate::domain::{Currency, Rate, parse_date};
use crate::error::{AppError, AppResult};
use crate::http::body::JsonBody;
use crate::service::Services;
use crate::service::fx::SetExchangeRate;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use entity::exchange_rate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of `PUT /exchange-rates`: one unit of `base` is worth `rate` units of `quote`
/// from `effective_date` on.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateBody {
    /// ISO 4217 code of the currency priced.
    #[schema(example = "EUR", pattern = "^[A-Z]{3}$")]
    base: String,
    /// ISO 4217 code of the currency it is priced in; not `base`.
    #[schema(example = "USD", pattern = "^[A-Z]{3}$")]
    quote: String,
    /// A string, so that it stays exact: a positive decimal, at most 12 decimal places.
    #[schema(example = "1.0842", pattern = r"^[0-9]{1,10}(\.[0-9]{1,12})?$")]
    rate: String,
    /// The first UTC date it applies to; the same pair and date again replaces the rate.
    #[schema(example = "2026-01-01", format = Date)]
    effective_date: String,
}

impl TryFrom<RateBody> for SetExchangeRate {
    type Error = AppError;

    fn try_from(body: RateBody) -> AppResult<Self> {
        Ok(SetExchangeRate {
            base: Currency::parse("base", &body.base)?,
            quote: Currency::parse("quote", &body.quote)?,
            rate: Rate::parse("rate", &body.rate)?,
            effective_date: parse_date("effective_date", &body.effective_date)?,
        })
    }
}

/// An exchange rate as stored.
#[derive(Serialize, ToSchema)]
pub struct RateView {
    base: String,
    quote: String,
    /// Exact decimal text, canonical (`1.0842`).
    rate: String,
    effective_date: NaiveDate,
    /// Who set it (the admin key's audit name).
    set_by: String,
    set_at: DateTime<Utc>,
}

impl From<exchange_rate::Model> for RateView {
    fn from(r: exchange_rate::Model) -> Self {
        RateView {
            base: r.base,
            quote: r.quote,
            rate: r.rate,
            effective_date: r.effective_date,
            set_by: r.set_by,
            set_at: r.set_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RateList {
    /// By pair, then effective date, oldest first.
    exchange_rates: Vec<RateView>,
}

/// Sets (or replaces) a pair's rate from a date on. Admin only; audited.
#[utoipa::path(put, path = "/exchange-rates", operation_id = "setExchangeRate", tag = "currencies", security(("api_key" = []), ("bearer" = [])), request_body = RateBody,
    responses((status = 200, description = "The rate as stored", body = RateView),
        (status = 403, description = "Not the admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown currency, a bad rate or date; the field is named", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn set(
    State(services): State<Services>,
    caller: Caller,
    body: JsonBody,
) -> AppResult<Json<RateView>> {
    let input = body.parse::<RateBody>()?.try_into()?;
    let row = services.set_exchange_rate(&caller, input).await?;
    Ok(Json(row.into()))
}

/// Every exchange rate. Needs `read`.
#[utoipa::path(get, path = "/exchange-rates", operation_id = "listExchangeRates", tag = "currencies", security(("api_key" = []), ("bearer" = [])),
    responses((status = 200, description = "The rates", body = RateList)))]
pub async fn list(State(services): State<Services>, caller: Caller) -> AppResult<Json<RateList>> {
    let rows = services.exchange_rates(&caller).await?;
    Ok(Json(RateList {
        exchange_rates: rows.into_iter().map(RateView::from).collect(),
    }))
}
