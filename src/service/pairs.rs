//! Questions about many (contact, workspace) pairs at once, one statement each: what the
//! conversion writer asks of a whole group (`ingest`). Each pair is a row of a `VALUES` list
//! probed against `workspace_tracking`'s (contact, workspace) index.

use crate::domain::TrackingAction;
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use std::collections::{HashMap, HashSet};

/// A (contact id, workspace id) pair.
pub(crate) type Pair = (i64, String);

/// The pairs whose workspace has any tracking row for the contact: those contacts it may see.
pub(crate) async fn tracked(
    conn: &impl ConnectionTrait,
    pairs: &[Pair],
) -> AppResult<HashSet<Pair>> {
    if pairs.is_empty() {
        return Ok(HashSet::new());
    }
    let backend = conn.get_database_backend();
    let sql = format!(
        "SELECT v.column1, v.column2 FROM (VALUES {}) AS v WHERE EXISTS \
         (SELECT 1 FROM workspace_tracking t \
          WHERE t.contact_id = v.column1 AND t.workspace_id = v.column2)",
        values_list(backend, pairs.len(), 2)
    );
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, bind(pairs)))
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect()
}

/// When each pair's workspace first received the contact, for the pairs where it did: the day
/// the contact rollups count that receipt on (see `rollup::first_receipt`).
pub(crate) async fn first_receipts(
    conn: &impl ConnectionTrait,
    pairs: &[Pair],
) -> AppResult<HashMap<Pair, DateTime<Utc>>> {
    if pairs.is_empty() {
        return Ok(HashMap::new());
    }
    let backend = conn.get_database_backend();
    let sql = format!(
        "SELECT v.column1, v.column2, (SELECT MIN(t.\"timestamp\") FROM workspace_tracking t \
          WHERE t.contact_id = v.column1 AND t.workspace_id = v.column2 AND t.action = '{}') \
         FROM (VALUES {}) AS v",
        TrackingAction::Received.as_str(),
        values_list(backend, pairs.len(), 2)
    );
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, bind(pairs)))
        .await?;
    let mut found = HashMap::new();
    for row in rows {
        let first: Option<DateTime<Utc>> = row.try_get_by_index(2)?;
        if let Some(first) = first {
            found.insert((row.try_get_by_index(0)?, row.try_get_by_index(1)?), first);
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
    let row = |i: usize| {
        let cells: Vec<String> = (1..=width)
            .map(|j| match backend {
                DbBackend::Postgres => format!("${}", i * width + j),
                _ => "?".to_owned(),
            })
            .collect();
        format!("({})", cells.join(", "))
    };
    (0..rows).map(row).collect::<Vec<_>>().join(", ")
}
