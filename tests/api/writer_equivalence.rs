//! What the set-at-a-time conversion writer must leave and answer: what writing the same
//! conversions one by one would, across groups, nodes and concurrent writes. These pass on
//! `main` as of 123fa91 (the faults found are in `breaker.rs`).

use crate::helpers::{Creds, TestApp, expect_json, spawn_app_with};
use crate::ingest_contention::received_contacts;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Contacts 1..=6 made by lead_gen_team and sent to salesforce_prod, 1..=3 to
/// hubspot_marketing too; leads 900 (contact 1) and 901 (contact 2); contact 6 erased.
async fn two_receivers(app: &TestApp) -> [(&'static str, Creds); 2] {
    let lead_gen = app.workspace("lead_gen_team").await;
    let sales = app.workspace("salesforce_prod").await;
    let hubspot = app.workspace("hubspot_marketing").await;
    for id in 1..=6 {
        app.contact_received_by(&lead_gen, id, "Contact", "salesforce_prod")
            .await;
    }
    for id in 1..=3 {
        app.send_contact(&lead_gen, id, "hubspot_marketing").await;
    }
    app.create_lead(&lead_gen, 900, 1).await;
    app.create_lead(&lead_gen, 901, 2).await;
    expect_json(
        app.post_json("/contacts/6/erase", &app.admin, &json!({}))
            .await,
        200,
    )
    .await;
    [("salesforce_prod", sales), ("hubspot_marketing", hubspot)]
}

const MIXED: usize = 300;

/// Item `i` of an admin's batch: both receivers converting the same few contacts, with
/// backfilled instants out of order (so every figure is deterministic), types that move the
/// status back and forth, secrets, leads converted twice, and repeated idempotency keys.
fn mixed_item(i: usize) -> Value {
    let workspace = if i.is_multiple_of(3) {
        "hubspot_marketing"
    } else {
        "salesforce_prod"
    };
    let kind = ["qualified", "appointment", "sale", "demo", "sale"][i % 5];
    let hours = (i * 37) % 300;
    let at = format!(
        "2025-01-{:02}T{:02}:{:02}:00Z",
        1 + hours / 24,
        hours % 24,
        i % 60
    );
    let mut item = json!({
        "contact_id": i % 6 + 1,
        "workspace_id": workspace,
        "converted_by": format!("agent_{}", i % 4),
        "conversion_type": kind,
        "converted_at": at,
    });
    if i % 5 != 3 {
        item["conversion_value"] = json!(format!("{}.{:02}", i * 3, i % 100));
    }
    if i.is_multiple_of(7) {
        item["custom_data"] = json!({"note": format!("n{i}"), "secret_code": format!("s{i}")});
    }
    match i {
        10 => {
            item["contact_id"] = json!(1);
            item["lead_id"] = json!(900);
            item["workspace_id"] = json!("hubspot_marketing");
        }
        11 | 12 => {
            item["contact_id"] = json!(1);
            item["lead_id"] = json!(900);
            item["workspace_id"] = json!("salesforce_prod");
        }
        20 | 21 => {
            item["contact_id"] = json!(2);
            item["lead_id"] = json!(901);
            item["workspace_id"] = json!("salesforce_prod");
        }
        _ => {}
    }
    // Same key and body three times; the same key with another body once.
    if [30, 130, 230].contains(&i) {
        item = mixed_item(31);
        item["idempotency_key"] = json!("k1");
    }
    if i == 131 {
        item = mixed_item(32);
        item["idempotency_key"] = json!("k1");
    }
    item
}

/// Everything a reader can see of the outcome, less the instants the server stamps.
async fn outcome(app: &TestApp, readers: &[(&str, Creds)]) -> Value {
    let mut views = serde_json::Map::new();
    let admin = ("admin", app.admin.clone());
    for (name, creds) in std::iter::once(&admin).chain(readers) {
        for id in 1..=6 {
            let response = app.get(&format!("/contacts/{id}"), creds).await;
            let status = response.status().as_u16();
            let mut contact = crate::helpers::exact(&response.text().await.expect("a body"));
            for volatile in ["created_at", "updated_at", "erased_at", "request_id"] {
                contact.as_object_mut().map(|c| c.remove(volatile));
            }
            views.insert(format!("contact {id} as {name}"), json!([status, contact]));
        }
    }
    for path in [
        "/conversions/analytics?from_date=2024-12-01&to_date=2025-02-28",
        "/conversions/analytics?from_date=2024-12-01&to_date=2025-02-28&workspace_id=salesforce_prod",
        "/conversions/analytics?from_date=2024-12-01&to_date=2025-02-28&workspace_id=hubspot_marketing",
    ] {
        let response = app.get(path, &app.admin).await;
        let mut body = crate::helpers::exact(&response.text().await.expect("a body"));
        strip_instants(&mut body);
        views.insert(path.to_owned(), body);
    }
    // Every conversion, as (workspace, contact, lead, type, value, converted_at, by).
    let mut rows = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/conversions?limit=200&after={a}"),
            None => "/conversions?limit=200".to_owned(),
        };
        let page = expect_json(app.get(&path, &app.admin).await, 200).await;
        for c in page["conversions"].as_array().expect("a list") {
            rows.push(json!([
                c["workspace_id"],
                c["contact_id"],
                c["lead_id"],
                c["conversion_type"],
                c["conversion_value"],
                c["converted_at"],
                c["converted_by"],
                c["custom_data"]
            ]));
        }
        if page["page_info"]["has_next_page"] != json!(true) {
            break;
        }
        after = page["page_info"]["end_cursor"].as_str().map(str::to_owned);
    }
    rows.sort_by_key(|r| r.to_string());
    views.insert("conversions".into(), Value::Array(rows));
    Value::Object(views)
}

fn strip_instants(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for key in ["generated_at", "computed_at", "as_of", "updated_at"] {
                map.remove(key);
            }
            map.values_mut().for_each(strip_instants);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_instants),
        _ => {}
    }
}

/// The same 300 conversions, as one admin batch (groups of hundreds) on one server and one
/// at a time (a group each) on another, in the order the first server's writer took them
/// (its feed's order), leave the same contacts, receivers' figures, conversions and
/// analytics, and get the same answers. The feed carries each stored conversion once, each
/// with its contact as that conversion left it.
async fn a_batch_leaves_what_one_by_one_leaves() {
    let grouped = spawn_app_with(&["--rate-limit-per-hour", "0"]).await;
    let single = spawn_app_with(&["--rate-limit-per-hour", "0"]).await;
    let grouped_readers = two_receivers(&grouped).await;
    let single_readers = two_receivers(&single).await;
    let items: Vec<Value> = (0..MIXED).map(mixed_item).collect();
    let mut feed = grouped.subscribe_feed(&grouped.admin, json!({})).await;
    let mut hubspot_feed = grouped
        .subscribe_feed(&grouped_readers[1].1, json!({}))
        .await;
    let batch = expect_json(
        grouped
            .post_json(
                "/conversions/batch",
                &grouped.admin,
                &json!({"conversions": items}),
            )
            .await,
        200,
    )
    .await;
    let results = batch["results"].as_array().expect("results").clone();
    let index_of: std::collections::HashMap<String, usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r["status"] == "stored")
        .map(|(i, r)| (r["conversion"]["id"].as_str().expect("an id").to_owned(), i))
        .collect();
    // The writer's order, from the feed: each stored conversion once, its contact's count one
    // more than at its previous event.
    let mut order = Vec::new();
    let mut counts: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    while order.len() < index_of.len() {
        let event = feed
            .next_event()
            .await
            .unwrap_or_else(|| panic!("{} of {} events arrived", order.len(), index_of.len()));
        let feed_item = &event["data"]["conversionFeed"];
        let id = feed_item["conversion"]["id"].as_str().expect("an id");
        let i = *index_of
            .get(id)
            .unwrap_or_else(|| panic!("an event for {id}, not stored by the batch"));
        assert!(!order.contains(&i), "{id} twice on the feed");
        order.push(i);
        let contact = feed_item["contact"]["id"].to_string();
        let count = match &feed_item["contact"]["conversionCount"] {
            Value::String(s) => s.parse::<i64>().expect("a count"),
            other => other.as_i64().expect("a count"),
        };
        let before = counts.insert(contact.clone(), count).unwrap_or(0);
        assert_eq!(count, before + 1, "contact {contact} after {id}");
    }
    // A receiver's feed: its own conversions, each with its own figures one more than before.
    let hubspot_stored = order
        .iter()
        .filter(|&&i| results[i]["conversion"]["workspace_id"] == "hubspot_marketing")
        .count();
    let mut own: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    for n in 0..hubspot_stored {
        let event = hubspot_feed
            .next_event()
            .await
            .unwrap_or_else(|| panic!("{n} of {hubspot_stored} receiver events arrived"));
        let feed_item = &event["data"]["conversionFeed"];
        assert_eq!(feed_item["conversion"]["workspaceId"], "hubspot_marketing");
        let contact = feed_item["contact"]["id"].to_string();
        let count = match &feed_item["contact"]["conversionCount"] {
            Value::String(s) => s.parse::<i64>().expect("a count"),
            other => other.as_i64().expect("a count"),
        };
        let before = own.insert(contact.clone(), count).unwrap_or(0);
        assert_eq!(
            count,
            before + 1,
            "hubspot's own count of contact {contact}"
        );
    }
    // Items that stored nothing change nothing: after the others, in item order.
    order.extend((0..MIXED).filter(|i| results[*i]["status"] != "stored"));
    let mut one_by_one = vec![Value::Null; MIXED];
    for &i in &order {
        let answer = expect_json(
            single
                .post_json(
                    "/conversions/batch",
                    &single.admin,
                    &json!({"conversions": [items[i]]}),
                )
                .await,
            200,
        )
        .await;
        one_by_one[i] = answer["results"][0].clone();
    }
    let answers = |results: &[Value]| -> Vec<Value> {
        results
            .iter()
            .map(|r| {
                json!([
                    r["status"],
                    r["error"]["code"],
                    r["error"]["field"],
                    r["conversion"]["lead_id"]
                ])
            })
            .collect()
    };
    assert_eq!(answers(&results), answers(&one_by_one));
    let a = outcome(&grouped, &grouped_readers).await;
    let b = outcome(&single, &single_readers).await;
    let differ: Vec<String> = a
        .as_object()
        .expect("views")
        .iter()
        .filter(|(key, value)| *value != &b[key.as_str()])
        .map(|(key, value)| {
            format!(
                "{key}:\n  grouped:    {value}\n  one by one: {}",
                b[key.as_str()]
            )
        })
        .collect();
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

const RACED: usize = 300;

/// Two nodes on one PostgreSQL database get the same batch of keyed conversions at once.
/// Whichever commits a key first stores it; the other node's group then fails on that key
/// and falls back to writing its jobs one by one, each of which must replay the stored
/// conversion. Each key ends up stored once, both nodes answer it with the same conversion,
/// and the contacts, analytics and audit chain count each conversion once.
async fn two_nodes_racing_on_the_same_keys_store_each_once() {
    let url = crate::backend::fresh_postgres_database().await;
    let flags = ["--rate-limit-per-hour", "0"];
    let a = crate::helpers::spawn_app_on(&url, &flags).await;
    let b = crate::helpers::spawn_app_on(&url, &flags).await;
    let lead_gen = a.workspace("lead_gen_team").await;
    let sales = a.workspace("salesforce_prod").await;
    for id in 1..=20 {
        a.contact_received_by(&lead_gen, id, "Contact", "salesforce_prod")
            .await;
    }
    let items: Vec<Value> = (0..RACED)
        .map(|i| {
            json!({"contact_id": i % 20 + 1, "converted_by": "agent", "conversion_type": "sale",
                   "conversion_value": i + 1, "idempotency_key": format!("key-{i}")})
        })
        .collect();
    let batch = json!({"conversions": items});
    // Several rounds, so that the two nodes' groups overlap in different ways.
    for round in 0..3 {
        let (from_a, from_b) = futures_util::future::join(
            async {
                expect_json(a.post_json("/conversions/batch", &sales, &batch).await, 200).await
            },
            async {
                expect_json(b.post_json("/conversions/batch", &sales, &batch).await, 200).await
            },
        )
        .await;
        for i in 0..RACED {
            let (x, y) = (&from_a["results"][i], &from_b["results"][i]);
            assert!(
                x["status"] != "rejected" && y["status"] != "rejected",
                "round {round}, item {i}: {x} / {y}"
            );
            assert_eq!(
                x["conversion"]["id"], y["conversion"]["id"],
                "round {round}, item {i}: both nodes answer with the stored conversion"
            );
        }
    }
    let analytics = expect_json(a.get("/conversions/analytics", &a.admin).await, 200).await;
    assert_eq!(analytics["summary"]["total_conversions"], json!(RACED));
    for contact in 1..=20usize {
        let mine: Vec<usize> = (0..RACED).filter(|i| i % 20 + 1 == contact).collect();
        let seen = a.contact_exact(contact as i64).await;
        assert_eq!(
            seen["conversion_count"],
            json!(mine.len().to_string()),
            "contact {contact}"
        );
        let value: usize = mine.iter().map(|i| i + 1).sum();
        assert_eq!(
            seen["lifetime_value"],
            json!(format!("{value}.00")),
            "contact {contact}"
        );
    }
    let output = crate::audit::audit_verify(&a).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn postgres_two_nodes_racing_on_the_same_keys_store_each_once() {
    crate::backend::run_on(
        crate::backend::Backend::Postgres,
        two_nodes_racing_on_the_same_keys_store_each_once(),
    )
    .await;
}

/// Two nodes: A logs sales of contacts 1..=5 while B moves the same contacts' status. No
/// stored sale may be lost from its contact's count and lifetime value.
async fn patches_of_the_same_contacts_on_another_node_lose_no_sale() {
    let url = crate::backend::fresh_postgres_database().await;
    let flags = ["--rate-limit-per-hour", "0"];
    let a = crate::helpers::spawn_app_on(&url, &flags).await;
    let b = crate::helpers::spawn_app_on(&url, &flags).await;
    let sales = received_contacts(&a).await;
    let until = Instant::now() + Duration::from_secs(6);
    let (a, b, sales) = (&a, &b, &sales);
    let loggers = (0..10).map(|w| async move {
        let mut stored = Vec::new();
        let mut failed = 0;
        while Instant::now() < until {
            let contact = w % 5 + 1;
            let body = json!({"contact_id": contact, "converted_by": "agent",
                              "conversion_type": "sale", "conversion_value": w + 1});
            let response = a.post_json("/conversions/log", sales, &body).await;
            if response.status().as_u16() == 201 {
                stored.push((contact, w + 1));
            } else {
                failed += 1;
            }
        }
        (stored, failed)
    });
    let patchers = (0..4).map(|w| async move {
        let mut n = 0;
        while Instant::now() < until {
            let status = ["qualified", "lost", "appointment"][n % 3];
            b.patch_json(
                &format!("/contacts/{}/conversion", (w + n) % 5 + 1),
                sales,
                &json!({"conversion_status": status}),
            )
            .await;
            n += 1;
        }
    });
    let (logged, _) = futures_util::future::join(
        futures_util::future::join_all(loggers),
        futures_util::future::join_all(patchers),
    )
    .await;
    let failed: usize = logged.iter().map(|(_, f)| f).sum();
    for contact in 1..=5usize {
        let mine: Vec<usize> = logged
            .iter()
            .flat_map(|(s, _)| s)
            .filter(|(c, _)| *c == contact)
            .map(|(_, v)| *v)
            .collect();
        let seen = a.contact_exact(contact as i64).await;
        assert_eq!(
            seen["conversion_count"],
            json!(mine.len().to_string()),
            "contact {contact} ({failed} logs failed)"
        );
        assert_eq!(
            seen["lifetime_value"],
            json!(format!("{}.00", mine.iter().sum::<usize>())),
            "contact {contact}"
        );
    }
    let output = crate::audit::audit_verify(a).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{failed} logs failed beside the patches");
}

#[tokio::test]
async fn postgres_patches_of_the_same_contacts_on_another_node_lose_no_sale() {
    crate::backend::run_on(
        crate::backend::Backend::Postgres,
        patches_of_the_same_contacts_on_another_node_lose_no_sale(),
    )
    .await;
}

/// Two nodes, a limit of 50 an hour, 120 requests at once through each: 50 are admitted
/// (the documented bound across two nodes is 2 more).
async fn the_hourly_limit_holds_across_two_nodes() {
    let url = crate::backend::fresh_postgres_database().await;
    let a = crate::helpers::spawn_app_on(&url, &[]).await;
    let b = crate::helpers::spawn_app_on(&url, &[]).await;
    let creds = a.workspace("team").await;
    expect_json(
        a.patch_json(
            "/workspaces/team",
            &a.admin,
            &json!({"rate_limit_per_hour": 50}),
        )
        .await,
        200,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (a, b, creds) = (&a, &b, &creds);
    let requests = (0..240).map(|i| async move {
        let node = if i % 2 == 0 { a } else { b };
        node.get("/conversions?limit=1", creds)
            .await
            .status()
            .as_u16()
    });
    let statuses = futures_util::future::join_all(requests).await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    eprintln!(
        "rate limit: {ok} ok, {limited} limited of {}",
        statuses.len()
    );
    assert!(ok <= 52, "{ok} admitted under a limit of 50");
}
#[tokio::test]
async fn postgres_the_hourly_limit_holds_across_two_nodes() {
    crate::backend::run_on(
        crate::backend::Backend::Postgres,
        the_hourly_limit_holds_across_two_nodes(),
    )
    .await;
}

crate::backend::on_both_backends!(a_batch_leaves_what_one_by_one_leaves,);
