//! CSV: one chunk per page of rows, written with the `csv` crate (quoting, embedded newlines),
//! text cells guarded against formula injection.

use super::cells::{COLUMNS, Cells, guarded};
use crate::domain::Currency;
use crate::error::{AppError, AppResult};
use crate::service::export::ExportPage;
use axum::body::Bytes;
use chrono_tz::Tz;

/// UTF-8 byte-order mark: tells Excel the file is UTF-8 rather than the system code page.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Writes an export's header and pages as CSV chunks.
#[derive(Clone, Copy)]
pub struct CsvEncoder {
    zone: Tz,
    currency: Currency,
    /// For Excel: a byte-order mark first and CRLF line ends (otherwise plain `\n`).
    excel: bool,
}

impl CsvEncoder {
    /// Times in `zone`; amounts with `currency`'s places unless a row names its own.
    pub fn new(zone: Tz, currency: Currency, excel: bool) -> Self {
        CsvEncoder {
            zone,
            currency,
            excel,
        }
    }

    /// The first chunk: the byte-order mark (for Excel) and the header row.
    pub fn header(&self) -> AppResult<Bytes> {
        let mut out = Vec::new();
        if self.excel {
            out.extend_from_slice(BOM);
        }
        let mut writer = self.writer(out);
        writer.write_record(COLUMNS).map_err(failed)?;
        self.finish(writer)
    }

    /// One page of rows as one chunk.
    pub fn page(&self, page: ExportPage) -> AppResult<Bytes> {
        let mut writer = self.writer(Vec::with_capacity(page.len() * 256));
        for row in page {
            let c = Cells::new(row, self.zone, self.currency)?;
            let contact_id = c.contact_id.to_string();
            let lead_id = c.lead_id.map(|l| l.to_string()).unwrap_or_default();
            let record: [&str; 11] = [
                &c.id,
                &c.converted_at_text(),
                &guarded(&c.workspace_id),
                &contact_id,
                &lead_id,
                &guarded(&c.conversion_type),
                c.conversion_value.as_deref().unwrap_or_default(),
                &guarded(&c.currency),
                &guarded(&c.converted_by),
                &guarded(c.custom_data.as_deref().unwrap_or_default()),
                &c.status,
            ];
            writer.write_record(record).map_err(failed)?;
        }
        self.finish(writer)
    }

    fn writer(&self, out: Vec<u8>) -> csv::Writer<Vec<u8>> {
        let terminator = if self.excel {
            csv::Terminator::CRLF
        } else {
            csv::Terminator::Any(b'\n')
        };
        csv::WriterBuilder::new()
            .terminator(terminator)
            .from_writer(out)
    }

    fn finish(&self, writer: csv::Writer<Vec<u8>>) -> AppResult<Bytes> {
        let bytes = writer
            .into_inner()
            .map_err(|e| AppError::Internal(format!("CSV buffer: {e}")))?;
        Ok(Bytes::from(bytes))
    }
}

fn failed(err: csv::Error) -> AppError {
    AppError::Internal(format!("writing CSV: {err}"))
}
