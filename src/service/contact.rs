//! Contacts: create, read, send between workspaces, and update their conversion status.

use super::access::{acting_workspace, ensure_workspace};
use super::id_allocator::{self, IdSpace};
use super::sensitive::MASK;
use super::shared::{self, SeenContact};
use super::{Services, access, audit, now, rollup, tracking, webhooks};
use crate::auth::{Caller, Principal};
use crate::domain::{
    ContactId, ConversionStatus, CustomData, LeadId, Permission, TrackingAction, WorkspaceId,
    is_sensitive,
};
use crate::error::{AppError, AppResult};
use entity::{contact, lead, workspace_tracking};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, Set,
};
use serde_json::{Map, Value, json};

#[derive(Debug, Default)]
pub struct NewContact {
    /// Integrators may bring their own id, up to `CLIENT_ID_MAX`; otherwise convio assigns
    /// one from the range above (see `id_allocator`).
    pub id: Option<ContactId>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub custom_metadata: Option<CustomData>,
    /// The owning workspace; only the admin may name one other than its own.
    pub workspace_id: Option<WorkspaceId>,
}

/// The body of `PATCH /contacts/{id}/conversion`; every field optional, at least one given.
#[derive(Debug, Default)]
pub struct ContactConversionUpdate {
    pub sent_from_workspace: Option<WorkspaceId>,
    pub converted_from_workspace: Option<WorkspaceId>,
    pub conversion_status: Option<ConversionStatus>,
    pub converted_by: Option<String>,
    pub custom_metadata: Option<CustomData>,
    /// Replace the stored metadata instead of merging into it.
    pub replace_custom_metadata: bool,
}

impl ContactConversionUpdate {
    fn is_empty(&self) -> bool {
        self.sent_from_workspace.is_none()
            && self.converted_from_workspace.is_none()
            && self.conversion_status.is_none()
            && self.converted_by.is_none()
            && self.custom_metadata.is_none()
    }
}

impl Services {
    /// Creates a contact, owned by the caller's workspace (or the one the admin names). A
    /// chosen `id` must be at most `CLIENT_ID_MAX` (else `invalid` naming `id`) and unused
    /// (else `Conflict`: ids are global, so a taken id is refused whoever holds it); without
    /// one, convio assigns the next id of its own range, which no client id can reach.
    pub async fn create_contact(
        &self,
        caller: &Caller,
        input: NewContact,
    ) -> AppResult<SeenContact> {
        let principal = &caller.principal;
        principal.require(Permission::Update)?;
        let owner = acting_workspace(caller, input.workspace_id, "workspace_id", false)?;
        let chosen = input.id.map(|id| id.client_chosen("id")).transpose()?;
        let txn = self.db.begin_write().await?;
        if let Some(owner) = &owner {
            ensure_workspace(&*txn, "workspace_id", owner).await?;
        }
        let id = match chosen {
            Some(id) => {
                if contact::Entity::find_by_id(id.0)
                    .one(&*txn)
                    .await?
                    .is_some()
                {
                    return Err(AppError::Conflict(format!("contact {id} already exists")));
                }
                id.0
            }
            None => id_allocator::next_id(&*txn, IdSpace::Contacts).await?,
        };
        let at = now();
        // Sensitive values are sealed with the row id (known before the insert), so their
        // plaintext is never written.
        let metadata = match input.custom_metadata.map(CustomData::into_map) {
            Some(map) => {
                let (sensitive, mut other): (Map<String, Value>, Map<String, Value>) =
                    map.into_iter().partition(|(key, _)| is_sensitive(key));
                if !sensitive.is_empty() {
                    other.extend(self.seal_by::<contact::Model>(
                        &id.to_string(),
                        sensitive,
                        owner.as_ref(),
                    )?);
                }
                Some(Value::Object(other))
            }
            None => None,
        };
        let stored = contact::ActiveModel {
            id: Set(id),
            name: Set(input.name),
            email: Set(input.email),
            phone: Set(input.phone),
            created_at: Set(at),
            updated_at: Set(at),
            conversion_status: Set(ConversionStatus::Pending.as_str().to_owned()),
            custom_metadata: Set(metadata),
            lifetime_value_low: Set(0),
            lifetime_value_high: Set(0),
            currency: Set(self.currency.code().to_owned()),
            conversion_count: Set(0),
            ..Default::default()
        }
        .insert(&*txn)
        .await?;
        if let Some(owner) = &owner {
            tracking::record(
                &*txn,
                tracking::Event {
                    contact_id: ContactId(stored.id),
                    lead_id: None,
                    workspace_id: owner,
                    action: TrackingAction::Created,
                    at,
                    metadata: None,
                },
            )
            .await?;
            shared::record_creation(&*txn, ContactId(stored.id), owner, at).await?;
        }
        // Personal data stays out of the audit details: they say which fields were given.
        let given: Vec<&str> = [
            ("name", stored.name.is_some()),
            ("email", stored.email.is_some()),
            ("phone", stored.phone.is_some()),
            ("custom_metadata", stored.custom_metadata.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        audit::record(
            &*txn,
            caller,
            "contact.created",
            "contact",
            &stored.id.to_string(),
            json!({ "owner": owner.as_ref().map(WorkspaceId::as_str), "fields": given }),
        )
        .await?;
        txn.commit().await?;
        // Its creator owns it, and the admin sees every contact whole.
        Ok(SeenContact::whole(stored))
    }

    /// One contact as the caller sees it (see `shared`), or `None` when it does not exist or
    /// is not the caller's.
    pub async fn contact(&self, caller: &Caller, id: ContactId) -> AppResult<Option<SeenContact>> {
        caller.principal.require(Permission::Read)?;
        let principal = &caller.principal;
        let query = access::one_visible_contact(principal, id);
        let found = shared::seen_query(self.db.conn(), principal, query).await?;
        Ok(found.into_iter().next())
    }

    /// Contacts by id as the caller sees them, for the DataLoader: one query however many.
    /// They are reached only through objects the caller already may see (a conversion, a
    /// lead), which implies the contact is visible too.
    pub async fn contacts_by_ids(
        &self,
        caller: &Caller,
        ids: &[i64],
    ) -> AppResult<Vec<SeenContact>> {
        let query = contact::Entity::find().filter(contact::Column::Id.is_in(ids.to_vec()));
        shared::seen_query(self.db.conn(), &caller.principal, query).await
    }

    /// Hands a contact from one workspace to another: `sent` for the sender, `received` for
    /// the receiver. These rows are the denominators of conversion rates and the funnel. A
    /// contact the caller cannot see is `NotFound` before any other field is looked at.
    pub async fn send_contact(
        &self,
        caller: &Caller,
        id: ContactId,
        to: WorkspaceId,
        from: Option<WorkspaceId>,
        lead_id: Option<LeadId>,
    ) -> AppResult<SeenContact> {
        caller.principal.require(Permission::Update)?;
        let from = acting_workspace(caller, from, "from_workspace_id", true)?.ok_or_else(|| {
            AppError::invalid("from_workspace_id", "is required for the admin key")
        })?;
        if from == to {
            return Err(AppError::invalid(
                "to_workspace_id",
                "must differ from the sender",
            ));
        }
        let txn = self.db.begin_write().await?;
        let contact = access::visible_contact_for_update(&*txn, &caller.principal, id)
            .await?
            .ok_or_else(|| AppError::not_found("contact", id))?;
        ensure_workspace(&*txn, "from_workspace_id", &from).await?;
        ensure_workspace(&*txn, "to_workspace_id", &to).await?;
        if let Some(lead_id) = lead_id {
            let lead = lead::Entity::find_by_id(lead_id.0).one(&*txn).await?;
            if lead.is_none_or(|l| l.contact_id != contact.id) {
                return Err(AppError::invalid(
                    "lead_id",
                    "no such lead for this contact",
                ));
            }
        }
        let at = now();
        let first_receipt = !access::has_tracking(&*txn, id, &to, TrackingAction::Received).await?;
        let receiver_status = shared::record_send(&*txn, id, &from, &to, at).await?;
        // A workspace's received contacts count once, on the day of the first receipt, under
        // the status the receiver itself reached.
        if first_receipt {
            let mut rollups = rollup::Delta::default();
            rollups.contact(&self.rollup_zones, to.as_str(), at, receiver_status, 1);
            rollups.apply(&*txn).await?;
        }
        for (workspace_id, action) in [
            (&from, TrackingAction::Sent),
            (&to, TrackingAction::Received),
        ] {
            let other = if action == TrackingAction::Sent {
                &to
            } else {
                &from
            };
            tracking::record(
                &*txn,
                tracking::Event {
                    contact_id: id,
                    lead_id,
                    workspace_id,
                    action,
                    at,
                    metadata: Some(json!({ "counterpart": other.as_str() })),
                },
            )
            .await?;
        }
        let mut row = contact.into_active_model();
        row.sent_from_workspace = Set(Some(from.as_str().to_owned()));
        row.updated_at = Set(at);
        let contact = row.update(&*txn).await?;
        audit::record(
            &*txn,
            caller,
            "contact.sent",
            "contact",
            &id.to_string(),
            json!({ "from": from.as_str(), "to": to.as_str(), "lead_id": lead_id.map(|l| l.0) }),
        )
        .await?;
        let seen = shared::seen(&*txn, &caller.principal, contact).await?;
        txn.commit().await?;
        if first_receipt {
            self.metrics.contact_received();
        }
        Ok(seen)
    }

    /// `PATCH /contacts/{id}/conversion`: set status, workspaces, owner and metadata. The
    /// shared row takes every change (the owner and the admin see it whole); the acting
    /// workspace's own state takes its status, converter and sender, which is what a receiver
    /// sees (see `shared`). A contact the caller cannot see is `NotFound` before any field is
    /// looked at, so the answer never depends on what the caller may not see.
    pub async fn update_contact_conversion(
        &self,
        caller: &Caller,
        id: ContactId,
        update: ContactConversionUpdate,
    ) -> AppResult<SeenContact> {
        let principal = &caller.principal;
        principal.require(Permission::Update)?;
        if update.is_empty() {
            return Err(AppError::invalid(
                "",
                "the request changes nothing: give at least one field",
            ));
        }
        if let (Some(converted_from), Some(own)) =
            (&update.converted_from_workspace, principal.scope())
            && converted_from != own
        {
            return Err(AppError::Forbidden(
                "converted_from_workspace must be the caller's own workspace".into(),
            ));
        }
        let txn = self.db.begin_write().await?;
        let contact = access::visible_contact_for_update(&*txn, principal, id)
            .await?
            .ok_or_else(|| AppError::not_found("contact", id))?;
        super::privacy::refuse_if_erased(
            &contact,
            "custom_metadata",
            update.custom_metadata.is_some(),
        )?;
        if let Some(named) = &update.sent_from_workspace {
            ensure_sender(&*txn, caller, id, named).await?;
        }
        if let Some(ws) = &update.converted_from_workspace {
            ensure_workspace(&*txn, "converted_from_workspace", ws).await?;
        }

        let mut changed: Vec<&str> = Vec::new();
        let at = now();
        let own_update = shared::Updated {
            conversion_status: update.conversion_status,
            converted_by: update.converted_by.clone(),
            converted_from_workspace: update.converted_from_workspace.is_some(),
            sent_from_workspace: update.sent_from_workspace.clone(),
        };
        let mut row = contact.clone().into_active_model();
        if let Some(ws) = &update.sent_from_workspace {
            row.sent_from_workspace = Set(Some(ws.as_str().to_owned()));
            changed.push("sent_from_workspace");
        }
        if let Some(ws) = &update.converted_from_workspace {
            row.converted_from_workspace = Set(Some(ws.as_str().to_owned()));
            changed.push("converted_from_workspace");
        }
        if let Some(status) = update.conversion_status {
            row.conversion_status = Set(status.as_str().to_owned());
            if status == ConversionStatus::Converted && contact.converted_timestamp.is_none() {
                row.converted_timestamp = Set(Some(at));
            }
            changed.push("conversion_status");
        }
        if let Some(by) = &update.converted_by {
            row.converted_by = Set(Some(by.clone()));
            changed.push("converted_by");
        }
        if let Some(incoming) = update.custom_metadata {
            let (incoming, kept) =
                masked_secrets_kept(incoming.into_map(), contact.custom_metadata.as_ref());
            // The merged object must obey the same limits as any one request, measured on the
            // data as written: sealing makes a value a third larger and more, so a contact
            // created with a large secret would otherwise refuse every later change. (A value
            // that no longer opens is measured sealed.)
            let stored_plain = self
                .revealed(&Principal::admin(), &contact)
                .unwrap_or_else(|_| contact.custom_metadata.clone());
            let plain = if update.replace_custom_metadata {
                let stored = stored_plain.as_ref().and_then(Value::as_object);
                let kept_plain = kept
                    .keys()
                    .filter_map(|k| Some((k.clone(), stored?.get(k)?.clone())));
                incoming.clone().into_iter().chain(kept_plain).collect()
            } else {
                merge_metadata(stored_plain, incoming.clone())
            };
            CustomData::parse("custom_metadata", Value::Object(plain))?;
            // Sealed before merging: stored values are already sealed for this row. Each
            // names its writer, who (with the owner and the admin) may read it back.
            let incoming = self.seal_by::<contact::Model>(
                &contact.id.to_string(),
                incoming,
                principal.workspace(),
            )?;
            let merged = if update.replace_custom_metadata {
                incoming.into_iter().chain(kept).collect()
            } else {
                merge_metadata(contact.custom_metadata.clone(), incoming)
            };
            row.custom_metadata = Set(Some(Value::Object(merged)));
            changed.push("custom_metadata");
        }
        row.updated_at = Set(at);
        let contact = row.update(&*txn).await?;

        // The workspace the change is made by (or, for the admin, for): its own state moves,
        // and with it its funnel; nobody else's.
        let actor_workspace = principal
            .workspace()
            .cloned()
            .or_else(|| update.converted_from_workspace.clone());
        let mut own = None;
        if let Some(ws) = &actor_workspace {
            let (before, after) = shared::record_update(&*txn, id, ws, own_update, at).await?;
            let mut rollups = rollup::Delta::default();
            rollup::status_changed(
                &*txn,
                &self.rollup_zones,
                &mut rollups,
                contact.id,
                ws.as_str(),
                before,
                ConversionStatus::from_stored(&after.conversion_status),
            )
            .await?;
            rollups.apply(&*txn).await?;
            // The workspace's own activity shows its own status, not the shared one.
            tracking::record(
                &*txn,
                tracking::Event {
                    contact_id: id,
                    lead_id: None,
                    workspace_id: ws,
                    action: TrackingAction::Updated,
                    at,
                    metadata: Some(json!({
                        "conversion_status": after.conversion_status,
                        "fields": changed,
                    })),
                },
            )
            .await?;
            own = Some(after);
        }
        audit::record(
            &*txn,
            caller,
            "contact.conversion_updated",
            "contact",
            &id.to_string(),
            json!({ "fields": changed, "conversion_status": contact.conversion_status }),
        )
        .await?;
        // The event is the acting workspace's, showing the contact as that workspace sees it;
        // an admin's change for no workspace goes to the admin's endpoints only.
        let seen_by_actor = match &actor_workspace {
            Some(_) => SeenContact::by_holder(contact.clone(), own.as_ref()),
            None => SeenContact::whole(contact.clone()),
        };
        let hook = webhooks::Outgoing {
            workspace_id: actor_workspace,
            event_type: webhooks::EventType::ContactUpdated,
            data: webhooks::payload::contact(&seen_by_actor)?,
            occurred_at: at,
        };
        let recorded = webhooks::record(&*txn, &[hook]).await?;
        txn.commit().await?;
        if recorded > 0 {
            self.wake_webhooks();
        }
        Ok(SeenContact::new(principal, contact, own.as_ref()))
    }
}

/// Whether the caller may name `named` as the contact's sender: itself; for the owner (and
/// the admin) any workspace that sent the contact on; for a receiver only a workspace that
/// sent the contact to it (plan §6.2: HubSpot records that lead_gen_team sent it). Whether
/// some workspace sent the contact to somebody else is not a receiver's to learn, so naming
/// one reads exactly like naming one that never sent it.
async fn ensure_sender(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    id: ContactId,
    named: &WorkspaceId,
) -> AppResult<()> {
    let sent = match caller.principal.scope() {
        None => true,
        Some(own) if own == named => true,
        Some(own) => match shared::state(conn, id, own).await? {
            Some(state) if state.owner => {
                access::has_tracking(conn, id, named, TrackingAction::Sent).await?
            }
            _ => received_from(conn, id, own, named).await?,
        },
    };
    if !sent {
        return Err(AppError::invalid(
            "sent_from_workspace",
            "did not send this contact to you",
        ));
    }
    ensure_workspace(conn, "sent_from_workspace", named).await
}

/// Whether `sender` ever sent the contact to `receiver` (the `counterpart` of the receiver's
/// `received` rows: a few per contact at most).
async fn received_from(
    conn: &impl ConnectionTrait,
    id: ContactId,
    receiver: &WorkspaceId,
    sender: &WorkspaceId,
) -> AppResult<bool> {
    let receipts: Vec<Option<Value>> = workspace_tracking::Entity::find()
        .select_only()
        .column(workspace_tracking::Column::Metadata)
        .filter(workspace_tracking::Column::ContactId.eq(id.0))
        .filter(workspace_tracking::Column::WorkspaceId.eq(receiver.as_str()))
        .filter(workspace_tracking::Column::Action.eq(TrackingAction::Received.as_str()))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(receipts
        .iter()
        .flatten()
        .any(|m| m["counterpart"].as_str() == Some(sender.as_str())))
}

/// A `secret_` value sent as the mask `***` (what a reader who may not see it was shown)
/// means "unchanged", so that reading a contact, changing one key and sending the object back
/// never overwrites a secret with its mask. Returns the values to write, and the stored values
/// of the masked keys, kept as they are (a masked key with nothing stored is dropped).
fn masked_secrets_kept(
    incoming: Map<String, Value>,
    stored: Option<&Value>,
) -> (Map<String, Value>, Map<String, Value>) {
    let stored = stored.and_then(Value::as_object);
    let (mut write, mut kept) = (Map::new(), Map::new());
    for (key, value) in incoming {
        if is_sensitive(&key) && value.as_str() == Some(MASK) {
            if let Some(old) = stored.and_then(|s| s.get(&key)) {
                kept.insert(key, old.clone());
            }
        } else {
            write.insert(key, value);
        }
    }
    (write, kept)
}

/// Shallow merge: keys in `incoming` overwrite, a `null` removes the key, others stay.
fn merge_metadata(stored: Option<Value>, incoming: Map<String, Value>) -> Map<String, Value> {
    let mut merged = match stored {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for (key, value) in incoming {
        if value.is_null() {
            merged.remove(&key);
        } else {
            merged.insert(key, value);
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_overwrites_removes_and_keeps() {
        let stored = json!({"a": 1, "b": 2, "c": 3});
        let incoming = json!({"b": 20, "c": null, "d": 4});
        let Value::Object(incoming) = incoming else {
            unreachable!()
        };
        let merged = merge_metadata(Some(stored), incoming);
        assert_eq!(Value::Object(merged), json!({"a": 1, "b": 20, "d": 4}));
    }
}
