//! Tenancy of shared contacts (#10 items 6 and 7). A contact `owner_a` created and sent to
//! `workspace_b` and `workspace_c`: C's 25,000 sale, its people and its secrets are C's. The
//! owner and the admin see the whole outcome; B sees what it made of the contact itself, at
//! every door (REST, GraphQL, relations, the live feed, analytics and the funnel). And a
//! contact B cannot see reads exactly like one that does not exist, whatever else a request
//! names.

use crate::helpers::{
    Creds, TestApp, assert_graphql_error, assert_problem, expect_exact, expect_json, spawn_app_with,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

/// Strings that stand for C's work on the shared contact: none may reach B.
const C_MARKERS: [&str; 7] = [
    "25000",
    "25100",
    "agent_c",
    "workspace_c",
    "canary-c-secret",
    "canary-owner-income",
    "CONVERTED",
];

struct Shared {
    app: TestApp,
    owner: Creds,
    b: Creds,
    c: Creds,
    /// Knows nothing of contact 7001.
    d: Creds,
    b_conversion: String,
}

/// Contact 7001 (lead 8001) created by `owner_a` with a secret and sent to B and C; B
/// qualified it (value 100, `agent_b`), then C sold it (25,000 by `agent_c`) and wrote a
/// secret of its own on it.
async fn shared() -> Shared {
    let key = format!("k1={}", BASE64.encode([7u8; 32]));
    let app = spawn_app_with(&["--encryption-keys", &key]).await;
    let owner = app.workspace("owner_a").await;
    let b = app.workspace("workspace_b").await;
    let c = app.workspace("workspace_c").await;
    let d = app.workspace("workspace_d").await;
    let created = app
        .post_json(
            "/contacts",
            &owner,
            &json!({ "id": 7001, "name": "Sam Shared",
                     "custom_metadata": { "plan": "gold", "secret_income": "canary-owner-income" } }),
        )
        .await;
    expect_json(created, 201).await;
    app.create_lead(&owner, 8001, 7001).await;
    app.send_contact(&owner, 7001, "workspace_b").await;
    app.send_contact(&owner, 7001, "workspace_c").await;
    let b_conversion = app
        .log_conversion(
            &b,
            json!({ "contact_id": 7001, "converted_by": "agent_b", "conversion_type": "qualified",
                    "conversion_value": 100 }),
        )
        .await;
    app.log_conversion(
        &c,
        json!({ "contact_id": 7001, "lead_id": 8001, "converted_by": "agent_c",
                "conversion_type": "sale", "conversion_value": 25000 }),
    )
    .await;
    let patched = app
        .patch_json(
            "/contacts/7001/conversion",
            &c,
            &json!({ "custom_metadata": { "secret_c_note": "canary-c-secret" } }),
        )
        .await;
    let patched = expect_json(patched, 200).await;
    assert_eq!(
        patched["custom_metadata"]["secret_c_note"], "canary-c-secret",
        "a workspace reads back the secret it wrote"
    );
    // The two conversions' events are published before anyone subscribes, so a subscriber
    // sees only what its test does.
    app.wait_for_feed_published(2).await;
    Shared {
        app,
        owner,
        b,
        c,
        d,
        b_conversion: b_conversion["id"].as_str().expect("an id").to_owned(),
    }
}

/// Panics if `seen` shows anything of C's work.
fn shows_nothing_of_c(seen: &Value, door: &str) {
    let text = seen.to_string();
    for marker in C_MARKERS {
        assert!(
            !text.contains(marker),
            "{door} shows B {marker:?} of C's work: {text}"
        );
    }
}

const CONTACT_FIELDS: &str = "id name conversionStatus lifetimeValue conversionCount convertedBy \
     convertedFromWorkspace convertedTimestamp sentFromWorkspace customMetadata";

/// B's view of 7001 in GraphQL, as every GraphQL door must show it.
fn bs_graphql_view(contact: &Value) {
    assert_eq!(contact["id"], "7001", "{contact}");
    assert_eq!(contact["conversionStatus"], "QUALIFIED", "{contact}");
    assert_eq!(contact["lifetimeValue"], "100.00", "{contact}");
    assert_eq!(contact["conversionCount"], 1, "{contact}");
    assert_eq!(contact["convertedBy"], "agent_b", "{contact}");
    assert_eq!(
        contact["convertedFromWorkspace"], "workspace_b",
        "{contact}"
    );
    assert_eq!(contact["sentFromWorkspace"], "owner_a", "{contact}");
    assert_eq!(
        contact["customMetadata"],
        json!({ "plan": "gold", "secret_income": "***", "secret_c_note": "***" }),
        "{contact}"
    );
}

async fn a_receiver_reads_only_its_own_figures_through_every_door() {
    // Arrange
    let s = shared().await;

    // Act
    let rest = expect_exact(s.app.get("/contacts/7001", &s.b).await, 200).await;
    let query = format!(
        r#"query($id: ID!) {{
          contact(id: "7001") {{ {CONTACT_FIELDS} }}
          contacts {{ nodes {{ {CONTACT_FIELDS} }} }}
          qualified: contacts(filter: {{ status: QUALIFIED }}) {{ nodes {{ id }} }}
          converted: contacts(filter: {{ status: CONVERTED }}) {{ nodes {{ id }} }}
          conversion(id: $id) {{ contact {{ {CONTACT_FIELDS} }} }}
          conversions {{ nodes {{ contact {{ {CONTACT_FIELDS} }} }} }}
          lead(id: "8001") {{ contact {{ {CONTACT_FIELDS} }} }}
        }}"#
    );
    let graphql = s
        .app
        .graphql_data(&s.b, &query, json!({ "id": s.b_conversion }))
        .await;

    // Assert
    assert_eq!(rest["lifetime_value"], "100.00", "{rest}");
    assert_eq!(rest["conversion_count"], "1");
    assert_eq!(rest["conversion_status"], "qualified");
    assert_eq!(rest["converted_by"], "agent_b");
    assert_eq!(rest["converted_from_workspace"], "workspace_b");
    assert_eq!(rest["sent_from_workspace"], "owner_a");
    assert_eq!(rest["custom_metadata"]["plan"], "gold");
    assert_eq!(rest["custom_metadata"]["secret_income"], "***");
    assert_eq!(rest["custom_metadata"]["secret_c_note"], "***");
    shows_nothing_of_c(&rest, "GET /contacts/7001");
    shows_nothing_of_c(&graphql, "GraphQL");
    for contact in [
        &graphql["contact"],
        &graphql["contacts"]["nodes"][0],
        &graphql["conversion"]["contact"],
        &graphql["conversions"]["nodes"][0]["contact"],
        &graphql["lead"]["contact"],
    ] {
        bs_graphql_view(contact);
    }
    assert_eq!(graphql["qualified"]["nodes"], json!([{ "id": "7001" }]));
    assert_eq!(graphql["converted"]["nodes"], json!([]));
}

async fn the_owner_and_the_admin_see_the_whole_outcome() {
    // Arrange
    let s = shared().await;

    // Act
    let by_owner = expect_exact(s.app.get("/contacts/7001", &s.owner).await, 200).await;
    let by_admin = expect_exact(s.app.get("/contacts/7001", &s.app.admin).await, 200).await;
    let query = format!(r#"{{ contact(id: "7001") {{ {CONTACT_FIELDS} }} }}"#);
    let graphql_by_owner = s.app.graphql_data(&s.owner, &query, json!({})).await;
    let by_c = expect_exact(s.app.get("/contacts/7001", &s.c).await, 200).await;

    // Assert
    for whole in [&by_owner, &by_admin] {
        assert_eq!(whole["lifetime_value"], "25100.00", "{whole}");
        assert_eq!(whole["conversion_count"], "2");
        assert_eq!(whole["conversion_status"], "converted");
        assert_eq!(whole["converted_by"], "agent_c");
        assert_eq!(whole["converted_from_workspace"], "workspace_c");
        assert_eq!(
            whole["custom_metadata"]["secret_income"],
            "canary-owner-income"
        );
        assert_eq!(whole["custom_metadata"]["secret_c_note"], "canary-c-secret");
    }
    let contact = &graphql_by_owner["contact"];
    assert_eq!(contact["lifetimeValue"], "25100.00");
    assert_eq!(contact["conversionStatus"], "CONVERTED");
    assert_eq!(contact["conversionCount"], 2);
    // C sees its own sale, and its own secret but not the owner's.
    assert_eq!(by_c["lifetime_value"], "25000.00");
    assert_eq!(by_c["conversion_status"], "converted");
    assert_eq!(by_c["custom_metadata"]["secret_c_note"], "canary-c-secret");
    assert_eq!(by_c["custom_metadata"]["secret_income"], "***");
}

async fn writes_answer_with_the_callers_own_view() {
    // Arrange
    let s = shared().await;

    // Act: B updates the contact and forwards it to D, through both doors.
    let patch = s
        .app
        .patch_json(
            "/contacts/7001/conversion",
            &s.b,
            &json!({ "converted_by": "agent_b2" }),
        )
        .await;
    let patch = expect_exact(patch, 200).await;
    let mutation = format!(
        r#"mutation {{ updateContactConversion(contactId: "7001", input: {{ convertedBy: "agent_b3" }}) {{ {CONTACT_FIELDS} }} }}"#
    );
    let graphql_patch = s.app.graphql_data(&s.b, &mutation, json!({})).await;
    let send = s
        .app
        .post_json(
            "/contacts/7001/send",
            &s.b,
            &json!({ "to_workspace_id": "workspace_d" }),
        )
        .await;
    let send = expect_exact(send, 200).await;
    let mutation = format!(
        r#"mutation {{ sendContact(contactId: "7001", toWorkspaceId: "workspace_d") {{ {CONTACT_FIELDS} }} }}"#
    );
    let graphql_send = s.app.graphql_data(&s.b, &mutation, json!({})).await;
    let activity = expect_json(
        s.app.get("/workspaces/workspace_b/activity", &s.b).await,
        200,
    )
    .await;

    // Assert
    for (door, seen) in [
        ("PATCH", &patch),
        ("updateContactConversion", &graphql_patch),
        ("POST send", &send),
        ("sendContact", &graphql_send),
        ("activity", &activity),
    ] {
        shows_nothing_of_c(seen, door);
    }
    assert_eq!(patch["conversion_status"], "qualified");
    assert_eq!(patch["lifetime_value"], "100.00");
    assert_eq!(patch["converted_by"], "agent_b2");
    assert_eq!(
        graphql_patch["updateContactConversion"]["convertedBy"],
        "agent_b3"
    );
    assert_eq!(send["lifetime_value"], "100.00");
    let sent = &graphql_send["sendContact"];
    assert_eq!(sent["lifetimeValue"], "100.00", "{sent}");
    assert_eq!(sent["conversionStatus"], "QUALIFIED");
    assert_eq!(sent["convertedBy"], "agent_b3");
    let updated: Vec<&Value> = activity["recent_activity"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "updated")
        .collect();
    assert_eq!(updated.len(), 2, "{activity}");
    for entry in updated {
        assert_eq!(entry["metadata"]["conversion_status"], "qualified");
    }
    // D, which got it from B, sees B as its sender and nothing of anyone's figures.
    let by_d = expect_exact(s.app.get("/contacts/7001", &s.d).await, 200).await;
    assert_eq!(by_d["sent_from_workspace"], "workspace_b");
    assert_eq!(by_d["lifetime_value"], "0.00");
    assert_eq!(by_d["conversion_status"], "pending");
    assert_eq!(by_d["converted_by"], Value::Null);
}

async fn a_receivers_feed_event_shows_its_own_figures() {
    // Arrange
    let s = shared().await;
    let mut b_feed = s.app.subscribe_feed(&s.b, json!({})).await;
    let mut admin_feed = s.app.subscribe_feed(&s.app.admin, json!({})).await;

    // Act: C sells again, then B sets an appointment.
    s.app
        .log_conversion(
            &s.c,
            json!({ "contact_id": 7001, "converted_by": "agent_c", "conversion_type": "sale",
                    "conversion_value": 25000 }),
        )
        .await;
    let own = s
        .app
        .log_conversion(
            &s.b,
            json!({ "contact_id": 7001, "converted_by": "agent_b", "conversion_type": "appointment",
                    "conversion_value": 50 }),
        )
        .await;

    // Assert: B's only event is its own, with its own figures.
    let event = b_feed.next_event().await.expect("B's own conversion");
    let event = &event["data"]["conversionFeed"];
    assert_eq!(event["conversion"]["id"], own["id"]);
    assert_eq!(
        event["contact"],
        json!({ "id": "7001", "name": "Sam Shared", "conversionStatus": "APPOINTMENT",
                "lifetimeValue": "150.00", "conversionCount": 2 })
    );
    shows_nothing_of_c(event, "B's feed");
    // The admin's events show the whole contact.
    let _c_event = admin_feed.next_event().await.expect("C's sale");
    let b_event = admin_feed.next_event().await.expect("B's appointment");
    assert_eq!(
        b_event["data"]["conversionFeed"]["contact"]["lifetimeValue"],
        "50150.00"
    );
}

const FUNNEL: &str = r#"query($zone: String) {
  conversionAnalytics(filter: { timeZone: $zone }) { funnel { stage count } }
  conversionStats(groupBy: [CONTACT_STATUS], filter: { timeZone: $zone }) { groups { contactStatus conversions } }
  reached: contacts(filter: { reachedStage: CONVERSIONS }) { nodes { id } totalCount }
}"#;

/// `(stage, count)` of a GraphQL funnel.
fn stages(funnel: &Value) -> Vec<(String, u64)> {
    funnel
        .as_array()
        .expect("a funnel")
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_owned(),
                s["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn counts(stages: &[(String, u64)]) -> Vec<u64> {
    stages.iter().map(|(_, n)| *n).collect()
}

async fn a_receivers_funnel_counts_only_its_own_progress() {
    // Arrange
    let s = shared().await;

    // Act: from the rollups (UTC is rolled up) and from the rows (a zone that is not).
    let rest = expect_json(s.app.get("/conversions/analytics", &s.b).await, 200).await;
    let mut b = Vec::new();
    let mut admin = Vec::new();
    let mut c = Vec::new();
    for zone in ["UTC", "Asia/Kolkata"] {
        let vars = json!({ "zone": zone });
        b.push(s.app.graphql_data(&s.b, FUNNEL, vars.clone()).await);
        c.push(s.app.graphql_data(&s.c, FUNNEL, vars.clone()).await);
        admin.push(s.app.graphql_data(&s.app.admin, FUNNEL, vars).await);
    }

    // Assert: B received one contact and qualified it; C's sale is not B's progress.
    let rest_counts: Vec<u64> = rest["funnel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["count"].as_u64().unwrap())
        .collect();
    assert_eq!(rest_counts, vec![1, 1, 0, 0], "{rest}");
    for data in &b {
        let funnel = &data["conversionAnalytics"]["funnel"];
        assert_eq!(counts(&stages(funnel)), vec![1, 1, 0, 0], "{data}");
        assert_eq!(
            data["conversionStats"]["groups"],
            json!([{ "contactStatus": "qualified", "conversions": 1 }]),
            "B's conversion is grouped by B's own status"
        );
        assert_eq!(data["reached"]["nodes"], json!([]), "{data}");
        assert_eq!(data["reached"]["totalCount"], 0);
        shows_nothing_of_c(data, "B's analytics");
    }
    for data in &c {
        let funnel = &data["conversionAnalytics"]["funnel"];
        assert_eq!(counts(&stages(funnel)), vec![1, 1, 1, 1], "{data}");
        assert_eq!(data["reached"]["nodes"], json!([{ "id": "7001" }]));
    }
    // The admin counts each receipt by its own receiver's progress: two receipts, both
    // qualified, one of them through to a sale.
    for data in &admin {
        let funnel = &data["conversionAnalytics"]["funnel"];
        assert_eq!(counts(&stages(funnel)), vec![2, 2, 1, 1], "{data}");
    }
}

/// Naming a sender in a `PATCH` of a contact D cannot see, and sending such a contact to a
/// workspace that does not exist: the same `NOT_FOUND` as for a contact that does not exist.
async fn an_invisible_contact_reads_as_absent_whatever_the_request_names() {
    // Arrange
    let s = shared().await;
    let patch = json!({ "sent_from_workspace": "owner_a", "conversion_status": "lost" });
    let send = json!({ "to_workspace_id": "no_such_workspace" });
    let before = s.app.contact_exact(7001).await;

    // Act
    let mut rest = Vec::new();
    let mut graphql = Vec::new();
    for id in [7001, 9_999_999] {
        let patched = s
            .app
            .patch_json(&format!("/contacts/{id}/conversion"), &s.d, &patch)
            .await;
        rest.push(assert_problem(patched, 404, "NOT_FOUND", None).await);
        let sent = s
            .app
            .post_json(&format!("/contacts/{id}/send"), &s.d, &send)
            .await;
        rest.push(assert_problem(sent, 404, "NOT_FOUND", None).await);
        let query = format!(
            r#"mutation {{
              updateContactConversion(contactId: "{id}", input: {{ sentFromWorkspace: "owner_a", conversionStatus: LOST }}) {{ id }}
            }}"#
        );
        graphql.push(s.app.graphql(&s.d, &query, json!({})).await);
        let query = format!(
            r#"mutation {{ sendContact(contactId: "{id}", toWorkspaceId: "no_such_workspace") {{ id }} }}"#
        );
        graphql.push(s.app.graphql(&s.d, &query, json!({})).await);
    }

    // Assert: the same kind of answer for the invisible contact and the absent one.
    for (invisible, absent) in [(&rest[0], &rest[2]), (&rest[1], &rest[3])] {
        assert_eq!(invisible["title"], absent["title"]);
        assert_eq!(invisible["type"], absent["type"]);
    }
    for answer in &graphql {
        assert_eq!(answer["data"], Value::Null, "{answer}");
        let error = assert_graphql_error(answer, "NOT_FOUND", None);
        assert_eq!(error["extensions"].get("field"), None, "{answer}");
    }
    assert_eq!(s.app.contact_exact(7001).await, before, "nothing written");
}

/// A receiver may name as the sender only a workspace that sent the contact to it: whether
/// the contact went anywhere else is not B's to learn.
async fn a_receiver_cannot_learn_where_else_the_contact_was_sent() {
    // Arrange: C forwards the contact to D; D never sent it anywhere.
    let s = shared().await;
    s.app.send_contact(&s.c, 7001, "workspace_d").await;

    // Act
    let mut answers = Vec::new();
    for named in ["workspace_c", "workspace_d"] {
        let patched = s
            .app
            .patch_json(
                "/contacts/7001/conversion",
                &s.b,
                &json!({ "sent_from_workspace": named }),
            )
            .await;
        answers.push(
            assert_problem(patched, 422, "BAD_USER_INPUT", Some("sent_from_workspace")).await,
        );
        let query = format!(
            r#"mutation {{ updateContactConversion(contactId: "7001", input: {{ sentFromWorkspace: "{named}" }}) {{ id }} }}"#
        );
        let graphql = s.app.graphql(&s.b, &query, json!({})).await;
        let error = assert_graphql_error(&graphql, "BAD_USER_INPUT", Some("sentFromWorkspace"));
        answers.push(json!({ "detail": error["message"] }));
    }
    let real = s
        .app
        .patch_json(
            "/contacts/7001/conversion",
            &s.b,
            &json!({ "sent_from_workspace": "owner_a" }),
        )
        .await;
    let owner_names_c = s
        .app
        .patch_json(
            "/contacts/7001/conversion",
            &s.owner,
            &json!({ "sent_from_workspace": "workspace_c" }),
        )
        .await;

    // Assert: C (which sent it, but not to B) reads exactly like D (which never sent it).
    assert_eq!(answers[0]["detail"], answers[2]["detail"]);
    assert_eq!(answers[1]["detail"], answers[3]["detail"]);
    assert_eq!(real.status().as_u16(), 200, "the real sender may be named");
    assert_eq!(
        owner_names_c.status().as_u16(),
        200,
        "the owner may name any workspace that sent its contact on"
    );
}

/// The contact as the owner, B and C see it, and B's, C's and the admin's funnels.
async fn views(s: &Shared, app: &TestApp) -> Vec<Value> {
    let mut out = Vec::new();
    for creds in [&s.owner, &s.b, &s.c] {
        out.push(expect_exact(app.get("/contacts/7001", creds).await, 200).await);
    }
    for creds in [&s.b, &s.c, &s.app.admin] {
        let analytics = expect_json(app.get("/conversions/analytics", creds).await, 200).await;
        out.push(analytics["funnel"].clone());
    }
    out
}

/// The migration that introduced per-workspace states rebuilds them from the rows exactly as
/// the writes keep them: B's and C's views, the owner's and the funnel read the same after
/// dropping every state and migrating again (rollups rebuilt at the next start).
async fn the_migration_rebuilds_each_workspaces_view_from_the_rows() {
    use migration::{Migrator, MigratorTrait};
    // Arrange: the live views, kept by the writes.
    let s = shared().await;
    let before = views(&s, &s.app).await;

    // Act: undo the migration (the states are gone) and run it again, then start afresh.
    let db = sea_orm::Database::connect(&s.app.database_url)
        .await
        .expect("connect");
    // Down to just before it, undoing the migrations that came after it first.
    let migrations = Migrator::migrations();
    let states = migrations
        .iter()
        .position(|m| m.name() == "m20261125_000018_create_contact_states")
        .expect("the contact-states migration");
    let undo = u32::try_from(migrations.len() - states).expect("a few migrations");
    Migrator::down(&db, Some(undo)).await.expect("migrate down");
    assert!(
        !migration::SchemaManager::new(&db)
            .has_table("contact_states")
            .await
            .expect("read the schema"),
        "the states are gone"
    );
    Migrator::up(&db, None).await.expect("migrate up");
    db.close().await.expect("close");
    let key = format!("k1={}", BASE64.encode([7u8; 32]));
    let again =
        crate::helpers::spawn_app_on(&s.app.database_url, &["--encryption-keys", &key]).await;

    // Assert
    assert_eq!(views(&s, &again).await, before);
}

/// A receiver that reads the contact, changes one key and sends its view back (merged, or
/// replacing the whole object) does not overwrite the secrets it was shown as `***`.
async fn a_masked_secret_sent_back_keeps_the_stored_value() {
    // Arrange
    let s = shared().await;
    let seen = expect_json(s.app.get("/contacts/7001", &s.b).await, 200).await;
    let mut metadata = seen["custom_metadata"].clone();
    assert_eq!(metadata["secret_income"], "***", "{seen}");
    metadata["plan"] = json!("platinum");

    // Act
    for replace in [false, true] {
        let body = json!({ "custom_metadata": metadata, "replace_custom_metadata": replace });
        let patched = s
            .app
            .patch_json("/contacts/7001/conversion", &s.b, &body)
            .await;
        expect_json(patched, 200).await;
    }

    // Assert
    let owners = expect_json(s.app.get("/contacts/7001", &s.owner).await, 200).await;
    assert_eq!(
        owners["custom_metadata"],
        json!({ "plan": "platinum", "secret_income": "canary-owner-income",
                "secret_c_note": "canary-c-secret" }),
        "{owners}"
    );
    let cs = expect_json(s.app.get("/contacts/7001", &s.c).await, 200).await;
    assert_eq!(cs["custom_metadata"]["secret_c_note"], "canary-c-secret");
}

crate::backend::on_both_backends!(
    a_masked_secret_sent_back_keeps_the_stored_value,
    the_migration_rebuilds_each_workspaces_view_from_the_rows,
    a_receiver_reads_only_its_own_figures_through_every_door,
    the_owner_and_the_admin_see_the_whole_outcome,
    writes_answer_with_the_callers_own_view,
    a_receivers_feed_event_shows_its_own_figures,
    a_receivers_funnel_counts_only_its_own_progress,
    an_invisible_contact_reads_as_absent_whatever_the_request_names,
    a_receiver_cannot_learn_where_else_the_contact_was_sent,
);
