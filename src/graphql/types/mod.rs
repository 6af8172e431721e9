//! GraphQL object types, one file per noun. Each wraps the stored row and documents every
//! field, so `schema.graphql` documents the API.

mod activity;
mod adjustment;
mod analytics;
mod audit;
mod contact;
mod conversion;
mod currency;
mod lead;
mod service_info;
mod stats;
mod workspace;

pub use activity::WorkspaceActivity;
pub use adjustment::{AdjustConversionPayload, ConversionAdjustment};
pub use analytics::ConversionAnalytics;
pub use audit::AuditEntry;
pub use contact::Contact;
pub(crate) use conversion::conversion_page;
pub use conversion::{Conversion, ConversionEvent};
pub use currency::ExchangeRate;
pub use lead::Lead;
pub use service_info::ServiceInfo;
pub use stats::{ConversionStats, StatsDimension, WeekStartDay};
pub use workspace::{RegisteredWorkspace, Workspace};

use super::scalars::Decimal;
use crate::domain::Currency;

/// Formats stored minor units in the row's currency.
pub(crate) fn decimal(minor: impl Into<i128>, currency_code: &str) -> Decimal {
    let currency = Currency::parse("currency", currency_code).unwrap_or(Currency::USD);
    Decimal(currency.format_amount(minor))
}
