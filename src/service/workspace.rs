//! Workspaces: registration, authentication, keys and tokens, disabling and changing what a
//! workspace may do, and its activity.

use super::conversion::ConversionFilter;
use super::principal_cache::Standing;
use super::stats::StatsQuery;
use super::{Services, audit, now};
use crate::auth::{self, Actor, Caller, Credentials, Principal, Proof};
use crate::domain::{DateRange, Permission, TrackingAction, WeekStart, WorkspaceId};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use entity::{api_key, workspace, workspace_tracking};
use sea_orm::sea_query::{Expr, Func, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};
use serde_json::{Value, json};
use std::sync::Arc;

/// Keys a client picks itself must be at least this long; generated ones are far longer.
const MIN_CHOSEN_KEY_LEN: usize = 16;
pub const KEY_PREFIX: &str = "convio_";
const ADMIN_KEY_PREFIX: &str = "convio_admin_";

/// The PostgreSQL channel on which a node announces that credentials changed (keys revoked or
/// rotated, a workspace disabled or enabled, its permissions or limit changed), so every node
/// forgets the keys it verified and its open WebSocket connections re-check their caller at
/// once rather than at their next periodic check.
pub const CREDENTIALS_CHANNEL: &str = "convio_credentials";

#[derive(Debug)]
pub struct NewWorkspace {
    pub id: WorkspaceId,
    pub name: String,
    pub permissions: Vec<Permission>,
    /// A key the integrator already configured; omit it to have a strong one generated.
    pub api_key: Option<String>,
    /// Overrides the server's default hourly request limit; 0 means unlimited.
    pub rate_limit_per_hour: Option<u32>,
}

/// Characters in a workspace's display name.
pub const MAX_WORKSPACE_NAME: usize = 200;

/// What an admin changes about a workspace (`PATCH /workspaces/{id}`, `updateWorkspace`);
/// `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct WorkspaceChange {
    pub name: Option<String>,
    /// Replaces the workspace's permissions (duplicates are dropped).
    pub permissions: Option<Vec<Permission>>,
    /// `Some(None)` returns the workspace to the server's default hourly limit; `Some(Some(0))`
    /// means unlimited.
    pub rate_limit_per_hour: Option<Option<u32>>,
}

/// Recent activity entries by default, and at most.
pub const ACTIVITY_DEFAULT: u64 = 20;
pub const ACTIVITY_MAX: u64 = 100;

/// The plan's §2.2 activity view.
#[derive(Debug)]
pub struct Activity {
    pub workspace_id: WorkspaceId,
    pub contacts_received: u64,
    pub contacts_sent: u64,
    pub conversions: u64,
    pub conversion_rate: Option<f64>,
    pub recent: Vec<workspace_tracking::Model>,
}

/// 100 × `part` ÷ `whole` in percent, rounded half up to two decimals (1 of 32 is 3.125 %, shown
/// as 3.13), in integers so no double decides a tie; `None` when `whole` is 0. Conversion rates
/// and funnel percentages both use it.
pub fn conversion_rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| {
        let (part, whole) = (u128::from(part), u128::from(whole));
        let hundredths = (part * 20_000 + whole) / (2 * whole);
        hundredths as f64 / 100.0
    })
}

pub fn permissions_of(model: &workspace::Model) -> Vec<Permission> {
    match &model.permissions {
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str())
            .filter_map(|s| Permission::parse("", s).ok())
            .collect(),
        _ => Vec::new(),
    }
}

impl Services {
    /// Turns presented credentials into a principal, or says why not.
    pub async fn authenticate(&self, creds: &Credentials) -> AppResult<Principal> {
        if creds.is_empty() {
            return Err(AppError::Unauthenticated(
                "send X-Workspace-ID and X-API-Key, or Authorization: Bearer".into(),
            ));
        }
        if let Some(why) = creds.ambiguity() {
            return Err(AppError::Unauthenticated(why.into()));
        }
        if let Some(token) = creds.bearer.as_deref().filter(|t| auth::looks_like_jwt(t)) {
            let subject = self.tokens.verify(token, self.admin_key_hash.as_deref())?;
            // As for a key: an `X-Workspace-ID` naming another workspace is refused, never
            // ignored (the admin has no workspace to contradict).
            if let (Actor::Workspace(own), Some(claimed)) =
                (&subject.actor, creds.workspace_id.as_deref())
                && own.as_str() != claimed
            {
                return Err(AppError::Unauthenticated(
                    "X-Workspace-ID names another workspace than the token".into(),
                ));
            }
            return self
                .standing_principal(&subject.actor, subject.key_id, Proof::Token, true)
                .await;
        }
        let key = creds
            .api_key
            .as_deref()
            .or(creds.bearer.as_deref())
            .ok_or_else(|| AppError::Unauthenticated("an API key is required".into()))?;
        if let Some(admin) = &self.admin_key_hash
            && auth::digests_equal(&auth::hash_key(key), admin)
        {
            return Ok(Principal::admin());
        }
        let candidates = self.key_hasher.candidates(key);
        let claimed = creds.workspace_id.as_deref();
        // Found by digest, as the database finds it (neither compares in constant time: the
        // digests are of 256-bit keys, or keyed with the pepper, so timing tells nothing).
        let standing = match self.principals.by_digest(&candidates) {
            Some(standing) => standing,
            None => Arc::new(self.verify_key(&candidates, claimed).await?),
        };
        if let (Some(owner), Some(claimed)) = (&standing.owner, claimed)
            && owner.as_str() != claimed
        {
            return Err(unknown_key());
        }
        Ok(standing.principal(Proof::ApiKey))
    }

    /// Looks up the key with one of the stored digests `candidates` (neither revoked nor
    /// expired) and its workspace (not disabled), and caches what it stands for. A key of
    /// another workspace than `claimed` is refused before its workspace is read.
    async fn verify_key(
        &self,
        candidates: &[String],
        claimed: Option<&str>,
    ) -> AppResult<Standing> {
        let ticket = self.principals.ticket();
        let row = api_key::Entity::find()
            .filter(api_key::Column::KeyHash.is_in(candidates.to_vec()))
            .filter(api_key::Column::RevokedAt.is_null())
            .filter(
                Condition::any()
                    .add(api_key::Column::ExpiresAt.is_null())
                    .add(api_key::Column::ExpiresAt.gt(now())),
            )
            .one(self.db.conn())
            .await?
            .filter(|row| {
                candidates
                    .iter()
                    .any(|c| auth::digests_equal(c, &row.key_hash))
            })
            .ok_or_else(unknown_key)?;
        let ws = match row.workspace_id.as_deref() {
            Some(owner) if claimed.is_some_and(|claimed| claimed != owner) => {
                return Err(unknown_key());
            }
            Some(owner) => {
                workspace::Entity::find_by_id(owner)
                    .one(self.db.conn())
                    .await?
            }
            None => None,
        };
        let digest = row.key_hash.clone();
        let standing = self.standing_of(row, ws)?;
        if let Some(ticket) = ticket {
            self.principals
                .insert(ticket, Some(digest), standing.clone());
        }
        Ok(standing)
    }

    /// What the key `key` of the workspace `ws` (`None` for an admin key row) stands for,
    /// unless the workspace is gone or disabled. Revocation and expiry are the caller's to
    /// check: the two lookups filter differently.
    fn standing_of(
        &self,
        key: api_key::Model,
        ws: Option<workspace::Model>,
    ) -> AppResult<Standing> {
        let Some(owner) = key.workspace_id else {
            return Ok(Standing {
                key_id: key.id,
                owner: None,
                permissions: Vec::new(),
                expires_at: key.expires_at,
                hourly_limit: 0,
            });
        };
        let ws = ws
            .filter(|w| w.disabled_at.is_none())
            .ok_or_else(|| AppError::Unauthenticated("unknown or disabled workspace".into()))?;
        Ok(Standing {
            key_id: key.id,
            owner: Some(WorkspaceId::from_trusted(owner)),
            permissions: permissions_of(&ws),
            expires_at: key.expires_at,
            hourly_limit: self.rate_limiter.limit_or_default(ws.rate_limit_per_hour),
        })
    }

    /// Re-checks what `principal` was authenticated from: its API key neither revoked nor
    /// expired, its workspace not disabled, and its permissions unchanged. Open WebSocket
    /// connections call this periodically (and at once when a node announces withdrawn
    /// credentials), so they end when their credentials do; a connection keeps the
    /// permissions it opened with, so after a change it ends too and the client reconnects
    /// with the new ones.
    ///
    /// Read from the database, not the cache of verified keys, and the cache is refreshed with
    /// what it reads: the periodic check is the backstop for changes made behind the API's
    /// back (in SQL), which no node announces.
    pub async fn revalidate(&self, principal: &Principal) -> AppResult<Principal> {
        let current = self
            .standing_principal(&principal.actor, principal.key_id, principal.proof, false)
            .await?;
        if current.permissions != principal.permissions {
            return Err(AppError::Unauthenticated(
                "the workspace's permissions changed; connect again".into(),
            ));
        }
        Ok(current)
    }

    /// Forgets the keys this node verified and makes its open WebSocket connections re-check
    /// their callers now. Called after credentials change here (before the change is
    /// answered), when another node announces a change on `CREDENTIALS_CHANNEL`, and when the
    /// listener for those announcements reconnects.
    pub fn recheck_credentials(&self) {
        self.principals.clear();
        self.credentials_revoked
            .send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The principal for `actor`, authenticated earlier from the API key `key_id`, if that
    /// still stands: from the cache of verified keys when `cached` allows and it holds the key,
    /// else one primary-key lookup joined to the workspace. This is what cancels a JWT as soon
    /// as the key it was minted from is revoked or expires.
    async fn standing_principal(
        &self,
        actor: &Actor,
        key_id: Option<i64>,
        proof: Proof,
        cached: bool,
    ) -> AppResult<Principal> {
        let revoked = || {
            AppError::Unauthenticated(
                "the key these credentials came from is revoked or expired".into(),
            )
        };
        let Some(key_id) = key_id else {
            // Only the configured admin key has no row; a token naming a workspace without a
            // key cannot be checked against revocation, so it is not accepted.
            return match actor {
                Actor::Admin if self.admin_key_hash.is_some() => Ok(Principal {
                    proof,
                    ..Principal::admin()
                }),
                _ => Err(revoked()),
            };
        };
        let standing = match self.principals.by_key(key_id).filter(|_| cached) {
            Some(standing) => standing,
            None => Arc::new(self.verify_key_id(key_id).await?.ok_or_else(revoked)?),
        };
        match (actor, &standing.owner) {
            (Actor::Admin, None) => Ok(standing.principal(proof)),
            (Actor::Workspace(id), Some(owner)) if id == owner => Ok(standing.principal(proof)),
            _ => Err(revoked()),
        }
    }

    /// The key `key_id` if it is neither revoked nor expired (`None` otherwise), with what it
    /// stands for, cached: one primary-key lookup joined to its workspace. What the cache held
    /// of the key is dropped first, so a key found refused stays out of it.
    async fn verify_key_id(&self, key_id: i64) -> AppResult<Option<Standing>> {
        self.principals.forget(key_id);
        let ticket = self.principals.ticket();
        let Some((key, ws)) = api_key::Entity::find_by_id(key_id)
            .find_also_related(workspace::Entity)
            .one(self.db.conn())
            .await?
        else {
            return Ok(None);
        };
        if key.revoked_at.is_some() || key.expires_at.is_some_and(|at| at <= now()) {
            return Ok(None);
        }
        let standing = self.standing_of(key, ws)?;
        if let Some(ticket) = ticket {
            self.principals.insert(ticket, None, standing.clone());
        }
        Ok(Some(standing))
    }

    /// Creates the admin key on a fresh database when none is configured. Returns the new
    /// key so that it can be shown once; only its hash is stored.
    pub async fn bootstrap_admin_key(&self) -> AppResult<Option<String>> {
        if self.admin_key_hash.is_some() {
            return Ok(None);
        }
        let txn = self.db.begin_write().await?;
        let existing = api_key::Entity::find()
            .filter(api_key::Column::WorkspaceId.is_null())
            .filter(api_key::Column::RevokedAt.is_null())
            .count(&*txn)
            .await?;
        if existing > 0 {
            return Ok(None);
        }
        let key = auth::generate_key(ADMIN_KEY_PREFIX)?;
        store_key(&*txn, &self.key_hasher, None, &key).await?;
        let system = Caller {
            principal: Principal::admin(),
            request_id: Some("startup".into()),
        };
        audit::record(
            &*txn,
            &system,
            "admin_key.generated",
            "api_key",
            "admin",
            json!({}),
        )
        .await?;
        txn.commit().await?;
        Ok(Some(key))
    }

    /// Registers a workspace and returns it with its API key, shown this once.
    pub async fn register_workspace(
        &self,
        caller: &Caller,
        input: NewWorkspace,
    ) -> AppResult<(workspace::Model, String)> {
        caller.principal.require_admin()?;
        caller
            .principal
            .require_api_key("registering a workspace (it mints a key)")?;
        let key = match input.api_key {
            // Sent in a header, so visible ASCII only.
            Some(key)
                if !(MIN_CHOSEN_KEY_LEN..=256).contains(&key.len())
                    || !key.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                return Err(AppError::invalid(
                    "api_key",
                    format!(
                        "must be {MIN_CHOSEN_KEY_LEN} to 256 visible ASCII characters; omit it to \
                         have one generated"
                    ),
                ));
            }
            Some(key) => key,
            None => auth::generate_key(KEY_PREFIX)?,
        };
        let permissions = unique(input.permissions);
        let txn = self.db.begin_write().await?;
        if workspace::Entity::find_by_id(input.id.as_str())
            .one(&*txn)
            .await?
            .is_some()
        {
            return Err(AppError::Conflict(format!(
                "workspace {} already exists",
                input.id
            )));
        }
        let stored = workspace::ActiveModel {
            id: Set(input.id.as_str().to_owned()),
            name: Set(input.name),
            permissions: Set(json!(
                permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>()
            )),
            created_at: Set(now()),
            disabled_at: Set(None),
            rate_limit_per_hour: Set(input.rate_limit_per_hour.map(i64::from)),
            // Not 0: the all-workspace version is the sum over workspaces, and a new one must
            // change it, so answers that list every workspace are not kept past it.
            analytics_version: Set(1),
        }
        .insert(&*txn)
        .await?;
        store_key(&*txn, &self.key_hasher, Some(&input.id), &key)
            .await
            .map_err(|e| match e {
                AppError::Conflict(_) => AppError::invalid("api_key", "choose another key"),
                other => other,
            })?;
        audit::record(
            &*txn,
            caller,
            "workspace.registered",
            "workspace",
            input.id.as_str(),
            json!({ "permissions": stored.permissions }),
        )
        .await?;
        txn.commit().await?;
        Ok((stored, key))
    }

    pub async fn workspace(
        &self,
        caller: &Caller,
        id: &WorkspaceId,
    ) -> AppResult<Option<workspace::Model>> {
        if !caller.principal.can_see(id.as_str()) {
            return Ok(None);
        }
        Ok(workspace::Entity::find_by_id(id.as_str())
            .one(self.db.conn())
            .await?)
    }

    /// Every workspace for the admin; a workspace sees itself.
    pub async fn workspaces(&self, caller: &Caller) -> AppResult<Vec<workspace::Model>> {
        let mut query = workspace::Entity::find().order_by_asc(workspace::Column::Id);
        if let Some(own) = caller.principal.scope() {
            query = query.filter(workspace::Column::Id.eq(own.as_str()));
        }
        Ok(query.all(self.db.conn()).await?)
    }

    pub async fn workspaces_by_ids(&self, ids: &[String]) -> AppResult<Vec<workspace::Model>> {
        Ok(workspace::Entity::find()
            .filter(workspace::Column::Id.is_in(ids.to_vec()))
            .all(self.db.conn())
            .await?)
    }

    /// Issues a new key for a workspace and lets its other keys run out after the grace
    /// period, so clients can switch over without an outage. Returns the new key, shown this
    /// once, and when the previous keys expire.
    ///
    /// Minting a key needs an API key, never a token (`FORBIDDEN`), and a current one: a key
    /// already rotated out (in its grace period), revoked or expired may not rotate again
    /// (`FORBIDDEN`), so it cannot cut its successor's life short. The caller is the admin,
    /// or the workspace itself with the `update` permission (a read-only key cannot mint).
    pub async fn rotate_api_key(
        &self,
        caller: &Caller,
        id: &WorkspaceId,
    ) -> AppResult<(String, DateTime<Utc>)> {
        let principal = &caller.principal;
        principal.require_api_key("rotating a key")?;
        if !principal.is_admin() {
            if principal.workspace() != Some(id) {
                return Err(AppError::Forbidden(
                    "only the workspace itself or the admin may rotate its key".into(),
                ));
            }
            principal.require(Permission::Update)?;
        }
        let key = auth::generate_key(KEY_PREFIX)?;
        let expires_at = now() + self.key_rotation_grace;
        let txn = self.db.begin_write().await?;
        ensure_workspace_exists(&*txn, id).await?;
        if let Some(own) = principal.key_id {
            ensure_current_key(&*txn, own).await?;
        }
        // Keys already due to expire sooner (an earlier rotation) keep their earlier end.
        let expiring = api_key::Entity::update_many()
            .col_expr(api_key::Column::ExpiresAt, Expr::value(expires_at))
            .filter(api_key::Column::WorkspaceId.eq(id.as_str()))
            .filter(api_key::Column::RevokedAt.is_null())
            .filter(
                Condition::any()
                    .add(api_key::Column::ExpiresAt.is_null())
                    .add(api_key::Column::ExpiresAt.gt(expires_at)),
            )
            .exec(&*txn)
            .await?
            .rows_affected;
        store_key(&*txn, &self.key_hasher, Some(id), &key).await?;
        audit::record(
            &*txn,
            caller,
            "workspace.key_rotated",
            "workspace",
            id.as_str(),
            json!({ "previous_keys_expire_at": expires_at, "previous_keys": expiring }),
        )
        .await?;
        // The previous keys now expire: every node must stop trusting what it cached of them.
        announce_credentials_changed(&*txn, &self.node).await?;
        self.commit_credentials_change(txn).await?;
        Ok((key, expires_at))
    }

    /// Revokes every key of a workspace at once (admin only): for a leaked key, when waiting
    /// out a rotation's grace period is not acceptable. Returns how many keys were revoked.
    pub async fn revoke_api_keys(&self, caller: &Caller, id: &WorkspaceId) -> AppResult<u64> {
        caller.principal.require_admin()?;
        let txn = self.db.begin_write().await?;
        ensure_workspace_exists(&*txn, id).await?;
        let revoked = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(now()))
            .filter(api_key::Column::WorkspaceId.eq(id.as_str()))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(&*txn)
            .await?
            .rows_affected;
        audit::record(
            &*txn,
            caller,
            "workspace.keys_revoked",
            "workspace",
            id.as_str(),
            json!({ "revoked": revoked }),
        )
        .await?;
        announce_credentials_changed(&*txn, &self.node).await?;
        // Open connections of this workspace re-check now, not at their next periodic check.
        self.commit_credentials_change(txn).await?;
        Ok(revoked)
    }

    /// Disables a workspace (admin only): from the commit on, its keys and tokens are refused
    /// (`UNAUTHENTICATED`) and its open WebSocket connections end, on every node. Nothing of
    /// its data or keys is deleted; `enable_workspace` restores access with the same keys.
    /// Disabling a disabled workspace changes nothing and writes no audit entry.
    pub async fn disable_workspace(
        &self,
        caller: &Caller,
        id: &WorkspaceId,
    ) -> AppResult<workspace::Model> {
        caller.principal.require_admin()?;
        let txn = self.db.begin_write().await?;
        let current = locked_workspace(&*txn, id).await?;
        if current.disabled_at.is_some() {
            return Ok(current);
        }
        let mut row: workspace::ActiveModel = current.into();
        row.disabled_at = Set(Some(now()));
        let disabled = row.update(&*txn).await?;
        audit::record(
            &*txn,
            caller,
            "workspace.disabled",
            "workspace",
            id.as_str(),
            json!({ "disabled_at": disabled.disabled_at }),
        )
        .await?;
        announce_credentials_changed(&*txn, &self.node).await?;
        self.commit_credentials_change(txn).await?;
        Ok(disabled)
    }

    /// Enables a disabled workspace (admin, with an API key: it restores credentials): its keys
    /// that were neither revoked nor expired work again. Enabling an enabled workspace changes
    /// nothing and writes no audit entry.
    pub async fn enable_workspace(
        &self,
        caller: &Caller,
        id: &WorkspaceId,
    ) -> AppResult<workspace::Model> {
        caller.principal.require_admin()?;
        caller
            .principal
            .require_api_key("enabling a workspace (it restores its keys)")?;
        let txn = self.db.begin_write().await?;
        let current = locked_workspace(&*txn, id).await?;
        let Some(was_disabled_at) = current.disabled_at else {
            return Ok(current);
        };
        let mut row: workspace::ActiveModel = current.into();
        row.disabled_at = Set(None);
        let enabled = row.update(&*txn).await?;
        audit::record(
            &*txn,
            caller,
            "workspace.enabled",
            "workspace",
            id.as_str(),
            json!({ "was_disabled_at": was_disabled_at }),
        )
        .await?;
        // Nothing is cached of a disabled workspace; announced anyway, so that no node keeps
        // anything it read of this workspace before.
        announce_credentials_changed(&*txn, &self.node).await?;
        self.commit_credentials_change(txn).await?;
        Ok(enabled)
    }

    /// Changes a workspace's name, permissions or own hourly limit (admin, with an API key:
    /// permissions decide what the workspace's keys may do). The audit entry holds each changed
    /// field before and after. A change of permissions ends the workspace's open WebSocket
    /// connections on every node (they hold the permissions they opened with); clients
    /// reconnect with the new ones. A change that changes nothing writes nothing.
    pub async fn update_workspace(
        &self,
        caller: &Caller,
        id: &WorkspaceId,
        change: WorkspaceChange,
    ) -> AppResult<workspace::Model> {
        caller.principal.require_admin()?;
        caller
            .principal
            .require_api_key("changing a workspace's permissions or limits")?;
        let txn = self.db.begin_write().await?;
        let current = locked_workspace(&*txn, id).await?;
        let mut before = serde_json::Map::new();
        let mut after = serde_json::Map::new();
        let mut row: workspace::ActiveModel = current.clone().into();
        if let Some(name) = change.name.filter(|n| *n != current.name) {
            before.insert("workspace_name".into(), json!(current.name));
            after.insert("workspace_name".into(), json!(name));
            row.name = Set(name);
        }
        let permissions_changed = match change.permissions.map(unique) {
            Some(new) if new != permissions_of(&current) => {
                let names: Vec<&str> = new.iter().map(|p| p.as_str()).collect();
                before.insert("permissions".into(), current.permissions.clone());
                after.insert("permissions".into(), json!(names));
                row.permissions = Set(json!(names));
                true
            }
            _ => false,
        };
        let mut limit_changed = false;
        if let Some(limit) = change.rate_limit_per_hour.map(|l| l.map(i64::from))
            && limit != current.rate_limit_per_hour
        {
            limit_changed = true;
            before.insert(
                "rate_limit_per_hour".into(),
                json!(current.rate_limit_per_hour),
            );
            after.insert("rate_limit_per_hour".into(), json!(limit));
            row.rate_limit_per_hour = Set(limit);
        }
        if after.is_empty() {
            return Ok(current);
        }
        let updated = row.update(&*txn).await?;
        audit::record(
            &*txn,
            caller,
            "workspace.updated",
            "workspace",
            id.as_str(),
            json!({ "before": before, "after": after }),
        )
        .await?;
        // Both are part of what a verified key stands for (a name is not).
        let principal_changed = permissions_changed || limit_changed;
        if principal_changed {
            announce_credentials_changed(&*txn, &self.node).await?;
        }
        if principal_changed {
            self.commit_credentials_change(txn).await?;
        } else {
            txn.commit().await?;
        }
        Ok(updated)
    }

    /// Commits a change of credentials (announced in `txn`) and acts on it here before it is
    /// answered: this node's own listener skips the announcement. Acted on even when the
    /// commit reports an error, since a commit can succeed though its answer is lost.
    async fn commit_credentials_change(&self, txn: crate::db::WriteTxn) -> AppResult<()> {
        let committed = txn.commit().await;
        self.recheck_credentials();
        committed
    }

    /// Mints a short-lived JWT for a caller that presented an API key (`FORBIDDEN` for a
    /// token: tokens are minted from keys only). The token dies with that key: when its row is
    /// revoked or expires, or, for the configured admin key, when the admin key changes.
    pub fn issue_token(&self, caller: &Caller) -> AppResult<String> {
        self.tokens
            .issue(&caller.principal, self.admin_key_hash.as_deref())
    }

    /// The plan's §2.2 activity: contacts received and sent, conversions, rate, recent events.
    pub async fn workspace_activity(
        &self,
        caller: &Caller,
        id: &WorkspaceId,
        limit: u64,
    ) -> AppResult<Activity> {
        caller.principal.require(Permission::Read)?;
        if self.workspace(caller, id).await?.is_none() {
            return Err(AppError::not_found("workspace", id));
        }
        let conn = self.db.conn();
        // Totals from the rollups when a zone is rolled up (any zone: all-time totals agree).
        let zone = self
            .rollup_zones()
            .first()
            .copied()
            .unwrap_or(chrono_tz::Tz::UTC);
        let totals = self
            .compute_stats(
                caller,
                StatsQuery {
                    filter: ConversionFilter {
                        workspace_id: Some(id.clone()),
                        ..Default::default()
                    },
                    zone,
                    week_start: WeekStart::Monday,
                    group_by: Vec::new(),
                    reporting_currency: None,
                },
            )
            .await?;
        let conversions = totals.groups.first().map_or(0, |(_, t)| t.conversions);
        let contacts_received = self
            .received(caller, Some(id), DateRange::default(), zone)
            .await?
            .iter()
            .map(|(_, _, n)| n)
            .sum();
        let contacts_sent = contacts_sent(conn, id).await?;
        let recent = workspace_tracking::Entity::find()
            .filter(workspace_tracking::Column::WorkspaceId.eq(id.as_str()))
            .order_by_desc(workspace_tracking::Column::Timestamp)
            .order_by_desc(workspace_tracking::Column::Id)
            .limit(limit.clamp(1, ACTIVITY_MAX))
            .all(conn)
            .await?;
        Ok(Activity {
            workspace_id: id.clone(),
            contacts_received,
            contacts_sent,
            conversions,
            conversion_rate: conversion_rate(conversions, contacts_received),
            recent,
        })
    }
}

/// The refusal of a key that is not found: unknown, expired, revoked, or another workspace's.
fn unknown_key() -> AppError {
    AppError::Unauthenticated("unknown, expired or revoked credentials".into())
}

/// Permissions in the order given, each once.
fn unique(permissions: Vec<Permission>) -> Vec<Permission> {
    let mut seen = Vec::with_capacity(permissions.len());
    for p in permissions {
        if !seen.contains(&p) {
            seen.push(p);
        }
    }
    seen
}

/// Tells every node, at commit, that credentials changed (keys revoked or rotated, a workspace
/// disabled or enabled, its permissions or limit changed), so each forgets the keys it verified
/// and re-checks its WebSocket connections. PostgreSQL only: a SQLite file is served by one
/// process, which does both itself (`recheck_credentials`).
/// The payload names the announcing `node`, whose own listener skips it.
async fn announce_credentials_changed(conn: &impl ConnectionTrait, node: &str) -> AppResult<()> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CREDENTIALS_CHANNEL.into(), node.into()],
        ))
        .await?;
    }
    Ok(())
}

/// The workspace, locked for the rest of the transaction (`FOR UPDATE` on PostgreSQL; SQLite
/// already holds the write lock), or `NOT_FOUND`.
async fn locked_workspace(
    conn: &impl ConnectionTrait,
    id: &WorkspaceId,
) -> AppResult<workspace::Model> {
    workspace::Entity::find_by_id(id.as_str())
        .lock_exclusive()
        .one(conn)
        .await?
        .ok_or_else(|| AppError::not_found("workspace", id))
}

/// Refuses to mint with a key that is no longer the current one: rotated out (it has an
/// expiry), revoked, or gone. The row is locked, so two rotations with the same key cannot
/// both pass: the second sees the expiry the first set.
async fn ensure_current_key(conn: &impl ConnectionTrait, key_id: i64) -> AppResult<()> {
    let key = api_key::Entity::find_by_id(key_id)
        .lock_exclusive()
        .one(conn)
        .await?;
    match key {
        Some(key) if key.revoked_at.is_none() && key.expires_at.is_none() => Ok(()),
        _ => Err(AppError::Forbidden(
            "this key has been rotated out; rotate with the workspace's current key".into(),
        )),
    }
}

/// How many distinct contacts the workspace has sent.
async fn contacts_sent(conn: &impl ConnectionTrait, id: &WorkspaceId) -> AppResult<u64> {
    let count: Option<i64> = match conn.query_one(&sent_by(id)).await? {
        Some(row) => row.try_get_by_index(0)?,
        None => None,
    };
    Ok(count.unwrap_or(0).max(0) as u64)
}

/// `COUNT(DISTINCT contact_id)` of the workspace's sends, from `idx_tracking_handoffs` alone.
pub(super) fn sent_by(id: &WorkspaceId) -> SelectStatement {
    use sea_orm::sea_query::ExprTrait;
    use workspace_tracking::Column as T;
    Query::select()
        .expr(Func::count_distinct(Expr::col(T::ContactId)))
        .from(workspace_tracking::Entity)
        .and_where(Expr::col(T::WorkspaceId).eq(id.as_str()))
        .and_where(Expr::col(T::Action).eq(TrackingAction::Sent.as_str()))
        .and_where(super::tracking::handoffs())
        .to_owned()
}

async fn ensure_workspace_exists(conn: &impl ConnectionTrait, id: &WorkspaceId) -> AppResult<()> {
    workspace::Entity::find_by_id(id.as_str())
        .one(conn)
        .await?
        .map(|_| ())
        .ok_or_else(|| AppError::not_found("workspace", id))
}

async fn store_key(
    conn: &impl ConnectionTrait,
    hasher: &auth::KeyHasher,
    workspace: Option<&WorkspaceId>,
    key: &str,
) -> AppResult<()> {
    api_key::ActiveModel {
        workspace_id: Set(workspace.map(|w| w.as_str().to_owned())),
        key_hash: Set(hasher.stored_form(key)),
        // Enough to recognise a key in a list, never enough to matter if it leaks.
        prefix: Set(key.chars().take(12.min(key.len() / 4)).collect()),
        created_at: Set(now()),
        revoked_at: Set(None),
        expires_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::conversion_rate;

    #[test]
    fn rate_is_percent_of_received() {
        assert_eq!(conversion_rate(150, 1200), Some(12.5));
        assert_eq!(conversion_rate(1, 3), Some(33.33));
        assert_eq!(conversion_rate(2, 3), Some(66.67));
        assert_eq!(conversion_rate(5, 0), None);
    }

    #[test]
    fn rates_round_half_up_to_two_decimals() {
        assert_eq!(conversion_rate(1, 32), Some(3.13)); // 3.125
        assert_eq!(conversion_rate(1, 80_000), Some(0.0)); // 0.00125
        assert_eq!(conversion_rate(1, 20_000), Some(0.01)); // 0.005
        assert_eq!(conversion_rate(u64::MAX, u64::MAX), Some(100.0));
    }
}
