//! The conversion writer decides a whole group in memory and writes it set at a time; each
//! request still gets its own answer. A bad item in a group of many fails alone, the others
//! commit, and everything derived from them (contacts, leads, idempotency, audit chain,
//! rollups) is what writing them one by one would have left.

use crate::audit::audit_verify;
use crate::helpers::{Creds, TestApp, exact, expect_json, spawn_app, spawn_app_on};
use serde_json::{Value, json};

/// Contacts 1..=20 sent to Salesforce (and 1 to HubSpot too); 50 never sent to it; 60 sent,
/// then erased; lead 900 belongs to contact 1.
async fn setup(app: &TestApp) -> (Creds, Creds) {
    let lead_gen = app.workspace("lead_gen_team").await;
    let sales = app.workspace("salesforce_prod").await;
    let hubspot = app.workspace("hubspot_marketing").await;
    for id in (1..=20).chain([60]) {
        app.contact_received_by(&lead_gen, id, "Contact", "salesforce_prod")
            .await;
    }
    app.create_contact(&lead_gen, 50, "Not sent").await;
    app.send_contact(&lead_gen, 1, "hubspot_marketing").await;
    app.create_lead(&lead_gen, 900, 1).await;
    expect_json(
        app.post_json("/contacts/60/erase", &app.admin, &json!({}))
            .await,
        200,
    )
    .await;
    (sales, hubspot)
}

const ITEMS: usize = 700;
/// Items sent with the same idempotency key and body.
const DUPLICATES: [usize; 3] = [400, 401, 650];

/// Item `i` of the batch: a sale of `i + 1` (whole units) on contact `i % 20 + 1`, except the
/// few that must fail or replay.
fn item(i: usize) -> Value {
    let sale = |contact: usize, value: usize| {
        json!({"contact_id": contact, "converted_by": "agent", "conversion_type": "sale",
               "conversion_value": value})
    };
    match i {
        100 => sale(50, 1),
        200 => json!({"contact_id": 60, "converted_by": "agent", "conversion_type": "sale",
                      "custom_data": {"note": "after erasure"}}),
        300 => json!({"contact_id": 3, "lead_id": 900, "converted_by": "agent",
                      "conversion_type": "qualified"}),
        301 => json!({"contact_id": 1, "lead_id": 900, "converted_by": "agent",
                      "conversion_type": "qualified"}),
        i if DUPLICATES.contains(&i) => {
            let mut body = sale(4, 7);
            body["idempotency_key"] = json!("dup");
            body
        }
        402 | 403 => {
            let mut body = sale(5, if i == 402 { 8 } else { 9 });
            body["idempotency_key"] = json!("prior");
            body
        }
        _ => sale(i % 20 + 1, i + 1),
    }
}

/// What each refused item is refused with: (code, field).
fn refusal(i: usize) -> Option<(&'static str, Option<&'static str>)> {
    match i {
        100 => Some(("BAD_USER_INPUT", Some("contact_id"))),
        200 => Some(("ERASED", Some("custom_data"))),
        300 => Some(("BAD_USER_INPUT", Some("lead_id"))),
        402 => Some(("IDEMPOTENCY_CONFLICT", None)),
        _ => None,
    }
}

async fn a_bad_item_in_a_group_of_many_fails_alone_and_the_rest_commit() {
    let app = spawn_app().await;
    let (sales, hubspot) = setup(&app).await;
    // A key stored before the batch: item 403 replays it, item 402 reuses it for another sale.
    let prior = expect_json(
        app.rest(reqwest::Method::POST, "/conversions/log", &sales)
            .header("Idempotency-Key", "prior")
            .json(&{
                let mut body = item(403);
                body.as_object_mut()
                    .expect("an object")
                    .remove("idempotency_key");
                body
            })
            .send()
            .await
            .expect("request sent"),
        201,
    )
    .await;
    let batch = json!({"conversions": (0..ITEMS).map(item).collect::<Vec<_>>()});
    let answer = expect_json(
        app.post_json("/conversions/batch", &sales, &batch).await,
        200,
    )
    .await;
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), ITEMS);
    for (i, result) in results.iter().enumerate() {
        match refusal(i) {
            Some((code, field)) => {
                assert_eq!(result["status"], "rejected", "item {i}: {result}");
                assert_eq!(result["error"]["code"], code, "item {i}: {result}");
                if let Some(field) = field {
                    assert_eq!(result["error"]["field"], field, "item {i}: {result}");
                }
            }
            // Items with one key: whichever the writer took first stored, the others replay it.
            None if DUPLICATES.contains(&i) => {}
            None if i == 403 => {
                assert_eq!(result["status"], "replayed", "item {i}: {result}");
                assert_eq!(result["conversion"]["id"], prior["id"]);
            }
            None => assert_eq!(result["status"], "stored", "item {i}: {result}"),
        }
    }
    let first = DUPLICATES
        .into_iter()
        .find(|&i| results[i]["status"] == "stored")
        .expect("one of the items with the same key stored");
    for i in DUPLICATES.into_iter().filter(|&i| i != first) {
        assert_eq!(results[i]["status"], "replayed", "item {i}: {}", results[i]);
        assert_eq!(
            results[i]["conversion"]["id"],
            results[first]["conversion"]["id"]
        );
    }
    // The items whose conversion exists; 403's is the one stored before the batch.
    let stored: Vec<usize> = (0..ITEMS)
        .filter(|i| refusal(*i).is_none())
        .filter(|i| !DUPLICATES.contains(i) || *i == first)
        .collect();
    assert_eq!(answer["stored"], json!(stored.len() - 1));
    // Ids are time-ordered (UUIDv7) and rise in the order the writer took the items, so a
    // group's rows append to the indexes on them instead of each landing on a random page.
    let ids: Vec<uuid::Uuid> = stored
        .iter()
        .filter(|&&i| i != 403)
        .map(|&i| {
            let id = results[i]["conversion"]["id"].as_str();
            id.and_then(|id| id.parse().ok())
                .unwrap_or_else(|| panic!("item {i}: an id"))
        })
        .collect();
    assert!(ids.iter().all(|id| id.get_version_num() == 7), "{ids:?}");
    assert!(ids.is_sorted(), "ids do not rise in queue order");
    assert_eq!(answer["replayed"], json!(3));
    assert_eq!(answer["rejected"], json!(4));

    // The items shared groups: fewer groups than items.
    let groups = app.metric("convio_ingest_group_size_count").await;
    let grouped = app.metric("convio_ingest_group_size_sum").await;
    assert!(
        grouped >= ITEMS as u64 && groups * 10 < grouped,
        "{groups} groups for {grouped} conversions"
    );

    // Each contact holds exactly the stored items that named it, in value and count.
    for contact in 1..=20usize {
        let mine: Vec<&usize> = stored
            .iter()
            .filter(|&&i| item(i)["contact_id"] == json!(contact))
            .collect();
        let value: usize = mine
            .iter()
            .map(|&&i| item(i)["conversion_value"].as_u64().unwrap_or(0) as usize)
            .sum();
        let seen = app.contact_exact(contact as i64).await;
        assert_eq!(
            seen["lifetime_value"],
            json!(format!("{value}.00")),
            "contact {contact}"
        );
        assert_eq!(
            seen["conversion_count"],
            json!(mine.len().to_string()),
            "contact {contact}"
        );
    }
    let untouched = app.contact_exact(50).await;
    assert_eq!(untouched["conversion_count"], json!("0"));
    // Lead 900 is now Salesforce's: another workspace cannot convert it.
    assert_eq!(results[301]["conversion"]["lead_id"], json!(900));
    let late = app
        .post_json(
            "/conversions/log",
            &hubspot,
            &json!({"contact_id": 1, "lead_id": 900, "converted_by": "b", "conversion_type": "sale"}),
        )
        .await;
    crate::helpers::assert_problem(late, 409, "CONFLICT", None).await;

    // The dashboards' rollups equal the rows.
    let total: usize = stored
        .iter()
        .map(|&i| item(i)["conversion_value"].as_u64().unwrap_or(0) as usize)
        .sum();
    let analytics = app.get("/conversions/analytics", &app.admin).await;
    assert_eq!(analytics.status().as_u16(), 200);
    let analytics = exact(&analytics.text().await.expect("analytics body"));
    assert_eq!(
        analytics["summary"]["total_conversions"],
        json!(stored.len().to_string())
    );
    assert_eq!(
        analytics["summary"]["total_value"],
        json!(format!("{total}.00"))
    );

    // One audit entry per stored conversion, on one intact chain.
    let output = audit_verify(&app).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn concurrent_requests_get_their_own_answers() {
    let app = spawn_app().await;
    let (sales, _) = setup(&app).await;
    let requests = (0..120).map(|i| {
        let body = if i % 7 == 3 {
            json!({"contact_id": 50, "converted_by": "a", "conversion_type": "sale"})
        } else {
            json!({"contact_id": i % 20 + 1, "converted_by": "a", "conversion_type": "sale",
                   "conversion_value": 1})
        };
        let app = &app;
        let sales = &sales;
        async move { (i, app.post_json("/conversions/log", sales, &body).await) }
    });
    let mut stored = 0;
    for (i, response) in futures_util::future::join_all(requests).await {
        if i % 7 == 3 {
            crate::helpers::assert_problem(response, 422, "BAD_USER_INPUT", Some("contact_id"))
                .await;
        } else {
            let conversion = expect_json(response, 201).await;
            assert_eq!(conversion["contact_id"], json!(i % 20 + 1));
            stored += 1;
        }
    }
    let analytics = expect_json(app.get("/conversions/analytics", &app.admin).await, 200).await;
    assert_eq!(analytics["summary"]["total_conversions"], json!(stored));
}

crate::backend::on_both_backends!(
    a_bad_item_in_a_group_of_many_fails_alone_and_the_rest_commit,
    concurrent_requests_get_their_own_answers,
);

/// On SQLite the writer runs on a thread of its own. It holds the services weakly, so once
/// the server is gone it lets go of them, and of the database with them: no file of the
/// database stays open in this process.
#[test]
fn the_writer_lets_go_of_the_database_with_the_server() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("convio.db").display()
    );
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let app = spawn_app_on(&url, &[]).await;
        let lead_gen = app.workspace("lead_gen_team").await;
        let sales = app.workspace("salesforce_prod").await;
        app.contact_received_by(&lead_gen, 1, "Contact", "salesforce_prod")
            .await;
        let logged = app.log_conversion(&sales, item(0)).await;
        assert_eq!(logged["contact_id"], 1, "{logged}");
    });
    drop(runtime);
    let open = || {
        std::fs::read_dir("/proc/self/fd")
            .expect("this process's descriptors")
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|target| target.starts_with(dir.path()))
            .count()
    };
    for _ in 0..100 {
        if open() == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!(
        "{} files of the database are still open 10 s after the server stopped",
        open()
    );
}
