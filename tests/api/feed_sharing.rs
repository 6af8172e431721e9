//! Subscribers with the same document and the same caller share one execution of
//! `conversionFeed` (#12): what each receives stays exactly what it would get alone. Sharing
//! never crosses what a caller may see, members come and go without ending it for the others,
//! and a member that falls behind is told so on its own.

use crate::helpers::{Creds, FEED_SUBSCRIPTION, FeedSocket, TestApp, spawn_app, spawn_app_with};
use serde_json::{Value, json};

/// lead_gen_team owns contact 1 and sent it to both receivers.
async fn two_receivers(app: &TestApp) -> (Creds, Creds) {
    let receiver_a = app.workspace("receiver_a").await;
    let receiver_b = app.workspace("receiver_b").await;
    let lead_gen = app.workspace("lead_gen_team").await;
    app.contact_received_by(&lead_gen, 1, "Jane Roe", "receiver_a")
        .await;
    app.send_contact(&lead_gen, 1, "receiver_b").await;
    (receiver_a, receiver_b)
}

fn sale(value: u32) -> Value {
    json!({ "contact_id": 1, "converted_by": "agent", "conversion_type": "sale",
            "conversion_value": value })
}

fn feed_event(payload: &Value) -> &Value {
    &payload["data"]["conversionFeed"]
}

/// The next event on `socket`, as (conversion id, contact's lifetime value).
async fn next_sale(socket: &mut FeedSocket) -> (Value, Value) {
    let payload = socket.next_event().await.expect("an event on the feed");
    let event = feed_event(&payload);
    (
        event["conversion"]["id"].clone(),
        event["contact"]["lifetimeValue"].clone(),
    )
}

async fn sharing_never_crosses_what_a_caller_may_see() {
    // Arrange: the admin and two receivers, two subscribers each, all with one document.
    let app = spawn_app().await;
    let (receiver_a, receiver_b) = two_receivers(&app).await;
    let mut admin = [
        app.subscribe_feed(&app.admin, json!({})).await,
        app.subscribe_feed(&app.admin, json!({})).await,
    ];
    let mut a = [
        app.subscribe_feed(&receiver_a, json!({})).await,
        app.subscribe_feed(&receiver_a, json!({})).await,
    ];
    let mut b = [
        app.subscribe_feed(&receiver_b, json!({})).await,
        app.subscribe_feed(&receiver_b, json!({})).await,
    ];

    // Act: each receiver sells the shared contact, then A once more.
    let a_first = app.log_conversion(&receiver_a, sale(100)).await;
    let b_sale = app.log_conversion(&receiver_b, sale(200)).await;
    let a_second = app.log_conversion(&receiver_a, sale(1)).await;

    // Assert: the admin sees every sale and the contact whole (the sum of everyone's).
    for socket in &mut admin {
        assert_eq!(
            next_sale(socket).await,
            (a_first["id"].clone(), json!("100.00"))
        );
        assert_eq!(
            next_sale(socket).await,
            (b_sale["id"].clone(), json!("300.00"))
        );
        assert_eq!(
            next_sale(socket).await,
            (a_second["id"].clone(), json!("301.00"))
        );
    }
    // Each receiver sees only its own sales, with its own figures of the contact.
    for socket in &mut a {
        assert_eq!(
            next_sale(socket).await,
            (a_first["id"].clone(), json!("100.00"))
        );
        assert_eq!(
            next_sale(socket).await,
            (a_second["id"].clone(), json!("101.00"))
        );
    }
    for socket in &mut b {
        assert_eq!(
            next_sale(socket).await,
            (b_sale["id"].clone(), json!("200.00"))
        );
    }
}

async fn the_admin_and_a_workspace_watching_it_never_share() {
    // Arrange: one document watching one workspace, as that workspace and as the admin: the
    // same events, but not the same caller, so not the same view of the contact.
    let app = spawn_app().await;
    let (receiver_a, _) = two_receivers(&app).await;
    let variables = json!({ "workspaceId": "receiver_a" });
    let mut as_workspace = app.subscribe_feed(&receiver_a, variables.clone()).await;
    let mut as_admin = app.subscribe_feed(&app.admin, variables).await;

    // Act
    let logged = app.log_conversion(&receiver_a, sale(100)).await;
    app.log_conversion(
        &app.admin,
        json!({ "contact_id": 1, "workspace_id": "receiver_b", "converted_by": "agent",
                "conversion_type": "sale", "conversion_value": 50 }),
    )
    .await;
    let again = app.log_conversion(&receiver_a, sale(1)).await;

    // Assert: the admin's view of the contact is whole, the workspace's its own; neither
    // gets receiver_b's sale.
    assert_eq!(
        next_sale(&mut as_workspace).await,
        (logged["id"].clone(), json!("100.00"))
    );
    assert_eq!(
        next_sale(&mut as_admin).await,
        (logged["id"].clone(), json!("100.00"))
    );
    assert_eq!(
        next_sale(&mut as_workspace).await,
        (again["id"].clone(), json!("101.00"))
    );
    assert_eq!(
        next_sale(&mut as_admin).await,
        (again["id"].clone(), json!("151.00"))
    );
}

async fn members_leaving_do_not_end_the_feed_for_the_others() {
    // Arrange: three subscribers of one workspace with one document; the first started the
    // shared execution.
    let app = spawn_app().await;
    let (receiver_a, _) = two_receivers(&app).await;
    let first = app.subscribe_feed(&receiver_a, json!({})).await;
    let mut second = app.subscribe_feed(&receiver_a, json!({})).await;
    let mut third = app.subscribe_feed(&receiver_a, json!({})).await;
    let before = app.metric("convio_feed_subscribers").await;

    // Act: the first goes away without a word; the second completes its subscription.
    drop(first);
    second.send(json!({ "id": "1", "type": "complete" })).await;
    // The gauge counts only who is left; once it does, the server has taken the `complete`,
    // so no event can be on its way to the second any more.
    wait_for_gauge(&app, before - 2).await;
    let logged = app.log_conversion(&receiver_a, sale(100)).await;

    // Assert: the third still receives.
    assert_eq!(next_sale(&mut third).await.0, logged["id"]);

    // And the second may subscribe again under the same id, joining the same feed.
    second.subscribe("1", FEED_SUBSCRIPTION, json!({})).await;
    app.wait_for_subscribers(before - 1).await;
    let next = app.log_conversion(&receiver_a, sale(1)).await;
    assert_eq!(next_sale(&mut second).await.0, next["id"]);
    assert_eq!(next_sale(&mut third).await.0, next["id"]);
}

async fn wait_for_gauge(app: &TestApp, expected: u64) {
    for _ in 0..250 {
        if app.metric("convio_feed_subscribers").await == expected {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("convio_feed_subscribers never came to {expected}");
}

/// Selects the conversion's custom data four times over, so that every event is a large frame.
const LARGE_EVENTS: &str = "subscription { conversionFeed { conversion {
  id a: customData b: customData c: customData d: customData } } }";

async fn a_member_that_falls_behind_is_told_and_the_others_are_not() {
    // Arrange: a feed buffer of 16 events; two members of one execution, one of which stops
    // reading, so its socket fills and its connection stops taking the shared results.
    let app = spawn_app_with(&["--feed-buffer", "16"]).await;
    let (receiver_a, _) = two_receivers(&app).await;
    let mut reading = app
        .subscribe_feed_with(&receiver_a, LARGE_EVENTS, json!({}))
        .await;
    let mut stalled = app
        .subscribe_feed_with(&receiver_a, LARGE_EVENTS, json!({}))
        .await;

    // Act: enough ~64 KB events to fill the stalled socket's buffers and 16 more.
    let notes = "n".repeat(16 * 1024 - 64);
    let mut logged = Vec::new();
    for _ in 0..80 {
        let body = json!({ "contact_id": 1, "converted_by": "agent", "conversion_type": "sale",
                           "conversion_value": 1, "custom_data": { "notes": notes } });
        let conversion = app.log_conversion(&receiver_a, body).await;
        logged.push(conversion["id"].clone());
        let payload = reading.next_event().await.expect("the reader keeps up");
        assert_eq!(
            feed_event(&payload)["conversion"]["id"],
            *logged.last().unwrap()
        );
    }

    // Assert: the stalled member gets what was buffered, then a lag notice for what it lost
    // (a `next` with the resolver's error at the field), then the events after it.
    let mut received = 0;
    let notice = loop {
        let payload = stalled
            .next_event()
            .await
            .expect("buffered events, then a notice");
        if payload.get("errors").is_some() {
            break payload;
        }
        received += 1;
    };
    let error = &notice["errors"][0];
    assert_eq!(error["extensions"]["code"], "CONFLICT", "{notice}");
    assert_eq!(error["path"], json!(["conversionFeed"]), "{notice}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains("fell behind and missed"), "{message}");
    assert!(
        received < logged.len(),
        "a lag notice after every event arrived"
    );
    let after = app.log_conversion(&receiver_a, sale(1)).await;
    let mut last = Value::Null;
    while last != after["id"] {
        let payload = stalled
            .next_event()
            .await
            .expect("the feed goes on after the notice");
        last = feed_event(&payload)["conversion"]["id"].clone();
    }
}

crate::backend::on_both_backends!(
    sharing_never_crosses_what_a_caller_may_see,
    the_admin_and_a_workspace_watching_it_never_share,
    members_leaving_do_not_end_the_feed_for_the_others,
    a_member_that_falls_behind_is_told_and_the_others_are_not,
);
