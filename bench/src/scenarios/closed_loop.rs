//! Closed-loop clients: each sends its next request as soon as the previous one answered, for
//! the whole window, taking the operations of its mix in turn.

use crate::cli::Reads;
use crate::client::Api;
use crate::ops::Op;
use crate::setup::Fixture;
use crate::stats::Tally;
use crate::window::Window;
use std::sync::Arc;
use tokio::time::Instant;

pub async fn drive(
    api: Arc<Api>,
    fixture: Arc<Fixture>,
    clients: usize,
    mix: &'static [Op],
    reads: Arc<Reads>,
    window: Window,
) -> Tally {
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (api, fixture, reads) = (api.clone(), fixture.clone(), reads.clone());
            tokio::spawn(async move {
                run_client(&api, &fixture, client, clients, mix, &reads, window).await
            })
        })
        .collect();
    super::gather(tasks).await
}

async fn run_client(
    api: &Api,
    fixture: &Fixture,
    client: usize,
    clients: usize,
    mix: &'static [Op],
    reads: &Reads,
    window: Window,
) -> Tally {
    let tenants = fixture.tenants.len();
    let tenant = &fixture.tenants[client % tenants];
    // Clients sharing a workspace interleave their sequence numbers, so they take its contacts
    // in turn instead of all converting the same one.
    let stride = clients.div_ceil(tenants) as u64;
    let mut seq = (client / tenants) as u64;
    // Clients start at different points of the mix, so every operation runs from the start.
    let mut turn = client;
    let mut tally = Tally::default();
    loop {
        let began = Instant::now();
        if began >= window.end {
            return tally;
        }
        let op = mix[turn % mix.len()];
        let result = op.run(api, tenant, seq, reads).await;
        if window.measures(began) {
            match result {
                Ok(_) => tally.ok(op.name(), began.elapsed()),
                Err(key) => tally.error(op.name(), key),
            }
        }
        seq += stride;
        turn += 1;
    }
}
