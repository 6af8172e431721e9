//! Leads: a contact's inquiry, later linked to the conversion it became.

use super::id_allocator::{self, IdSpace};
use super::page::{Page, Window};
use super::{Services, access, audit, now};
use crate::auth::Caller;
use crate::domain::{ContactId, LeadId, Permission};
use crate::error::{AppError, AppResult};
use entity::lead;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, Order, PaginatorTrait, QueryFilter, Set,
};
use serde_json::json;

impl Services {
    /// Creates a lead for a contact the caller can see. A chosen `id` must be at most
    /// `CLIENT_ID_MAX` (else `invalid` naming `id`) and unused (else `Conflict`); without
    /// one, convio assigns the next id of its own range.
    pub async fn create_lead(
        &self,
        caller: &Caller,
        id: Option<LeadId>,
        contact_id: ContactId,
    ) -> AppResult<lead::Model> {
        caller.principal.require(Permission::Update)?;
        let chosen = id.map(|id| id.client_chosen("id")).transpose()?;
        let txn = self.db.begin_write().await?;
        access::visible_contact(&*txn, &caller.principal, contact_id)
            .await?
            .ok_or_else(|| AppError::invalid("contact_id", "no such contact"))?;
        let id = match chosen {
            Some(id) => {
                if lead::Entity::find_by_id(id.0).one(&*txn).await?.is_some() {
                    return Err(AppError::Conflict(format!("lead {id} already exists")));
                }
                id.0
            }
            None => id_allocator::next_id(&*txn, IdSpace::Leads).await?,
        };
        let stored = lead::ActiveModel {
            id: Set(id),
            contact_id: Set(contact_id.0),
            created_at: Set(now()),
            ..Default::default()
        }
        .insert(&*txn)
        .await?;
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

    /// One window of a contact's leads, oldest first (in id order), reached through a
    /// visible contact, so visible as they are.
    pub async fn leads_of(
        &self,
        caller: &Caller,
        contact: ContactId,
        window: &Window<LeadId>,
    ) -> AppResult<Page<lead::Model>> {
        caller.principal.require(Permission::Read)?;
        let query = window.select(
            lead::Entity::find().filter(lead::Column::ContactId.eq(contact.0)),
            &[(lead::Column::Id, Order::Asc)],
            |id| vec![id.0.into()],
        );
        let rows = query.all(self.db.conn()).await?;
        let page = window.page(rows);
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|l| redact(&caller.principal, l))
                .collect(),
            ..page
        })
    }

    /// How many leads a contact has: one `COUNT` query.
    pub async fn count_leads_of(&self, caller: &Caller, contact: ContactId) -> AppResult<u64> {
        caller.principal.require(Permission::Read)?;
        Ok(lead::Entity::find()
            .filter(lead::Column::ContactId.eq(contact.0))
            .count(self.db.conn())
            .await?)
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
