//! What the dashboard asks of the API: `totalCount`, `createdAfter`, the funnel drill-down
//! (`contacts(filter:)`) and `serviceInfo`.
//!
//! Drill-down fixture: lead_gen_team sends contacts 1–4 to alpha and 4–6 to beta (4 goes to
//! both). Alpha logs a sale for 1, an appointment for 2 and a qualification for 3; beta logs a
//! sale for 5 and marks 6 lost. Statuses: 1 converted, 2 appointment, 3 qualified,
//! 4 pending, 5 converted, 6 lost.

use crate::helpers::{
    Creds, TestApp, assert_graphql_error, expect_json, spawn_app, spawn_app_with,
};
use serde_json::{Value, json};

const STAGES: [(&str, &str); 4] = [
    ("LEADS_RECEIVED", "leads_received"),
    ("QUALIFIED", "qualified"),
    ("APPOINTMENTS", "appointments"),
    ("CONVERSIONS", "conversions"),
];

const CONTACTS: &str = "query($filter: ContactFilter, $first: Int) {
    contacts(filter: $filter, first: $first) { totalCount edges { node { id } } pageInfo { hasNextPage } }
}";

const FUNNEL: &str = "query($filter: AnalyticsFilter) {
    conversionAnalytics(filter: $filter) { funnel { stage count } }
}";

struct Fixture {
    app: TestApp,
    alpha: Creds,
    beta: Creds,
}

async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let lead_gen = app.workspace("lead_gen_team").await;
    let alpha = app.workspace("alpha").await;
    let beta = app.workspace("beta").await;
    for id in 1..=6 {
        app.create_contact(&lead_gen, id, &format!("Contact {id}"))
            .await;
    }
    for id in 1..=4 {
        app.send_contact(&lead_gen, id, "alpha").await;
    }
    for id in 4..=6 {
        app.send_contact(&lead_gen, id, "beta").await;
    }
    for (creds, contact, kind) in [
        (&alpha, 1, "sale"),
        (&alpha, 2, "appointment"),
        (&alpha, 3, "qualified"),
        (&beta, 5, "sale"),
    ] {
        let body =
            json!({ "contact_id": contact, "converted_by": "agent", "conversion_type": kind });
        app.log_conversion(creds, body).await;
    }
    let lost = app
        .patch_json(
            "/contacts/6/conversion",
            &beta,
            &json!({ "conversion_status": "lost" }),
        )
        .await;
    expect_json(lost, 200).await;
    Fixture { app, alpha, beta }
}

/// `contacts(filter:)` → (totalCount, ids of the first page).
async fn drill_down(app: &TestApp, creds: &Creds, filter: Value) -> (i64, Vec<i64>) {
    let data = app
        .graphql_data(creds, CONTACTS, json!({ "filter": filter, "first": 200 }))
        .await;
    let ids = data["contacts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().parse().unwrap())
        .collect();
    (data["contacts"]["totalCount"].as_i64().unwrap(), ids)
}

/// The funnel's count per stage for an analytics filter.
async fn funnel(app: &TestApp, creds: &Creds, filter: Value) -> Vec<(String, i64)> {
    let data = app
        .graphql_data(creds, FUNNEL, json!({ "filter": filter }))
        .await;
    data["conversionAnalytics"]["funnel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_owned(),
                s["count"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn each_stage_of_one_workspace_lists_exactly_its_funnel_count() {
    // Arrange
    let f = fixture().await;
    let today = chrono::Utc::now().date_naive().to_string();
    let period = json!({ "fromDate": today, "toDate": today });

    for (creds, workspace, expected) in [
        (
            &f.app.admin,
            "alpha",
            [vec![1, 2, 3, 4], vec![1, 2, 3], vec![1, 2], vec![1]],
        ),
        (
            &f.app.admin,
            "beta",
            [vec![4, 5, 6], vec![5], vec![5], vec![5]],
        ),
        (
            &f.alpha,
            "alpha",
            [vec![1, 2, 3, 4], vec![1, 2, 3], vec![1, 2], vec![1]],
        ),
    ] {
        // Act
        let mut analytics = period.clone();
        analytics["workspaceId"] = json!(workspace);
        let counts = funnel(&f.app, creds, analytics).await;
        for (((stage, name), expected), (funnel_stage, count)) in
            STAGES.iter().zip(&expected).zip(&counts)
        {
            let filter = json!({
                "workspaceId": workspace, "reachedStage": stage,
                "receivedFrom": today, "receivedTo": today,
            });
            let (total, ids) = drill_down(&f.app, creds, filter).await;

            // Assert
            assert_eq!(funnel_stage, name);
            assert_eq!(&ids, expected, "{workspace} {stage}");
            assert_eq!(
                total, *count,
                "{workspace} {stage}: totalCount = funnel count"
            );
        }
    }
}

async fn across_workspaces_each_contact_counts_once() {
    // Arrange
    let f = fixture().await;

    // Act
    let counts = funnel(&f.app, &f.app.admin, json!({})).await;
    let (total, ids) = drill_down(
        &f.app,
        &f.app.admin,
        json!({ "reachedStage": "LEADS_RECEIVED" }),
    )
    .await;
    let (converted, _) = drill_down(
        &f.app,
        &f.app.admin,
        json!({ "reachedStage": "CONVERSIONS" }),
    )
    .await;

    // Assert: the funnel counts (workspace, contact) pairs; contact 4 went to both workspaces.
    assert_eq!(counts[0], ("leads_received".into(), 7));
    assert_eq!((total, ids), (6, vec![1, 2, 3, 4, 5, 6]));
    assert_eq!(counts[3], ("conversions".into(), 2));
    assert_eq!(converted, 2);
}

async fn a_workspace_never_sees_another_workspaces_contacts() {
    // Arrange
    let f = fixture().await;

    // Act
    let (_, own) = drill_down(&f.app, &f.beta, json!({ "reachedStage": "LEADS_RECEIVED" })).await;
    let (lost, lost_ids) = drill_down(&f.app, &f.alpha, json!({ "status": "LOST" })).await;
    let named_other = f
        .app
        .graphql(
            &f.alpha,
            CONTACTS,
            json!({ "filter": { "workspaceId": "beta" } }),
        )
        .await;

    // Assert
    assert_eq!(own, vec![4, 5, 6]);
    assert_eq!((lost, lost_ids), (0, vec![]), "contact 6 is beta's");
    assert_graphql_error(&named_other, "FORBIDDEN", None);
}

async fn the_received_period_and_status_narrow_the_list() {
    // Arrange
    let f = fixture().await;

    // Act
    let (past, _) = drill_down(
        &f.app,
        &f.app.admin,
        json!({ "receivedTo": "2000-01-31", "timeZone": "America/New_York" }),
    )
    .await;
    let (pending, ids) = drill_down(&f.app, &f.app.admin, json!({ "status": "PENDING" })).await;
    let bad = f
        .app
        .graphql(
            &f.app.admin,
            CONTACTS,
            json!({ "filter": { "receivedFrom": "yesterday" } }),
        )
        .await;

    // Assert
    assert_eq!(past, 0);
    assert_eq!((pending, ids), (1, vec![4]));
    assert_graphql_error(&bad, "BAD_USER_INPUT", Some("receivedFrom"));
}

async fn total_count_counts_every_page_of_every_connection() {
    // Arrange
    let f = fixture().await;
    let query = "{
        conversions(first: 1) { totalCount edges { node { id } } }
        sales: conversions(first: 1, filter: { conversionType: \"sale\" }) { totalCount }
        contacts(first: 2) { totalCount edges { node { id } } }
        auditLog(first: 1, objectType: \"conversion\") { totalCount edges { node { id } } }
    }";

    // Act
    let admin = f.app.graphql_data(&f.app.admin, query, json!({})).await;
    let alpha = f
        .app
        .graphql_data(
            &f.alpha,
            "{ conversions(first: 1) { totalCount } contacts { totalCount } }",
            json!({}),
        )
        .await;

    // Assert
    assert_eq!(admin["conversions"]["totalCount"], 4);
    assert_eq!(admin["conversions"]["edges"].as_array().unwrap().len(), 1);
    assert_eq!(admin["sales"]["totalCount"], 2);
    assert_eq!(admin["contacts"]["totalCount"], 6);
    assert_eq!(admin["auditLog"]["totalCount"], 4);
    assert_eq!(alpha["conversions"]["totalCount"], 3);
    assert_eq!(alpha["contacts"]["totalCount"], 4);
}

async fn created_after_returns_what_was_stored_since() {
    // Arrange
    let f = fixture().await;
    let first = f.app.all_conversions().await;
    let last_seen = first
        .iter()
        .map(|c| c["created_at"].as_str().unwrap().to_owned())
        .max()
        .unwrap();
    // Backfilled: converted long ago, but stored after `last_seen`.
    let late = f
        .app
        .log_conversion(
            &f.alpha,
            json!({ "contact_id": 4, "converted_by": "agent", "conversion_type": "sale",
                     "converted_at": "2020-01-01T00:00:00Z" }),
        )
        .await;

    // Act
    let gql = f
        .app
        .graphql_data(
            &f.alpha,
            "query($t: DateTime) { conversions(filter: { createdAfter: $t }) { totalCount edges { node { id } } } }",
            json!({ "t": last_seen }),
        )
        .await;
    let rest = f
        .app
        .get(
            &format!(
                "/conversions?created_after={}",
                last_seen.replace('+', "%2B")
            ),
            &f.alpha,
        )
        .await;
    let rest = expect_json(rest, 200).await;
    let bad = f.app.get("/conversions?created_after=soon", &f.alpha).await;

    // Assert
    assert_eq!(gql["conversions"]["totalCount"], 1);
    assert_eq!(gql["conversions"]["edges"][0]["node"]["id"], late["id"]);
    let rest_ids: Vec<&Value> = rest["conversions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(rest_ids, vec![&late["id"]]);
    crate::helpers::assert_problem(bad, 422, "BAD_USER_INPUT", Some("created_after")).await;
}

async fn service_info_tells_the_settings_and_the_caller() {
    // Arrange
    let app = spawn_app_with(&[
        "--analytics-time-zones",
        "Europe/Berlin,UTC",
        "--rate-limit-per-hour",
        "500",
    ])
    .await;
    let alpha = app.workspace("alpha").await;
    let query = "{ serviceInfo { currency defaultTimeZone rollupTimeZones weekStart maxPageSize
        rateLimitPerHour tokenTtlSeconds maxDepth maxComplexity maxAliases maxExportXlsxRows
        caller { workspaceId isAdmin permissions } } }";

    // Act
    let admin = app.graphql_data(&app.admin, query, json!({})).await;
    let own = app.graphql_data(&alpha, query, json!({})).await;
    let anonymous = app.graphql(&Creds::Anonymous, query, json!({})).await;

    // Assert
    let info = &admin["serviceInfo"];
    assert_eq!(info["currency"], "USD");
    assert_eq!(info["defaultTimeZone"], "Europe/Berlin");
    assert_eq!(info["rollupTimeZones"], json!(["Europe/Berlin", "UTC"]));
    assert_eq!(info["weekStart"], "MONDAY");
    assert_eq!(info["maxPageSize"], 200);
    assert_eq!(info["maxDepth"], 12);
    assert_eq!(info["maxComplexity"], 5000);
    assert_eq!(info["maxAliases"], 30);
    assert_eq!(info["maxExportXlsxRows"], 1_048_575);
    assert_eq!(info["rateLimitPerHour"], 0, "the admin key is not limited");
    assert_eq!(
        info["caller"],
        json!({ "workspaceId": null, "isAdmin": true, "permissions": ["ADMIN"] })
    );
    assert_eq!(own["serviceInfo"]["rateLimitPerHour"], 500);
    assert_eq!(own["serviceInfo"]["caller"]["workspaceId"], "alpha");
    assert_eq!(own["serviceInfo"]["caller"]["isAdmin"], false);
    assert!(own["serviceInfo"]["tokenTtlSeconds"].as_i64().unwrap() > 0);
    assert_graphql_error(&anonymous, "UNAUTHENTICATED", None);
}

crate::backend::on_both_backends!(
    each_stage_of_one_workspace_lists_exactly_its_funnel_count,
    across_workspaces_each_contact_counts_once,
    a_workspace_never_sees_another_workspaces_contacts,
    the_received_period_and_status_narrow_the_list,
    total_count_counts_every_page_of_every_connection,
    created_after_returns_what_was_stored_since,
    service_info_tells_the_settings_and_the_caller,
);
