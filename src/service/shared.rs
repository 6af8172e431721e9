//! Shared contacts: what each reader sees of a contact that several workspaces hold.
//!
//! The rule: the contact's owner (the workspace that created it) and the admin see the whole
//! outcome, the `contacts` row that every workspace's conversions and updates move. A workspace
//! that received the contact sees figures made of its own work only: its own conversions'
//! count, total and latest, the status it reached, and who sent the contact to it, kept per
//! (contact, workspace) in `contact_states`. The metadata is one notebook all holders share,
//! but a `secret_` value is read back only by the workspace that wrote it (and the owner and
//! the admin): a receiver sees `***` for every secret someone else wrote.
//!
//! Every door gets contacts as a [`SeenContact`], which only this module makes, so a response
//! cannot show a receiver the shared row by mistake. A read costs no extra statement: the
//! reader's own states are joined into the query that reads the contacts ([`seen_query`]).

use crate::auth::Principal;
use crate::domain::{ContactId, ConversionStatus, WorkspaceId, is_sensitive};
use crate::error::{AppError, AppResult};
use crate::service::sensitive::{self, MASK, Sealed};
use chrono::{DateTime, Utc};
use entity::{contact, contact_state, wide};
use sea_orm::sea_query::{Expr, IntoCondition};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter,
    QuerySelect, RelationTrait, Select, Set,
};
use serde_json::Value;
use std::collections::HashMap;
use std::ops::Deref;

/// A contact as one reader may see it: whole, or a receiver's own view of it.
#[derive(Clone, Debug)]
pub struct SeenContact(contact::Model);

impl Deref for SeenContact {
    type Target = contact::Model;
    fn deref(&self) -> &contact::Model {
        &self.0
    }
}

impl Sealed for SeenContact {
    const TABLE: &'static str = <contact::Model as Sealed>::TABLE;
    const FIELD: &'static str = <contact::Model as Sealed>::FIELD;
    fn row_id(&self) -> String {
        self.0.row_id()
    }
    fn custom(&self) -> Option<&Value> {
        self.0.custom()
    }
    fn custom_mut(&mut self) -> &mut Option<Value> {
        self.0.custom_mut()
    }
}

impl SeenContact {
    pub fn into_inner(self) -> contact::Model {
        self.0
    }

    /// `contact` as `principal` sees it, given the principal's own state of it (if any).
    pub(crate) fn new(
        principal: &Principal,
        contact: contact::Model,
        own: Option<&contact_state::Model>,
    ) -> Self {
        if principal.scope().is_none() {
            return SeenContact(contact);
        }
        SeenContact::by_holder(contact, own)
    }

    /// `contact` as the workspace whose state `own` is sees it: whole if it owns the contact,
    /// else its own view. For the feed, whose events go to the converting workspace.
    pub(crate) fn by_holder(contact: contact::Model, own: Option<&contact_state::Model>) -> Self {
        match own {
            Some(state) if state.owner => SeenContact(contact),
            _ => SeenContact(received(contact, own)),
        }
    }

    /// The whole contact: what the admin sees.
    pub(crate) fn whole(contact: contact::Model) -> Self {
        SeenContact(contact)
    }
}

/// A receiver's view: the shared row with every outcome replaced by the receiver's own (none
/// yet without a state) and the `secret_` values others wrote masked.
fn received(contact: contact::Model, own: Option<&contact_state::Model>) -> contact::Model {
    let reader = own.map(|s| s.workspace_id.as_str());
    let custom_metadata = contact.custom_metadata.map(|value| match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let others = is_sensitive(&key)
                        && !value.is_null()
                        && (reader.is_none() || sensitive::writer(&value) != reader);
                    if others {
                        (key, Value::from(MASK))
                    } else {
                        (key, value)
                    }
                })
                .collect(),
        ),
        other => other,
    });
    let base = contact::Model {
        custom_metadata,
        conversion_status: ConversionStatus::Pending.as_str().to_owned(),
        conversion_count: 0,
        lifetime_value_low: 0,
        lifetime_value_high: 0,
        converted_by: None,
        converted_from_workspace: None,
        converted_timestamp: None,
        sent_from_workspace: None,
        updated_at: contact.created_at,
        ..contact
    };
    match own {
        None => base,
        Some(s) => contact::Model {
            conversion_status: s.conversion_status.clone(),
            conversion_count: s.conversion_count,
            lifetime_value_low: s.lifetime_value_low,
            lifetime_value_high: s.lifetime_value_high,
            converted_by: s.converted_by.clone(),
            converted_from_workspace: s.converted_from_workspace.clone(),
            converted_timestamp: s.converted_timestamp,
            sent_from_workspace: s.sent_from_workspace.clone(),
            updated_at: s.updated_at.max(base.created_at),
            ..base
        },
    }
}

/// The contacts `query` selects, as `principal` sees them, in its order: one statement, the
/// reader's own states joined in (`LEFT JOIN contact_states` on the contact and the reader's
/// workspace); the admin's query is run as it is.
pub(crate) async fn seen_query(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    query: Select<contact::Entity>,
) -> AppResult<Vec<SeenContact>> {
    use sea_orm::sea_query::ExprTrait;
    let Some(workspace) = principal.scope() else {
        return Ok(query
            .all(conn)
            .await?
            .into_iter()
            .map(SeenContact)
            .collect());
    };
    let workspace = workspace.as_str().to_owned();
    let own = contact_state::Relation::Contact
        .def()
        .rev()
        .on_condition(move |_, state| {
            Expr::col((state, contact_state::Column::WorkspaceId))
                .eq(workspace.clone())
                .into_condition()
        });
    let rows = query
        .select_also(contact_state::Entity)
        .join(JoinType::LeftJoin, own)
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(contact, own)| SeenContact::new(principal, contact, own.as_ref()))
        .collect())
}

/// The principal's own states of these contacts, by contact id: one query, none for the admin.
pub(crate) async fn states_of(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    ids: &[i64],
) -> AppResult<HashMap<i64, contact_state::Model>> {
    let Some(workspace) = principal.scope() else {
        return Ok(HashMap::new());
    };
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(contact_state::Entity::find()
        .filter(contact_state::Column::WorkspaceId.eq(workspace.as_str()))
        .filter(contact_state::Column::ContactId.is_in(ids.to_vec()))
        .all(conn)
        .await?
        .into_iter()
        .map(|s| (s.contact_id, s))
        .collect())
}

/// One contact as `principal` sees it.
pub(crate) async fn seen(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    contact: contact::Model,
) -> AppResult<SeenContact> {
    let id = contact.id;
    let states = states_of(conn, principal, &[id]).await?;
    Ok(SeenContact::new(principal, contact, states.get(&id)))
}

/// The stored state of `workspace` for the contact, if it has one.
pub(crate) async fn state(
    conn: &impl ConnectionTrait,
    contact: ContactId,
    workspace: &WorkspaceId,
) -> AppResult<Option<contact_state::Model>> {
    Ok(
        contact_state::Entity::find_by_id((contact.0, workspace.as_str().to_owned()))
            .one(conn)
            .await?,
    )
}

/// A state for a workspace that did nothing with the contact yet.
pub(crate) fn fresh(
    contact: ContactId,
    workspace: &WorkspaceId,
    at: DateTime<Utc>,
) -> contact_state::Model {
    contact_state::Model {
        contact_id: contact.0,
        workspace_id: workspace.as_str().to_owned(),
        owner: false,
        conversion_status: ConversionStatus::Pending.as_str().to_owned(),
        conversion_count: 0,
        lifetime_value_low: 0,
        lifetime_value_high: 0,
        converted_by: None,
        converted_from_workspace: None,
        converted_timestamp: None,
        sent_from_workspace: None,
        updated_at: at,
    }
}

/// Stores `next` over `stored` (inserted when there was none). Inside the write transaction
/// that locked the contact, so no other write of the same contact's states interleaves.
async fn save(
    conn: &impl ConnectionTrait,
    stored: Option<contact_state::Model>,
    next: contact_state::Model,
) -> AppResult<contact_state::Model> {
    let mut row: contact_state::ActiveModel = match stored {
        Some(stored) => stored.into(),
        None => {
            // Every column set, so the insert writes them all.
            let row = contact_state::ActiveModel::from(next).reset_all();
            return Ok(row.insert(conn).await?);
        }
    };
    row.owner = Set(next.owner);
    row.conversion_status = Set(next.conversion_status);
    row.conversion_count = Set(next.conversion_count);
    row.lifetime_value_low = Set(next.lifetime_value_low);
    row.lifetime_value_high = Set(next.lifetime_value_high);
    row.converted_by = Set(next.converted_by);
    row.converted_from_workspace = Set(next.converted_from_workspace);
    row.converted_timestamp = Set(next.converted_timestamp);
    row.sent_from_workspace = Set(next.sent_from_workspace);
    row.updated_at = Set(next.updated_at);
    Ok(row.update(conn).await?)
}

/// The creating workspace owns the new contact.
pub(crate) async fn record_creation(
    conn: &impl ConnectionTrait,
    contact: ContactId,
    owner: &WorkspaceId,
    at: DateTime<Utc>,
) -> AppResult<()> {
    let mut state = fresh(contact, owner, at);
    state.owner = true;
    save(conn, None, state).await?;
    Ok(())
}

/// `from` sent the contact to `to`. A sender that never held the contact (the admin sends on
/// its behalf) owns it if nobody does: a contact the admin created without an owner belongs
/// to the first workspace it is sent from. Returns the receiver's status, under which the
/// funnel counts the receipt.
pub(crate) async fn record_send(
    conn: &impl ConnectionTrait,
    contact: ContactId,
    from: &WorkspaceId,
    to: &WorkspaceId,
    at: DateTime<Utc>,
) -> AppResult<ConversionStatus> {
    if state(conn, contact, from).await?.is_none() {
        let owned = contact_state::Entity::find()
            .filter(contact_state::Column::ContactId.eq(contact.0))
            .filter(contact_state::Column::Owner.eq(true))
            .one(conn)
            .await?
            .is_some();
        let mut state = fresh(contact, from, at);
        state.owner = !owned;
        save(conn, None, state).await?;
    }
    let stored = state(conn, contact, to).await?;
    let mut next = stored.clone().unwrap_or_else(|| fresh(contact, to, at));
    next.sent_from_workspace = Some(from.as_str().to_owned());
    next.updated_at = at;
    let saved = save(conn, stored, next).await?;
    Ok(ConversionStatus::from_stored(&saved.conversion_status))
}

/// One conversion `workspace` logged of the contact.
pub(crate) struct Converted<'a> {
    pub kind: &'a str,
    pub value_minor: Option<i64>,
    pub converted_by: &'a str,
    pub converted_at: DateTime<Utc>,
    /// When it was stored: the state's `updated_at`.
    pub at: DateTime<Utc>,
}

/// `workspace`'s own state (`stored`, or a fresh one) with a conversion it logged of the
/// contact added to its figures and status; and its status before.
pub(crate) fn with_conversion(
    stored: Option<contact_state::Model>,
    contact: ContactId,
    workspace: &WorkspaceId,
    conversion: Converted<'_>,
) -> AppResult<(ConversionStatus, contact_state::Model)> {
    let mut next = stored.unwrap_or_else(|| fresh(contact, workspace, conversion.at));
    let before = ConversionStatus::from_stored(&next.conversion_status);
    let (high, low) =
        wide::split(next.lifetime_value_minor() + i128::from(conversion.value_minor.unwrap_or(0)))
            .ok_or_else(|| AppError::Internal("a lifetime value beyond 95 bits".into()))?;
    next.lifetime_value_high = high;
    next.lifetime_value_low = low;
    next.conversion_count = next.conversion_count.saturating_add(1);
    next.conversion_status = before.advanced_by(conversion.kind).as_str().to_owned();
    next.converted_by = Some(conversion.converted_by.to_owned());
    next.converted_from_workspace = Some(workspace.as_str().to_owned());
    // A backfilled older conversion must not move the "last converted" time back.
    next.converted_timestamp = Some(
        next.converted_timestamp
            .map_or(conversion.converted_at, |t| t.max(conversion.converted_at)),
    );
    next.updated_at = conversion.at;
    Ok((before, next))
}

/// Stores whole states, inserting those that are new and replacing those that exist
/// (`sets::upsert_all`: one statement on PostgreSQL, one per chunk on SQLite). Inside a write
/// transaction that locked their contacts.
pub(crate) async fn save_all(
    conn: &impl ConnectionTrait,
    states: impl IntoIterator<Item = contact_state::Model>,
) -> AppResult<()> {
    use contact_state::Column as S;
    super::sets::upsert_all(
        conn,
        states
            .into_iter()
            .map(|state| contact_state::ActiveModel::from(state).reset_all()),
        &[S::ContactId, S::WorkspaceId],
        &[
            S::Owner,
            S::ConversionStatus,
            S::ConversionCount,
            S::LifetimeValueLow,
            S::LifetimeValueHigh,
            S::ConvertedBy,
            S::ConvertedFromWorkspace,
            S::ConvertedTimestamp,
            S::SentFromWorkspace,
            S::UpdatedAt,
        ],
    )
    .await
}

/// What a `PATCH` by (or, for the admin, naming) `workspace` changes of its own state.
#[derive(Default)]
pub(crate) struct Updated {
    pub conversion_status: Option<ConversionStatus>,
    pub converted_by: Option<String>,
    pub converted_from_workspace: bool,
    pub sent_from_workspace: Option<WorkspaceId>,
}

/// Applies a `PATCH` to `workspace`'s own state; returns its status before and its state after.
pub(crate) async fn record_update(
    conn: &impl ConnectionTrait,
    contact: ContactId,
    workspace: &WorkspaceId,
    update: Updated,
    at: DateTime<Utc>,
) -> AppResult<(ConversionStatus, contact_state::Model)> {
    let stored = state(conn, contact, workspace).await?;
    let mut next = stored
        .clone()
        .unwrap_or_else(|| fresh(contact, workspace, at));
    let before = ConversionStatus::from_stored(&next.conversion_status);
    if let Some(status) = update.conversion_status {
        next.conversion_status = status.as_str().to_owned();
        if status == ConversionStatus::Converted && next.converted_timestamp.is_none() {
            next.converted_timestamp = Some(at);
        }
    }
    if let Some(by) = update.converted_by {
        next.converted_by = Some(by);
    }
    if update.converted_from_workspace {
        next.converted_from_workspace = Some(workspace.as_str().to_owned());
    }
    if let Some(sender) = update.sent_from_workspace {
        next.sent_from_workspace = Some(sender.as_str().to_owned());
    }
    next.updated_at = at;
    Ok((before, save(conn, stored, next).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shared_row() -> contact::Model {
        let at = "2024-05-01T10:00:00Z".parse().unwrap();
        contact::Model {
            id: 7,
            name: Some("Jane".into()),
            email: None,
            phone: None,
            created_at: at,
            updated_at: at + chrono::Duration::hours(5),
            sent_from_workspace: Some("ws_a".into()),
            converted_from_workspace: Some("ws_c".into()),
            conversion_status: "converted".into(),
            converted_timestamp: Some(at),
            converted_by: Some("agent_c".into()),
            custom_metadata: Some(json!({"plan": "gold", "secret_ssn": {"$enc": "v1:k:x"}})),
            lifetime_value_low: 2_500_000,
            lifetime_value_high: 0,
            currency: "USD".into(),
            conversion_count: 1,
            erased_at: None,
        }
    }

    #[test]
    fn a_receiver_without_work_sees_nothing_of_others() {
        let seen = SeenContact::by_holder(shared_row(), None);
        assert_eq!(seen.conversion_status, "pending");
        assert_eq!(seen.conversion_count, 0);
        assert_eq!(seen.lifetime_value_minor(), 0);
        assert_eq!(seen.converted_by, None);
        assert_eq!(seen.converted_from_workspace, None);
        assert_eq!(seen.sent_from_workspace, None);
        assert_eq!(seen.updated_at, seen.created_at);
        assert_eq!(
            seen.custom_metadata,
            Some(json!({"plan": "gold", "secret_ssn": "***"}))
        );
        assert_eq!(seen.name.as_deref(), Some("Jane"));
    }

    #[test]
    fn a_receiver_reads_back_only_the_secrets_it_wrote() {
        let mut row = shared_row();
        row.custom_metadata = Some(json!({
            "secret_mine": {"$enc": "v1:k:y", "by": "ws_b"},
            "secret_theirs": {"$enc": "v1:k:z", "by": "ws_c"},
            "secret_legacy": "plaintext",
        }));
        let own = fresh(
            ContactId(7),
            &WorkspaceId::from_trusted("ws_b".into()),
            Utc::now(),
        );
        let seen = SeenContact::by_holder(row, Some(&own));
        assert_eq!(
            seen.custom_metadata,
            Some(json!({
                "secret_mine": {"$enc": "v1:k:y", "by": "ws_b"},
                "secret_theirs": "***",
                "secret_legacy": "***",
            }))
        );
    }

    #[test]
    fn an_owner_sees_the_whole_row() {
        let mut own = fresh(
            ContactId(7),
            &WorkspaceId::from_trusted("ws_a".into()),
            Utc::now(),
        );
        own.owner = true;
        let seen = SeenContact::by_holder(shared_row(), Some(&own));
        assert_eq!(seen.into_inner(), shared_row());
    }
}
