//! `POST /conversions/log`, `GET /conversions`, `GET /conversions/{id}`,
//! `GET /conversions/analytics`.

use crate::auth::Caller;
use crate::domain::IdempotencyKey;
use crate::error::{AppError, AppResult};
use crate::http::body::{Fields, JsonBody, Params};
use crate::http::views::{AnalyticsView, ConversionView};
use crate::input::{AnalyticsQuery, ConversionQuery, LogConversion};
use crate::service::Services;
use crate::service::conversion::{Cursor, DEFAULT_PAGE, Logged, MAX_PAGE, NewConversion};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use uuid::Uuid;

const LOG_FIELDS: &[&str] = &[
    "contact_id",
    "lead_id",
    "workspace_id",
    "converted_by",
    "conversion_type",
    "conversion_value",
    "currency",
    "converted_at",
    "custom_data",
];

pub async fn log(
    State(services): State<Services>,
    caller: Caller,
    headers: HeaderMap,
    body: JsonBody,
) -> AppResult<Response> {
    let key = idempotency_key(&headers)?;
    let input = parse_log(&body.fields(LOG_FIELDS)?, &services)?;
    let logged = services
        .log_conversion(&caller, input, key.as_ref())
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

fn parse_log(f: &Fields, services: &Services) -> AppResult<NewConversion> {
    LogConversion {
        contact_id: f.req_id("contact_id")?,
        lead_id: f.id("lead_id")?,
        workspace_id: f.opt("workspace_id")?,
        converted_by: f.req("converted_by")?,
        conversion_type: f.req("conversion_type")?,
        conversion_value: f.amount("conversion_value")?,
        currency: f.opt("currency")?,
        converted_at: f.opt("converted_at")?,
        custom_data: f.opt("custom_data")?,
    }
    .parse(services)
}

/// 201 with the stored conversion; a replay carries `Idempotency-Replayed: true`.
fn created(services: &Services, caller: &Caller, logged: Logged) -> AppResult<Response> {
    let location = format!("/conversions/{}", logged.conversion.id);
    let shown = services.reveal(&caller.principal, logged.conversion)?;
    let mut response = (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(ConversionView::from(shown)),
    )
        .into_response();
    if logged.replayed {
        response
            .headers_mut()
            .insert("idempotency-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

#[derive(Serialize)]
pub struct BatchItemView {
    index: usize,
    /// `stored`, `replayed` or `rejected`.
    status: &'static str,
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

/// `POST /conversions/batch`: up to 1,000 conversions, each logged (or refused) on its own,
/// each with its own optional `idempotency_key`, so a whole batch can be retried safely.
pub async fn batch(
    State(services): State<Services>,
    caller: Caller,
    body: JsonBody,
) -> AppResult<Json<BatchView>> {
    let items = body.fields(&["conversions"])?.items("conversions")?;
    // An item is a `POST /conversions/log` body plus its own idempotency key.
    let item_fields: Vec<&str> = LOG_FIELDS
        .iter()
        .copied()
        .chain(["idempotency_key"])
        .collect();
    let parsed = items
        .iter()
        .map(|raw| {
            let f = Fields::of_object(raw, &item_fields)?;
            let key = f
                .opt::<String>("idempotency_key")?
                .map(|k| IdempotencyKey::parse("idempotency_key", &k))
                .transpose()?;
            Ok((parse_log(&f, &services)?, key))
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
        let item = match outcome {
            Ok(logged) => {
                let status = if logged.replayed {
                    "replayed"
                } else {
                    "stored"
                };
                BatchItemView {
                    index,
                    status,
                    conversion: Some(
                        services
                            .reveal(&caller.principal, logged.conversion)?
                            .into(),
                    ),
                    error: None,
                }
            }
            Err(err) => BatchItemView {
                index,
                status: "rejected",
                conversion: None,
                error: Some(err.problem()),
            },
        };
        match item.status {
            "stored" => view.stored += 1,
            "replayed" => view.replayed += 1,
            _ => view.rejected += 1,
        }
        view.results.push(item);
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

/// Takes the filters of `GET /conversions` out of the query string.
pub(crate) fn conversion_query(params: &mut Params) -> ConversionQuery {
    ConversionQuery {
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

pub async fn list(
    State(services): State<Services>,
    caller: Caller,
    mut params: Params,
) -> AppResult<Json<ConversionList>> {
    let query = conversion_query(&mut params);
    let limit = params.bounded("limit", DEFAULT_PAGE, MAX_PAGE)?;
    let after = params
        .get("after")
        .map(|a| Cursor::decode("after", &a))
        .transpose()?;
    params.finish(&[FILTER_PARAMS, &["limit", "after"]].concat())?;
    let filter = query.parse(&services)?;
    let page = services.conversions(&caller, filter, limit, after).await?;
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
    let query = AnalyticsQuery {
        workspace_id: params.get("workspace_id"),
        from_date: params.get("from_date"),
        to_date: params.get("to_date"),
        conversion_type: params.get("conversion_type"),
        time_zone: params.get("time_zone"),
        week_start: params.get("week_start"),
    };
    params.finish(ANALYTICS_PARAMS)?;
    let analytics = services.analytics(&caller, query.parse()?).await?;
    Ok(Json(AnalyticsView::new(
        analytics,
        services.currency.code(),
    )))
}
