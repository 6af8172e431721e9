//! Analytics against a direct computation. Random conversions (fixed seed) around the 2024
//! DST changes of America/New_York and on Asia/Kolkata's half-hour day boundaries are logged
//! through the API; then every grouping is read back in several zones and compared with sums
//! computed here, with chrono-tz, from what was logged. Zones the server rolls up are read
//! from the rollups (`fromRollups`); another zone and a range that is not whole days take the
//! row path; both must give the same numbers. About a fifth of the conversions are then
//! retracted or restated (issue #14): every figure must be net of those adjustments.

use crate::helpers::{Creds, TestApp, spawn_app_on, spawn_app_with};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use chrono_tz::Tz;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const ROLLED_UP: &str = "UTC,America/New_York,Asia/Kolkata";
const WORKSPACES: [&str; 3] = ["alpha", "beta", "gamma"];
const TYPES: [&str; 4] = ["sale", "qualified", "appointment", "demo_booked"];

#[derive(Clone, Copy)]
struct Logged {
    contact: i64,
    workspace: &'static str,
    kind: &'static str,
    at: DateTime<Utc>,
    value_minor: Option<i64>,
}

/// xorshift64*: deterministic, and enough randomness for a fixture.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Instants that sit on, or a second before, a local midnight of a rolled-up zone.
fn edges() -> Vec<DateTime<Utc>> {
    [
        "2024-03-10T05:00:00Z", // New York, start of the 23-hour day
        "2024-03-11T04:00:00Z", // New York, the day after
        "2024-11-03T04:00:00Z", // New York, start of the 25-hour day
        "2024-11-04T05:00:00Z",
        "2024-03-09T18:30:00Z", // Kolkata midnight
        "2024-11-02T18:30:00Z",
        "2024-03-10T00:00:00Z", // UTC midnight
    ]
    .iter()
    .flat_map(|s| [at(s), at(s) - Duration::seconds(1)])
    .collect()
}

/// Logs the random history and returns it; contacts 1–12 are spread over the workspaces.
async fn history(app: &TestApp, seed: u64, count: usize) -> Vec<Logged> {
    let lead_gen = app.workspace("lead_gen_team").await;
    let mut creds: BTreeMap<&str, Creds> = BTreeMap::new();
    for ws in WORKSPACES {
        creds.insert(ws, app.workspace(ws).await);
    }
    for id in 1..=12 {
        let ws = WORKSPACES[id as usize % 3];
        app.contact_received_by(&lead_gen, id, &format!("Contact {id}"), ws)
            .await;
    }
    let mut rng = Rng(seed);
    let windows = [
        (at("2024-03-07T00:00:00Z"), 7 * 86_400),
        (at("2024-10-30T00:00:00Z"), 8 * 86_400),
        (at("2024-01-01T00:00:00Z"), 366 * 86_400),
    ];
    let edges = edges();
    let mut logged = Vec::new();
    for i in 0..count {
        let contact = 1 + rng.below(12) as i64;
        let workspace = WORKSPACES[contact as usize % 3];
        let when = if i < edges.len() {
            edges[i]
        } else {
            let (start, span) = windows[rng.below(3) as usize];
            start + Duration::seconds(rng.below(span) as i64)
        };
        let kind = TYPES[rng.below(4) as usize];
        let value_minor = (rng.below(3) > 0).then(|| 1 + rng.below(5_000_000) as i64);
        let mut body = json!({
            "contact_id": contact,
            "converted_by": "rep",
            "conversion_type": kind,
            "converted_at": when.to_rfc3339(),
        });
        if let Some(v) = value_minor {
            body["conversion_value"] = json!(format!("{}.{:02}", v / 100, v % 100));
        }
        let stored = app.log_conversion(&creds[workspace], body).await;
        let mut conversion = Logged {
            contact,
            workspace,
            kind,
            at: when,
            value_minor,
        };
        // Adjusted as logged: one in ten retracted, one in ten restated (a new type, a new
        // value, or both), sometimes twice.
        let id = stored["id"].as_str().unwrap().to_owned();
        let retracted = match rng.below(10) {
            0 => {
                adjust(app, &creds[workspace], &id, json!({"action": "retract"})).await;
                true
            }
            1 => {
                for _ in 0..=rng.below(2) {
                    let mut body = json!({"action": "restate"});
                    if rng.below(2) == 0 {
                        conversion.kind = TYPES[rng.below(4) as usize];
                        body["conversion_type"] = json!(conversion.kind);
                    }
                    if body.get("conversion_type").is_none() || rng.below(2) == 0 {
                        let v = 1 + rng.below(5_000_000) as i64;
                        conversion.value_minor = Some(v);
                        body["conversion_value"] = json!(format!("{}.{:02}", v / 100, v % 100));
                    }
                    adjust(app, &creds[workspace], &id, body).await;
                }
                false
            }
            _ => false,
        };
        if !retracted {
            logged.push(conversion);
        }
    }
    // Some contacts move on by hand: the funnel's rollups must follow.
    for id in [2, 5, 7] {
        let ws = WORKSPACES[id as usize % 3];
        let response = app
            .patch_json(
                &format!("/contacts/{id}/conversion"),
                &creds[ws],
                &json!({ "conversion_status": "lost" }),
            )
            .await;
        assert_eq!(response.status(), 200);
    }
    logged
}

/// `POST /conversions/{id}/adjustments` with a reason, expecting `201` (or `422` for a
/// restatement that happened to change nothing).
async fn adjust(app: &TestApp, creds: &Creds, id: &str, mut body: Value) {
    body["reason"] = json!("corrected by the CRM");
    let response = app
        .post_json(&format!("/conversions/{id}/adjustments"), creds, &body)
        .await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert!(
        status == 201 || (status == 422 && text.contains("changes nothing")),
        "{status} {text}"
    );
}

/// `(count, total minor units)` per group.
type Expected = BTreeMap<(String, String, String), (u64, i64)>;

#[derive(Clone, Copy)]
enum Bucket {
    Day,
    Week(Weekday),
    Month,
}

fn label(day: NaiveDate, bucket: Bucket) -> String {
    match bucket {
        Bucket::Day => day.format("%Y-%m-%d").to_string(),
        Bucket::Week(first) => {
            let back = day.weekday().days_since(first);
            (day - Duration::days(i64::from(back)))
                .format("%Y-%m-%d")
                .to_string()
        }
        Bucket::Month => day.format("%Y-%m").to_string(),
    }
}

/// The direct computation: local days in `zone`, inclusive date bounds.
fn expected(
    logged: &[Logged],
    zone: Tz,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    bucket: Bucket,
) -> Expected {
    let mut out = Expected::new();
    for c in logged {
        let day = c.at.with_timezone(&zone).date_naive();
        if from.is_some_and(|f| day < f) || to.is_some_and(|t| day > t) {
            continue;
        }
        let key = (
            label(day, bucket),
            c.workspace.to_owned(),
            c.kind.to_owned(),
        );
        let entry = out.entry(key).or_default();
        entry.0 += 1;
        entry.1 += c.value_minor.unwrap_or(0);
    }
    out
}

fn minor(decimal: &Value) -> i64 {
    let text = decimal.as_str().expect("a decimal string");
    let (whole, frac) = text.split_once('.').unwrap_or((text, "0"));
    whole.parse::<i64>().unwrap() * 100 + format!("{frac:0<2}")[..2].parse::<i64>().unwrap()
}

const STATS: &str = r#"
query($filter: ConversionFilter, $groupBy: [StatsDimension!]!, $weekStart: WeekStartDay) {
  conversionStats(filter: $filter, groupBy: $groupBy, weekStart: $weekStart) {
    fromRollups timeZone
    groups { period workspaceId conversionType conversions totalValue }
  }
}"#;

async fn stats(app: &TestApp, filter: Value, bucket: Bucket) -> (Expected, bool) {
    let (dimension, week_start) = match bucket {
        Bucket::Day => ("DAY", "MONDAY"),
        Bucket::Week(Weekday::Sun) => ("WEEK", "SUNDAY"),
        Bucket::Week(_) => ("WEEK", "MONDAY"),
        Bucket::Month => ("MONTH", "MONDAY"),
    };
    let data = app
        .graphql_data(
            &app.admin,
            STATS,
            json!({
                "filter": filter,
                "groupBy": [dimension, "WORKSPACE", "CONVERSION_TYPE"],
                "weekStart": week_start,
            }),
        )
        .await;
    let stats = &data["conversionStats"];
    let groups = stats["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                (
                    g["period"].as_str().unwrap().to_owned(),
                    g["workspaceId"].as_str().unwrap().to_owned(),
                    g["conversionType"].as_str().unwrap().to_owned(),
                ),
                (g["conversions"].as_u64().unwrap(), minor(&g["totalValue"])),
            )
        })
        .collect();
    (groups, stats["fromRollups"].as_bool().unwrap())
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

async fn rollups_equal_a_direct_computation_in_every_zone() {
    let app = spawn_app_with(&["--analytics-time-zones", ROLLED_UP]).await;
    let logged = history(&app, 0x5eed_2024, 160).await;
    contacts_agree(&app, &logged).await;
    let ranges = [
        (None, None),
        (Some(date("2024-03-09")), Some(date("2024-03-11"))), // New York springs forward
        (Some(date("2024-11-02")), Some(date("2024-11-04"))), // and falls back
        (Some(date("2024-03-10")), Some(date("2024-03-10"))),
        // Long ranges read whole months from month rows and the edges from day rows.
        (Some(date("2024-02-15")), Some(date("2024-11-20"))),
        (Some(date("2024-03-01")), Some(date("2024-10-31"))),
        (None, Some(date("2024-06-30"))),
    ];
    let buckets = [
        Bucket::Day,
        Bucket::Week(Weekday::Mon),
        Bucket::Week(Weekday::Sun),
        Bucket::Month,
    ];
    // Europe/London is not rolled up: the row path must agree too.
    for zone_name in ["UTC", "America/New_York", "Asia/Kolkata", "Europe/London"] {
        let zone: Tz = zone_name.parse().unwrap();
        for (from, to) in ranges {
            for bucket in buckets {
                let filter = json!({
                    "timeZone": zone_name,
                    "fromDate": from.map(|d| d.to_string()),
                    "toDate": to.map(|d| d.to_string()),
                });
                let (got, from_rollups) = stats(&app, filter, bucket).await;
                let want = expected(&logged, zone, from, to, bucket);
                assert_eq!(
                    got, want,
                    "{zone_name} {from:?}..{to:?}: the API disagrees with a direct computation"
                );
                assert_eq!(from_rollups, zone_name != "Europe/London", "{zone_name}");
            }
            // Without a time bucket or workspace: the all-workspace rows, by month and edge day.
            let filter = json!({
                "timeZone": zone_name,
                "fromDate": from.map(|d| d.to_string()),
                "toDate": to.map(|d| d.to_string()),
            });
            let data = app
                .graphql_data(
                    &app.admin,
                    STATS,
                    json!({ "filter": filter, "groupBy": ["CONVERSION_TYPE"] }),
                )
                .await;
            let got: BTreeMap<String, (u64, i64)> = data["conversionStats"]["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| {
                    let kind = g["conversionType"].as_str().unwrap().to_owned();
                    (
                        kind,
                        (g["conversions"].as_u64().unwrap(), minor(&g["totalValue"])),
                    )
                })
                .collect();
            let mut want: BTreeMap<String, (u64, i64)> = BTreeMap::new();
            for ((_, _, kind), (n, total)) in expected(&logged, zone, from, to, Bucket::Day) {
                let entry = want.entry(kind).or_default();
                entry.0 += n;
                entry.1 += total;
            }
            assert_eq!(got, want, "{zone_name} {from:?}..{to:?} by type");
        }
    }
    // Instant bounds that are not local midnights are answered from the rows, exactly.
    let filter = json!({
        "timeZone": "Asia/Kolkata",
        "fromDate": "2024-03-09T18:29:59Z",
        "toDate": "2024-03-10T05:00:00Z",
    });
    let (got, from_rollups) = stats(&app, filter, Bucket::Day).await;
    assert!(!from_rollups);
    let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
    let inside: Vec<Logged> = logged
        .iter()
        .filter(|c| c.at >= at("2024-03-09T18:29:59Z") && c.at <= at("2024-03-10T05:00:00Z"))
        .copied()
        .collect();
    assert!(!inside.is_empty(), "the edges fall in this range");
    assert_eq!(got, expected(&inside, kolkata, None, None, Bucket::Day));
}

/// The dashboard's funnel and totals in each zone: received contacts come from the contact
/// rollups, which must follow status changes.
async fn the_dashboard_agrees_with_the_rows_in_every_zone() {
    let app = spawn_app_with(&["--analytics-time-zones", ROLLED_UP]).await;
    let logged = history(&app, 7, 40).await;
    let query = r#"query($f: AnalyticsFilter) { conversionAnalytics(filter: $f) {
        timeZone summary { totalConversions totalValue contactsReceived }
        trends { daily { period conversions } }
        funnel { stage count } } }"#;
    let mut funnels = Vec::new();
    for zone_name in ["UTC", "America/New_York", "Asia/Kolkata", "Europe/London"] {
        let zone: Tz = zone_name.parse().unwrap();
        let data = app
            .graphql_data(&app.admin, query, json!({ "f": { "timeZone": zone_name } }))
            .await;
        let a = &data["conversionAnalytics"];
        assert_eq!(a["timeZone"], zone_name);
        assert_eq!(a["summary"]["totalConversions"], logged.len());
        let total: i64 = logged.iter().filter_map(|c| c.value_minor).sum();
        assert_eq!(minor(&a["summary"]["totalValue"]), total);
        assert_eq!(a["summary"]["contactsReceived"], 12);
        let mut days: BTreeMap<String, u64> = BTreeMap::new();
        for c in &logged {
            *days
                .entry(label(c.at.with_timezone(&zone).date_naive(), Bucket::Day))
                .or_default() += 1;
        }
        let got: BTreeMap<String, u64> = a["trends"]["daily"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["period"].as_str().unwrap().to_owned(),
                    p["conversions"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, days, "{zone_name}");
        funnels.push(a["funnel"].clone());
    }
    // Receipts happened today in every zone, so every zone sees the same funnel; the three
    // contacts marked lost left their earlier stage.
    let statuses = statuses(&app).await;
    let reached = |rank: u8| statuses.iter().filter(|s| rank_of(s) >= rank).count() as u64;
    for funnel in &funnels {
        let counts: Vec<u64> = funnel
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["count"].as_u64().unwrap())
            .collect();
        assert_eq!(counts, vec![12, reached(1), reached(2), reached(3)]);
    }
    // A range that ends before today received nothing, and converted nothing after it.
    let data = app
        .graphql_data(
            &app.admin,
            query,
            json!({ "f": { "timeZone": "Asia/Kolkata", "toDate": "2025-01-01" } }),
        )
        .await;
    assert_eq!(
        data["conversionAnalytics"]["summary"]["contactsReceived"],
        0
    );
}

/// Each contact's lifetime value, count and status, net of adjustments, against the
/// conversions that still count: the status is the furthest stage their types prove
/// (docs/api.md's rule, which keeps that invariant), except for the contacts marked lost.
async fn contacts_agree(app: &TestApp, logged: &[Logged]) {
    for id in 1..=12 {
        let its: Vec<&Logged> = logged.iter().filter(|c| c.contact == id).collect();
        let total: i64 = its.iter().map(|c| c.value_minor.unwrap_or(0)).sum();
        let rank = its
            .iter()
            .map(|c| match c.kind {
                "sale" => 3,
                "appointment" => 2,
                "qualified" => 1,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        let status = match rank {
            3 => "converted",
            2 => "appointment",
            1 => "qualified",
            _ => "pending",
        };
        let contact = app.contact_exact(id).await;
        assert_eq!(minor(&contact["lifetime_value"]), total, "contact {id}");
        assert_eq!(
            contact["conversion_count"],
            its.len().to_string(),
            "contact {id}"
        );
        let want = if [2, 5, 7].contains(&id) {
            "lost"
        } else {
            status
        };
        assert_eq!(contact["conversion_status"], want, "contact {id}");
    }
}

async fn statuses(app: &TestApp) -> Vec<String> {
    let mut out = Vec::new();
    for id in 1..=12 {
        let contact = app.contact_exact(id).await;
        out.push(contact["conversion_status"].as_str().unwrap().to_owned());
    }
    out
}

/// Funnel rank as docs/api.md defines it: lost contacts count as received only.
fn rank_of(status: &str) -> u8 {
    match status {
        "qualified" => 1,
        "appointment" => 2,
        "converted" => 3,
        _ => 0,
    }
}

/// A zone added to the configuration is built from the rows at the next start.
async fn a_newly_configured_zone_is_built_at_start() {
    let first = spawn_app_with(&["--analytics-time-zones", "UTC"]).await;
    let logged = history(&first, 99, 30).await;
    let filter = json!({ "timeZone": "Asia/Kolkata" });
    let (before, from_rollups) = stats(&first, filter.clone(), Bucket::Day).await;
    assert!(!from_rollups);
    let second = spawn_app_on(
        &first.database_url,
        &["--analytics-time-zones", "UTC,Asia/Kolkata"],
    )
    .await;
    let (after, from_rollups) = stats(&second, filter, Bucket::Day).await;
    assert!(from_rollups);
    assert_eq!(after, before);
    let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
    assert_eq!(after, expected(&logged, kolkata, None, None, Bucket::Day));
}

async fn a_zone_must_be_an_iana_name() {
    let app = spawn_app_with(&[]).await;
    let body = app
        .graphql(
            &app.admin,
            STATS,
            json!({ "filter": { "timeZone": "+05:30" }, "groupBy": ["DAY"] }),
        )
        .await;
    crate::helpers::assert_graphql_error(&body, "BAD_USER_INPUT", Some("timeZone"));
    let response = app
        .get("/conversions/analytics?time_zone=Mars/Olympus", &app.admin)
        .await;
    crate::helpers::assert_problem(response, 422, "BAD_USER_INPUT", Some("time_zone")).await;
    let body = app
        .graphql(&app.admin, STATS, json!({ "groupBy": ["DAY", "MONTH"] }))
        .await;
    crate::helpers::assert_graphql_error(&body, "BAD_USER_INPUT", Some("groupBy"));
}

crate::backend::on_both_backends!(
    rollups_equal_a_direct_computation_in_every_zone,
    the_dashboard_agrees_with_the_rows_in_every_zone,
    a_newly_configured_zone_is_built_at_start,
    a_zone_must_be_an_iana_name,
);
