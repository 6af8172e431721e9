//! Resuming the feed (#14, slice 4): every event carries a `cursor`, and
//! `conversionFeed(after: cursor)` replays what came since, then goes on live, with no gap
//! and no duplicate, with the same filters and the same view of each contact as the live
//! feed, on any node; a cursor past the retention or malformed is refused before any event.

use crate::backend::{fresh_postgres_database, postgres_or_skip};
use crate::helpers::{
    Creds, FeedSocket, TestApp, refused_subscription_code, spawn_app, spawn_app_on, spawn_app_with,
};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use std::time::Duration;

const RESUMABLE_FEED: &str = r#"
subscription Feed($workspaceId: ID, $conversionTypes: [String!], $after: String) {
  conversionFeed(workspaceId: $workspaceId, conversionTypes: $conversionTypes, after: $after) {
    cursor
    conversion { id workspaceId conversionType conversionValue }
    contact { id name conversionStatus lifetimeValue conversionCount }
  }
}"#;

/// receiver_a and receiver_b both received contact 1 from lead_gen_team, so each sees only
/// its own figures of it, and the admin sees it whole.
async fn two_receivers(app: &TestApp) -> (Creds, Creds) {
    let receiver_a = app.workspace("receiver_a").await;
    let receiver_b = app.workspace("receiver_b").await;
    let lead_gen = app.workspace("lead_gen_team").await;
    app.contact_received_by(&lead_gen, 1, "Jane Roe", "receiver_a")
        .await;
    app.send_contact(&lead_gen, 1, "receiver_b").await;
    (receiver_a, receiver_b)
}

fn conversion(kind: &str, value: u32) -> Value {
    json!({ "contact_id": 1, "converted_by": "agent", "conversion_type": kind,
            "conversion_value": value })
}

async fn log(app: &TestApp, creds: &Creds, kind: &str, value: u32) -> String {
    let logged = app.log_conversion(creds, conversion(kind, value)).await;
    logged["id"].as_str().expect("an id").to_owned()
}

/// A subscriber of the resumable document; `after` may be null.
async fn subscribe(app: &TestApp, creds: &Creds, variables: Value) -> FeedSocket {
    app.subscribe_feed_with(creds, RESUMABLE_FEED, variables)
        .await
}

/// The next `n` events, failing if any is missing or is an error.
async fn events(socket: &mut FeedSocket, n: usize) -> Vec<Value> {
    let mut got = Vec::new();
    while got.len() < n {
        let payload = socket
            .next_event()
            .await
            .unwrap_or_else(|| panic!("only {} of {n} events arrived: {got:?}", got.len()));
        assert!(payload.get("errors").is_none(), "an error: {payload}");
        got.push(payload["data"]["conversionFeed"].clone());
    }
    got
}

/// Asserts that nothing further arrives within the helper's bounded wait.
async fn nothing_more(socket: &mut FeedSocket) {
    let extra = socket.next_event().await;
    assert!(extra.is_none(), "an event too many: {extra:?}");
}

fn conversion_ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["conversion"]["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// Cursors increase along the feed.
fn assert_ordered(events: &[Value]) {
    let sequences: Vec<i64> = events
        .iter()
        .map(|e| {
            let cursor = e["cursor"].as_str().expect("a cursor");
            cursor
                .strip_prefix("f1_")
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("an unexpected cursor {cursor}"))
        })
        .collect();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "cursors out of order: {sequences:?}"
    );
}

/// What a subscription with `variables` gets in answer: the code of its refusal, with the
/// field at fault.
async fn refusal(app: &TestApp, creds: &Creds, variables: Value) -> (String, Value) {
    let mut socket = app.feed_socket().await;
    socket
        .init(creds.connection_init_payload())
        .await
        .expect("connection acknowledged");
    socket.subscribe("1", RESUMABLE_FEED, variables).await;
    let message = socket.next_message().await.expect("an answer");
    let code = refused_subscription_code(&message);
    let errors = match message["type"].as_str() {
        Some("error") => &message["payload"],
        _ => &message["payload"]["errors"],
    };
    (code, errors[0].clone())
}

async fn replay_then_live_has_no_gap_and_no_duplicate_while_conversions_keep_coming() {
    // Arrange: a live subscriber hands out the cursor of the first event; five more follow.
    let app = spawn_app().await;
    let (receiver_a, _) = two_receivers(&app).await;
    let mut live = subscribe(&app, &receiver_a, json!({})).await;
    let first = log(&app, &receiver_a, "sale", 1).await;
    let seen = events(&mut live, 1).await;
    assert_eq!(conversion_ids(&seen), [first]);
    let cursor = seen[0]["cursor"].clone();
    let mut logged = Vec::new();
    for value in 2..=6 {
        logged.push(log(&app, &receiver_a, "sale", value).await);
    }

    // Act: resume after the first event while 30 more conversions are being logged.
    let writer = async {
        let mut more = Vec::new();
        for value in 7..=36 {
            more.push(log(&app, &receiver_a, "sale", value).await);
        }
        more
    };
    let reader = async {
        let mut resumed = subscribe(&app, &receiver_a, json!({ "after": cursor })).await;
        let got = events(&mut resumed, 35).await;
        (resumed, got)
    };
    let (more, (mut resumed, got)) = tokio::join!(writer, reader);
    logged.extend(more);

    // Assert: every event after the cursor once, in the order logged, then live ones.
    assert_eq!(conversion_ids(&got), logged);
    assert_ordered(&got);
    let next = log(&app, &receiver_a, "sale", 37).await;
    assert_eq!(conversion_ids(&events(&mut resumed, 1).await), [next]);
    nothing_more(&mut resumed).await;
    // The same events as the live subscriber's, byte for byte.
    let live_events = events(&mut live, 36).await;
    assert_eq!(got[..], live_events[..35]);
}

async fn replay_shows_exactly_what_the_live_feed_showed_each_caller() {
    // Arrange: live subscribers of every kind, and conversions of two receivers of one
    // contact, of two types.
    let app = spawn_app().await;
    let (receiver_a, receiver_b) = two_receivers(&app).await;
    let admin = app.admin.clone();
    let views = [
        (receiver_a.clone(), json!({})),
        (receiver_a.clone(), json!({ "conversionTypes": ["sale"] })),
        (receiver_b.clone(), json!({ "workspaceId": "receiver_b" })),
        (admin.clone(), json!({})),
        (admin.clone(), json!({ "workspaceId": "receiver_a" })),
    ];
    let mut live = Vec::new();
    for (creds, variables) in &views {
        live.push(subscribe(&app, creds, variables.clone()).await);
    }
    let mut admin_feed = subscribe(&app, &admin, json!({})).await;
    log(&app, &receiver_b, "qualified", 0).await;
    let cursor = events(&mut admin_feed, 1).await[0]["cursor"].clone();
    let plan = [
        (&receiver_a, "sale", 100),
        (&receiver_b, "sale", 200),
        (&receiver_a, "appointment", 30),
        (&receiver_b, "appointment", 40),
        (&receiver_a, "sale", 500),
    ];
    for (creds, kind, value) in plan {
        log(&app, creds, kind, value).await;
    }
    // Events after the cursor each view gets, and whether it also got the cursor's own.
    let expected = [(3, 0), (2, 0), (2, 1), (5, 1), (3, 0)];

    // Act + Assert: each caller resumed after the cursor with the same filters replays what
    // its live subscription received after it, contact views included, and nothing else.
    for (((creds, variables), socket), (n, skip)) in views.iter().zip(&mut live).zip(expected) {
        let live_events = events(socket, n + skip).await;
        let mut resume = variables.clone();
        resume["after"] = cursor.clone();
        let mut resumed = subscribe(&app, creds, resume).await;
        let replayed = events(&mut resumed, n).await;
        assert_eq!(replayed[..], live_events[skip..], "{variables}");
    }
    // A workspace replaying never gets another's events, and may not ask for them.
    let (code, _) = refusal(
        &app,
        &receiver_a,
        json!({ "workspaceId": "receiver_b", "after": cursor }),
    )
    .await;
    assert_eq!(code, "FORBIDDEN");
}

async fn replay_shows_adjusted_conversions_as_each_event_left_them() {
    // Arrange: live subscribers, all types and sales only; a sale restated into another
    // type, another retracted.
    let app = spawn_app().await;
    let (receiver_a, _) = two_receivers(&app).await;
    let document = "subscription($conversionTypes: [String!], $after: String) {
        conversionFeed(conversionTypes: $conversionTypes, after: $after) {
          kind cursor conversion { id conversionType conversionValue status } } }";
    let views = [json!({}), json!({ "conversionTypes": ["sale"] })];
    let mut live = Vec::new();
    for variables in &views {
        live.push(
            app.subscribe_feed_with(&receiver_a, document, variables.clone())
                .await,
        );
    }
    log(&app, &receiver_a, "qualified", 0).await;
    let cursor = events(&mut live[0], 1).await[0]["cursor"].clone();
    let restated = log(&app, &receiver_a, "sale", 100).await;
    let retracted = log(&app, &receiver_a, "sale", 300).await;
    for (id, body) in [
        (
            &restated,
            json!({"action": "restate", "reason": "a deposit", "conversion_type": "deposit", "conversion_value": 90}),
        ),
        (
            &retracted,
            json!({"action": "retract", "reason": "cancelled"}),
        ),
    ] {
        let response = app
            .post_json(
                &format!("/conversions/{id}/adjustments"),
                &receiver_a,
                &body,
            )
            .await;
        assert_eq!(response.status(), 201);
    }

    // Act + Assert: each replays exactly what it saw live, a logged sale as a sale.
    for ((variables, socket), n) in views.iter().zip(&mut live).zip([4, 3]) {
        let live_events = events(socket, n).await;
        let mut resume = variables.clone();
        resume["after"] = cursor.clone();
        let mut resumed = app.subscribe_feed_with(&receiver_a, document, resume).await;
        let replayed = events(&mut resumed, n).await;
        assert_eq!(replayed, live_events, "{variables}");
        nothing_more(&mut resumed).await;
    }
    let all = replayed_all(&app, &receiver_a, document, &cursor).await;
    let kinds: Vec<&str> = events_kinds(&all);
    assert_eq!(kinds, ["LOGGED", "LOGGED", "ADJUSTED", "RETRACTED"]);
}

/// Everything receiver_a may see after `cursor`, replayed.
async fn replayed_all(app: &TestApp, creds: &Creds, document: &str, cursor: &Value) -> Vec<Value> {
    let mut socket = app
        .subscribe_feed_with(creds, document, json!({ "after": cursor }))
        .await;
    events(&mut socket, 4).await
}

fn events_kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

async fn subscribers_resuming_from_one_cursor_each_get_the_whole_replay() {
    // Arrange: a cursor, two events after it.
    let app = spawn_app().await;
    let (receiver_a, _) = two_receivers(&app).await;
    let mut live = subscribe(&app, &receiver_a, json!({})).await;
    log(&app, &receiver_a, "sale", 1).await;
    let cursor = events(&mut live, 1).await[0]["cursor"].clone();
    let after = vec![
        log(&app, &receiver_a, "sale", 2).await,
        log(&app, &receiver_a, "sale", 3).await,
    ];

    // Act: the same caller, document and variables twice, the second once the first is live.
    let mut first = subscribe(&app, &receiver_a, json!({ "after": cursor })).await;
    assert_eq!(conversion_ids(&events(&mut first, 2).await), after);
    let mut second = subscribe(&app, &receiver_a, json!({ "after": cursor })).await;

    // Assert: the second replays from the cursor too, then both go on live.
    assert_eq!(conversion_ids(&events(&mut second, 2).await), after);
    let next = log(&app, &receiver_a, "sale", 4).await;
    for socket in [&mut first, &mut second] {
        assert_eq!(conversion_ids(&events(socket, 1).await), [next.as_str()]);
    }
}

async fn a_resumed_subscriber_that_falls_behind_catches_up_from_the_store() {
    // Arrange: a feed buffer of 16; a resumed subscriber that stops reading while large
    // events fill its socket and overflow its buffer.
    let app = spawn_app_with(&["--feed-buffer", "16"]).await;
    let (receiver_a, _) = two_receivers(&app).await;
    let mut live = subscribe(&app, &receiver_a, json!({})).await;
    log(&app, &receiver_a, "sale", 1).await;
    let cursor = events(&mut live, 1).await[0]["cursor"].clone();
    let document = "subscription($after: String) { conversionFeed(after: $after) {
      conversion { id a: customData b: customData c: customData d: customData } } }";
    let mut stalled = app
        .subscribe_feed_with(&receiver_a, document, json!({ "after": cursor }))
        .await;

    // Act: 80 events of ~64 KB each.
    let notes = "n".repeat(16 * 1024 - 64);
    let mut logged = Vec::new();
    for _ in 0..80 {
        let body = json!({ "contact_id": 1, "converted_by": "agent", "conversion_type": "sale",
                           "conversion_value": 1, "custom_data": { "notes": notes } });
        let stored = app.log_conversion(&receiver_a, body).await;
        logged.push(stored["id"].as_str().expect("an id").to_owned());
    }

    // Assert: every event, in order, and no lag notice.
    let got = events(&mut stalled, 80).await;
    assert_eq!(conversion_ids(&got), logged);
    nothing_more(&mut stalled).await;
}

async fn a_cursor_past_the_retention_is_refused_and_the_sweep_deletes_its_event() {
    // Arrange: events kept for two seconds (swept every second).
    let app = spawn_app_with(&["--feed-retention-seconds", "2"]).await;
    let (receiver_a, _) = two_receivers(&app).await;
    let mut live = subscribe(&app, &receiver_a, json!({})).await;
    log(&app, &receiver_a, "sale", 1).await;
    log(&app, &receiver_a, "sale", 2).await;
    let old = events(&mut live, 2).await;

    // Act: wait past the retention, until the sweep deleted all but the newest event.
    let db = Database::connect(app.database_url.as_str())
        .await
        .expect("connect to the app's database");
    let mut kept = u64::MAX;
    for _ in 0..150 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM feed_events",
            ))
            .await
            .expect("count feed events")
            .expect("a row");
        kept = row.try_get::<i64>("", "n").expect("a count") as u64;
        if kept == 1 {
            break;
        }
    }
    assert_eq!(kept, 1, "the sweep keeps only the newest event");

    // Assert: the deleted event's cursor, and the kept but older one, are refused as expired.
    for event in &old {
        let (code, error) = refusal(&app, &receiver_a, json!({ "after": event["cursor"] })).await;
        assert_eq!(code, "CURSOR_EXPIRED", "{error}");
        assert_eq!(error["extensions"]["field"], "after", "{error}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("2 seconds"),
            "names the retention: {message}"
        );
    }
    // (That a cursor within the retention resumes is shown above; with two seconds here, a
    // busy machine could take longer than that between an event and its resumption.)
    db.close().await.expect("close");
}

async fn a_malformed_cursor_is_bad_user_input_naming_after() {
    let app = spawn_app().await;
    let (receiver_a, _) = two_receivers(&app).await;
    let mut live = subscribe(&app, &receiver_a, json!({})).await;
    log(&app, &receiver_a, "sale", 1).await;
    let cursor = events(&mut live, 1).await[0]["cursor"]
        .as_str()
        .expect("a cursor")
        .to_owned();
    let conversions = app
        .graphql_data(
            &receiver_a,
            "{ conversions(first: 1) { edges { cursor } } }",
            json!({}),
        )
        .await;
    let connection_cursor = conversions["conversions"]["edges"][0]["cursor"].clone();
    for bad in [
        json!("garbage"),
        json!(""),
        json!(format!("{cursor}0000000")),
        json!(format!("{cursor} ")),
        json!(cursor.replace("f1_", "f2_")),
        connection_cursor,
    ] {
        let (code, error) = refusal(&app, &receiver_a, json!({ "after": bad })).await;
        assert_eq!(code, "BAD_USER_INPUT", "{bad}: {error}");
        assert_eq!(error["extensions"]["field"], "after", "{bad}: {error}");
    }
}

crate::backend::on_both_backends!(
    replay_shows_adjusted_conversions_as_each_event_left_them,
    replay_then_live_has_no_gap_and_no_duplicate_while_conversions_keep_coming,
    replay_shows_exactly_what_the_live_feed_showed_each_caller,
    subscribers_resuming_from_one_cursor_each_get_the_whole_replay,
    a_resumed_subscriber_that_falls_behind_catches_up_from_the_store,
    a_cursor_past_the_retention_is_refused_and_the_sweep_deletes_its_event,
    a_malformed_cursor_is_bad_user_input_naming_after,
);

#[tokio::test]
async fn a_cursor_from_one_node_resumes_on_another_with_no_gap_and_no_duplicate() {
    if postgres_or_skip().await.is_none() {
        return;
    }
    // Arrange: two nodes on one PostgreSQL database; a subscriber on A takes a cursor.
    let url = fresh_postgres_database().await;
    let a = spawn_app_on(&url, &[]).await;
    let b = spawn_app_on(&url, &[]).await;
    let (receiver_a, _) = two_receivers(&a).await;
    let mut on_a = subscribe(&a, &receiver_a, json!({})).await;
    log(&a, &receiver_a, "sale", 1).await;
    let cursor = events(&mut on_a, 1).await[0]["cursor"].clone();
    let mut logged = Vec::new();
    for value in 2..=4 {
        logged.push(log(&a, &receiver_a, "sale", value).await);
    }

    // Act: resume on B while both nodes take conversions.
    let writer = async {
        let mut more = Vec::new();
        for value in 5..=24 {
            let node = if value % 2 == 0 { &a } else { &b };
            more.push(log(node, &receiver_a, "sale", value).await);
        }
        more
    };
    let reader = async {
        let mut resumed = subscribe(&b, &receiver_a, json!({ "after": cursor })).await;
        let got = events(&mut resumed, 23).await;
        (resumed, got)
    };
    let (more, (mut on_b, got)) = tokio::join!(writer, reader);
    logged.extend(more);

    // Assert: B replays and goes live with every event once, in feed order, as A shows them.
    assert_eq!(conversion_ids(&got), logged);
    assert_ordered(&got);
    let next = log(&a, &receiver_a, "sale", 25).await;
    assert_eq!(conversion_ids(&events(&mut on_b, 1).await), [next]);
    nothing_more(&mut on_b).await;
    assert_eq!(got[..], events(&mut on_a, 24).await[..23]);
}

/// A subscription without `after` is unchanged: it starts at the head.
#[tokio::test]
async fn without_after_the_feed_starts_live() {
    let app = spawn_app().await;
    let (receiver_a, _) = two_receivers(&app).await;
    // Published before the subscription starts: a probe has received it.
    let mut probe = subscribe(&app, &receiver_a, json!({})).await;
    log(&app, &receiver_a, "sale", 1).await;
    events(&mut probe, 1).await;
    let mut feed = subscribe(&app, &receiver_a, json!({ "after": null })).await;
    nothing_more(&mut feed).await;
    let next = log(&app, &receiver_a, "sale", 2).await;
    assert_eq!(conversion_ids(&events(&mut feed, 1).await), [next]);
}
