//! Identifiers and names that arrive as untrusted text.

use crate::error::AppError;
use std::fmt;

/// A workspace id such as `workspace_123` or `salesforce_prod`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkspaceId(String);

impl WorkspaceId {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let ok = (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if ok {
            Ok(WorkspaceId(raw.to_owned()))
        } else {
            Err(AppError::invalid(
                field,
                "must be 1 to 64 characters of letters, digits, '_', '-' or '.'",
            ))
        }
    }

    /// Wraps an id read back from the database, where it was validated on the way in.
    pub fn from_trusted(raw: String) -> Self {
        WorkspaceId(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The largest id a client may choose for a new contact or lead (15 digits).
pub const CLIENT_ID_MAX: i64 = 999_999_999_999_999;
/// The first id convio assigns to a contact or lead created without one.
pub const ASSIGNED_ID_MIN: i64 = CLIENT_ID_MAX + 1;
/// The last id convio assigns: 2^53 − 1, so every id convio issues or accepts for a new row is
/// exact as a JavaScript number (REST writes ids as JSON numbers).
pub const ASSIGNED_ID_MAX: i64 = (1 << 53) - 1;

const CLIENT_RANGE_RULE: &str =
    "must be at most 999999999999999 when you choose it: larger ids are assigned by convio";

macro_rules! int_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl $name {
            /// Parses a positive 64-bit id given as text (GraphQL `ID`, URL path, query string).
            pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
                match raw.trim().parse::<i64>() {
                    Ok(n) => Self::new(field, n),
                    Err(_) => Err(AppError::invalid(field, "must be a positive 64-bit integer id")),
                }
            }

            pub fn new(field: &str, n: i64) -> Result<Self, AppError> {
                if n > 0 {
                    Ok($name(n))
                } else {
                    Err(AppError::invalid(field, "must be a positive 64-bit integer id"))
                }
            }

            /// Checks an id a client chose for a new row: it must lie in the client range
            /// (`1..=CLIENT_ID_MAX`), below every id convio assigns.
            pub fn client_chosen(self, field: &str) -> Result<Self, AppError> {
                if self.0 <= CLIENT_ID_MAX {
                    Ok(self)
                } else {
                    Err(AppError::invalid(field, CLIENT_RANGE_RULE))
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

int_id!(
    /// A contact id (64-bit; integrators bring their own, such as 123456).
    ContactId
);
int_id!(
    /// A lead id (64-bit; the plan's example 1234567890 is already near the 32-bit limit).
    LeadId
);

/// A conversion type: `sale`, `appointment`, `qualified`, or any other lowercase identifier.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConversionType(String);

impl ConversionType {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let mut bytes = raw.bytes();
        let ok = raw.len() <= 64
            && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
            && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(ConversionType(raw.to_owned()))
        } else {
            Err(AppError::invalid(
                field,
                "must be a lowercase identifier such as sale, appointment or qualified",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Short free text that must be present: an agent or owner id, a name.
pub fn required_text(field: &str, raw: &str, max_chars: usize) -> Result<String, AppError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(AppError::invalid(field, "must not be empty"));
    }
    optional_text(field, trimmed, max_chars)
}

/// Short free text; checked for length and control characters.
pub fn optional_text(field: &str, raw: &str, max_chars: usize) -> Result<String, AppError> {
    if raw.chars().count() > max_chars {
        return Err(AppError::invalid(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(raw.trim().to_owned())
}

/// A client-chosen key that makes a write safe to retry (the `Idempotency-Key` header).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let ok = (1..=255).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(IdempotencyKey(raw.to_owned()))
        } else {
            Err(AppError::invalid(
                field,
                "must be 1 to 255 visible ASCII characters (a UUID is a good choice)",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_ids() {
        assert!(WorkspaceId::parse("w", "workspace_123").is_ok());
        assert!(WorkspaceId::parse("w", "sales.team-1").is_ok());
        for bad in ["", "a b", "x'; drop table", &"a".repeat(65)] {
            assert!(WorkspaceId::parse("w", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn int_ids() {
        assert_eq!(ContactId::parse("c", "123456").unwrap().0, 123456);
        assert_eq!(LeadId::parse("l", "1234567890").unwrap().0, 1_234_567_890);
        assert_eq!(
            LeadId::parse("l", "9007199254740993").unwrap().0,
            9_007_199_254_740_993
        );
        for bad in ["0", "-5", "1.5", "abc", "99999999999999999999"] {
            assert!(ContactId::parse("c", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_ids_stay_below_the_assigned_range() {
        assert!(ContactId(1).client_chosen("id").is_ok());
        assert!(LeadId(CLIENT_ID_MAX).client_chosen("id").is_ok());
        for taken in [ASSIGNED_ID_MIN, ASSIGNED_ID_MAX, i64::MAX] {
            assert!(ContactId(taken).client_chosen("id").is_err(), "{taken}");
            assert!(LeadId(taken).client_chosen("id").is_err(), "{taken}");
        }
        assert_eq!(ASSIGNED_ID_MAX, 9_007_199_254_740_991);
    }

    #[test]
    fn conversion_types() {
        for good in ["sale", "appointment", "qualified", "demo_booked", "tier2"] {
            assert!(ConversionType::parse("t", good).is_ok(), "{good}");
        }
        for bad in ["", "Sale", "sale!", "2x", "with space", &"a".repeat(65)] {
            assert!(ConversionType::parse("t", bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Validators are total: arbitrary text is accepted or refused, never a panic, and
        /// what they accept obeys the documented shape.
        #[test]
        fn validators_never_panic_and_accept_only_their_shape(text in "\\PC{0,80}") {
            if let Ok(id) = WorkspaceId::parse("w", &text) {
                prop_assert!(id.as_str().len() <= 64 && !id.as_str().is_empty());
            }
            if let Ok(t) = ConversionType::parse("t", &text) {
                prop_assert!(t.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
            }
            if let Ok(id) = ContactId::parse("c", &text) {
                prop_assert!(id.0 > 0);
            }
            if let Ok(key) = IdempotencyKey::parse("k", &text) {
                prop_assert!(key.as_str().bytes().all(|b| b.is_ascii_graphic()));
            }
            let _ = required_text("x", &text, 255);
        }
    }
}
