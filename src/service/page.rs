//! Pages of an ordered list, read by keyset: Relay's `first` items after a cursor, or the
//! `last` items before one, for every list both doors page through.
//!
//! A list's order is a few columns, the last of them unique (e.g. `converted_at` then `id`,
//! newest first). A cursor is the position of an item in that order, and a page is read with
//! one query whatever its depth: rows strictly between the bounds, in the list's order (or in
//! reverse to take the last ones), one more than asked to tell whether more follow.

use sea_orm::sea_query::SimpleExpr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect};
use sea_orm::{Select, Value};

/// Items on a page when the client names no size.
pub const DEFAULT_PAGE: u64 = 50;
/// The most items one page may hold (REST `limit`, GraphQL `first`/`last`).
pub const MAX_PAGE: u64 = 200;

/// One page of a list, in the list's order, and whether items lie beyond it on either side.
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
    /// True when the page was read backwards and more items precede it, or when it was read
    /// forwards from a cursor (the items up to the cursor precede it).
    pub has_previous_page: bool,
}

/// Which slice of a list to read, bounded by the positions `K` of items (exclusive): `size`
/// items from the start of what lies between the bounds, or from its end (`from_end`).
#[derive(Clone, Debug)]
pub struct Window<K> {
    pub size: u64,
    pub after: Option<K>,
    pub before: Option<K>,
    pub from_end: bool,
}

impl<K> Window<K> {
    /// The first `size` items after `after` (the start when `None`).
    pub fn first(size: u64, after: Option<K>) -> Self {
        Window {
            size,
            after,
            before: None,
            from_end: false,
        }
    }

    /// `query` narrowed to this window of the list ordered by `order` (columns, each with its
    /// direction, the last one unique), sorted to read it, at most `size + 1` rows; `key`
    /// gives a position's value for each column. Hand the rows read to [`Window::page`].
    pub(crate) fn select<E: EntityTrait>(
        &self,
        mut query: Select<E>,
        order: &[(E::Column, Order)],
        key: impl Fn(&K) -> Vec<Value>,
    ) -> Select<E> {
        if let Some(after) = &self.after {
            query = query.filter(beyond(order, key(after), true));
        }
        if let Some(before) = &self.before {
            query = query.filter(beyond(order, key(before), false));
        }
        for (column, direction) in order {
            let direction = match (direction, self.from_end) {
                (Order::Asc, true) => Order::Desc,
                (Order::Desc, true) => Order::Asc,
                (direction, _) => direction.clone(),
            };
            query = query.order_by(*column, direction);
        }
        query.limit(self.size + 1)
    }

    /// The page made of the rows [`Window::select`] read, put back in the list's order.
    pub(crate) fn page<T>(&self, mut rows: Vec<T>) -> Page<T> {
        let more = rows.len() as u64 > self.size;
        rows.truncate(usize::try_from(self.size).unwrap_or(usize::MAX));
        if self.from_end {
            rows.reverse();
            Page {
                items: rows,
                has_next_page: self.before.is_some(),
                has_previous_page: more,
            }
        } else {
            Page {
                items: rows,
                has_next_page: more,
                has_previous_page: self.after.is_some(),
            }
        }
    }
}

/// Rows strictly after the position `values` in the list's `order` (`later`), or strictly
/// before it: the lexicographic comparison of the order's columns, spelled out as
/// `c1 > v1 OR (c1 = v1 AND c2 > v2) OR …` so that every database can use its indexes.
fn beyond<C: ColumnTrait>(order: &[(C, Order)], values: Vec<Value>, later: bool) -> Condition {
    let mut any = Condition::any();
    for (i, (column, direction)) in order.iter().enumerate() {
        let mut all = Condition::all();
        for (equal, value) in order[..i].iter().zip(&values) {
            all = all.add(equal.0.eq(value.clone()));
        }
        let ascending = matches!(direction, Order::Asc) == later;
        let value = values[i].clone();
        let step: SimpleExpr = if ascending {
            column.gt(value)
        } else {
            column.lt(value)
        };
        any = any.add(all.add(step));
    }
    any
}

#[cfg(test)]
mod tests {
    use super::Window;

    fn window(size: u64, after: Option<u8>, before: Option<u8>, from_end: bool) -> Window<u8> {
        Window {
            size,
            after,
            before,
            from_end,
        }
    }

    #[test]
    fn forward_pages_know_what_follows() {
        let page = window(2, None, None, false).page(vec![1, 2, 3]);
        assert_eq!(page.items, [1, 2]);
        assert!(page.has_next_page && !page.has_previous_page);
        let last = window(2, Some(2), None, false).page(vec![3]);
        assert!(!last.has_next_page && last.has_previous_page);
    }

    #[test]
    fn backward_pages_come_back_in_the_lists_order() {
        // Read in reverse: 9, 8, 7 (one more than asked).
        let page = window(2, None, None, true).page(vec![9, 8, 7]);
        assert_eq!(page.items, [8, 9]);
        assert!(page.has_previous_page && !page.has_next_page);
        let first = window(2, None, Some(3), true).page(vec![2, 1]);
        assert_eq!(first.items, [1, 2]);
        assert!(!first.has_previous_page && first.has_next_page);
    }

    #[test]
    fn an_empty_page_still_tells_whether_items_follow() {
        let page = window(0, None, None, false).page(vec![1]);
        assert!(page.items.is_empty() && page.has_next_page);
        assert!(
            !window(0, None, None, false)
                .page(Vec::<u8>::new())
                .has_next_page
        );
    }
}
