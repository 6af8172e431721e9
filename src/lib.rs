//! convio: the system of record for what became of the contacts handed to workspaces.
//!
//! `build(config)` connects and migrates the database, binds the port and returns a
//! `Server` whose address is known (even for port 0) before it starts serving.

pub mod auth;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod events;
pub mod feed;
pub mod graphql;
pub mod http;
pub mod input;
pub mod request_id;
pub mod service;

pub use config::Config;

use crate::auth::TokenKeys;
use crate::db::Db;
use crate::domain::Currency;
use crate::error::{AppError, AppResult};
use crate::events::EventBus;
use crate::service::Services;
use migration::{Migrator, MigratorTrait};
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// A bound, migrated, ready-to-serve convio.
pub struct Server {
    listener: TcpListener,
    router: axum::Router,
    services: Services,
    /// A freshly generated admin key, to be shown once by the caller.
    pub generated_admin_key: Option<String>,
}

/// Connects to the database and runs pending migrations.
pub async fn migrate(config: &Config) -> AppResult<Db> {
    let db = Db::connect(&config.database_url, config.db_max_connections).await?;
    Migrator::up(db.conn(), None)
        .await
        .map_err(|e| AppError::Internal(format!("migration failed: {e}")))?;
    Ok(db)
}

pub async fn build(config: Config) -> AppResult<Server> {
    let currency = Currency::parse("currency", &config.currency)?;
    let secret = match &config.jwt_secret {
        Some(secret) if secret.len() < 32 => {
            return Err(AppError::invalid("jwt_secret", "must be at least 32 bytes"));
        }
        Some(secret) => secret.clone().into_bytes(),
        None => auth::generate_key("")?.into_bytes(),
    };
    let db = migrate(&config).await?;
    let services = Services::new(
        db,
        EventBus::new(config.feed_buffer.max(16)),
        currency,
        TokenKeys::new(&secret, config.token_ttl_seconds),
        config.admin_key.as_deref().map(auth::hash_key),
    );
    let generated_admin_key = services.bootstrap_admin_key().await?;
    feed::start(services.clone(), &config.database_url).await?;
    let schema = graphql::build(services.clone());
    let router = http::router(http::AppState {
        services: services.clone(),
        schema,
    });
    let listener = TcpListener::bind(config.bind)
        .await
        .map_err(|e| AppError::Internal(format!("cannot bind {}: {e}", config.bind)))?;
    Ok(Server {
        listener,
        router,
        services,
        generated_admin_key,
    })
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

    /// Serves until the process is asked to stop (Ctrl-C or SIGTERM).
    pub async fn serve(self) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown_signal())
            .await
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
