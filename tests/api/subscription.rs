//! The live feed (`conversionFeed` over graphql-transport-ws on `/graphql/ws`).

use crate::helpers::{
    Creds, FEED_SUBSCRIPTION, FeedSocket, Refusal, TestApp, refused_subscription_code, spawn_app,
    spawn_app_with,
};
use crate::rest_workspaces::issue_token;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// workspace_123 has received contact 123456 from lead_gen_team.
async fn fixture() -> (TestApp, Creds) {
    let app = spawn_app().await;
    let workspace_123 = app.workspace("workspace_123").await;
    let lead_gen = app.workspace("lead_gen_team").await;
    app.contact_received_by(&lead_gen, 123456, "Jane Roe", "workspace_123")
        .await;
    (app, workspace_123)
}

fn conversion(kind: &str, value: Value) -> Value {
    json!({
        "contact_id": 123456,
        "converted_by": "agent_john_doe",
        "conversion_type": kind,
        "conversion_value": value,
    })
}

async fn a_subscriber_receives_a_conversion_logged_over_rest() {
    // Arrange
    let (app, workspace_123) = fixture().await;
    let mut feed = app.subscribe_feed(&workspace_123, json!({})).await;

    // Act
    let logged = app
        .log_conversion(&workspace_123, conversion("sale", json!(18500.50)))
        .await;

    // Assert
    let event = feed.next_event().await.expect("the conversion on the feed");
    let event = &event["data"]["conversionFeed"];
    assert_eq!(event["conversion"]["id"], logged["id"]);
    assert_eq!(event["conversion"]["contactId"], "123456");
    assert_eq!(event["conversion"]["workspaceId"], "workspace_123");
    assert_eq!(event["conversion"]["conversionType"], "sale");
    assert_eq!(event["conversion"]["conversionValue"], "18500.50");
    assert_eq!(event["conversion"]["currency"], "USD");
    assert_eq!(event["conversion"]["convertedBy"], "agent_john_doe");
    assert_eq!(event["contact"]["id"], "123456");
    assert_eq!(event["contact"]["name"], "Jane Roe");
    assert_eq!(event["contact"]["conversionStatus"], "CONVERTED");
    assert_eq!(event["contact"]["lifetimeValue"], "18500.50");
    assert_eq!(event["contact"]["conversionCount"], 1);
}

async fn a_bearer_key_in_connection_init_works_too() {
    // Arrange
    let app = spawn_app().await;
    let key = app
        .register_workspace("workspace_123", &["read", "update", "convert"])
        .await;
    let lead_gen = app.workspace("lead_gen_team").await;
    app.contact_received_by(&lead_gen, 123456, "Jane Roe", "workspace_123")
        .await;
    let mut feed = app.subscribe_feed(&Creds::bearer(&key), json!({})).await;

    // Act
    let logged = app
        .log_conversion(
            &Creds::headers("workspace_123", &key),
            conversion("sale", json!(25000)),
        )
        .await;

    // Assert
    let event = feed.next_event().await.expect("the conversion on the feed");
    assert_eq!(
        event["data"]["conversionFeed"]["conversion"]["id"],
        logged["id"]
    );
    assert_eq!(
        event["data"]["conversionFeed"]["conversion"]["conversionValue"],
        "25000.00"
    );
}

async fn a_type_filter_skips_other_types_and_delivers_matching_ones() {
    // Arrange
    let (app, workspace_123) = fixture().await;
    let mut feed = app
        .subscribe_feed(&workspace_123, json!({ "conversionTypes": ["sale"] }))
        .await;

    // Act: an appointment first, then a sale.
    app.log_conversion(&workspace_123, conversion("appointment", Value::Null))
        .await;
    let sale = app
        .log_conversion(&workspace_123, conversion("sale", json!(25000)))
        .await;

    // Assert: the first thing delivered is the sale.
    let event = feed.next_event().await.expect("the sale on the feed");
    assert_eq!(
        event["data"]["conversionFeed"]["conversion"]["id"],
        sale["id"]
    );
    assert_eq!(
        event["data"]["conversionFeed"]["conversion"]["conversionType"],
        "sale"
    );
}

async fn the_admin_feed_sees_every_workspace() {
    // Arrange
    let (app, workspace_123) = fixture().await;
    let mut feed = app.subscribe_feed(&app.admin, json!({})).await;

    // Act
    let logged = app
        .log_conversion(&workspace_123, conversion("sale", json!(10)))
        .await;

    // Assert
    let event = feed
        .next_event()
        .await
        .expect("the conversion on the admin feed");
    assert_eq!(
        event["data"]["conversionFeed"]["conversion"]["id"],
        logged["id"]
    );
    assert_eq!(
        event["data"]["conversionFeed"]["conversion"]["conversionValue"],
        "10.00"
    );
}

async fn refusal(app: &TestApp, payload: Value) -> Refusal {
    let mut socket = app.feed_socket().await;
    match socket.init(payload).await {
        Ok(()) => panic!("connection_init was acknowledged without valid credentials"),
        Err(refusal) => refusal,
    }
}

async fn connection_init_without_valid_credentials_is_not_acknowledged() {
    // Arrange
    let (app, workspace_123) = fixture().await;

    // Act
    let missing = refusal(&app, json!({})).await;
    let bad_key = refusal(
        &app,
        json!({ "X-Workspace-ID": "workspace_123", "X-API-Key": "wrong-key-wrong-key" }),
    )
    .await;
    let bad_bearer = refusal(
        &app,
        json!({ "Authorization": "Bearer wrong-key-wrong-key" }),
    )
    .await;
    // A valid key twice over, as X-API-Key and as a bearer: which one is meant is a guess.
    let Creds::Headers { api_key, .. } = &workspace_123 else {
        unreachable!("fixture credentials are headers")
    };
    let two_credentials = refusal(
        &app,
        json!({ "X-API-Key": api_key, "Authorization": format!("Bearer {api_key}") }),
    )
    .await;
    let two_spellings = refusal(&app, json!({ "X-API-Key": api_key, "x-api-key": api_key })).await;

    // Assert: closed, or told why; never acknowledged, never silent.
    for refused in [missing, bad_key, bad_bearer, two_credentials, two_spellings] {
        assert!(
            matches!(refused, Refusal::Closed(..) | Refusal::Message(_)),
            "expected a close or an error, got {refused:?}"
        );
        if let Refusal::Message(message) = &refused {
            assert_ne!(message["type"], "connection_ack");
        }
    }
}

async fn connection_init_without_valid_credentials_is_closed_with_4403() {
    // Arrange: graphql-transport-ws says a refused connection_init closes with 4403 Forbidden.
    let (app, _) = fixture().await;

    // Act
    let missing = refusal(&app, json!({})).await;
    let bad_key = refusal(
        &app,
        json!({ "X-Workspace-ID": "workspace_123", "X-API-Key": "wrong-key-wrong-key" }),
    )
    .await;

    // Assert
    for refused in [missing, bad_key] {
        match refused {
            Refusal::Closed(Some(code), reason) => assert_eq!(code, 4403, "close code ({reason})"),
            Refusal::Message(message) => assert_eq!(message["type"], "error", "{message}"),
            other => panic!("expected close 4403 or an error message, got {other:?}"),
        }
    }
}

async fn a_subscription_without_read_permission_is_refused() {
    // Arrange
    let app = spawn_app().await;
    let key = app.register_workspace("writer", &["convert"]).await;
    let mut socket = app.feed_socket().await;
    socket
        .init(Creds::headers("writer", &key).connection_init_payload())
        .await
        .expect("valid credentials are acknowledged");

    // Act
    socket.subscribe("1", FEED_SUBSCRIPTION, json!({})).await;

    // Assert: an error for the subscription, not a silent stream.
    let message = socket
        .next_message()
        .await
        .expect("an answer to the subscription");
    assert_eq!(message["id"], "1");
    assert_eq!(refused_subscription_code(&message), "FORBIDDEN");
}

async fn a_refused_conversion_is_never_published() {
    // Arrange
    let (app, workspace_123) = fixture().await;
    let mut feed = app.subscribe_feed(&workspace_123, json!({})).await;

    // Act: a refused request, then a good one.
    let refused = app
        .post_json(
            "/conversions/log",
            &workspace_123,
            &conversion("sale", json!(-5)),
        )
        .await;
    assert_eq!(refused.status().as_u16(), 422);
    let logged = app
        .log_conversion(&workspace_123, conversion("sale", json!(5)))
        .await;

    // Assert: the first event is the stored one.
    let event = feed.next_event().await.expect("the stored conversion");
    assert_eq!(
        event["data"]["conversionFeed"]["conversion"]["id"],
        logged["id"]
    );
    assert_eq!(
        event["data"]["conversionFeed"]["contact"]["conversionCount"],
        1
    );
}

async fn a_bad_type_filter_is_refused_up_front() {
    // Arrange
    let (app, workspace_123) = fixture().await;
    let mut socket = app.feed_socket().await;
    socket
        .init(workspace_123.connection_init_payload())
        .await
        .expect("acknowledged");

    // Act
    socket
        .subscribe(
            "1",
            FEED_SUBSCRIPTION,
            json!({ "conversionTypes": ["Sale!"] }),
        )
        .await;

    // Assert
    let message = socket
        .next_message()
        .await
        .expect("an answer to the subscription");
    assert_eq!(refused_subscription_code(&message), "BAD_USER_INPUT");
}

/// The subscription "1" ends with `UNAUTHENTICATED` and the socket closes with 4403.
async fn assert_ended_unauthenticated(socket: &mut FeedSocket) {
    let message = socket
        .next_message()
        .await
        .expect("the subscription is ended with an error");
    assert_eq!(message["id"], "1", "{message}");
    assert_eq!(refused_subscription_code(&message), "UNAUTHENTICATED");
    let (code, reason) = socket.expect_close().await;
    assert_eq!(code, Some(4403), "{reason}");
}

async fn revoking_a_workspace_s_keys_ends_its_live_subscriptions() {
    // Arrange
    let (app, workspace_123) = fixture().await;
    let mut revoked = app.subscribe_feed(&workspace_123, json!({})).await;
    let mut bystander = app.subscribe_feed(&app.admin, json!({})).await;

    // Act
    app.revoke_keys("workspace_123").await;

    // Assert
    assert_ended_unauthenticated(&mut revoked).await;
    let logged = app
        .log_conversion(
            &app.admin,
            json!({"contact_id": 123456, "workspace_id": "workspace_123",
                   "converted_by": "agent", "conversion_type": "sale"}),
        )
        .await;
    let event = bystander.next_event().await.expect("others keep streaming");
    assert_eq!(
        event["data"]["conversionFeed"]["conversion"]["id"],
        logged["id"]
    );
}

async fn disabling_a_workspace_ends_its_subscriptions_at_the_next_check() {
    // Arrange: the subscriber holds a JWT; the workspace is disabled behind the API's back
    // (another node, an operator), which only the periodic re-check can notice.
    let app = spawn_app_with(&["--ws-recheck-seconds", "1"]).await;
    let creds = app.workspace("workspace_123").await;
    let token = Creds::bearer(&issue_token(&app, &creds).await);
    let mut socket = app.subscribe_feed(&token, json!({})).await;

    // Act
    let db = Database::connect(app.database_url.as_str())
        .await
        .expect("connect");
    db.execute_unprepared(
        "UPDATE workspaces SET disabled_at = created_at WHERE id = 'workspace_123'",
    )
    .await
    .expect("disable the workspace");
    db.close().await.expect("close");

    // Assert
    assert_ended_unauthenticated(&mut socket).await;
}

async fn a_subscriber_joining_while_conversions_stream_by_unheard_gets_every_later_one() {
    // Arrange: another workspace logs conversions without pause while, most of the time, no
    // one subscribes: the pump passes over those events without reading them back.
    let (app, workspace_123) = fixture().await;
    let busy = app.workspace("busy_team").await;
    app.create_contact(&busy, 777, "Bo Busy").await;
    let stop = Arc::new(AtomicBool::new(false));
    let background = tokio::spawn({
        let (app, stop) = (TestApp::attach(app.port), stop.clone());
        async move {
            let mut logged = 0_u64;
            while !stop.load(Ordering::Relaxed) {
                // As the admin, who is never rate limited.
                app.log_conversion(
                    &app.admin,
                    json!({"contact_id": 777, "workspace_id": "busy_team",
                           "converted_by": "bo", "conversion_type": "call"}),
                )
                .await;
                logged += 1;
            }
            logged
        }
    });

    for round in 0..5 {
        // Act: join the feed in the middle of the stream, then log one conversion.
        let mut feed = app.subscribe_feed(&workspace_123, json!({})).await;
        let logged = app
            .log_conversion(&workspace_123, conversion("sale", json!(round + 1)))
            .await;

        // Assert: it arrives, first: nothing of the other workspace's, nothing earlier.
        let event = feed.next_event().await.expect("the conversion on the feed");
        assert_eq!(
            event["data"]["conversionFeed"]["conversion"]["id"], logged["id"],
            "round {round}"
        );
        drop(feed);
        app.wait_for_subscribers_at_most(0).await;
    }
    stop.store(true, Ordering::Relaxed);
    let streamed = background.await.expect("the background stream");
    assert!(streamed > 0, "the other workspace logged meanwhile");
    app.wait_for_feed_published(streamed + 5).await;
}

crate::backend::on_both_backends!(
    a_subscriber_receives_a_conversion_logged_over_rest,
    a_bearer_key_in_connection_init_works_too,
    a_type_filter_skips_other_types_and_delivers_matching_ones,
    the_admin_feed_sees_every_workspace,
    connection_init_without_valid_credentials_is_not_acknowledged,
    connection_init_without_valid_credentials_is_closed_with_4403,
    a_subscription_without_read_permission_is_refused,
    a_refused_conversion_is_never_published,
    a_bad_type_filter_is_refused_up_front,
    revoking_a_workspace_s_keys_ends_its_live_subscriptions,
    disabling_a_workspace_ends_its_subscriptions_at_the_next_check,
    a_subscriber_joining_while_conversions_stream_by_unheard_gets_every_later_one,
);
