//! Listing contacts: every contact the caller may see, or the funnel's drill-down (the
//! contacts received in a period that reached a stage). The drill-down uses the funnel's own
//! definitions of "received" (`stats::received`) and of a receipt's status (the status its
//! receiver reached, `contact_states`), so a stage's list matches its count. Contacts come
//! back as the caller sees them (`shared`), the caller's own states joined into the one query
//! that reads the page.

use super::conversion::scoped_workspace;
use super::page::{Page, Window};
use super::shared::{self, SeenContact};
use super::stats::own_status;
use super::{Services, access};
use crate::auth::Caller;
use crate::domain::{
    ContactId, ConversionStatus, DateRange, FunnelStage, Permission, TrackingAction, WorkspaceId,
};
use crate::error::AppResult;
use entity::{contact, contact_state, workspace_tracking};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, Order, PaginatorTrait, QueryFilter, QuerySelect,
    QueryTrait, Select,
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
    /// Whose current status (as the caller sees it; in the drill-down, as the receiving
    /// workspace reached it) reached this funnel stage.
    pub reached: Option<FunnelStage>,
    /// Whose current status (seen the same way) is exactly this.
    pub status: Option<ConversionStatus>,
}

impl ContactFilter {
    fn is_drill_down(&self) -> bool {
        self.workspace_id.is_some()
            || self.received.from.is_some()
            || self.received.until.is_some()
            || self.reached.is_some()
    }

    /// The statuses both `reached` and `status` allow; `None` when neither narrows.
    fn statuses(&self) -> Option<Vec<&'static str>> {
        if self.status.is_none() && self.reached.is_none_or(|s| s.min_rank() == 0) {
            return None;
        }
        Some(
            ConversionStatus::ALL
                .into_iter()
                .filter(|s| self.reached.is_none_or(|stage| stage.reached_by(*s)))
                .filter(|s| self.status.is_none_or(|wanted| wanted == *s))
                .map(ConversionStatus::as_str)
                .collect(),
        )
    }
}

impl Services {
    /// One window of the contacts matching `filter`, in id order.
    pub async fn contacts(
        &self,
        caller: &Caller,
        filter: &ContactFilter,
        window: &Window<ContactId>,
    ) -> AppResult<Page<SeenContact>> {
        let query = window.select(
            contact_query(caller, filter)?,
            &[(contact::Column::Id, Order::Asc)],
            |id| vec![id.0.into()],
        );
        let rows = shared::seen_query(self.db.conn(), &caller.principal, query).await?;
        Ok(window.page(rows))
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
    let statuses = filter.statuses();
    if filter.is_drill_down() {
        // Confined to the caller's workspace's receipts, so a workspace sees only its own.
        let workspace = scoped_workspace(caller, filter.workspace_id.as_ref())?;
        let receipts = received_in(workspace.as_ref(), &filter.received, statuses.as_deref());
        return Ok(contact::Entity::find().filter(contact::Column::Id.in_subquery(receipts)));
    }
    let query = access::visible_contacts(&caller.principal);
    let Some(statuses) = statuses else {
        return Ok(query);
    };
    Ok(match caller.principal.scope() {
        None => query.filter(contact::Column::ConversionStatus.is_in(statuses)),
        // The owner filters by the shared status it sees, a receiver by its own.
        Some(workspace) => {
            let own = |owner: bool| {
                contact_state::Entity::find()
                    .select_only()
                    .column(contact_state::Column::ContactId)
                    .filter(contact_state::Column::WorkspaceId.eq(workspace.as_str()))
                    .filter(contact_state::Column::Owner.eq(owner))
            };
            query.filter(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(contact::Column::Id.in_subquery(own(true).into_query()))
                            .add(contact::Column::ConversionStatus.is_in(statuses.clone())),
                    )
                    .add(
                        contact::Column::Id.in_subquery(
                            own(false)
                                .filter(contact_state::Column::ConversionStatus.is_in(statuses))
                                .into_query(),
                        ),
                    ),
            )
        }
    })
}

/// Ids of the contacts whose first receipt by a workspace (`workspace`, or any) falls in
/// `range` and, with `statuses`, whose receiving workspace reached one of them: the pairs
/// `stats::received_from_rows` counts, reduced to their contacts.
pub(super) fn received_in(
    workspace: Option<&WorkspaceId>,
    range: &DateRange,
    statuses: Option<&[&str]>,
) -> SelectStatement {
    use contact_state::Column as S;
    use workspace_tracking::Column as T;
    let t = workspace_tracking::Entity;
    let first = || Expr::expr(Func::min(Expr::col((t, T::Timestamp))));
    let mut pairs = Query::select();
    pairs
        .column((t, T::ContactId))
        .from(t)
        .and_where(Expr::col((t, T::Action)).eq(TrackingAction::Received.as_str()))
        .and_where(super::tracking::handoffs())
        .group_by_col((t, T::WorkspaceId))
        .group_by_col((t, T::ContactId));
    if let Some(ws) = workspace {
        pairs.and_where(Expr::col((t, T::WorkspaceId)).eq(ws.as_str()));
    }
    if let Some(statuses) = statuses {
        let s = contact_state::Entity;
        pairs
            .left_join(
                s,
                Expr::col((s, S::ContactId))
                    .equals((t, T::ContactId))
                    .and(Expr::col((s, S::WorkspaceId)).equals((t, T::WorkspaceId))),
            )
            .and_where(
                own_status(Expr::col((s, S::ConversionStatus))).is_in(statuses.iter().copied()),
            );
    }
    if let Some(from) = range.from {
        pairs.and_having(first().gte(from));
    }
    if let Some(until) = range.until {
        pairs.and_having(first().lt(until));
    }
    pairs
}
