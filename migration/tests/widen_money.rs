//! The migration that widens money totals keeps every stored total exact, and drops SQLite
//! rollups that had already overflowed into a float (the next start rebuilds them).

use migration::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

/// Migrations before `m20261125_000015_create_id_allocators`.
const BEFORE: u32 = 14;
/// `m20261125_000015_create_id_allocators` and `m20261125_000016_widen_money_totals`: what the
/// tests apply, no further (a later migration drops the rollups for the next start to rebuild).
const THROUGH_WIDEN: u32 = 2;

async fn one_i64(db: &DatabaseConnection, sql: &str) -> Vec<i64> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("select")
        .expect("a row");
    (0..)
        .map_while(|i| row.try_get_by_index::<i64>(i).ok())
        .collect()
}

async fn old_schema_with_totals(rollup_total: &str) -> DatabaseConnection {
    let db = Database::connect("sqlite::memory:").await.expect("connect");
    Migrator::up(&db, Some(BEFORE)).await.expect("old schema");
    db.execute_unprepared(&format!(
        "INSERT INTO contacts (id, created_at, updated_at, currency, lifetime_value_minor) \
         VALUES (1, '2026-11-25T00:00:00+00:00', '2026-11-25T00:00:00+00:00', 'USD', 9223372036854775807); \
         INSERT INTO conversion_rollups \
           (zone, grain, workspace_id, day, conversion_type, conversions, total_minor, valued) \
         VALUES ('UTC', 'month', '*', '2024-01-01', 'sale', 3, {rollup_total}, 3), \
                ('UTC', 'day', 'acme', '2024-01-15', 'sale', 1, 2500000, 1); \
         INSERT INTO rollup_zones (zone, built_at) VALUES ('UTC', '2026-11-25T00:00:00+00:00');"
    ))
    .await
    .expect("old rows");
    db
}

#[tokio::test]
async fn stored_totals_are_split_exactly() {
    let db = old_schema_with_totals("9223372036854775000").await;

    Migrator::up(&db, Some(THROUGH_WIDEN))
        .await
        .expect("the widening");

    let contact = one_i64(
        &db,
        "SELECT lifetime_value_high, lifetime_value_low FROM contacts WHERE id = 1",
    )
    .await;
    assert_eq!(
        (i128::from(contact[0]) << 32) + i128::from(contact[1]),
        i128::from(i64::MAX)
    );
    assert!(contact[1] < 1 << 32);
    let all = one_i64(
        &db,
        "SELECT total_minor_high, total_minor_low FROM conversion_rollups WHERE workspace_id = '*'",
    )
    .await;
    assert_eq!(
        (i128::from(all[0]) << 32) + i128::from(all[1]),
        9_223_372_036_854_775_000
    );
    let small = one_i64(
        &db,
        "SELECT total_minor_high, total_minor_low FROM conversion_rollups WHERE workspace_id = 'acme'",
    )
    .await;
    assert_eq!(small, vec![0, 2_500_000]);
    assert_eq!(
        one_i64(&db, "SELECT COUNT(*) FROM rollup_zones").await,
        vec![1]
    );

    // Down restores the old columns, with the values that fit them.
    Migrator::down(&db, Some(2)).await.expect("down");
    let contact = one_i64(
        &db,
        "SELECT lifetime_value_minor FROM contacts WHERE id = 1",
    )
    .await;
    assert_eq!(contact, vec![i64::MAX]);
}

#[tokio::test]
async fn totals_that_had_overflowed_into_floats_are_rebuilt() {
    // What SQLite stored when `total_minor + excluded.total_minor` passed 2^63 - 1.
    let db = old_schema_with_totals("9.3e18").await;

    Migrator::up(&db, Some(THROUGH_WIDEN))
        .await
        .expect("the widening");

    assert_eq!(
        one_i64(&db, "SELECT COUNT(*) FROM conversion_rollups").await,
        vec![0]
    );
    assert_eq!(
        one_i64(&db, "SELECT COUNT(*) FROM rollup_zones").await,
        vec![0],
        "rebuilt at start"
    );
}
