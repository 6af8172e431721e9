//! The audit log: one row per write, in the same transaction as the write it describes.
//!
//! Entries form a hash chain: each stores the previous entry's hash (`prev_hash`) and
//! `hash = SHA-256(prev_hash || canonical content)`, so changing, removing or reordering an
//! entry breaks every link after it. Entries written before the chain started (null `hash`)
//! are outside it. `verify_chain` walks the chain; `convio audit verify` runs it.

use super::Services;
use super::conversion::Page;
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use chrono::SecondsFormat;
use entity::audit_log;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Advisory lock key that orders audit appends across nodes ("convio:a" in ASCII); not the
/// feed's key, so the two orderings do not wait on each other needlessly.
const CHAIN_LOCK: i64 = 0x636f_6e76_696f_3a61;

/// Entries read per query while verifying, so a long log is not loaded at once.
const VERIFY_BATCH: u64 = 1_000;

pub(crate) async fn record(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    action: &str,
    object_type: &str,
    object_id: &str,
    details: Value,
) -> AppResult<()> {
    if conn.get_database_backend() == DbBackend::Postgres {
        // Held until commit: no other transaction can read the same previous hash, and ids
        // (taken after the lock) follow chain order. SQLite writers are already serialized.
        conn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({CHAIN_LOCK})"))
            .await?;
    }
    let prev_hash: Option<String> = audit_log::Entity::find()
        .select_only()
        .column(audit_log::Column::Hash)
        .order_by_desc(audit_log::Column::Id)
        .limit(1)
        .into_tuple::<Option<String>>()
        .one(conn)
        .await?
        .flatten();
    let details = with_client_request_id(details, crate::request_id::current_client());
    let mut entry = audit_log::Model {
        id: 0,
        at: super::now(),
        actor: caller.principal.audit_name(),
        action: action.to_owned(),
        object_type: object_type.to_owned(),
        object_id: object_id.to_owned(),
        request_id: caller.request_id.clone().filter(|id| !id.is_empty()),
        details: Some(details),
        prev_hash,
        hash: None,
    };
    entry.hash = Some(entry_hash(&entry)?);
    audit_log::ActiveModel {
        at: Set(entry.at),
        actor: Set(entry.actor),
        action: Set(entry.action),
        object_type: Set(entry.object_type),
        object_id: Set(entry.object_id),
        request_id: Set(entry.request_id),
        details: Set(entry.details),
        prev_hash: Set(entry.prev_hash),
        hash: Set(entry.hash),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// `details` with the client's correlation id (already checked short and well formed by
/// `request_id`) as `client_request_id`. The row's own `request_id` is always the server's.
fn with_client_request_id(mut details: Value, client: Option<String>) -> Value {
    if let (Some(client), Value::Object(map)) = (client, &mut details) {
        map.insert("client_request_id".to_owned(), Value::String(client));
    }
    details
}

/// The fields a hash covers, in a fixed order. The id is left out: it is assigned by the
/// database and its order is already covered by the chain.
#[derive(Serialize)]
struct Canonical<'a> {
    at: String,
    actor: &'a str,
    action: &'a str,
    object_type: &'a str,
    object_id: &'a str,
    request_id: Option<&'a str>,
    details: Option<Value>,
}

/// `SHA-256(prev_hash || canonical JSON of the content)`, as lowercase hex.
fn entry_hash(entry: &audit_log::Model) -> AppResult<String> {
    let canonical = Canonical {
        // Microseconds: what both databases store, so a re-read entry hashes the same.
        at: entry.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        actor: &entry.actor,
        action: &entry.action,
        object_type: &entry.object_type,
        object_id: &entry.object_id,
        request_id: entry.request_id.as_deref(),
        details: entry.details.as_ref().map(sorted),
    };
    let json = serde_json::to_vec(&canonical)
        .map_err(|e| AppError::Internal(format!("serializing an audit entry failed: {e}")))?;
    let mut hasher = Sha256::new();
    hasher.update(entry.prev_hash.as_deref().unwrap_or_default().as_bytes());
    hasher.update(&json);
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// `details` with object keys sorted at every level: PostgreSQL's `jsonb` does not keep the
/// order keys were written in, so the hash must not depend on it.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The outcome of walking the chain.
#[derive(Debug, PartialEq, Eq)]
pub enum ChainReport {
    /// Every chained entry links to the one before and hashes to what it stores.
    Intact {
        /// Entries in the chain (entries from before it started are not counted).
        entries: u64,
    },
    /// The first entry that does not verify.
    Broken {
        id: i64,
        /// What the entry's hash (or link) should be.
        expected: String,
        /// What is stored.
        stored: String,
    },
}

impl std::fmt::Display for ChainReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainReport::Intact { entries } => write!(f, "audit log intact: {entries} entries"),
            ChainReport::Broken {
                id,
                expected,
                stored,
            } => write!(
                f,
                "audit log broken at entry {id}: expected {expected}, stored {stored}"
            ),
        }
    }
}

/// Walks the chain in id order and recomputes every hash. Entries before the first hashed
/// one predate the chain and are skipped; from it on, every entry must link and hash.
/// (Removing the newest entries leaves no trace in the rows: compare `N` over time.)
pub async fn verify_chain(conn: &impl ConnectionTrait) -> AppResult<ChainReport> {
    let shown = |h: &Option<String>| h.clone().unwrap_or_else(|| "(none)".to_owned());
    let (mut started, mut previous) = (false, None::<String>);
    let mut entries = 0u64;
    let mut after = i64::MIN;
    loop {
        let batch = audit_log::Entity::find()
            .filter(audit_log::Column::Id.gt(after))
            .order_by_asc(audit_log::Column::Id)
            .limit(VERIFY_BATCH)
            .all(conn)
            .await?;
        let Some(last) = batch.last() else {
            return Ok(ChainReport::Intact { entries });
        };
        after = last.id;
        for entry in batch {
            if !started && entry.hash.is_none() {
                // Written before the chain started.
                continue;
            }
            started = true;
            // The first chained entry links to nothing; each later one to the one before.
            if entry.prev_hash != previous {
                return Ok(ChainReport::Broken {
                    id: entry.id,
                    expected: format!("prev_hash {}", shown(&previous)),
                    stored: format!("prev_hash {}", shown(&entry.prev_hash)),
                });
            }
            let expected = entry_hash(&entry)?;
            if entry.hash.as_deref() != Some(expected.as_str()) {
                return Ok(ChainReport::Broken {
                    id: entry.id,
                    expected,
                    stored: shown(&entry.hash),
                });
            }
            entries += 1;
            previous = entry.hash;
        }
    }
}

/// Filters for the admin's audit query; all optional and combined with AND.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub actor: Option<String>,
}

/// The entries `filter` selects, unordered.
fn audit_query(filter: &AuditFilter) -> sea_orm::Select<audit_log::Entity> {
    let mut query = audit_log::Entity::find();
    if let Some(object_type) = &filter.object_type {
        query = query.filter(audit_log::Column::ObjectType.eq(object_type));
    }
    if let Some(object_id) = &filter.object_id {
        query = query.filter(audit_log::Column::ObjectId.eq(object_id));
    }
    if let Some(actor) = &filter.actor {
        query = query.filter(audit_log::Column::Actor.eq(actor));
    }
    query
}

impl Services {
    /// Audit entries matching `filter`, newest first, `first` at most, older than the entry
    /// `after` (a previous page's last id). Admin only: the log spans every workspace.
    pub async fn audit_entries(
        &self,
        caller: &Caller,
        filter: AuditFilter,
        first: u64,
        after: Option<i64>,
    ) -> AppResult<Page<audit_log::Model>> {
        caller.principal.require_admin()?;
        let mut query = audit_query(&filter).order_by_desc(audit_log::Column::Id);
        if let Some(after) = after {
            query = query.filter(audit_log::Column::Id.lt(after));
        }
        // One more than asked tells whether another page follows.
        let mut items = query.limit(first + 1).all(self.db.conn()).await?;
        let has_next_page = items.len() as u64 > first;
        items.truncate(first as usize);
        Ok(Page {
            items,
            has_next_page,
        })
    }

    /// How many audit entries match `filter` over all pages: one `COUNT` query. Admin only.
    pub async fn count_audit_entries(
        &self,
        caller: &Caller,
        filter: &AuditFilter,
    ) -> AppResult<u64> {
        caller.principal.require_admin()?;
        Ok(audit_query(filter).count(self.db.conn()).await?)
    }

    /// Verifies the audit chain of this server's database.
    pub async fn verify_audit_chain(&self) -> AppResult<ChainReport> {
        verify_chain(self.db.conn()).await
    }
}
