//! One exported row as the cells both formats write, and the formula-injection guard for CSV.

use crate::domain::Currency;
use crate::error::{AppError, AppResult};
use crate::service::sensitive::Revealed;
use chrono::{DateTime, SecondsFormat};
use chrono_tz::Tz;
use entity::conversion;
use std::borrow::Cow;

/// The column names, in order, as the header row writes them.
pub const COLUMNS: [&str; 11] = [
    "id",
    "converted_at",
    "workspace_id",
    "contact_id",
    "lead_id",
    "conversion_type",
    "conversion_value",
    "currency",
    "converted_by",
    "custom_data",
    "status",
];

/// A conversion ready to be written: its time in the export's zone, its value as exact
/// decimal text and its custom data (already revealed or masked) as JSON text.
pub struct Cells {
    pub id: String,
    pub converted_at: DateTime<Tz>,
    pub workspace_id: String,
    pub contact_id: i64,
    pub lead_id: Option<i64>,
    pub conversion_type: String,
    /// Exact decimal with the currency's places (`25000.00`), never through a float.
    pub conversion_value: Option<String>,
    pub currency: String,
    pub converted_by: String,
    pub custom_data: Option<String>,
    /// `active`, or `retracted` (counted in no figure).
    pub status: String,
}

impl Cells {
    /// `row` as cells, its time in `zone`. `fallback` is the server's currency, used only if
    /// a stored code were unreadable.
    pub fn new(row: Revealed<conversion::Model>, zone: Tz, fallback: Currency) -> AppResult<Self> {
        let c = row.into_inner();
        let currency = Currency::parse("currency", &c.currency).unwrap_or(fallback);
        let custom_data = c
            .custom_data
            .map(|v| serde_json::to_string(&v))
            .transpose()
            .map_err(|e| AppError::Internal(format!("custom_data did not serialise: {e}")))?;
        Ok(Cells {
            id: c.id.to_string(),
            converted_at: c.converted_at.with_timezone(&zone),
            workspace_id: c.workspace_id,
            contact_id: c.contact_id,
            lead_id: c.lead_id,
            conversion_type: c.conversion_type,
            conversion_value: c.value_minor.map(|v| currency.format_amount(v)),
            currency: c.currency,
            converted_by: c.converted_by,
            custom_data,
            status: c.status,
        })
    }

    /// `converted_at` as RFC 3339 with the zone's offset at that instant
    /// (`2026-03-08T01:30:00-05:00`), never `Z`, with as many fractional digits as it has.
    pub fn converted_at_text(&self) -> String {
        self.converted_at
            .to_rfc3339_opts(SecondsFormat::AutoSi, false)
    }
}

/// A text cell made safe for spreadsheets that evaluate CSV: text starting with `=`, `+`, `-`,
/// `@`, tab or carriage return gets a leading `'` (OWASP's CSV injection advice), so it is
/// shown as text rather than run as a formula. Only ever applied to text columns; numbers are
/// never altered.
pub fn guarded(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dangerous_prefixes_get_a_quote_and_others_do_not() {
        for bad in ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(guarded(bad), format!("'{bad}"));
        }
        for fine in ["sale", "", "1-2", "a=b", "'quoted", " =x"] {
            assert_eq!(guarded(fine), fine);
        }
    }
}
