//! Crash safety: convio is killed with SIGKILL while clients are logging conversions. After
//! a restart on the same SQLite file, every conversion a client saw acknowledged is there
//! exactly once, the database passes its integrity check, and retrying the requests that got
//! no answer (with their idempotency keys) completes the set without doubling anything.

use crate::cluster::{Node, convio, start};
use crate::helpers::{Creds, expect_json};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLIENTS: usize = 16;

fn body(client: usize, n: usize) -> Value {
    json!({
        "contact_id": 123456,
        "converted_by": format!("client_{client}"),
        "conversion_type": "sale",
        "conversion_value": "1.00",
        "custom_data": { "client": client, "n": n },
    })
}

fn key(client: usize, n: usize) -> String {
    format!("crash-{client}-{n}")
}

async fn log(node: &Node, creds: &Creds, client: usize, n: usize) -> u16 {
    let response = creds
        .apply(node.app.client.post(node.app.url("/conversions/log")))
        .header("Idempotency-Key", key(client, n))
        .json(&body(client, n))
        .send()
        .await
        .expect("the restarted node answers");
    response.status().as_u16()
}

/// (client, n) of every stored conversion, with how often each occurs.
async fn stored(node: &Node) -> HashMap<(u64, u64), usize> {
    let mut seen = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(cursor) => format!("/conversions?limit=200&after={cursor}"),
            None => "/conversions?limit=200".to_owned(),
        };
        let page = expect_json(node.app.get(&path, &node.app.admin).await, 200).await;
        for c in page["conversions"].as_array().expect("a list") {
            let data = &c["custom_data"];
            let id = (
                data["client"].as_u64().expect("client"),
                data["n"].as_u64().expect("n"),
            );
            *seen.entry(id).or_insert(0) += 1;
        }
        if page["page_info"]["has_next_page"] != true {
            return seen;
        }
        after = page["page_info"]["end_cursor"].as_str().map(str::to_owned);
    }
}

#[tokio::test]
async fn a_sigkill_mid_ingest_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("convio.db").display()
    );
    let mut node = start(convio(&url)).await;
    let sales = node.app.workspace("salesforce_prod").await;
    let lead_gen = node.app.workspace("lead_gen_team").await;
    node.app
        .contact_received_by(&lead_gen, 123456, "Jane Roe", "salesforce_prod")
        .await;

    // Clients log as fast as they can; each records what it attempted and what was acknowledged.
    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    let attempted = Arc::new(Mutex::new(HashSet::new()));
    let endpoint = node.app.url("/conversions/log");
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let (http, endpoint, creds) = (node.app.client.clone(), endpoint.clone(), sales.clone());
        let (acknowledged, attempted) = (acknowledged.clone(), attempted.clone());
        clients.push(tokio::spawn(async move {
            for n in 0..10_000 {
                attempted.lock().expect("lock").insert((client, n));
                let sent = creds
                    .apply(http.post(&endpoint))
                    .header("Idempotency-Key", key(client, n))
                    .timeout(Duration::from_secs(5))
                    .json(&body(client, n))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().as_u16() == 201 => {
                        acknowledged.lock().expect("lock").insert((client, n));
                    }
                    // The server is gone: this request may or may not have committed.
                    _ => return,
                }
            }
        }));
    }
    // Let some conversions through, then kill the server without warning.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while acknowledged.lock().expect("lock").len() < 200 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node.child.start_kill().expect("SIGKILL");
    node.child.wait().await.expect("the server died");
    for client in clients {
        client.await.expect("client task");
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    let attempted = attempted.lock().expect("lock").clone();
    assert!(
        acknowledged.len() >= 200,
        "the load ran before the kill ({})",
        acknowledged.len()
    );
    eprintln!(
        "killed with {} acknowledged and {} attempted conversions",
        acknowledged.len(),
        attempted.len()
    );

    // Restart on the same file.
    let node = start(convio(&url)).await;
    let db = Database::connect(url.as_str())
        .await
        .expect("open the SQLite file");
    let check = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "PRAGMA integrity_check",
        ))
        .await
        .expect("integrity_check runs")
        .expect("a row");
    assert_eq!(check.try_get_by_index::<String>(0).expect("text"), "ok");

    let seen = stored(&node).await;
    for (client, n) in &acknowledged {
        assert_eq!(
            seen.get(&(*client as u64, *n as u64)),
            Some(&1),
            "acknowledged ({client}, {n}) stored exactly once"
        );
    }
    assert!(seen.values().all(|&count| count == 1), "nothing doubled");
    assert!(
        seen.keys()
            .all(|(c, n)| attempted.contains(&(*c as usize, *n as usize))),
        "nothing invented"
    );

    // The integrator retries what got no answer: afterwards every attempt is there once.
    for (client, n) in attempted.difference(&acknowledged) {
        assert_eq!(log(&node, &sales, *client, *n).await, 201);
    }
    let seen = stored(&node).await;
    assert_eq!(seen.len(), attempted.len());
    assert!(
        seen.values().all(|&count| count == 1),
        "retries doubled nothing"
    );
}
