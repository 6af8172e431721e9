//! `GET /conversions/export?format=csv|xlsx`: every conversion matching the filters of
//! `GET /conversions`, as CSV (streamed page by page) or an .xlsx workbook. This handler parses
//! and shapes; which rows, as whom, comes from `Services::export_pages`.

mod cells;
mod csv;
mod xlsx;

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::http::body::Params;
use crate::http::rest::conversions::{FILTER_PARAMS, FilterParams};
use crate::service::Services;
use crate::service::export::{ExportPage, ensure_fits_xlsx};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono_tz::Tz;
use futures_util::{Stream, StreamExt, stream};

/// Besides the filters of `GET /conversions` (`FILTER_PARAMS`).
pub(crate) const EXPORT_PARAMS: &[&str] = &["format", "excel"];

/// The file type asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Csv,
    Xlsx,
}

impl Format {
    /// `csv` (the default) or `xlsx`.
    fn parse(raw: Option<&str>) -> AppResult<Self> {
        match raw {
            None | Some("csv") => Ok(Format::Csv),
            Some("xlsx") => Ok(Format::Xlsx),
            Some(_) => Err(AppError::invalid("format", "must be csv or xlsx")),
        }
    }
}

/// The conversions matching the filters, as a CSV or Excel file.
///
/// Takes the filters of `GET /conversions` (same errors), plus `format` and `excel`; answers a
/// streamed CSV or a finished .xlsx as an attachment. See docs/api.md, "Export".
#[utoipa::path(get, path = "/conversions/export", operation_id = "exportConversions", tag = "conversions", security(("api_key" = []), ("bearer" = [])),
    params(FilterParams,
        ("format" = Option<String>, Query, pattern = "^$|^(csv|xlsx)$", description = "`csv` (default) or `xlsx`"),
        ("excel" = Option<bool>, Query, description = "CSV as Excel opens it best (UTF-8 BOM, `sep=` line); csv only")),
    responses((status = 200, description = "The file, as an attachment",
        content((String = "text/csv"), ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")),
        headers(("Content-Disposition" = String, description = "attachment; filename=…")))))]
pub async fn export(
    State(services): State<Services>,
    caller: Caller,
    mut params: Params,
) -> AppResult<Response> {
    let format = params.get("format");
    let excel = params.get("excel");
    let filter = FilterParams::take(&mut params);
    params.finish(&[FILTER_PARAMS, EXPORT_PARAMS].concat())?;
    let format = Format::parse(format.as_deref())?;
    let excel = excel_flag(excel.as_deref(), format)?;
    let zone = filter.zone()?;
    let name = file_name(
        filter.from_date.as_deref(),
        filter.to_date.as_deref(),
        zone,
        format,
    );
    let filter = filter.try_into()?;
    let limits = services.export_limits();
    match format {
        Format::Csv => {
            let pages = services.export_pages(&caller, &filter, limits.page_size)?;
            let encoder = csv::CsvEncoder::new(zone, services.currency, excel);
            let body = csv_body(pages, encoder, caller.request_id.clone()).await?;
            Ok(attachment(body, "text/csv; charset=utf-8", &name, None))
        }
        Format::Xlsx => {
            ensure_fits_xlsx(
                services.count_conversions(&caller, &filter).await?,
                limits.xlsx_max_rows,
            )?;
            let pages = services.export_pages(&caller, &filter, limits.page_size)?;
            let layout = xlsx::Layout {
                zone,
                currency: services.currency,
                max_rows: limits.xlsx_max_rows,
            };
            let (len, chunks) = xlsx::build(pages, layout).await?;
            let kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
            Ok(attachment(
                Body::from_stream(chunks),
                kind,
                &name,
                Some(len),
            ))
        }
    }
}

/// `excel=true` asks for CSV as Excel opens it best; it means nothing for a workbook.
fn excel_flag(raw: Option<&str>, format: Format) -> AppResult<bool> {
    let excel = match raw {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(AppError::invalid("excel", "must be true or false")),
    };
    if excel && format != Format::Csv {
        return Err(AppError::invalid("excel", "applies to format=csv only"));
    }
    Ok(excel)
}

/// The CSV body: header, then one chunk per page. The first page is read before answering, so
/// a database that fails at once still gets a proper error response. A failure after the
/// response has started is logged and aborts the body, so the client sees a truncated
/// transfer rather than a file that looks complete.
async fn csv_body(
    pages: impl Stream<Item = AppResult<ExportPage>> + Send + 'static,
    encoder: csv::CsvEncoder,
    request_id: Option<String>,
) -> AppResult<Body> {
    let mut pages = Box::pin(pages);
    let first = pages.next().await.transpose()?;
    let head = stream::iter([
        encoder.header(),
        first.map_or(Ok(Bytes::new()), |p| encoder.page(p)),
    ]);
    let rest = pages.map(move |page| page.and_then(|p| encoder.page(p)));
    let chunks = head.chain(rest).map(move |chunk| {
        chunk.map_err(|err| {
            tracing::error!(
                error = %err,
                request_id = request_id.as_deref().unwrap_or_default(),
                "CSV export failed mid-stream; aborting the response"
            );
            std::io::Error::other("export aborted")
        })
    });
    Ok(Body::from_stream(chunks))
}

/// A download: type, `Content-Disposition: attachment` with the file name, never cached.
fn attachment(body: Body, content_type: &'static str, name: &str, len: Option<u64>) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The name is built from [A-Za-z0-9._+-] only, so it is always a valid header value.
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(len) = len {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    response
}

/// `convio-conversions_<from>_<to>_<zone>.<ext>`: the range as requested (`start` / `end`
/// when open) and the zone, `/` and anything unsafe in a file name turned into `-`.
fn file_name(from: Option<&str>, to: Option<&str>, zone: Tz, format: Format) -> String {
    let ext = match format {
        Format::Csv => "csv",
        Format::Xlsx => "xlsx",
    };
    format!(
        "convio-conversions_{}_{}_{}.{ext}",
        safe(from.unwrap_or("start")),
        safe(to.unwrap_or("end")),
        safe(zone.name()),
    )
}

fn safe(part: &str) -> String {
    part.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_name_carries_range_and_zone() {
        let zone: Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            file_name(Some("2026-01-01"), Some("2026-11-29"), zone, Format::Csv),
            "convio-conversions_2026-01-01_2026-11-29_America-New_York.csv"
        );
        assert_eq!(
            file_name(None, Some("2026-03-01T10:00:00Z"), Tz::UTC, Format::Xlsx),
            "convio-conversions_start_2026-03-01T10-00-00Z_UTC.xlsx"
        );
    }

    #[test]
    fn format_and_excel_are_checked() {
        assert_eq!(Format::parse(None).unwrap(), Format::Csv);
        assert_eq!(
            Format::parse(Some("pdf")).unwrap_err().field(),
            Some("format")
        );
        assert!(excel_flag(Some("true"), Format::Csv).unwrap());
        assert_eq!(
            excel_flag(Some("true"), Format::Xlsx).unwrap_err().field(),
            Some("excel")
        );
        assert_eq!(
            excel_flag(Some("yes"), Format::Csv).unwrap_err().field(),
            Some("excel")
        );
    }
}
