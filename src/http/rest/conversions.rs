//! `POST /conversions/log`, `GET /conversions`, `GET /conversions/{id}`,
//! `GET /conversions/analytics`.

use crate::auth::Caller;
use crate::domain::IdempotencyKey;
use crate::domain::{
    Amount, ContactId, ConversionType, Currency, CustomData, DateRange, LeadId, WeekStart,
    WorkspaceId, parse_instant, required_text, zone_or_utc,
};
use crate::error::{AppError, AppResult};
use crate::http::body::{IdText, JsonBody, Params, amount, parse_object};
use crate::http::views::{AnalyticsView, ConversionView};
use crate::service::Services;
use crate::service::analytics::AnalyticsFilter;
use crate::service::conversion::{
    ConversionFilter, Cursor, LogConversion, LogStatus, Logged, MAX_LABEL,
};
use crate::service::page::{DEFAULT_PAGE, MAX_PAGE, Window};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The body of `POST /conversions/log`, and one item of `POST /conversions/batch`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "contact_id": 123456, "lead_id": 1234567890, "workspace_id": "workspace_123",
    "converted_by": "agent_john_doe", "conversion_type": "sale", "conversion_value": 25000,
    "custom_data": { "product": "solar_panel_system", "contract_id": "CTR-2024-001",
                     "financing_type": "loan", "term_months": 240, "commission_rate": 0.05,
                     "notes": "Customer opted for premium package" }
}))]
pub struct LogConversionBody {
    /// The converted contact.
    contact_id: IdText,
    /// The lead this conversion closes; it must belong to the contact.
    lead_id: Option<IdText>,
    /// The workspace that converted (default: the caller's; the admin must name one).
    #[schema(pattern = r"^[A-Za-z0-9_.-]{1,64}$")]
    workspace_id: Option<String>,
    /// Who converted the contact (an agent, a system): 1 to 255 characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    converted_by: String,
    /// `sale`, `appointment`, `qualified`, or a type of your own (lowercase, digits, `_`).
    #[schema(pattern = r"^[a-z][a-z0-9_]{0,63}$", example = "sale")]
    conversion_type: String,
    /// A JSON number or a decimal string, read from its literal text.
    #[schema(schema_with = crate::http::openapi::amount_input)]
    conversion_value: Option<Box<RawValue>>,
    /// Any ISO 4217 code (`JPY`, `USD`, `BHD` …; default the server's): the value has at
    /// most its decimal places.
    #[schema(pattern = "^[A-Z]{3}$", example = "USD")]
    currency: Option<String>,
    /// When it happened (RFC 3339; default now): at most five minutes ahead of the server.
    #[schema(format = DateTime)]
    converted_at: Option<String>,
    #[schema(schema_with = crate::http::openapi::custom_json)]
    custom_data: Option<Box<RawValue>>,
    /// Makes retries safe: the `Idempotency-Key` header's value, given in the body instead
    /// (a batch item's own key). Both given must be equal.
    #[schema(pattern = r"^[!-~]{1,255}$")]
    idempotency_key: Option<String>,
}

impl TryFrom<LogConversionBody> for LogConversion {
    type Error = AppError;

    fn try_from(body: LogConversionBody) -> AppResult<Self> {
        Ok(LogConversion {
            contact_id: ContactId::parse("contact_id", &body.contact_id.0)?,
            lead_id: body
                .lead_id
                .map(|l| LeadId::parse("lead_id", &l.0))
                .transpose()?,
            workspace_id: body
                .workspace_id
                .map(|w| WorkspaceId::parse("workspace_id", &w))
                .transpose()?,
            converted_by: required_text("converted_by", &body.converted_by, MAX_LABEL)?,
            conversion_type: ConversionType::parse("conversion_type", &body.conversion_type)?,
            value: amount("conversion_value", body.conversion_value)?,
            currency: body
                .currency
                .map(|c| Currency::parse("currency", &c))
                .transpose()?,
            converted_at: body
                .converted_at
                .map(|t| parse_instant("converted_at", &t))
                .transpose()?,
            custom_data: CustomData::parse_literal("custom_data", body.custom_data.as_deref())?,
        })
    }
}

/// Logs a conversion.
///
/// Stores it and updates the contact, its lead, tracking, audit and analytics in one
/// transaction, then publishes it on the live feed. With an
/// `Idempotency-Key`, a retry answers the first attempt's conversion (`Idempotency-Replayed:
/// true`) and writes nothing.
#[utoipa::path(post, path = "/conversions/log", operation_id = "logConversion", tag = "conversions", security(("api_key" = []), ("bearer" = [])),
    request_body = LogConversionBody,
    params(("Idempotency-Key" = Option<String>, Header,
            description = "Makes retries safe: 1 to 255 visible ASCII characters, kept 24 hours")),
    responses(
        (status = 201, description = "Stored (or replayed)", body = ConversionView,
         headers(("Location" = String, description = "/conversions/{id}"),
                 ("Idempotency-Replayed" = Option<String>, description = "`true` on a replay"))),
        (status = 409, description = "The contact was erased and takes no free-form data, or its idempotency key belonged to an erased contact (`ERASED`); or the lead was already converted (`CONFLICT`)",
         body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn log(
    State(services): State<Services>,
    caller: Caller,
    headers: HeaderMap,
    body: JsonBody,
) -> AppResult<Response> {
    let header = idempotency_key(&headers)?;
    let body: LogConversionBody = body.parse()?;
    let key = match (header, body.idempotency_key.as_deref()) {
        (header, None) => header,
        (None, Some(k)) => Some(IdempotencyKey::parse("idempotency_key", k)?),
        (Some(header), Some(k)) if header.as_str() == k => Some(header),
        (Some(_), Some(_)) => {
            return Err(AppError::invalid(
                "idempotency_key",
                "differs from the Idempotency-Key header: send the key once",
            ));
        }
    };
    let logged = services
        .log_conversion(&caller, body.try_into()?, key.as_ref())
        .await?;
    created(&services, &caller, logged)
}

/// `Idempotency-Key: <key>` (the IETF draft's header), if sent.
pub(super) fn idempotency_key(headers: &HeaderMap) -> AppResult<Option<IdempotencyKey>> {
    headers
        .get("idempotency-key")
        .map(|v| {
            let text = v
                .to_str()
                .map_err(|_| AppError::invalid("Idempotency-Key", "must be visible ASCII"))?;
            IdempotencyKey::parse("Idempotency-Key", text)
        })
        .transpose()
}

/// 201 with the stored conversion; a replay carries `Idempotency-Replayed: true`.
fn created(services: &Services, caller: &Caller, logged: Logged) -> AppResult<Response> {
    let replayed = matches!(logged, Logged::Replayed(_));
    let conversion = logged.into_conversion();
    let location = format!("/conversions/{}", conversion.id);
    let shown = services.reveal(&caller.principal, conversion)?;
    let response = (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(ConversionView::from(shown)),
    )
        .into_response();
    Ok(replay_marked(response, replayed))
}

/// `response`, with `Idempotency-Replayed: true` when it answers a retry with an earlier
/// request's result.
pub(super) fn replay_marked(mut response: Response, replayed: bool) -> Response {
    if replayed {
        response
            .headers_mut()
            .insert("idempotency-replayed", HeaderValue::from_static("true"));
    }
    response
}

#[derive(Serialize, ToSchema)]
pub struct BatchItemView {
    /// The item's position in the request, from 0.
    index: usize,
    /// `stored`, `replayed` (an idempotency key's earlier result) or `rejected` (see `error`).
    #[schema(value_type = String, example = "stored")]
    status: LogStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversion: Option<ConversionView>,
    /// Why the item was refused, as a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::error::Problem>)]
    error: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchView {
    stored: usize,
    replayed: usize,
    rejected: usize,
    results: Vec<BatchItemView>,
}

/// The body of `POST /conversions/batch`: up to 1,000 conversions, each with its own optional
/// `idempotency_key`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    /// Each item (with its own optional `idempotency_key`) is checked on its own: an object
    /// that breaks a rule, this schema's included, is refused in `results` and the others are
    /// logged; an item that is not an object refuses the whole request.
    #[schema(value_type = Vec<LogConversionBody>, min_items = 1, max_items = 1000)]
    conversions: Vec<Box<RawValue>>,
}

/// Logs up to 1,000 conversions, each on its own.
///
/// Each item is logged (or refused) by itself, with its own optional `idempotency_key`, so a
/// whole batch can be retried safely.
#[utoipa::path(post, path = "/conversions/batch", operation_id = "logConversionBatch", tag = "conversions", security(("api_key" = []), ("bearer" = [])),
    request_body = BatchBody,
    responses((status = 200, description = "Each item stored, replayed or refused on its own", body = BatchView)))]
pub async fn batch(
    State(services): State<Services>,
    caller: Caller,
    headers: HeaderMap,
    body: JsonBody,
) -> AppResult<Json<BatchView>> {
    if headers.contains_key("idempotency-key") {
        return Err(AppError::invalid(
            "Idempotency-Key",
            "does not apply to a batch: give each item its own `idempotency_key`",
        ));
    }
    let items = body.parse::<BatchBody>()?.conversions;
    // The envelope's shape is checked whole; each object's content on its own, below.
    if let Some(index) = items.iter().position(|raw| !raw.get().starts_with('{')) {
        return Err(AppError::invalid(
            &format!("conversions[{index}]"),
            "must be a JSON object",
        ));
    }
    let parsed = items
        .iter()
        .map(|raw| {
            let item: LogConversionBody = parse_object(raw)?;
            let key = item
                .idempotency_key
                .as_deref()
                .map(|k| IdempotencyKey::parse("idempotency_key", k))
                .transpose()?;
            Ok((item.try_into()?, key))
        })
        .collect();
    let outcomes = services.log_conversions(&caller, parsed).await?;
    let mut view = BatchView {
        stored: 0,
        replayed: 0,
        rejected: 0,
        results: Vec::new(),
    };
    for (index, outcome) in outcomes.into_iter().enumerate() {
        let status = LogStatus::of(&outcome);
        match status {
            LogStatus::Stored => view.stored += 1,
            LogStatus::Replayed => view.replayed += 1,
            LogStatus::Rejected => view.rejected += 1,
        }
        let (conversion, error) = match outcome {
            Ok(logged) => (
                Some(
                    services
                        .reveal(&caller.principal, logged.into_conversion())?
                        .into(),
                ),
                None,
            ),
            Err(err) => (None, Some(err.problem())),
        };
        view.results.push(BatchItemView {
            index,
            status,
            conversion,
            error,
        });
    }
    Ok(Json(view))
}

/// One conversion (not found when it is not yours).
#[utoipa::path(get, path = "/conversions/{id}", operation_id = "getConversion", tag = "conversions", security(("api_key" = []), ("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The conversion's id (a UUID)")),
    responses((status = 200, description = "The conversion", body = ConversionView)))]
pub async fn show(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<Json<ConversionView>> {
    let missing = || AppError::not_found("conversion", &id);
    let uuid = Uuid::parse_str(&id).map_err(|_| missing())?;
    let found = services
        .conversion(&caller, uuid)
        .await?
        .ok_or_else(missing)?;
    let history = services
        .adjustments_of(&[uuid])
        .await?
        .remove(&uuid)
        .unwrap_or_default();
    Ok(Json(
        ConversionView::from(services.reveal(&caller.principal, found)?).with_adjustments(history),
    ))
}

/// Where a page of a REST list lies: whether another follows, and the cursor to read it.
#[derive(Serialize, ToSchema)]
pub struct PageInfo {
    pub has_next_page: bool,
    /// Give it as `after` to read the next page.
    pub end_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConversionList {
    conversions: Vec<ConversionView>,
    page_info: PageInfo,
}

/// The filters of `GET /conversions`, which the export takes as well.
pub(crate) const FILTER_PARAMS: &[&str] = &[
    "workspace_id",
    "from_date",
    "to_date",
    "contact_id",
    "conversion_type",
    "min_value",
    "max_value",
    "time_zone",
    "created_after",
];

/// The filters of `GET /conversions` (and of its export), as the query string gives them.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FilterParams {
    /// Only this workspace's (the admin: any; a workspace: its own).
    #[param(pattern = r"^$|^[A-Za-z0-9_.-]{1,64}$")]
    workspace_id: Option<String>,
    /// First local day (`2024-01-01`) of `time_zone` (an RFC 3339 instant is taken too).
    #[param(pattern = r"^$|^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2}))?$")]
    pub from_date: Option<String>,
    /// Last local day, inclusive (or an RFC 3339 instant, exclusive); not before `from_date`.
    #[param(pattern = r"^$|^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2}))?$")]
    pub to_date: Option<String>,
    /// Only this contact's.
    #[param(pattern = "^$|^[1-9][0-9]{0,15}$")]
    contact_id: Option<String>,
    /// Only this type, e.g. `sale`.
    #[param(pattern = r"^$|^[a-z][a-z0-9_]{0,63}$")]
    conversion_type: Option<String>,
    /// At least this exact amount (`100.00`).
    #[param(pattern = r"^$|^([0-9]{1,12}(\.[0-9]{1,2}0*)?|1000000000000(\.0+)?)$")]
    min_value: Option<String>,
    /// At most this exact amount.
    #[param(pattern = r"^$|^([0-9]{1,12}(\.[0-9]{1,2}0*)?|1000000000000(\.0+)?)$")]
    max_value: Option<String>,
    /// The IANA zone whose days `from_date` and `to_date` name (default UTC).
    #[param(value_type = Option<crate::http::openapi::TimeZone>)]
    time_zone: Option<String>,
    /// Only those stored (`created_at`) strictly after this RFC 3339 instant.
    #[param(
        pattern = r"^$|^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
    )]
    created_after: Option<String>,
}

impl FilterParams {
    /// Takes the filters out of the query string, leaving the endpoint's own parameters.
    pub fn take(params: &mut Params) -> Self {
        FilterParams {
            workspace_id: params.get("workspace_id"),
            from_date: params.get("from_date"),
            to_date: params.get("to_date"),
            contact_id: params.get("contact_id"),
            conversion_type: params.get("conversion_type"),
            min_value: params.get("min_value"),
            max_value: params.get("max_value"),
            time_zone: params.get("time_zone"),
            created_after: params.get("created_after"),
        }
    }

    /// The IANA zone whose local days `from_date` and `to_date` name (UTC when absent).
    pub fn zone(&self) -> AppResult<Tz> {
        zone_or_utc("time_zone", self.time_zone.as_deref())
    }
}

impl TryFrom<FilterParams> for ConversionFilter {
    type Error = AppError;

    fn try_from(p: FilterParams) -> AppResult<Self> {
        let zone = p.zone()?;
        let amount =
            |field: &str, raw: Option<String>| raw.map(|v| Amount::parse(field, &v)).transpose();
        Ok(ConversionFilter {
            workspace_id: p
                .workspace_id
                .map(|w| WorkspaceId::parse("workspace_id", &w))
                .transpose()?,
            range: DateRange::dates(p.from_date.as_deref(), p.to_date.as_deref(), zone)?,
            contact_id: p
                .contact_id
                .map(|c| ContactId::parse("contact_id", &c))
                .transpose()?,
            conversion_type: p
                .conversion_type
                .map(|t| ConversionType::parse("conversion_type", &t))
                .transpose()?,
            min_value: amount("min_value", p.min_value)?,
            max_value: amount("max_value", p.max_value)?,
            created_after: p
                .created_after
                .map(|t| parse_instant("created_after", &t))
                .transpose()?,
        })
    }
}

/// Conversions matching the filters, newest first (`converted_at`, then id), a page at a time.
#[utoipa::path(get, path = "/conversions", operation_id = "listConversions", tag = "conversions", security(("api_key" = []), ("bearer" = [])),
    params(FilterParams,
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Page size, 1 to 200 (default 50)"),
        ("after" = Option<String>, Query, pattern = "^$|^-?[0-9]{1,18}_[0-9a-f]{32}$", description = "The previous page's `page_info.end_cursor`")),
    responses((status = 200, description = "One page", body = ConversionList)))]
pub async fn list(
    State(services): State<Services>,
    caller: Caller,
    mut params: Params,
) -> AppResult<Json<ConversionList>> {
    let filter = FilterParams::take(&mut params);
    let limit = params.bounded("limit", DEFAULT_PAGE, MAX_PAGE)?;
    let after = params
        .get("after")
        .map(|a| Cursor::decode("after", &a))
        .transpose()?;
    params.finish(&[FILTER_PARAMS, &["limit", "after"]].concat())?;
    let filter = filter.try_into()?;
    let page = services
        .conversions(&caller, filter, &Window::first(limit, after))
        .await?;
    let end_cursor = page.items.last().map(|c| Cursor::of(c).encode());
    Ok(Json(ConversionList {
        conversions: page
            .items
            .into_iter()
            .map(|c| Ok(services.reveal(&caller.principal, c)?.into()))
            .collect::<AppResult<_>>()?,
        page_info: PageInfo {
            has_next_page: page.has_next_page,
            end_cursor,
        },
    }))
}

pub(crate) const ANALYTICS_PARAMS: &[&str] = &[
    "workspace_id",
    "from_date",
    "to_date",
    "conversion_type",
    "time_zone",
    "week_start",
    "reporting_currency",
];

/// Totals, rates, breakdowns, trends and the funnel, over the caller's conversions.
#[utoipa::path(get, path = "/conversions/analytics", operation_id = "conversionAnalytics", tag = "conversions", security(("api_key" = []), ("bearer" = [])),
    params(
        ("workspace_id" = Option<String>, Query, pattern = r"^$|^[A-Za-z0-9_.-]{1,64}$", description = "One workspace (the admin: any; a workspace: its own)"),
        ("from_date" = Option<String>, Query, pattern = r"^$|^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2}))?$", description = "First local day (2024-01-01) of `time_zone` (an RFC 3339 instant is taken too)"),
        ("to_date" = Option<String>, Query, pattern = r"^$|^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2}))?$", description = "Last local day, inclusive (or an RFC 3339 instant, exclusive); not before `from_date`"),
        ("conversion_type" = Option<String>, Query, pattern = r"^$|^[a-z][a-z0-9_]{0,63}$", description = "Only this type, e.g. `sale`"),
        ("time_zone" = Option<crate::http::openapi::TimeZone>, Query, description = "IANA zone of days, weeks and months (default UTC)"),
        ("week_start" = Option<String>, Query, pattern = "^$|^(monday|sunday)$", description = "`monday` (default) or `sunday`"),
        ("reporting_currency" = Option<String>, Query, pattern = "^$|^[A-Z]{3}$", description = "ISO 4217 currency of every converted total (default: the server's `--currency`); other currencies are converted at the rate in force on each conversion's UTC date")),
    responses((status = 200, description = "The analytics", body = AnalyticsView)))]
pub async fn analytics(
    State(services): State<Services>,
    caller: Caller,
    mut params: Params,
) -> AppResult<Json<AnalyticsView>> {
    let mut take = |name: &str| params.get(name);
    let (workspace_id, from_date, to_date) =
        (take("workspace_id"), take("from_date"), take("to_date"));
    let (conversion_type, time_zone, week_start) = (
        take("conversion_type"),
        take("time_zone"),
        take("week_start"),
    );
    let reporting_currency = take("reporting_currency");
    params.finish(ANALYTICS_PARAMS)?;
    let zone = zone_or_utc("time_zone", time_zone.as_deref())?;
    let filter = AnalyticsFilter {
        workspace_id: workspace_id
            .map(|w| WorkspaceId::parse("workspace_id", &w))
            .transpose()?,
        range: DateRange::dates(from_date.as_deref(), to_date.as_deref(), zone)?,
        conversion_type: conversion_type
            .map(|t| ConversionType::parse("conversion_type", &t))
            .transpose()?,
        zone,
        week_start: week_start
            .map(|w| WeekStart::parse("week_start", &w))
            .transpose()?
            .unwrap_or_default(),
        reporting_currency: reporting_currency
            .map(|c| Currency::parse("reporting_currency", &c))
            .transpose()?,
    };
    let analytics = services.analytics(&caller, filter).await?;
    Ok(Json(AnalyticsView::new(analytics)))
}
