//! The plan's own metric, "1000 concurrent conversions" answered at "< 200 ms (p95)": bursts in
//! which `clients` clients each log one conversion at the same instant, each over a connection
//! it opens for that request (as a CRM's webhook does). Two latencies, each to the answer's
//! last byte: from the moment the client sends (before it connects), and from the burst's
//! release, which adds the time this process takes to set 1,000 requests going on the cores
//! it shares with the server. A burst starts once the one before it has been answered in full,
//! and at most one a second, so each meets a writer with nothing queued; a closed loop of as
//! many clients would measure its own queue instead.

use crate::cli::Reads;
use crate::client::Api;
use crate::ops::Op;
use crate::setup::Fixture;
use crate::stats::Tally;
use crate::window::Window;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Barrier, watch};
use tokio::time::Instant;

/// The report row of the latency from the burst's release.
const FROM_RELEASE: &str = "burst: release → last byte";

/// The least time from one burst's start to the next.
const EVERY: Duration = Duration::from_secs(1);

/// Runs bursts of `clients` `op`s until the window ends; those that start in its measured
/// part are tallied. `api` must keep no idle connections (`Api::new(url, 0)`), so that every
/// request opens its own.
pub async fn drive(
    api: Arc<Api>,
    fixture: Arc<Fixture>,
    clients: usize,
    op: Op,
    reads: Arc<Reads>,
    window: Window,
) -> Tally {
    let mut tally = Tally::default();
    let mut burst = 0u64;
    while Instant::now() < window.end {
        let began = Instant::now();
        let theirs = once(&api, &fixture, clients, op, &reads, burst).await;
        if window.measures(began) {
            tally.merge(theirs);
        }
        burst += 1;
        tokio::time::sleep_until(began + EVERY).await;
    }
    tally
}

/// One burst: every client's task is spawned and waiting before the burst is released.
async fn once(
    api: &Arc<Api>,
    fixture: &Arc<Fixture>,
    clients: usize,
    op: Op,
    reads: &Arc<Reads>,
    burst: u64,
) -> Tally {
    let tenants = fixture.tenants.len();
    // Clients of a workspace take its contacts in turn, and each burst moves on from the last.
    let per_tenant = clients.div_ceil(tenants) as u64;
    let ready = Arc::new(Barrier::new(clients + 1));
    let (release, released) = watch::channel(None::<Instant>);
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (api, fixture, reads, ready) =
                (api.clone(), fixture.clone(), reads.clone(), ready.clone());
            let mut released = released.clone();
            tokio::spawn(async move {
                let tenant = &fixture.tenants[client % tenants];
                let seq = burst * per_tenant + (client / tenants) as u64;
                ready.wait().await;
                let mut tally = Tally::default();
                let Some(at) = released
                    .wait_for(Option::is_some)
                    .await
                    .ok()
                    .and_then(|at| *at)
                else {
                    return tally;
                };
                let began = Instant::now();
                let result = op.run(&api, tenant, seq, &reads).await;
                match result {
                    Ok(_) => {
                        tally.ok(op.name(), began.elapsed());
                        tally.again(FROM_RELEASE, at.elapsed());
                    }
                    Err(key) => tally.error(op.name(), key),
                }
                tally
            })
        })
        .collect();
    ready.wait().await;
    // Every receiver is alive until its task has read the instant.
    let _ = release.send(Some(Instant::now()));
    super::gather(tasks).await
}
