//! The analytics cache: a repeated query is answered from memory (one statement: reading the
//! version), and no answer is ever older than the latest write, whichever node took it.

use crate::helpers::{Creds, TestApp, spawn_app, spawn_app_on, spawn_app_with};
use serde_json::{Value, json};

const QUERY: &str = r#"query($f: AnalyticsFilter) { conversionAnalytics(filter: $f) {
    summary { totalConversions totalValue } byWorkspace { workspaceId conversions } } }"#;

/// The admin's analytics for `workspace` (all if `None`), and the statements it cost.
async fn analytics(app: &TestApp, workspace: Option<&str>) -> (Value, u64) {
    let before = settled_statements(app).await;
    let data = app
        .graphql_data(
            &app.admin,
            QUERY,
            json!({ "f": { "workspaceId": workspace } }),
        )
        .await;
    let cost = app.statements_total().await - before;
    (data["conversionAnalytics"]["summary"].clone(), cost)
}

/// The statement count once background work (the feed pump after a write) is done.
async fn settled_statements(app: &TestApp) -> u64 {
    let mut last = app.statements_total().await;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let now = app.statements_total().await;
        if now == last {
            return now;
        }
        last = now;
    }
}

async fn sale(app: &TestApp, creds: &Creds, contact: i64, value: &str) {
    app.log_conversion(
        creds,
        json!({ "contact_id": contact, "converted_by": "rep", "conversion_type": "sale",
                "conversion_value": value }),
    )
    .await;
}

async fn setup(app: &TestApp) -> (Creds, Creds) {
    let lead_gen = app.workspace("lead_gen_team").await;
    let alpha = app.workspace("alpha").await;
    let beta = app.workspace("beta").await;
    app.contact_received_by(&lead_gen, 1, "One", "alpha").await;
    app.contact_received_by(&lead_gen, 2, "Two", "beta").await;
    (alpha, beta)
}

async fn a_repeated_query_is_a_hit_until_a_write_changes_it() {
    let app = spawn_app().await;
    let (alpha, beta) = setup(&app).await;
    sale(&app, &alpha, 1, "100.00").await;

    let (first, miss) = analytics(&app, Some("alpha")).await;
    let (again, hit) = analytics(&app, Some("alpha")).await;
    assert_eq!(first, again);
    assert_eq!(hit, 1, "a hit reads only the version");
    assert!(miss > hit, "a miss computes: {miss} statements");

    // Another workspace's write leaves alpha's answer valid...
    sale(&app, &beta, 2, "7.00").await;
    let (same, cost) = analytics(&app, Some("alpha")).await;
    assert_eq!((same.clone(), cost), (first.clone(), 1));
    // ...but not the all-workspace answer, nor alpha's after alpha writes.
    let (all, _) = analytics(&app, None).await;
    assert_eq!(all["totalConversions"], 2);
    sale(&app, &alpha, 1, "0.50").await;
    let (fresh, cost) = analytics(&app, Some("alpha")).await;
    assert!(cost > 1);
    assert_eq!(fresh["totalConversions"], 2);
    assert_eq!(fresh["totalValue"], "100.50");
}

/// A status change moves the funnel of every workspace that received the contact.
async fn a_status_change_invalidates_the_receivers_funnel() {
    let app = spawn_app().await;
    let (alpha, _beta) = setup(&app).await;
    let funnel = r#"query { conversionAnalytics(filter: { workspaceId: "alpha" }) {
        funnel { stage count } } }"#;
    let qualified = |data: &Value| data["conversionAnalytics"]["funnel"][1]["count"].clone();
    let before = app.graphql_data(&app.admin, funnel, json!({})).await;
    assert_eq!(qualified(&before), 0);
    let response = app
        .patch_json(
            "/contacts/1/conversion",
            &alpha,
            &json!({ "conversion_status": "qualified" }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let after = app.graphql_data(&app.admin, funnel, json!({})).await;
    assert_eq!(qualified(&after), 1);
}

/// Grouping by contact status reads the contact's current status: a status change on a
/// contact nobody received (so no funnel moves) still makes every cached grouping stale, for
/// the workspace that converted it and for the admin.
async fn a_status_change_invalidates_grouping_by_status() {
    let app = spawn_app().await;
    let alpha = app.workspace("alpha").await;
    app.create_contact(&alpha, 7, "Own contact").await;
    sale(&app, &alpha, 7, "10.00").await;
    let query = r#"query { conversionStats(groupBy: [CONTACT_STATUS]) {
        groups { contactStatus conversions } } }"#;
    let groups = |creds: Creds| {
        let app = &app;
        async move {
            let data = app.graphql_data(&creds, query, json!({})).await;
            data["conversionStats"]["groups"].clone()
        }
    };
    let converted = json!([{ "contactStatus": "converted", "conversions": 1 }]);
    assert_eq!(groups(alpha.clone()).await, converted);
    assert_eq!(groups(app.admin.clone()).await, converted);

    let lost = json!({ "conversion_status": "lost" });
    let response = app
        .patch_json("/contacts/7/conversion", &alpha, &lost)
        .await;
    assert_eq!(response.status(), 200);

    let now_lost = json!([{ "contactStatus": "lost", "conversions": 1 }]);
    assert_eq!(groups(alpha.clone()).await, now_lost);
    assert_eq!(groups(app.admin.clone()).await, now_lost);
}

/// Two nodes on one database: a write on B is seen at once by a cached answer on A.
async fn a_write_on_another_node_invalidates_this_nodes_cache() {
    let a = spawn_app().await;
    let (alpha, _beta) = setup(&a).await;
    let b = spawn_app_on(&a.database_url, &[]).await;
    let (cached, _) = analytics(&a, Some("alpha")).await;
    let (_, hit) = analytics(&a, Some("alpha")).await;
    assert_eq!((cached["totalConversions"].clone(), hit), (json!(0), 1));
    sale(&b, &alpha, 1, "42.00").await;
    let (seen, _) = analytics(&a, Some("alpha")).await;
    assert_eq!(seen["totalConversions"], 1);
    assert_eq!(seen["totalValue"], "42.00");
}

/// `--analytics-cache false` (for measuring the uncached path) computes every time.
async fn the_cache_can_be_turned_off() {
    let app = spawn_app_with(&["--analytics-cache", "false"]).await;
    let (alpha, _beta) = setup(&app).await;
    sale(&app, &alpha, 1, "1.00").await;
    let (first, _) = analytics(&app, Some("alpha")).await;
    let (again, cost) = analytics(&app, Some("alpha")).await;
    assert_eq!(first, again);
    assert!(cost > 1, "computed again: {cost} statements");
}

crate::backend::on_both_backends!(
    the_cache_can_be_turned_off,
    a_repeated_query_is_a_hit_until_a_write_changes_it,
    a_status_change_invalidates_the_receivers_funnel,
    a_status_change_invalidates_grouping_by_status,
    a_write_on_another_node_invalidates_this_nodes_cache,
);
