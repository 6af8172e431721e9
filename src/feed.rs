//! Moves feed events from the database to this node's subscribers.
//!
//! A pump follows `feed_events` by id and publishes each event once, in order, on the local
//! bus. It wakes when this node commits a conversion, when PostgreSQL notifies that another
//! node did (LISTEN/NOTIFY carries only the id), and every few seconds regardless. A
//! notification lost while the listener was disconnected costs nothing but latency: after
//! reconnecting, the pump reads everything after the last id it published.
//!
//! The same listener hears other nodes announce changed credentials (revoked keys, a
//! disabled workspace, …): this node then forgets the keys it verified and its WebSocket
//! connections re-check their caller. While it is not listening, verified keys are not cached.

use crate::service::Services;
use crate::service::feed::CHANNEL;
use crate::service::workspace::CREDENTIALS_CHANNEL;
use sea_orm::DbBackend;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// Backstop poll, in case a wake-up is ever missed.
const POLL: Duration = Duration::from_secs(2);
const BATCH: u64 = 500;
/// Visible in `pg_stat_activity` as `convio-feed-listener-<pid>`, so operators (and tests)
/// can find each node's listener.
pub const LISTENER_APPLICATION_NAME: &str = "convio-feed-listener";

/// Starts following the feed from its current head. Runs until the process ends.
pub async fn start(services: Services, database_url: &str) -> crate::error::AppResult<()> {
    let head = services.feed_head().await?;
    if services.db.backend() == DbBackend::Postgres {
        tokio::spawn(listen(database_url.to_owned(), services.clone()));
    }
    tokio::spawn(pump(services, head));
    Ok(())
}

async fn pump(services: Services, mut last: i64) {
    // Alive from here, at the head `start` read: `/healthz` reads this heartbeat.
    services.metrics.feed_pump_ran();
    loop {
        tokio::select! {
            () = services.feed_signal.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
        loop {
            if services.bus.subscriber_count() == 0 {
                match pass_unheard(&services, &mut last).await {
                    Ok(true) => {
                        services.metrics.feed_pump_ran();
                        break;
                    }
                    // Someone subscribed meanwhile: publish as usual.
                    Ok(false) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "reading the feed failed; retrying");
                        break;
                    }
                }
            }
            match services.feed_events_after(last, BATCH).await {
                Ok(events) if events.is_empty() => {
                    services.metrics.feed_pump_ran();
                    break;
                }
                Ok(events) => {
                    let published = events.len();
                    for event in events {
                        last = event.sequence;
                        services.bus.publish(event);
                    }
                    // Counted once published: a reader of the count finds them on the bus.
                    services.metrics.feed_published(published);
                }
                Err(err) => {
                    tracing::warn!(error = %err, "reading the feed failed; retrying");
                    break;
                }
            }
        }
    }
}

/// With no subscriber on this node, moves `last` past the events committed since, without
/// reading them back: `Ok(true)`. `Ok(false)` if someone subscribed meanwhile; `last` is
/// then unchanged.
///
/// The head is read before the subscribers are counted again. An event at or before it was
/// committed before that count found no one, so it was committed before anyone now listening
/// subscribed; a subscriber is owed only what commits after it subscribes (and a resumed one
/// reads the rest from the table). Skipped events count as published: to no one.
async fn pass_unheard(services: &Services, last: &mut i64) -> crate::error::AppResult<bool> {
    let (count, head) = services.feed_events_since(*last).await?;
    if services.bus.subscriber_count() > 0 {
        return Ok(false);
    }
    if let Some(head) = head {
        *last = head;
        services.metrics.feed_published(count);
    }
    Ok(true)
}

/// Turns PostgreSQL notifications into pump wake-ups and credential re-checks; reconnects
/// after any failure and then wakes the pump so it catches up on whatever was committed
/// meanwhile (and re-checks credentials, in case a withdrawal was announced meanwhile).
async fn listen(database_url: String, services: Services) {
    loop {
        match listen_once(&database_url, &services).await {
            Ok(()) => tracing::warn!("feed listener disconnected; reconnecting"),
            Err(err) => tracing::warn!(error = %err, "feed listener failed; reconnecting"),
        }
        services.metrics.feed_listener(false);
        // Announcements are lost until the next LISTEN: verified keys are not trusted meanwhile.
        services.credentials_listening(false);
        services.feed_signal.notify_one();
        services.recheck_credentials();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn listen_once(database_url: &str, services: &Services) -> Result<(), sea_orm::sqlx::Error> {
    let signal = &services.feed_signal;
    let name = format!("{LISTENER_APPLICATION_NAME}-{}", std::process::id());
    let options = PgConnectOptions::from_str(database_url)?.application_name(&name);
    let port = crate::db::postgres_port(database_url);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .after_connect(move |_, _| {
            Box::pin(async move {
                if let Some(port) = port {
                    crate::db::no_delay_towards(port);
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen_all([CHANNEL, CREDENTIALS_CHANNEL]).await?;
    services.metrics.feed_listener(true);
    // Hearing every change from here on, the cache of verified keys may be used again; and
    // open connections re-check, in case a change was announced while nobody listened.
    services.credentials_listening(true);
    services.recheck_credentials();
    // Listening from here on; anything committed before is in the table.
    signal.notify_one();
    // `try_recv` yields `None` when the connection drops: return, and reconnect afresh so the
    // catch-up above runs after the new LISTEN is in place.
    while let Some(notification) = listener.try_recv().await? {
        if notification.channel() == CREDENTIALS_CHANNEL {
            if !services.is_own_announcement(notification.payload()) {
                services.recheck_credentials();
            }
        } else {
            signal.notify_one();
        }
    }
    Ok(())
}
