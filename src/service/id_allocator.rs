//! The ids convio assigns to contacts and leads created without one.
//!
//! Clients may choose ids up to `CLIENT_ID_MAX`; convio assigns from `ASSIGNED_ID_MIN` to
//! `ASSIGNED_ID_MAX`, counting upwards in `id_allocators` (one row per table). The counter
//! never looks at `MAX(id)` and no client id can enter its range, so neither side can collide
//! with or exhaust the other. The counter row is advanced inside the creating transaction: on
//! PostgreSQL its row lock orders nodes that create at once, and the ids of a transaction that
//! rolls back are handed out again.
//!
//! Rows stored before the split may sit in the assigned range (an explicit id the old rules
//! accepted). The allocator steps over each run of them with one query, so they cost nothing
//! once the counter has passed them.

use crate::domain::{ASSIGNED_ID_MAX, ASSIGNED_ID_MIN};
use crate::error::{AppError, AppResult};
use entity::id_allocator;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

/// A table whose rows may be created without an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdSpace {
    Contacts,
    Leads,
}

impl IdSpace {
    fn table(self) -> &'static str {
        match self {
            IdSpace::Contacts => "contacts",
            IdSpace::Leads => "leads",
        }
    }
}

/// Takes the next free id of `space`, in the caller's transaction.
pub(crate) async fn next_id(conn: &impl ConnectionTrait, space: IdSpace) -> AppResult<i64> {
    reserve(conn, space, 1).await
}

/// Takes `n` consecutive free ids of `space` (at least one), in the caller's transaction;
/// returns the first.
pub(crate) async fn reserve(conn: &impl ConnectionTrait, space: IdSpace, n: u64) -> AppResult<i64> {
    let table = space.table();
    let exhausted = || AppError::Internal(format!("the ids convio assigns to {table} are used up"));
    let mine = || id_allocator::Column::TableName.eq(table);
    let counter = id_allocator::Column::NextId;
    // A no-op write before the read: it locks the row until commit on PostgreSQL, so nodes
    // that create at once take turns (SQLite writers are serialized already).
    id_allocator::Entity::update_many()
        .col_expr(counter, Expr::col(counter).add(0))
        .filter(mine())
        .exec(conn)
        .await?;
    let stored: Option<i64> = id_allocator::Entity::find()
        .select_only()
        .column(counter)
        .filter(mine())
        .into_tuple()
        .one(conn)
        .await?;
    let stored = stored.ok_or_else(|| {
        AppError::Internal(format!(
            "no id allocator for {table}: migrations not applied?"
        ))
    })?;
    let span = i64::try_from(n.saturating_sub(1)).map_err(|_| exhausted())?;
    let mut first = std::cmp::max(stored, ASSIGNED_ID_MIN);
    loop {
        let last = first
            .checked_add(span)
            .filter(|&last| last <= ASSIGNED_ID_MAX);
        let last = last.ok_or_else(exhausted)?;
        match highest_taken(conn, table, first, last).await? {
            None => break,
            Some(taken) => {
                first = end_of_run(conn, table, taken)
                    .await?
                    .ok_or_else(exhausted)?
                    + 1
            }
        }
    }
    id_allocator::Entity::update_many()
        .col_expr(counter, Expr::value(first + span + 1))
        .filter(mine())
        .exec(conn)
        .await?;
    Ok(first)
}

/// The highest id of `table` in `from..=to`, if any.
async fn highest_taken(
    conn: &impl ConnectionTrait,
    table: &'static str,
    from: i64,
    to: i64,
) -> AppResult<Option<i64>> {
    let id = Alias::new("id");
    let query = Query::select()
        .expr_as(Func::max(Expr::col(id.clone())), Alias::new("taken"))
        .from(Alias::new(table))
        .and_where(Expr::col(id.clone()).gte(from))
        .and_where(Expr::col(id).lte(to))
        .to_owned();
    Ok(match conn.query_one(&query).await? {
        Some(row) => row.try_get("", "taken")?,
        None => None,
    })
}

/// The last id of the run of taken ids that contains `taken`; `None` if the run reaches the
/// end of the assigned range.
async fn end_of_run(
    conn: &impl ConnectionTrait,
    table: &'static str,
    taken: i64,
) -> AppResult<Option<i64>> {
    let (t, id) = (Alias::new(table), Alias::new("id"));
    let (a, b) = (Alias::new("a"), Alias::new("b"));
    // Written `b.id - 1 = a.id`: `a.id + 1` would overflow on a stored id of 2^63 - 1.
    let successor = Query::select()
        .expr(Expr::val(1))
        .from_as(t.clone(), b.clone())
        .and_where(
            Expr::col((b, id.clone()))
                .sub(1)
                .eq(Expr::col((a.clone(), id.clone()))),
        )
        .to_owned();
    let query = Query::select()
        .expr_as(
            Func::min(Expr::col((a.clone(), id.clone()))),
            Alias::new("last"),
        )
        .from_as(t, a.clone())
        .and_where(Expr::col((a.clone(), id.clone())).gte(taken))
        .and_where(Expr::col((a, id)).lt(ASSIGNED_ID_MAX))
        .and_where(Expr::exists(successor).not())
        .to_owned();
    Ok(match conn.query_one(&query).await? {
        Some(row) => row.try_get("", "last")?,
        None => None,
    })
}
