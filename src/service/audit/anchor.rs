//! The audit anchor: the chain's head, signed with a key the database does not hold.
//!
//! The hash chain shows an entry changed or removed in the middle, but removing the newest
//! entries leaves a valid, shorter chain. So every write transaction also signs the chain's
//! head as it leaves it — the newest entry's id and hash, and how many chained entries lead up
//! to it — with HMAC-SHA-256 under `--audit-anchor-key`, in the one row of `audit_anchors`
//! ([`Anchor`], run by `db::WriteTxn::commit`). Whoever removes the newest entries cannot sign
//! the shorter head, so `convio audit verify` finds the signed entry gone and counts what is
//! missing; the count is carried forward, so later writes do not hide a gap either.
//!
//! What the row cannot show: a database user who kept an older signed row may put it back
//! together with the shorter chain it signed. The anchor file (`--audit-anchor-file`) closes
//! that gap: each node copies the signed head there as it moves (at once for its own writes,
//! within [`FILE_POLL`] for other nodes') and never moves it back, so the chain must still
//! reach the file's head.
//!
//! Several nodes: signing takes the chain's advisory lock (PostgreSQL), so heads are signed in
//! chain order and never move back; SQLite has one writer at a time. A signer never signs over
//! a head it cannot account for (the signed entry gone or changed, or the row not signed with
//! its key): it leaves the row as it is for `audit verify` to report, and logs an error.

use super::CHAIN_LOCK;
use crate::db::{AfterCommit, CommitHook, Db};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use entity::audit_anchor;
use hmac::{Hmac, Mac};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, Set, Statement,
};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// The one row of `audit_anchors`.
const ROW: i32 = 1;

/// What a signature covers begins with this, so it can mean nothing else.
const FORMAT: &str = "convio-audit-anchor/1";

/// How often a node with an anchor file looks for heads other nodes signed.
pub const FILE_POLL: Duration = Duration::from_secs(1);

/// The key that signs heads: at least 32 bytes, never stored.
#[derive(Clone)]
pub struct AnchorKey {
    key: Arc<[u8]>,
    /// A fingerprint naming the key in the row and the file (it does not reveal the key).
    id: String,
}

impl AnchorKey {
    /// `--audit-anchor-key`: refused (naming `audit_anchor_key`) when shorter than 32 bytes.
    pub fn parse(secret: &str) -> AppResult<Self> {
        if secret.len() < 32 {
            return Err(AppError::invalid(
                "audit_anchor_key",
                "--audit-anchor-key must be at least 32 bytes",
            ));
        }
        let key: Arc<[u8]> = secret.as_bytes().into();
        let id = hex::encode(&hmac(&key, b"convio audit anchor key id")?[..8]);
        Ok(AnchorKey { key, id })
    }

    fn sign(&self, head: Head) -> AppResult<SignedHead> {
        Ok(SignedHead {
            mac: hex::encode(hmac(&self.key, head.signed_text().as_bytes())?),
            key_id: self.id.clone(),
            signed_at: Utc::now(),
            head,
        })
    }

    /// Whether `signed` carries this key's signature of its head (compared in constant time).
    pub fn signed(&self, signed: &SignedHead) -> bool {
        let Ok(mac) = hex::decode(&signed.mac) else {
            return false;
        };
        let Ok(mut check) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return false;
        };
        check.update(signed.head.signed_text().as_bytes());
        check.verify_slice(&mac).is_ok()
    }
}

fn hmac(key: &[u8], message: &[u8]) -> AppResult<Vec<u8>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key)
        .map_err(|e| AppError::Internal(format!("the audit anchor key: {e}")))?;
    mac.update(message);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// The chain's head: what a signature vouches for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The newest chained entry; 0 while the chain is empty.
    pub entry_id: i64,
    /// Its `hash` (empty while the chain is empty).
    pub entry_hash: String,
    /// Chained entries up to and including it.
    pub entries: u64,
    /// The newest chained entry when signing started on this database (0: it was empty).
    pub since_entry_id: i64,
}

impl Head {
    fn signed_text(&self) -> String {
        format!(
            "{FORMAT}\n{}\n{}\n{}\n{}",
            self.entry_id, self.entry_hash, self.entries, self.since_entry_id
        )
    }
}

/// A head and its signature: the row of `audit_anchors`, and the anchor file's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedHead {
    #[serde(flatten)]
    pub head: Head,
    /// Fingerprint of the key that signed it.
    pub key_id: String,
    /// HMAC-SHA-256 (hex) of the head.
    pub mac: String,
    pub signed_at: DateTime<Utc>,
}

impl From<audit_anchor::Model> for SignedHead {
    fn from(row: audit_anchor::Model) -> Self {
        SignedHead {
            head: Head {
                entry_id: row.entry_id,
                entry_hash: row.entry_hash,
                // Never negative: only `u64`s are written.
                entries: u64::try_from(row.entries).unwrap_or_default(),
                since_entry_id: row.since_entry_id,
            },
            key_id: row.key_id,
            mac: row.mac,
            signed_at: row.signed_at,
        }
    }
}

impl SignedHead {
    fn row(&self) -> audit_anchor::ActiveModel {
        audit_anchor::ActiveModel {
            id: Set(ROW),
            entry_id: Set(self.head.entry_id),
            entry_hash: Set(self.head.entry_hash.clone()),
            entries: Set(i64::try_from(self.head.entries).unwrap_or(i64::MAX)),
            since_entry_id: Set(self.head.since_entry_id),
            key_id: Set(self.key_id.clone()),
            mac: Set(self.mac.clone()),
            signed_at: Set(self.signed_at),
        }
    }
}

/// The signed head stored in the database, if any.
pub(super) async fn stored(conn: &impl ConnectionTrait) -> AppResult<Option<SignedHead>> {
    Ok(audit_anchor::Entity::find_by_id(ROW)
        .one(conn)
        .await?
        .map(SignedHead::from))
}

/// What the chain holds beyond a signed entry, read in one statement.
struct Beyond {
    /// The hash now stored for the signed entry (`None`: it is gone).
    signed_entry_hash: Option<String>,
    /// Chained entries newer than the signed one.
    added: u64,
    /// The newest chained entry and its hash.
    head: Option<(i64, String)>,
}

impl Beyond {
    async fn read(conn: &impl ConnectionTrait, signed_id: i64) -> AppResult<Self> {
        // `signed_id` is a number we stored, never client text.
        let sql = format!(
            "SELECT \
               (SELECT hash FROM audit_log WHERE id = {signed_id}) AS signed_hash, \
               (SELECT COUNT(*) FROM audit_log WHERE id > {signed_id} AND hash IS NOT NULL) \
                 AS added, \
               (SELECT id FROM audit_log WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1) \
                 AS head_id, \
               (SELECT hash FROM audit_log WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1) \
                 AS head_hash"
        );
        let row = conn
            .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
            .await?
            .ok_or_else(|| AppError::Internal("reading the audit head returned no row".into()))?;
        let added: i64 = row.try_get("", "added")?;
        let head_id: Option<i64> = row.try_get("", "head_id")?;
        let head_hash: Option<String> = row.try_get("", "head_hash")?;
        Ok(Beyond {
            signed_entry_hash: row.try_get("", "signed_hash")?,
            added: u64::try_from(added).unwrap_or_default(),
            head: head_id.zip(head_hash),
        })
    }
}

/// Signs the chain's head in every write transaction (see the module documentation), and
/// hands each head it signed to the anchor file's writer once committed.
pub struct Anchor {
    key: AnchorKey,
    /// Whether this process may still start the anchor where there is none: at its first
    /// commit only, so that a row removed later is reported, not silently replaced.
    may_start: AtomicBool,
    /// Whether the error "cannot sign" was logged already.
    complained: AtomicBool,
    /// Tells the anchor file's writer of each head this node committed.
    signed: Option<watch::Sender<Option<SignedHead>>>,
}

impl Anchor {
    /// Signs with `key`; with `file`, also keeps that file (see [`spawn_file_keeper`]) on
    /// `db`'s heads.
    pub fn new(key: AnchorKey, file: Option<(PathBuf, Db)>) -> Self {
        let signed = file.map(|(path, db)| {
            let (sender, receiver) = watch::channel(None);
            spawn_file_keeper(db, key.clone(), path, receiver);
            sender
        });
        Anchor {
            key,
            may_start: AtomicBool::new(true),
            complained: AtomicBool::new(false),
            signed,
        }
    }

    /// Moves the signed head to the chain's head, if the transaction added to the chain.
    async fn advance(&self, txn: &DatabaseTransaction) -> AppResult<Option<SignedHead>> {
        if txn.get_database_backend() == DbBackend::Postgres {
            // In chain order with the appends (already held when this transaction appended).
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({CHAIN_LOCK})"))
                .await?;
        }
        let may_start = self.may_start.swap(false, Ordering::Relaxed);
        let Some(previous) = stored(txn).await? else {
            if may_start {
                return self.start(txn).await.map(Some);
            }
            self.complain("the signed audit head (table audit_anchors) is gone");
            return Ok(None);
        };
        let beyond = Beyond::read(txn, previous.head.entry_id).await?;
        let Some((entry_id, entry_hash)) = beyond.head.filter(|_| beyond.added > 0) else {
            return Ok(None);
        };
        if !self.key.signed(&previous) {
            self.complain("the signed audit head does not verify with --audit-anchor-key");
            return Ok(None);
        }
        if previous.head.entry_id != 0
            && beyond.signed_entry_hash.as_deref() != Some(previous.head.entry_hash.as_str())
        {
            self.complain("the audit entry signed as the head is gone or changed");
            return Ok(None);
        }
        let signed = self.key.sign(Head {
            entry_id,
            entry_hash,
            entries: previous.head.entries + beyond.added,
            since_entry_id: previous.head.since_entry_id,
        })?;
        signed.row().update(txn).await?;
        Ok(Some(signed))
    }

    /// Signs the head of a chain that has no signed head yet.
    async fn start(&self, txn: &DatabaseTransaction) -> AppResult<SignedHead> {
        let beyond = Beyond::read(txn, 0).await?;
        let (entry_id, entry_hash) = beyond.head.unwrap_or((0, String::new()));
        let signed = self.key.sign(Head {
            entry_id,
            entry_hash,
            entries: beyond.added,
            since_entry_id: entry_id,
        })?;
        signed.row().insert(txn).await?;
        if signed.head.entries > 0 {
            tracing::warn!(
                entry = entry_id,
                entries = signed.head.entries,
                "audit anchor started over existing entries: the audit log was written without \
                 --audit-anchor-key until now, or its signed head was removed"
            );
        } else {
            tracing::info!("audit anchor started on an empty audit log");
        }
        Ok(signed)
    }

    fn complain(&self, what: &str) {
        if !self.complained.swap(true, Ordering::Relaxed) {
            tracing::error!(
                "{what}: the audit log may have been tampered with; the head is not signed \
                 any further; run `convio audit verify` with the anchor key and file"
            );
        }
    }
}

impl CommitHook for Anchor {
    fn before_commit<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
    ) -> Pin<Box<dyn Future<Output = AppResult<Option<AfterCommit>>> + Send + 'a>> {
        Box::pin(async move {
            let Some(signed) = self.advance(txn).await? else {
                return Ok(None);
            };
            let Some(sender) = self.signed.clone() else {
                return Ok(None);
            };
            let after: AfterCommit = Box::new(move || {
                sender.send_if_modified(|latest| {
                    let newer = latest
                        .as_ref()
                        .is_none_or(|l| l.head.entries < signed.head.entries);
                    if newer {
                        *latest = Some(signed);
                    }
                    newer
                });
            });
            Ok(Some(after))
        })
    }
}

/// Keeps the anchor file at `path` on the newest head signed with `key`: this node's, as it
/// commits them, and any node's, read from `db` every [`FILE_POLL`]. The file only moves
/// forward, and not at all once the chain no longer holds the head it names (that is
/// evidence); each version is written whole, then renamed over the last.
fn spawn_file_keeper(
    db: Db,
    key: AnchorKey,
    path: PathBuf,
    mut signed: watch::Receiver<Option<SignedHead>>,
) {
    tokio::spawn(async move {
        let mut written = match read_file(&path).await {
            Ok(head) => head,
            Err(err) => {
                tracing::error!(error = %err, path = %path.display(), "the audit anchor file \
                    is unreadable; it is left as it is and not kept");
                return;
            }
        };
        let mut complained = false;
        loop {
            tokio::select! {
                changed = signed.changed() => if changed.is_err() {
                    return; // The server is gone.
                },
                () = tokio::time::sleep(FILE_POLL) => {}
            }
            let mine = signed.borrow_and_update().clone();
            let theirs = stored(db.conn()).await.ok().flatten();
            let Some(newest) = [mine, theirs]
                .into_iter()
                .flatten()
                .filter(|s| key.signed(s))
                .max_by_key(|s| s.head.entries)
            else {
                continue;
            };
            if written
                .as_ref()
                .is_some_and(|w| w.head.entries >= newest.head.entries)
            {
                continue;
            }
            if let Some(old) = &written
                && !chain_holds(&db, &old.head).await.unwrap_or(true)
            {
                if !complained {
                    complained = true;
                    tracing::error!(entry = old.head.entry_id, path = %path.display(),
                        "the audit log no longer holds the head the anchor file names: the \
                         file is kept as it is; run `convio audit verify` with it");
                }
                continue;
            }
            match write_file(&path, &newest).await {
                Ok(()) => written = Some(newest),
                Err(err) => tracing::warn!(error = %err, path = %path.display(),
                    "writing the audit anchor file failed; retrying"),
            }
        }
    });
}

/// Whether the chain still holds `head`'s entry, with its hash.
async fn chain_holds(db: &Db, head: &Head) -> AppResult<bool> {
    if head.entry_id == 0 {
        return Ok(true);
    }
    let beyond = Beyond::read(db.conn(), head.entry_id).await?;
    Ok(beyond.signed_entry_hash.as_deref() == Some(head.entry_hash.as_str()))
}

/// The anchor file as written: its format, then the signed head.
#[derive(Serialize, Deserialize)]
struct AnchorFile {
    format: String,
    #[serde(flatten)]
    signed: SignedHead,
}

/// The signed head in the anchor file at `path`; `None` when there is no file yet.
pub async fn read_file(path: &Path) -> AppResult<Option<SignedHead>> {
    let unreadable = |why: String| {
        AppError::invalid(
            "audit_anchor_file",
            format!("{} is not an audit anchor file: {why}", path.display()),
        )
    };
    let text = match tokio::fs::read_to_string(path).await {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(unreadable(err.to_string())),
    };
    let file: AnchorFile = serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
    if file.format != FORMAT {
        return Err(unreadable(format!("unknown format {:?}", file.format)));
    }
    Ok(Some(file.signed))
}

/// Writes `signed` to a file beside `path`, syncs it, and renames it over `path`: a reader
/// (or a crash) sees the old head or the new one, never half of one.
async fn write_file(path: &Path, signed: &SignedHead) -> std::io::Result<()> {
    let file = AnchorFile {
        format: FORMAT.to_owned(),
        signed: signed.clone(),
    };
    let mut text = serde_json::to_string_pretty(&file).map_err(std::io::Error::other)?;
    text.push('\n');
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let temporary = path.with_file_name(name);
    let mut out = tokio::fs::File::create(&temporary).await?;
    tokio::io::AsyncWriteExt::write_all(&mut out, text.as_bytes()).await?;
    out.sync_all().await?;
    drop(out);
    tokio::fs::rename(&temporary, path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(entries: u64) -> Head {
        Head {
            entry_id: 7,
            entry_hash: "ab".repeat(32),
            entries,
            since_entry_id: 1,
        }
    }

    #[test]
    fn a_head_verifies_with_its_key_only_and_unchanged() {
        let key = AnchorKey::parse(&"k".repeat(32)).expect("a key");
        let other = AnchorKey::parse(&"o".repeat(32)).expect("a key");
        let signed = key.sign(head(7)).expect("signed");
        assert!(key.signed(&signed));
        assert!(!other.signed(&signed));
        assert_ne!(key.id, other.id);
        let mut shorter = signed.clone();
        shorter.head.entries = 6;
        assert!(!key.signed(&shorter), "a changed count no longer verifies");
        let mut garbled = signed;
        garbled.mac = "zz".into();
        assert!(!key.signed(&garbled));
    }

    #[test]
    fn a_short_key_is_refused_naming_the_flag() {
        let err = AnchorKey::parse("short").err().expect("refused");
        assert_eq!(err.field(), Some("audit_anchor_key"));
    }

    #[test]
    fn the_file_round_trips() {
        let key = AnchorKey::parse(&"k".repeat(32)).expect("a key");
        let signed = key.sign(head(3)).expect("signed");
        let text = serde_json::to_string(&AnchorFile {
            format: FORMAT.into(),
            signed: signed.clone(),
        })
        .expect("json");
        let back: AnchorFile = serde_json::from_str(&text).expect("parsed");
        assert_eq!(back.signed, signed);
        assert!(key.signed(&back.signed));
    }
}
