//! [`Metrics`]: one server's Prometheus registry, and a method per thing worth counting, so a
//! call site is one line and every name, label and bucket is decided here.
//!
//! Each server owns its recorder; the process-wide one of the `metrics` crate is never
//! installed, so servers started in one process (the tests) keep their own counts. Handles
//! of unlabelled series are registered once, at construction, so every series is on
//! `/metrics` from the first scrape (at 0), and counting is an atomic add.

use super::labels::{self, ConversionTypeLabels};
use super::series::{Kind, SERIES};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Latency buckets, in seconds: dense around the plan's 200 ms p95 target (§12), so both
/// "p95 above 200 ms" and "share of requests within 200 ms" are read off exact bucket edges.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Conversions per group commit: powers of two up to the writer's largest group (512).
pub const GROUP_SIZE_BUCKETS: [f64; 10] =
    [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

const METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// Counters of one cache: a hit or a miss per lookup.
#[derive(Clone, Debug)]
pub struct CacheCounters {
    hits: Counter,
    misses: Counter,
}

impl CacheCounters {
    pub fn hit(&self) {
        self.hits.increment(1);
    }

    pub fn miss(&self) {
        self.misses.increment(1);
    }
}

impl Default for CacheCounters {
    /// Counting nowhere: for caches built before the server's metrics exist.
    fn default() -> Self {
        CacheCounters {
            hits: Counter::noop(),
            misses: Counter::noop(),
        }
    }
}

/// An open WebSocket connection, counted until dropped.
pub struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Figures read at scrape time, from where they live, rather than counted as they change.
#[derive(Clone, Debug, Default)]
pub struct Scrape {
    pub feed_subscribers: usize,
    pub ingest_waiting: usize,
    pub pool: PoolUse,
    /// `(credential, transport, failures)`: the failed-authentication limiter's own counts.
    pub auth_failures: Vec<(&'static str, &'static str, u64)>,
    pub auth_throttled: u64,
}

/// The database pool now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolUse {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// One server's metrics. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    process: metrics_process::Collector,
    conversion_types: ConversionTypeLabels,
    /// By conversion type label: (conversions, value).
    conversions: HashMap<String, (Counter, Counter)>,
    http_in_flight: Gauge,
    db_statements: Counter,
    db_statement_errors: Counter,
    /// By `labels::statement_kind`.
    db_statement_seconds: HashMap<&'static str, Histogram>,
    db_up: Gauge,
    websocket_open: Gauge,
    websocket_opened: Counter,
    feed_published: Counter,
    feed_deliveries: Counter,
    feed_delivery_seconds: Histogram,
    feed_lag_notices: Counter,
    feed_missed: Counter,
    feed_pump_last_run: Gauge,
    /// The pump's last run, in milliseconds since the epoch (0: never), for `/healthz`.
    feed_pump_last_run_ms: AtomicI64,
    ingest_group_size: Histogram,
    contacts_received: Counter,
    rate_limited: Counter,
    /// By outcome: `delivered`, `pending` (failed, to be retried), `dead`.
    webhook_attempts: HashMap<&'static str, Counter>,
    pub(super) health: super::health::HealthState,
}

impl Default for Metrics {
    /// Conversion types `sale`, `appointment` and `qualified` labelled (the plan's own).
    fn default() -> Self {
        let names = ["sale", "appointment", "qualified"].map(str::to_owned);
        Metrics::new(ConversionTypeLabels::parse(&names).unwrap_or_default())
    }
}

impl Metrics {
    /// A fresh registry; `conversion_types` are the types labelled by name.
    pub fn new(conversion_types: ConversionTypeLabels) -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("convio_ingest_group_size".into()),
                    &GROUP_SIZE_BUCKETS,
                )
            })
            // Both lists are constant and non-empty, the only way these can fail.
            .unwrap_or_default()
            .build_recorder();
        for series in SERIES {
            let (name, help) = (KeyName::from_const_str(series.name), series.help.into());
            match series.kind {
                Kind::Counter => recorder.describe_counter(name, None, help),
                Kind::Gauge => recorder.describe_gauge(name, None, help),
                Kind::Histogram => recorder.describe_histogram(name, None, help),
            }
        }
        let process = metrics_process::Collector::default();
        metrics::with_local_recorder(&recorder, || process.describe());
        let counter =
            |name: &'static str| recorder.register_counter(&Key::from_static_name(name), &METADATA);
        let gauge =
            |name: &'static str| recorder.register_gauge(&Key::from_static_name(name), &METADATA);
        let histogram = |name: &'static str| {
            recorder.register_histogram(&Key::from_static_name(name), &METADATA)
        };
        let labelled = |name: &'static str, pairs: &[(&'static str, &str)]| {
            let labels: Vec<Label> = pairs
                .iter()
                .map(|(k, v)| Label::new(*k, (*v).to_owned()))
                .collect();
            Key::from_parts(name, labels)
        };
        recorder
            .register_gauge(
                &labelled(
                    "convio_build_info",
                    &[("version", env!("CARGO_PKG_VERSION"))],
                ),
                &METADATA,
            )
            .set(1.0);
        let conversions = conversion_types
            .all()
            .map(|label| {
                let key = |name| labelled(name, &[("conversion_type", label)]);
                let count = recorder.register_counter(&key("convio_conversions_total"), &METADATA);
                let value = recorder
                    .register_counter(&key("convio_conversion_value_minor_units_total"), &METADATA);
                (label.to_owned(), (count, value))
            })
            .collect();
        let db_statement_seconds = ["select", "insert", "update", "delete", "other"]
            .into_iter()
            .map(|kind| {
                let key = labelled(
                    "convio_db_statement_duration_seconds",
                    &[("statement", kind)],
                );
                (kind, recorder.register_histogram(&key, &METADATA))
            })
            .collect();
        for reason in ["error", "timeout"] {
            let key = labelled("convio_db_probe_failures_total", &[("reason", reason)]);
            // Registered now so that both reasons are on /metrics (at 0) before any failure.
            let _ = recorder.register_counter(&key, &METADATA);
        }
        let webhook_attempts = ["delivered", "pending", "dead"]
            .into_iter()
            .map(|outcome| {
                let key = labelled("convio_webhook_deliveries_total", &[("outcome", outcome)]);
                (outcome, recorder.register_counter(&key, &METADATA))
            })
            .collect();
        let inner = Inner {
            webhook_attempts,
            http_in_flight: gauge("convio_http_requests_in_flight"),
            db_statements: counter("convio_db_statements_total"),
            db_statement_errors: counter("convio_db_statement_errors_total"),
            db_statement_seconds,
            db_up: gauge("convio_db_up"),
            websocket_open: gauge("convio_websocket_connections"),
            websocket_opened: counter("convio_websocket_connections_total"),
            feed_published: counter("convio_feed_events_published_total"),
            feed_deliveries: counter("convio_feed_deliveries_total"),
            feed_delivery_seconds: histogram("convio_feed_delivery_seconds"),
            feed_lag_notices: counter("convio_feed_lag_notices_total"),
            feed_missed: counter("convio_feed_events_missed_total"),
            feed_pump_last_run: gauge("convio_feed_pump_last_run_timestamp_seconds"),
            feed_pump_last_run_ms: AtomicI64::new(0),
            ingest_group_size: histogram("convio_ingest_group_size"),
            contacts_received: counter("convio_contacts_received_total"),
            rate_limited: counter("convio_rate_limited_total"),
            conversions,
            conversion_types,
            process,
            handle: recorder.handle(),
            health: super::health::HealthState::default(),
            recorder,
        };
        Metrics {
            inner: Arc::new(inner),
        }
    }

    fn register_counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        self.inner
            .recorder
            .register_counter(&Key::from_parts(name, labels), &METADATA)
    }

    fn register_histogram(&self, name: &'static str, labels: Vec<Label>) -> Histogram {
        self.inner
            .recorder
            .register_histogram(&Key::from_parts(name, labels), &METADATA)
    }

    /// The Prometheus text (format 0.0.4) of every series, after reading `scrape`'s figures
    /// and the process's CPU and memory.
    pub fn render(&self, scrape: &Scrape) -> String {
        let inner = &self.inner;
        let gauge = |name: &'static str, labels: Vec<Label>| {
            inner
                .recorder
                .register_gauge(&Key::from_parts(name, labels), &METADATA)
        };
        gauge("convio_feed_subscribers", vec![]).set(scrape.feed_subscribers as f64);
        gauge("convio_ingest_queue_depth", vec![]).set(scrape.ingest_waiting as f64);
        let PoolUse { size, idle, max } = scrape.pool;
        gauge("convio_db_pool_max_connections", vec![]).set(f64::from(max));
        gauge(
            "convio_db_pool_connections",
            vec![Label::from_static_parts("state", "idle")],
        )
        .set(f64::from(idle));
        gauge(
            "convio_db_pool_connections",
            vec![Label::from_static_parts("state", "in_use")],
        )
        .set(f64::from(size.saturating_sub(idle)));
        for (credential, transport, count) in &scrape.auth_failures {
            let labels = vec![
                Label::from_static_parts("credential", credential),
                Label::from_static_parts("transport", transport),
            ];
            self.register_counter("convio_auth_failures_total", labels)
                .absolute(*count);
        }
        self.register_counter("convio_auth_throttled_total", vec![])
            .absolute(scrape.auth_throttled);
        metrics::with_local_recorder(&inner.recorder, || inner.process.collect());
        inner.handle.render()
    }

    // --- HTTP ---------------------------------------------------------------------------------

    /// A request being served, until the returned guard is dropped.
    pub fn http_in_flight(&self) -> InFlight {
        self.inner.http_in_flight.increment(1.0);
        InFlight(self.inner.http_in_flight.clone())
    }

    /// One answered request; `route` is a route template (or `labels::UNMATCHED_ROUTE`).
    pub fn http_request(
        &self,
        route: &str,
        method: &'static str,
        status: StatusCode,
        took: Duration,
    ) {
        let labels = || {
            vec![
                Label::new("route", route.to_owned()),
                Label::from_static_parts("method", method),
                Label::from_static_parts("status", labels::status_class(status)),
            ]
        };
        self.register_counter("convio_http_requests_total", labels())
            .increment(1);
        self.register_histogram("convio_http_request_duration_seconds", labels())
            .record(took.as_secs_f64());
    }

    // --- GraphQL and WebSocket ----------------------------------------------------------------

    /// One GraphQL operation: its type and transport (fixed sets), the code of its first error
    /// (or `labels::NO_ERROR`), and how long it took when it was a query or mutation.
    pub fn graphql_operation(
        &self,
        operation: &'static str,
        transport: &'static str,
        code: &str,
        took: Option<Duration>,
    ) {
        let labels = vec![
            Label::from_static_parts("operation", operation),
            Label::from_static_parts("transport", transport),
            Label::new("code", labels::error_code(code).to_owned()),
        ];
        self.register_counter("convio_graphql_operations_total", labels)
            .increment(1);
        if let Some(took) = took {
            let labels = vec![
                Label::from_static_parts("operation", operation),
                Label::from_static_parts("transport", transport),
            ];
            self.register_histogram("convio_graphql_operation_duration_seconds", labels)
                .record(took.as_secs_f64());
        }
    }

    /// A WebSocket connection opened; it counts as open until the guard is dropped.
    pub fn websocket_opened(&self) -> OpenConnection {
        self.inner.websocket_opened.increment(1);
        self.inner.websocket_open.increment(1.0);
        OpenConnection(self.inner.websocket_open.clone())
    }

    // --- Database -----------------------------------------------------------------------------

    /// One executed statement (sea-orm's metric callback).
    pub fn db_statement(&self, info: &sea_orm::metric::Info<'_>) {
        let inner = &self.inner;
        inner.db_statements.increment(1);
        if info.failed {
            inner.db_statement_errors.increment(1);
        }
        let kind = labels::statement_kind(&info.statement.sql);
        if let Some(histogram) = inner.db_statement_seconds.get(kind) {
            histogram.record(info.elapsed.as_secs_f64());
        }
    }

    /// The outcome of a database probe: `None` when it answered, else why not.
    pub fn db_probe(&self, failure: Option<ProbeFailure>) {
        self.inner
            .db_up
            .set(if failure.is_none() { 1.0 } else { 0.0 });
        if let Some(failure) = failure {
            let reason = match failure {
                ProbeFailure::Error => "error",
                ProbeFailure::Timeout => "timeout",
            };
            let labels = vec![Label::from_static_parts("reason", reason)];
            self.register_counter("convio_db_probe_failures_total", labels)
                .increment(1);
        }
    }

    // --- Service ------------------------------------------------------------------------------

    /// The hit and miss counters of one analytics cache (`analytics` or `stats`).
    pub fn cache_counters(&self, cache: &'static str) -> CacheCounters {
        let counter = |result: &'static str| {
            let labels = vec![
                Label::from_static_parts("cache", cache),
                Label::from_static_parts("result", result),
            ];
            self.register_counter("convio_analytics_cache_requests_total", labels)
        };
        CacheCounters {
            hits: counter("hit"),
            misses: counter("miss"),
        }
    }

    /// A group commit of `size` conversions.
    pub fn ingest_group(&self, size: usize) {
        self.inner.ingest_group_size.record(size as f64);
    }

    /// A conversion durably logged: its type (labelled if listed, else `other`) and value.
    pub fn conversion_logged(&self, conversion_type: &str, value_minor: Option<i64>) {
        let label = self.inner.conversion_types.label(conversion_type);
        if let Some((count, value)) = self.inner.conversions.get(label) {
            count.increment(1);
            value.increment(value_minor.and_then(|v| u64::try_from(v).ok()).unwrap_or(0));
        }
    }

    /// A contact received by a workspace for the first time.
    pub fn contact_received(&self) {
        self.inner.contacts_received.increment(1);
    }

    /// A request or operation refused by its workspace's hourly limit.
    pub fn rate_limited(&self) {
        self.inner.rate_limited.increment(1);
    }

    /// A webhook delivery attempt, by what became of the delivery: `delivered`, `pending`
    /// (failed, to be retried) or `dead`.
    pub fn webhook_attempt(&self, outcome: &str) {
        if let Some(counter) = self.inner.webhook_attempts.get(outcome) {
            counter.increment(1);
        }
    }

    // --- Feed ---------------------------------------------------------------------------------

    /// The pump published `events` events.
    pub fn feed_published(&self, events: usize) {
        self.inner.feed_published.increment(events as u64);
    }

    /// The pump finished a pass over the feed: it is alive.
    pub fn feed_pump_ran(&self) {
        let now = Utc::now();
        self.inner
            .feed_pump_last_run_ms
            .store(now.timestamp_millis(), Ordering::Relaxed);
        self.inner
            .feed_pump_last_run
            .set(now.timestamp_millis() as f64 / 1000.0);
    }

    /// What `/healthz` remembers between polls.
    pub(super) fn health_state(&self) -> &super::health::HealthState {
        &self.inner.health
    }

    /// How long ago the pump last finished a pass; `None` before its first.
    pub fn feed_pump_idle_for(&self) -> Option<Duration> {
        let last = self.inner.feed_pump_last_run_ms.load(Ordering::Relaxed);
        (last > 0).then(|| {
            let ms = Utc::now().timestamp_millis().saturating_sub(last);
            Duration::from_millis(u64::try_from(ms).unwrap_or(0))
        })
    }

    /// PostgreSQL's LISTEN connection for the feed went up (`true`) or down. Registered on
    /// first use, so a SQLite server does not report a listener it cannot have.
    pub fn feed_listener(&self, connected: bool) {
        let gauge = self.inner.recorder.register_gauge(
            &Key::from_static_name("convio_feed_listener_connected"),
            &METADATA,
        );
        gauge.set(if connected { 1.0 } else { 0.0 });
    }

    /// An event delivered to a subscriber; `written_at` is when its conversion was written.
    pub fn feed_delivered(&self, written_at: DateTime<Utc>) {
        self.inner.feed_deliveries.increment(1);
        let took = (Utc::now() - written_at).to_std().unwrap_or_default();
        self.inner.feed_delivery_seconds.record(took.as_secs_f64());
    }

    /// A subscriber fell behind and is told it missed `missed` events.
    pub fn feed_lagged(&self, missed: u64) {
        self.inner.feed_lag_notices.increment(1);
        self.inner.feed_missed.increment(missed);
    }
}

/// Why a database probe failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeFailure {
    /// The database answered with an error, or the connection failed.
    Error,
    /// No answer within the probe's deadline.
    Timeout,
}

/// A request in flight, until dropped.
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    }

    #[test]
    fn every_series_is_described_and_unlabelled_ones_start_at_zero() {
        let metrics = Metrics::default();
        let text = metrics.render(&Scrape::default());
        for series in SERIES {
            // Registered on first use, on PostgreSQL only.
            if series.name == "convio_feed_listener_connected" || !series.labels.is_empty() {
                continue;
            }
            let kind = format!("{:?}", series.kind).to_lowercase();
            let wanted = format!("# TYPE {} {kind}\n", series.name);
            assert!(text.contains(&wanted), "{} missing:\n{text}", series.name);
        }
        assert_eq!(value(&text, "convio_db_statements_total"), Some(0.0));
        assert!(text.contains("process_cpu_seconds_total"), "{text}");
    }

    #[test]
    fn histograms_have_buckets_at_200_ms() {
        let metrics = Metrics::default();
        metrics.http_request(
            "/conversions",
            "GET",
            StatusCode::OK,
            Duration::from_millis(150),
        );
        metrics.http_request(
            "/conversions",
            "GET",
            StatusCode::OK,
            Duration::from_millis(250),
        );
        let text = metrics.render(&Scrape::default());
        let bucket = |le: &str| {
            value(
                &text,
                &format!(
                    "convio_http_request_duration_seconds_bucket{{route=\"/conversions\",method=\"GET\",status=\"2xx\",le=\"{le}\"}}"
                ),
            )
        };
        assert_eq!(bucket("0.2"), Some(1.0), "{text}");
        assert_eq!(bucket("0.25"), Some(2.0), "{text}");
        assert_eq!(bucket("+Inf"), Some(2.0), "{text}");
    }

    #[test]
    fn conversion_types_beyond_the_list_are_other() {
        let metrics = Metrics::default();
        for i in 0..100 {
            metrics.conversion_logged(&format!("type_{i}"), Some(5));
        }
        metrics.conversion_logged("sale", Some(2500));
        let text = metrics.render(&Scrape::default());
        let series =
            |name: &str, t: &str| value(&text, &format!("{name}{{conversion_type=\"{t}\"}}"));
        assert_eq!(series("convio_conversions_total", "other"), Some(100.0));
        assert_eq!(
            series("convio_conversion_value_minor_units_total", "other"),
            Some(500.0)
        );
        assert_eq!(series("convio_conversions_total", "sale"), Some(1.0));
        assert_eq!(
            text.matches("convio_conversions_total{").count(),
            4,
            "{text}"
        );
    }
}
