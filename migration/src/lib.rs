//! Schema migrations for convio. The same migrations run on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_workspaces;
mod m20261125_000002_create_api_keys;
mod m20261125_000003_create_contacts;
mod m20261125_000004_create_leads;
mod m20261125_000005_create_conversions;
mod m20261125_000006_create_workspace_tracking;
mod m20261125_000007_create_audit_log;
mod m20261125_000008_create_feed_events;
mod m20261125_000009_add_workspace_rate_limit;
mod m20261125_000010_create_idempotency_keys;
mod m20261125_000011_chain_audit_log;
mod m20261125_000012_add_api_key_expiry;
mod m20261125_000013_add_contact_erasure;
mod m20261125_000014_create_rollups;
mod m20261125_000015_create_id_allocators;
mod m20261125_000016_widen_money_totals;
mod m20261125_000017_add_feed_contact_state;
mod m20261125_000018_create_contact_states;
mod m20261125_000019_create_audit_anchors;
mod m20261129_000020_create_conversion_adjustments;
mod m20261129_000022_create_webhooks;
mod m20261129_000023_add_currencies;
mod m20261130_000024_cover_rollups;
mod m20261201_000025_narrow_tracking_indexes;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_workspaces::Migration),
            Box::new(m20261125_000002_create_api_keys::Migration),
            Box::new(m20261125_000003_create_contacts::Migration),
            Box::new(m20261125_000004_create_leads::Migration),
            Box::new(m20261125_000005_create_conversions::Migration),
            Box::new(m20261125_000006_create_workspace_tracking::Migration),
            Box::new(m20261125_000007_create_audit_log::Migration),
            Box::new(m20261125_000008_create_feed_events::Migration),
            Box::new(m20261125_000009_add_workspace_rate_limit::Migration),
            Box::new(m20261125_000010_create_idempotency_keys::Migration),
            Box::new(m20261125_000011_chain_audit_log::Migration),
            Box::new(m20261125_000012_add_api_key_expiry::Migration),
            Box::new(m20261125_000013_add_contact_erasure::Migration),
            Box::new(m20261125_000014_create_rollups::Migration),
            Box::new(m20261125_000015_create_id_allocators::Migration),
            Box::new(m20261125_000016_widen_money_totals::Migration),
            Box::new(m20261125_000017_add_feed_contact_state::Migration),
            Box::new(m20261125_000018_create_contact_states::Migration),
            Box::new(m20261125_000019_create_audit_anchors::Migration),
            Box::new(m20261129_000020_create_conversion_adjustments::Migration),
            Box::new(m20261129_000022_create_webhooks::Migration),
            Box::new(m20261129_000023_add_currencies::Migration),
            Box::new(m20261130_000024_cover_rollups::Migration),
            Box::new(m20261201_000025_narrow_tracking_indexes::Migration),
        ]
    }
}
