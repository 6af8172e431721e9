//! Leads: a contact's inquiry, later linked to the conversion it became.

use super::{Services, access, audit, now};
use crate::auth::Caller;
use crate::domain::{ContactId, LeadId, Permission};
use crate::error::{AppError, AppResult};
use entity::lead;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;

impl Services {
    pub async fn create_lead(
        &self,
        caller: &Caller,
        id: Option<LeadId>,
        contact_id: ContactId,
    ) -> AppResult<lead::Model> {
        caller.principal.require(Permission::Update)?;
        let txn = self.db.begin_write().await?;
        access::visible_contact(&*txn, &caller.principal, contact_id)
            .await?
            .ok_or_else(|| AppError::invalid("contact_id", "no such contact"))?;
        if let Some(id) = id
            && lead::Entity::find_by_id(id.0).one(&*txn).await?.is_some()
        {
            return Err(AppError::Conflict(format!("lead {id} already exists")));
        }
        let mut row = lead::ActiveModel {
            contact_id: Set(contact_id.0),
            created_at: Set(now()),
            ..Default::default()
        };
        let input_id_given = id.is_some();
        if let Some(id) = id {
            row.id = Set(id.0);
        }
        let stored = row.insert(&*txn).await?;
        if input_id_given {
            super::advance_id_sequence(&*txn, "leads").await?;
        }
        audit::record(
            &*txn,
            caller,
            "lead.created",
            "lead",
            &stored.id.to_string(),
            json!({ "contact_id": stored.contact_id }),
        )
        .await?;
        txn.commit().await?;
        Ok(stored)
    }

    /// A lead is visible exactly when its contact is.
    pub async fn lead(&self, caller: &Caller, id: LeadId) -> AppResult<Option<lead::Model>> {
        caller.principal.require(Permission::Read)?;
        let Some(found) = lead::Entity::find_by_id(id.0).one(self.db.conn()).await? else {
            return Ok(None);
        };
        let contact = access::visible_contact(
            self.db.conn(),
            &caller.principal,
            ContactId(found.contact_id),
        )
        .await?;
        Ok(contact.map(|_| redact(&caller.principal, found)))
    }

    /// Leads by id, for the DataLoader (reached through visible conversions).
    pub async fn leads_by_ids(&self, caller: &Caller, ids: &[i64]) -> AppResult<Vec<lead::Model>> {
        let rows = lead::Entity::find()
            .filter(lead::Column::Id.is_in(ids.to_vec()))
            .all(self.db.conn())
            .await?;
        Ok(rows
            .into_iter()
            .map(|l| redact(&caller.principal, l))
            .collect())
    }

    /// Leads of several contacts, for the DataLoader (reached through visible contacts).
    pub async fn leads_by_contacts(
        &self,
        caller: &Caller,
        contact_ids: &[i64],
    ) -> AppResult<Vec<lead::Model>> {
        let rows = lead::Entity::find()
            .filter(lead::Column::ContactId.is_in(contact_ids.to_vec()))
            .order_by_asc(lead::Column::Id)
            .all(self.db.conn())
            .await?;
        Ok(rows
            .into_iter()
            .map(|l| redact(&caller.principal, l))
            .collect())
    }
}

/// A lead's contact may be shared, but its conversion belongs to the workspace that logged
/// it: other workspaces see the lead without that link and without the conversion's data.
fn redact(principal: &crate::auth::Principal, mut lead: lead::Model) -> lead::Model {
    if lead
        .workspace_id
        .as_deref()
        .is_some_and(|owner| !principal.can_see(owner))
    {
        lead.workspace_id = None;
        lead.conversion_id = None;
        lead.conversion_metadata = None;
    }
    lead
}
