//! Exchange rates in GraphQL, mirroring `/exchange-rates`: `exchangeRates` and
//! `setExchangeRate` (admin). Merged into the query and mutation roots.

use super::types::ExchangeRate;
use super::{caller, services};
use crate::domain::{Currency, Rate, parse_date};
use crate::error::AppError;
use crate::service::fx::SetExchangeRate;
use async_graphql::{Context, InputObject, Object, Result};

/// Read exchange rates.
#[derive(Default)]
pub struct ExchangeRateQuery;

/// Set exchange rates (admin).
#[derive(Default)]
pub struct ExchangeRateMutation;

/// A rate to set: one unit of `base` is worth `rate` units of `quote` from `effectiveDate`.
#[derive(InputObject)]
pub struct SetExchangeRateInput {
    /// ISO 4217 code of the currency priced, e.g. `EUR`.
    base: String,
    /// ISO 4217 code of the currency it is priced in, e.g. `USD`; not `base`.
    quote: String,
    /// Exact positive decimal text, at most 12 decimal places: `"1.0842"`.
    rate: String,
    /// First UTC date it applies to, `2026-01-01`. Setting the same pair and date again
    /// replaces the rate.
    effective_date: String,
}

impl TryFrom<SetExchangeRateInput> for SetExchangeRate {
    type Error = AppError;

    fn try_from(input: SetExchangeRateInput) -> Result<Self, AppError> {
        Ok(SetExchangeRate {
            base: Currency::parse("base", &input.base)?,
            quote: Currency::parse("quote", &input.quote)?,
            rate: Rate::parse("rate", &input.rate)?,
            effective_date: parse_date("effective_date", &input.effective_date)?,
        })
    }
}

#[Object]
impl ExchangeRateQuery {
    /// Every exchange rate, by pair, then effective date (oldest first). Needs `read`. A plain
    /// list: only the admin sets rates, a few per pair and year.
    async fn exchange_rates(&self, ctx: &Context<'_>) -> Result<Vec<ExchangeRate>> {
        let rows = services(ctx)?.exchange_rates(caller(ctx)?).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

#[Object]
impl ExchangeRateMutation {
    /// Sets (or replaces) a pair's rate from a date on. Admin only; audited as
    /// `exchange_rate.set`.
    async fn set_exchange_rate(
        &self,
        ctx: &Context<'_>,
        input: SetExchangeRateInput,
    ) -> Result<ExchangeRate> {
        let input = SetExchangeRate::try_from(input)?;
        let row = services(ctx)?
            .set_exchange_rate(caller(ctx)?, input)
            .await?;
        Ok(row.into())
    }
}
