//! .xlsx: a real workbook (typed number and date-time cells, frozen header, autofilter) built
//! with `rust_xlsxwriter` in constant-memory mode, off the async runtime. Rows go to the
//! worksheet's temporary file as they arrive, the finished workbook to another temporary file,
//! and the response reads that file back in chunks: memory stays bounded whatever the size.

use super::cells::{COLUMNS, Cells};
use crate::domain::Currency;
use crate::error::{AppError, AppResult};
use crate::service::export::{ExportPage, ensure_fits_xlsx};
use axum::body::Bytes;
use chrono_tz::Tz;
use futures_util::{Stream, StreamExt};
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;

/// Bytes per chunk of the finished file sent to the client.
const CHUNK: usize = 64 * 1024;
/// Integers beyond this lose precision as Excel numbers (IEEE doubles); they are written as text.
const EXACT_INTEGER: i64 = 1 << 53;

/// What the async side hands the worker.
enum Message {
    Page(ExportPage),
    /// Every page was sent: save the workbook. A channel closed without this means the export
    /// failed, and nothing is saved.
    Done,
}

/// How rows are written: the zone of `converted_at`, the server currency for number formats,
/// and the most rows the sheet may take.
#[derive(Clone, Copy)]
pub struct Layout {
    /// The zone whose local time `converted_at` cells hold.
    pub zone: Tz,
    /// The server's currency: the value column shows its decimal places.
    pub currency: Currency,
    /// Most data rows; one more ends the export with the 422 of `ensure_fits_xlsx`.
    pub max_rows: u64,
}

/// Builds the workbook from `pages` and returns its size in bytes and its content as a stream
/// of chunks. Any failure before the workbook is complete is returned here, so the caller can
/// still answer with a problem; a failure while sending it ends the stream with an error.
pub async fn build(
    pages: impl Stream<Item = AppResult<ExportPage>> + Send,
    layout: Layout,
) -> AppResult<(
    u64,
    impl Stream<Item = std::io::Result<Bytes>> + Send + 'static,
)> {
    let (page_tx, page_rx) = mpsc::channel(2);
    let (ready_tx, ready_rx) = oneshot::channel();
    let (chunk_tx, chunk_rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || match write_workbook(page_rx, layout) {
        Err(err) => {
            let _ = ready_tx.send(Err(err));
        }
        Ok((file, len)) => {
            if ready_tx.send(Ok(len)).is_ok() {
                send_file(file, &chunk_tx);
            }
        }
    });
    let mut pages = std::pin::pin!(pages);
    while let Some(page) = pages.next().await {
        // On error, returning drops `page_tx` without `Done`: the worker stops unsaved.
        if page_tx.send(Message::Page(page?)).await.is_err() {
            break; // The worker failed; its error arrives on `ready_rx`.
        }
    }
    let _ = page_tx.send(Message::Done).await;
    let len = ready_rx
        .await
        .map_err(|_| AppError::Internal("the workbook writer stopped".into()))??;
    Ok((len, ReceiverStream::new(chunk_rx)))
}

/// Writes every page into a constant-memory worksheet, then saves the workbook to an
/// anonymous temporary file (deleted when closed); returns it rewound, with its length.
fn write_workbook(
    mut pages: mpsc::Receiver<Message>,
    layout: Layout,
) -> AppResult<(std::fs::File, u64)> {
    let mut workbook = Workbook::new();
    let sheet = workbook
        .add_worksheet_with_constant_memory()
        .map_err(xlsx)?;
    let formats = Formats::new(layout.currency);
    write_header(sheet, &formats, layout.zone).map_err(xlsx)?;
    let mut written: u64 = 0;
    loop {
        match pages.blocking_recv() {
            Some(Message::Page(page)) => {
                for row in page {
                    written += 1;
                    ensure_fits_xlsx(written, layout.max_rows)?;
                    let cells = Cells::new(row, layout.zone, layout.currency)?;
                    // `written` is at most Excel's 1,048,575, so it fits a row number.
                    write_row(sheet, &formats, written as u32, &cells).map_err(xlsx)?;
                }
            }
            Some(Message::Done) => break,
            None => return Err(AppError::Internal("the export was abandoned".into())),
        }
    }
    let last_col = COLUMNS.len() as u16; // the offset column follows the eleven shared ones
    sheet
        .autofilter(0, 0, written as u32, last_col)
        .map_err(xlsx)?;
    let mut file = tempfile::tempfile().map_err(io)?;
    {
        let mut out = BufWriter::new(&mut file);
        workbook.save_to_writer(&mut out).map_err(xlsx)?;
        out.flush().map_err(io)?;
    }
    let len = file.seek(SeekFrom::End(0)).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok((file, len))
}

/// The cell formats, made once per workbook.
struct Formats {
    header: Format,
    date_time: Format,
    integer: Format,
    /// The value column, with exactly the currency's decimal places.
    money: Format,
}

impl Formats {
    fn new(currency: Currency) -> Self {
        let places = currency.exponent() as usize;
        let money = if places == 0 {
            "0".to_owned()
        } else {
            format!("0.{}", "0".repeat(places))
        };
        Formats {
            header: Format::new().set_bold(),
            date_time: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
            integer: Format::new().set_num_format("0"),
            money: Format::new().set_num_format(money),
        }
    }
}

/// The header row: the CSV's columns, `converted_at` naming its zone, then `utc_offset`.
/// Frozen, so it stays in view while scrolling.
fn write_header(sheet: &mut Worksheet, formats: &Formats, zone: Tz) -> Result<(), XlsxError> {
    sheet.set_name("conversions")?;
    sheet.set_freeze_panes(1, 0)?;
    for (col, width) in [
        38.0, 22.0, 18.0, 12.0, 12.0, 16.0, 16.0, 9.0, 20.0, 50.0, 10.0, 10.0,
    ]
    .into_iter()
    .enumerate()
    {
        sheet.set_column_width(col as u16, width)?;
    }
    for (col, name) in COLUMNS.iter().enumerate() {
        let title = if *name == "converted_at" {
            format!("converted_at ({zone})")
        } else {
            (*name).to_owned()
        };
        sheet.write_string_with_format(0, col as u16, title, &formats.header)?;
    }
    sheet.write_string_with_format(0, COLUMNS.len() as u16, "utc_offset", &formats.header)?;
    Ok(())
}

/// One data row. Text stays text (a string cell is never evaluated, so no formula guard is
/// needed or applied); numbers and the date-time are typed cells.
fn write_row(
    sheet: &mut Worksheet,
    formats: &Formats,
    row: u32,
    c: &Cells,
) -> Result<(), XlsxError> {
    sheet.write_string(row, 0, &c.id)?;
    sheet.write_datetime_with_format(row, 1, c.converted_at.naive_local(), &formats.date_time)?;
    sheet.write_string(row, 2, &c.workspace_id)?;
    write_integer(sheet, formats, row, 3, c.contact_id)?;
    if let Some(lead) = c.lead_id {
        write_integer(sheet, formats, row, 4, lead)?;
    }
    sheet.write_string(row, 5, &c.conversion_type)?;
    if let Some(value) = &c.conversion_value {
        // Excel numbers are doubles: the nearest one to the exact decimal, shown with the
        // currency's places. Amounts are bounded far below 2^53 minor units.
        match value.parse::<f64>() {
            Ok(number) => sheet.write_number_with_format(row, 6, number, &formats.money)?,
            Err(_) => sheet.write_string(row, 6, value)?,
        };
    }
    sheet.write_string(row, 7, &c.currency)?;
    sheet.write_string(row, 8, &c.converted_by)?;
    if let Some(custom) = &c.custom_data {
        sheet.write_string(row, 9, custom)?;
    }
    sheet.write_string(row, 10, &c.status)?;
    sheet.write_string(row, 11, c.converted_at.format("%:z").to_string())?;
    Ok(())
}

fn write_integer(
    sheet: &mut Worksheet,
    formats: &Formats,
    row: u32,
    col: u16,
    value: i64,
) -> Result<(), XlsxError> {
    if value.abs() <= EXACT_INTEGER {
        sheet.write_number_with_format(row, col, value as f64, &formats.integer)?;
    } else {
        sheet.write_string(row, col, value.to_string())?;
    }
    Ok(())
}

/// Sends the saved workbook in chunks until it is read or the client is gone.
fn send_file(mut file: std::fs::File, chunks: &mpsc::Sender<std::io::Result<Bytes>>) {
    loop {
        let mut buf = vec![0; CHUNK];
        match file.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                if chunks.blocking_send(Ok(Bytes::from(buf))).is_err() {
                    return;
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "reading the finished workbook failed; aborting the response");
                let _ = chunks.blocking_send(Err(err));
                return;
            }
        }
    }
}

fn xlsx(err: XlsxError) -> AppError {
    AppError::Internal(format!("writing the workbook: {err}"))
}

fn io(err: std::io::Error) -> AppError {
    AppError::Internal(format!("workbook temporary file: {err}"))
}
