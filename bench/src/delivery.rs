//! Feed delivery accounting. The writer keeps a ledger of the conversions it logged (when it
//! sent each, for which workspace); each subscriber keeps a log of what it received and when.
//! Joined at the end, they give send-to-receipt latency, createdAt-to-receipt latency, and the
//! events each subscriber should have seen but never did.

use crate::client::error_code;
use crate::stats::{Latency, latency_histogram, record};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// A conversion the writer logged inside the measured window (its 2xx arrived).
pub struct Ack {
    /// When its request was sent: the server commits after this and publishes after commit.
    pub sent: Instant,
    /// Index of the workspace it was logged for.
    pub tenant: usize,
}

pub type Ledger = HashMap<Uuid, Ack>;

pub struct Receipt {
    id: Uuid,
    at: Instant,
    /// Receipt wall clock minus the event's `createdAt`: the server stamps it inside the
    /// write, so this is close to commit-to-receipt (same machine, same clock).
    since_created: Option<Duration>,
}

/// What one subscriber saw.
pub struct SubscriberLog {
    /// The workspace it subscribed as; `None` for the admin, who sees every workspace.
    scope: Option<usize>,
    receipts: Vec<Receipt>,
    lag_notices: u64,
    missed_reported: u64,
    errors: BTreeMap<String, u64>,
}

impl SubscriberLog {
    pub fn new(scope: Option<usize>) -> SubscriberLog {
        SubscriberLog {
            scope,
            receipts: Vec::new(),
            lag_notices: 0,
            missed_reported: 0,
            errors: BTreeMap::new(),
        }
    }

    /// Takes a `next` payload received at `at` (`now` on the wall clock): an event, or errors
    /// such as the server's notice that this subscriber fell behind.
    pub fn next(&mut self, payload: &Value, at: Instant, now: DateTime<Utc>) {
        if let Some(errors) = payload.get("errors").and_then(Value::as_array) {
            for error in errors {
                self.server_error(error);
            }
            return;
        }
        let conversion = &payload["data"]["conversionFeed"]["conversion"];
        let Some(id) = conversion["id"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
        else {
            self.error("feed: event without a conversion id".into());
            return;
        };
        let since_created = conversion["createdAt"]
            .as_str()
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
            .and_then(|created| (now - created.with_timezone(&Utc)).to_std().ok());
        self.receipts.push(Receipt {
            id,
            at,
            since_created,
        });
    }

    fn server_error(&mut self, error: &Value) {
        let message = error["message"].as_str().unwrap_or_default();
        match missed_count(message) {
            Some(missed) => {
                self.lag_notices += 1;
                self.missed_reported += missed;
            }
            None => self.error(format!(
                "feed: next error {}",
                error_code(error.get("extensions"))
            )),
        }
    }

    pub fn error(&mut self, key: String) {
        *self.errors.entry(key).or_default() += 1;
    }
}

/// The count in the server's lag notice, "… fell behind and missed 12 events; …".
fn missed_count(message: &str) -> Option<u64> {
    let rest = message.split_once("fell behind and missed ")?.1;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[derive(Debug, Default, Serialize)]
pub struct FeedReport {
    pub subscribers: usize,
    pub connected: usize,
    /// Events the subscribers should have received, summed over subscribers.
    pub expected: u64,
    pub delivered: u64,
    pub lost: u64,
    pub subscribers_with_loss: usize,
    pub duplicates: u64,
    /// Times the server told a subscriber it fell behind, and the events it said were missed.
    pub lag_notices: u64,
    pub missed_reported: u64,
    pub send_to_receipt: Option<Latency>,
    pub created_to_receipt: Option<Latency>,
    pub errors: BTreeMap<String, u64>,
}

/// Joins the writer's ledger with the subscribers' logs. Events not in the ledger (logged
/// during warm-up, by other clients, or whose 2xx never arrived) are neither expected nor
/// measured.
pub fn account(
    ledger: &Ledger,
    logs: &[SubscriberLog],
    subscribers: usize,
    connect_errors: BTreeMap<String, u64>,
) -> FeedReport {
    let mut report = FeedReport {
        subscribers,
        connected: logs.len(),
        errors: connect_errors,
        ..FeedReport::default()
    };
    let mut send_to_receipt = latency_histogram();
    let mut created_to_receipt = latency_histogram();
    for log in logs {
        let expected = ledger
            .values()
            .filter(|ack| log.scope.is_none_or(|s| s == ack.tenant))
            .count() as u64;
        let mut seen = HashSet::with_capacity(log.receipts.len());
        for receipt in &log.receipts {
            let Some(ack) = ledger.get(&receipt.id) else {
                continue;
            };
            if !seen.insert(receipt.id) {
                report.duplicates += 1;
                continue;
            }
            // An event can arrive before its own 2xx does, never before its request was sent.
            record(
                &mut send_to_receipt,
                receipt.at.saturating_duration_since(ack.sent),
            );
            if let Some(lag) = receipt.since_created {
                record(&mut created_to_receipt, lag);
            }
        }
        let delivered = seen.len() as u64;
        report.expected += expected;
        report.delivered += delivered;
        report.lost += expected - delivered;
        report.subscribers_with_loss += usize::from(delivered < expected);
        report.lag_notices += log.lag_notices;
        report.missed_reported += log.missed_reported;
        for (key, n) in &log.errors {
            *report.errors.entry(key.clone()).or_default() += n;
        }
    }
    report.send_to_receipt = Latency::of(&send_to_receipt);
    report.created_to_receipt = Latency::of(&created_to_receipt);
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(id: Uuid) -> Value {
        json!({ "data": { "conversionFeed": { "conversion": {
            "id": id.to_string(), "createdAt": "2026-11-25T10:00:00.000000Z"
        } } } })
    }

    #[test]
    fn lost_duplicate_and_foreign_events_are_told_apart() {
        let t0 = Instant::now();
        let (a, b, c, foreign) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let ledger: Ledger = [(a, 0), (b, 0), (c, 1)]
            .into_iter()
            .map(|(id, tenant)| (id, Ack { sent: t0, tenant }))
            .collect();
        let now: DateTime<Utc> = "2026-11-25T10:00:00.002Z".parse().unwrap();
        let at = t0 + Duration::from_millis(3);

        // The admin sees every workspace: a arrives twice, b and c never, plus an unknown one.
        let mut admin = SubscriberLog::new(None);
        admin.next(&event(a), at, now);
        admin.next(&event(a), at, now);
        admin.next(&event(foreign), at, now);
        // Workspace 1's subscriber expects only c, and gets it.
        let mut tenant = SubscriberLog::new(Some(1));
        tenant.next(&event(c), at, now);

        let report = account(
            &ledger,
            &[admin, tenant],
            3,
            BTreeMap::from([("ws: connect".into(), 1)]),
        );
        assert_eq!(report.connected, 2);
        assert_eq!(report.expected, 3 + 1);
        assert_eq!(report.delivered, 2);
        assert_eq!(report.lost, 2);
        assert_eq!(report.subscribers_with_loss, 1);
        assert_eq!(report.duplicates, 1);
        assert_eq!(report.errors["ws: connect"], 1);
        let send = report.send_to_receipt.unwrap();
        assert_eq!(send.count, 2);
        assert!((3_000..=3_004).contains(&send.p50_us), "{send:?}");
        let created = report.created_to_receipt.unwrap();
        assert!((2_000..=2_003).contains(&created.max_us), "{created:?}");
    }

    #[test]
    fn lag_notices_and_other_errors_are_counted() {
        let mut log = SubscriberLog::new(None);
        let lag = json!({ "errors": [{
            "message": "the subscriber fell behind and missed 12 events; re-read them with the conversions query",
            "extensions": { "code": "CONFLICT" } }] });
        let other = json!({ "errors": [{ "message": "boom", "extensions": { "code": "INTERNAL_SERVER_ERROR" } }] });
        log.next(&lag, Instant::now(), Utc::now());
        log.next(&other, Instant::now(), Utc::now());
        log.next(&json!({ "data": null }), Instant::now(), Utc::now());
        assert_eq!((log.lag_notices, log.missed_reported), (1, 12));
        assert_eq!(log.errors["feed: next error INTERNAL_SERVER_ERROR"], 1);
        assert_eq!(log.errors["feed: event without a conversion id"], 1);
        assert!(log.receipts.is_empty());
    }
}
