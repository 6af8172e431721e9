//! Export: every conversion matching a filter, read in keyset pages so that an export of any
//! size keeps memory flat. The HTTP door (`GET /conversions/export`) turns the pages into CSV
//! or an .xlsx workbook; this module decides which rows, in which order, as whom.
//!
//! Rows are read newest first, `converted_at` then id descending, exactly like
//! `GET /conversions`, with the same filter, permission and tenancy rules (they come from
//! [`Services::conversion_condition`]). Pages are separate queries, not one snapshot: a row
//! logged during a long export may or may not be in it, but no row is read twice or skipped.

use super::Services;
use super::conversion::{ConversionFilter, Cursor};
use super::sensitive::Revealed;
use crate::auth::Caller;
use crate::domain::Permission;
use crate::error::{AppError, AppResult};
use entity::conversion;
use futures_util::{Stream, StreamExt};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Excel's sheet holds 1,048,576 rows; one of them is the header.
pub const EXCEL_MAX_DATA_ROWS: u64 = 1_048_575;

/// Limits of exports, configurable per server (`--export-xlsx-max-rows`,
/// `--export-page-size`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportLimits {
    /// Most data rows an .xlsx export may hold; more are refused with 422, suggesting CSV.
    /// Never above [`EXCEL_MAX_DATA_ROWS`]; lower only to test the refusal.
    pub xlsx_max_rows: u64,
    /// Rows read per database query. An export holds at most three pages in memory at a time.
    pub page_size: u64,
}

impl Default for ExportLimits {
    fn default() -> Self {
        ExportLimits {
            xlsx_max_rows: EXCEL_MAX_DATA_ROWS,
            page_size: 2_000,
        }
    }
}

/// One page of an export: rows with their sensitive values revealed or masked for the caller,
/// exactly as `GET /conversions` shows them.
pub type ExportPage = Vec<Revealed<conversion::Model>>;

impl Services {
    /// Every conversion matching `filter` that `caller` may read, newest first, as a stream of
    /// pages of at most `page_size` rows (one query each). Permission, tenancy and filter
    /// errors are returned here, before the first row is read; the stream yields only database
    /// and decryption errors, after which it ends.
    ///
    /// The next page is read while the consumer works on the current one (a reader task, one
    /// page ahead), so the database and the encoding use a core each; at most three pages are
    /// in memory at once. Dropping the stream stops the reader at its next page.
    pub fn export_pages(
        &self,
        caller: &Caller,
        filter: &ConversionFilter,
        page_size: u64,
    ) -> AppResult<impl Stream<Item = AppResult<ExportPage>> + Send + 'static> {
        caller.principal.require(Permission::Read)?;
        let reader = PageReader {
            services: self.clone(),
            condition: self.conversion_condition(caller, filter)?,
            page_size: page_size.max(1),
        };
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(reader.run(tx));
        let services = self.clone();
        let principal = caller.principal.clone();
        Ok(
            ReceiverStream::new(rx).map(move |rows: AppResult<Vec<conversion::Model>>| {
                rows?
                    .into_iter()
                    .map(|row| services.reveal(&principal, row))
                    .collect::<AppResult<ExportPage>>()
            }),
        )
    }
}

/// Refuses an .xlsx export of `rows` rows when it exceeds `limit`, naming the `format` field
/// and suggesting CSV, which has no row limit.
pub fn ensure_fits_xlsx(rows: u64, limit: u64) -> AppResult<()> {
    let limit = limit.min(EXCEL_MAX_DATA_ROWS);
    if rows > limit {
        return Err(AppError::invalid(
            "format",
            format!(
                "{rows} conversions match, more than the {limit} rows an Excel sheet can hold; \
                 use format=csv (no row limit) or narrow the filter"
            ),
        ));
    }
    Ok(())
}

/// Reads an export's pages in order, one query each, and hands them over as it goes.
struct PageReader {
    services: Services,
    condition: Condition,
    page_size: u64,
}

impl PageReader {
    /// Sends pages until the last (shorter than a full page, or empty), an error (sent, then
    /// stop), or until nobody listens.
    async fn run(self, pages: mpsc::Sender<AppResult<Vec<conversion::Model>>>) {
        let mut after = None;
        loop {
            let rows = match self.page(after).await {
                Ok(rows) if rows.is_empty() => return,
                Ok(rows) => rows,
                Err(err) => {
                    let _ = pages.send(Err(err)).await;
                    return;
                }
            };
            let last = (rows.len() as u64) < self.page_size;
            after = rows.last().map(Cursor::of);
            if pages.send(Ok(rows)).await.is_err() || last {
                return;
            }
        }
    }

    async fn page(&self, after: Option<Cursor>) -> AppResult<Vec<conversion::Model>> {
        let mut condition = self.condition.clone();
        if let Some(after) = after {
            condition = condition.add(seek_after(after));
        }
        Ok(conversion::Entity::find()
            .filter(condition)
            .order_by_desc(conversion::Column::ConvertedAt)
            .order_by_desc(conversion::Column::Id)
            .limit(self.page_size)
            .all(self.services.db.conn())
            .await?)
    }
}

/// Rows strictly after `c` in the newest-first order. Written as a range on `converted_at`
/// (`<= c.converted_at`) narrowed by an OR, rather than the bare OR, so both databases seek
/// the `converted_at` index instead of scanning it from the top on every page.
fn seek_after(c: Cursor) -> Condition {
    Condition::all()
        .add(conversion::Column::ConvertedAt.lte(c.converted_at))
        .add(
            Condition::any()
                .add(conversion::Column::ConvertedAt.lt(c.converted_at))
                .add(conversion::Column::Id.lt(c.id)),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_xlsx_limit_is_inclusive_and_names_format() {
        assert!(ensure_fits_xlsx(EXCEL_MAX_DATA_ROWS, EXCEL_MAX_DATA_ROWS).is_ok());
        let err = ensure_fits_xlsx(EXCEL_MAX_DATA_ROWS + 1, EXCEL_MAX_DATA_ROWS).unwrap_err();
        assert_eq!(err.status().as_u16(), 422);
        assert_eq!(err.field(), Some("format"));
        assert!(err.to_string().contains("format=csv"));
    }

    #[test]
    fn a_configured_limit_never_exceeds_excels() {
        assert!(ensure_fits_xlsx(EXCEL_MAX_DATA_ROWS + 1, u64::MAX).is_err());
        assert!(ensure_fits_xlsx(3, 2).is_err());
        assert!(ensure_fits_xlsx(2, 2).is_ok());
    }
}
