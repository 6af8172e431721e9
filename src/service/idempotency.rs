//! Idempotency keys: the first request with a key stores its conversion and the key in one
//! transaction; a retry with the same key and the same request gets that conversion back,
//! and the same key with a different request is refused.

use crate::auth::Caller;
use crate::domain::IdempotencyKey;
use crate::error::{AppError, AppResult};
use entity::idempotency_key;
use sea_orm::{ConnectionTrait, EntityTrait, Set, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use uuid::Uuid;

/// A key as it applies to one caller and one request.
#[derive(Clone, Debug)]
pub struct Claim {
    scope: String,
    key: String,
    fingerprint: String,
}

impl Claim {
    /// `request` is the parsed request: its `Debug` form is deterministic, so two bodies that
    /// mean the same (key order, spacing, `25000` vs `25000.00`) get the same fingerprint.
    pub fn new(caller: &Caller, key: &IdempotencyKey, request: &impl std::fmt::Debug) -> Self {
        let digest = Sha256::digest(format!("{request:?}").as_bytes());
        Claim {
            scope: caller.principal.audit_name(),
            key: key.as_str().to_owned(),
            fingerprint: hex::encode(digest),
        }
    }
}

/// The fingerprint of a key whose conversion's contact was erased (GDPR): a fingerprint is a
/// digest of the request, personal data included, so a client could test guesses against it.
/// Erasure replaces it with this, and any request with the key is then refused alike.
pub(crate) const ERASED: &str = "erased";

/// The conversion an earlier request with this claim stored, if any; an error if the key was
/// used for a different request, or belongs to a conversion whose contact was erased.
pub(crate) async fn prior(conn: &impl ConnectionTrait, claim: &Claim) -> AppResult<Option<Uuid>> {
    let found = idempotency_key::Entity::find_by_id(claim.id())
        .one(conn)
        .await?;
    claim.judge(
        found
            .as_ref()
            .map(|row| (row.fingerprint.as_str(), row.conversion_id)),
    )
}

/// The adjustment an earlier request with this claim stored, if any; an error if the key was
/// used for a different request (logging a conversion, say), or belongs to an erased contact.
pub(crate) async fn prior_adjustment(
    conn: &impl ConnectionTrait,
    claim: &Claim,
) -> AppResult<Option<Uuid>> {
    let Some(row) = idempotency_key::Entity::find_by_id(claim.id())
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    claim.judge(Some((row.fingerprint.as_str(), row.conversion_id)))?;
    row.adjustment_id
        .map(Some)
        .ok_or(AppError::IdempotencyConflict)
}

/// What is stored under each of `claims`' keys: (scope, key) → (fingerprint, conversion id).
/// One query on PostgreSQL, one per chunk of claims on SQLite (`sets::find_pairs`).
pub(crate) async fn stored(
    conn: &impl ConnectionTrait,
    claims: impl IntoIterator<Item = &Claim>,
) -> AppResult<HashMap<(String, String), (String, Uuid)>> {
    let keys: Vec<Vec<Value>> = claims
        .into_iter()
        .map(|claim| vec![claim.scope.as_str().into(), claim.key.as_str().into()])
        .collect();
    let rows = super::sets::find_pairs::<idempotency_key::Entity>(
        conn,
        [idempotency_key::Column::Scope, idempotency_key::Column::Key],
        ["text", "text"],
        keys,
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| ((row.scope, row.key), (row.fingerprint, row.conversion_id)))
        .collect())
}

impl Claim {
    /// The key as stored: (scope, key).
    pub(crate) fn id(&self) -> (String, String) {
        (self.scope.clone(), self.key.clone())
    }

    pub(crate) fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// What a row already stored under this key, (fingerprint, conversion id), means for this
    /// request: nothing (`None`), the conversion to answer with, or a refusal.
    pub(crate) fn judge(&self, stored: Option<(&str, Uuid)>) -> AppResult<Option<Uuid>> {
        match stored {
            None => Ok(None),
            Some((ERASED, _)) => Err(AppError::Erased {
                field: "idempotency_key".to_owned(),
            }),
            Some((fingerprint, id)) if fingerprint == self.fingerprint => Ok(Some(id)),
            Some(_) => Err(AppError::IdempotencyConflict),
        }
    }

    /// The row recording this claim for a stored conversion, written in the conversion's
    /// transaction. A concurrent request that stored the same key first makes its insert fail
    /// with `Conflict`.
    pub(crate) fn row(&self, conversion_id: Uuid) -> idempotency_key::ActiveModel {
        idempotency_key::ActiveModel {
            scope: Set(self.scope.clone()),
            key: Set(self.key.clone()),
            fingerprint: Set(self.fingerprint.clone()),
            conversion_id: Set(conversion_id),
            created_at: Set(super::now()),
            adjustment_id: Set(None),
        }
    }

    /// The row recording this claim for an adjustment of a conversion, written in the
    /// adjustment's transaction.
    pub(crate) fn adjustment_row(
        &self,
        conversion_id: Uuid,
        adjustment_id: Uuid,
    ) -> idempotency_key::ActiveModel {
        idempotency_key::ActiveModel {
            adjustment_id: Set(Some(adjustment_id)),
            ..self.row(conversion_id)
        }
    }
}
