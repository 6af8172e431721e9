//! The list of every series convio reports (besides the `process_*` ones): name, type,
//! labels and help text. The registry describes each from here; docs/operations.md lists the
//! same, and a unit test keeps the two in step.

/// What a series is, for its `# TYPE` line and the docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One series: its name, type, label names and `# HELP` text.
#[derive(Clone, Copy, Debug)]
pub struct Series {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn series(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
) -> Series {
    Series {
        name,
        kind,
        labels,
        help,
    }
}

use Kind::{Counter, Gauge, Histogram};

/// Every series, in the order docs/operations.md lists them.
#[rustfmt::skip]
pub const SERIES: &[Series] = &[
    series("convio_build_info", Gauge, &["version"],
        "Always 1; the label names the running version."),
    series("convio_http_requests_total", Counter, &["route", "method", "status"],
        "HTTP requests answered, by route template, method and status class (2xx, 4xx, ...)."),
    series("convio_http_request_duration_seconds", Histogram, &["route", "method", "status"],
        "Time from a request's arrival to its response's head, by route template, method and status class."),
    series("convio_http_requests_in_flight", Gauge, &[],
        "HTTP requests being served now."),
    series("convio_graphql_operations_total", Counter, &["operation", "transport", "code"],
        "GraphQL operations, by type (query, mutation, subscription, unknown), transport (http, websocket) and the code of their first error (OK when none)."),
    series("convio_graphql_operation_duration_seconds", Histogram, &["operation", "transport"],
        "Time to execute a GraphQL query or mutation (subscriptions are not timed)."),
    series("convio_websocket_connections", Gauge, &[],
        "WebSocket connections open now."),
    series("convio_websocket_connections_total", Counter, &[],
        "WebSocket connections opened since start."),
    series("convio_feed_subscribers", Gauge, &[],
        "Live conversionFeed subscriptions on this node."),
    series("convio_feed_events_published_total", Counter, &[],
        "Feed events this node's pump passed: read from the database and published to its subscribers, or passed over unread while it had none."),
    series("convio_feed_deliveries_total", Counter, &[],
        "Feed events delivered to a subscriber (one per subscriber that receives it)."),
    series("convio_feed_delivery_seconds", Histogram, &[],
        "Time from a conversion's write to its delivery to a subscriber."),
    series("convio_feed_lag_notices_total", Counter, &[],
        "Times a subscriber fell behind and was told how many events it missed."),
    series("convio_feed_events_missed_total", Counter, &[],
        "Events lagging subscribers missed (they re-read them with the conversions query)."),
    series("convio_feed_pump_last_run_timestamp_seconds", Gauge, &[],
        "When the feed pump last finished reading the feed (Unix time)."),
    series("convio_feed_listener_connected", Gauge, &[],
        "PostgreSQL only: 1 while this node LISTENs for other nodes' feed events, else 0."),
    series("convio_db_statements_total", Counter, &[],
        "SQL statements executed since start."),
    series("convio_db_statement_errors_total", Counter, &[],
        "SQL statements that returned an error."),
    series("convio_db_statement_duration_seconds", Histogram, &["statement"],
        "SQL statement latency, by kind (select, insert, update, delete, other)."),
    series("convio_db_pool_connections", Gauge, &["state"],
        "Pooled database connections, by state (idle, in_use)."),
    series("convio_db_pool_max_connections", Gauge, &[],
        "Most connections the pool may open (--db-max-connections)."),
    series("convio_db_up", Gauge, &[],
        "1 when the last database probe (each scrape and each /healthz) got an answer, else 0."),
    series("convio_db_probe_failures_total", Counter, &["reason"],
        "Database probes that failed, by reason (error: the connection failed; timeout: no answer within the probe's deadline)."),
    series("convio_ingest_queue_depth", Gauge, &[],
        "Conversions waiting for the group-commit writer."),
    series("convio_ingest_group_size", Histogram, &[],
        "Conversions committed together per group commit."),
    series("convio_analytics_cache_requests_total", Counter, &["cache", "result"],
        "Analytics cache lookups, by cache (analytics, stats) and result (hit, miss)."),
    series("convio_conversions_total", Counter, &["conversion_type"],
        "Conversions logged (committed; idempotent replays not counted), by conversion type (listed in --metrics-conversion-types, else other)."),
    series("convio_conversion_value_minor_units_total", Counter, &["conversion_type"],
        "Sum of logged conversions' values, in minor units of --currency (cents for USD), by conversion type."),
    series("convio_contacts_received_total", Counter, &[],
        "Contacts received by a workspace for the first time (the denominator of conversion rates)."),
    series("convio_rate_limited_total", Counter, &[],
        "Requests and WebSocket operations refused because their workspace used up its hourly limit."),
    series("convio_webhook_deliveries_total", Counter, &["outcome"],
        "Webhook delivery attempts, by outcome (delivered; pending: failed, to be retried; dead: failed and given up)."),
    series("convio_auth_failures_total", Counter, &["credential", "transport"],
        "Failed authentication attempts (unknown, revoked or expired credentials), by credential kind and transport."),
    series("convio_auth_throttled_total", Counter, &[],
        "Requests and WebSocket upgrades refused with 429 because their client address made too many failed authentication attempts."),
];

#[cfg(test)]
mod tests {
    use super::SERIES;

    /// The alerts and the dashboard read only series convio serves (or the recording rules
    /// made of them): a renamed series cannot leave them silently empty.
    #[test]
    fn the_alerts_and_the_dashboard_name_only_real_series() {
        let known = |name: &str| {
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            SERIES.iter().any(|s| s.name == name || s.name == base)
        };
        for (file, text) in [
            (
                "alerts.yml",
                include_str!("../../deploy/prometheus/alerts.yml"),
            ),
            (
                "convio.json",
                include_str!("../../deploy/grafana/convio.json"),
            ),
        ] {
            let mut rest = text;
            while let Some(at) = rest.find("convio_") {
                let tail = &rest[at..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                    .unwrap_or(tail.len());
                let name = &tail[..end];
                // `job:convio_…:rate5m` and the like are recording rules of alerts.yml.
                let recorded = rest[..at].ends_with(':');
                assert!(
                    recorded || known(name),
                    "{file} names an unknown series: {name}"
                );
                rest = &tail[end..];
            }
        }
    }

    /// docs/operations.md names every series with its type and labels, as listed here.
    #[test]
    fn the_operations_guide_lists_every_series() {
        let guide = include_str!("../../docs/operations.md");
        for series in SERIES {
            let kind = format!("{:?}", series.kind).to_lowercase();
            let labels = series
                .labels
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let row = format!("| `{}` | {kind} | {labels} |", series.name);
            assert!(
                guide.contains(&row),
                "docs/operations.md lacks the row: {row}"
            );
        }
    }
}
