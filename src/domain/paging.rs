//! How many items one page may hold: the same rule for REST `limit` and GraphQL `first`.

use crate::error::AppError;

/// `requested` items (or `default` when absent), refused outside 1..=`max` rather than
/// silently clamped, so a client learns its page is not the size it asked for.
pub fn page_size(
    field: &str,
    requested: Option<i64>,
    default: u64,
    max: u64,
) -> Result<u64, AppError> {
    match requested {
        None => Ok(default),
        Some(n) => u64::try_from(n)
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| AppError::invalid(field, format!("must be an integer from 1 to {max}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::page_size;

    #[test]
    fn pages_are_bounded_not_clamped() {
        assert_eq!(page_size("first", None, 50, 200).unwrap(), 50);
        assert_eq!(page_size("first", Some(200), 50, 200).unwrap(), 200);
        for bad in [0, -1, 201] {
            assert!(page_size("first", Some(bad), 50, 200).is_err(), "{bad}");
        }
    }
}
