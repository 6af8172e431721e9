//! The audit log: one row per write, in the same transaction as the write it describes.
//!
//! Entries form a hash chain: each stores the previous entry's hash (`prev_hash`) and
//! `hash = SHA-256(prev_hash || canonical content)`, so changing, removing or reordering an
//! entry breaks every link after it. Entries written before the chain started (null `hash`)
//! are outside it. `verify_chain` walks the chain.
//!
//! Removing the newest entries leaves a valid, shorter chain: the anchor (`anchor`) signs
//! the head with a key the database does not hold, and [`verify`] (`convio audit verify`)
//! checks the chain against it.

mod anchor;

pub use anchor::{Anchor, AnchorKey, FILE_POLL, SignedHead};

use super::Services;
use super::page::{Page, Window};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use chrono::SecondsFormat;
use entity::audit_log;
use sea_orm::{
    AccessMode, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    IsolationLevel, Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Advisory lock key that orders audit appends across nodes ("convio:a" in ASCII); not the
/// feed's key, so the two orderings do not wait on each other needlessly.
const CHAIN_LOCK: i64 = 0x636f_6e76_696f_3a61;

/// Entries read per query while verifying, so a long log is not loaded at once.
const VERIFY_BATCH: u64 = 1_000;

/// Appends one entry for a write, inside the write's transaction.
pub(crate) async fn record(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    action: &str,
    object_type: &str,
    object_id: &str,
    details: Value,
) -> AppResult<()> {
    let mut chain = Chain::open(conn).await?;
    let entry = chain.link(
        caller,
        crate::request_id::current_client(),
        Event {
            action,
            object_type,
            object_id,
            details,
        },
    )?;
    insert(conn, vec![entry]).await
}

/// What one audit entry says happened: `action` (`conversion.logged`, …) to the object.
pub(crate) struct Event<'a> {
    pub action: &'a str,
    pub object_type: &'a str,
    pub object_id: &'a str,
    pub details: Value,
}

/// The chain's head inside a write transaction: entries are linked to it in memory, one after
/// another, and then inserted together ([`insert`]) in the same order.
pub(crate) struct Chain {
    head: Option<String>,
}

impl Chain {
    /// Reads the head; on PostgreSQL first locks the chain until the transaction ends, so no
    /// other transaction reads the same head and ids (taken after the lock) follow chain order.
    /// SQLite writers are already serialized.
    pub(crate) async fn open(conn: &impl ConnectionTrait) -> AppResult<Chain> {
        if conn.get_database_backend() == DbBackend::Postgres {
            conn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({CHAIN_LOCK})"))
                .await?;
        }
        let head: Option<String> = audit_log::Entity::find()
            .select_only()
            .column(audit_log::Column::Hash)
            .order_by_desc(audit_log::Column::Id)
            .limit(1)
            .into_tuple::<Option<String>>()
            .one(conn)
            .await?
            .flatten();
        Ok(Chain { head })
    }

    /// The next entry, by `caller` (with the client's correlation id, when it sent one),
    /// linked to the head; it becomes the head.
    pub(crate) fn link(
        &mut self,
        caller: &Caller,
        client_request_id: Option<String>,
        event: Event<'_>,
    ) -> AppResult<audit_log::Model> {
        let mut entry = audit_log::Model {
            id: 0,
            at: super::now(),
            actor: caller.principal.audit_name(),
            action: event.action.to_owned(),
            object_type: event.object_type.to_owned(),
            object_id: event.object_id.to_owned(),
            request_id: caller.request_id.clone().filter(|id| !id.is_empty()),
            details: Some(with_client_request_id(event.details, client_request_id)),
            prev_hash: self.head.take(),
            hash: None,
        };
        entry.hash = Some(entry_hash(&entry)?);
        self.head = entry.hash.clone();
        Ok(entry)
    }
}

/// Inserts entries [`Chain::link`] made, in their order, in one statement.
pub(crate) async fn insert(
    conn: &impl ConnectionTrait,
    entries: Vec<audit_log::Model>,
) -> AppResult<()> {
    let rows = entries.into_iter().map(|entry| audit_log::ActiveModel {
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
    });
    super::sets::insert_all(conn, rows).await
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
    Ok(hex::encode(hasher.finalize()))
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

/// What `convio audit verify` found.
#[derive(Debug, PartialEq, Eq)]
pub enum ChainReport {
    /// Every chained entry links to the one before and hashes to what it stores, and the
    /// chain reaches every signed head it was checked against.
    Intact {
        /// Entries in the chain (entries from before it started are not counted).
        entries: u64,
        /// The entry the database's signed head names, and since which entry heads are
        /// signed, when checked with the anchor key.
        signed: Option<(i64, i64)>,
        /// The entry the anchor file names, when checked against it.
        file: Option<i64>,
    },
    /// The first entry that does not verify.
    Broken {
        id: i64,
        /// What the entry's hash (or link) should be.
        expected: String,
        /// What is stored.
        stored: String,
    },
    /// Entries a signed head vouches for are gone: the chain is shorter than it was.
    Truncated {
        source: AnchorSource,
        /// The entry the head names, and how many chained entries it counts up to it.
        signed_id: i64,
        signed_entries: u64,
        /// How many are missing.
        missing: u64,
        /// Whether the signed entry itself is gone (the newest entries were removed), or
        /// still there with fewer entries before it.
        head_gone: bool,
        /// What the chain holds now: entries, and the newest.
        holds: u64,
        last_id: Option<i64>,
    },
    /// The signed head and the chain disagree otherwise, or there is no head to check.
    Unanchored {
        source: AnchorSource,
        reason: String,
    },
}

/// Which signed head a verdict is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnchorSource {
    /// The row `audit_anchors`, checked with `--audit-anchor-key`.
    Database,
    /// The file given as `--audit-anchor-file`.
    File,
}

impl std::fmt::Display for AnchorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AnchorSource::Database => "the signed head in the database",
            AnchorSource::File => "the anchor file",
        })
    }
}

impl std::fmt::Display for ChainReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainReport::Intact {
                entries,
                signed,
                file,
            } => {
                write!(f, "audit log intact: {}", self::entries(*entries))?;
                if let Some((head, since)) = signed {
                    write!(
                        f,
                        "; signed head at entry {head} (signed since entry {since})"
                    )?;
                }
                if let Some(head) = file {
                    write!(f, "; reaches the anchor file's entry {head}")?;
                }
                Ok(())
            }
            ChainReport::Broken {
                id,
                expected,
                stored,
            } => write!(
                f,
                "audit log broken at entry {id}: expected {expected}, stored {stored}"
            ),
            ChainReport::Truncated {
                source,
                signed_id,
                signed_entries,
                missing,
                head_gone,
                holds,
                last_id,
            } => {
                let last = last_id.map_or("none".to_owned(), |id| format!("entry {id}"));
                let (missing, holds) = (entries(*missing), entries(*holds));
                if *head_gone {
                    write!(
                        f,
                        "audit log truncated: {source} names entry {signed_id} as entry number \
                         {signed_entries} of the chain, and it is gone: {missing} missing, the \
                         newest up to entry {signed_id} (the chain now holds {holds}; its \
                         newest is {last})"
                    )
                } else {
                    write!(
                        f,
                        "audit log truncated: {source} counts {} up to entry {signed_id}: \
                         {missing} before it missing (the chain now holds {holds}; its newest \
                         is {last})",
                        entries(*signed_entries)
                    )
                }
            }
            ChainReport::Unanchored { source, reason } => {
                write!(f, "audit log not as signed: {source}: {reason}")
            }
        }
    }
}

/// Where a chain walk found the entry a signed head names.
#[derive(Clone, Debug, Default)]
struct Mark {
    id: i64,
    /// Its position in the chain (1 for the first chained entry) and stored hash.
    found: Option<(u64, Option<String>)>,
    /// Chained entries with a smaller id.
    before: u64,
}

/// A chain walked to its end without a broken link.
struct Walk {
    entries: u64,
    last_id: Option<i64>,
    /// One per id asked for, in the same order.
    marks: Vec<Mark>,
}

/// Walks the chain in id order and recomputes every hash. Entries before the first hashed
/// one predate the chain and are skipped; from it on, every entry must link and hash.
/// Removing the newest entries leaves no trace in the rows: [`verify`] checks signed heads.
pub async fn verify_chain(conn: &impl ConnectionTrait) -> AppResult<ChainReport> {
    Ok(match walk(conn, &[]).await? {
        Ok(walk) => ChainReport::Intact {
            entries: walk.entries,
            signed: None,
            file: None,
        },
        Err(broken) => broken,
    })
}

/// The chain walked (see [`verify_chain`]), noting where the entries `ids` sit; `Err` with
/// the first entry that does not verify.
async fn walk(conn: &impl ConnectionTrait, ids: &[i64]) -> AppResult<Result<Walk, ChainReport>> {
    let shown = |h: &Option<String>| h.clone().unwrap_or_else(|| "(none)".to_owned());
    let (mut started, mut previous) = (false, None::<String>);
    let mut entries = 0u64;
    let mut marks: Vec<Mark> = ids
        .iter()
        .map(|&id| Mark {
            id,
            ..Mark::default()
        })
        .collect();
    let mut after = i64::MIN;
    loop {
        let batch = audit_log::Entity::find()
            .filter(audit_log::Column::Id.gt(after))
            .order_by_asc(audit_log::Column::Id)
            .limit(VERIFY_BATCH)
            .all(conn)
            .await?;
        let Some(last) = batch.last() else {
            let last_id = (entries > 0).then_some(after);
            return Ok(Ok(Walk {
                entries,
                last_id,
                marks,
            }));
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
                return Ok(Err(ChainReport::Broken {
                    id: entry.id,
                    expected: format!("prev_hash {}", shown(&previous)),
                    stored: format!("prev_hash {}", shown(&entry.prev_hash)),
                }));
            }
            let expected = entry_hash(&entry)?;
            if entry.hash.as_deref() != Some(expected.as_str()) {
                return Ok(Err(ChainReport::Broken {
                    id: entry.id,
                    expected,
                    stored: shown(&entry.hash),
                }));
            }
            entries += 1;
            for mark in &mut marks {
                if entry.id < mark.id {
                    mark.before += 1;
                } else if entry.id == mark.id {
                    mark.found = Some((entries, entry.hash.clone()));
                }
            }
            previous = entry.hash;
        }
    }
}

/// `convio audit verify`: walks the chain (see [`verify_chain`]) and checks it against the
/// signed heads `anchor` gives: with the key, the database's signed head must be the chain's
/// head exactly, with as many entries as it counts; with the file, the chain must still hold
/// the file's head at its position (and may have grown since). The chain is read in one
/// snapshot, so nodes writing meanwhile do not make it look torn.
pub async fn verify(
    conn: &DatabaseConnection,
    anchor: &crate::config::AuditAnchor,
) -> AppResult<ChainReport> {
    let key = anchor.key.as_deref().map(AnchorKey::parse).transpose()?;
    let from_file = match &anchor.file {
        Some(path) => Some(anchor::read_file(path).await?.ok_or_else(|| {
            AppError::invalid(
                "audit_anchor_file",
                format!("--audit-anchor-file {} does not exist", path.display()),
            )
        })?),
        None => None,
    };
    let txn = match conn.get_database_backend() {
        DbBackend::Postgres => {
            conn.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?
        }
        _ => conn.begin().await?,
    };
    let in_database = match &key {
        Some(_) => anchor::stored(&txn).await?,
        None => None,
    };
    let ids: Vec<i64> = [&in_database, &from_file]
        .into_iter()
        .flatten()
        .map(|s| s.head.entry_id)
        .collect();
    let walk = match walk(&txn, &ids).await? {
        Ok(walk) => walk,
        Err(broken) => return Ok(broken),
    };
    txn.commit().await?;
    let mut marks = walk.marks.iter();
    if let Some(key) = &key {
        match &in_database {
            None if walk.entries > 0 => {
                return Ok(ChainReport::Unanchored {
                    source: AnchorSource::Database,
                    reason: format!(
                        "there is none, yet the chain holds {}: it was removed, or no node \
                         has written with --audit-anchor-key",
                        entries(walk.entries)
                    ),
                });
            }
            None => {}
            Some(signed) => {
                let mark = marks.next().cloned().unwrap_or_default();
                if !key.signed(signed) {
                    return Ok(ChainReport::Unanchored {
                        source: AnchorSource::Database,
                        reason: "it does not verify with this key (signed with another key, or \
                                 forged)"
                            .to_owned(),
                    });
                }
                if let Some(report) = check(signed, &mark, &walk, true, AnchorSource::Database) {
                    return Ok(report);
                }
            }
        }
    }
    if let Some(signed) = &from_file {
        let mark = marks.next().cloned().unwrap_or_default();
        if key.as_ref().is_some_and(|key| !key.signed(signed)) {
            return Ok(ChainReport::Unanchored {
                source: AnchorSource::File,
                reason: "it does not verify with this key".to_owned(),
            });
        }
        if let Some(report) = check(signed, &mark, &walk, false, AnchorSource::File) {
            return Ok(report);
        }
    }
    Ok(ChainReport::Intact {
        entries: walk.entries,
        signed: in_database.map(|s| (s.head.entry_id, s.head.since_entry_id)),
        file: from_file.map(|s| s.head.entry_id),
    })
}

/// Whether the walked chain agrees with `signed`, whose entry the walk found as `mark`.
/// `exact`: the head must be the chain's newest entry (the database's row, moved by every
/// write); otherwise the chain may have grown past it (the file, copied later).
fn check(
    signed: &SignedHead,
    mark: &Mark,
    walk: &Walk,
    exact: bool,
    source: AnchorSource,
) -> Option<ChainReport> {
    let head = &signed.head;
    let truncated = |missing: u64, head_gone: bool| ChainReport::Truncated {
        source,
        signed_id: head.entry_id,
        signed_entries: head.entries,
        missing,
        head_gone,
        holds: walk.entries,
        last_id: walk.last_id,
    };
    let unanchored = |reason: String| ChainReport::Unanchored { source, reason };
    let position = if head.entry_id == 0 {
        // Signed while the chain was empty.
        0
    } else {
        match &mark.found {
            None => return Some(truncated(head.entries.saturating_sub(mark.before), true)),
            Some((_, hash)) if hash.as_deref() != Some(head.entry_hash.as_str()) => {
                return Some(unanchored(format!(
                    "entry {} is not the entry that was signed (its hash differs): entries up \
                     to it were rewritten",
                    head.entry_id
                )));
            }
            Some((position, _)) => *position,
        }
    };
    if position < head.entries {
        return Some(truncated(head.entries - position, false));
    }
    if position > head.entries {
        return Some(unanchored(format!(
            "the chain holds {} up to entry {}, {} more than were signed: entries were added \
             behind convio's back",
            entries(position),
            head.entry_id,
            position - head.entries
        )));
    }
    if exact && walk.entries > position {
        return Some(unanchored(format!(
            "{} after the signed head (entry {}) not signed: written by a node without \
             --audit-anchor-key, or added behind convio's back",
            entries(walk.entries - position),
            head.entry_id
        )));
    }
    None
}

/// "1 entry", "5 entries".
fn entries(n: u64) -> String {
    if n == 1 {
        "1 entry".to_owned()
    } else {
        format!("{n} entries")
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
    /// One window of the audit entries matching `filter`, newest first (id descending; a
    /// position is an entry's id). Admin only: the log spans every workspace.
    pub async fn audit_entries(
        &self,
        caller: &Caller,
        filter: AuditFilter,
        window: &Window<i64>,
    ) -> AppResult<Page<audit_log::Model>> {
        caller.principal.require_admin()?;
        let query = window.select(
            audit_query(&filter),
            &[(audit_log::Column::Id, Order::Desc)],
            |id| vec![(*id).into()],
        );
        Ok(window.page(query.all(self.db.conn()).await?))
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

    /// Signs the audit chain's head in every write transaction from now on, with the key
    /// `anchor` gives, and keeps its anchor file (see `anchor`). Without a key nothing
    /// changes; a file without a key is refused, naming `audit_anchor_file`.
    pub fn with_audit_anchor(mut self, anchor: &crate::config::AuditAnchor) -> AppResult<Self> {
        let Some(secret) = &anchor.key else {
            return match anchor.file {
                Some(_) => Err(AppError::invalid(
                    "audit_anchor_file",
                    "needs --audit-anchor-key: there is no signed head to copy without it",
                )),
                None => Ok(self),
            };
        };
        let key = AnchorKey::parse(secret)?;
        let file = anchor.file.clone().map(|path| (path, self.db.clone()));
        let hook = std::sync::Arc::new(Anchor::new(key, file));
        self.parts_mut().db = self.db.clone().with_commit_hook(hook);
        Ok(self)
    }
}
