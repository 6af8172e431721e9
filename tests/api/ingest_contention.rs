//! Ingest beside other writes, and in the order it was given: faults a tester found by trying
//! to break the set-at-a-time writer from outside (both also failed before it).

use crate::helpers::{Creds, TestApp, expect_json, spawn_app_with};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Contacts 1..=40 created by lead_gen_team and received by salesforce_prod.
pub(crate) async fn received_contacts(app: &TestApp) -> Creds {
    let lead_gen = app.workspace("lead_gen_team").await;
    let sales = app.workspace("salesforce_prod").await;
    for id in 1..=40 {
        app.contact_received_by(&lead_gen, id, "Contact", "salesforce_prod")
            .await;
    }
    sales
}

/// A workspace logs conversions of contacts 1..=20 while it also moves its own status of
/// contacts 21..=40 (`PATCH /contacts/{id}/conversion`): no contact is touched by both. Every
/// request must succeed. On PostgreSQL the two lock the same things in opposite orders: the
/// writer takes the audit chain's advisory lock (writing the group's audit entries) and then
/// the workspace row and rollup rows (`Delta::apply`, after the group), while a PATCH takes
/// the workspace row and rollup rows (`rollups.apply`) and then the audit chain lock. The
/// deadlock detector then aborted one of them: the PATCH got a 503, or the whole group's
/// commit failed and every conversion in it got a 500 INTERNAL. The writer now takes them in
/// the PATCH's order.
async fn conversions_beside_status_changes_of_other_contacts_all_succeed() {
    let app = spawn_app_with(&["--rate-limit-per-hour", "0"]).await;
    let sales = received_contacts(&app).await;
    let until = Instant::now() + Duration::from_secs(8);
    let app = &app;
    let sales = &sales;
    let loggers = (0..12).map(|w| async move {
        let mut failures = Vec::new();
        let mut n = 0;
        while Instant::now() < until {
            let body = json!({"contact_id": w % 20 + 1, "converted_by": "agent",
                              "conversion_type": "sale", "conversion_value": 1});
            let response = app.post_json("/conversions/log", sales, &body).await;
            let status = response.status().as_u16();
            if status != 201 {
                failures.push(format!(
                    "log {status}: {}",
                    response.text().await.unwrap_or_default()
                ));
            }
            n += 1;
        }
        (n, failures)
    });
    let patchers = (0..6).map(|w| async move {
        let mut failures = Vec::new();
        let mut n = 0;
        let statuses = ["qualified", "appointment"];
        while Instant::now() < until {
            let contact = 21 + (w + n) % 20;
            let body = json!({"conversion_status": statuses[n % 2]});
            let response = app
                .patch_json(&format!("/contacts/{contact}/conversion"), sales, &body)
                .await;
            let status = response.status().as_u16();
            if status != 200 {
                failures.push(format!(
                    "patch {status}: {}",
                    response.text().await.unwrap_or_default()
                ));
            }
            n += 1;
        }
        (n, failures)
    });
    let (logged, patched) = futures_util::future::join(
        futures_util::future::join_all(loggers),
        futures_util::future::join_all(patchers),
    )
    .await;
    let requests: usize = logged.iter().chain(&patched).map(|(n, _)| n).sum();
    let failures: Vec<&String> = logged.iter().chain(&patched).flat_map(|(_, f)| f).collect();
    assert!(
        failures.is_empty(),
        "{} of {requests} requests failed, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}

/// A batch's items are applied in the order given: after a batch of sales of one contact by
/// agents 0..300, the contact was last converted by agent 299 (as after the same items one
/// by one). The batch handed each item to the writer from its own future, and those futures
/// (`join_all` of 300) reached the writer's queue in another order; now it queues them in turn.
async fn a_batch_is_applied_in_item_order() {
    let app = spawn_app_with(&["--rate-limit-per-hour", "0"]).await;
    let lead_gen = app.workspace("lead_gen_team").await;
    let sales = app.workspace("salesforce_prod").await;
    app.contact_received_by(&lead_gen, 1, "Contact", "salesforce_prod")
        .await;
    let items: Vec<Value> = (0..300)
        .map(|i| {
            json!({"contact_id": 1, "converted_by": format!("agent_{i}"),
                        "conversion_type": "sale", "conversion_value": 1})
        })
        .collect();
    let batch = expect_json(
        app.post_json("/conversions/batch", &sales, &json!({"conversions": items}))
            .await,
        200,
    )
    .await;
    assert_eq!(batch["stored"], json!(300));
    let contact = app.contact_exact(1).await;
    assert_eq!(contact["converted_by"], json!("agent_299"));
}

crate::backend::on_both_backends!(
    conversions_beside_status_changes_of_other_contacts_all_succeed,
    a_batch_is_applied_in_item_order,
);
