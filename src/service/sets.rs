//! Statements over many rows at once, as the conversion writer makes them for a whole group
//! (`ingest`): rows read by key, rows inserted, and questions about (contact, workspace)
//! pairs, each pair a row of a `VALUES` list probed against `workspace_tracking`'s
//! (contact, workspace) index.
//!
//! Each takes its rows in [`chunks`], so that a statement has one of a few shapes whatever
//! the group's size: every connection caches the statements it prepared, and one shape per
//! group size would fill those caches with large ones.

use crate::domain::TrackingAction;
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityName, EntityTrait, IdenStatic,
    Iterable, QueryFilter, Statement, Value,
};
use std::collections::{HashMap, HashSet};

/// Rows one statement takes at most.
const CHUNK: usize = 64;

/// How many of `remaining` rows the next statement takes: 64, or else the largest power of two
/// that fits (300 rows go as 64, 64, 64, 64, 32, 8, 4): seven shapes per statement at most.
fn chunk_len(remaining: usize) -> usize {
    if remaining >= CHUNK {
        CHUNK
    } else {
        1 << remaining.max(1).ilog2()
    }
}

/// `items` in the slices [`chunk_len`] gives.
pub(crate) fn chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (head, tail) = rest.split_at(chunk_len(rest.len()));
        rest = tail;
        Some(head)
    })
}

/// `items` in the lengths [`chunk_len`] gives, owned.
fn owned_chunks<T>(mut items: Vec<T>) -> Vec<Vec<T>> {
    let mut chunks = Vec::new();
    while !items.is_empty() {
        let rest = items.split_off(chunk_len(items.len()));
        chunks.push(std::mem::replace(&mut items, rest));
    }
    chunks
}

/// Inserts `rows` into their table, in order, a chunk per statement.
///
/// The statement is written here, `INSERT INTO "table" ("a", "b") VALUES (?, ?), …`, with
/// the values the rows hold bound as sea-query would bind them: building the same statement
/// through sea-query's `InsertStatement` cost the ingest writer more than executing it. The
/// columns are those the first row sets; should another row set others, the rows go through
/// sea-orm's `insert_many` instead.
pub(crate) async fn insert_all<A: ActiveModelTrait>(
    conn: &impl ConnectionTrait,
    rows: impl IntoIterator<Item = A>,
) -> AppResult<()> {
    let rows: Vec<A> = rows.into_iter().collect();
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let set = |row: &A| -> Vec<bool> {
        <A::Entity as EntityTrait>::Column::iter()
            .map(|c| !row.is_not_set(c))
            .collect()
    };
    let shape = set(first);
    if rows.iter().any(|row| set(row) != shape) {
        for chunk in owned_chunks(rows) {
            A::Entity::insert_many(chunk)
                .exec_without_returning(conn)
                .await?;
        }
        return Ok(());
    }
    let columns: Vec<_> = <A::Entity as EntityTrait>::Column::iter()
        .zip(shape)
        .filter_map(|(c, set)| set.then_some(c))
        .collect();
    let backend = conn.get_database_backend();
    let head = format!(
        "INSERT INTO \"{}\" ({}) VALUES ",
        A::Entity::default().table_name(),
        columns
            .iter()
            .map(|c| format!("\"{}\"", c.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for chunk in owned_chunks(rows) {
        let sql = head.clone() + &values_list(backend, chunk.len(), columns.len());
        let values: Vec<Value> = chunk
            .into_iter()
            .flat_map(|mut row| {
                // Every column of `columns` is set on every row (checked above).
                let values: Vec<Value> = columns
                    .iter()
                    .filter_map(|&c| row.take(c).into_value())
                    .collect();
                values
            })
            .collect();
        conn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
    }
    Ok(())
}

/// The rows of `E` whose `column` is one of `keys` (sorted, for `lock`), a chunk of keys per
/// statement. With `lock`, rows are locked for the transaction (`FOR UPDATE` on PostgreSQL),
/// in key order.
pub(crate) async fn find_in<E, K>(
    conn: &impl ConnectionTrait,
    column: E::Column,
    keys: &[K],
    lock: bool,
) -> AppResult<Vec<E::Model>>
where
    E: EntityTrait,
    K: Into<Value> + Clone,
{
    let mut found = Vec::new();
    for chunk in chunks(keys) {
        let mut query = E::find().filter(column.is_in(chunk.iter().cloned()));
        if lock {
            // In key order, so two writers locking overlapping rows take them in one order.
            use sea_orm::{QueryOrder, QuerySelect};
            query = query.order_by_asc(column).lock_exclusive();
        }
        found.extend(query.all(conn).await?);
    }
    Ok(found)
}

/// A (contact id, workspace id) pair.
pub(crate) type Pair = (i64, String);

/// The pairs whose workspace has any tracking row for the contact: those contacts it may see.
pub(crate) async fn tracked(
    conn: &impl ConnectionTrait,
    pairs: &[Pair],
) -> AppResult<HashSet<Pair>> {
    let backend = conn.get_database_backend();
    let mut found = HashSet::new();
    for chunk in chunks(pairs) {
        let sql = format!(
            "SELECT v.column1, v.column2 FROM (VALUES {}) AS v WHERE EXISTS \
             (SELECT 1 FROM workspace_tracking t \
              WHERE t.contact_id = v.column1 AND t.workspace_id = v.column2)",
            values_list(backend, chunk.len(), 2)
        );
        let rows = conn
            .query_all_raw(Statement::from_sql_and_values(backend, sql, bind(chunk)))
            .await?;
        for row in rows {
            found.insert((row.try_get_by_index(0)?, row.try_get_by_index(1)?));
        }
    }
    Ok(found)
}

/// When each pair's workspace first received the contact, for the pairs where it did: the day
/// the contact rollups count that receipt on (see `rollup::first_receipt`).
pub(crate) async fn first_receipts(
    conn: &impl ConnectionTrait,
    pairs: &[Pair],
) -> AppResult<HashMap<Pair, DateTime<Utc>>> {
    let backend = conn.get_database_backend();
    let mut found = HashMap::new();
    for chunk in chunks(pairs) {
        let sql = format!(
            "SELECT v.column1, v.column2, (SELECT MIN(t.\"timestamp\") \
              FROM workspace_tracking t WHERE t.contact_id = v.column1 \
              AND t.workspace_id = v.column2 AND t.action = '{}') \
             FROM (VALUES {}) AS v",
            TrackingAction::Received.as_str(),
            values_list(backend, chunk.len(), 2)
        );
        let rows = conn
            .query_all_raw(Statement::from_sql_and_values(backend, sql, bind(chunk)))
            .await?;
        for row in rows {
            let first: Option<DateTime<Utc>> = row.try_get_by_index(2)?;
            if let Some(first) = first {
                found.insert((row.try_get_by_index(0)?, row.try_get_by_index(1)?), first);
            }
        }
    }
    Ok(found)
}

fn bind(pairs: &[Pair]) -> Vec<Value> {
    pairs
        .iter()
        .flat_map(|(contact, workspace)| [(*contact).into(), workspace.as_str().into()])
        .collect()
}

/// The rows of a `VALUES` list: `rows` rows of `width` placeholders, as the backend numbers
/// them: `(?, ?), (?, ?)` on SQLite, `($1, $2), ($3, $4)` on PostgreSQL. Its columns are
/// `column1`, `column2`, … on both.
pub(crate) fn values_list(backend: DbBackend, rows: usize, width: usize) -> String {
    use std::fmt::Write;
    let mut list = String::with_capacity(rows * width * 5);
    for i in 0..rows {
        list.push_str(if i == 0 { "(" } else { "), (" });
        for j in 1..=width {
            if j > 1 {
                list.push_str(", ");
            }
            match backend {
                DbBackend::Postgres => {
                    let _ = write!(list, "${}", i * width + j);
                }
                _ => list.push('?'),
            }
        }
    }
    if rows > 0 {
        list.push(')');
    }
    list
}

#[cfg(test)]
mod tests {
    use super::{chunks, values_list};
    use sea_orm::DbBackend;

    #[test]
    fn values_lists_number_their_placeholders_as_the_backend_does() {
        assert_eq!(values_list(DbBackend::Sqlite, 2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(values_list(DbBackend::Postgres, 2, 2), "($1, $2), ($3, $4)");
        assert_eq!(values_list(DbBackend::Postgres, 1, 1), "($1)");
    }

    #[test]
    fn chunks_take_64_then_powers_of_two() {
        let items: Vec<u32> = (0..300).collect();
        let sizes: Vec<usize> = chunks(&items).map(<[u32]>::len).collect();
        assert_eq!(sizes, [64, 64, 64, 64, 32, 8, 4]);
        let back: Vec<u32> = chunks(&items).flatten().copied().collect();
        assert_eq!(back, items);
        assert_eq!(chunks(&[] as &[u32]).count(), 0);
        assert_eq!(chunks(&[1]).map(<[u32]>::len).collect::<Vec<_>>(), [1]);
    }
}
