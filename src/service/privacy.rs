//! GDPR: erase a contact's personal data on request, and by age under a retention policy.
//! The contact row, its conversions and their values stay (so totals and rates stay right);
//! names, contact details and free-form data that may hold personal data are destroyed.
//!
//! Destroyed means gone from every file convio owns, not only from what queries return: on
//! SQLite the old bytes are zeroed as they are overwritten (`secure_delete`, see `db`), and
//! the `-wal` file, which still holds earlier copies of the pages, is checkpointed and
//! truncated before the erasure is answered. PostgreSQL keeps old row versions until VACUUM:
//! docs/security.md says what an operator does about that.
//!
//! An erased contact stays erased: it takes no new free-form data ([`refuse_if_erased`]),
//! while conversions, statuses and workspaces may still be recorded against it.

use super::{Services, audit, now};
use crate::auth::{Caller, Principal};
use crate::domain::ContactId;
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use entity::{contact, conversion, conversion_adjustment, idempotency_key, lead};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set, Value,
};
use serde_json::json;

/// Contacts erased per transaction by the retention sweep: small, so writers are not held up.
const SWEEP_BATCH: u64 = 100;

/// What an erased contact's adjustments say for a reason: the text may have quoted it.
pub(crate) const ERASED_REASON: &str = "(erased)";

/// Checkpoints retried, a second apart, when a reader kept the WAL busy after an erasure.
const CHECKPOINT_RETRIES: u32 = 60;

/// Refuses free-form data for a contact whose personal data was erased: `field` names the
/// input that would carry it (`custom_metadata` on the contact, `custom_data` on a
/// conversion, which is also copied onto its lead), `given` whether the request carries it.
/// Everything else is still taken: conversions and their values (so totals stay right),
/// statuses, workspaces, and `converted_by`, which names who converted (an agent, a system),
/// never the contact. Name, email and phone are only ever set when a contact is created.
pub(crate) fn refuse_if_erased(
    contact: &contact::Model,
    field: &str,
    given: bool,
) -> AppResult<()> {
    match contact.erased_at {
        Some(_) if given => Err(AppError::Erased {
            field: field.to_owned(),
        }),
        _ => Ok(()),
    }
}

impl Services {
    /// Erases one contact's personal data (admin only). Erasing twice is harmless.
    pub async fn erase_contact(
        &self,
        caller: &Caller,
        id: ContactId,
    ) -> AppResult<super::shared::SeenContact> {
        caller.principal.require_admin()?;
        let txn = self.db.begin_write().await?;
        let contact = contact::Entity::find_by_id(id.0)
            .lock_exclusive()
            .one(&*txn)
            .await?
            .ok_or_else(|| AppError::not_found("contact", id))?;
        let erased = erase(&*txn, contact).await?;
        audit::record(
            &*txn,
            caller,
            "contact.erased",
            "contact",
            &id.to_string(),
            json!({ "reason": "request" }),
        )
        .await?;
        txn.commit().await?;
        self.clear_old_copies().await;
        // Only the admin erases, and it sees every contact whole.
        Ok(super::shared::SeenContact::whole(erased))
    }

    /// Erases the personal data of every contact created before `cutoff` and not yet erased.
    /// Returns how many were erased. Contacts are erased and audited a batch per transaction,
    /// so a crash part-way leaves every contact either whole or erased, never half.
    pub async fn purge_personal_data_before(&self, cutoff: DateTime<Utc>) -> AppResult<u64> {
        let caller = Caller {
            principal: Principal::admin(),
            request_id: Some("retention-policy".into()),
        };
        let mut erased = 0;
        loop {
            let txn = self.db.begin_write().await?;
            let batch = contact::Entity::find()
                .filter(contact::Column::CreatedAt.lt(cutoff))
                .filter(contact::Column::ErasedAt.is_null())
                .order_by_asc(contact::Column::Id)
                .limit(SWEEP_BATCH)
                .lock_exclusive()
                .all(&*txn)
                .await?;
            if batch.is_empty() {
                // Let go of the writer first: the checkpoint waits for it.
                txn.rollback().await?;
                if erased > 0 {
                    self.clear_old_copies().await;
                }
                return Ok(erased);
            }
            for contact in batch {
                let id = contact.id;
                erase(&*txn, contact).await?;
                audit::record(
                    &*txn,
                    &caller,
                    "contact.erased",
                    "contact",
                    &id.to_string(),
                    json!({ "reason": "retention", "created_before": cutoff }),
                )
                .await?;
                erased += 1;
            }
            txn.commit().await?;
        }
    }
}

impl Services {
    /// Empties SQLite's `-wal` file, which may still hold copies of the pages from before an
    /// erasure (the pages themselves were zeroed as they were rewritten). A reader holding
    /// the WAL past the lock timeout only delays it: it is retried in the background, and
    /// once more at shutdown. Nothing to do on PostgreSQL.
    async fn clear_old_copies(&self) {
        if let Ok(true) = self.db.checkpoint().await {
            return;
        }
        tracing::warn!("erased values remain in the SQLite -wal file until a checkpoint passes");
        let db = self.db.clone();
        tokio::spawn(async move {
            for _ in 0..CHECKPOINT_RETRIES {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                if let Ok(true) = db.checkpoint().await {
                    return;
                }
            }
            tracing::error!(
                "the SQLite -wal file could not be checkpointed after an erasure; \
                 it is emptied at shutdown"
            );
        });
    }
}

async fn erase(conn: &impl ConnectionTrait, contact: contact::Model) -> AppResult<contact::Model> {
    let id = contact.id;
    let already = contact.erased_at;
    let mut row = contact.into_active_model();
    row.name = Set(None);
    row.email = Set(None);
    row.phone = Set(None);
    row.custom_metadata = Set(None);
    row.erased_at = Set(Some(already.unwrap_or_else(now)));
    row.updated_at = Set(now());
    let erased = row.update(conn).await?;
    // Workspaces' free-form data about this contact may quote personal data: destroy it.
    // Types, values and dates stay, so analytics do not change.
    conversion::Entity::update_many()
        .col_expr(
            conversion::Column::CustomData,
            Expr::value(Value::Json(None)),
        )
        .filter(conversion::Column::ContactId.eq(id))
        .exec(conn)
        .await?;
    conversion_adjustment::Entity::update_many()
        .col_expr(
            conversion_adjustment::Column::Reason,
            Expr::value(ERASED_REASON),
        )
        .filter(
            conversion_adjustment::Column::ConversionId.in_subquery(
                Query::select()
                    .column(conversion::Column::Id)
                    .from(conversion::Entity)
                    .and_where(conversion::Column::ContactId.eq(id))
                    .to_owned(),
            ),
        )
        .exec(conn)
        .await?;
    lead::Entity::update_many()
        .col_expr(
            lead::Column::ConversionMetadata,
            Expr::value(Value::Json(None)),
        )
        .filter(lead::Column::ContactId.eq(id))
        .exec(conn)
        .await?;
    // An idempotency key's fingerprint digests the request, free-form data included: a
    // client replaying the key with guesses could confirm what was erased.
    idempotency_key::Entity::update_many()
        .col_expr(
            idempotency_key::Column::Fingerprint,
            Expr::value(super::idempotency::ERASED),
        )
        .filter(
            idempotency_key::Column::ConversionId.in_subquery(
                Query::select()
                    .column(conversion::Column::Id)
                    .from(conversion::Entity)
                    .and_where(conversion::Column::ContactId.eq(id))
                    .to_owned(),
            ),
        )
        .exec(conn)
        .await?;
    Ok(erased)
}
