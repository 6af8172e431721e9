//! Figures in a reporting currency, exact: the rule for converting between currencies.
//!
//! Each conversion's value is converted exactly (value × rate, a rational) and the converted
//! values are summed exactly, as integers over one common denominator (10¹⁵ minor units of the
//! reporting currency: rates have at most 12 decimal places and minor units at most 3). The
//! total is rounded once, at the end, half to even, into the reporting currency's minor
//! units; an average is the exact total ÷ the valued conversions, rounded half away from zero
//! as averages always were. Sums of sums (a week of days, all workspaces) add the exact
//! values, so they round the same whichever way they are grouped.
//!
//! A valued conversion whose currency has no rate to the reporting currency on its date is
//! never counted as 0: it stays in its currency's figures (`by_currency`), the converted
//! total and average of every figure it is part of are unknown (`None`), and the answer
//! names its currency among the missing rates.

use super::analytics::Tally;
use crate::domain::{Currency, Rate};
use num_bigint::BigInt;
use num_traits::{Signed, Zero};
use std::collections::BTreeMap;

/// Decimal digits of the common denominator: 12 rate places + 3 minor-unit places.
const SCALE_DIGITS: u32 = 15;

fn pow10(n: u32) -> BigInt {
    BigInt::from(10_u64).pow(n)
}

/// One group's conversions in a reporting currency, and per currency as logged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// Conversions of every currency.
    pub conversions: u64,
    /// Conversions that carry a value, of every currency.
    pub valued: u64,
    /// Valued conversions that could not be converted (no rate): while any, the total and
    /// average are unknown.
    pub unpriced: u64,
    /// Σ converted values, in reporting minor units × 10¹⁵, exact.
    exact: BigInt,
    /// Each currency's own figures: count, exact total in its minor units, valued.
    pub by_currency: BTreeMap<String, Tally>,
}

impl Figures {
    /// Adds a currency's conversions, not yet converted; `native` says they are in the
    /// reporting currency already (their total then counts as it is).
    pub fn record(&mut self, currency: &str, tally: Tally, native: bool) {
        self.conversions += tally.conversions;
        self.valued += tally.valued;
        self.by_currency
            .entry(currency.to_owned())
            .or_default()
            .add(tally);
        if native {
            self.exact += BigInt::from(tally.total_minor) * pow10(SCALE_DIGITS);
        }
    }

    /// Adds the exact conversion of `sum_minor` (minor units of `from`) into `to` at `rate`.
    pub fn convert(&mut self, sum_minor: i128, from: Currency, to: Currency, rate: Rate) {
        let (units, denominator) = rate.ratio();
        // denominator = 10^places, places ≤ 12, so the shift below is never negative.
        let places = denominator.ilog10();
        let shift = SCALE_DIGITS - places + to.exponent() - from.exponent();
        self.exact += BigInt::from(sum_minor) * BigInt::from(units) * pow10(shift);
    }

    /// `n` valued conversions had no rate.
    pub fn unpriced(&mut self, n: u64) {
        self.unpriced += n;
    }

    pub fn add(&mut self, other: &Figures) {
        self.conversions += other.conversions;
        self.valued += other.valued;
        self.unpriced += other.unpriced;
        self.exact += &other.exact;
        for (currency, tally) in &other.by_currency {
            self.by_currency
                .entry(currency.clone())
                .or_default()
                .add(*tally);
        }
    }

    /// The converted total in reporting minor units, rounded half to even; `None` while a
    /// valued conversion could not be converted.
    pub fn total_minor(&self) -> Option<i128> {
        (self.unpriced == 0).then(|| half_even(&self.exact, &pow10(SCALE_DIGITS)))
    }

    /// Converted total ÷ valued conversions, rounded half away from zero; `None` without a
    /// valued conversion or while one could not be converted.
    pub fn average_minor(&self) -> Option<i128> {
        if self.unpriced > 0 || self.valued == 0 {
            return None;
        }
        let d = pow10(SCALE_DIGITS) * BigInt::from(self.valued);
        let n: BigInt = &self.exact * 2 + &d * self.exact.signum();
        Some(clamp(&(n / (d * 2))))
    }
}

/// `n / d` rounded to the nearest integer, ties to the even one (`d` > 0).
fn half_even(n: &BigInt, d: &BigInt) -> i128 {
    let (q, r) = (n / d, n % d);
    let twice = r.abs() * 2;
    let q = if twice > *d || (twice == *d && (&q % 2u8) != BigInt::zero()) {
        q + n.signum()
    } else {
        q
    };
    clamp(&q)
}

/// Totals are far inside 128 bits (each amount below 2⁵⁰ minor units, rates below 10¹⁰).
fn clamp(n: &BigInt) -> i128 {
    i128::try_from(n).unwrap_or(if n.is_negative() {
        i128::MIN
    } else {
        i128::MAX
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> Currency {
        Currency::parse("c", code).unwrap()
    }
    fn r(text: &str) -> Rate {
        Rate::parse("rate", text).unwrap()
    }

    #[test]
    fn converts_exactly_and_rounds_once_half_to_even() {
        // 1 JPY at 0.0065 USD/JPY is 0.65 cents; three of them are 1.95 → 2 cents, where
        // rounding each first would give 3.
        let mut f = Figures::default();
        for _ in 0..3 {
            f.record("JPY", Tally::of(Some(1)), false);
            f.convert(1, c("JPY"), c("USD"), r("0.0065"));
        }
        assert_eq!(f.total_minor(), Some(2));
        // Ties go to even: 0.5 → 0, 1.5 → 2, 2.5 → 2.
        for (yen, cents) in [(50, 0), (150, 2), (250, 2)] {
            let mut f = Figures::default();
            f.convert(yen, c("JPY"), c("USD"), r("0.0001"));
            assert_eq!(f.total_minor(), Some(cents), "{yen} yen");
        }
        // BHD (3 places) into JPY (none): 1.234 BHD at 400.5 = 494.217 → 494.
        let mut f = Figures::default();
        f.convert(1234, c("BHD"), c("JPY"), r("400.5"));
        assert_eq!(f.total_minor(), Some(494));
    }

    #[test]
    fn a_missing_rate_makes_the_total_unknown_not_zero() {
        let mut f = Figures::default();
        f.record("USD", Tally::of(Some(1000)), true);
        f.record("EUR", Tally::of(Some(500)), false);
        f.unpriced(1);
        assert_eq!(f.total_minor(), None);
        assert_eq!(f.average_minor(), None);
        assert_eq!(f.by_currency["EUR"].total_minor, 500);
        assert_eq!(f.conversions, 2);
    }

    #[test]
    fn sums_of_groups_round_like_the_whole() {
        let mut a = Figures::default();
        a.convert(1, c("JPY"), c("USD"), r("0.005")); // 0.5 cent
        let mut b = a.clone();
        b.add(&a);
        b.add(&a); // 1.5 cents → 2
        assert_eq!(b.total_minor(), Some(2));
        assert_eq!(a.total_minor(), Some(0));
    }
}
