//! A feed event shows its contact as that conversion left it (#11): the schema promises the
//! contact "as it stood after the conversion", so three conversions on one contact in one
//! batch give three different states, not the last one three times.

use crate::helpers::spawn_app;
use serde_json::{Value, json};

/// The funnel order of statuses, as a conversion moves a contact forward.
fn rank(status: &str) -> u8 {
    match status {
        "QUALIFIED" => 1,
        "APPOINTMENT" => 2,
        "CONVERTED" => 3,
        _ => 0,
    }
}

async fn each_event_shows_the_contact_as_its_conversion_left_it() {
    // Arrange
    let app = spawn_app().await;
    let workspace_123 = app.workspace("workspace_123").await;
    let lead_gen = app.workspace("lead_gen_team").await;
    app.contact_received_by(&lead_gen, 123456, "Jane Roe", "workspace_123")
        .await;
    let mut feed = app.subscribe_feed(&workspace_123, json!({})).await;
    let item = |kind: &str, value: Option<u32>| {
        json!({ "contact_id": 123456, "converted_by": "agent", "conversion_type": kind,
                "conversion_value": value })
    };

    // Act: one batch, three conversions of one contact.
    let body = json!({ "conversions": [
        item("qualified", None), item("appointment", Some(100)), item("sale", Some(200)),
    ]});
    let response = app
        .post_json("/conversions/batch", &workspace_123, &body)
        .await;
    assert_eq!(response.status(), 200);

    // Assert: in feed order, each event's contact is the running state up to it.
    let (mut count, mut cents, mut status) = (0, 0, "PENDING".to_owned());
    for _ in 0..3 {
        let event = feed.next_event().await.expect("an event");
        let event = &event["data"]["conversionFeed"];
        let kind = event["conversion"]["conversionType"].as_str().unwrap();
        count += 1;
        cents += match kind {
            "appointment" => 10_000,
            "sale" => 20_000,
            _ => 0,
        };
        let reached = match kind {
            "qualified" => "QUALIFIED",
            "appointment" => "APPOINTMENT",
            _ => "CONVERTED",
        };
        if rank(reached) > rank(&status) {
            status = reached.to_owned();
        }
        let expected = json!({
            "id": "123456", "name": "Jane Roe", "conversionStatus": status,
            "lifetimeValue": format!("{}.{:02}", cents / 100, cents % 100),
            "conversionCount": count,
        });
        assert_eq!(event["contact"], expected, "after the {kind}");
    }
    // The contact itself ends where the last event left it.
    let contact: Value = app.contact_exact(123456).await;
    assert_eq!(contact["lifetime_value"], "300.00");
    assert_eq!(contact["conversion_count"], "3");
}

crate::backend::on_both_backends!(each_event_shows_the_contact_as_its_conversion_left_it,);
