//! convio: the system of record for what became of the contacts handed to workspaces.
//!
//! `build(config)` connects and migrates the database, binds the port and returns a
//! `Server` whose address is known (even for port 0) before it starts serving.

pub mod auth;
pub mod config;
pub mod db;
pub mod domain;
pub mod encryption;
pub mod error;
pub mod events;
pub mod feed;
pub mod graphql;
pub mod http;
pub mod observability;
pub mod request_id;
pub mod seed;
pub mod serve;
pub mod service;

pub use config::Config;

use crate::auth::TokenKeys;
use crate::db::Db;
use crate::domain::Currency;
use crate::error::{AppError, AppResult};
use crate::events::EventBus;
use crate::service::Services;
use crate::service::feed_retention::FeedRetention;
use migration::{DbErr, Migrator, MigratorTrait};
use std::collections::HashSet;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// A bound, migrated, ready-to-serve convio.
pub struct Server {
    listener: TcpListener,
    router: axum::Router,
    connections: serve::ConnectionLimits,
    services: Services,
    /// A freshly generated admin key, to be shown once by the caller.
    pub generated_admin_key: Option<String>,
}

/// Connects to the database and runs pending migrations, one node at a time.
pub async fn migrate(config: &Config) -> AppResult<Db> {
    let db = Db::connect_with(
        &config.database_url,
        config.db_max_connections,
        std::time::Duration::from_millis(config.db_lock_timeout_ms),
        &observability::Metrics::default(),
    )
    .await?;
    let lock = db.startup_lock(&config.database_url).await?;
    let result = apply_migrations(&db).await;
    if let Some(lock) = lock {
        lock.release().await;
    }
    result.map(|()| db)
}

async fn apply_migrations(db: &Db) -> AppResult<()> {
    Migrator::up(db.conn(), None)
        .await
        .map_err(|e| AppError::Internal(format!("migration failed: {e}")))
}

/// Brings the schema up to this build (or, without `auto_migrate`, refuses one that is
/// older). A schema that is *newer* (a later build already migrated it during a rolling
/// deploy) is served with a warning: migrations only ever add, so older code still works.
async fn ensure_schema(db: &Db, auto_migrate: bool) -> AppResult<()> {
    let SchemaStatus { pending, newer, .. } = schema_status(db).await?;
    if !newer.is_empty() {
        tracing::warn!(migrations = ?newer, "the database schema is newer than this build");
    }
    match (pending.is_empty(), auto_migrate, newer.is_empty()) {
        (true, _, _) => Ok(()),
        (false, true, true) => apply_migrations(db).await,
        (false, _, _) => Err(AppError::Internal(format!(
            "the database schema is older than this build ({} migration(s) pending: {}); \
             run `convio migrate` first, or start with --auto-migrate true",
            pending.len(),
            pending.join(", ")
        ))),
    }
}

/// Where the database's schema stands against this build's migrations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Migrations applied, this build's and any later build's.
    pub applied: usize,
    /// This build's migrations not applied, in order.
    pub pending: Vec<String>,
    /// Applied migrations this build does not know (a later build applied them).
    pub newer: Vec<String>,
}

/// Reads which migrations are applied (one query) and compares them with this build's.
pub async fn schema_status(db: &Db) -> AppResult<SchemaStatus> {
    let failed = |e: DbErr| AppError::Internal(format!("reading the schema version failed: {e}"));
    let applied: HashSet<String> = Migrator::get_migration_models(db.conn())
        .await
        .map_err(failed)?
        .into_iter()
        .map(|m| m.version)
        .collect();
    let known: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let pending = known
        .iter()
        .filter(|k| !applied.contains(*k))
        .cloned()
        .collect();
    let mut newer: Vec<String> = applied
        .iter()
        .filter(|a| !known.contains(a))
        .cloned()
        .collect();
    newer.sort();
    Ok(SchemaStatus {
        applied: applied.len(),
        pending,
        newer,
    })
}

pub async fn build(config: Config) -> AppResult<Server> {
    let metrics = observability::Metrics::new(observability::ConversionTypeLabels::parse(
        &config.metrics_conversion_types,
    )?);
    let db = Db::connect_with(
        &config.database_url,
        config.db_max_connections,
        std::time::Duration::from_millis(config.db_lock_timeout_ms),
        &metrics,
    )
    .await?;
    let lock = db.startup_lock(&config.database_url).await?;
    let prepared = prepare(&config, db).await;
    if let Some(lock) = lock {
        lock.release().await;
    }
    let (services, generated_admin_key) = prepared?;
    feed::start(services.clone(), &config.database_url).await?;
    tokio::spawn(feed_sweeps(services.clone()));
    tokio::spawn(service::webhooks::run(services.clone()));
    if config.personal_data_retention_days > 0 {
        tokio::spawn(retention_sweeps(
            services.clone(),
            config.personal_data_retention_days,
        ));
    }
    let schema = graphql::build(services.clone(), &config.hardening);
    let feed_groups = http::FeedGroups::new(
        schema.clone(),
        services.bus.clone(),
        services.metrics.clone(),
    );
    let router = http::router(http::AppState {
        services: services.clone(),
        schema,
        feed_groups,
        hardening: std::sync::Arc::new(config.hardening.clone()),
    });
    let cap = config.hardening.connections.max_connections;
    let backlog = u32::try_from(cap.max(128)).unwrap_or(u32::MAX);
    let listener = serve::listen(config.bind, backlog)
        .map_err(|e| AppError::Internal(format!("cannot bind {}: {e}", config.bind)))?;
    Ok(Server {
        listener,
        router,
        connections: config.hardening.connections.clone(),
        services,
        generated_admin_key,
    })
}

/// Start-up work that must not race with another node: schema, then the admin key.
async fn prepare(config: &Config, db: Db) -> AppResult<(Services, Option<String>)> {
    let currency = Currency::parse("currency", &config.currency)?;
    let secret = match &config.jwt_secret {
        Some(secret) if secret.len() < 32 => {
            return Err(AppError::invalid("jwt_secret", "must be at least 32 bytes"));
        }
        Some(secret) => secret.clone().into_bytes(),
        None => auth::generate_key("")?.into_bytes(),
    };
    let previous = previous_jwt_secrets(&config.jwt_previous_secrets)?;
    let tokens = TokenKeys::with_previous(&secret, &previous, config.token_ttl_seconds);
    tracing::info!(kid = tokens.kid(), "signing JWTs");
    let hasher = auth::KeyHasher::new(config.key_pepper.as_deref())?;
    if !hasher.is_keyed() {
        tracing::warn!(
            "no --key-pepper (CONVIO_KEY_PEPPER) set: new API keys are stored as plain SHA-256; \
             set a pepper of at least 32 bytes, the same on every node"
        );
    }
    let keyring = encryption::Keyring::parse(&config.encryption_keys)
        .map_err(|e| AppError::invalid("encryption_keys", e.to_string()))?;
    match keyring.current_kid() {
        Some(kid) => tracing::info!(kid, kids = ?keyring.kids(), "sealing sensitive values"),
        None => tracing::info!(
            "no --encryption-keys (CONVIO_ENCRYPTION_KEYS): sensitive custom values \
             (keys starting with 'secret_') are refused"
        ),
    }
    ensure_schema(&db, config.auto_migrate).await?;
    let zones = config.rollup_zones()?;
    service::rollup::sync_zones(db.conn(), &zones).await?;
    let services = Services::new(
        db,
        EventBus::new(config.feed_buffer.max(16)),
        currency,
        tokens,
        config.admin_key.as_deref().map(auth::hash_key),
    )
    .with_rate_limit_per_hour(config.rate_limit_per_hour)
    .with_failed_auth_limit(service::rate_limit::FailedAuthLimit {
        per_window: config.hardening.auth_failure_limit,
        window_seconds: config.hardening.auth_failure_window_seconds,
    })
    .with_rollup_zones(zones)
    .with_analytics_cache(config.analytics_cache)
    .with_keys(
        hasher,
        chrono::Duration::seconds(i64::from(config.key_rotation_grace_seconds)),
    )
    .with_keyring(keyring)
    .with_export_limits(service::export::ExportLimits {
        xlsx_max_rows: config.export_xlsx_max_rows,
        page_size: config.export_page_size,
    })
    .with_feed_retention(FeedRetention::from_seconds(config.feed_retention_seconds))
    .with_audit_anchor(&config.audit_anchor)?
    .with_webhooks(service::webhooks::Settings::from(&config.webhooks));
    let generated_admin_key = services.bootstrap_admin_key().await?;
    Ok((services, generated_admin_key))
}

/// Applies the retention policy now and then hourly. Every node may run it: each contact is
/// erased under a row lock, and erasing an erased contact changes nothing.
async fn retention_sweeps(services: Services, days: u32) {
    let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        hourly.tick().await;
        let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
        match services.purge_personal_data_before(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(contacts = n, "retention: personal data erased"),
            Err(err) => tracing::warn!(error = %err, "retention sweep failed; retrying next hour"),
        }
    }
}

/// Deletes feed events past `--feed-retention-seconds` every tenth of it (at most hourly),
/// the first time one such period after start: a node at rest runs no statement but the
/// pump's, and a sweep put off only keeps rows longer (their cursors are refused by age
/// anyway). Every node may run it: a row deleted twice is deleted once.
async fn feed_sweeps(services: Services) {
    let period = services.feed_retention().sweep_every();
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match services.sweep_feed_events().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(events = n, "feed retention: old events deleted"),
            Err(err) => tracing::warn!(error = %err, "feed retention sweep failed; retrying"),
        }
    }
}

/// `kid=secret` pairs from `--jwt-previous-secrets`, checked like the current secret.
fn previous_jwt_secrets(pairs: &[String]) -> AppResult<Vec<(String, Vec<u8>)>> {
    let field = "jwt_previous_secrets";
    pairs
        .iter()
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| match pair.trim().split_once('=') {
            Some((kid, secret)) if !kid.is_empty() && secret.len() >= 32 => {
                Ok((kid.to_owned(), secret.as_bytes().to_vec()))
            }
            _ => Err(AppError::invalid(
                field,
                "each entry must be kid=secret, with a secret of at least 32 bytes",
            )),
        })
        .collect()
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        // The listener is bound, so its address is known.
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Serves until the process is asked to stop (Ctrl-C or SIGTERM), then closes the
    /// database (on SQLite, emptying its `-wal` file: see `Db::close`).
    pub async fn serve(self) -> std::io::Result<()> {
        let served = serve::serve(
            self.listener,
            self.router,
            self.connections,
            shutdown_signal(),
        )
        .await;
        self.services.db.close().await;
        served
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
