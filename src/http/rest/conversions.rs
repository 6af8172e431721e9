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
use uuid::Uuid;

/// The body of `POST /conversions/log` (plan §2.2), and one item of `POST /conversions/batch`,
/// which alone may carry `idempotency_key`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConversionBody {
    contact_id: IdText,
    lead_id: Option<IdText>,
    workspace_id: Option<String>,
    converted_by: String,
    conversion_type: String,
    /// A JSON number or a decimal string, read from its literal text.
    conversion_value: Option<Box<RawValue>>,
    currency: Option<String>,
    converted_at: Option<String>,
    custom_data: Option<Box<RawValue>>,
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

pub async fn log(
    State(services): State<Services>,
    caller: Caller,
    headers: HeaderMap,
    body: JsonBody,
) -> AppResult<Response> {
    let key = idempotency_key(&headers)?;
    let body: LogConversionBody = body.parse()?;
    if body.idempotency_key.is_some() {
        return Err(AppError::invalid(
            "idempotency_key",
            "belongs in the Idempotency-Key header here (the body field is for batch items)",
        ));
    }
    let logged = services
        .log_conversion(&caller, body.try_into()?, key.as_ref())
        .await?;
    created(&services, &caller, logged)
}

/// `Idempotency-Key: <key>` (the IETF draft's header), if sent.
fn idempotency_key(headers: &HeaderMap) -> AppResult<Option<IdempotencyKey>> {
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
    let mut response = (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(ConversionView::from(shown)),
    )
        .into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotency-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

#[derive(Serialize)]
pub struct BatchItemView {
    index: usize,
    status: LogStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversion: Option<ConversionView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<serde_json::Value>,
}

#[derive(Serialize)]
pub struct BatchView {
    stored: usize,
    replayed: usize,
    rejected: usize,
    results: Vec<BatchItemView>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    conversions: Vec<Box<RawValue>>,
}

/// `POST /conversions/batch`: up to 1,000 conversions, each logged (or refused) on its own,
/// each with its own optional `idempotency_key`, so a whole batch can be retried safely.
pub async fn batch(
    State(services): State<Services>,
    caller: Caller,
    body: JsonBody,
) -> AppResult<Json<BatchView>> {
    let items = body.parse::<BatchBody>()?.conversions;
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
    Ok(Json(services.reveal(&caller.principal, found)?.into()))
}

#[derive(Serialize)]
pub struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(Serialize)]
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
pub(crate) struct FilterParams {
    workspace_id: Option<String>,
    pub from_date: Option<String>,
    pub to_date: Option<String>,
    contact_id: Option<String>,
    conversion_type: Option<String>,
    min_value: Option<String>,
    max_value: Option<String>,
    time_zone: Option<String>,
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

const ANALYTICS_PARAMS: &[&str] = &[
    "workspace_id",
    "from_date",
    "to_date",
    "conversion_type",
    "time_zone",
    "week_start",
];

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
    };
    let analytics = services.analytics(&caller, filter).await?;
    Ok(Json(AnalyticsView::new(
        analytics,
        services.currency.code(),
    )))
}
