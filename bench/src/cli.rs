//! Command-line options.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const RATE_LIMITS: &str = "\
Rate limits: every workspace request counts against the server's hourly limit (1000 by default),
which an ingest run exhausts in a fraction of a second. Start the server with
`--rate-limit-per-hour 0` (or a very large value) for ingest runs, or pass
`--workspace-rate-limit 0` here so each workspace the bench registers is unlimited. Otherwise the
figures measure the limiter, not the service: it shows as `HTTP 429 RATE_LIMITED` errors.

Memory: `--server-pid` reads VmRSS and VmHWM from /proc/<pid>/status, so the server must run on
this machine. VmHWM is the peak since the process started: restart the server before a run
whose peak you want.";

#[derive(Parser, Clone)]
#[command(
    name = "convio-bench",
    version,
    about = "Drives a running convio server over HTTP and WebSocket and reports throughput, latency, errors, feed delivery and server memory.",
    after_help = RATE_LIMITS
)]
pub struct Args {
    /// What to load.
    #[arg(value_enum)]
    pub scenario: Scenario,

    /// The server's base URL.
    #[arg(
        long,
        env = "CONVIO_BENCH_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,

    /// The admin key, used to register the workspaces and contacts of this run.
    #[arg(long, env = "CONVIO_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: String,

    /// Seconds of measured load.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,

    /// Seconds of load before the measured part (connections opened, caches warm).
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,

    /// Concurrent clients, each sending its next request as soon as the previous one answers.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,

    /// Workspaces the load is spread over (registered for this run).
    #[arg(long, default_value_t = 32)]
    pub workspaces: usize,

    /// Contacts each workspace receives and converts (more means less contention per contact).
    #[arg(long, default_value_t = 8)]
    pub contacts_per_workspace: usize,

    /// Each registered workspace's own `rate_limit_per_hour` (0 = unlimited); unset leaves the
    /// server's default.
    #[arg(long)]
    pub workspace_rate_limit: Option<u64>,

    /// `feed` and `mixed`: WebSocket subscribers on `conversionFeed`, one socket each.
    #[arg(long, default_value_t = 100)]
    pub subscribers: usize,

    /// `slow-clients`: connections that crawl through a request while others are measured
    /// (at most 4,096; the server must be on this machine).
    #[arg(long, default_value_t = 300)]
    pub slow_clients: usize,

    /// `feed` and `mixed`: conversions per second the feed's writer logs.
    #[arg(long, default_value_t = 50)]
    pub rate: u32,

    /// `feed` and `mixed`: after the feed, measure its floor with the same subscribers and
    /// rate (see `feed-floor`) and report the feed's latency as a ratio to it.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub floor: bool,

    /// Whose view the reads take. `admin`: dashboard queries cover every workspace (all the
    /// data of a seeded database) and every feed subscriber receives every event. `workspace`:
    /// each client reads as its own workspace and each subscriber receives that workspace's
    /// events only.
    #[arg(long, value_enum, default_value_t = ReadAs::Admin)]
    pub read_as: ReadAs,

    /// Dashboard reads (as admin) cover only this workspace, e.g. `seed_ws_001` of a seeded
    /// database; workspace activity reads it too.
    #[arg(long)]
    pub analytics_workspace: Option<String>,

    /// IANA time zone of the dashboard reads' days (the server's default is UTC).
    #[arg(long)]
    pub time_zone: Option<String>,

    /// The server's process id, to sample its memory (it must run on this machine).
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// `export`: the file type asked for (`--analytics-workspace` and `--time-zone` filter it).
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub export_format: ExportFormat,

    /// `ingest-rest`: after the run, load two reference servers the same way (a bare axum
    /// handler, and one that inserts a row per request durably with group commit) and report
    /// convio's throughput as a ratio to each (see `reference`).
    #[arg(long)]
    pub ceilings: bool,

    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Scenario {
    /// `POST /conversions/log` in a loop, as webhooks do.
    IngestRest,
    /// The `logConversion` mutation in a loop.
    IngestGraphql,
    /// The plan's metric: `--concurrency` clients each log one conversion (REST) at the same
    /// instant, each over a new connection; a burst a second (`scenarios/burst.rs`). Each
    /// client holds a file descriptor: `ulimit -n` must be above `--concurrency`.
    Burst,
    /// Subscribers on `conversionFeed` while a writer logs conversions at `--rate`.
    Feed,
    /// The feed's floor alone: `--subscribers` sockets and `--rate` events/s against a server in
    /// this process that writes one prebuilt frame to every subscriber (no convio needed).
    FeedFloor,
    /// Dashboard reads in turn: analytics (GraphQL and REST) and workspace activity.
    Analytics,
    /// Ingest over both doors and dashboard reads at once, plus the feed when
    /// `--subscribers` is not 0.
    Mixed,
    /// `GET /conversions/export` of the whole database as the admin, back to back for
    /// `--duration` s (at least once): rows/s and server memory growth. No setup.
    Export,
    /// `/healthz` and a normal client's latency, first against the idle server, then while
    /// `--slow-clients` connections crawl (127.0.0.1 only). No setup.
    SlowClients,
}

/// The file type the `export` scenario asks for.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ReadAs {
    Admin,
    Workspace,
}

impl Args {
    pub fn warmup(&self) -> Duration {
        Duration::from_secs(self.warmup)
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.duration)
    }

    /// The scenario's name as given on the command line.
    pub fn scenario_name(&self) -> String {
        value_name(self.scenario)
    }

    pub fn read_as_name(&self) -> String {
        value_name(self.read_as)
    }

    /// Whose view dashboard reads take, and of what.
    pub fn reads(&self) -> Arc<Reads> {
        Arc::new(Reads {
            admin: match self.read_as {
                ReadAs::Admin => Some(self.admin_key.clone()),
                ReadAs::Workspace => None,
            },
            workspace: self.analytics_workspace.clone(),
            time_zone: self.time_zone.clone(),
        })
    }
}

fn value_name(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_owned())
}

/// What dashboard reads ask for.
#[derive(Debug, Default)]
pub struct Reads {
    /// The admin key when reads take the admin's view; else each tenant reads as itself.
    pub admin: Option<String>,
    /// Read only this workspace's figures (admin view).
    pub workspace: Option<String>,
    pub time_zone: Option<String>,
}
