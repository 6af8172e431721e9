//! `GET /conversions/analytics` and `conversionAnalytics` against a hand-computed fixture.
//!
//! lead_gen_team sends contacts 1001–1006 to alpha and 1007–1010 to beta. Then:
//!
//! | # | ws    | contact | type        | value    | converted_at (UTC)     | day / ISO week / month        |
//! |---|-------|---------|-------------|----------|------------------------|-------------------------------|
//! | 1 | alpha | 1001    | sale        | 25000.00 | 2024-01-15 10:00 (Mon) | 01-15 / 01-15 / 2024-01       |
//! | 2 | alpha | 1002    | appointment | —        | 2024-01-21 23:30 (Sun) | 01-21 / 01-15 / 2024-01       |
//! | 3 | alpha | 1002    | sale        | 18500.50 | 2024-01-22 00:15 (Mon) | 01-22 / 01-22 / 2024-01       |
//! | 4 | alpha | 1003    | qualified   | —        | 2024-01-31 12:00 (Wed) | 01-31 / 01-29 / 2024-01       |
//! | 5 | alpha | 1004    | sale        | 32000.00 | 2024-02-01 09:00 (Thu) | 02-01 / 01-29 / 2024-02       |
//! | 6 | beta  | 1007    | appointment | 150.03   | 2024-02-01 15:00 (Thu) | 02-01 / 01-29 / 2024-02       |
//! | 7 | beta  | 1008    | sale        | 12000.00 | 2024-02-14 08:00 (Wed) | 02-14 / 02-12 / 2024-02       |
//! | 8 | beta  | 1008    | demo_booked | —        | 2024-02-15 02:00 (Thu) | 02-15 / 02-12 / 2024-02       |
//!
//! (#8 is sent as `2024-02-14T21:00:00-05:00`: it buckets by its UTC day.) Beta also marks
//! 1009 `qualified` by PATCH. Final statuses: 1001, 1002, 1004, 1008 converted; 1007
//! appointment; 1003, 1009 qualified; 1005, 1006, 1010 pending.

use crate::helpers::{Creds, TestApp, spawn_app};
use serde_json::{Value, json};

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
    for id in 1001..=1010 {
        let to = if id <= 1006 { "alpha" } else { "beta" };
        app.contact_received_by(&lead_gen, id, &format!("Contact {id}"), to)
            .await;
    }
    let rows: [(&Creds, i64, &str, Option<&str>, &str); 8] = [
        (
            &alpha,
            1001,
            "sale",
            Some("25000.00"),
            "2024-01-15T10:00:00Z",
        ),
        (&alpha, 1002, "appointment", None, "2024-01-21T23:30:00Z"),
        (
            &alpha,
            1002,
            "sale",
            Some("18500.50"),
            "2024-01-22T00:15:00Z",
        ),
        (&alpha, 1003, "qualified", None, "2024-01-31T12:00:00Z"),
        (&alpha, 1004, "sale", Some("32000"), "2024-02-01T09:00:00Z"),
        (
            &beta,
            1007,
            "appointment",
            Some("150.03"),
            "2024-02-01T15:00:00Z",
        ),
        (&beta, 1008, "sale", Some("12000"), "2024-02-14T08:00:00Z"),
        (
            &beta,
            1008,
            "demo_booked",
            None,
            "2024-02-14T21:00:00-05:00",
        ),
    ];
    for (creds, contact, kind, value, at) in rows {
        let mut body = json!({
            "contact_id": contact, "converted_by": "agent", "conversion_type": kind, "converted_at": at,
        });
        if let Some(value) = value {
            body["conversion_value"] = json!(value);
        }
        app.log_conversion(creds, body).await;
    }
    let patched = app
        .patch_json(
            "/contacts/1009/conversion",
            &beta,
            &json!({ "conversion_status": "qualified" }),
        )
        .await;
    assert_eq!(patched.status().as_u16(), 200);
    Fixture { app, alpha, beta }
}

/// The analytics as plain JSON (for counts and rates) and with exact number text (for money).
struct Report {
    plain: Value,
    exact: Value,
}

impl Fixture {
    async fn rest(&self, creds: &Creds, query: &str) -> Report {
        let response = self
            .app
            .get(&format!("/conversions/analytics{query}"), creds)
            .await;
        assert_eq!(
            response.status().as_u16(),
            200,
            "GET /conversions/analytics{query}"
        );
        let text = response.text().await.unwrap();
        Report {
            plain: serde_json::from_str(&text).unwrap(),
            exact: crate::helpers::exact(&text),
        }
    }
}

impl Report {
    fn workspace(&self, id: &str) -> (&Value, &Value) {
        let find = |v: &Value| -> usize {
            v["by_workspace"]
                .as_array()
                .unwrap()
                .iter()
                .position(|w| w["workspace_id"] == id)
                .unwrap_or_else(|| panic!("{id} missing from by_workspace: {v}"))
        };
        let i = find(&self.plain);
        (
            &self.plain["by_workspace"][i],
            &self.exact["by_workspace"][i],
        )
    }

    /// The funnel as (stage, count, percent).
    fn funnel(&self) -> Vec<(String, u64, Option<f64>)> {
        self.plain["funnel"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["stage"].as_str().unwrap().to_owned(),
                    s["count"].as_u64().unwrap(),
                    s["percent"].as_f64(),
                )
            })
            .collect()
    }
}

/// A trend point as `exact` renders it.
fn point(period: &str, conversions: u64, total_value: &str) -> Value {
    json!({ "period": period, "conversions": conversions.to_string(), "total_value": total_value })
}

fn stages(counts: [(u64, f64); 4]) -> Vec<(String, u64, Option<f64>)> {
    ["leads_received", "qualified", "appointments", "conversions"]
        .into_iter()
        .zip(counts)
        .map(|(stage, (count, percent))| (stage.to_owned(), count, Some(percent)))
        .collect()
}

async fn the_admin_sees_the_totals_of_every_workspace() {
    // Arrange
    let f = fixture().await;

    // Act
    let r = f.rest(&f.app.admin, "").await;

    // Assert
    assert_eq!(r.plain["currency"], "USD");
    assert_eq!(r.plain["summary"]["total_conversions"], 8);
    assert_eq!(r.exact["summary"]["total_value"], "87650.53");
    assert_eq!(
        r.exact["summary"]["average_value"], "17530.11",
        "87650.53 / 5 valued, rounded"
    );
    assert_eq!(r.plain["summary"]["contacts_received"], 10);
    assert_eq!(r.plain["summary"]["conversion_rate"], 80.0);
}

async fn by_workspace_gives_each_workspaces_figures() {
    // Arrange
    let f = fixture().await;

    // Act
    let r = f.rest(&f.app.admin, "").await;

    // Assert
    let (alpha, alpha_exact) = r.workspace("alpha");
    assert_eq!(alpha["conversions"], 5);
    assert_eq!(alpha_exact["total_value"], "75500.50");
    assert_eq!(alpha["contacts_received"], 6);
    assert_eq!(alpha["conversion_rate"], 83.33);
    let (beta, beta_exact) = r.workspace("beta");
    assert_eq!(beta["conversions"], 3);
    assert_eq!(beta_exact["total_value"], "12150.03");
    assert_eq!(beta["contacts_received"], 4);
    assert_eq!(beta["conversion_rate"], 75.0);
    for other in r.plain["by_workspace"].as_array().unwrap() {
        if other["workspace_id"] != "alpha" && other["workspace_id"] != "beta" {
            assert_eq!(other["conversions"], 0, "{other}");
        }
    }
}

async fn by_type_counts_each_conversion_type() {
    // Arrange
    let f = fixture().await;

    // Act
    let r = f.rest(&f.app.admin, "").await;

    // Assert: the plan's shape, type → count.
    assert_eq!(
        r.plain["by_type"],
        json!({ "sale": 4, "appointment": 2, "qualified": 1, "demo_booked": 1 })
    );
}

async fn trends_bucket_by_utc_day_iso_week_and_month() {
    // Arrange
    let f = fixture().await;

    // Act
    let r = f.rest(&f.app.admin, "").await;

    // Assert
    let trends = &r.exact["trends"];
    assert_eq!(
        trends["daily"],
        json!([
            point("2024-01-15", 1, "25000.00"),
            point("2024-01-21", 1, "0.00"),
            point("2024-01-22", 1, "18500.50"),
            point("2024-01-31", 1, "0.00"),
            point("2024-02-01", 2, "32150.03"),
            point("2024-02-14", 1, "12000.00"),
            point("2024-02-15", 1, "0.00"),
        ])
    );
    assert_eq!(
        trends["weekly"],
        json!([
            point("2024-01-15", 2, "25000.00"),
            point("2024-01-22", 1, "18500.50"),
            point("2024-01-29", 3, "32150.03"),
            point("2024-02-12", 2, "12000.00"),
        ])
    );
    assert_eq!(
        trends["monthly"],
        json!([
            point("2024-01", 4, "43500.50"),
            point("2024-02", 4, "44150.03")
        ])
    );
}

async fn the_funnel_counts_received_contacts_by_the_stage_they_reached() {
    // Arrange
    let f = fixture().await;

    // Act
    let r = f.rest(&f.app.admin, "").await;

    // Assert
    assert_eq!(
        r.funnel(),
        stages([(10, 100.0), (7, 70.0), (5, 50.0), (4, 40.0)])
    );
}

async fn a_workspace_sees_only_its_own_numbers() {
    // Arrange
    let f = fixture().await;

    // Act
    let r = f.rest(&f.alpha, "").await;
    let named_other = f
        .app
        .get("/conversions/analytics?workspace_id=beta", &f.alpha)
        .await;

    // Assert
    assert_eq!(r.plain["summary"]["total_conversions"], 5);
    assert_eq!(r.exact["summary"]["total_value"], "75500.50");
    assert_eq!(r.exact["summary"]["average_value"], "25166.83");
    assert_eq!(r.plain["summary"]["contacts_received"], 6);
    assert_eq!(r.plain["summary"]["conversion_rate"], 83.33);
    let workspaces: Vec<&Value> = r.plain["by_workspace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["workspace_id"])
        .collect();
    assert_eq!(workspaces, vec!["alpha"]);
    assert_eq!(
        r.plain["by_type"],
        json!({ "sale": 3, "appointment": 1, "qualified": 1 })
    );
    assert_eq!(
        r.exact["trends"]["monthly"],
        json!([
            point("2024-01", 4, "43500.50"),
            point("2024-02", 1, "32000.00")
        ])
    );
    assert_eq!(
        r.funnel(),
        stages([(6, 100.0), (4, 66.67), (3, 50.0), (3, 50.0)])
    );
    let status = named_other.status().as_u16();
    assert!(
        status == 403 || status == 404,
        "alpha read beta's analytics: {status}"
    );
}

async fn filters_narrow_by_type_and_inclusive_dates() {
    // Arrange
    let f = fixture().await;

    // Act
    let sales = f.rest(&f.app.admin, "?conversion_type=sale").await;
    let january = f
        .rest(&f.app.admin, "?from_date=2024-01-01&to_date=2024-01-31")
        .await;
    let late_january = f
        .rest(&f.app.admin, "?from_date=2024-01-22&to_date=2024-01-31")
        .await;
    let by_instant = f
        .rest(&f.app.admin, "?from_date=2024-02-14T20:00:00-05:00")
        .await;
    let alpha_sales = f
        .rest(&f.app.admin, "?workspace_id=alpha&conversion_type=sale")
        .await;

    // Assert
    assert_eq!(sales.plain["summary"]["total_conversions"], 4);
    assert_eq!(sales.exact["summary"]["total_value"], "87500.50");
    assert_eq!(
        sales.exact["summary"]["average_value"], "21875.13",
        "21875.125 rounds up"
    );
    assert_eq!(sales.plain["by_type"], json!({ "sale": 4 }));
    assert_eq!(
        january.plain["summary"]["total_conversions"], 4,
        "to_date is the whole day"
    );
    assert_eq!(january.exact["summary"]["total_value"], "43500.50");
    assert_eq!(late_january.plain["summary"]["total_conversions"], 2);
    assert_eq!(by_instant.plain["summary"]["total_conversions"], 1);
    assert_eq!(alpha_sales.plain["summary"]["total_conversions"], 3);
    assert_eq!(alpha_sales.exact["summary"]["total_value"], "75500.50");
}

async fn a_period_without_received_contacts_has_no_rate() {
    // Arrange: every contact was received today, none in February 2024.
    let f = fixture().await;

    // Act
    let r = f
        .rest(&f.app.admin, "?from_date=2024-02-01&to_date=2024-02-29")
        .await;

    // Assert
    assert_eq!(r.plain["summary"]["total_conversions"], 4);
    assert_eq!(r.exact["summary"]["total_value"], "44150.03");
    assert_eq!(r.plain["summary"]["contacts_received"], 0);
    assert_eq!(r.plain["summary"]["conversion_rate"], Value::Null);
    let counts: Vec<u64> = r.funnel().into_iter().map(|(_, count, _)| count).collect();
    assert_eq!(counts, vec![0, 0, 0, 0]);
}

const GRAPHQL: &str = r#"
query($filter: AnalyticsFilter) {
  conversionAnalytics(filter: $filter) {
    currency
    summary { totalConversions totalValue averageValue conversionRate contactsReceived }
    byWorkspace { workspaceId conversions totalValue averageValue conversionRate contactsReceived }
    byType { conversionType conversions totalValue }
    trends { daily { period conversions totalValue } weekly { period conversions totalValue }
             monthly { period conversions totalValue } }
    funnel { stage count percent }
  }
}"#;

fn sorted_by_type(list: &Value) -> Vec<Value> {
    let mut list = list.as_array().unwrap().clone();
    list.sort_by_key(|t| t["conversionType"].as_str().unwrap().to_owned());
    list
}

async fn graphql_gives_beta_its_own_numbers_with_exact_decimals() {
    // Arrange
    let f = fixture().await;

    // Act
    let data = f.app.graphql_data(&f.beta, GRAPHQL, json!({})).await;

    // Assert
    let a = &data["conversionAnalytics"];
    assert_eq!(a["currency"], "USD");
    assert_eq!(
        a["summary"],
        json!({ "totalConversions": 3, "totalValue": "12150.03", "averageValue": "6075.02",
                "conversionRate": 75.0, "contactsReceived": 4 }),
        "6075.015 rounds half away from zero"
    );
    assert_eq!(
        a["byWorkspace"],
        json!([{ "workspaceId": "beta", "conversions": 3, "totalValue": "12150.03",
                 "averageValue": "6075.02", "conversionRate": 75.0, "contactsReceived": 4 }])
    );
    assert_eq!(
        sorted_by_type(&a["byType"]),
        vec![
            json!({ "conversionType": "appointment", "conversions": 1, "totalValue": "150.03" }),
            json!({ "conversionType": "demo_booked", "conversions": 1, "totalValue": "0.00" }),
            json!({ "conversionType": "sale", "conversions": 1, "totalValue": "12000.00" }),
        ]
    );
    assert_eq!(
        a["trends"]["daily"],
        json!([{ "period": "2024-02-01", "conversions": 1, "totalValue": "150.03" },
               { "period": "2024-02-14", "conversions": 1, "totalValue": "12000.00" },
               { "period": "2024-02-15", "conversions": 1, "totalValue": "0.00" }])
    );
    assert_eq!(
        a["trends"]["weekly"],
        json!([{ "period": "2024-01-29", "conversions": 1, "totalValue": "150.03" },
               { "period": "2024-02-12", "conversions": 2, "totalValue": "12000.00" }])
    );
    assert_eq!(
        a["trends"]["monthly"],
        json!([{ "period": "2024-02", "conversions": 3, "totalValue": "12150.03" }])
    );
    assert_eq!(
        a["funnel"],
        json!([{ "stage": "leads_received", "count": 4, "percent": 100.0 },
               { "stage": "qualified", "count": 3, "percent": 75.0 },
               { "stage": "appointments", "count": 2, "percent": 50.0 },
               { "stage": "conversions", "count": 1, "percent": 25.0 }])
    );
}

async fn graphql_and_rest_agree_for_the_admin() {
    // Arrange
    let f = fixture().await;

    // Act
    let data = f
        .app
        .graphql_data(
            &f.app.admin,
            GRAPHQL,
            json!({ "filter": { "workspaceId": "alpha" } }),
        )
        .await;
    let rest = f.rest(&f.app.admin, "?workspace_id=alpha").await;

    // Assert
    let a = &data["conversionAnalytics"];
    assert_eq!(
        a["summary"]["totalConversions"],
        rest.plain["summary"]["total_conversions"]
    );
    assert_eq!(a["summary"]["totalValue"], "75500.50");
    assert_eq!(
        a["summary"]["totalValue"],
        rest.exact["summary"]["total_value"]
    );
    assert_eq!(
        a["summary"]["averageValue"],
        rest.exact["summary"]["average_value"]
    );
    assert_eq!(
        a["summary"]["conversionRate"],
        rest.plain["summary"]["conversion_rate"]
    );
    assert_eq!(
        sorted_by_type(&a["byType"]),
        vec![
            json!({ "conversionType": "appointment", "conversions": 1, "totalValue": "0.00" }),
            json!({ "conversionType": "qualified", "conversions": 1, "totalValue": "0.00" }),
            json!({ "conversionType": "sale", "conversions": 3, "totalValue": "75500.50" }),
        ]
    );
    assert_eq!(a["funnel"][1]["count"], 4);
    assert_eq!(a["funnel"][1]["percent"], 66.67);
    let gql_monthly: Vec<(Value, Value)> = a["trends"]["monthly"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["period"].clone(), p["totalValue"].clone()))
        .collect();
    let rest_monthly: Vec<(Value, Value)> = rest.exact["trends"]["monthly"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["period"].clone(), p["total_value"].clone()))
        .collect();
    assert_eq!(gql_monthly, rest_monthly);
}

crate::backend::on_both_backends!(
    the_admin_sees_the_totals_of_every_workspace,
    by_workspace_gives_each_workspaces_figures,
    by_type_counts_each_conversion_type,
    trends_bucket_by_utc_day_iso_week_and_month,
    the_funnel_counts_received_contacts_by_the_stage_they_reached,
    a_workspace_sees_only_its_own_numbers,
    filters_narrow_by_type_and_inclusive_dates,
    a_period_without_received_contacts_has_no_rate,
    graphql_gives_beta_its_own_numbers_with_exact_decimals,
    graphql_and_rest_agree_for_the_admin,
);
