//! Every migration applies, rolls back cleanly, and applies again (in-memory SQLite).

use migration::{Migrator, MigratorTrait, SchemaManager};
use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DatabaseConnection};

const TABLES: [&str; 10] = [
    "workspaces",
    "api_keys",
    "contacts",
    "leads",
    "conversions",
    "workspace_tracking",
    "audit_log",
    "feed_events",
    "idempotency_keys",
    "rate_limit_windows",
];

const INDEXES: [(&str, &str); 9] = [
    ("contacts", "idx_contacts_status"),
    ("leads", "idx_leads_contact"),
    ("conversions", "idx_conversions_workspace_time"),
    ("conversions", "idx_conversions_time"),
    ("conversions", "idx_conversions_contact"),
    ("conversions", "idx_conversions_type_time"),
    ("workspace_tracking", "idx_tracking_handoffs"),
    ("workspace_tracking", "idx_tracking_contact_workspace"),
    ("audit_log", "idx_audit_object"),
];

async fn assert_schema(db: &DatabaseConnection, present: bool) {
    let manager = SchemaManager::new(db);
    for table in TABLES {
        let has = manager.has_table(table).await.expect("has_table");
        assert_eq!(has, present, "table {table} present = {has}");
    }
    if present {
        for (table, index) in INDEXES {
            let has = manager.has_index(table, index).await.expect("has_index");
            assert!(has, "index {index} on {table} missing");
        }
        let has = manager
            .has_index("audit_log", "idx_audit_actor_time")
            .await
            .expect("has_index");
        assert!(has, "index idx_audit_actor_time missing");
        // Replaced by m20261201_000025: each conversion paid for them.
        for index in [
            "idx_tracking_workspace_action_time",
            "idx_tracking_workspace_action_contact",
        ] {
            let has = manager
                .has_index("workspace_tracking", index)
                .await
                .expect("has_index");
            assert!(!has, "index {index} is back");
        }
        for column in ["prev_hash", "hash"] {
            let has = manager
                .has_column("audit_log", column)
                .await
                .expect("has_column");
            assert!(has, "column audit_log.{column} missing");
        }
    }
}

#[tokio::test]
async fn up_down_up() {
    let db = Database::connect("sqlite::memory:").await.expect("connect");

    Migrator::up(&db, None).await.expect("first up");
    assert_schema(&db, true).await;
    let pending = Migrator::get_pending_migrations(&db)
        .await
        .expect("pending");
    assert!(
        pending.is_empty(),
        "{} migrations still pending",
        pending.len()
    );

    Migrator::down(&db, None).await.expect("down");
    assert_schema(&db, false).await;
    let applied = Migrator::get_applied_migrations(&db)
        .await
        .expect("applied");
    assert!(
        applied.is_empty(),
        "{} migrations still applied",
        applied.len()
    );

    Migrator::up(&db, None).await.expect("second up");
    assert_schema(&db, true).await;
}

#[tokio::test]
async fn defaults_and_foreign_keys() {
    let db = Database::connect("sqlite::memory:").await.expect("connect");
    Migrator::up(&db, None).await.expect("up");

    db.execute_unprepared(
        "INSERT INTO contacts (id, created_at, updated_at, currency) \
         VALUES (123456, '2026-11-25T00:00:00+00:00', '2026-11-25T00:00:00+00:00', 'EUR')",
    )
    .await
    .expect("insert contact with explicit id");
    let row = db
        .query_one_raw(sea_orm_migration::sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT conversion_status, lifetime_value_low, lifetime_value_high, conversion_count \
             FROM contacts WHERE id = 123456",
        ))
        .await
        .expect("select")
        .expect("row");
    let status: String = row.try_get("", "conversion_status").expect("status");
    let low: i64 = row.try_get("", "lifetime_value_low").expect("ltv low");
    let high: i64 = row.try_get("", "lifetime_value_high").expect("ltv high");
    let count: i32 = row.try_get("", "conversion_count").expect("count");
    assert_eq!((status.as_str(), low, high, count), ("pending", 0, 0, 0));

    // A lead for a contact that does not exist must be rejected.
    let orphan = db
        .execute_unprepared(
            "INSERT INTO leads (contact_id, created_at) VALUES (999, '2026-11-25T00:00:00+00:00')",
        )
        .await;
    assert!(orphan.is_err(), "orphan lead was accepted");

    // Deleting a contact that still has leads must be rejected (no cascade).
    db.execute_unprepared(
        "INSERT INTO leads (contact_id, created_at) VALUES (123456, '2026-11-25T00:00:00+00:00')",
    )
    .await
    .expect("insert lead");
    let delete = db
        .execute_unprepared("DELETE FROM contacts WHERE id = 123456")
        .await;
    assert!(delete.is_err(), "contact with leads was deleted");
}
