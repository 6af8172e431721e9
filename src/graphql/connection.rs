//! The one Relay connection builder: a page of service results as edges, plus `totalCount`,
//! which runs its `COUNT` query only when a client selects it; and the one cost rule of a
//! connection, so a document's complexity counts rows, not fields.

use super::{caller, services};
use crate::domain::ContactId;
use crate::service::audit::AuditFilter;
use crate::service::contact_list::ContactFilter;
use crate::service::conversion::{ConversionFilter, DEFAULT_PAGE, MAX_PAGE, Page};
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, OutputType, Result};

/// A Relay connection of `N` with `totalCount`.
pub type Counted<N> = Connection<String, N, TotalCount>;

/// What `totalCount` counts: the filter of the list it belongs to.
pub enum CountOf {
    Conversions(ConversionFilter),
    Contacts(ContactFilter),
    AuditEntries(AuditFilter),
    /// The leads of one contact.
    LeadsOf(ContactId),
}

/// The fields every connection adds beside `edges` and `pageInfo`.
pub struct TotalCount(CountOf);

#[Object]
impl TotalCount {
    /// How many items match the query's filter over all pages, not only this one; counted
    /// when selected, with one extra query. Saturates at 2147483647.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let (services, caller) = (services(ctx)?, caller(ctx)?);
        let n = match &self.0 {
            CountOf::Conversions(f) => services.count_conversions(caller, f).await?,
            CountOf::Contacts(f) => services.count_contacts(caller, f).await?,
            CountOf::AuditEntries(f) => services.count_audit_entries(caller, f).await?,
            CountOf::LeadsOf(contact) => services.count_leads_of(caller, *contact).await?,
        };
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

/// A Relay connection over one page of service results, counting what `count` names.
pub fn connection<T, N: OutputType>(
    has_previous_page: bool,
    page: Page<T>,
    count: CountOf,
    cursor: impl Fn(&T) -> String,
    node: impl Fn(T) -> N,
) -> Counted<N> {
    let mut connection = Connection::with_additional_fields(
        has_previous_page,
        page.has_next_page,
        TotalCount(count),
    );
    connection.edges.extend(
        page.items
            .into_iter()
            .map(|item| Edge::new(cursor(&item), node(item))),
    );
    connection
}

/// The complexity of a connection field: its page size (`first`, or the default page when
/// absent) times the complexity of what each page selects, so nesting and aliases multiply
/// rows the way execution would. A `first` outside 1..=200 costs as the nearest bound; the
/// resolver then refuses it with the page-size error.
pub fn cost(first: Option<i32>, child_complexity: usize) -> usize {
    let rows = first.map_or(DEFAULT_PAGE, |n| {
        u64::try_from(n).unwrap_or(1).clamp(1, MAX_PAGE)
    });
    usize::try_from(rows)
        .unwrap_or(usize::MAX)
        .saturating_mul(child_complexity.max(1))
}
