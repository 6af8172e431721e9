//! Idempotency keys: the first request with a key stores its conversion and the key in one
//! transaction; a retry with the same key and the same request gets that conversion back,
//! and the same key with a different request is refused.

use crate::auth::Caller;
use crate::domain::IdempotencyKey;
use crate::error::{AppError, AppResult};
use entity::idempotency_key;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use sha2::{Digest, Sha256};
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
            fingerprint: digest.iter().map(|b| format!("{b:02x}")).collect(),
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
    let found = idempotency_key::Entity::find_by_id((claim.scope.clone(), claim.key.clone()))
        .one(conn)
        .await?;
    match found {
        None => Ok(None),
        Some(row) if row.fingerprint == ERASED => Err(AppError::Erased {
            field: "idempotency_key".to_owned(),
        }),
        Some(row) if row.fingerprint == claim.fingerprint => Ok(Some(row.conversion_id)),
        Some(_) => Err(AppError::IdempotencyConflict),
    }
}

/// Records the claim for a stored conversion, in the conversion's transaction. A concurrent
/// request that recorded the same key first makes this fail with `Conflict`.
pub(crate) async fn record(
    conn: &impl ConnectionTrait,
    claim: &Claim,
    conversion_id: Uuid,
) -> AppResult<()> {
    idempotency_key::ActiveModel {
        scope: Set(claim.scope.clone()),
        key: Set(claim.key.clone()),
        fingerprint: Set(claim.fingerprint.clone()),
        conversion_id: Set(conversion_id),
        created_at: Set(super::now()),
    }
    .insert(conn)
    .await?;
    Ok(())
}
