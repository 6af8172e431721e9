//! Models read as one row of JSON on SQLite. Each row a statement returns comes back from
//! SQLite's thread as a hand-off of its own, with a copy of each of its values, and is then
//! decoded column by column by name: about 20 µs a row in the conversion writer, which reads
//! hundreds of rows for every group. Folded by SQLite into one JSON array
//! (`json_group_array(json_array(…))`), the same rows are one hand-off and one text.
//!
//! Only columns whose values JSON carries exactly are read so: integers, booleans (0 or 1),
//! text, instants (the RFC 3339 text sqlx writes for them), JSON documents (text to SQLite)
//! and UUIDs (blobs to sqlx, read in `hex()`). An entity with any other column, or a value
//! that does not read back as its column's type (an instant in another format, say), is read
//! the usual way instead, so the answer is always the one sea-orm would give.

use crate::error::AppResult;
use chrono::DateTime;
use sea_orm::sea_query::ColumnType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IdenStatic, Iterable,
    Statement, TryIntoModel, Value,
};
use serde_json::Value as Json;

/// The models of `E` that `statement` selects; it must select every column of `E`, named as
/// they are (`SELECT *`, `SELECT t.*`). On SQLite, as one row of JSON (see the module).
pub(crate) async fn select_all<E>(
    conn: &impl ConnectionTrait,
    statement: Statement,
) -> AppResult<Vec<E::Model>>
where
    E: EntityTrait,
    E::ActiveModel: TryIntoModel<E::Model>,
{
    if statement.db_backend == DbBackend::Sqlite
        && let Some(columns) = json_columns::<E>()
    {
        let folded = Statement {
            sql: format!(
                "SELECT json_group_array(json_array({columns})) FROM ({}) AS s",
                statement.sql
            ),
            values: statement.values.clone(),
            db_backend: statement.db_backend,
        };
        if let Some(row) = conn.query_one_raw(folded).await? {
            let rows: String = row.try_get_by_index(0)?;
            if let Some(models) = models::<E>(&rows) {
                return Ok(models);
            }
            tracing::debug!(
                table = E::default().table_name(),
                "a value did not read back from JSON as its column's type; reading the rows as usual"
            );
        }
    }
    Ok(E::find().from_raw_sql(statement).all(conn).await?)
}

/// The select list of `json_array`: `E`'s columns of the subquery `s` in order, a UUID in
/// `hex()`. Qualified, so that a column the subquery lacks is an error: SQLite reads an
/// unknown bare `"name"` as the string 'name'. `None` if a column's type is not one JSON
/// carries exactly.
fn json_columns<E: EntityTrait>() -> Option<String> {
    let columns = E::Column::iter()
        .map(|column| {
            let name = column.as_str();
            match column.def().get_column_type() {
                // `hex(NULL)` is `''`.
                ColumnType::Uuid => Some(format!(
                    "CASE WHEN s.\"{name}\" IS NULL THEN NULL ELSE hex(s.\"{name}\") END"
                )),
                ty if carried(ty) => Some(format!("s.\"{name}\"")),
                _ => None,
            }
        })
        .collect::<Option<Vec<_>>>()?;
    Some(columns.join(", "))
}

/// Whether [`value`] reads a column of type `ty` (a UUID aside, which needs `hex`).
fn carried(ty: &ColumnType) -> bool {
    matches!(
        ty,
        ColumnType::BigInteger
            | ColumnType::Integer
            | ColumnType::Boolean
            | ColumnType::Text
            | ColumnType::String(_)
            | ColumnType::TimestampWithTimeZone
            | ColumnType::Json
            | ColumnType::JsonBinary
    )
}

/// `rows` (`[[column values…], …]` in `E`'s column order) as models; `None` if any value
/// does not read back as its column's type.
fn models<E>(rows: &str) -> Option<Vec<E::Model>>
where
    E: EntityTrait,
    E::ActiveModel: TryIntoModel<E::Model>,
{
    let rows: Vec<Vec<Json>> = serde_json::from_str(rows).ok()?;
    let columns: Vec<E::Column> = E::Column::iter().collect();
    rows.into_iter()
        .map(|row| {
            if row.len() != columns.len() {
                return None;
            }
            let mut model = <E::ActiveModel as ActiveModelTrait>::default();
            for (column, json) in columns.iter().zip(row) {
                let value = value(column.def().get_column_type(), json)?;
                model.try_set(*column, value).ok()?;
            }
            model.try_into_model().ok()
        })
        .collect()
}

/// One column's value as sqlx would have decoded it from SQLite, read from what
/// `json_array` made of it; `None` if it is not of the column's type. A `NULL` is the
/// type's `None`, which the model refuses where its field is not an `Option`.
fn value(ty: &ColumnType, json: Json) -> Option<Value> {
    let int = |json: &Json| json.as_i64();
    Some(match (ty, json) {
        (ColumnType::Uuid, Json::Null) => Value::Uuid(None),
        (ColumnType::Uuid, Json::String(hex)) => {
            (hex.len() == 32).then_some(())?;
            Value::Uuid(Some(uuid::Uuid::try_parse(&hex).ok()?))
        }
        (ColumnType::BigInteger, Json::Null) => Value::BigInt(None),
        (ColumnType::BigInteger, n @ Json::Number(_)) => Value::BigInt(Some(int(&n)?)),
        (ColumnType::Integer, Json::Null) => Value::Int(None),
        (ColumnType::Integer, n @ Json::Number(_)) => {
            Value::Int(Some(i32::try_from(int(&n)?).ok()?))
        }
        (ColumnType::Boolean, Json::Null) => Value::Bool(None),
        (ColumnType::Boolean, n @ Json::Number(_)) => Value::Bool(Some(match int(&n)? {
            0 => false,
            1 => true,
            _ => return None,
        })),
        (ColumnType::Text | ColumnType::String(_), Json::Null) => Value::String(None),
        (ColumnType::Text | ColumnType::String(_), Json::String(text)) => Value::String(Some(text)),
        (ColumnType::TimestampWithTimeZone, Json::Null) => Value::ChronoDateTimeUtc(None),
        (ColumnType::TimestampWithTimeZone, Json::String(at)) => {
            Value::ChronoDateTimeUtc(Some(DateTime::parse_from_rfc3339(&at).ok()?.to_utc()))
        }
        (ColumnType::Json | ColumnType::JsonBinary, Json::Null) => Value::Json(None),
        (ColumnType::Json | ColumnType::JsonBinary, Json::String(text)) => {
            Value::Json(Some(Box::new(serde_json::from_str(&text).ok()?)))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::{json_columns, models, select_all};
    use chrono::{TimeZone, Utc};
    use entity::{contact, contact_state, conversion, idempotency_key, lead, workspace};
    use sea_orm::{
        ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
        IntoActiveModel, Statement, TryIntoModel,
    };
    use serde_json::json;

    /// Reads every row of `E` both ways and checks that the JSON way was taken (no column,
    /// no value made it fall back) and gave what sea-orm's own decoding gives.
    async fn both_ways<E>(conn: &DatabaseConnection, rows: usize)
    where
        E: EntityTrait,
        E::Model: std::fmt::Debug + PartialEq,
        E::ActiveModel: TryIntoModel<E::Model>,
    {
        let table = E::default().table_name().to_owned();
        let all =
            || Statement::from_string(DbBackend::Sqlite, format!("SELECT t.* FROM \"{table}\" t"));
        let usual = E::find().from_raw_sql(all()).all(conn).await.expect("read");
        assert_eq!(usual.len(), rows, "{table}");
        let columns =
            json_columns::<E>().unwrap_or_else(|| panic!("{table}: a column JSON cannot carry"));
        let folded = format!(
            "SELECT json_group_array(json_array({columns})) FROM ({}) AS s",
            all().sql
        );
        let text: String = conn
            .query_one_raw(Statement::from_string(DbBackend::Sqlite, folded))
            .await
            .expect("read")
            .expect("a row")
            .try_get_by_index(0)
            .expect("text");
        let read = models::<E>(&text).unwrap_or_else(|| panic!("{table}: {text}"));
        assert_eq!(read, usual, "{table}");
        assert_eq!(select_all::<E>(conn, all()).await.expect("read"), usual);
    }

    /// The writer's reads, on rows holding edge values of every type they use: extreme
    /// integers, both booleans, `NULL`s, text with quotes, escapes, control characters and
    /// emoji, instants with nanoseconds and without, JSON with nesting, large and
    /// fractional numbers.
    #[tokio::test]
    async fn sqlite_reads_models_from_json_as_sqlx_decodes_them() {
        let (_dir, conn) = super::super::migrated_sqlite().await;
        let at = Utc.timestamp_opt(1_764_489_600, 123_456_789).unwrap();
        let whole = Utc.timestamp_opt(1_764_489_601, 0).unwrap();
        let text = "quote ' and \" backslash \\ tab \t nul-free \u{1} é 🙂";
        let doc = json!({"a": [1, -2.5, 0.1, 18446744073709551615u64, null], "é": {"t": text}});
        for (id, name) in [("ws-a", text), ("ws-b", "")] {
            workspace::Model {
                id: id.to_owned(),
                name: name.to_owned(),
                permissions: json!(["read", "write"]),
                created_at: at,
                disabled_at: (id == "ws-b").then_some(whole),
                rate_limit_per_hour: (id == "ws-a").then_some(i64::MAX),
                analytics_version: i64::MIN,
            }
            .into_active_model()
            .insert(&conn)
            .await
            .expect("a workspace");
        }
        for id in [1i64, i64::MAX] {
            let full = id == 1;
            contact::Model {
                id,
                name: full.then(|| text.to_owned()),
                email: full.then(|| "a@example.com".to_owned()),
                phone: None,
                created_at: at,
                updated_at: whole,
                sent_from_workspace: full.then(|| "ws-a".to_owned()),
                converted_from_workspace: None,
                conversion_status: "pending".to_owned(),
                converted_timestamp: full.then_some(at),
                converted_by: None,
                custom_metadata: full.then(|| doc.clone()),
                lifetime_value_low: u32::MAX.into(),
                lifetime_value_high: -1,
                currency: "USD".to_owned(),
                conversion_count: i32::MAX,
                erased_at: None,
            }
            .into_active_model()
            .insert(&conn)
            .await
            .expect("a contact");
            contact_state::Model {
                contact_id: id,
                workspace_id: "ws-a".to_owned(),
                owner: full,
                conversion_status: "qualified".to_owned(),
                conversion_count: i32::MIN,
                lifetime_value_low: 0,
                lifetime_value_high: i64::MAX,
                converted_by: full.then(|| text.to_owned()),
                converted_from_workspace: None,
                converted_timestamp: full.then_some(whole),
                sent_from_workspace: None,
                updated_at: at,
            }
            .into_active_model()
            .insert(&conn)
            .await
            .expect("a state");
        }
        let conversion_id = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        conversion::Model {
            id: conversion_id,
            contact_id: 1,
            lead_id: None,
            workspace_id: "ws-a".to_owned(),
            converted_by: text.to_owned(),
            converted_at: at,
            conversion_type: "sale".to_owned(),
            value_minor: Some(i64::MIN),
            currency: "EUR".to_owned(),
            custom_data: Some(doc.clone()),
            created_at: whole,
            status: "active".to_owned(),
        }
        .into_active_model()
        .insert(&conn)
        .await
        .expect("a conversion");
        for (id, with) in [(7i64, true), (8, false)] {
            lead::Model {
                id,
                contact_id: 1,
                created_at: at,
                workspace_id: with.then(|| "ws-a".to_owned()),
                conversion_id: with.then_some(conversion_id),
                conversion_metadata: with.then_some(json!(null)),
            }
            .into_active_model()
            .insert(&conn)
            .await
            .expect("a lead");
        }
        idempotency_key::Model {
            scope: "workspace:ws-a".to_owned(),
            key: text.to_owned(),
            fingerprint: "0".repeat(64),
            conversion_id,
            created_at: at,
            adjustment_id: None,
        }
        .into_active_model()
        .insert(&conn)
        .await
        .expect("a claim");
        both_ways::<workspace::Entity>(&conn, 2).await;
        both_ways::<contact::Entity>(&conn, 2).await;
        both_ways::<contact_state::Entity>(&conn, 2).await;
        both_ways::<conversion::Entity>(&conn, 1).await;
        both_ways::<lead::Entity>(&conn, 2).await;
        both_ways::<idempotency_key::Entity>(&conn, 1).await;
        // A value in a form sqlx reads but JSON does not: the rows are read the usual way.
        conn.execute_unprepared(
            "UPDATE contacts SET updated_at = '2026-11-30 10:00:00' WHERE id = 1",
        )
        .await
        .expect("an update");
        let all = Statement::from_string(DbBackend::Sqlite, "SELECT * FROM contacts ORDER BY id");
        let read = select_all::<contact::Entity>(&conn, all.clone())
            .await
            .expect("read");
        assert_eq!(
            read,
            contact::Entity::find()
                .from_raw_sql(all)
                .all(&conn)
                .await
                .expect("read")
        );
        assert_eq!(
            read[0].updated_at,
            Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap()
        );
    }
}
