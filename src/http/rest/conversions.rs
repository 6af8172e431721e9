//! `POST /conversions/log`, `GET /conversions`, `GET /conversions/{id}`,
//! `GET /conversions/analytics`.

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::http::body::{JsonBody, Params};
use crate::http::views::{AnalyticsView, ConversionView};
use crate::input::{AnalyticsQuery, ConversionQuery, LogConversion};
use crate::service::Services;
use crate::service::conversion::{Cursor, DEFAULT_PAGE, MAX_PAGE};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
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
    body: JsonBody,
) -> AppResult<impl IntoResponse> {
    let f = body.fields(LOG_FIELDS)?;
    let input = LogConversion {
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
    .parse(&services)?;
    let stored = services.log_conversion(&caller, input).await?;
    let location = format!("/conversions/{}", stored.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(ConversionView::from(stored)),
    ))
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
    Ok(Json(found.into()))
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

const LIST_PARAMS: &[&str] = &[
    "workspace_id",
    "from_date",
    "to_date",
    "contact_id",
    "conversion_type",
    "min_value",
    "max_value",
    "limit",
    "after",
];

pub async fn list(
    State(services): State<Services>,
    caller: Caller,
    mut params: Params,
) -> AppResult<Json<ConversionList>> {
    let query = ConversionQuery {
        workspace_id: params.get("workspace_id"),
        from_date: params.get("from_date"),
        to_date: params.get("to_date"),
        contact_id: params.get("contact_id"),
        conversion_type: params.get("conversion_type"),
        min_value: params.get("min_value"),
        max_value: params.get("max_value"),
    };
    let limit = params.bounded("limit", DEFAULT_PAGE, MAX_PAGE)?;
    let after = params
        .get("after")
        .map(|a| Cursor::decode("after", &a))
        .transpose()?;
    params.finish(LIST_PARAMS)?;
    let filter = query.parse(&services)?;
    let page = services.conversions(&caller, filter, limit, after).await?;
    let end_cursor = page.items.last().map(|c| Cursor::of(c).encode());
    Ok(Json(ConversionList {
        conversions: page.items.into_iter().map(ConversionView::from).collect(),
        page_info: PageInfo {
            has_next_page: page.has_next_page,
            end_cursor,
        },
    }))
}

const ANALYTICS_PARAMS: &[&str] = &["workspace_id", "from_date", "to_date", "conversion_type"];

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
    };
    params.finish(ANALYTICS_PARAMS)?;
    let analytics = services.analytics(&caller, query.parse()?).await?;
    Ok(Json(AnalyticsView::new(
        analytics,
        services.currency.code(),
    )))
}
