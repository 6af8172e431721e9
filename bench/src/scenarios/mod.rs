//! The scenarios: which operations run, how many clients run them, and whether the feed is
//! measured alongside. The measured window opens only once every subscriber is listening.

mod burst;
mod closed_loop;
pub mod feed;

use crate::cli::{Args, Scenario};
use crate::client::Api;
use crate::delivery::FeedReport;
use crate::ops::Op;
use crate::server::{Probe, ServerReport};
use crate::setup::Fixture;
use crate::stats::Tally;
use crate::window::Window;
use std::sync::Arc;

/// The dashboard's reads, in turn.
const DASHBOARD: &[Op] = &[
    Op::AnalyticsGraphql,
    Op::AnalyticsRest,
    Op::ActivityRest,
    Op::ActivityGraphql,
];

/// Mostly writes, as in production, with a dashboard read for every two of them.
const MIXED: &[Op] = &[
    Op::LogRest,
    Op::LogGraphql,
    Op::AnalyticsGraphql,
    Op::LogRest,
    Op::LogGraphql,
    Op::ActivityRest,
];

pub struct Outcome {
    pub window: Window,
    pub tally: Tally,
    pub feed: Option<FeedReport>,
    /// The feed's floor (`floor`), measured after it with the same subscribers and rate.
    pub floor: Option<FeedReport>,
    pub server: ServerReport,
}

/// Who sends requests during the window.
enum Clients {
    /// Closed-loop clients taking the operations in turn.
    Loop(&'static [Op]),
    /// Bursts of one `POST /conversions/log` per client (`burst`).
    Burst,
    None,
}

pub async fn run(args: &Args, api: Arc<Api>, fixture: Arc<Fixture>) -> Outcome {
    // Which clients run, and whether the feed runs beside them.
    let (clients, with_feed) = match args.scenario {
        Scenario::IngestRest => (Clients::Loop(&[Op::LogRest]), false),
        Scenario::IngestGraphql => (Clients::Loop(&[Op::LogGraphql]), false),
        Scenario::Burst => (Clients::Burst, false),
        Scenario::Analytics => (Clients::Loop(DASHBOARD), false),
        Scenario::Feed => (Clients::None, true),
        Scenario::Mixed => (Clients::Loop(MIXED), args.subscribers > 0),
        // Run on their own (see `export`, `slow`, `floor`), never through here.
        Scenario::Export | Scenario::SlowClients | Scenario::FeedFloor => (Clients::None, false),
    };
    let subscribers = if with_feed {
        Some(feed::connect(&api, &fixture, args).await)
    } else {
        None
    };
    let window = Window::open(args.warmup(), args.duration());
    let probe = Probe::start(api.clone(), args.server_pid, window);
    let (n, reads) = (args.concurrency, args.reads());
    let clients = async {
        match clients {
            Clients::Loop(mix) => {
                closed_loop::drive(api.clone(), fixture.clone(), n, mix, reads, window).await
            }
            // A client that keeps no idle connection: each request opens its own.
            Clients::Burst => match Api::new(api.base(), 0) {
                Ok(fresh) => {
                    let (fresh, fixture) = (Arc::new(fresh), fixture.clone());
                    burst::drive(fresh, fixture, n, Op::LogRest, reads, window).await
                }
                Err(e) => {
                    let mut tally = Tally::default();
                    tally.error("bench", format!("building the HTTP client: {e}"));
                    tally
                }
            },
            Clients::None => Tally::default(),
        }
    };
    let feed = async {
        match subscribers {
            Some(subscribers) => {
                Some(feed::run(subscribers, api.clone(), fixture.clone(), args.rate, window).await)
            }
            None => None,
        }
    };
    let (mut tally, feed) = tokio::join!(clients, feed);
    let feed = feed.map(|(writer, report)| {
        tally.merge(writer);
        report
    });
    let server = probe.finish().await;
    let floor = match (&feed, args.floor) {
        (Some(_), true) => measure_floor(args).await,
        _ => None,
    };
    Outcome {
        window,
        tally,
        feed,
        floor,
        server,
    }
}

/// The clients' tallies merged; a client task that failed counts as a `bench` error.
async fn gather(tasks: Vec<tokio::task::JoinHandle<Tally>>) -> Tally {
    let mut tally = Tally::default();
    for task in tasks {
        match task.await {
            Ok(theirs) => tally.merge(theirs),
            Err(e) => tally.error("bench", format!("client task failed: {e}")),
        }
    }
    tally
}

/// The `ingest-rest` load (same clients, same window) against a reference server at `url`.
pub async fn against_reference(
    args: &Args,
    url: &str,
    fixture: Arc<Fixture>,
) -> Result<Tally, String> {
    let api = Arc::new(
        Api::new(url, args.concurrency + 16)
            .map_err(|e| format!("building the HTTP client: {e}"))?,
    );
    let window = Window::open(args.warmup(), args.duration());
    Ok(closed_loop::drive(
        api,
        fixture,
        args.concurrency,
        &[Op::LogRest],
        args.reads(),
        window,
    )
    .await)
}

/// The floor with the feed's subscribers and rate; a failure to run it is reported, not
/// fatal (the feed's own figures stand).
pub async fn measure_floor(args: &Args) -> Option<FeedReport> {
    eprintln!(
        "measuring the floor: {} subscribers, {} events/s …",
        args.subscribers, args.rate
    );
    match crate::floor::measure(args.subscribers, args.rate, args.warmup(), args.duration()).await {
        Ok(report) => Some(report),
        Err(e) => {
            eprintln!("warning: {e}");
            None
        }
    }
}
