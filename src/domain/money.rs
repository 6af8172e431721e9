//! Exact money: integer minor units plus an ISO 4217 currency. Amounts are parsed from and
//! formatted to decimal text, never through floating point.

use super::amount::Amount;
use crate::error::AppError;
use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

/// The largest accepted amount, in major units. Far above any real deal, far below `i64::MAX`
/// minor units, so sums of many amounts cannot overflow.
pub(super) const MAX_MAJOR_UNITS: i64 = 1_000_000_000_000;

/// The ISO 4217 currencies accepted, by the decimal places of their minor unit (list one of
/// the standard, as published in 2025, plus codes withdrawn since 2020 — ANG, CUC, HRK, SLL,
/// ZWL — so that older sales can be backfilled).
///
/// A table in our code rather than a crate: we need only the codes and their exponents, the
/// list changes a few times a decade, and a one-line change here is easier to review than a
/// dependency bump. Left out on purpose: precious metals, SDR and testing codes (XAU, XDR,
/// XTS, XXX …), which have no minor unit, and the two four-place units of account (CLF, UYW),
/// which no one sells in and which would break the bound every total relies on: an amount is
/// at most 10¹² major units, below 2⁵⁰ minor units with three places or fewer.
pub const ISO_4217: [(u32, &str); 3] = [
    (
        0,
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
    ),
    (
        2,
        "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN \
         BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN \
         ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IRR JMD \
         KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR \
         MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB \
         SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY \
         TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL",
    ),
    (3, "BHD IQD JOD KWD LYD OMR TND"),
];

/// [`ISO_4217`] by code: views parse the stored code of every amount they format, so a
/// dashboard's answer looks up thousands.
static EXPONENTS: LazyLock<HashMap<[u8; 3], u32>> = LazyLock::new(|| {
    ISO_4217
        .iter()
        .flat_map(|(exponent, codes)| {
            codes.split_whitespace().filter_map(move |code| {
                let code: [u8; 3] = code.as_bytes().try_into().ok()?;
                Some((code, *exponent))
            })
        })
        .collect()
});

/// An ISO 4217 currency and the number of decimal places its minor unit has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Currency {
    code: [u8; 3],
    exponent: u32,
}

impl Currency {
    pub const USD: Currency = Currency {
        code: *b"USD",
        exponent: 2,
    };

    /// Parses an ISO 4217 code (`USD`, `JPY`, `BHD`). Errors name `field`: not three
    /// uppercase letters, or not a currency of [`ISO_4217`].
    pub fn parse(field: &str, code: &str) -> Result<Self, AppError> {
        let bytes = code.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(AppError::invalid(
                field,
                "must be a three-letter ISO 4217 code such as USD",
            ));
        }
        let key = [bytes[0], bytes[1], bytes[2]];
        let exponent = *EXPONENTS.get(&key).ok_or_else(|| {
            AppError::invalid(field, format!("{code} is not an ISO 4217 currency code"))
        })?;
        Ok(Currency {
            code: key,
            exponent,
        })
    }

    pub fn code(&self) -> &str {
        // The bytes were checked to be ASCII uppercase letters on construction.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    pub fn exponent(&self) -> u32 {
        self.exponent
    }

    fn scale(&self) -> i64 {
        10_i64.pow(self.exponent)
    }

    /// Parses a plain decimal (`25000`, `18500.50`) into minor units of this currency; see
    /// [`Amount::parse`] and [`Amount::minor_units`] for what is refused.
    pub fn parse_amount(&self, field: &str, text: &str) -> Result<i64, AppError> {
        Amount::parse(field, text)?.minor_units(field, *self)
    }

    /// Formats minor units as a decimal with exactly this currency's places: `2500000` → `25000.00`.
    /// Exact for 128-bit sums as well as single amounts.
    pub fn format_amount(&self, minor: impl Into<i128>) -> String {
        let minor: i128 = minor.into();
        let sign = if minor < 0 { "-" } else { "" };
        let abs = minor.unsigned_abs();
        if self.exponent == 0 {
            return format!("{sign}{abs}");
        }
        let scale = self.scale() as u128;
        format!(
            "{sign}{}.{:0width$}",
            abs / scale,
            abs % scale,
            width = self.exponent as usize
        )
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An exact amount of money.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    /// The amount as decimal text with the currency's places.
    pub fn to_decimal_string(&self) -> String {
        self.currency.format_amount(self.minor)
    }

    /// `total / count` in minor units, rounded half away from zero; `None` for no items.
    /// Amounts are never negative, so "away from zero" is "up".
    pub fn average_minor(total_minor: impl Into<i128>, count: u64) -> Option<i128> {
        if count == 0 {
            return None;
        }
        let count = i128::from(count);
        Some((2 * total_minor.into() + count) / (2 * count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(text: &str) -> Result<i64, AppError> {
        Currency::USD.parse_amount("v", text)
    }

    #[test]
    fn parses_exact_amounts() {
        assert_eq!(usd("25000").unwrap(), 2_500_000);
        assert_eq!(usd("18500.50").unwrap(), 1_850_050);
        assert_eq!(usd("18500.5").unwrap(), 1_850_050);
        assert_eq!(usd("0.01").unwrap(), 1);
        assert_eq!(usd("10.100").unwrap(), 1010);
        assert_eq!(usd("1000000000000").unwrap(), 100_000_000_000_000);
    }

    #[test]
    fn rejects_bad_amounts() {
        for bad in [
            "-1",
            "10.001",
            "1e5",
            "",
            ".5",
            "5.",
            "abc",
            "NaN",
            "inf",
            "1000000000000.01",
            "99999999999999999999",
        ] {
            assert!(usd(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn formats_with_currency_places() {
        assert_eq!(Currency::USD.format_amount(2_500_000), "25000.00");
        assert_eq!(Currency::USD.format_amount(5), "0.05");
        let jpy = Currency::parse("c", "JPY").unwrap();
        assert_eq!(jpy.format_amount(1500), "1500");
        assert!(jpy.parse_amount("v", "1.5").is_err());
        let kwd = Currency::parse("c", "KWD").unwrap();
        assert_eq!(kwd.format_amount(1234), "1.234");
        // Sums beyond 64 bits format exactly.
        let wide = i128::from(i64::MAX) * 1000 + 7;
        assert_eq!(Currency::USD.format_amount(wide), "92233720368547758070.07");
        assert_eq!(jpy.format_amount(wide), "9223372036854775807007");
    }

    #[test]
    fn average_rounds_half_away_from_zero() {
        assert_eq!(Money::average_minor(10, 4), Some(3)); // 2.5 → 3
        assert_eq!(Money::average_minor(10, 3), Some(3)); // 3.33 → 3
        assert_eq!(Money::average_minor(11, 3), Some(4)); // 3.67 → 4
        assert_eq!(Money::average_minor(10, 0), None);
    }

    #[test]
    fn rejects_malformed_currency() {
        assert!(Currency::parse("c", "usd").is_err());
        assert!(Currency::parse("c", "US").is_err());
        assert!(Currency::parse("c", "ZZZ").is_err());
        assert!(Currency::parse("c", "XAU").is_err());
        let exponent = |c| Currency::parse("c", c).unwrap().exponent();
        assert_eq!(
            (exponent("JPY"), exponent("USD"), exponent("BHD")),
            (0, 2, 3)
        );
        let codes: Vec<&str> = ISO_4217
            .iter()
            .flat_map(|(_, c)| c.split_whitespace())
            .collect();
        assert!(codes.iter().all(|c| c.len() == 3), "{codes:?}");
        let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), codes.len(), "a code is listed twice");
        assert_eq!(Currency::parse("c", "EUR").unwrap().code(), "EUR");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any amount we can store formats to text that parses back to the same amount.
        #[test]
        fn format_then_parse_is_the_identity(minor in 0_i64..=100_000_000_000_000) {
            let text = Currency::USD.format_amount(minor);
            prop_assert_eq!(Currency::USD.parse_amount("v", &text).unwrap(), minor);
        }

        /// Parsing never panics, and whatever it accepts is within bounds and exact.
        #[test]
        fn parsing_arbitrary_text_is_total_and_bounded(text in "\\PC{0,40}") {
            if let Ok(minor) = Currency::USD.parse_amount("v", &text) {
                prop_assert!((0..=MAX_MAJOR_UNITS * 100).contains(&minor));
                let canonical = Currency::USD.format_amount(minor);
                prop_assert_eq!(Currency::USD.parse_amount("v", &canonical).unwrap(), minor);
            }
        }

        /// Decimal-looking input: accepted exactly when it has at most two decimals.
        #[test]
        fn decimals_beyond_the_minor_unit_are_refused(whole in 0_u64..1_000_000, frac in "[0-9]{0,6}") {
            let text = if frac.is_empty() { whole.to_string() } else { format!("{whole}.{frac}") };
            let significant = frac.trim_end_matches('0').len();
            prop_assert_eq!(Currency::USD.parse_amount("v", &text).is_ok(), significant <= 2);
        }

        /// Averages never drift more than half a minor unit from the exact quotient.
        #[test]
        fn averages_round_to_the_nearest_minor_unit(total in 0_i64..1_000_000_000_000, count in 1_u64..10_000) {
            let avg = Money::average_minor(total, count).unwrap();
            let exact = total as f64 / count as f64;
            prop_assert!((avg as f64 - exact).abs() <= 0.5 + 1e-6);
        }
    }
}
