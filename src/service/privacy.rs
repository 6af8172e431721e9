//! GDPR: erase a contact's personal data on request, and by age under a retention policy.
//! The contact row, its conversions and their values stay (so totals and rates stay right);
//! names, contact details and free-form data that may hold personal data are destroyed.

use super::{Services, audit, now};
use crate::auth::{Caller, Principal};
use crate::domain::ContactId;
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use entity::{contact, conversion, lead};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set, Value,
};
use serde_json::json;

/// Contacts erased per transaction by the retention sweep: small, so writers are not held up.
const SWEEP_BATCH: u64 = 100;

impl Services {
    /// Erases one contact's personal data (admin only). Erasing twice is harmless.
    pub async fn erase_contact(&self, caller: &Caller, id: ContactId) -> AppResult<contact::Model> {
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
        Ok(erased)
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
    lead::Entity::update_many()
        .col_expr(
            lead::Column::ConversionMetadata,
            Expr::value(Value::Json(None)),
        )
        .filter(lead::Column::ContactId.eq(id))
        .exec(conn)
        .await?;
    Ok(erased)
}
