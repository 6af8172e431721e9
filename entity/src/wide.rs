//! Money totals wider than one BIGINT, stored in two: `total = high × 2³² + low` with
//! `0 ≤ low < 2³²`. Both databases add two such pairs exactly in SQL (the low halves sum
//! below 2³³, the carry moves into `high`), and `SUM` over thousands of rows stays far inside
//! 64 bits for each half. `high` grows by at most 2¹⁸ per conversion (amounts are below 2⁵⁰
//! minor units), so it would take some 2⁴⁵ maximum-value conversions in one total to fill it.

/// Bits held by the low half. An `i32`: PostgreSQL shifts a BIGINT only by an INTEGER.
pub const LOW_BITS: i32 = 32;

/// `2³² − 1`: the low half's mask.
pub const LOW_MASK: i64 = (1 << LOW_BITS) - 1;

/// `(high, low)` of a non-negative total; `None` if it needs more than 95 bits.
pub fn split(total: i128) -> Option<(i64, i64)> {
    if total < 0 {
        return None;
    }
    let high = i64::try_from(total >> LOW_BITS).ok()?;
    let low = (total & i128::from(LOW_MASK)) as i64;
    Some((high, low))
}

/// `(high, low)` of a change to a total, which may be negative: `high` carries the sign
/// (`-1` is `(-1, 2³² − 1)`), and adding both halves to a stored pair, the carry of the low
/// halves moved up, leaves the pair of the changed total. `None` beyond 96 bits.
pub fn split_signed(change: i128) -> Option<(i64, i64)> {
    let high = i64::try_from(change >> LOW_BITS).ok()?;
    let low = (change & i128::from(LOW_MASK)) as i64;
    Some((high, low))
}

/// The total a `(high, low)` pair stands for. Also exact for sums of pairs, whose low part
/// may exceed `LOW_MASK`.
pub fn join(high: i64, low: i64) -> i128 {
    (i128::from(high) << LOW_BITS) + i128::from(low)
}

impl crate::contact::Model {
    /// The contact's lifetime value in minor units.
    pub fn lifetime_value_minor(&self) -> i128 {
        join(self.lifetime_value_high, self.lifetime_value_low)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_then_join_is_the_identity() {
        for total in [0, 1, LOW_MASK as i128, 1 << 32, i64::MAX as i128, 1 << 90] {
            let (high, low) = split(total).unwrap();
            assert!((0..=LOW_MASK).contains(&low));
            assert_eq!(join(high, low), total);
        }
        assert_eq!(split(-1), None);
        assert_eq!(split(1 << 100), None);
    }

    #[test]
    fn a_negative_change_added_by_halves_leaves_the_difference() {
        let stored = split(5_000_000_000).unwrap();
        let change = split_signed(-4_999_999_999).unwrap();
        assert_eq!(change, (-2, (1 << 33) - 4_999_999_999));
        // As SQL adds them: the low halves' sum masked, its carry moved into the high half.
        let low = stored.1 + change.1;
        let pair = (stored.0 + change.0 + (low >> LOW_BITS), low & LOW_MASK);
        assert_eq!(pair, (0, 1));
        assert_eq!(
            join(split_signed(-1).unwrap().0, split_signed(-1).unwrap().1),
            -1
        );
    }

    #[test]
    fn sums_of_halves_join_to_the_sum() {
        let a = split(i64::MAX as i128).unwrap();
        let b = split(i64::MAX as i128 + 12345).unwrap();
        assert_eq!(join(a.0 + b.0, a.1 + b.1), 2 * i64::MAX as i128 + 12345);
    }
}
