//! The figures of a run: built from the tallies, printed as a table, written as JSON.

use crate::cli::Args;
use crate::delivery::FeedReport;
use crate::scenarios::Outcome;
use crate::server::ServerReport;
use crate::stats::{Latency, OpTally, Tally};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Serialize)]
pub struct Report {
    pub scenario: String,
    pub run_id: String,
    pub url: String,
    pub started_at: DateTime<Utc>,
    pub settings: Settings,
    /// Requests started inside the measured window, per operation.
    pub operations: Vec<OpReport>,
    pub total_ok: u64,
    pub total_ok_per_s: f64,
    pub total_errors: u64,
    pub feed: Option<FeedReport>,
    /// The feed's floor measured in the same run, and the feed's createdAt → receipt over it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor: Option<FeedReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor_ratio: Option<FloorRatio>,
    pub server: ServerReport,
    /// Reference servers under the same load, after the run (`--ceilings`).
    pub ceilings: Vec<Ceiling>,
}

/// A reference server's figures under the same load, and convio's throughput as a share of it.
#[derive(Serialize)]
pub struct Ceiling {
    pub reference: String,
    pub ok_per_s: f64,
    pub latency: Option<Latency>,
    pub errors: u64,
    /// convio's successful requests per second ÷ the reference's.
    pub convio_ratio: f64,
}

#[derive(Serialize)]
pub struct Settings {
    pub duration_s: f64,
    pub warmup_s: u64,
    pub concurrency: usize,
    pub workspaces: usize,
    pub contacts_per_workspace: usize,
    pub workspace_rate_limit: Option<u64>,
    pub subscribers: usize,
    pub rate: u32,
    pub read_as: String,
}

#[derive(Serialize)]
pub struct OpReport {
    pub name: String,
    pub ok: u64,
    pub ok_per_s: f64,
    /// Latency of the successful requests, to the last byte of the answer.
    pub latency: Option<Latency>,
    pub errors: BTreeMap<String, u64>,
    /// Times requests another row counts already, another way: not in the totals.
    pub again: bool,
}

impl OpReport {
    fn new(name: &str, tally: &OpTally, seconds: f64) -> OpReport {
        OpReport {
            name: name.to_owned(),
            ok: tally.ok,
            ok_per_s: per_second(tally.ok, seconds),
            latency: Latency::of(&tally.latency),
            errors: tally.errors.clone(),
            again: tally.again,
        }
    }
}

fn per_second(n: u64, seconds: f64) -> f64 {
    (n as f64 / seconds * 10.0).round() / 10.0
}

impl Report {
    pub fn new(args: &Args, run_id: String, started_at: DateTime<Utc>, outcome: Outcome) -> Report {
        let seconds = outcome.window.seconds();
        let operations: Vec<OpReport> = outcome
            .tally
            .ops()
            .map(|(name, tally)| OpReport::new(name, tally, seconds))
            .collect();
        let counted = || {
            outcome
                .tally
                .ops()
                .filter(|(_, tally)| !tally.again)
                .map(|(_, tally)| tally)
        };
        let total_ok = counted().map(|t| t.ok).sum();
        let total_errors = counted().flat_map(|t| t.errors.values()).sum();
        Report {
            scenario: args.scenario_name(),
            run_id,
            url: args.url.clone(),
            started_at,
            settings: Settings {
                duration_s: seconds,
                warmup_s: args.warmup,
                concurrency: args.concurrency,
                workspaces: args.workspaces,
                contacts_per_workspace: args.contacts_per_workspace,
                workspace_rate_limit: args.workspace_rate_limit,
                subscribers: args.subscribers,
                rate: args.rate,
                read_as: args.read_as_name(),
            },
            operations,
            total_ok,
            total_ok_per_s: per_second(total_ok, seconds),
            total_errors,
            floor_ratio: FloorRatio::of(outcome.feed.as_ref(), outcome.floor.as_ref()),
            feed: outcome.feed,
            floor: outcome.floor,
            server: outcome.server,
            ceilings: Vec::new(),
        }
    }

    /// Adds the reference `name`'s figures from its run under the same load.
    pub fn add_ceiling(&mut self, name: &str, tally: &Tally) {
        let seconds = self.settings.duration_s;
        let mut ok = 0;
        let mut errors = 0;
        let mut latency = None;
        for (_, op) in tally.ops() {
            ok += op.ok;
            errors += op.errors.values().sum::<u64>();
            latency = Latency::of(&op.latency);
        }
        let ok_per_s = per_second(ok, seconds);
        self.ceilings.push(Ceiling {
            reference: name.to_owned(),
            ok_per_s,
            latency,
            errors,
            convio_ratio: if ok_per_s > 0.0 {
                (self.total_ok_per_s / ok_per_s * 1000.0).round() / 1000.0
            } else {
                0.0
            },
        });
    }

    pub fn write_json(&self, path: &Path) -> Result<(), String> {
        let json = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(path, json + "\n").map_err(|e| format!("writing {}: {e}", path.display()))
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let s = &self.settings;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "convio-bench {} · run {} · {} · {} s measured after {} s warm-up",
            self.scenario, self.run_id, self.url, s.duration_s, s.warmup_s
        );
        let _ = write!(
            out,
            "{} clients · {} workspaces × {} contacts · reads as {}",
            s.concurrency, s.workspaces, s.contacts_per_workspace, s.read_as
        );
        if self.feed.is_some() {
            let _ = write!(out, " · {} subscribers, {} writes/s", s.subscribers, s.rate);
        }
        out.push_str("\n\n");
        let _ = writeln!(
            out,
            "{:<38} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
            "operation", "ok", "ok/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"
        );
        for op in &self.operations {
            let errors: u64 = op.errors.values().sum();
            let _ = writeln!(
                out,
                "{:<38} {:>9} {:>9.1} {} {:>7}",
                op.name,
                op.ok,
                op.ok_per_s,
                latency_columns(op.latency.as_ref()),
                errors
            );
            for (key, n) in &op.errors {
                let _ = writeln!(out, "    {n:>9} × {key}");
            }
        }
        let _ = writeln!(
            out,
            "{:<38} {:>9} {:>9.1} {:>39} {:>7}",
            "total", self.total_ok, self.total_ok_per_s, "", self.total_errors
        );
        if let Some(feed) = &self.feed {
            feed_lines(&mut out, feed);
        }
        if let Some(floor) = &self.floor {
            out.push_str("\nfloor (no database, one prebuilt frame written to every subscriber):");
            feed_lines(&mut out, floor);
        }
        if let Some(ratio) = &self.floor_ratio {
            let _ = writeln!(
                out,
                "\nfeed createdAt → receipt over the floor: p50 {:.2}×, p95 {:.2}×, p99 {:.2}×",
                ratio.p50, ratio.p95, ratio.p99
            );
        }
        server_lines(&mut out, &self.server, self.total_ok);
        if !self.ceilings.is_empty() {
            out.push_str("\nceilings: the same clients against reference servers, after the run\n");
        }
        for c in &self.ceilings {
            let _ = writeln!(
                out,
                "  {:<36} {:>9} {:>9.1} {} {:>7}   convio = {:.3}×",
                c.reference,
                "",
                c.ok_per_s,
                latency_columns(c.latency.as_ref()),
                c.errors,
                c.convio_ratio
            );
        }
        out
    }
}

fn latency_columns(latency: Option<&Latency>) -> String {
    let ms = |us: u64| format!("{:>9.3}", us as f64 / 1000.0);
    match latency {
        Some(l) => format!(
            "{} {} {} {}",
            ms(l.p50_us),
            ms(l.p95_us),
            ms(l.p99_us),
            ms(l.max_us)
        ),
        None => format!("{:>39}", "-"),
    }
}

fn feed_lines(out: &mut String, feed: &FeedReport) {
    let _ = writeln!(
        out,
        "\nfeed: {}/{} subscribers connected · {} events expected · {} delivered · {} lost ({} subscribers) · {} duplicates",
        feed.connected,
        feed.subscribers,
        feed.expected,
        feed.delivered,
        feed.lost,
        feed.subscribers_with_loss,
        feed.duplicates
    );
    let _ = writeln!(
        out,
        "      {} lag notices from the server ({} events reported missed)",
        feed.lag_notices, feed.missed_reported
    );
    let latencies = [
        ("  send → receipt", &feed.send_to_receipt),
        ("  createdAt → receipt", &feed.created_to_receipt),
    ];
    for (name, latency) in latencies {
        let count = latency.as_ref().map_or(0, |l| l.count);
        let columns = latency_columns(latency.as_ref());
        let _ = writeln!(out, "{name:<38} {count:>9} {:>9} {columns}", "");
    }
    for (key, n) in &feed.errors {
        let _ = writeln!(out, "    {n:>9} × {key}");
    }
}

fn server_lines(out: &mut String, server: &ServerReport, total_ok: u64) {
    let mb =
        |kb: Option<u64>| kb.map_or("-".to_owned(), |kb| format!("{:.1} MB", kb as f64 / 1024.0));
    let _ = writeln!(
        out,
        "\nserver: peak RSS (VmHWM) {} · max sampled RSS {} · RSS before {}",
        mb(server.peak_rss_kb),
        mb(server.max_sampled_rss_kb),
        mb(server.rss_before_kb)
    );
    if let Some(threads) = &server.cpu_ms_by_thread {
        let per_ok = |ms: u64| ms as f64 * 1000.0 / total_ok.max(1) as f64;
        let total: u64 = threads.values().sum();
        let each: Vec<String> = threads
            .iter()
            .map(|(name, &ms)| format!("{name} {:.0}", per_ok(ms)))
            .collect();
        let _ = writeln!(
            out,
            "        CPU per ok request: {:.0} µs ({})",
            per_ok(total),
            each.join(", ")
        );
    }
    if let Some(statements) = server.db_statements {
        let per_ok = statements as f64 / total_ok.max(1) as f64;
        let _ = writeln!(
            out,
            "        {statements} SQL statements in the window ({per_ok:.1} per ok request)"
        );
    }
}

/// The feed's createdAt → receipt percentiles divided by the floor's.
#[derive(Debug, Serialize)]
pub struct FloorRatio {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

impl FloorRatio {
    fn of(feed: Option<&FeedReport>, floor: Option<&FeedReport>) -> Option<FloorRatio> {
        let feed = feed?.created_to_receipt.as_ref()?;
        let floor = floor?.created_to_receipt.as_ref()?;
        let ratio = |a: u64, b: u64| a as f64 / b.max(1) as f64;
        Some(FloorRatio {
            p50: ratio(feed.p50_us, floor.p50_us),
            p95: ratio(feed.p95_us, floor.p95_us),
            p99: ratio(feed.p99_us, floor.p99_us),
        })
    }
}

/// `feed-floor` alone: its settings and its delivery figures.
pub fn floor_table(args: &Args, floor: &FeedReport) -> String {
    let mut out = format!(
        "convio-bench feed-floor · {} subscribers, {} events/s · {} s measured after {} s warm-up\n",
        args.subscribers, args.rate, args.duration, args.warmup
    );
    feed_lines(&mut out, floor);
    out
}
