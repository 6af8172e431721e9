//! Verified API keys, kept in memory so an authenticated request costs no SQL statement.
//!
//! An entry is what a key stands for when it was last read from the database: its workspace,
//! that workspace's permissions and hourly limit, and the key's expiry. It is found by the key's
//! stored digest (never the key itself) for `X-API-Key` and bearer keys, and by the key's id for
//! JWTs minted from it. Only successful verifications are stored, so a new key or an enabled
//! workspace needs nothing to take effect, and a flood of bad keys cannot fill the cache.
//!
//! How an entry stops being used:
//! - its key's `expires_at` passes: checked on every hit, against the clock;
//! - anything that changes what a key stands for (revoking or rotating keys, disabling or
//!   enabling a workspace, changing its permissions or limit) clears the whole cache on this
//!   node after its commit, before the change is answered, and on PostgreSQL sends
//!   `NOTIFY convio_credentials` in the same transaction; every node's feed listener clears
//!   its own cache when it hears it;
//! - on PostgreSQL the cache is used only while this node's listener is listening: when it
//!   drops, the cache is cleared and bypassed until it listens again (a missed notification
//!   cannot leave a stale entry);
//! - after [`MAX_AGE`] regardless, a backstop for changes made behind the service's back.
//!
//! A verification that read the database before a clear must not store what it read after
//! it: each clear starts a new generation, and an entry is stored only if the generation it
//! was read in is still current.

use crate::auth::{Actor, Principal, Proof};
use crate::domain::{Permission, WorkspaceId};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Keys kept; past it, an arbitrary entry makes room. Only keys that verified are stored, so
/// this bounds memory, not an attacker.
const CAPACITY: usize = 10_000;
/// An entry is read again from the database after this long, whatever it heard.
pub const MAX_AGE: Duration = Duration::from_secs(30);

/// What a verified key stands for, as last read from its row and its workspace's.
#[derive(Clone, Debug, PartialEq)]
pub struct Standing {
    /// The key's `api_keys.id`.
    pub key_id: i64,
    /// The workspace the key belongs to; `None` for an admin key row.
    pub owner: Option<WorkspaceId>,
    /// The workspace's permissions (empty for an admin key row, which is the admin).
    pub permissions: Vec<Permission>,
    /// When the key stops working (set by a rotation); `None` while it is current.
    pub expires_at: Option<DateTime<Utc>>,
    /// Requests per clock hour: the workspace's own limit or the server default; 0 means
    /// unlimited (always for an admin key row).
    pub hourly_limit: u64,
}

impl Standing {
    /// The principal of a caller that presented this key (or a token minted from it).
    pub fn principal(&self, proof: Proof) -> Principal {
        match &self.owner {
            Some(id) => Principal {
                actor: Actor::Workspace(id.clone()),
                permissions: self.permissions.clone(),
                key_id: Some(self.key_id),
                proof,
            },
            None => Principal {
                key_id: Some(self.key_id),
                proof,
                ..Principal::admin()
            },
        }
    }

    fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// Taken before reading the database; storing what was read needs it to be still current.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket(u64);

struct Entry {
    standing: Arc<Standing>,
    /// The key's stored digest, when it was verified from the key itself.
    digest: Option<String>,
    stored_at: Instant,
}

#[derive(Default)]
struct State {
    generation: u64,
    /// False on PostgreSQL while this node cannot hear other nodes' changes.
    trusted: bool,
    by_key: HashMap<i64, Entry>,
    by_digest: HashMap<String, i64>,
}

/// This node's verified keys. Cheap to share: one lock held for a map lookup.
pub struct PrincipalCache {
    state: Mutex<State>,
}

impl PrincipalCache {
    /// `trusted`: whether entries may be used from the start (SQLite, served by one process);
    /// on PostgreSQL, false until [`PrincipalCache::set_trusted`] says the listener listens.
    pub fn new(trusted: bool) -> Self {
        PrincipalCache {
            state: Mutex::new(State {
                trusted,
                ..State::default()
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves valid maps: a digest always names
        // the same key id, so at worst an entry is missing.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The generation to store under, or `None` when nothing may be stored now.
    pub fn ticket(&self) -> Option<Ticket> {
        let state = self.state();
        state.trusted.then_some(Ticket(state.generation))
    }

    /// The standing of the key whose stored digest is one of `candidates`.
    pub fn by_digest(&self, candidates: &[String]) -> Option<Arc<Standing>> {
        let mut state = self.state();
        let key_id = candidates
            .iter()
            .find_map(|digest| state.by_digest.get(digest).copied())?;
        fresh(&mut state, key_id)
    }

    /// The standing of the key `key_id` (for a JWT minted from it).
    pub fn by_key(&self, key_id: i64) -> Option<Arc<Standing>> {
        fresh(&mut self.state(), key_id)
    }

    /// Stores `standing`, found by `digest` too when given, unless the cache was cleared (or
    /// distrusted) since `ticket` was taken.
    pub fn insert(&self, ticket: Ticket, digest: Option<String>, standing: Standing) {
        let mut state = self.state();
        if !state.trusted || state.generation != ticket.0 {
            return;
        }
        let key_id = standing.key_id;
        if state.by_key.len() >= CAPACITY && !state.by_key.contains_key(&key_id) {
            let victim = state.by_key.keys().next().copied();
            if let Some(victim) = victim {
                remove(&mut state, victim);
            }
        }
        let previous = state.by_key.remove(&key_id);
        let digest = digest.or_else(|| previous.and_then(|p| p.digest));
        if let Some(digest) = &digest {
            state.by_digest.insert(digest.clone(), key_id);
        }
        state.by_key.insert(
            key_id,
            Entry {
                standing: Arc::new(standing),
                digest,
                stored_at: Instant::now(),
            },
        );
    }

    /// Forgets the key `key_id`, about to be read again.
    pub fn forget(&self, key_id: i64) {
        remove(&mut self.state(), key_id);
    }

    /// Forgets every entry, and refuses to store what was read before.
    pub fn clear(&self) {
        let mut state = self.state();
        state.generation = state.generation.wrapping_add(1);
        state.by_key.clear();
        state.by_digest.clear();
    }

    /// Starts or stops using the cache (PostgreSQL: while the listener listens). Either way
    /// it starts empty.
    pub fn set_trusted(&self, trusted: bool) {
        let mut state = self.state();
        state.trusted = trusted;
        state.generation = state.generation.wrapping_add(1);
        state.by_key.clear();
        state.by_digest.clear();
    }
}

/// The entry for `key_id` while it may still be used; an expired or old one is dropped.
fn fresh(state: &mut State, key_id: i64) -> Option<Arc<Standing>> {
    let entry = state.by_key.get(&key_id)?;
    if entry.standing.expired(Utc::now()) || entry.stored_at.elapsed() >= MAX_AGE {
        remove(state, key_id);
        return None;
    }
    Some(entry.standing.clone())
}

fn remove(state: &mut State, key_id: i64) {
    if let Some(entry) = state.by_key.remove(&key_id)
        && let Some(digest) = entry.digest
    {
        state.by_digest.remove(&digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standing(key_id: i64, expires_at: Option<DateTime<Utc>>) -> Standing {
        Standing {
            key_id,
            owner: Some(WorkspaceId::from_trusted("team".into())),
            permissions: vec![Permission::Read],
            expires_at,
            hourly_limit: 10,
        }
    }

    fn digest(s: &str) -> Vec<String> {
        vec![s.to_owned()]
    }

    #[test]
    fn a_stored_key_is_found_by_digest_and_by_id() {
        let cache = PrincipalCache::new(true);
        let ticket = cache.ticket().unwrap();
        cache.insert(ticket, Some("d1".into()), standing(1, None));
        assert_eq!(cache.by_digest(&digest("d1")).unwrap().key_id, 1);
        assert_eq!(cache.by_key(1).unwrap().key_id, 1);
        assert!(cache.by_digest(&digest("d2")).is_none());
    }

    #[test]
    fn an_expired_key_is_not_found() {
        let cache = PrincipalCache::new(true);
        let past = Utc::now() - chrono::Duration::seconds(1);
        cache.insert(
            cache.ticket().unwrap(),
            Some("d1".into()),
            standing(1, Some(past)),
        );
        assert!(cache.by_digest(&digest("d1")).is_none());
        assert!(cache.by_key(1).is_none());
    }

    #[test]
    fn what_was_read_before_a_clear_is_not_stored_after_it() {
        let cache = PrincipalCache::new(true);
        let ticket = cache.ticket().unwrap();
        cache.clear();
        cache.insert(ticket, Some("d1".into()), standing(1, None));
        assert!(cache.by_key(1).is_none());
    }

    #[test]
    fn an_untrusted_cache_stores_nothing() {
        let cache = PrincipalCache::new(false);
        assert!(cache.ticket().is_none());
        cache.set_trusted(true);
        let ticket = cache.ticket().unwrap();
        cache.insert(ticket, Some("d1".into()), standing(1, None));
        assert!(cache.by_key(1).is_some());
        cache.set_trusted(false);
        assert!(cache.by_key(1).is_none(), "distrusting clears");
        cache.insert(ticket, Some("d1".into()), standing(1, None));
        assert!(cache.by_key(1).is_none());
    }

    #[test]
    fn a_token_lookup_keeps_the_digest_a_key_lookup_stored() {
        let cache = PrincipalCache::new(true);
        let ticket = cache.ticket().unwrap();
        cache.insert(ticket, Some("d1".into()), standing(1, None));
        cache.insert(ticket, None, standing(1, None));
        assert!(cache.by_digest(&digest("d1")).is_some());
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = PrincipalCache::new(true);
        let ticket = cache.ticket().unwrap();
        for id in 0..(CAPACITY as i64 + 5) {
            cache.insert(ticket, Some(format!("d{id}")), standing(id, None));
        }
        let state = cache.state();
        assert_eq!(state.by_key.len(), CAPACITY);
        assert_eq!(state.by_digest.len(), CAPACITY);
    }
}
