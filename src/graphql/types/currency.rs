//! Multi-currency types: an exchange rate, and one logged currency's own figures beside the
//! converted totals of `conversionAnalytics` and `conversionStats`.

use super::decimal;
use crate::graphql::scalars::Decimal;
use crate::service::reporting::Figures;
use async_graphql::SimpleObject;
use entity::exchange_rate;

/// What one unit of `base` is worth in `quote` from `effectiveDate` on (set by the admin).
#[derive(SimpleObject)]
pub struct ExchangeRate {
    /// ISO 4217 code of the currency priced.
    base: String,
    /// ISO 4217 code of the currency it is priced in.
    quote: String,
    /// Units of `quote` per unit of `base`: exact decimal text, e.g. `"1.0842"`.
    rate: String,
    /// First UTC date (`2026-01-01`) it applies to; it applies until the pair's next one.
    effective_date: String,
    /// Who set it (the admin key's audit name).
    set_by: String,
    /// When it was set (RFC 3339, UTC).
    set_at: String,
}

impl From<exchange_rate::Model> for ExchangeRate {
    fn from(row: exchange_rate::Model) -> Self {
        ExchangeRate {
            base: row.base,
            quote: row.quote,
            rate: row.rate,
            effective_date: row.effective_date.to_string(),
            set_by: row.set_by,
            set_at: row
                .set_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        }
    }
}

/// One logged currency's own figures, in its own units: never converted.
#[derive(SimpleObject)]
pub struct CurrencyFigures {
    /// ISO 4217 code.
    currency: String,
    /// Conversions in this currency.
    conversions: u64,
    /// Their exact total, in this currency.
    total_value: Decimal,
    /// Whether some of them had no rate into the reporting currency on their date.
    missing_rate: bool,
}

/// `figures`' currencies, each flagged when it is among `missing`.
pub fn by_currency(figures: &Figures, missing: &[String]) -> Vec<CurrencyFigures> {
    figures
        .by_currency
        .iter()
        .map(|(code, tally)| CurrencyFigures {
            currency: code.clone(),
            conversions: tally.conversions,
            total_value: decimal(tally.total_minor, code),
            missing_rate: missing.contains(code),
        })
        .collect()
}
