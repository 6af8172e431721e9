//! `Amount`: a non-negative decimal exactly as a client wrote it, before it meets a currency.
//!
//! Both doors build it from the literal's text (REST from the JSON number or string, GraphQL
//! from the `Decimal` scalar), so `25000.000000000001` is refused rather than rounded, and the
//! same text means the same amount everywhere. Exponent notation (`2.5E+4`) is refused: an
//! amount is written as digits with an optional point, the way invoices and CRMs write it.

use super::money::{Currency, MAX_MAJOR_UNITS};
use crate::error::AppError;

/// An exact decimal amount: whole units and the digits after the point, trailing zeros
/// dropped, so `25000`, `25000.0` and `25000.00` are one amount.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Amount {
    whole: u64,
    fraction: String,
}

impl Amount {
    /// Parses a plain decimal (`25000`, `18500.50`, `0.5`). Errors name `field`: a sign, an
    /// exponent, a missing digit on either side of the point, or more than 10¹² whole units.
    pub fn parse(field: &str, text: &str) -> Result<Amount, AppError> {
        let text = text.trim();
        if text.starts_with('-') {
            return Err(AppError::invalid(field, "must not be negative"));
        }
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !digits(whole)
            || !digits(fraction)
            || (text.contains('.') && fraction.is_empty())
        {
            return Err(AppError::invalid(
                field,
                "must be a plain decimal amount such as 25000 or 18500.50 (no exponent)",
            ));
        }
        let whole = whole.trim_start_matches('0');
        // Thirteen digits hold the largest accepted amount; more cannot be below it.
        if whole.len() > 13 {
            return Err(too_large(field));
        }
        let whole = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_large(field))?
        };
        Amount::new(field, whole, fraction.trim_end_matches('0'))
    }

    /// A whole amount (a GraphQL `Int` literal or variable).
    pub fn whole(field: &str, units: u64) -> Result<Amount, AppError> {
        Amount::new(field, units, "")
    }

    fn new(field: &str, whole: u64, fraction: &str) -> Result<Amount, AppError> {
        let amount = Amount {
            whole,
            fraction: fraction.to_owned(),
        };
        if whole > MAX_MAJOR_UNITS as u64
            || (whole == MAX_MAJOR_UNITS as u64 && !fraction.is_empty())
        {
            return Err(too_large(field));
        }
        Ok(amount)
    }

    /// The amount in minor units of `currency` (`18500.50` USD → 1850050); refused when it
    /// has more decimal places than the currency's minor unit.
    pub fn minor_units(&self, field: &str, currency: Currency) -> Result<i64, AppError> {
        let places = currency.exponent() as usize;
        if self.fraction.len() > places {
            return Err(AppError::invalid(
                field,
                format!(
                    "has more decimal places than {} allows ({places})",
                    currency.code()
                ),
            ));
        }
        let padded = format!("{:0<places$}", self.fraction);
        let fraction: i64 = if padded.is_empty() {
            0
        } else {
            padded.parse().map_err(|_| too_large(field))?
        };
        // At most 10¹² whole units and three places: far inside i64.
        let scale = 10_i64.pow(currency.exponent());
        Ok(self.whole as i64 * scale + fraction)
    }
}

fn too_large(field: &str) -> AppError {
    AppError::invalid(field, format!("must not exceed {MAX_MAJOR_UNITS}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_are_equal_amounts() {
        let a = |t| Amount::parse("v", t).unwrap();
        assert_eq!(a("25000"), a("25000.00"));
        assert_eq!(a("0025000.0"), Amount::whole("v", 25000).unwrap());
        assert_ne!(a("1.0000000000000001"), a("1"));
    }

    #[test]
    fn digits_beyond_the_minor_unit_are_refused_not_rounded() {
        let usd = |t| {
            Amount::parse("v", t)
                .unwrap()
                .minor_units("v", Currency::USD)
        };
        assert!(usd("25000.000000000001").is_err());
        assert!(usd("1.0000000000000001").is_err());
        assert_eq!(usd("18500.50").unwrap(), 1_850_050);
    }

    #[test]
    fn exponents_and_signs_are_refused() {
        for bad in ["2.5E+4", "2.5e4", "1e5", "-1", "+1", " ", "1_000", "٣"] {
            assert!(Amount::parse("v", bad).is_err(), "{bad}");
        }
    }
}
