//! `Rate`: an exchange rate exactly as the admin wrote it, e.g. `1.0842` — units of the quote
//! currency per unit of the base currency. Parsed from text, kept as an integer and a power
//! of ten, never a float.

use crate::error::AppError;

/// Decimal places a rate may have.
pub const MAX_RATE_PLACES: usize = 12;

/// The largest whole part of a rate: far above any real pair (1 BTC-sized unit in VND is
/// below 10¹⁰), and it keeps every rate within 10²² as a scaled integer.
const MAX_WHOLE_DIGITS: usize = 10;

/// A positive exact decimal: `units / 10^places`, trailing zeros dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    units: u128,
    places: u32,
}

impl Rate {
    /// Parses `1.0842`, `150`, `0.00246`. Errors name `field`: a sign, an exponent, a missing
    /// digit on either side of the point, zero, more than 12 decimal places, or more than 10
    /// whole digits.
    pub fn parse(field: &str, text: &str) -> Result<Rate, AppError> {
        let bad = || {
            AppError::invalid(
                field,
                "must be a positive decimal such as 1.0842 (no sign, no exponent)",
            )
        };
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) {
            return Err(bad());
        }
        if text.contains('.') && fraction.is_empty() {
            return Err(bad());
        }
        let whole = whole.trim_start_matches('0');
        let fraction = fraction.trim_end_matches('0');
        if whole.len() > MAX_WHOLE_DIGITS {
            return Err(AppError::invalid(
                field,
                format!("must have at most {MAX_WHOLE_DIGITS} digits before the point"),
            ));
        }
        if fraction.len() > MAX_RATE_PLACES {
            return Err(AppError::invalid(
                field,
                format!("must have at most {MAX_RATE_PLACES} decimal places"),
            ));
        }
        // At most 22 digits: inside u128.
        let units: u128 = format!("{whole}{fraction}")
            .parse()
            .map_err(|_| AppError::invalid(field, "must be greater than zero"))?;
        if units == 0 {
            return Err(AppError::invalid(field, "must be greater than zero"));
        }
        Ok(Rate {
            units,
            places: fraction.len() as u32,
        })
    }

    /// `(numerator, denominator)`: the rate is exactly their quotient.
    pub fn ratio(&self) -> (u128, u128) {
        (self.units, 10_u128.pow(self.places))
    }
}

impl std::fmt::Display for Rate {
    /// The canonical text: `1.0842`, `150`; what is stored and shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scale = 10_u128.pow(self.places);
        let (whole, fraction) = (self.units / scale, self.units % scale);
        if self.places == 0 {
            write!(f, "{whole}")
        } else {
            write!(
                f,
                "{whole}.{fraction:0width$}",
                width = self.places as usize
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_exact_and_canonical() {
        let r = |t| Rate::parse("rate", t).unwrap();
        assert_eq!(r("1.0842").to_string(), "1.0842");
        assert_eq!(r("01.08420").to_string(), "1.0842");
        assert_eq!(r("150").to_string(), "150");
        assert_eq!(r("0.000000000001").ratio(), (1, 1_000_000_000_000));
        assert_eq!(
            r("9999999999.999999999999").to_string(),
            "9999999999.999999999999"
        );
    }

    #[test]
    fn bad_rates_are_refused() {
        for bad in [
            "",
            "0",
            "0.000",
            "-1",
            "+1",
            "1e3",
            "1.",
            ".5",
            "abc",
            "1,5",
            " 1",
            "1.0000000000001",
            "12345678901",
        ] {
            assert!(Rate::parse("rate", bad).is_err(), "{bad}");
        }
    }
}
