//! `convio seed`: the same seed gives the same history, and the rollups it builds answer
//! exactly like the rows they summarise.

use crate::helpers::{TestApp, spawn_app_with};
use chrono::NaiveDate;
use convio::seed::SeedOptions;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

fn options(seed: u64) -> SeedOptions {
    SeedOptions {
        conversions: 3_000,
        workspaces: 4,
        conversions_per_contact: 3,
        days: 120,
        end_date: NaiveDate::from_ymd_opt(2024, 11, 30),
        seed,
    }
}

async fn seeded(seed: u64) -> TestApp {
    let app = spawn_app_with(&["--analytics-time-zones", "UTC,Asia/Kolkata"]).await;
    let db = convio::db::Db::connect(&app.database_url, 1).await.unwrap();
    let zones = ["UTC".parse().unwrap(), "Asia/Kolkata".parse().unwrap()];
    let report = convio::seed::seed(&db, &zones, &options(seed))
        .await
        .unwrap();
    assert_eq!(report.conversions, 3_000);
    assert_eq!(report.contacts, 1_000);
    app
}

const STATS: &str = r#"query($f: ConversionFilter) {
  conversionStats(filter: $f, groupBy: [DAY, WORKSPACE, CONVERSION_TYPE]) {
    fromRollups groups { period workspaceId conversionType conversions totalValue } } }"#;

async fn stats(app: &TestApp, filter: Value) -> (bool, Value) {
    let data = app
        .graphql_data(&app.admin, STATS, json!({ "f": filter }))
        .await;
    let s = &data["conversionStats"];
    (s["fromRollups"].as_bool().unwrap(), s["groups"].clone())
}

async fn the_same_seed_gives_the_same_history() {
    let (a, b) = (seeded(7).await, seeded(7).await);
    let (_, first) = stats(&a, json!({ "timeZone": "UTC" })).await;
    let (_, second) = stats(&b, json!({ "timeZone": "UTC" })).await;
    assert_eq!(first, second);
    // Ids, values, dates and custom data too, not only the totals.
    let pa = a
        .get("/conversions?limit=50", &a.admin)
        .await
        .text()
        .await
        .unwrap();
    let pb = b
        .get("/conversions?limit=50", &b.admin)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(pa, pb);
    let other = seeded(8).await;
    let (_, different) = stats(&other, json!({ "timeZone": "UTC" })).await;
    assert_ne!(first, different);
}

async fn seeded_rollups_match_the_rows() {
    let app = seeded(42).await;
    let (from_rollups, rolled) = stats(&app, json!({ "timeZone": "Asia/Kolkata" })).await;
    assert!(from_rollups);
    // Bounds that are not local midnights send the same question to the rows.
    let (from_rollups, rows) = stats(
        &app,
        json!({ "timeZone": "Asia/Kolkata", "fromDate": "2000-01-01T00:00:01Z",
                "toDate": "2100-01-01T00:00:00Z" }),
    )
    .await;
    assert!(!from_rollups);
    assert_eq!(rolled, rows);
    let total: u64 = rolled
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["conversions"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 3_000);
}

/// Each seeded conversion has the `converted` tracking row live ingest writes beside it (its
/// contact, workspace and instant), and a workspace's activity shows it as it shows a logged one.
async fn seeded_conversions_are_tracked_like_logged_ones() {
    let app = seeded(42).await;
    let db = convio::db::Db::connect(&app.database_url, 1).await.unwrap();
    let count = |sql: &'static str| {
        let conn = db.conn().clone();
        async move {
            let row = conn
                .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<i64>(0).unwrap()
        }
    };
    let converted =
        count("SELECT COUNT(*) FROM workspace_tracking WHERE action = 'converted'").await;
    assert_eq!(converted, 3_000);
    let untracked = count(
        "SELECT COUNT(*) FROM conversions c WHERE NOT EXISTS (SELECT 1 FROM workspace_tracking t \
         WHERE t.action = 'converted' AND t.contact_id = c.contact_id \
         AND t.workspace_id = c.workspace_id AND t.timestamp = c.created_at)",
    )
    .await;
    assert_eq!(untracked, 0);

    let activity = crate::helpers::expect_json(
        app.get("/workspaces/seed_ws_001/activity?limit=100", &app.admin)
            .await,
        200,
    )
    .await;
    let entries = activity["recent_activity"].as_array().unwrap();
    let logged: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "converted")
        .collect();
    assert!(!logged.is_empty(), "{activity}");
    for entry in logged {
        let id = entry["metadata"]["conversion_id"].as_str().unwrap();
        let conversion = crate::helpers::expect_json(
            app.get(&format!("/conversions/{id}"), &app.admin).await,
            200,
        )
        .await;
        assert_eq!(conversion["workspace_id"], "seed_ws_001");
        assert_eq!(
            entry["metadata"]["conversion_type"],
            conversion["conversion_type"]
        );
        assert_eq!(entry["contact_id"], conversion["contact_id"]);
    }
}

crate::backend::on_both_backends!(
    the_same_seed_gives_the_same_history,
    seeded_rollups_match_the_rows,
    seeded_conversions_are_tracked_like_logged_ones,
);
