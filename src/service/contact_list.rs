//! Listing contacts: every contact the caller may see, or the funnel's drill-down (the
//! contacts received in a period that reached a stage). The drill-down uses the funnel's own
//! definition of "received" (`stats::received`), so a stage's list matches its count.

use super::conversion::{MAX_PAGE, Page, scoped_workspace};
use super::{Services, access};
use crate::auth::Caller;
use crate::domain::{
    ContactId, ConversionStatus, DateRange, FunnelStage, Permission, TrackingAction, WorkspaceId,
};
use crate::error::AppResult;
use entity::{contact, workspace_tracking};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

/// Filters of the `contacts` query; all optional and combined with AND.
///
/// With any of `workspace_id`, a bound of `received` or `reached` the list is the funnel's
/// drill-down: contacts a workspace (this one, the caller's own, or for the admin any) first
/// received within `received`. Otherwise it is every contact the caller may see.
#[derive(Clone, Debug, Default)]
pub struct ContactFilter {
    /// Received by this workspace (a workspace may name only itself).
    pub workspace_id: Option<WorkspaceId>,
    /// When the workspace first received the contact.
    pub received: DateRange,
    /// Whose current status reached this funnel stage.
    pub reached: Option<FunnelStage>,
    /// Whose current status is exactly this.
    pub status: Option<ConversionStatus>,
}

impl ContactFilter {
    fn is_drill_down(&self) -> bool {
        self.workspace_id.is_some()
            || self.received.from.is_some()
            || self.received.until.is_some()
            || self.reached.is_some()
    }
}

impl Services {
    /// Contacts matching `filter` in id order, `first` at a time after the contact `after`.
    pub async fn contacts(
        &self,
        caller: &Caller,
        filter: &ContactFilter,
        first: u64,
        after: Option<ContactId>,
    ) -> AppResult<Page<contact::Model>> {
        let first = first.clamp(1, MAX_PAGE);
        let mut query = contact_query(caller, filter)?.order_by_asc(contact::Column::Id);
        if let Some(after) = after {
            query = query.filter(contact::Column::Id.gt(after.0));
        }
        let mut items = query.limit(first + 1).all(self.db.conn()).await?;
        let has_next_page = items.len() as u64 > first;
        items.truncate(first as usize);
        Ok(Page {
            items,
            has_next_page,
        })
    }

    /// How many contacts match `filter` over all pages: one `COUNT` query. Each contact counts
    /// once, where the funnel counts (workspace, contact) pairs: see docs/api.md.
    pub async fn count_contacts(&self, caller: &Caller, filter: &ContactFilter) -> AppResult<u64> {
        Ok(contact_query(caller, filter)?.count(self.db.conn()).await?)
    }
}

/// The contacts `filter` selects for `caller`, unordered.
fn contact_query(caller: &Caller, filter: &ContactFilter) -> AppResult<Select<contact::Entity>> {
    caller.principal.require(Permission::Read)?;
    let mut query = if filter.is_drill_down() {
        // Confined to the caller's workspace's receipts, so a workspace sees only its own.
        let workspace = scoped_workspace(caller, filter.workspace_id.as_ref())?;
        contact::Entity::find().filter(
            contact::Column::Id.in_subquery(received_in(workspace.as_ref(), &filter.received)),
        )
    } else {
        access::visible_contacts(&caller.principal)
    };
    if let Some(stage) = filter.reached.filter(|s| s.min_rank() > 0) {
        let reached: Vec<&str> = ConversionStatus::ALL
            .into_iter()
            .filter(|s| stage.reached_by(*s))
            .map(ConversionStatus::as_str)
            .collect();
        query = query.filter(contact::Column::ConversionStatus.is_in(reached));
    }
    if let Some(status) = filter.status {
        query = query.filter(contact::Column::ConversionStatus.eq(status.as_str()));
    }
    Ok(query)
}

/// Ids of the contacts whose first receipt by a workspace (`workspace`, or any) falls in
/// `range`: the pairs `stats::received_from_rows` counts, reduced to their contacts.
fn received_in(workspace: Option<&WorkspaceId>, range: &DateRange) -> SelectStatement {
    use workspace_tracking::Column as T;
    let first = || Expr::expr(Func::min(Expr::col(T::Timestamp)));
    let mut pairs = Query::select();
    pairs
        .column(T::ContactId)
        .from(workspace_tracking::Entity)
        .and_where(Expr::col(T::Action).eq(TrackingAction::Received.as_str()))
        .group_by_columns([T::WorkspaceId, T::ContactId]);
    if let Some(ws) = workspace {
        pairs.and_where(Expr::col(T::WorkspaceId).eq(ws.as_str()));
    }
    if let Some(from) = range.from {
        pairs.and_having(first().gte(from));
    }
    if let Some(until) = range.until {
        pairs.and_having(first().lt(until));
    }
    pairs
}
