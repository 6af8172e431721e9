//! Statements over many rows at once, as the conversion writer makes them for a whole group
//! (`ingest`): rows read by key, rows inserted or upserted, and questions about (contact,
//! workspace) pairs, each pair a row of a list ([`sources`]) probed against
//! `workspace_tracking`'s (contact, workspace) index.
//!
//! A statement has one of a few shapes whatever the group's size: every connection caches
//! the statements it prepared, and one shape per group size would fill those caches with
//! large ones. Keys and lists travel as one JSON parameter that the statement unpacks, on
//! both databases (`jsonb_each` on SQLite; `jsonb_to_recordset`, `jsonb_populate_recordset`,
//! `jsonb_array_elements_text` on PostgreSQL): one statement per table and group, as each
//! statement is a hand-off to SQLite's thread or a round trip to PostgreSQL. Rows whose values
//! have no exact JSON form (a float) are bound instead, in [`chunks`]; so are the rows
//! [`insert_all`] inserts on SQLite, where unpacking wide rows from JSON cost more than
//! binding them (`docs/performance.md`).

mod models;

use crate::domain::TrackingAction;
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityName, EntityTrait, IdenStatic,
    Iterable, QueryFilter, Statement, TryIntoModel, Value,
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

/// Inserts `rows` into their table, in order.
///
/// On PostgreSQL, one statement for all the rows, whatever their number (see
/// [`json_rows`]): a round trip per chunk cost the writer more than the rows themselves. On
/// SQLite (and for values with no exact JSON literal), a chunk per statement: `INSERT INTO
/// "table" ("a", "b") VALUES (?, ?), …`, written here, with the values the rows hold bound as
/// sea-query would bind them (building the same statement through sea-query's
/// `InsertStatement` cost the ingest writer more than executing it; the same rows unpacked
/// from one JSON parameter cost SQLite's thread more). The columns are those the first row
/// sets; should another row set others, the rows go through sea-orm's `insert_many` instead.
pub(crate) async fn insert_all<A: ActiveModelTrait>(
    conn: &impl ConnectionTrait,
    rows: impl IntoIterator<Item = A>,
) -> AppResult<()> {
    insert_rows(conn, rows.into_iter().collect(), "").await
}

/// Inserts `rows` as [`insert_all`] does, and where a row's `keys` are taken already, updates
/// that row's `update` columns to the new row's instead (`ON CONFLICT … DO UPDATE`, on both
/// databases). Every row must set the same columns; no two rows may share their keys;
/// `keys` and `update` name at least one column each.
pub(crate) async fn upsert_all<A: ActiveModelTrait>(
    conn: &impl ConnectionTrait,
    rows: impl IntoIterator<Item = A>,
    keys: &[<A::Entity as EntityTrait>::Column],
    update: &[<A::Entity as EntityTrait>::Column],
) -> AppResult<()> {
    debug_assert!(
        !keys.is_empty() && !update.is_empty(),
        "an upsert names its columns"
    );
    let conflict = format!(
        " ON CONFLICT ({}) DO UPDATE SET {}",
        keys.iter()
            .map(|c| format!("\"{}\"", c.as_str()))
            .collect::<Vec<_>>()
            .join(", "),
        update
            .iter()
            .map(|c| format!("\"{0}\" = excluded.\"{0}\"", c.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    insert_rows(conn, rows.into_iter().collect(), &conflict).await
}

/// [`insert_all`], with `conflict` (empty, or an `ON CONFLICT` clause) after each statement.
async fn insert_rows<A: ActiveModelTrait>(
    conn: &impl ConnectionTrait,
    rows: Vec<A>,
    conflict: &str,
) -> AppResult<()> {
    let Some(first) = rows.first().map(shape) else {
        return Ok(());
    };
    if rows.iter().all(|row| shape(row) == first) {
        return write_rows(conn, rows, &first, conflict).await;
    }
    if conflict.is_empty() {
        for chunk in owned_chunks(rows) {
            A::Entity::insert_many(chunk)
                .exec_without_returning(conn)
                .await?;
        }
    } else {
        for row in rows {
            let own = shape(&row);
            write_rows(conn, vec![row], &own, conflict).await?;
        }
    }
    Ok(())
}

/// Which of the entity's columns `row` sets, in column order.
fn shape<A: ActiveModelTrait>(row: &A) -> Vec<bool> {
    <A::Entity as EntityTrait>::Column::iter()
        .map(|c| !row.is_not_set(c))
        .collect()
}

/// Writes `rows`, which all set the columns of `shape`, as [`insert_all`] describes.
async fn write_rows<A: ActiveModelTrait>(
    conn: &impl ConnectionTrait,
    rows: Vec<A>,
    shape: &[bool],
    conflict: &str,
) -> AppResult<()> {
    let columns: Vec<_> = <A::Entity as EntityTrait>::Column::iter()
        .zip(shape)
        .filter_map(|(c, &set)| set.then_some(c))
        .collect();
    let backend = conn.get_database_backend();
    let table = A::Entity::default().table_name();
    let names: Vec<&str> = columns.iter().map(|c| c.as_str()).collect();
    let list = names
        .iter()
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ");
    // Every column of `columns` is set on every row (checked by the caller).
    let rows: Vec<Vec<Value>> = rows
        .into_iter()
        .map(|mut row| {
            columns
                .iter()
                .filter_map(|&c| row.take(c).into_value())
                .collect()
        })
        .collect();
    if backend == DbBackend::Postgres
        && let Some(json) = json_rows(&names, &rows)
    {
        // In the array's order (`ORDINALITY`): ids from a sequence follow the rows' order.
        let sql = format!(
            "INSERT INTO \"{table}\" ({list}) SELECT {list} \
             FROM jsonb_populate_recordset(NULL::\"{table}\", $1) WITH ORDINALITY AS r \
             ORDER BY r.ordinality{conflict}"
        );
        let rows = Value::Json(Some(Box::new(json)));
        conn.execute_raw(Statement::from_sql_and_values(backend, sql, [rows]))
            .await?;
        return Ok(());
    }
    let head = format!("INSERT INTO \"{table}\" ({list}) VALUES ");
    for chunk in owned_chunks(rows) {
        let sql = head.clone() + &values_list(backend, chunk.len(), columns.len()) + conflict;
        let values: Vec<Value> = chunk.into_iter().flatten().collect();
        conn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
    }
    Ok(())
}

/// `rows` (values in the order of `names`) as one JSON array of objects, `[{"a": …, "b": …},
/// …]`, for PostgreSQL's `jsonb_populate_recordset`, which reads each field as a literal of
/// its column's type: numbers and strings as they are, JSON as JSON, instants in RFC 3339
/// with microseconds (truncated: the instants this service stores are whole microseconds
/// already, `domain::period` and `service::now`), bytes as `\x` hex. `None` when a value
/// has no such literal that reads back exactly (a float that is not finite, a leap second, a
/// JSON `null`, which the function would store as SQL `NULL`, a type this service does not
/// store): the caller binds the rows one by one instead.
fn json_rows(names: &[&str], rows: &[Vec<Value>]) -> Option<serde_json::Value> {
    rows.iter()
        .map(|row| {
            names
                .iter()
                .zip(row)
                .map(|(name, value)| Some(((*name).to_owned(), json_literal(value)?)))
                .collect::<Option<serde_json::Map<_, _>>>()
                .map(serde_json::Value::Object)
        })
        .collect::<Option<Vec<_>>>()
        .map(serde_json::Value::Array)
}

/// `find_in`'s one statement: the keys as one JSON array ([`json_key_list`]). `None` for
/// keys it cannot so write: the caller binds them in chunks instead.
fn json_find_in<E: EntityTrait, K: Into<Value> + Clone>(
    backend: DbBackend,
    column: E::Column,
    keys: &[K],
    lock: bool,
) -> Option<Statement> {
    let keys: Vec<Value> = keys.iter().cloned().map(Into::into).collect();
    let (table, column) = (E::default().table_name(), column.as_str());
    let (list, json) = json_key_list(backend, &keys)?;
    // SQLite has no row locks: its writer holds the whole database.
    let lock = match (lock, backend) {
        (false, _) => String::new(),
        (true, DbBackend::Postgres) => format!(" ORDER BY \"{column}\" FOR UPDATE"),
        (true, _) => format!(" ORDER BY \"{column}\""),
    };
    let sql = format!("SELECT * FROM \"{table}\" WHERE \"{column}\" IN ({list}){lock}");
    Some(Statement::from_sql_and_values(backend, sql, [json]))
}

/// `keys` as the list of an `IN (…)`, with what it binds: one JSON parameter that the list
/// unpacks as the keys' type ([`json_key_list`]), in one shape whatever their number, or
/// where a key has no exact JSON literal, a placeholder per key.
pub(crate) fn key_list<K: Into<Value> + Clone>(
    backend: DbBackend,
    keys: &[K],
) -> (String, Vec<Value>) {
    let keys: Vec<Value> = keys.iter().cloned().map(Into::into).collect();
    if let Some((list, json)) = json_key_list(backend, &keys) {
        return (list, vec![json]);
    }
    let list = (1..=keys.len())
        .map(|i| match backend {
            DbBackend::Postgres => format!("${i}"),
            _ => "?".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    (list, keys)
}

/// A subquery of `keys`, from one JSON array: `SELECT value::bigint FROM
/// jsonb_array_elements_text($1)` on PostgreSQL (of the type [`postgres_type`] names),
/// `SELECT value ->> 0 FROM jsonb_each(?)` on SQLite ([`sqlite_rows`]). `None` for no keys, or
/// keys with no such literal.
fn json_key_list(backend: DbBackend, keys: &[Value]) -> Option<(String, Value)> {
    match backend {
        DbBackend::Postgres => {
            let key_type = postgres_type(keys.first()?)?;
            let json = keys.iter().map(json_literal).collect::<Option<Vec<_>>>()?;
            Some((
                format!("SELECT value::{key_type} FROM jsonb_array_elements_text($1)"),
                json_parameter(backend, serde_json::Value::Array(json)),
            ))
        }
        DbBackend::Sqlite => {
            let rows: Vec<Vec<Value>> = keys.iter().map(|key| vec![key.clone()]).collect();
            let (exprs, json) = sqlite_rows(&rows)?;
            Some((format!("SELECT {} FROM jsonb_each(?)", exprs[0]), json))
        }
        _ => None,
    }
}

/// Inserts `rows` into `table`, each row's values in the order of `columns` (name and
/// PostgreSQL type), with `conflict` (empty, or an `ON CONFLICT` clause) after: `INSERT …
/// SELECT` from [`sources`], so all the rows in one statement of one shape on both databases
/// where their values have exact JSON literals.
pub(crate) async fn insert_from(
    conn: &impl ConnectionTrait,
    table: &str,
    columns: &[(&str, &str)],
    rows: Vec<Vec<Value>>,
    conflict: &str,
) -> AppResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let backend = conn.get_database_backend();
    let list = columns
        .iter()
        .map(|(name, _)| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let picks = (1..=columns.len())
        .map(|i| format!("v.column{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let types: Vec<&str> = columns.iter().map(|(_, ty)| *ty).collect();
    for (v, values) in sources(backend, rows, &types) {
        // `WHERE true`: SQLite would read `ON CONFLICT` right after `FROM v` as a join's `ON`.
        let sql = format!(
            "INSERT INTO \"{table}\" ({list}) SELECT {picks} FROM {v} WHERE true{conflict}"
        );
        conn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
    }
    Ok(())
}

/// A JSON document as the parameter a statement unpacks: `jsonb` on PostgreSQL, text (which
/// `jsonb_each` parses) on SQLite.
fn json_parameter(backend: DbBackend, json: serde_json::Value) -> Value {
    match backend {
        DbBackend::Postgres => Value::Json(Some(Box::new(json))),
        _ => Value::String(Some(json.to_string())),
    }
}

/// `rows` (all of one width) as one JSON array of arrays for SQLite's `jsonb_each`, with the
/// expression that reads each column back from a row's `value` exactly as sqlx binds it:
/// `value ->> 0`, …, and for a column of blobs (UUIDs, bytes: hex in the JSON)
/// `unhex(value ->> 0)`. `None` if there are no rows, or a value has no such form (see
/// [`sqlite_literal`]), or a column holds blobs in some rows only.
fn sqlite_rows(rows: &[Vec<Value>]) -> Option<(Vec<String>, Value)> {
    let is_blob = |value: &Value| matches!(value, Value::Uuid(_) | Value::Bytes(_));
    let blobs: Vec<bool> = rows.first()?.iter().map(is_blob).collect();
    let json = rows
        .iter()
        .map(|row| {
            (row.len() == blobs.len()).then_some(())?;
            row.iter()
                .zip(&blobs)
                .map(|(value, &blob)| (is_blob(value) == blob).then(|| sqlite_literal(value))?)
                .collect::<Option<Vec<_>>>()
                .map(serde_json::Value::Array)
        })
        .collect::<Option<Vec<_>>>()?;
    let exprs = blobs
        .iter()
        .enumerate()
        .map(|(i, blob)| match blob {
            true => format!("unhex(value ->> {i})"),
            false => format!("value ->> {i}"),
        })
        .collect();
    let json = json_parameter(DbBackend::Sqlite, serde_json::Value::Array(json));
    Some((exprs, json))
}

/// One value as SQLite's `jsonb_each` and `->>` read back exactly what sqlx binds: integers
/// as integers, text as text (an embedded NUL aside), instants and days as the text sqlx
/// writes for them (RFC 3339, `AutoSi`, `+00:00`; `%F`), JSON as the text `serde_json`
/// writes for it (a JSON string holding it), `NULL` as `null`; a UUID or bytes, which sqlx
/// binds as blobs, as hex, for `unhex` ([`sqlite_rows`]). `None` for any other value (a
/// float, which JSON may not round-trip).
fn sqlite_literal(value: &Value) -> Option<serde_json::Value> {
    use chrono::SecondsFormat::AutoSi;
    use serde_json::Value as J;
    match value {
        Value::Uuid(Some(id)) => Some(J::String(id.simple().to_string())),
        Value::Bytes(Some(bytes)) => Some(J::String(hex::encode(bytes))),
        Value::Json(Some(json)) => Some(J::String(json.to_string())),
        Value::ChronoDate(Some(day)) => Some(J::String(day.format("%F").to_string())),
        Value::Bool(Some(b)) => Some(J::from(i64::from(*b))),
        Value::String(Some(text)) if text.contains('\0') => None,
        Value::ChronoDateTimeUtc(Some(at)) => Some(J::String(at.to_rfc3339_opts(AutoSi, false))),
        Value::ChronoDateTimeWithTimeZone(Some(at)) => {
            Some(J::String(at.to_rfc3339_opts(AutoSi, false)))
        }
        // Written as PostgreSQL's literals are.
        Value::TinyInt(_)
        | Value::SmallInt(_)
        | Value::Int(_)
        | Value::BigInt(_)
        | Value::TinyUnsigned(_)
        | Value::SmallUnsigned(_)
        | Value::Unsigned(_)
        | Value::String(_)
        | Value::Bool(None)
        | Value::Uuid(None)
        | Value::Bytes(None)
        | Value::Json(None)
        | Value::ChronoDate(None)
        | Value::ChronoDateTimeUtc(None)
        | Value::ChronoDateTimeWithTimeZone(None) => json_literal(value),
        _ => None,
    }
}

/// The PostgreSQL type of a key `find_in` reads from JSON text, for the key types it takes.
fn postgres_type(key: &Value) -> Option<&'static str> {
    match key {
        Value::BigInt(Some(_)) => Some("bigint"),
        Value::Int(Some(_)) => Some("integer"),
        Value::String(Some(_)) => Some("text"),
        Value::Uuid(Some(_)) => Some("uuid"),
        _ => None,
    }
}

/// One value as [`json_rows`] writes it, `None` where it cannot.
fn json_literal(value: &Value) -> Option<serde_json::Value> {
    use chrono::{SecondsFormat, Timelike};
    use serde_json::Value as J;
    // `Micros` truncates; a leap second (nanoseconds past 10⁹) is left out.
    let instant = |at: DateTime<Utc>| {
        (at.nanosecond() < 1_000_000_000)
            .then(|| J::String(at.to_rfc3339_opts(SecondsFormat::Micros, true)))
    };
    Some(match value {
        Value::Bool(Some(b)) => J::Bool(*b),
        Value::TinyInt(Some(n)) => J::from(*n),
        Value::SmallInt(Some(n)) => J::from(*n),
        Value::Int(Some(n)) => J::from(*n),
        Value::BigInt(Some(n)) => J::from(*n),
        Value::TinyUnsigned(Some(n)) => J::from(*n),
        Value::SmallUnsigned(Some(n)) => J::from(*n),
        Value::Unsigned(Some(n)) => J::from(*n),
        Value::BigUnsigned(Some(n)) => J::from(*n),
        Value::Float(Some(x)) => J::Number(serde_json::Number::from_f64(f64::from(*x))?),
        Value::Double(Some(x)) => J::Number(serde_json::Number::from_f64(*x)?),
        Value::String(Some(text)) => J::String(text.clone()),
        Value::Char(Some(c)) => J::String(c.to_string()),
        Value::Bytes(Some(bytes)) => J::String(format!("\\x{}", hex::encode(bytes))),
        Value::Json(Some(json)) if !json.is_null() => (**json).clone(),
        Value::Uuid(Some(id)) => J::String(id.to_string()),
        Value::ChronoDateTimeUtc(Some(at)) => instant(*at)?,
        Value::ChronoDateTimeWithTimeZone(Some(at)) => instant(at.to_utc())?,
        Value::ChronoDate(Some(day)) => J::String(day.format("%Y-%m-%d").to_string()),
        Value::Bool(None)
        | Value::TinyInt(None)
        | Value::SmallInt(None)
        | Value::Int(None)
        | Value::BigInt(None)
        | Value::TinyUnsigned(None)
        | Value::SmallUnsigned(None)
        | Value::Unsigned(None)
        | Value::BigUnsigned(None)
        | Value::Float(None)
        | Value::Double(None)
        | Value::String(None)
        | Value::Char(None)
        | Value::Bytes(None)
        | Value::Json(None)
        | Value::Uuid(None)
        | Value::ChronoDateTimeUtc(None)
        | Value::ChronoDateTimeWithTimeZone(None)
        | Value::ChronoDate(None) => J::Null,
        _ => return None,
    })
}

/// The rows of `E` whose `column` is one of `keys` (sorted, for `lock`): one statement with
/// the keys as one JSON array ([`json_find_in`]), or, for keys it cannot write so, a chunk of
/// keys per statement. With `lock`, rows are locked for the transaction (`FOR UPDATE` on
/// PostgreSQL), in key order.
pub(crate) async fn find_in<E, K>(
    conn: &impl ConnectionTrait,
    column: E::Column,
    keys: &[K],
    lock: bool,
) -> AppResult<Vec<E::Model>>
where
    E: EntityTrait,
    E::ActiveModel: TryIntoModel<E::Model>,
    K: Into<Value> + Clone,
{
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(statement) = json_find_in::<E, K>(conn.get_database_backend(), column, keys, lock) {
        return models::select_all::<E>(conn, statement).await;
    }
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

/// The rows of `E` whose two `columns` hold one of `keys` (rows of two values, of the
/// PostgreSQL `types`): `E` joined with [`sources`], a statement per source.
pub(crate) async fn find_pairs<E>(
    conn: &impl ConnectionTrait,
    columns: [E::Column; 2],
    types: [&str; 2],
    keys: Vec<Vec<Value>>,
) -> AppResult<Vec<E::Model>>
where
    E: EntityTrait,
    E::ActiveModel: TryIntoModel<E::Model>,
{
    let backend = conn.get_database_backend();
    let select = format!("SELECT t.* FROM \"{}\" t JOIN ", E::default().table_name());
    let on = format!(
        " ON t.\"{}\" = v.column1 AND t.\"{}\" = v.column2",
        columns[0].as_str(),
        columns[1].as_str()
    );
    let mut found = Vec::new();
    for (v, values) in sources(backend, keys, &types) {
        let sql = format!("{select}{v}{on}");
        let statement = Statement::from_sql_and_values(backend, sql, values);
        found.extend(models::select_all::<E>(conn, statement).await?);
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
    for (v, values) in sources(backend, pair_rows(pairs), &PAIR_TYPES) {
        let sql = format!(
            "SELECT v.column1, v.column2 FROM {v} WHERE EXISTS \
             (SELECT 1 FROM workspace_tracking t \
              WHERE t.contact_id = v.column1 AND t.workspace_id = v.column2)"
        );
        let rows = conn
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
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
    for (v, values) in sources(backend, pair_rows(pairs), &PAIR_TYPES) {
        let sql = first_receipts_sql(backend, &v);
        let rows = conn
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
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

/// [`first_receipts`]' statement over the pairs of `v`. On SQLite the `+` keeps the planner
/// from reading `MIN` off the (workspace, time) index: without statistics it would walk all
/// of the workspace's tracking rows in time order until the contact's receipt came up (150 ms
/// a pair at 200,000 rows), instead of probing `idx_tracking_handoffs` (workspace, action,
/// contact) (0.02 ms); `AND t.` [`HANDOFFS`](super::tracking::HANDOFFS) lets it read that
/// partial index.
fn first_receipts_sql(backend: DbBackend, v: &str) -> String {
    let first = match backend {
        DbBackend::Sqlite => "MIN(+t.\"timestamp\")",
        _ => "MIN(t.\"timestamp\")",
    };
    format!(
        "SELECT v.column1, v.column2, (SELECT {first} \
          FROM workspace_tracking t WHERE t.contact_id = v.column1 \
          AND t.workspace_id = v.column2 AND t.action = '{}' AND t.{}) \
         FROM {v}",
        TrackingAction::Received.as_str(),
        super::tracking::HANDOFFS,
    )
}

/// The PostgreSQL types of a [`Pair`]'s two columns.
pub(crate) const PAIR_TYPES: [&str; 2] = ["bigint", "text"];

/// `pairs` as rows for [`sources`].
pub(crate) fn pair_rows(pairs: &[Pair]) -> Vec<Vec<Value>> {
    pairs
        .iter()
        .map(|(contact, workspace)| vec![(*contact).into(), workspace.as_str().into()])
        .collect()
}

/// `rows` as the `FROM` item `v`, whose columns are `column1`, `column2`, …, each with the
/// values it binds: all the rows, whatever their number, as one JSON parameter in one shape,
/// on SQLite `(SELECT value ->> 0 AS column1, … FROM jsonb_each(?)) AS v` (see
/// [`sqlite_literal`]), on PostgreSQL `jsonb_to_recordset($1) AS v(column1 bigint, …)` (of
/// `types`; see [`json_rows`]). Where a value has no exact JSON literal, `(VALUES (?, ?), …)
/// AS v` instead, one per chunk.
pub(crate) fn sources(
    backend: DbBackend,
    rows: Vec<Vec<Value>>,
    types: &[&str],
) -> Vec<(String, Vec<Value>)> {
    let names: Vec<String> = (1..=types.len()).map(|i| format!("column{i}")).collect();
    if backend == DbBackend::Sqlite
        && let Some((exprs, json)) = sqlite_rows(&rows)
    {
        let columns = exprs
            .iter()
            .zip(&names)
            .map(|(expr, name)| format!("{expr} AS {name}"))
            .collect::<Vec<_>>()
            .join(", ");
        let v = format!("(SELECT {columns} FROM jsonb_each(?)) AS v");
        return vec![(v, vec![json])];
    }
    if backend == DbBackend::Postgres && !rows.is_empty() {
        let keys: Vec<&str> = names.iter().map(String::as_str).collect();
        if let Some(json) = json_rows(&keys, &rows) {
            let columns = names
                .iter()
                .zip(types)
                .map(|(name, ty)| format!("{name} {ty}"))
                .collect::<Vec<_>>()
                .join(", ");
            let v = format!("jsonb_to_recordset($1) AS v({columns})");
            return vec![(v, vec![Value::Json(Some(Box::new(json)))])];
        }
    }
    owned_chunks(rows)
        .into_iter()
        .map(|chunk| {
            let v = format!(
                "(VALUES {}) AS v",
                values_list(backend, chunk.len(), types.len())
            );
            (v, chunk.into_iter().flatten().collect())
        })
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

/// A new SQLite database file with every migration applied, for unit tests; it is deleted
/// with the directory returned beside it.
#[cfg(test)]
pub(crate) async fn migrated_sqlite() -> (tempfile::TempDir, sea_orm::DatabaseConnection) {
    use migration::{Migrator, MigratorTrait};
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
    let conn = sea_orm::Database::connect(url).await.expect("SQLite");
    Migrator::up(&conn, None).await.expect("migrated");
    (dir, conn)
}

/// What SQLite's `EXPLAIN QUERY PLAN` says of each statement (the detail of each step), on a
/// new migrated database without statistics, as convio's own (it never runs `ANALYZE`).
#[cfg(test)]
pub(crate) async fn sqlite_plans(statements: Vec<Statement>) -> Vec<Vec<String>> {
    let (_dir, conn) = migrated_sqlite().await;
    let mut plans = Vec::new();
    for statement in statements {
        let explain = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!("EXPLAIN QUERY PLAN {}", statement.sql),
            statement.values.map(|v| v.0).unwrap_or_default(),
        );
        let steps = conn.query_all_raw(explain).await.expect("a plan");
        let details = steps.iter().map(|row| row.try_get_by_index::<String>(3));
        plans.push(
            details
                .collect::<Result<_, _>>()
                .expect("each step's detail"),
        );
    }
    plans
}

#[cfg(test)]
mod tests {
    use super::{chunks, json_literal, sources, sqlite_plans, values_list};
    use chrono::{FixedOffset, TimeZone, Utc};
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement, Value};
    use serde_json::json;

    /// Each value, as `quote()` shows it (type and all), read from the JSON that `sources`
    /// sends SQLite, and bound as sqlx binds it: the two are the same.
    #[tokio::test]
    async fn sqlite_reads_back_from_json_what_sqlx_binds() {
        let conn = Database::connect("sqlite::memory:").await.expect("SQLite");
        let at = Utc.timestamp_opt(1_764_489_600, 123_456_789).unwrap();
        let east = FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
        let row: Vec<Value> = vec![
            i64::MIN.into(),
            i64::MAX.into(),
            0i32.into(),
            true.into(),
            "".into(),
            "quote ' and \" backslash \\ tab \t é 🙂".into(),
            at.into(),
            Utc.timestamp_opt(1_764_489_600, 0).unwrap().into(),
            at.with_timezone(&east).into(),
            Value::String(None),
            Value::BigInt(None),
            Value::ChronoDateTimeUtc(None),
            uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210).into(),
            Value::Uuid(None),
            vec![0u8, 1, 0xfe, 0xff].into(),
            Vec::<u8>::new().into(),
            Value::Bytes(None),
            json!({"b": [1, 2.5, "é \u{0} \"q\""], "a": null, "c": {"z": true}}).into(),
            json!(null).into(),
            Value::Json(None),
            chrono::NaiveDate::from_ymd_opt(2026, 2, 28).unwrap().into(),
            Value::ChronoDate(None),
        ];
        let quoted = |from: &str| {
            "SELECT ".to_owned()
                + &(1..=row.len())
                    .map(|i| format!("quote(column{i})"))
                    .collect::<Vec<_>>()
                    .join(" || '|' || ")
                + from
        };
        let read = |sql: String, values: Vec<Value>| {
            let conn = &conn;
            async move {
                let row = conn
                    .query_one_raw(Statement::from_sql_and_values(
                        DbBackend::Sqlite,
                        sql,
                        values,
                    ))
                    .await
                    .expect("a query")
                    .expect("a row");
                row.try_get_by_index::<String>(0).expect("text")
            }
        };
        let types = vec!["any"; row.len()];
        let mut from_json = sources(DbBackend::Sqlite, vec![row.clone(), row.clone()], &types);
        assert_eq!(from_json.len(), 1, "one JSON parameter for both rows");
        let (v, values) = from_json.remove(0);
        assert!(v.contains("jsonb_each"), "{v}");
        let bound = format!(
            " FROM (VALUES {}) AS v",
            values_list(DbBackend::Sqlite, 1, row.len())
        );
        assert_eq!(
            read(quoted(&format!(" FROM {v} LIMIT 1")), values).await,
            read(quoted(&bound), row.clone()).await
        );
        // A float has no exact literal, nor does a column that holds a blob in some rows
        // only: the rows are bound instead.
        for rows in [
            vec![vec![Value::Double(Some(0.1))]],
            vec![vec![uuid::Uuid::nil().into()], vec!["text".into()]],
        ] {
            let (v, _) = sources(DbBackend::Sqlite, rows, &["any"]).remove(0);
            assert!(v.starts_with("(VALUES"), "{v}");
        }
    }

    /// Without statistics (convio never runs `ANALYZE`), SQLite still finds a pair's first
    /// receipt by probing an index that holds the contact, not by walking the workspace's
    /// receipts in time order.
    #[tokio::test]
    async fn first_receipts_probe_the_contact_on_sqlite() {
        let pairs = super::pair_rows(&[(1, "ws".to_owned())]);
        let (v, values) = sources(DbBackend::Sqlite, pairs, &super::PAIR_TYPES).remove(0);
        let sql = super::first_receipts_sql(DbBackend::Sqlite, &v);
        let statement = Statement::from_sql_and_values(DbBackend::Sqlite, sql, values);
        let plan = sqlite_plans(vec![statement]).await.remove(0);
        let search = plan
            .iter()
            .find(|step| step.contains("workspace_tracking") || step.contains(" t "))
            .unwrap_or_else(|| panic!("no step reads the receipts: {plan:?}"));
        assert!(search.contains("contact_id=?"), "{plan:?}");
        assert!(search.contains("idx_tracking_handoffs"), "{plan:?}");
    }

    #[test]
    fn json_literals_read_back_as_sqlx_binds_them() {
        let at = Utc.timestamp_opt(1_764_489_600, 123_456_789).unwrap();
        let literal = |v: Value| json_literal(&v);
        assert_eq!(
            literal(Value::from(at)),
            Some(json!("2025-11-30T08:00:00.123456Z")),
            "microseconds, truncated"
        );
        assert_eq!(
            literal(Value::BigInt(Some(i64::MAX))),
            Some(json!(i64::MAX))
        );
        assert_eq!(literal(Value::String(None)), Some(json!(null)));
        assert_eq!(
            literal(Value::Bytes(Some(vec![0, 255]))),
            Some(json!("\\x00ff"))
        );
        assert_eq!(
            literal(Value::from(json!({"a": [1]}))),
            Some(json!({"a": [1]}))
        );
        // No literal stores these exactly: the rows go as bound values instead.
        assert_eq!(literal(Value::from(json!(null))), None);
        assert_eq!(literal(Value::Double(Some(f64::NAN))), None);
        let leap = Utc.timestamp_opt(1_483_228_799, 1_500_000_000).unwrap();
        assert_eq!(literal(Value::from(leap)), None);
    }

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
