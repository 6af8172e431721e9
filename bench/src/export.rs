//! The `export` scenario: downloads `GET /conversions/export` of a (seeded) database back to
//! back for `--duration` seconds (at least once), reading each body to its last byte as a
//! client would, and reports rows per second and how much the server's resident memory grew.
//! It needs no setup: it reads whatever the database holds, as the admin.

use crate::cli::{Args, ExportFormat};
use crate::client::Api;
use crate::server::{Probe, ServerReport};
use crate::window::Window;
use serde::Serialize;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One export may legitimately take minutes (an .xlsx of a million rows).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(1800);

#[derive(Serialize)]
pub struct ExportReport {
    pub url: String,
    pub query: String,
    pub exports: Vec<OneExport>,
    /// Data rows of all CSV exports over their total time (None for xlsx, whose rows are not
    /// counted client-side).
    pub rows_per_s: Option<f64>,
    pub megabytes_per_s: f64,
    /// Largest sampled `VmRSS` minus `VmRSS` before the first export, in kB.
    pub rss_growth_kb: Option<u64>,
    pub server: ServerReport,
}

#[derive(Serialize)]
pub struct OneExport {
    pub rows: Option<u64>,
    pub bytes: u64,
    pub seconds: f64,
    /// Time to the first byte of the body.
    pub first_byte_s: f64,
}

pub async fn run(args: &Args) -> Result<(), String> {
    let query = query(args);
    let path = format!("/conversions/export?{query}");
    let http = reqwest::Client::builder()
        .timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))?;
    let api = Arc::new(Api::new(&args.url, 4).map_err(|e| format!("HTTP client: {e}"))?);
    let url = format!("{}{path}", api.base());
    eprintln!("exporting {url} for {} s …", args.duration);
    let window = Window::open(Duration::ZERO, args.duration());
    let probe = Probe::start(api.clone(), args.server_pid, window);
    let mut exports = Vec::new();
    loop {
        exports.push(export_once(&http, &url, &args.admin_key, args.export_format).await?);
        if tokio::time::Instant::now() >= window.end {
            break;
        }
    }
    let server = probe.finish().await;
    let report = ExportReport::new(args.url.clone(), query, exports, server);
    print!("{}", report.table());
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The query string: the format, plus the workspace and zone when given.
fn query(args: &Args) -> String {
    let mut query = match args.export_format {
        ExportFormat::Csv => "format=csv".to_owned(),
        ExportFormat::Xlsx => "format=xlsx".to_owned(),
    };
    if let Some(ws) = &args.analytics_workspace {
        let _ = write!(query, "&workspace_id={ws}");
    }
    if let Some(zone) = &args.time_zone {
        let _ = write!(query, "&time_zone={zone}");
    }
    query
}

/// One download, read chunk by chunk (never held whole); CSV rows are counted by line ends.
async fn export_once(
    http: &reqwest::Client,
    url: &str,
    admin_key: &str,
    format: ExportFormat,
) -> Result<OneExport, String> {
    let started = Instant::now();
    let mut response = http
        .get(url)
        .bearer_auth(admin_key)
        .send()
        .await
        .map_err(|e| format!("export request: {e}"))?;
    let first_byte_s = started.elapsed().as_secs_f64();
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        return Err(format!("export answered {status}: {body}"));
    }
    let (mut bytes, mut lines) = (0u64, 0u64);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("export body cut short: {e}"))?
    {
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    Ok(OneExport {
        // Text never holds a raw line end (the API refuses control characters), so each
        // line is one record; the first is the header.
        rows: matches!(format, ExportFormat::Csv).then(|| lines.saturating_sub(1)),
        bytes,
        seconds: started.elapsed().as_secs_f64(),
        first_byte_s,
    })
}

impl ExportReport {
    fn new(url: String, query: String, exports: Vec<OneExport>, server: ServerReport) -> Self {
        let seconds: f64 = exports.iter().map(|e| e.seconds).sum();
        let bytes: u64 = exports.iter().map(|e| e.bytes).sum();
        let rows: Option<u64> = exports.iter().map(|e| e.rows).sum();
        ExportReport {
            url,
            query,
            rows_per_s: rows.map(|r| r as f64 / seconds),
            megabytes_per_s: bytes as f64 / 1e6 / seconds,
            rss_growth_kb: server
                .max_sampled_rss_kb
                .zip(server.rss_before_kb)
                .map(|(max, before)| max.saturating_sub(before)),
            exports,
            server,
        }
    }

    fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "export {} ({})", self.query, self.url);
        for (i, e) in self.exports.iter().enumerate() {
            let rows = e.rows.map_or_else(|| "-".to_owned(), |r| r.to_string());
            let _ = writeln!(
                out,
                "  #{:<3} rows {rows:>10}  bytes {:>12}  {:>7.2} s  first byte {:.3} s",
                i + 1,
                e.bytes,
                e.seconds,
                e.first_byte_s
            );
        }
        if let Some(r) = self.rows_per_s {
            let _ = writeln!(out, "rows/s            {r:>12.0}");
        }
        let _ = writeln!(out, "MB/s              {:>12.1}", self.megabytes_per_s);
        let mb = |kb: Option<u64>| {
            kb.map_or_else(
                || "-".to_owned(),
                |k| format!("{:.1} MB", k as f64 / 1024.0),
            )
        };
        let _ = writeln!(
            out,
            "server RSS before {:>12}",
            mb(self.server.rss_before_kb)
        );
        let _ = writeln!(
            out,
            "server RSS max    {:>12}",
            mb(self.server.max_sampled_rss_kb)
        );
        let _ = writeln!(out, "server RSS growth {:>12}", mb(self.rss_growth_kb));
        let _ = writeln!(out, "server peak (HWM) {:>12}", mb(self.server.peak_rss_kb));
        if let Some(s) = self.server.db_statements {
            let _ = writeln!(out, "SQL statements    {s:>12}");
        }
        out
    }
}
