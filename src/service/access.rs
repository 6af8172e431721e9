//! Tenancy rules that more than one operation needs: which contacts a caller may see.

use crate::auth::{Caller, Principal};
use crate::domain::{ContactId, WorkspaceId};
use crate::error::{AppError, AppResult};
use entity::{contact, workspace, workspace_tracking};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait, Select,
};

/// Contacts, narrowed to those the principal may see: any workspace that created, sent,
/// received, converted or updated a contact has a tracking row for it.
pub(crate) fn visible_contacts(principal: &Principal) -> Select<contact::Entity> {
    let query = contact::Entity::find();
    match principal.scope() {
        None => query,
        Some(workspace) => query.filter(
            contact::Column::Id.in_subquery(
                workspace_tracking::Entity::find()
                    .select_only()
                    .column(workspace_tracking::Column::ContactId)
                    .filter(workspace_tracking::Column::WorkspaceId.eq(workspace.as_str()))
                    .into_query(),
            ),
        ),
    }
}

/// The contact with this id, if the principal may see it. For one contact a correlated
/// `EXISTS` probes the (contact, workspace) index; the `IN` list of `visible_contacts` would
/// read every tracking row of the workspace, which grows with each conversion it logs.
pub(crate) fn one_visible_contact(principal: &Principal, id: ContactId) -> Select<contact::Entity> {
    let query = contact::Entity::find().filter(contact::Column::Id.eq(id.0));
    match principal.scope() {
        None => query,
        Some(workspace) => {
            use workspace_tracking::Column as T;
            query.filter(Expr::exists(
                Query::select()
                    .expr(Expr::val(1))
                    .from(workspace_tracking::Entity)
                    .and_where(
                        Expr::col((workspace_tracking::Entity, T::ContactId))
                            .equals((contact::Entity, contact::Column::Id)),
                    )
                    .and_where(
                        Expr::col((workspace_tracking::Entity, T::WorkspaceId))
                            .eq(workspace.as_str()),
                    )
                    .to_owned(),
            ))
        }
    }
}

/// One visible contact, or `None` when it does not exist or is not the caller's.
pub(crate) async fn visible_contact(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    id: ContactId,
) -> AppResult<Option<contact::Model>> {
    Ok(one_visible_contact(principal, id).one(conn).await?)
}

/// Like `visible_contact`, but locks the row for the rest of the write transaction
/// (`FOR UPDATE` on PostgreSQL; SQLite already holds the write lock).
pub(crate) async fn visible_contact_for_update(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    id: ContactId,
) -> AppResult<Option<contact::Model>> {
    Ok(one_visible_contact(principal, id)
        .lock_exclusive()
        .one(conn)
        .await?)
}

/// The workspace a write acts for: the caller's own, or (admin only) the one named.
/// `required` asks the admin to name one.
pub(crate) fn acting_workspace(
    caller: &Caller,
    named: Option<WorkspaceId>,
    field: &str,
    required: bool,
) -> AppResult<Option<WorkspaceId>> {
    let principal = &caller.principal;
    match (named, principal.workspace()) {
        (Some(named), _) if principal.is_admin() => Ok(Some(named)),
        (Some(named), Some(own)) if &named != own => Err(AppError::Forbidden(format!(
            "{field} must be the caller's own workspace"
        ))),
        (_, Some(own)) => Ok(Some(own.clone())),
        (None, None) if required => Err(AppError::invalid(field, "is required for the admin key")),
        (named, None) => Ok(named),
    }
}

/// Fails with a field error unless the workspace exists and is enabled.
pub(crate) async fn ensure_workspace(
    conn: &impl ConnectionTrait,
    field: &str,
    id: &WorkspaceId,
) -> AppResult<()> {
    let found = workspace::Entity::find_by_id(id.as_str()).one(conn).await?;
    usable_workspace(field, found.as_ref())
}

/// Fails with a field error unless `found` is a workspace (it exists) that is enabled.
pub(crate) fn usable_workspace(field: &str, found: Option<&workspace::Model>) -> AppResult<()> {
    match found {
        Some(ws) if ws.disabled_at.is_none() => Ok(()),
        _ => Err(AppError::invalid(field, "no such workspace")),
    }
}

/// Whether `workspace` recorded `action` for the contact.
pub(crate) async fn has_tracking(
    conn: &impl ConnectionTrait,
    contact: ContactId,
    workspace: &WorkspaceId,
    action: crate::domain::TrackingAction,
) -> AppResult<bool> {
    use sea_orm::PaginatorTrait;
    let n = workspace_tracking::Entity::find()
        .filter(workspace_tracking::Column::ContactId.eq(contact.0))
        .filter(workspace_tracking::Column::WorkspaceId.eq(workspace.as_str()))
        .filter(workspace_tracking::Column::Action.eq(action.as_str()))
        .count(conn)
        .await?;
    Ok(n > 0)
}
