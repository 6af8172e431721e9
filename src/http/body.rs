//! Request parsing for the REST shims, with errors that name the offending field.
//!
//! A JSON body is read as a map of field name → raw JSON text. That gives each field its own
//! error, rejects unknown fields (a typo must not be dropped silently), and keeps the exact
//! literal of money (`18500.50`) instead of passing it through a float.

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
    /// Splits the body into fields, refusing any name not in `allowed`.
    pub fn fields(&self, allowed: &[&str]) -> AppResult<Fields> {
        let text = std::str::from_utf8(&self.0)
            .map_err(|_| AppError::malformed(None, "the body is not valid UTF-8"))?;
        let raw: Box<RawValue> = serde_json::from_str(text).map_err(|e| {
            AppError::malformed(None, format!("malformed JSON: {}", serde_detail(&e)))
        })?;
        let fields: BTreeMap<String, Box<RawValue>> = serde_json::from_str(raw.get())
            .map_err(|_| AppError::malformed(None, "the body must be a JSON object"))?;
        Fields::checked(fields, allowed)
    }
}

impl Fields {
    /// The fields of a JSON object nested in a request (one item of a batch).
    pub fn of_object(raw: &RawValue, allowed: &[&str]) -> AppResult<Fields> {
        let fields: BTreeMap<String, Box<RawValue>> = serde_json::from_str(raw.get())
            .map_err(|_| AppError::invalid("", "each item must be a JSON object"))?;
        Fields::checked(fields, allowed)
    }

    fn checked(fields: BTreeMap<String, Box<RawValue>>, allowed: &[&str]) -> AppResult<Fields> {
        if let Some(unknown) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(AppError::invalid(
                unknown,
                format!("unknown field; expected one of: {}", allowed.join(", ")),
            ));
        }
        Ok(Fields(fields))
    }
}

/// The fields of one JSON object.
pub struct Fields(BTreeMap<String, Box<RawValue>>);

impl Fields {
    /// A field holding a JSON array, as its raw items.
    pub fn items(&self, name: &str) -> AppResult<Vec<Box<RawValue>>> {
        self.opt::<Vec<Box<RawValue>>>(name)?
            .ok_or_else(|| AppError::invalid(name, "is required"))
    }

    fn raw(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|r| r.get()).filter(|r| *r != "null")
    }

    /// An optional field of type `T`; `null` counts as absent.
    pub fn opt<T: DeserializeOwned>(&self, name: &str) -> AppResult<Option<T>> {
        self.raw(name)
            .map(|raw| {
                serde_json::from_str(raw).map_err(|e| {
                    AppError::invalid(name, format!("has the wrong type: {}", serde_detail(&e)))
                })
            })
            .transpose()
    }

    pub fn req<T: DeserializeOwned>(&self, name: &str) -> AppResult<T> {
        self.opt(name)?
            .ok_or_else(|| AppError::invalid(name, "is required"))
    }

    /// An id given as a JSON number (`123456`) or string (`"123456"`), as text.
    pub fn id(&self, name: &str) -> AppResult<Option<String>> {
        self.raw(name)
            .map(|raw| match serde_json::from_str::<String>(raw) {
                Ok(text) => Ok(text),
                Err(_) if raw.bytes().all(|b| b.is_ascii_digit() || b == b'-') => {
                    Ok(raw.to_owned())
                }
                Err(_) => Err(AppError::invalid(name, "must be an integer id")),
            })
            .transpose()
    }

    pub fn req_id(&self, name: &str) -> AppResult<String> {
        self.id(name)?
            .ok_or_else(|| AppError::invalid(name, "is required"))
    }

    /// An amount exactly as written: a JSON number's literal text, or a decimal string.
    pub fn amount(&self, name: &str) -> AppResult<Option<String>> {
        self.raw(name)
            .map(|raw| match raw.as_bytes().first() {
                Some(b'"') => serde_json::from_str::<String>(raw)
                    .map_err(|_| AppError::invalid(name, "must be a decimal number")),
                Some(b) if b.is_ascii_digit() || *b == b'-' => Ok(raw.to_owned()),
                _ => Err(AppError::invalid(name, "must be a decimal number")),
            })
            .transpose()
    }
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

    /// An integer parameter from 1 to `max`, `default` when absent.
    pub fn bounded(&mut self, name: &str, default: u64, max: u64) -> AppResult<u64> {
        // Not a number at all reads like a number out of range: one message for both.
        let requested = self.get(name).map(|raw| raw.parse::<i64>().unwrap_or(0));
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
            if map.insert(name.clone(), value).is_some() {
                return Err(AppError::invalid(&name, "is given more than once"));
            }
        }
        Ok(Params(map))
    }
}
