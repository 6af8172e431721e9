//! Request parsing for the REST shims, with errors that name the offending field.
//!
//! A JSON body is read as a map of field name → raw JSON text. That gives each field its own
//! error, rejects unknown fields (a typo must not be dropped silently), and keeps the exact
//! literal of money (`18500.50`) instead of passing it through a float.

use crate::domain::Amount;
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, header, request::Parts};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// Whether the body is declared as JSON (`application/json` or any `application/*+json`).
/// Browsers send only form and text types cross-site without a CORS preflight, so refusing
/// everything else also keeps other sites from posting on a user's behalf.
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        })
}

/// A JSON object body, not yet interpreted.
pub struct JsonBody(Bytes);

impl FromRequest<AppState> for JsonBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AppError> {
        if !is_json(req.headers()) {
            return Err(AppError::UnsupportedMediaType(
                "send the body as Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge
            } else {
                AppError::malformed(None, "the request body could not be read")
            }
        })?;
        Ok(JsonBody(bytes))
    }
}

impl JsonBody {
    /// The body as the endpoint's typed input `T` (a `#[serde(deny_unknown_fields)]` struct),
    /// with errors that name the field: unknown, missing, or of the wrong type.
    pub fn parse<T: DeserializeOwned>(&self) -> AppResult<T> {
        let text = std::str::from_utf8(&self.0)
            .map_err(|_| AppError::malformed(None, "the body is not valid UTF-8"))?;
        // Checked as JSON first, so a syntax error reads as one wherever it is.
        let raw: &RawValue = serde_json::from_str(text).map_err(|e| {
            AppError::malformed(None, format!("malformed JSON: {}", serde_detail(&e)))
        })?;
        if !raw.get().starts_with('{') {
            return Err(AppError::malformed(None, "the body must be a JSON object"));
        }
        parse_object(raw)
    }
}

/// A JSON object (a body, or one item of a batch) as `T`. An error names the field. Callers
/// refuse what is not an object first, each in its own words (`JsonBody::parse`, the batch
/// envelope).
pub fn parse_object<T: DeserializeOwned>(raw: &RawValue) -> AppResult<T> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let detail = serde_detail(err.inner());
        let field = match err.path().iter().next() {
            Some(serde_path_to_error::Segment::Map { key }) => key.clone(),
            _ => String::new(),
        };
        if let Some(missing) = detail
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            return AppError::invalid(missing, "is required");
        }
        if let Some(expected) = detail.split_once(", expected one of ").map(|(_, e)| e)
            && detail.starts_with("unknown field")
        {
            let expected = expected.replace('`', "");
            return AppError::invalid(
                &field,
                format!("unknown field; expected one of: {expected}"),
            );
        }
        if detail.starts_with("invalid type") || detail.starts_with("invalid value") {
            return AppError::invalid(&field, format!("has the wrong type: {detail}"));
        }
        AppError::invalid(&field, detail)
    })
}

/// An id sent as a JSON integer (`123456`) or string (`"123456"`): its text, for the domain's
/// id type to parse.
#[derive(Debug)]
pub struct IdText(pub String);

impl<'de> serde::Deserialize<'de> for IdText {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = IdText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer id")
            }
            fn visit_u64<E>(self, v: u64) -> Result<IdText, E> {
                Ok(IdText(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<IdText, E> {
                Ok(IdText(v.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<IdText, E> {
                Ok(IdText(v.to_owned()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<IdText, E> {
                whole(v).map(|n| IdText(n.to_string())).ok_or_else(|| {
                    E::invalid_value(serde::de::Unexpected::Float(v), &"an integer id")
                })
            }
        }
        de.deserialize_any(Visitor)
    }
}

/// `v` as an integer when it is one that a double holds exactly (`25.0`, not `25.5`, and at
/// most 2⁵³ in size): JSON, and JSON Schema's `integer`, do not tell `25` from `25.0`.
fn whole(v: f64) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    (v.fract() == 0.0 && v.abs() <= EXACT).then_some(v as i64)
}

/// A count sent as a JSON integer (`1000`, or `1000.0`, the same number in JSON).
#[derive(Clone, Copy, Debug)]
pub struct Count(pub u32);

impl<'de> serde::Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Count;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer from 0 to 4294967295")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Count, E> {
                u32::try_from(v)
                    .map(Count)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Count, E> {
                u32::try_from(v)
                    .map(Count)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Count, E> {
                whole(v)
                    .and_then(|n| u32::try_from(n).ok())
                    .map(Count)
                    .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Float(v), &self))
            }
        }
        de.deserialize_any(Visitor)
    }
}

/// In the OpenAPI document: the component `IntegerId`.
impl utoipa::PartialSchema for IdText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        crate::http::openapi::integer_id()
    }
}

impl utoipa::ToSchema for IdText {
    fn name() -> std::borrow::Cow<'static, str> {
        "IntegerId".into()
    }
}

/// An amount exactly as written: a JSON number's literal text, or a decimal string.
pub fn amount(field: &str, raw: Option<Box<RawValue>>) -> AppResult<Option<Amount>> {
    raw.map(|raw| {
        let raw = raw.get();
        match raw.as_bytes().first() {
            Some(b'"') => serde_json::from_str::<String>(raw)
                .map_err(|_| AppError::invalid(field, "must be a decimal number"))
                .and_then(|text| Amount::parse(field, &text)),
            Some(b) if b.is_ascii_digit() || *b == b'-' => Amount::parse(field, raw),
            _ => Err(AppError::invalid(field, "must be a decimal number")),
        }
    })
    .transpose()
}

/// A serde message without the line/column suffix, which means nothing per field.
fn serde_detail(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Query-string parameters, checked against the names an endpoint accepts.
pub struct Params(BTreeMap<String, String>);

impl Params {
    pub fn get(&mut self, name: &str) -> Option<String> {
        self.0.remove(name).filter(|v| !v.is_empty())
    }

    /// An integer parameter from 1 to `max`, `default` when absent. Given empty (`limit=`) it
    /// is not an integer, as the OpenAPI schema says, and is refused like any other.
    pub fn bounded(&mut self, name: &str, default: u64, max: u64) -> AppResult<u64> {
        // Not a number at all reads like a number out of range: one message for both.
        let requested = self
            .0
            .remove(name)
            .map(|raw| raw.parse::<i64>().unwrap_or(0));
        crate::domain::page_size(name, requested, default, max)
    }

    /// Call after taking every known parameter: anything left over is unknown.
    pub fn finish(self, allowed: &[&str]) -> AppResult<()> {
        match self.0.keys().next() {
            Some(unknown) => Err(AppError::invalid(
                unknown,
                format!(
                    "unknown query parameter; expected one of: {}",
                    allowed.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| AppError::malformed(None, "malformed query string"))?;
        let mut map = BTreeMap::new();
        for (name, value) in pairs {
            // No parameter is free to hold control characters; U+0000 alone would be a 500 on
            // PostgreSQL and stored on SQLite.
            if value.chars().any(char::is_control) {
                return Err(AppError::invalid(
                    &name,
                    "must not contain control characters",
                ));
            }
            if map.insert(name.clone(), value).is_some() {
                return Err(AppError::invalid(&name, "is given more than once"));
            }
        }
        Ok(Params(map))
    }
}
