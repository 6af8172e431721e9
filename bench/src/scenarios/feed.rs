//! The feed: subscribers on `conversionFeed`, one WebSocket each, all connected and registered
//! before a writer logs conversions at a fixed rate over REST. The writer's ledger and the
//! subscribers' logs are joined at the end (see `delivery`).

use crate::cli::Reads;
use crate::cli::{Args, ReadAs};
use crate::client::{Api, error_code};
use crate::delivery::{self, FeedReport, Ledger, SubscriberLog};
use crate::ops::Op;
use crate::server::metric;
use crate::setup::Fixture;
use crate::stats::Tally;
use crate::window::Window;
use crate::ws::{Delivery, FeedSocket};
use chrono::Utc;
use futures_util::{StreamExt, stream};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// Only what the measurement needs, so the payload costs the server little to build.
pub const SUBSCRIPTION: &str =
    "subscription { conversionFeed { conversion { id workspaceId createdAt } } }";
/// Sockets opened at once: a burst of a thousand handshakes would measure the accept queue.
const CONNECT_PARALLELISM: usize = 32;
/// How long the server gets to register every subscription before the writer starts.
const REGISTRATION_WAIT: Duration = Duration::from_secs(10);
/// How long after the last write the subscribers keep listening for stragglers.
const DRAIN: Duration = Duration::from_secs(2);
const FEED_SUBSCRIBERS: &str = "convio_feed_subscribers";
const WRITER: &str = "feed writer: POST /conversions/log";

/// Subscribers already listening, each in its own task until told to stop.
pub struct Subscribers {
    requested: usize,
    listening: Vec<JoinHandle<SubscriberLog>>,
    connect_errors: BTreeMap<String, u64>,
    stop: watch::Sender<bool>,
}

pub async fn connect(api: &Api, fixture: &Fixture, args: &Args) -> Subscribers {
    let url = ws_url(api.base());
    let before = subscriber_gauge(api).await;
    let (stop, stopped) = watch::channel(false);
    let opened: Vec<_> = stream::iter(0..args.subscribers)
        .map(|i| {
            let (scope, payload) = match args.read_as {
                ReadAs::Admin => (
                    None,
                    json!({ "Authorization": format!("Bearer {}", args.admin_key) }),
                ),
                ReadAs::Workspace => {
                    let t = i % fixture.tenants.len();
                    let tenant = &fixture.tenants[t];
                    (
                        Some(t),
                        json!({ "X-Workspace-ID": tenant.id, "X-API-Key": tenant.key }),
                    )
                }
            };
            let url = &url;
            async move { (scope, FeedSocket::open(url, &payload, SUBSCRIPTION).await) }
        })
        .buffer_unordered(CONNECT_PARALLELISM)
        .collect()
        .await;
    let mut subscribers = Subscribers {
        requested: args.subscribers,
        listening: Vec::new(),
        connect_errors: BTreeMap::new(),
        stop,
    };
    for (scope, socket) in opened {
        match socket {
            Ok(socket) => {
                subscribers
                    .listening
                    .push(tokio::spawn(listen(socket, scope, stopped.clone())))
            }
            Err(key) => *subscribers.connect_errors.entry(key).or_default() += 1,
        }
    }
    wait_until_registered(api, before, subscribers.listening.len()).await;
    subscribers
}

/// `subscribe` has no acknowledgement in graphql-transport-ws, so the server's own gauge tells
/// when every subscription is live; a write before that would be "lost" for no fault of the feed.
async fn wait_until_registered(api: &Api, before: Option<u64>, added: usize) {
    let deadline = Instant::now() + REGISTRATION_WAIT;
    let Some(before) = before else {
        eprintln!("warning: no {FEED_SUBSCRIBERS} in /metrics; giving subscriptions 1 s to start");
        tokio::time::sleep(Duration::from_secs(1)).await;
        return;
    };
    while subscriber_gauge(api).await.unwrap_or(0) < before + added as u64 {
        if Instant::now() >= deadline {
            eprintln!("warning: not every subscription registered within {REGISTRATION_WAIT:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn subscriber_gauge(api: &Api) -> Option<u64> {
    metric(&api.metrics().await.ok()?, FEED_SUBSCRIBERS)
}

pub async fn listen(
    mut socket: FeedSocket,
    scope: Option<usize>,
    mut stopped: watch::Receiver<bool>,
) -> SubscriberLog {
    let mut log = SubscriberLog::new(scope);
    loop {
        tokio::select! {
            delivery = socket.next() => match delivery {
                Delivery::Next(payload) => log.next(&payload, Instant::now(), Utc::now()),
                Delivery::Error(payload) => {
                    log.error(format!("feed: error {}", error_code(payload.get(0).and_then(|e| e.get("extensions")))));
                    break;
                }
                Delivery::Complete => {
                    log.error("feed: completed by the server".into());
                    break;
                }
                Delivery::Closed(why) => {
                    log.error(why);
                    break;
                }
                Delivery::Unexpected(what) => log.error(format!("ws: unexpected message {what}")),
            },
            _ = stopped.changed() => break,
        }
    }
    socket.close().await;
    log
}

/// Writes at `rate` through the window, waits for stragglers, stops the subscribers and
/// accounts for what they received.
pub async fn run(
    subscribers: Subscribers,
    api: Arc<Api>,
    fixture: Arc<Fixture>,
    rate: u32,
    window: Window,
) -> (Tally, FeedReport) {
    let (tally, ledger) = write(api, fixture, rate, window).await;
    tokio::time::sleep(DRAIN).await;
    let _ = subscribers.stop.send(true);
    let mut logs = Vec::with_capacity(subscribers.listening.len());
    for task in subscribers.listening {
        if let Ok(log) = task.await {
            logs.push(log);
        }
    }
    let report = delivery::account(
        &ledger,
        &logs,
        subscribers.requested,
        subscribers.connect_errors,
    );
    (tally, report)
}

/// Open loop: one write every 1/rate s whatever the answers, so a slow server does not slow
/// the feed's input (a late tick is caught up, keeping the average rate).
async fn write(api: Arc<Api>, fixture: Arc<Fixture>, rate: u32, window: Window) -> (Tally, Ledger) {
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    let mut writes = JoinSet::new();
    let tenants = fixture.tenants.len() as u64;
    for n in 0u64.. {
        if ticks.tick().await >= window.end {
            break;
        }
        let (api, fixture) = (api.clone(), fixture.clone());
        let tenant = (n % tenants) as usize;
        writes.spawn(async move {
            let began = Instant::now();
            let result = Op::LogRest
                .run(
                    &api,
                    &fixture.tenants[tenant],
                    n / tenants,
                    &Reads::default(),
                )
                .await;
            (tenant, began, began.elapsed(), result)
        });
    }
    let mut tally = Tally::default();
    let mut ledger = Ledger::new();
    while let Some(joined) = writes.join_next().await {
        let Ok((tenant, sent, elapsed, result)) = joined else {
            tally.error(WRITER, "bench: writer task failed".into());
            continue;
        };
        if !window.measures(sent) {
            continue;
        }
        match result {
            Ok(Some(id)) => {
                tally.ok(WRITER, elapsed);
                ledger.insert(id, delivery::Ack { sent, tenant });
            }
            Ok(None) => tally.error(WRITER, "bench: no conversion id".into()),
            Err(key) => tally.error(WRITER, key),
        }
    }
    (tally, ledger)
}

/// `http://host:port` → `ws://host:port/graphql/ws` (and https → wss).
fn ws_url(base: &str) -> String {
    let rest = base
        .strip_prefix("https://")
        .map(|rest| format!("wss://{rest}"))
        .or_else(|| {
            base.strip_prefix("http://")
                .map(|rest| format!("ws://{rest}"))
        })
        .unwrap_or_else(|| base.to_owned());
    format!("{rest}/graphql/ws")
}

#[cfg(test)]
mod tests {
    use super::ws_url;

    #[test]
    fn websocket_url_follows_the_base_url() {
        assert_eq!(
            ws_url("http://127.0.0.1:8080"),
            "ws://127.0.0.1:8080/graphql/ws"
        );
        assert_eq!(
            ws_url("https://convio.example"),
            "wss://convio.example/graphql/ws"
        );
    }
}
