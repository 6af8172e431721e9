//! Configuration: flags with environment fallbacks, read once at start.

use clap::Parser;
use std::net::SocketAddr;

#[derive(Clone, Parser)]
#[command(name = "convio", version, about = "Conversion tracking service")]
pub struct Config {
    /// Address to serve on. Port 0 picks a free port.
    #[arg(
        long,
        global = true,
        env = "CONVIO_BIND",
        default_value = "127.0.0.1:8080"
    )]
    pub bind: SocketAddr,

    /// SQLite (`sqlite://convio.db?mode=rwc`, the embedded default) or PostgreSQL
    /// (`postgres://user@host/db`).
    #[arg(
        long,
        global = true,
        env = "CONVIO_DATABASE_URL",
        default_value = "sqlite://convio.db?mode=rwc"
    )]
    pub database_url: String,

    /// Apply pending migrations at start. With `false`, a node refuses to start on a schema
    /// older than its code; run `convio migrate` as a deploy step instead.
    #[arg(long, global = true, env = "CONVIO_AUTO_MIGRATE", default_value_t = true, action = clap::ArgAction::Set)]
    pub auto_migrate: bool,

    /// Largest number of pooled database connections. On SQLite, write transactions run on
    /// one more connection of their own.
    #[arg(
        long,
        global = true,
        env = "CONVIO_DB_MAX_CONNECTIONS",
        default_value_t = 16
    )]
    pub db_max_connections: u32,

    /// Milliseconds a statement waits for a lock another connection or process holds
    /// (SQLite's busy timeout, PostgreSQL's `lock_timeout`); then the request is refused with
    /// 503 `DATABASE_BUSY` and `Retry-After`, nothing written.
    #[arg(
        long,
        global = true,
        env = "CONVIO_DB_LOCK_TIMEOUT_MS",
        default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub db_lock_timeout_ms: u64,

    /// The admin key. When unset, a key is generated on the first start of a fresh database
    /// and printed once; only its hash is stored.
    #[arg(long, global = true, env = "CONVIO_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,

    /// Secret for signing JWTs (HS256), at least 32 bytes. When unset, a random one is made at
    /// start: tokens then do not survive a restart and are valid on this node only.
    #[arg(long, global = true, env = "CONVIO_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Secrets that verify JWTs but no longer sign them, comma-separated `kid=secret` pairs,
    /// where `kid` is the key id the old secret's tokens carry (the first 8 hex digits of its
    /// SHA-256, logged at start). Keep one for a token lifetime after rotating `--jwt-secret`.
    #[arg(
        long,
        global = true,
        env = "CONVIO_JWT_PREVIOUS_SECRETS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub jwt_previous_secrets: Vec<String>,

    /// Pepper for storing API keys as HMAC-SHA256, at least 32 bytes; identical on every
    /// node. Unset (existing installs): new keys are stored as plain SHA-256, with a warning.
    #[arg(long, global = true, env = "CONVIO_KEY_PEPPER", hide_env_values = true)]
    pub key_pepper: Option<String>,

    /// Keys that encrypt sensitive custom values at rest (top-level `custom_data` /
    /// `custom_metadata` keys starting with `secret_`), comma-separated `kid=base64key`
    /// pairs of 32-byte keys, identical on every node. The first seals new values; all of
    /// them open old ones, so to rotate, put a new key first and keep the old ones listed.
    /// Unset: sensitive values are refused (422), never stored in plaintext.
    #[arg(
        long,
        global = true,
        env = "CONVIO_ENCRYPTION_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub encryption_keys: Vec<String>,

    /// How long a workspace's previous keys keep working after it rotates its key, seconds.
    #[arg(
        long,
        global = true,
        env = "CONVIO_KEY_ROTATION_GRACE_SECONDS",
        default_value_t = 86_400
    )]
    pub key_rotation_grace_seconds: u32,

    /// Lifetime of issued JWTs, in seconds.
    #[arg(
        long,
        global = true,
        env = "CONVIO_TOKEN_TTL_SECONDS",
        default_value_t = 900
    )]
    pub token_ttl_seconds: i64,

    /// The default ISO 4217 currency: of a conversion logged without one, of contacts' lifetime
    /// values, and of analytics asked without a reporting currency.
    #[arg(long, global = true, env = "CONVIO_CURRENCY", default_value = "USD")]
    pub currency: String,

    /// Events a slow feed subscriber may fall behind before it is told it lagged.
    #[arg(
        long,
        global = true,
        env = "CONVIO_FEED_BUFFER",
        default_value_t = 1024
    )]
    pub feed_buffer: usize,

    /// How long feed events stay replayable by `conversionFeed(after:)`, in seconds (default
    /// 7 days). Older events are deleted from `feed_events` (swept every tenth of this, at
    /// most hourly, by every node), and a cursor at one is refused with `CURSOR_EXPIRED`.
    #[arg(
        long,
        global = true,
        env = "CONVIO_FEED_RETENTION_SECONDS",
        default_value_t = 604_800,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub feed_retention_seconds: u64,

    /// Requests each workspace may make per clock hour (plan §5.1), unless its own
    /// `rate_limit_per_hour` says otherwise. 0 disables rate limiting. The admin key is never
    /// limited.
    #[arg(
        long,
        global = true,
        env = "CONVIO_RATE_LIMIT_PER_HOUR",
        default_value_t = 1000
    )]
    pub rate_limit_per_hour: u64,

    /// GDPR retention: erase the personal data of contacts created more than this many days
    /// ago (checked at start and hourly). 0 keeps personal data until erased on request.
    #[arg(
        long,
        global = true,
        env = "CONVIO_PERSONAL_DATA_RETENTION_DAYS",
        default_value_t = 0
    )]
    pub personal_data_retention_days: u32,

    /// IANA time zones whose analytics are served from daily rollups, comma-separated. Every
    /// write keeps a rollup row per zone; a zone not listed is computed from the rows (exact,
    /// slower). Set the same list on every node: a node builds a newly listed zone at start.
    #[arg(
        long,
        global = true,
        env = "CONVIO_ANALYTICS_TIME_ZONES",
        value_delimiter = ',',
        default_value = "UTC"
    )]
    pub analytics_time_zones: Vec<String>,

    /// Cache analytics answers (invalidated by every write that changes them, on any node).
    /// Off only to measure the uncached path.
    #[arg(long, global = true, env = "CONVIO_ANALYTICS_CACHE", default_value_t = true, action = clap::ArgAction::Set)]
    pub analytics_cache: bool,

    /// Most data rows an .xlsx export may hold; more get 422 suggesting CSV. Excel's sheet
    /// limit is 1,048,576 rows including the header; lower it only for tests.
    #[arg(
        long,
        global = true,
        env = "CONVIO_EXPORT_XLSX_MAX_ROWS",
        default_value_t = 1_048_575
    )]
    pub export_xlsx_max_rows: u64,

    /// Rows per database query while exporting; memory per export grows with it.
    #[arg(
        long,
        global = true,
        env = "CONVIO_EXPORT_PAGE_SIZE",
        default_value_t = 2000
    )]
    pub export_page_size: u64,

    /// Log lines as human-readable text, or as JSON (one object per line, for a log pipeline).
    /// Every line logged while serving a request carries its `request_id` (in JSON, under
    /// `span`). `RUST_LOG` still chooses what is logged.
    #[arg(
        long,
        global = true,
        env = "CONVIO_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,

    /// Conversion types counted under their own `conversion_type` label on `/metrics`
    /// (`convio_conversions_total`, `convio_conversion_value_minor_units_total`),
    /// comma-separated, at most 50; every other type is counted as `other`. Types are chosen
    /// by clients, so they are never labelled as they come: the series stay bounded.
    #[arg(
        long,
        global = true,
        env = "CONVIO_METRICS_CONVERSION_TYPES",
        value_delimiter = ',',
        default_value = "sale,appointment,qualified"
    )]
    pub metrics_conversion_types: Vec<String>,

    /// Limits and switches that protect the API from abusive clients.
    #[command(flatten)]
    pub hardening: Hardening,

    /// Where the audit chain's head is anchored, out of the database's reach.
    #[command(flatten)]
    pub audit_anchor: AuditAnchor,

    /// Outgoing webhooks: where they may go, and how failed deliveries are retried.
    #[command(flatten)]
    pub webhooks: Webhooks,
}

/// Outgoing webhooks (`service::webhooks`): the delivery worker's schedule and limits, and
/// which addresses endpoints may point at.
#[derive(Clone, Debug, clap::Args)]
pub struct Webhooks {
    /// Allow endpoints on loopback, private (RFC 1918, unique-local), link-local, CGNAT and
    /// other non-public addresses. Off: such endpoints are refused at registration and at
    /// every delivery (cloud metadata addresses included), so a workspace cannot make convio
    /// call into its own network. Turn on only where every workspace is trusted (tests, a
    /// private installation).
    #[arg(long = "webhook-allow-private-targets", global = true, env = "CONVIO_WEBHOOK_ALLOW_PRIVATE_TARGETS", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_private_targets: bool,

    /// First retry delay of a failed delivery, in milliseconds; each further retry waits
    /// twice as long (up to --webhook-retry-max-delay-ms), with random jitter of up to half.
    #[arg(
        long = "webhook-retry-base-ms",
        global = true,
        env = "CONVIO_WEBHOOK_RETRY_BASE_MS",
        default_value_t = 5_000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub retry_base_ms: u64,

    /// Longest wait between two attempts of a delivery, in milliseconds (default 10 hours).
    #[arg(
        long = "webhook-retry-max-delay-ms",
        global = true,
        env = "CONVIO_WEBHOOK_RETRY_MAX_DELAY_MS",
        default_value_t = 36_000_000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub retry_max_delay_ms: u64,

    /// How long a delivery is retried, in milliseconds from its event (default 24 hours): an
    /// attempt that fails after this makes it `dead` (the dead-letter state, redelivered only
    /// by hand).
    #[arg(
        long = "webhook-retry-for-ms",
        global = true,
        env = "CONVIO_WEBHOOK_RETRY_FOR_MS",
        default_value_t = 86_400_000
    )]
    pub retry_for_ms: u64,

    /// An endpoint whose every attempt failed for this long, in milliseconds (default 5
    /// days), is disabled with a notice; its pending deliveries become `dead`. Redelivering
    /// one of them enables it again.
    #[arg(
        long = "webhook-disable-after-ms",
        global = true,
        env = "CONVIO_WEBHOOK_DISABLE_AFTER_MS",
        default_value_t = 432_000_000
    )]
    pub disable_after_ms: u64,

    /// Time one attempt may take in all (resolving, connecting, sending, reading the
    /// answer), in milliseconds.
    #[arg(
        long = "webhook-timeout-ms",
        global = true,
        env = "CONVIO_WEBHOOK_TIMEOUT_MS",
        default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub timeout_ms: u64,

    /// Time to resolve an endpoint's host and connect to it, in milliseconds.
    #[arg(
        long = "webhook-connect-timeout-ms",
        global = true,
        env = "CONVIO_WEBHOOK_CONNECT_TIMEOUT_MS",
        default_value_t = 3_000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub connect_timeout_ms: u64,

    /// How often the delivery worker looks for due deliveries, in milliseconds; events
    /// written on this node wake it at once.
    #[arg(
        long = "webhook-poll-ms",
        global = true,
        env = "CONVIO_WEBHOOK_POLL_MS",
        default_value_t = 1_000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub poll_ms: u64,
}

/// The audit anchor (`service::audit`): the audit chain's head, signed with a key the
/// database does not hold, so that removing the newest entries is detected. The server
/// signs with these; `convio audit verify` checks with them.
#[derive(Clone, clap::Args)]
pub struct AuditAnchor {
    /// Secret (at least 32 bytes) that signs the audit chain's head (HMAC-SHA-256) in every
    /// write transaction; the same on every node. `convio audit verify` given the same key
    /// detects removed newest entries while the signed row survives; with --audit-anchor-file
    /// also when the row was removed too. Unset: no signed head, and a removed tail goes
    /// unnoticed.
    #[arg(
        long = "audit-anchor-key",
        global = true,
        env = "CONVIO_AUDIT_ANCHOR_KEY",
        hide_env_values = true
    )]
    pub key: Option<String>,

    /// A file the signed head is copied to as it moves (within a second, on every node that
    /// has it), for the operator to keep where the database's users cannot write; a node
    /// never moves it back. `convio audit verify` given it checks the chain still reaches
    /// it. Serving with it needs --audit-anchor-key.
    #[arg(
        long = "audit-anchor-file",
        global = true,
        env = "CONVIO_AUDIT_ANCHOR_FILE"
    )]
    pub file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for AuditAnchor {
    // Hand-written so that the key never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditAnchor")
            .field("key", &self.key.as_ref().map(|_| "<set>"))
            .field("file", &self.file)
            .finish()
    }
}

/// How log lines are written (`--log-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (the message and
    /// the event's fields), and `span`/`spans` (the request's, with its `request_id`).
    Json,
}

/// Limits on what one request or WebSocket connection may ask of the server, and the
/// production switch. Kept in one struct so the GraphQL and HTTP layers take just this.
#[derive(Clone, Debug, clap::Args)]
pub struct Hardening {
    /// Deepest GraphQL selection nesting accepted, fragments expanded; deeper documents are
    /// refused before they run (a cheap document must not be able to fan out into an
    /// expensive one). Introspection (`__schema`, `__type`) has its own fixed bound of 20
    /// levels, so schema tools work whatever this is.
    #[arg(
        long,
        global = true,
        env = "CONVIO_GRAPHQL_MAX_DEPTH",
        default_value_t = 12
    )]
    pub graphql_max_depth: usize,

    /// Largest GraphQL query complexity accepted: one point per field, and a connection
    /// (`conversions`, `contacts`, `auditLog`, `Contact.conversions`, `Contact.leads`) costs its
    /// page size (`first`, default 50) times its selection, so the limit bounds rows, not
    /// fields: the dashboard's largest document (200 feed rows) costs 2,600.
    #[arg(
        long,
        global = true,
        env = "CONVIO_GRAPHQL_MAX_COMPLEXITY",
        default_value_t = 5000
    )]
    pub graphql_max_complexity: usize,

    /// Most field aliases one GraphQL document may use: aliases let one small document ask
    /// for the same expensive field many times over.
    #[arg(
        long,
        global = true,
        env = "CONVIO_GRAPHQL_MAX_ALIASES",
        default_value_t = 30
    )]
    pub graphql_max_aliases: usize,

    /// Production mode: no GraphQL introspection, no "did you mean" field suggestions, and
    /// no GraphiQL page, so the API is not mapped out for strangers.
    #[arg(long, global = true, env = "CONVIO_PRODUCTION", default_value_t = false, action = clap::ArgAction::Set)]
    pub production: bool,

    /// Browser origins (e.g. `https://dash.example.com`) allowed to open `/graphql/ws`,
    /// comma-separated. Clients that send no `Origin` (non-browsers) and same-origin pages
    /// are always allowed; any other origin is refused with 403.
    #[arg(
        long,
        global = true,
        env = "CONVIO_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Seconds a WebSocket client has to send `connection_init` before it is closed (4408).
    #[arg(
        long,
        global = true,
        env = "CONVIO_WS_INIT_TIMEOUT_SECONDS",
        default_value_t = 10
    )]
    pub ws_init_timeout_seconds: u64,

    /// Most concurrent subscriptions one WebSocket connection may hold.
    #[arg(
        long,
        global = true,
        env = "CONVIO_WS_MAX_SUBSCRIPTIONS",
        default_value_t = 20
    )]
    pub ws_max_subscriptions: usize,

    /// Seconds between re-checks of a WebSocket connection's caller: once its key is revoked
    /// or expired, its workspace disabled or its permissions changed, the connection's
    /// subscriptions end with `UNAUTHENTICATED` and it is closed (4403). Keys revoked, a
    /// workspace disabled or its permissions changed through any node are noticed at once
    /// (on PostgreSQL through `NOTIFY`); this bounds how late anything else is (a key's
    /// rotation grace running out, a change made in the database by hand).
    #[arg(
        long,
        global = true,
        env = "CONVIO_WS_RECHECK_SECONDS",
        default_value_t = 30
    )]
    pub ws_recheck_seconds: u64,

    /// Largest request body, in bytes, on every route (`POST /graphql` included); larger ones
    /// get 413 before they are read past the limit. WebSocket messages are capped at the same
    /// size (16 KiB before `connection_init` succeeds).
    #[arg(
        long,
        global = true,
        env = "CONVIO_MAX_BODY_BYTES",
        default_value_t = 1024 * 1024
    )]
    pub max_body_bytes: usize,

    /// Failed authentication attempts (unknown, revoked or expired key or token, on any door:
    /// `X-API-Key`, a bearer key or JWT, `/auth/token`, a WebSocket `connection_init`) one client
    /// address may make per window. Past it, every request from that address that carries
    /// credentials, and every WebSocket upgrade, is answered 429 `RATE_LIMITED` with
    /// `Retry-After` until the window ends, without its credentials being looked at. Counted per
    /// IPv4 address or IPv6 /64, shared by every node on PostgreSQL. 0 disables the limit (the
    /// attempts are still counted on `/metrics` and logged).
    #[arg(
        long,
        global = true,
        env = "CONVIO_AUTH_FAILURE_LIMIT",
        default_value_t = 20
    )]
    pub auth_failure_limit: u64,

    /// Length of the failed-authentication window, in seconds (1 to 3600). Windows are aligned
    /// to the clock, so every node agrees on when one ends.
    #[arg(
        long,
        global = true,
        env = "CONVIO_AUTH_FAILURE_WINDOW_SECONDS",
        default_value_t = 300,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub auth_failure_window_seconds: u64,

    /// Reverse proxies or load balancers (addresses or networks, e.g. `10.0.0.0/8`,
    /// comma-separated) whose `X-Forwarded-For` is believed: for a connection from one of them,
    /// the client is the right-most address in that header that is not itself listed. Unset,
    /// the client is the connection's peer and `X-Forwarded-For` is ignored (a client could
    /// write anything there). Behind a proxy, list it: otherwise every client shares the proxy's
    /// address and one attacker's failed attempts throttle them all.
    #[arg(
        long,
        global = true,
        env = "CONVIO_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<crate::auth::IpNetwork>,

    /// Timeouts for slow and idle clients, and the cap on concurrent connections.
    #[command(flatten)]
    pub connections: crate::serve::ConnectionLimits,
}

impl Config {
    /// The configured rollup zones, each once.
    pub fn rollup_zones(&self) -> Result<Vec<chrono_tz::Tz>, crate::error::AppError> {
        let mut zones = Vec::new();
        for name in self
            .analytics_time_zones
            .iter()
            .filter(|n| !n.trim().is_empty())
        {
            let zone = crate::domain::parse_zone("analytics_time_zones", name)?;
            if !zones.contains(&zone) {
                zones.push(zone);
            }
        }
        Ok(zones)
    }
}

impl std::fmt::Debug for Config {
    // Hand-written so that secrets never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("database", &crate::db::describe_url(&self.database_url))
            .field("db_max_connections", &self.db_max_connections)
            .field("db_lock_timeout_ms", &self.db_lock_timeout_ms)
            .field("admin_key", &self.admin_key.as_ref().map(|_| "<set>"))
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<set>"))
            .field("jwt_previous_secrets", &self.jwt_previous_secrets.len())
            .field("key_pepper", &self.key_pepper.as_ref().map(|_| "<set>"))
            .field("encryption_keys", &self.encryption_keys.len())
            .field(
                "key_rotation_grace_seconds",
                &self.key_rotation_grace_seconds,
            )
            .field("token_ttl_seconds", &self.token_ttl_seconds)
            .field("currency", &self.currency)
            .field("feed_buffer", &self.feed_buffer)
            .field("feed_retention_seconds", &self.feed_retention_seconds)
            .field("rate_limit_per_hour", &self.rate_limit_per_hour)
            .field(
                "personal_data_retention_days",
                &self.personal_data_retention_days,
            )
            .field("analytics_time_zones", &self.analytics_time_zones)
            .field("analytics_cache", &self.analytics_cache)
            .field("export_xlsx_max_rows", &self.export_xlsx_max_rows)
            .field("export_page_size", &self.export_page_size)
            .field("log_format", &self.log_format)
            .field("metrics_conversion_types", &self.metrics_conversion_types)
            .field("hardening", &self.hardening)
            .field("audit_anchor", &self.audit_anchor)
            .finish()
    }
}
