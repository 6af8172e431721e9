//! `audit_anchors`: the audit chain's head signed with a key the database does not hold
//! (see `service::audit`). One row, `id` 1.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_anchors")]
pub struct Model {
    /// Always 1: there is one head.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// The newest chained entry when it was signed; 0 while the chain is empty.
    pub entry_id: i64,
    /// That entry's `hash` (empty while the chain is empty).
    #[sea_orm(column_type = "Text")]
    pub entry_hash: String,
    /// How many chained entries there are up to and including it.
    pub entries: i64,
    /// The newest chained entry when signing started (0: the chain was empty).
    pub since_entry_id: i64,
    /// Which key signed it: a fingerprint, never the key.
    #[sea_orm(column_type = "Text")]
    pub key_id: String,
    /// HMAC-SHA-256 (hex) of the fields above (see `service::audit::anchor`).
    #[sea_orm(column_type = "Text")]
    pub mac: String,
    pub signed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
