//! Free-form JSON that workspaces attach to conversions and contacts, bounded so that one
//! request cannot store megabytes or nest deep enough to hurt a parser downstream.

use super::numbers::inexact_number_in_json;
use crate::error::AppError;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

pub const MAX_BYTES: usize = 16 * 1024;
pub const MAX_DEPTH: usize = 8;

/// Top-level keys whose name starts with this hold sensitive values: they are encrypted at
/// rest and shown only to authorised readers (docs/security.md). A naming convention rather
/// than a setting, so an integrator marks a value sensitive where it sends it, and every
/// node and both APIs agree without configuration.
pub const SENSITIVE_PREFIX: &str = "secret_";

/// Whether the value under this top-level key is sensitive.
pub fn is_sensitive(key: &str) -> bool {
    key.starts_with(SENSITIVE_PREFIX)
}

/// A JSON object within the size and depth limits.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomData(Map<String, Value>);

impl CustomData {
    /// [`CustomData::parse`] for an optional field, where `null` reads as absent.
    pub fn parse_optional(field: &str, value: Option<Value>) -> Result<Option<Self>, AppError> {
        value
            .filter(|v| !v.is_null())
            .map(|v| CustomData::parse(field, v))
            .transpose()
    }

    /// [`CustomData::parse_optional`] from the JSON text exactly as the client wrote it (a REST
    /// body), so that a number a double cannot hold is refused instead of silently changed.
    pub fn parse_literal(field: &str, raw: Option<&RawValue>) -> Result<Option<Self>, AppError> {
        let Some(raw) = raw else { return Ok(None) };
        if let Some(number) = inexact_number_in_json(raw.get()) {
            return Err(AppError::invalid(
                field,
                format!(
                    "holds the number {number}, which cannot be kept exactly (JSON numbers are \
                     stored as 64-bit integers or doubles); send it as a string"
                ),
            ));
        }
        let value: Value = serde_json::from_str(raw.get())
            .map_err(|_| AppError::invalid(field, "must be a JSON object"))?;
        CustomData::parse_optional(field, Some(value))
    }

    pub fn parse(field: &str, value: Value) -> Result<Self, AppError> {
        let Value::Object(map) = value else {
            return Err(AppError::invalid(field, "must be a JSON object"));
        };
        if holds_nul(&map) {
            return Err(AppError::invalid(
                field,
                "must not contain the character U+0000 in any key or string",
            ));
        }
        if 1 + map.values().map(depth).max().unwrap_or(0) > MAX_DEPTH {
            return Err(AppError::invalid(
                field,
                format!("must not nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        let size = serde_json::to_vec(&map).map_or(usize::MAX, |v| v.len());
        if size > MAX_BYTES {
            return Err(AppError::invalid(
                field,
                format!("must not exceed {MAX_BYTES} bytes of JSON"),
            ));
        }
        Ok(CustomData(map))
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// Whether any key or string, at any depth, holds U+0000: one rule for both databases
/// (SQLite would store it, PostgreSQL refuses it).
fn holds_nul(map: &Map<String, Value>) -> bool {
    fn value_holds(value: &Value) -> bool {
        match value {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().any(value_holds),
            Value::Object(map) => holds_nul(map),
            _ => false,
        }
    }
    map.iter()
        .any(|(key, value)| key.contains('\0') || value_holds(value))
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_is_refused_anywhere() {
        assert!(CustomData::parse("c", json!({ "a": ["x\u{0}"] })).is_err());
        assert!(CustomData::parse("c", json!({ "a\u{0}": 1 })).is_err());
    }

    #[test]
    fn accepts_plan_example() {
        let data =
            json!({"product": "solar_panel_system", "term_months": 240, "commission_rate": 0.05});
        assert!(CustomData::parse("custom_data", data).is_ok());
    }

    #[test]
    fn rejects_non_objects_deep_and_large() {
        assert!(CustomData::parse("c", json!([1, 2])).is_err());
        assert!(CustomData::parse("c", json!("x")).is_err());
        let mut deep = json!(1);
        for _ in 0..9 {
            deep = json!({ "a": deep });
        }
        assert!(CustomData::parse("c", deep).is_err());
        let big = json!({ "notes": "x".repeat(MAX_BYTES) });
        assert!(CustomData::parse("c", big).is_err());
    }
}
