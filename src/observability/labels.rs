//! Label values, each from a small fixed set: a label that took a raw path, an id, a workspace
//! or a client's free text would make one series per distinct value, and a client could then
//! grow the server's memory (and Prometheus's) without bound.

use crate::domain::ConversionType;
use axum::http::{Method, StatusCode};

/// `route` of a request that matched no route (404s, scanners): one series for all of them.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// `conversion_type` of every type not listed in `--metrics-conversion-types`.
pub const OTHER_TYPE: &str = "other";

/// `code` of a GraphQL operation that ended without an error.
pub const NO_ERROR: &str = "OK";

/// The status class: `1xx` … `5xx`.
pub fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The method, or `other` for an extension method a client made up.
pub fn method(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// An error code as a label: codes are the server's own (`extensions.code`), but one that
/// does not look like one (upper-case letters and `_`, at most 40) is `OTHER`, so the set
/// stays bounded whatever produced it.
pub fn error_code(code: &str) -> &str {
    let well_formed =
        (1..=40).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
    if well_formed { code } else { "OTHER" }
}

/// The first word of an SQL statement, lower-cased, when it is one of the four kinds the
/// statement histogram tells apart; `other` for anything else (DDL, `WITH`, pragmas).
pub fn statement_kind(sql: &str) -> &'static str {
    let word = sql
        .trim_start()
        .split_ascii_whitespace()
        .next()
        .unwrap_or("");
    ["select", "insert", "update", "delete"]
        .into_iter()
        .find(|kind| word.eq_ignore_ascii_case(kind))
        .unwrap_or("other")
}

/// The conversion types that get a label of their own (`--metrics-conversion-types`); every
/// other type is counted as [`OTHER_TYPE`]. Types are chosen by clients, so they are never
/// labelled as they come: 1,000 distinct types still make `listed + 1` series.
#[derive(Clone, Debug, Default)]
pub struct ConversionTypeLabels {
    listed: Vec<String>,
}

impl ConversionTypeLabels {
    /// At most this many types may be listed.
    pub const MAX_LISTED: usize = 50;

    /// The listed types, each parsed as a conversion type; blank entries are skipped and
    /// duplicates kept once. Errors name the flag.
    pub fn parse(names: &[String]) -> Result<Self, crate::error::AppError> {
        let field = "metrics_conversion_types";
        let mut listed: Vec<String> = Vec::new();
        for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
            let parsed = ConversionType::parse(field, name)?;
            if !listed.iter().any(|l| l == parsed.as_str()) {
                listed.push(parsed.as_str().to_owned());
            }
        }
        if listed.len() > Self::MAX_LISTED {
            return Err(crate::error::AppError::invalid(
                field,
                format!(
                    "at most {} conversion types may be listed",
                    Self::MAX_LISTED
                ),
            ));
        }
        Ok(ConversionTypeLabels { listed })
    }

    /// The label for `conversion_type`: itself when listed, else `other`.
    pub fn label(&self, conversion_type: &str) -> &str {
        self.listed
            .iter()
            .find(|l| *l == conversion_type)
            .map_or(OTHER_TYPE, String::as_str)
    }

    /// Every label these types can produce, `other` included.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        self.listed
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(OTHER_TYPE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_and_methods_are_a_fixed_set() {
        assert_eq!(status_class(StatusCode::SWITCHING_PROTOCOLS), "1xx");
        assert_eq!(status_class(StatusCode::CREATED), "2xx");
        assert_eq!(status_class(StatusCode::NOT_MODIFIED), "3xx");
        assert_eq!(status_class(StatusCode::TOO_MANY_REQUESTS), "4xx");
        assert_eq!(status_class(StatusCode::SERVICE_UNAVAILABLE), "5xx");
        assert_eq!(method(&Method::PATCH), "PATCH");
        assert_eq!(method(&Method::from_bytes(b"BREW").unwrap()), "other");
    }

    #[test]
    fn only_code_shaped_codes_are_labels() {
        assert_eq!(error_code("RATE_LIMITED"), "RATE_LIMITED");
        assert_eq!(error_code("not a code"), "OTHER");
        assert_eq!(error_code(""), "OTHER");
        assert_eq!(error_code(&"A".repeat(41)), "OTHER");
    }

    #[test]
    fn statement_kinds() {
        assert_eq!(statement_kind("  SELECT \"id\" FROM x"), "select");
        assert_eq!(statement_kind("insert into x"), "insert");
        assert_eq!(
            statement_kind("WITH t AS (SELECT 1) SELECT * FROM t"),
            "other"
        );
        assert_eq!(statement_kind(""), "other");
    }

    #[test]
    fn unlisted_conversion_types_are_other() {
        let names = ["sale", " appointment ", "", "sale"].map(str::to_owned);
        let labels = ConversionTypeLabels::parse(&names).unwrap();
        assert_eq!(labels.label("sale"), "sale");
        assert_eq!(labels.label("appointment"), "appointment");
        assert_eq!(labels.label("type_999"), OTHER_TYPE);
        assert_eq!(
            labels.all().collect::<Vec<_>>(),
            ["sale", "appointment", "other"]
        );
        assert!(ConversionTypeLabels::parse(&["Not A Type".to_owned()]).is_err());
        let many: Vec<String> = (0..=50).map(|i| format!("t{i}")).collect();
        assert!(ConversionTypeLabels::parse(&many).is_err());
    }
}
