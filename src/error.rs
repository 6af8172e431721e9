//! The one error type, and the one place it is mapped to what clients see: GraphQL errors
//! with `extensions.code` (Apollo's codes) and RFC 9457 `application/problem+json` for REST.
//! Internal details are logged here and never leave the process.

use async_graphql::ErrorExtensions;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::{DbErr, SqlErr};
use serde_json::json;

#[derive(Clone, Debug, thiserror::Error)]
pub enum AppError {
    /// The request could not be parsed at all (bad JSON syntax, bad query string).
    #[error("{message}")]
    Malformed {
        field: Option<String>,
        message: String,
    },
    /// Well-formed, but a value breaks a rule. A rule comparing two fields names the other
    /// one as `counterpart`, after the message, so each door can spell it in its own terms.
    #[error("{message}{}", counterpart.as_ref().map(|c| format!(" {c}")).unwrap_or_default())]
    Invalid {
        field: Option<String>,
        message: String,
        counterpart: Option<String>,
    },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("request body is too large")]
    PayloadTooLarge,
    /// The client did not send the whole body within the body-read timeout.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("this endpoint does not accept that method")]
    MethodNotAllowed,
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The contact's personal data was erased (GDPR): it takes no new free-form data, and
    /// `field` is the input that carried some. Nothing was written.
    #[error("the contact's personal data was erased; it takes no new free-form data")]
    Erased { field: String },
    /// A feed cursor (`field`) whose event is past the feed's retention, so the events after
    /// it can no longer all be replayed; `retention` says how long events are kept. Distinct
    /// from `BAD_USER_INPUT`: the cursor was a good one, and the client's way on differs
    /// (re-read with the conversions query, then subscribe afresh).
    #[error(
        "the cursor's event is older than the feed keeps events ({retention}); re-read what you \
         missed with the conversions query, then subscribe without it"
    )]
    CursorExpired { field: String, retention: String },
    /// An idempotency key reused with a different request.
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyConflict,
    /// The workspace used up its hourly requests; the window resets in `retry_after_seconds`.
    #[error("rate limit of {limit} requests per hour exceeded; retry in {retry_after_seconds} s")]
    RateLimited {
        retry_after_seconds: u64,
        limit: u64,
    },
    /// This client address made too many failed authentication attempts: its credentials are
    /// not looked at until the window ends, in `retry_after_seconds`.
    #[error(
        "too many failed authentication attempts from this address; retry in {retry_after_seconds} s"
    )]
    AuthThrottled { retry_after_seconds: u64 },
    /// A stored sensitive value that does not open: altered, copied from another row or key,
    /// or sealed with a key that is no longer configured. The text names the value and why,
    /// never its content, so it may be shown.
    #[error("{0}")]
    Undecryptable(String),
    /// The database could not take the work now: a lock held by another connection or process
    /// outlasted `--db-lock-timeout-ms`, PostgreSQL gave up on a conflict (serialization
    /// failure, deadlock) or has no connection to spare, or no pooled connection came free.
    /// Nothing was written; the same request may be sent again after `retry_after_seconds`.
    #[error("the database is busy; nothing was written, retry in {retry_after_seconds} s")]
    DatabaseBusy { retry_after_seconds: u64 },
    /// Our fault. The text is for the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// A rule broken by one input field (named in snake_case, as REST spells it).
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: (!field.is_empty()).then(|| field.to_owned()),
            message: message.into(),
            counterpart: None,
        }
    }

    /// A rule relating `field` to another input field: "`field`: `message` `counterpart`",
    /// both fields named as the door that received them spells them.
    pub fn invalid_against(field: &str, message: impl Into<String>, counterpart: &str) -> Self {
        AppError::Invalid {
            field: (!field.is_empty()).then(|| field.to_owned()),
            message: message.into(),
            counterpart: Some(counterpart.to_owned()),
        }
    }

    pub fn malformed(field: Option<String>, message: impl Into<String>) -> Self {
        AppError::Malformed {
            field,
            message: message.into(),
        }
    }

    pub fn not_found(what: &str, id: impl std::fmt::Display) -> Self {
        AppError::NotFound(format!("{what} {id} not found"))
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed { .. }
            | Self::Invalid { .. }
            | Self::UnsupportedMediaType(_)
            | Self::MethodNotAllowed => "BAD_USER_INPUT",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::RequestTimeout => "REQUEST_TIMEOUT",
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Conflict(_) => "CONFLICT",
            Self::Erased { .. } => "ERASED",
            Self::CursorExpired { .. } => "CURSOR_EXPIRED",
            Self::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            Self::RateLimited { .. } | Self::AuthThrottled { .. } => "RATE_LIMITED",
            Self::Undecryptable(_) => "UNDECRYPTABLE",
            Self::DatabaseBusy { .. } => "DATABASE_BUSY",
            Self::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Malformed { .. } => StatusCode::BAD_REQUEST,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::Erased { .. } => StatusCode::CONFLICT,
            Self::CursorExpired { .. } => StatusCode::GONE,
            Self::IdempotencyConflict => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } | Self::AuthThrottled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::DatabaseBusy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Undecryptable(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Malformed { field, .. } | Self::Invalid { field, .. } => field.as_deref(),
            Self::Erased { field } | Self::CursorExpired { field, .. } => Some(field),
            _ => None,
        }
    }

    /// What a client may read: the field and the rule, never internals. `name` spells an
    /// input field as the door that received it does (REST's snake_case as is, GraphQL's
    /// camelCase), for the field and for any counterpart the message names.
    fn public_message(&self, name: fn(&str) -> String) -> String {
        let rule = match self {
            Self::Internal(_) => return "internal error".to_owned(),
            Self::Invalid {
                message,
                counterpart: Some(other),
                ..
            } => format!("{message} {}", name(other)),
            _ => self.to_string(),
        };
        match self.field() {
            Some(field) => format!("{}: {rule}", name(field)),
            None => rule,
        }
    }

    /// Seconds after which the same request may succeed (`Retry-After`), for errors that
    /// pass.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            Self::RateLimited {
                retry_after_seconds,
                ..
            }
            | Self::DatabaseBusy {
                retry_after_seconds,
            }
            | Self::AuthThrottled {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            _ => None,
        }
    }

    fn log_if_internal(&self) {
        match self {
            Self::Internal(detail) => tracing::error!(error = %detail, "internal error"),
            Self::DatabaseBusy { .. } => tracing::warn!("database busy: request refused with 503"),
            _ => {}
        }
    }
}

/// How long a client is asked to wait before retrying work the database was too busy for.
pub const DATABASE_BUSY_RETRY_AFTER_SECONDS: u64 = 1;

/// SQLite result codes that mean "another connection holds the lock": SQLITE_BUSY and
/// SQLITE_LOCKED with their extended forms (sqlx reports the extended code).
const SQLITE_BUSY_CODES: [&str; 7] = ["5", "261", "517", "773", "6", "262", "518"];

/// PostgreSQL SQLSTATEs that mean "try again": serialization_failure, deadlock_detected,
/// lock_not_available (lock_timeout), too_many_connections, cannot_connect_now.
const POSTGRES_BUSY_CODES: [&str; 5] = ["40001", "40P01", "55P03", "53300", "57P03"];

/// Whether `err` says the database was busy rather than that the work was wrong: the same
/// request may succeed later, and the failed statement wrote nothing.
fn is_busy(err: &DbErr) -> bool {
    use sea_orm::{ConnAcquireErr, RuntimeErr, sqlx};
    let sqlx_err = match err {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout) => return true,
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match &**sqlx_err {
        sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                SQLITE_BUSY_CODES.contains(&code.as_ref())
            } else if db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                POSTGRES_BUSY_CODES.contains(&code.as_ref())
            } else {
                false
            }
        }
        _ => false,
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                AppError::Conflict("an object with this id already exists".to_owned())
            }
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => AppError::Invalid {
                field: None,
                message: "refers to an object that does not exist".to_owned(),
                counterpart: None,
            },
            _ if is_busy(&err) => AppError::DatabaseBusy {
                retry_after_seconds: DATABASE_BUSY_RETRY_AFTER_SECONDS,
            },
            _ => AppError::Internal(err.to_string()),
        }
    }
}

/// `contact_id` → `contactId`: GraphQL names the same input fields in camelCase.
pub(crate) fn camel_case(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        err.log_if_internal();
        let field = err.field().map(camel_case);
        let mut gql = async_graphql::Error::new(err.public_message(camel_case));
        gql = gql.extend_with(|_, ext| {
            ext.set("code", err.code());
            if let Some(field) = &field {
                ext.set("field", field.as_str());
            }
            if let Some(seconds) = err.retry_after_seconds() {
                ext.set("retryAfterSeconds", seconds);
            }
        });
        gql
    }
}

/// An RFC 9457 problem (`application/problem+json`): the body of every REST error response,
/// and the `error` of one refused item of a batch.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "type": "/problems/bad-user-input", "title": "Unprocessable Entity", "status": 422,
    "detail": "conversion_value: must not be negative", "code": "BAD_USER_INPUT",
    "field": "conversion_value", "request_id": "01JDZ4M8X6Q9V3K2N7B5C1R0TA"
}))]
pub struct Problem {
    /// `/problems/<code in kebab case>`, e.g. `/problems/bad-user-input`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// The HTTP status's reason phrase.
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong, for a person; never internals.
    pub detail: String,
    /// Stable, for programs: `BAD_USER_INPUT`, `UNAUTHENTICATED`, `FORBIDDEN`, `NOT_FOUND`,
    /// `CONFLICT`, `RATE_LIMITED`, `DATABASE_BUSY`, … (docs/api.md lists them all).
    pub code: &'static str,
    /// The input at fault (a body field, query parameter or header), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The server's id of the request, as its log lines and audit entries carry it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl AppError {
    /// The RFC 9457 problem object: the body of an error response, and the `error` of one
    /// item in a batch.
    pub fn problem(&self) -> serde_json::Value {
        self.log_if_internal();
        let status = self.status();
        let code = self.code();
        let problem = Problem {
            type_uri: format!("/problems/{}", code.to_lowercase().replace('_', "-")),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.public_message(str::to_owned),
            code,
            field: self.field().map(str::to_owned),
            request_id: crate::request_id::current(),
        };
        serde_json::to_value(problem).unwrap_or_else(|_| json!({ "code": code }))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, axum::Json(self.problem())).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"convio\""),
            );
        }
        if let Some(seconds) = self.retry_after_seconds() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        let cases = [
            (AppError::invalid("x", "bad"), "BAD_USER_INPUT", 422),
            (AppError::malformed(None, "bad"), "BAD_USER_INPUT", 400),
            (
                AppError::UnsupportedMediaType("json".into()),
                "BAD_USER_INPUT",
                415,
            ),
            (AppError::PayloadTooLarge, "PAYLOAD_TOO_LARGE", 413),
            (AppError::RequestTimeout, "REQUEST_TIMEOUT", 408),
            (
                AppError::Unauthenticated("no".into()),
                "UNAUTHENTICATED",
                401,
            ),
            (AppError::Forbidden("no".into()), "FORBIDDEN", 403),
            (AppError::not_found("contact", 1), "NOT_FOUND", 404),
            (AppError::Conflict("taken".into()), "CONFLICT", 409),
            (
                AppError::Erased {
                    field: "custom_data".into(),
                },
                "ERASED",
                409,
            ),
            (
                AppError::CursorExpired {
                    field: "after".into(),
                    retention: "7 days".into(),
                },
                "CURSOR_EXPIRED",
                410,
            ),
            (AppError::IdempotencyConflict, "IDEMPOTENCY_CONFLICT", 422),
            (
                AppError::Undecryptable("custom_data.secret_x cannot be decrypted".into()),
                "UNDECRYPTABLE",
                500,
            ),
            (
                AppError::RateLimited {
                    retry_after_seconds: 60,
                    limit: 3,
                },
                "RATE_LIMITED",
                429,
            ),
            (
                AppError::DatabaseBusy {
                    retry_after_seconds: 1,
                },
                "DATABASE_BUSY",
                503,
            ),
            (
                AppError::AuthThrottled {
                    retry_after_seconds: 60,
                },
                "RATE_LIMITED",
                429,
            ),
            (
                AppError::Internal("SELECT secret".into()),
                "INTERNAL_SERVER_ERROR",
                500,
            ),
        ];
        for (err, code, status) in cases {
            assert_eq!(err.code(), code);
            assert_eq!(err.status().as_u16(), status);
        }
    }

    #[test]
    fn graphql_errors_carry_code_and_camel_case_field() {
        let gql: async_graphql::Error = AppError::invalid("contact_id", "no such contact").into();
        let ext = gql.extensions.expect("extensions");
        assert_eq!(
            ext.get("code").map(|v| v.to_string()),
            Some("\"BAD_USER_INPUT\"".into())
        );
        assert_eq!(
            ext.get("field").map(|v| v.to_string()),
            Some("\"contactId\"".into())
        );
        assert_eq!(gql.message, "contactId: no such contact");
    }

    #[test]
    fn a_rule_between_two_fields_names_both_in_the_door_s_terms() {
        let err = AppError::invalid_against("received_to", "must not be before", "received_from");
        let gql: async_graphql::Error = err.clone().into();
        assert_eq!(gql.message, "receivedTo: must not be before receivedFrom");
        assert_eq!(
            err.problem()["detail"],
            "received_to: must not be before received_from"
        );
    }

    #[test]
    fn internal_details_never_reach_clients() {
        let gql: async_graphql::Error = AppError::Internal("SELECT * FROM contacts".into()).into();
        assert_eq!(gql.message, "internal error");
    }

    #[tokio::test]
    async fn problem_json_names_the_field() {
        let response =
            AppError::invalid("conversion_value", "must not be negative").into_response();
        assert_eq!(response.status(), 422);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["field"], "conversion_value");
        assert_eq!(body["code"], "BAD_USER_INPUT");
        assert_eq!(body["detail"], "conversion_value: must not be negative");
    }
}
