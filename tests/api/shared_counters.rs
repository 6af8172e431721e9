//! Counters and sums every tenant shares: the ids convio assigns to contacts and leads, the
//! all-workspace money totals of the analytics rollups, and a shared contact's lifetime value.
//! No tenant may fill one for the others: a client-chosen id cannot reach the assigned range,
//! and totals stay exact however many of the largest sales one workspace logs.

use crate::backend::{fresh_postgres_database, on_both_backends, postgres_or_skip};
use crate::helpers::{
    Creds, TestApp, assert_graphql_error, assert_problem, expect_exact, expect_json, spawn_app,
    spawn_app_on, spawn_app_with,
};
use reqwest::Method;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

/// The first and last ids convio assigns; clients choose ids below the first.
const FIRST_ASSIGNED: i64 = 1_000_000_000_000_000;
const LAST_ASSIGNED: i64 = 9_007_199_254_740_991;
const CLIENT_MAX: i64 = FIRST_ASSIGNED - 1;

async fn rest_contact(app: &TestApp, creds: &Creds, body: Value) -> reqwest::Response {
    app.post_json("/contacts", creds, &body).await
}

async fn graphql_contact(app: &TestApp, creds: &Creds, input: Value) -> Value {
    app.graphql(
        creds,
        "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
        json!({ "input": input }),
    )
    .await
}

async fn graphql_lead(app: &TestApp, creds: &Creds, input: Value) -> Value {
    app.graphql(
        creds,
        "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
        json!({ "input": input }),
    )
    .await
}

/// The id of a `createContact`/`createLead` answer, as a number.
fn created_id(body: &Value, field: &str) -> i64 {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"][field]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no id in {body}"))
}

/// Whether the admin can find a contact or lead with this id.
async fn exists(app: &TestApp, kind: &str, id: i64) -> bool {
    let body = app
        .graphql_data(
            &app.admin,
            &format!("query($id: ID!) {{ {kind}(id: $id) {{ id }} }}"),
            json!({ "id": id.to_string() }),
        )
        .await;
    !body[kind].is_null()
}

async fn a_client_id_in_the_assigned_range_is_refused_and_assigned_ids_keep_coming() {
    // Arrange
    let app = spawn_app().await;
    let mallory = app.workspace("mallory").await;
    let acme = app.workspace("acme").await;
    app.create_contact(&mallory, 42, "Mallory's own").await;

    // Act and assert: ids at or above the first assigned one are refused through both doors,
    // for contacts and for leads, and nothing is stored.
    for id in [i64::MAX, FIRST_ASSIGNED, LAST_ASSIGNED] {
        let response = rest_contact(&app, &mallory, json!({ "id": id, "name": "M" })).await;
        assert_problem(response, 422, "BAD_USER_INPUT", Some("id")).await;
        let body = graphql_contact(&app, &mallory, json!({ "id": id.to_string() })).await;
        assert_graphql_error(&body, "BAD_USER_INPUT", Some("id"));
        let response = app
            .post_json("/leads", &mallory, &json!({ "id": id, "contact_id": 42 }))
            .await;
        assert_problem(response, 422, "BAD_USER_INPUT", Some("id")).await;
        let body = graphql_lead(
            &app,
            &mallory,
            json!({ "id": id.to_string(), "contactId": "42" }),
        )
        .await;
        assert_graphql_error(&body, "BAD_USER_INPUT", Some("id"));
        assert!(!exists(&app, "contact", id).await, "contact {id} stored");
        assert!(!exists(&app, "lead", id).await, "lead {id} stored");
    }

    // The top of the client range is still the client's.
    let response = rest_contact(&app, &mallory, json!({ "id": CLIENT_MAX })).await;
    assert_eq!(
        expect_exact(response, 201).await["id"],
        CLIENT_MAX.to_string()
    );
    let lead = app.create_lead(&mallory, CLIENT_MAX, 42).await;
    assert_eq!(lead["id"], CLIENT_MAX);

    // Another tenant creates without ids, through both doors: ids from the assigned range,
    // in order, exact as JSON numbers.
    let response = rest_contact(&app, &acme, json!({ "name": "Jane Roe" })).await;
    let first = expect_exact(response, 201).await;
    assert_eq!(first["id"], FIRST_ASSIGNED.to_string());
    let second = created_id(
        &graphql_contact(&app, &acme, json!({})).await,
        "createContact",
    );
    assert_eq!(second, FIRST_ASSIGNED + 1);
    let response = app
        .post_json("/leads", &acme, &json!({ "contact_id": second }))
        .await;
    assert_eq!(
        expect_exact(response, 201).await["id"],
        FIRST_ASSIGNED.to_string()
    );
    let lead = graphql_lead(&app, &acme, json!({ "contactId": second.to_string() })).await;
    assert_eq!(created_id(&lead, "createLead"), FIRST_ASSIGNED + 1);
}

async fn rows_stored_before_the_split_are_stepped_over() {
    // Arrange: rows the old rules let clients put in what is now the assigned range, the
    // largest possible id among them.
    let app = spawn_app().await;
    let acme = app.workspace("acme").await;
    let db = Database::connect(&app.database_url).await.expect("connect");
    for id in [0, 1, 2, 10]
        .map(|n| FIRST_ASSIGNED + n)
        .into_iter()
        .chain([i64::MAX])
    {
        db.execute_unprepared(&format!(
            "INSERT INTO contacts (id, created_at, updated_at, currency) \
             VALUES ({id}, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00', 'USD')"
        ))
        .await
        .expect("an old row");
    }
    db.close().await.expect("close");

    // Act: eight contacts without ids, alternating doors.
    let mut ids = Vec::new();
    for i in 0..8 {
        let id = if i % 2 == 0 {
            let response = rest_contact(&app, &acme, json!({ "name": "Jane Roe" })).await;
            expect_json(response, 201).await["id"]
                .as_i64()
                .expect("an id")
        } else {
            created_id(
                &graphql_contact(&app, &acme, json!({})).await,
                "createContact",
            )
        };
        ids.push(id);
    }

    // Assert: the runs of old rows are skipped, nothing collides.
    let expected: Vec<i64> = [3, 4, 5, 6, 7, 8, 9, 11]
        .map(|n| FIRST_ASSIGNED + n)
        .to_vec();
    assert_eq!(ids, expected);
}

on_both_backends!(
    a_client_id_in_the_assigned_range_is_refused_and_assigned_ids_keep_coming,
    rows_stored_before_the_split_are_stepped_over,
    one_workspace_cannot_overflow_the_totals_others_share,
);

/// Two nodes on one PostgreSQL database hand out ids at once, through both doors, while one
/// tenant tries to take the top id on each: every id is distinct and in the assigned range.
#[tokio::test]
async fn nodes_on_one_database_assign_distinct_ids_at_once() {
    if postgres_or_skip().await.is_none() {
        return;
    }
    let url = fresh_postgres_database().await;
    let a = spawn_app_on(&url, &[]).await;
    let b = spawn_app_on(&url, &[]).await;
    let acme = a.workspace("acme").await;
    let mallory = a.workspace("mallory").await;
    for node in [&a, &b] {
        let response = rest_contact(node, &mallory, json!({ "id": i64::MAX })).await;
        assert_problem(response, 422, "BAD_USER_INPUT", Some("id")).await;
    }

    let rest = (0..15).map(|_| async {
        let response = rest_contact(&a, &acme, json!({ "name": "Jane Roe" })).await;
        expect_json(response, 201).await["id"]
            .as_i64()
            .expect("an id")
    });
    let graphql = (0..15).map(|_| async {
        created_id(
            &graphql_contact(&b, &acme, json!({})).await,
            "createContact",
        )
    });
    let (mut ids, more) = tokio::join!(
        futures_util::future::join_all(rest),
        futures_util::future::join_all(graphql)
    );
    ids.extend(more);

    ids.sort_unstable();
    let expected: Vec<i64> = (0..30).map(|n| FIRST_ASSIGNED + n).collect();
    assert_eq!(
        ids, expected,
        "distinct, consecutive, in the assigned range"
    );
    assert!(!exists(&b, "contact", i64::MAX).await);
}

/// The largest amount: 10^12 KWD, 10^15 minor units (three decimals).
const LARGEST: &str = "1000000000000";
/// Whale's sales: 9,223 of the largest and this one bring its total to 2^63 - 1 minor units
/// exactly, the most a 64-bit total holds; anyone's next sale in the month passes it.
const WHALE_LARGEST_SALES: usize = 9_223;
const WHALE_LAST_SALE: &str = "372036854775.807";

const AVERAGE: &str = "999715156826.336";

fn sale(contact: i64, by: &str, value: &str, at: &str) -> Value {
    json!({
        "contact_id": contact,
        "converted_by": by,
        "conversion_type": "sale",
        "conversion_value": value,
        "converted_at": at,
    })
}

async fn one_workspace_cannot_overflow_the_totals_others_share() {
    // Arrange: contact 1 is shared by whale and modest; contact 2 is modest's alone.
    let app = spawn_app_with(&["--currency", "KWD", "--rate-limit-per-hour", "0"]).await;
    let lead_gen = app.workspace("lead_gen_team").await;
    let whale = app.workspace("whale").await;
    let modest = app.workspace("modest").await;
    app.contact_received_by(&lead_gen, 1, "Shared", "whale")
        .await;
    app.send_contact(&lead_gen, 1, "modest").await;
    app.contact_received_by(&lead_gen, 2, "Modest's", "modest")
        .await;

    // Act: whale fills January 2024 and the shared contact to 2^63 - 1 minor units.
    let mut items: Vec<Value> = (0..WHALE_LARGEST_SALES)
        .map(|_| sale(1, "whale_bot", LARGEST, "2024-01-15T12:00:00Z"))
        .collect();
    items.push(sale(
        1,
        "whale_bot",
        WHALE_LAST_SALE,
        "2024-01-15T12:00:00Z",
    ));
    for batch in items.chunks(1000) {
        let response = app
            .post_json(
                "/conversions/batch",
                &whale,
                &json!({ "conversions": batch }),
            )
            .await;
        let body = expect_json(response, 200).await;
        assert_eq!(
            body["stored"],
            batch.len(),
            "whale's batch: {}",
            body["results"][0]
        );
    }

    // Then modest logs in the same month, through both doors, on its own contact (past the
    // month's all-workspace total) and on the shared one (past its lifetime value).
    let stored = app
        .log_conversion(&modest, sale(2, "agent_1", "25000", "2024-01-20T09:00:00Z"))
        .await;
    assert_eq!(stored["workspace_id"], "modest");
    let january = "from_date=2024-01-01&to_date=2024-01-31";
    let admin = expect_exact(
        app.get(&format!("/conversions/analytics?{january}"), &app.admin)
            .await,
        200,
    )
    .await;
    assert_eq!(
        admin["summary"]["total_value"], "9223372036879775.807",
        "the month's all-workspace total passed 2^63 - 1 minor units, exactly"
    );
    let logged = app
        .graphql(
            &modest,
            "mutation($input: LogConversionInput!) { logConversion(input: $input) { id } }",
            json!({ "input": { "contactId": "1", "convertedBy": "agent_1",
                               "conversionType": "sale", "conversionValue": "0.500",
                               "convertedAt": "2024-01-21T09:00:00Z" } }),
        )
        .await;
    assert!(logged.get("errors").is_none(), "{logged}");

    // Assert: every total is exact, for the admin and for each tenant.
    let whale_total = "9223372036854775.807";
    let modest_total = "25000.500";
    let all_total = "9223372036879776.307";
    let admin = expect_exact(
        app.get(&format!("/conversions/analytics?{january}"), &app.admin)
            .await,
        200,
    )
    .await;
    assert_eq!(admin["summary"]["total_value"], all_total);
    assert_eq!(admin["summary"]["total_conversions"], "9226");
    // 9,223,372,036,879,776,307 / 9,226 minor units, rounded half up.
    assert_eq!(admin["summary"]["average_value"], AVERAGE);
    let by_workspace: Vec<(Value, Value)> = admin["by_workspace"]
        .as_array()
        .expect("by_workspace")
        .iter()
        .map(|w| (w["workspace_id"].clone(), w["total_value"].clone()))
        .collect();
    assert!(
        by_workspace.contains(&(json!("whale"), json!(whale_total))),
        "{by_workspace:?}"
    );
    assert!(
        by_workspace.contains(&(json!("modest"), json!(modest_total))),
        "{by_workspace:?}"
    );
    assert_eq!(admin["trends"]["monthly"][0]["total_value"], all_total);

    let own = expect_exact(
        app.get(&format!("/conversions/analytics?{january}"), &modest)
            .await,
        200,
    )
    .await;
    assert_eq!(own["summary"]["total_value"], modest_total);

    let data = app
        .graphql_data(
            &app.admin,
            r#"query {
                 analytics: conversionAnalytics(filter: { fromDate: "2024-01-01", toDate: "2024-01-31" }) {
                   summary { totalValue averageValue }
                 }
                 rollups: conversionStats(groupBy: [MONTH]) { fromRollups groups { totalValue } }
                 rows: conversionStats(groupBy: [CONTACT_STATUS]) { fromRollups groups { totalValue } }
                 otherZone: conversionStats(filter: { timeZone: "Asia/Tokyo" }, groupBy: [MONTH]) {
                   fromRollups groups { totalValue }
                 }
               }"#,
            json!({}),
        )
        .await;
    assert_eq!(data["analytics"]["summary"]["totalValue"], all_total);
    assert_eq!(data["analytics"]["summary"]["averageValue"], AVERAGE);
    for (name, from_rollups) in [("rollups", true), ("rows", false), ("otherZone", false)] {
        assert_eq!(data[name]["fromRollups"], from_rollups, "{name}");
        assert_eq!(data[name]["groups"][0]["totalValue"], all_total, "{name}");
    }

    // The shared contact's lifetime value holds every workspace's sales, through both doors.
    assert_eq!(
        app.contact_exact(1).await["lifetime_value"],
        all_total_on_contact_1()
    );
    let contact = app
        .graphql_data(
            &app.admin,
            r#"query { contact(id: "1") { lifetimeValue conversionCount } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        contact["contact"]["lifetimeValue"],
        all_total_on_contact_1()
    );

    // A zone configured later is built from the rows with the same exact totals.
    let later = spawn_app_on(
        &app.database_url,
        &[
            "--currency",
            "KWD",
            "--analytics-time-zones",
            "UTC,Asia/Tokyo",
        ],
    )
    .await;
    let data = later
        .graphql_data(
            &later.admin,
            r#"query { conversionStats(filter: { timeZone: "Asia/Tokyo" }, groupBy: []) {
                 fromRollups groups { totalValue } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(data["conversionStats"]["fromRollups"], true);
    assert_eq!(
        data["conversionStats"]["groups"][0]["totalValue"],
        all_total
    );

    // And everyone keeps writing.
    let response = app
        .rest(Method::POST, "/conversions/log", &whale)
        .json(&sale(1, "whale_bot", LARGEST, "2024-01-16T12:00:00Z"))
        .send()
        .await
        .expect("sent");
    expect_json(response, 201).await;
}

/// Contact 1 carries whale's sales and modest's 0.500 (the 25000 went to contact 2).
fn all_total_on_contact_1() -> &'static str {
    "9223372036854776.307"
}
