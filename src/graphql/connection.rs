//! Relay connections: the one connection type (a page of service results as edges, plus
//! `totalCount`, which runs its `COUNT` query only when a client selects it), the one reading
//! of Relay's paging arguments, opaque cursors, and the one cost rule of a connection, so a
//! document's complexity counts rows, not fields.
//!
//! A cursor is `base64url("<list>:<position>")`: clients treat it as opaque, and a cursor of
//! one list (say a contact's) given to another (the conversions) is refused, not misread.

use super::{caller, services};
use crate::domain::ContactId;
use crate::error::{AppError, AppResult};
use crate::service::audit::AuditFilter;
use crate::service::contact_list::ContactFilter;
use crate::service::conversion::ConversionFilter;
use crate::service::page::{DEFAULT_PAGE, MAX_PAGE, Page, Window};
use async_graphql::connection::PageInfo;
use async_graphql::{Context, Object, OutputType, Result, TypeName};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::borrow::Cow;

/// The lists a cursor may belong to, as cursors name them. A list of conversions, wherever it
/// is read, has one order, so its cursors serve every `conversions` field.
pub const CONVERSIONS: &str = "conversions";
pub const CONTACTS: &str = "contacts";
pub const LEADS: &str = "leads";
pub const AUDIT_LOG: &str = "audit";
pub const WEBHOOK_DELIVERIES: &str = "webhook_deliveries";

/// What `totalCount` counts: the filter of the list it belongs to.
pub enum CountOf {
    Conversions(ConversionFilter),
    Contacts(ContactFilter),
    AuditEntries(AuditFilter),
    /// The leads of one contact.
    LeadsOf(ContactId),
    /// The delivery log of one webhook endpoint.
    WebhookDeliveries(uuid::Uuid),
}

/// A Relay connection of `N`: one page of a list, and how many items the whole list holds.
/// Its GraphQL name is `N`'s with `Connection` appended (`ConversionConnection`).
pub struct Counted<N> {
    edges: Vec<Edge<N>>,
    page_info: PageInfo,
    count: CountOf,
}

/// One page of a list in the list's order (a Relay connection): its items with their
/// cursors (`edges`) or without (`nodes`), where the page lies in the list (`pageInfo`) and
/// how many items the whole list holds (`totalCount`). Page forwards with `first` and
/// `after: pageInfo.endCursor`, backwards with `last` and `before: pageInfo.startCursor`.
#[Object(name_type)]
impl<N: OutputType> Counted<N> {
    /// Where this page lies in the list, and the cursors to page on from either end.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// The page's items, each with its cursor.
    async fn edges(&self) -> &[Edge<N>] {
        &self.edges
    }

    /// The page's items, in the same order as `edges`.
    async fn nodes(&self) -> Vec<&N> {
        self.edges.iter().map(|edge| &edge.node).collect()
    }

    /// How many items match the query's filter over all pages, not only this one; counted
    /// when selected, with one extra query. Saturates at 2147483647.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let (services, caller) = (services(ctx)?, caller(ctx)?);
        let n = match &self.count {
            CountOf::Conversions(f) => services.count_conversions(caller, f).await?,
            CountOf::Contacts(f) => services.count_contacts(caller, f).await?,
            CountOf::AuditEntries(f) => services.count_audit_entries(caller, f).await?,
            CountOf::LeadsOf(contact) => services.count_leads_of(caller, *contact).await?,
            CountOf::WebhookDeliveries(endpoint) => {
                services.count_webhook_deliveries(caller, *endpoint).await?
            }
        };
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

impl<N: OutputType> TypeName for Counted<N> {
    fn type_name() -> Cow<'static, str> {
        format!("{}Connection", N::type_name()).into()
    }
}

/// One item of a page and its cursor. Its GraphQL name is `N`'s with `Edge` appended.
pub struct Edge<N> {
    cursor: String,
    node: N,
}

/// One item of a connection's page, with its position in the list.
#[Object(name_type)]
impl<N: OutputType> Edge<N> {
    /// The item's position in the list (opaque): give it as `after` to read the items that
    /// follow it, or as `before` for those that precede it.
    async fn cursor(&self) -> &str {
        &self.cursor
    }

    /// The item.
    async fn node(&self) -> &N {
        &self.node
    }
}

impl<N: OutputType> TypeName for Edge<N> {
    fn type_name() -> Cow<'static, str> {
        format!("{}Edge", N::type_name()).into()
    }
}

/// Relay's four paging arguments of one connection field, as the client gave them.
pub struct Paging {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

impl Paging {
    /// The window of `list` these arguments ask for: `first` items (default 50) after `after`,
    /// or the `last` items before `before`, 0 to 200 either way. `parse` reads a position
    /// from a cursor's text, and `position` writes one (as [`connection`] does): a cursor is
    /// taken only in the form this server writes it. Errors (`BAD_USER_INPUT` naming the
    /// argument): a size outside 0..=200, both `first` and `last`, a cursor this server did
    /// not issue for `list`.
    pub fn window<K>(
        self,
        list: &str,
        parse: impl Fn(&str) -> Option<K>,
        position: impl Fn(&K) -> String,
    ) -> AppResult<Window<K>> {
        if self.first.is_some() && self.last.is_some() {
            return Err(AppError::invalid(
                "last",
                "cannot be given with `first`: page forwards (`first`, `after`) or backwards \
                 (`last`, `before`)",
            ));
        }
        let cursor = |field: &str, raw: Option<String>| {
            raw.map(|raw| {
                decode(list, &raw)
                    .and_then(|text| parse(&text).filter(|k| position(k) == text))
                    .ok_or_else(|| {
                        AppError::invalid(field, "is not a cursor of this list from this server")
                    })
            })
            .transpose()
        };
        let from_end = self.last.is_some();
        let size = match (self.first, self.last) {
            (Some(n), _) => size("first", n)?,
            (_, Some(n)) => size("last", n)?,
            _ => DEFAULT_PAGE,
        };
        Ok(Window {
            size,
            after: cursor("after", self.after)?,
            before: cursor("before", self.before)?,
            from_end,
        })
    }
}

/// A page size: 0 to 200 items.
fn size(field: &str, n: i32) -> AppResult<u64> {
    u64::try_from(n)
        .ok()
        .filter(|n| *n <= MAX_PAGE)
        .ok_or_else(|| AppError::invalid(field, format!("must be an integer from 0 to {MAX_PAGE}")))
}

/// The opaque cursor of the item at `position` in `list`.
fn encode(list: &str, position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{list}:{position}"))
}

/// The position an opaque cursor of `list` names; `None` for anything else.
fn decode(list: &str, cursor: &str) -> Option<String> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    text.strip_prefix(list)?
        .strip_prefix(':')
        .map(str::to_owned)
}

/// A Relay connection over one page of `list`, counting what `count` names; `position` gives
/// an item's position as its list's parser reads it back.
pub fn connection<T, N: OutputType>(
    list: &str,
    page: Page<T>,
    count: CountOf,
    position: impl Fn(&T) -> String,
    node: impl Fn(T) -> N,
) -> Counted<N> {
    let edges: Vec<Edge<N>> = page
        .items
        .into_iter()
        .map(|item| Edge {
            cursor: encode(list, &position(&item)),
            node: node(item),
        })
        .collect();
    let page_info = PageInfo {
        has_previous_page: page.has_previous_page,
        has_next_page: page.has_next_page,
        start_cursor: edges.first().map(|edge| edge.cursor.clone()),
        end_cursor: edges.last().map(|edge| edge.cursor.clone()),
    };
    Counted {
        edges,
        page_info,
        count,
    }
}

/// The complexity of a connection field: its page size (`first` or `last`, or the default
/// page when neither is given) times the complexity of what each page selects, so nesting
/// and aliases multiply rows the way execution would. A size outside 0..=200 costs as the
/// nearest bound (and at least one row); the resolver then refuses it with the page-size
/// error.
pub fn cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let rows = first.or(last).map_or(DEFAULT_PAGE, |n| {
        u64::try_from(n).unwrap_or(1).clamp(1, MAX_PAGE)
    });
    usize::try_from(rows)
        .unwrap_or(usize::MAX)
        .saturating_mul(child_complexity.max(1))
}

#[cfg(test)]
mod tests {
    use super::{Paging, decode, encode};

    fn paging(first: Option<i32>, last: Option<i32>, after: Option<String>) -> Paging {
        Paging {
            first,
            after,
            last,
            before: None,
        }
    }

    #[test]
    fn cursors_round_trip_only_within_their_list() {
        let cursor = encode("contacts", "42");
        assert_eq!(decode("contacts", &cursor).as_deref(), Some("42"));
        assert_eq!(decode("leads", &cursor), None);
        assert_eq!(decode("contacts", "42"), None);
    }

    #[test]
    fn sizes_run_from_zero_to_the_page_limit_one_direction_at_a_time() {
        let parse = |t: &str| t.parse::<i64>().ok();
        let window = |p: Paging| p.window("l", parse, i64::to_string);
        assert_eq!(window(paging(None, None, None)).unwrap().size, 50);
        assert_eq!(window(paging(Some(0), None, None)).unwrap().size, 0);
        let back = window(paging(None, Some(200), None)).unwrap();
        assert!(back.from_end && back.size == 200);
        assert!(window(paging(Some(201), None, None)).is_err());
        assert!(window(paging(None, Some(-1), None)).is_err());
        assert!(window(paging(Some(1), Some(1), None)).is_err());
        let foreign = Some(encode("other", "1"));
        assert!(window(paging(Some(1), None, foreign)).is_err());
        let own = Some(encode("l", "7"));
        assert_eq!(window(paging(Some(1), None, own)).unwrap().after, Some(7));
        // Only the form this server writes: not `+7` or `007`, though they parse.
        for other_form in ["+7", "007", " 7"] {
            let cursor = Some(encode("l", other_form));
            assert!(
                window(paging(Some(1), None, cursor)).is_err(),
                "{other_form}"
            );
        }
    }
}
