//! The domain operations. GraphQL and REST both call this layer, and nothing else touches
//! the database. Every write runs in one transaction with its tracking and audit rows, and
//! events are published only after commit.

mod access;
pub mod adjustment;
pub mod analytics;
pub mod audit;
mod cache;
pub mod contact;
pub mod contact_list;
pub mod conversion;
pub mod export;
pub mod feed;
pub mod feed_cursor;
pub mod feed_replay;
pub mod feed_retention;
pub mod fx;
pub(crate) mod id_allocator;
mod idempotency;
mod ingest;
pub mod lead;
pub mod page;
mod principal_cache;
mod privacy;
pub mod rate_limit;
pub mod reporting;
pub mod rollup;
pub mod sensitive;
pub(crate) mod sets;
pub mod shared;
pub mod stats;
pub(crate) mod tracking;
pub mod webhooks;
pub mod workspace;

use crate::auth::{KeyHasher, TokenKeys};
use crate::db::Db;
use crate::domain::Currency;
use crate::encryption::Keyring;
use crate::events::EventBus;
use crate::observability::Metrics;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::DbBackend;
use std::sync::Arc;
use tokio::sync::Notify;

/// Replay pages read at once on a node, whatever the number of resumed subscribers.
const REPLAY_READERS: usize = 2;

/// Everything a request needs, injected once at start. A handle: cloning it (each request
/// does, for each extractor and middleware that takes it) is one reference count, however
/// many keys, caches and pools it holds.
#[derive(Clone)]
pub struct Services(Arc<Parts>);

/// What [`Services`] holds; its fields read through the handle (`services.db`).
pub struct Parts {
    pub db: Db,
    pub bus: EventBus,
    pub currency: Currency,
    pub tokens: TokenKeys,
    /// The server's metrics (the database handle's: one registry per server).
    pub metrics: Metrics,
    /// Wakes the feed pump after a commit that appended feed events.
    pub feed_signal: Arc<Notify>,
    /// SHA-256 of `CONVIO_ADMIN_KEY`, when configured.
    admin_key_hash: Option<String>,
    /// How new API keys are stored and presented ones looked up.
    key_hasher: KeyHasher,
    /// How long a workspace's previous keys keep working after it rotates.
    key_rotation_grace: chrono::Duration,
    rate_limiter: rate_limit::RateLimiter,
    /// Time zones whose daily rollups every write maintains (see `rollup`).
    rollup_zones: Arc<[chrono_tz::Tz]>,
    analytics_cache: Arc<cache::VersionedCache<analytics::Analytics>>,
    stats_cache: Arc<cache::VersionedCache<stats::Stats>>,
    /// The group-commit writer's queue, started on the first conversion.
    ingest: Arc<std::sync::OnceLock<ingest::Queue>>,
    /// Seals and opens sensitive custom values.
    keyring: Keyring,
    /// The keys this node verified, so that an authenticated request reads no database.
    principals: Arc<principal_cache::PrincipalCache>,
    /// This process's name in its credential announcements (random at each start), so its
    /// listener can skip the ones it sent: it acted on them before answering.
    node: Arc<str>,
    /// Bumped after credentials are revoked here, so open WebSocket connections re-check
    /// their caller at once rather than at their next periodic check.
    credentials_revoked: Arc<tokio::sync::watch::Sender<u64>>,
    /// Row limit of .xlsx exports and rows read per export query.
    export_limits: export::ExportLimits,
    /// How long feed events stay replayable (`feed_retention`).
    feed_retention: feed_retention::FeedRetention,
    /// Turns at reading replay pages: resumed subscribers share a few pooled connections, so
    /// a crowd of them replaying never starves writers and live reads.
    replay_turns: Arc<tokio::sync::Semaphore>,
    /// Outgoing webhooks: settings, client, and the delivery worker's bell.
    webhooks: Arc<webhooks::Webhooks>,
}

impl std::ops::Deref for Services {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl Services {
    pub fn new(
        db: Db,
        bus: EventBus,
        currency: Currency,
        tokens: TokenKeys,
        admin_key_hash: Option<String>,
    ) -> Self {
        let metrics = db.metrics().clone();
        // A SQLite file is served by this process alone; on PostgreSQL the cache waits for the
        // listener that hears other nodes' changes (`credentials_listening`).
        let principals = principal_cache::PrincipalCache::new(db.backend() == DbBackend::Sqlite);
        Services(Arc::new(Parts {
            principals: Arc::new(principals),
            node: uuid::Uuid::new_v4().simple().to_string().into(),
            analytics_cache: Arc::new(cache::VersionedCache::new(
                true,
                metrics.cache_counters("analytics"),
            )),
            stats_cache: Arc::new(cache::VersionedCache::new(
                true,
                metrics.cache_counters("stats"),
            )),
            metrics,
            db,
            bus,
            currency,
            tokens,
            feed_signal: Arc::new(Notify::new()),
            admin_key_hash,
            key_hasher: KeyHasher::default(),
            key_rotation_grace: chrono::Duration::days(1),
            // Unlimited until `with_rate_limit_per_hour` says otherwise.
            rate_limiter: rate_limit::RateLimiter::default(),
            rollup_zones: Arc::new([chrono_tz::Tz::UTC]),
            ingest: Arc::default(),
            // No keys until `with_keyring`: sensitive values are then refused.
            keyring: Keyring::default(),
            credentials_revoked: Arc::new(tokio::sync::watch::Sender::new(0)),
            export_limits: export::ExportLimits::default(),
            feed_retention: feed_retention::FeedRetention::DEFAULT,
            replay_turns: Arc::new(tokio::sync::Semaphore::new(REPLAY_READERS)),
            webhooks: webhooks::Webhooks::new(webhooks::Settings::default()),
        }))
    }

    /// The parts, to configure before the handle is shared: the `with_*` builders run at
    /// start, while this handle is the only one. Called on a shared handle it panics, rather
    /// than change one copy that the other handles would never see.
    fn parts_mut(&mut self) -> &mut Parts {
        Arc::get_mut(&mut self.0).expect("services are configured before they are shared")
    }

    /// A turn at reading a replay page, held while it reads.
    pub(crate) async fn replay_turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        // The semaphore is never closed; without a turn the read would still be correct.
        self.replay_turns.acquire().await.ok()
    }

    /// Maintains daily rollups in these zones (already built: see `rollup::sync_zones`).
    pub fn with_rollup_zones(mut self, zones: Vec<chrono_tz::Tz>) -> Self {
        self.parts_mut().rollup_zones = zones.into();
        self
    }

    /// Turns the analytics cache on or off (`--analytics-cache`).
    pub fn with_analytics_cache(mut self, enabled: bool) -> Self {
        let (analytics, stats) = (
            self.metrics.cache_counters("analytics"),
            self.metrics.cache_counters("stats"),
        );
        let parts = self.parts_mut();
        parts.analytics_cache = Arc::new(cache::VersionedCache::new(enabled, analytics));
        parts.stats_cache = Arc::new(cache::VersionedCache::new(enabled, stats));
        self
    }

    pub fn rollup_zones(&self) -> &[chrono_tz::Tz] {
        &self.rollup_zones
    }

    /// Limits each workspace without its own limit to `per_hour` requests (0: unlimited).
    pub fn with_rate_limit_per_hour(mut self, per_hour: u64) -> Self {
        self.parts_mut().rate_limiter = rate_limit::RateLimiter::new(per_hour);
        self
    }

    /// Stores new keys with `hasher`, and keeps rotated-out keys valid for `grace`.
    pub fn with_keys(mut self, hasher: KeyHasher, grace: chrono::Duration) -> Self {
        let parts = self.parts_mut();
        parts.key_hasher = hasher;
        parts.key_rotation_grace = grace;
        self
    }

    /// Seals sensitive custom values with `keyring`.
    pub fn with_keyring(mut self, keyring: Keyring) -> Self {
        self.parts_mut().keyring = keyring;
        self
    }

    /// Exports with these limits (`--export-xlsx-max-rows`, `--export-page-size`).
    pub fn with_export_limits(mut self, limits: export::ExportLimits) -> Self {
        self.parts_mut().export_limits = limits;
        self
    }

    /// The row limit of .xlsx exports and the rows read per export query.
    pub fn export_limits(&self) -> export::ExportLimits {
        self.export_limits
    }

    /// Tells this node whether it hears other nodes announce credential changes (PostgreSQL's
    /// feed listener, from its `LISTEN` on until its connection drops): its cache of verified
    /// keys is used only while it does, and starts empty either way.
    pub fn credentials_listening(&self, listening: bool) {
        self.principals.set_trusted(listening);
    }

    /// Whether a credential announcement with `payload` came from this node itself.
    pub fn is_own_announcement(&self, payload: &str) -> bool {
        *self.node == *payload
    }

    /// Changes whenever credentials are revoked on this node.
    pub fn revocations(&self) -> tokio::sync::watch::Receiver<u64> {
        self.credentials_revoked.subscribe()
    }
}

/// A new id for the rows ingest appends by the thousand (conversions, adjustments):
/// time-ordered (RFC 9562 UUIDv7: 48 bits of Unix milliseconds, then a counter the uuid crate
/// reseeds at random each millisecond, then random bits; rising within this process), so a
/// group's rows land together at the right edge of each index on the id (the primary key,
/// the audit log's object index) rather than on a random leaf page each, which SQLite would
/// read in and write back whole. Ids made in the same millisecond are neighbours, so an id is
/// no secret: no access check relies on one. They tell the time of creation, which
/// `createdAt` tells anyway.
pub(crate) fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

/// Now, at the microsecond precision both databases store.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
