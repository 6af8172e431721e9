//! A position in the conversion feed, as clients hold it: each `conversionFeed` event carries
//! the cursor of its own position, and `conversionFeed(after:)` resumes right after it.

use crate::error::{AppError, AppResult};

/// What every cursor of this version starts with. Another layout gets another prefix, so an
/// old cursor is never read as a new one.
const VERSION: &str = "f1_";

/// The position of one feed event: its `feed_events.id` (`ConversionEvent::sequence`), the
/// order every node publishes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedCursor {
    pub sequence: i64,
}

impl FeedCursor {
    /// `f1_<sequence>` in decimal, e.g. `f1_1042`. Clients treat it as opaque.
    pub fn encode(&self) -> String {
        format!("{VERSION}{}", self.sequence)
    }

    /// Reads a cursor written by [`FeedCursor::encode`], and nothing else: this version's
    /// prefix, then a positive sequence in the form `encode` writes (no sign, no leading
    /// zero). Anything else is `BAD_USER_INPUT` naming `field`.
    pub fn decode(field: &str, raw: &str) -> AppResult<Self> {
        let bad = || AppError::invalid(field, "is not a feed cursor this server issued");
        let digits = raw.strip_prefix(VERSION).ok_or_else(bad)?;
        let sequence: i64 = digits.parse().map_err(|_| bad())?;
        let cursor = FeedCursor { sequence };
        if sequence < 1 || cursor.encode() != raw {
            return Err(bad());
        }
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let cursor = FeedCursor { sequence: 1042 };
        assert_eq!(cursor.encode(), "f1_1042");
        assert_eq!(FeedCursor::decode("after", "f1_1042").unwrap(), cursor);
    }

    #[test]
    fn only_what_encode_writes() {
        for raw in [
            "",
            "f1_",
            "1042",
            "f2_1042",
            "F1_1042",
            "f1_+1042",
            "f1_01042",
            "f1_-5",
            "f1_0",
            "f1_1042 ",
            "f1_99999999999999999999",
            // A cursor of the conversions connection is not a feed cursor.
            "1714557600123456_0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        ] {
            let err = FeedCursor::decode("after", raw).unwrap_err();
            assert_eq!(err.code(), "BAD_USER_INPUT", "{raw:?}");
            assert_eq!(err.field(), Some("after"), "{raw:?}");
        }
    }
}
