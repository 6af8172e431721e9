//! Multi-currency analytics against a direct computation, on random data (fixed seed) around
//! New York's 2024 DST change and a EUR→USD rate change, in several zones: the rollups
//! (`fromRollups`) and the rows (a range that is not whole days) must give the same groups,
//! each currency's own figures and each day's converted total, and both must equal sums
//! computed here. Some conversions are retracted or restated in their own currency.

use crate::helpers::{TestApp, expect_json, spawn_app_with};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const ZONES: [&str; 3] = ["UTC", "America/New_York", "Asia/Kolkata"];

/// Rates into USD ×10⁴, before and from 2024-03-10.
type Rates = Option<(i128, i128)>;

/// Per local day, as summed: conversions, minor units per currency, the converted total in
/// 10⁻⁴ cents, whether a rate was missing.
type Sums<'a> = BTreeMap<String, (u64, BTreeMap<&'a str, i64>, i128, bool)>;

/// (code, minor-unit places, rates into USD; none for BHD).
const CURRENCIES: [(&str, u32, Rates); 4] = [
    ("USD", 2, Some((10_000, 10_000))),
    ("EUR", 2, Some((10_842, 11_000))),
    ("JPY", 0, Some((67, 67))),
    ("BHD", 3, None),
];

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

struct Sale {
    at: DateTime<Utc>,
    currency: usize,
    minor: i64,
}

fn decimal(minor: i64, places: u32) -> String {
    if places == 0 {
        return minor.to_string();
    }
    let scale = 10_i64.pow(places);
    format!(
        "{}.{:0w$}",
        minor / scale,
        minor % scale,
        w = places as usize
    )
}

/// Logs, retracts and restates at random; returns what counts.
async fn history(app: &TestApp) -> Vec<Sale> {
    for (base, rates) in [("EUR", ["1.0842", "1.1"]), ("JPY", ["0.0067", "0.0067"])] {
        for (rate, from) in rates.iter().zip(["2024-01-01", "2024-03-10"]) {
            let body =
                json!({ "base": base, "quote": "USD", "rate": rate, "effective_date": from });
            let response = app
                .rest(reqwest::Method::PUT, "/exchange-rates", &app.admin)
                .json(&body)
                .send()
                .await
                .unwrap();
            expect_json(response, 200).await;
        }
    }
    let ws = app.workspace("alpha").await;
    let lead_gen = app.workspace("lead_gen_team").await;
    for id in 1..=4 {
        app.contact_received_by(&lead_gen, id, &format!("C{id}"), "alpha")
            .await;
    }
    let start: DateTime<Utc> = "2024-03-07T00:00:00Z".parse().unwrap();
    let mut rng = Rng(0x5eed_f00d);
    let mut kept = Vec::new();
    for i in 0..48 {
        let currency = rng.below(4) as usize;
        let (code, places, _) = CURRENCIES[currency];
        let at = start + Duration::seconds(rng.below(7 * 86_400) as i64);
        let minor = 1 + rng.below(10u64.pow(places + 3)) as i64;
        let body = json!({
            "contact_id": 1 + i % 4,
            "converted_by": "agent",
            "conversion_type": "sale",
            "conversion_value": decimal(minor, places),
            "currency": code,
            "converted_at": at.to_rfc3339(),
        });
        let logged = app.log_conversion(&ws, body).await;
        let id = logged["id"].as_str().unwrap().to_owned();
        let path = format!("/conversions/{id}/adjustments");
        match rng.below(8) {
            0 => {
                let body = json!({ "action": "retract", "reason": "cancelled" });
                expect_json(app.post_json(&path, &ws, &body).await, 201).await;
            }
            1 => {
                let restated = minor + 1;
                let body = json!({ "action": "restate", "reason": "fixed",
                                   "conversion_value": decimal(restated, places) });
                expect_json(app.post_json(&path, &ws, &body).await, 201).await;
                kept.push(Sale {
                    at,
                    currency,
                    minor: restated,
                });
            }
            _ => kept.push(Sale {
                at,
                currency,
                minor,
            }),
        }
    }
    kept
}

/// Per local day: conversions, each currency's exact total, and the converted total in
/// cents (exact in 10⁻⁴ cents, rounded once half to even), or null while BHD is in it.
fn expected(sales: &[Sale], zone: Tz) -> BTreeMap<String, (u64, BTreeMap<String, String>, Value)> {
    let switch: NaiveDate = "2024-03-10".parse().unwrap();
    let mut days = Sums::new();
    for s in sales {
        let day = s.at.with_timezone(&zone).date_naive().to_string();
        let (code, places, rates) = CURRENCIES[s.currency];
        let entry = days.entry(day).or_default();
        entry.0 += 1;
        *entry.1.entry(code).or_default() += s.minor;
        match rates {
            // minor × rate×10⁴ × 10^(2 − places) = 10⁻⁴ cents.
            Some((before, after)) => {
                let rate = if s.at.date_naive() < switch {
                    before
                } else {
                    after
                };
                entry.2 += i128::from(s.minor) * rate * 10_i128.pow(2) / 10_i128.pow(places);
            }
            None => entry.3 = true,
        }
    }
    days.into_iter()
        .map(|(day, (n, by, exact, missing))| {
            let by = by
                .into_iter()
                .map(|(code, minor)| {
                    let places = CURRENCIES.iter().find(|c| c.0 == code).unwrap().1;
                    (code.to_owned(), decimal(minor, places))
                })
                .collect();
            let total = if missing {
                Value::Null
            } else {
                let (q, r) = (exact / 10_000, exact % 10_000);
                let cents = if r > 5_000 || (r == 5_000 && q % 2 == 1) {
                    q + 1
                } else {
                    q
                };
                json!(decimal(cents as i64, 2))
            };
            (day, (n, by, total))
        })
        .collect()
}

const STATS: &str = r#"
query($filter: ConversionFilter) {
  conversionStats(filter: $filter, groupBy: [DAY], reportingCurrency: "USD") {
    fromRollups missingRates
    groups { period conversions totalValue byCurrency { currency totalValue } }
  }
}"#;

async fn days(
    app: &TestApp,
    filter: Value,
) -> (
    BTreeMap<String, (u64, BTreeMap<String, String>, Value)>,
    bool,
) {
    let data = app
        .graphql_data(&app.admin, STATS, json!({ "filter": filter }))
        .await;
    let stats = &data["conversionStats"];
    assert_eq!(stats["missingRates"], json!(["BHD"]), "{stats}");
    let groups = stats["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let by = g["byCurrency"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["currency"].as_str().unwrap().to_owned(),
                        c["totalValue"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            (
                g["period"].as_str().unwrap().to_owned(),
                (
                    g["conversions"].as_u64().unwrap(),
                    by,
                    g["totalValue"].clone(),
                ),
            )
        })
        .collect();
    (groups, stats["fromRollups"].as_bool().unwrap())
}

async fn rollups_and_rows_agree_with_a_direct_computation_in_every_currency() {
    // Arrange
    let app = spawn_app_with(&["--analytics-time-zones", &ZONES.join(",")]).await;
    let sales = history(&app).await;

    for zone in ZONES {
        // Act
        let (rolled, from_rollups) = days(&app, json!({ "timeZone": zone })).await;
        let not_whole_days = json!({ "timeZone": zone, "fromDate": "2024-03-01T00:00:01Z" });
        let (rows, from_rows) = days(&app, not_whole_days).await;

        // Assert
        assert!(from_rollups && !from_rows, "{zone}");
        let want = expected(&sales, zone.parse().unwrap());
        assert_eq!(rolled, want, "{zone}: rollups");
        assert_eq!(rows, want, "{zone}: rows");
    }
}

crate::backend::on_both_backends!(
    rollups_and_rows_agree_with_a_direct_computation_in_every_currency
);
