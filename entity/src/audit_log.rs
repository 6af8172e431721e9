//! `audit_log`: who did what to which object, and when.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    #[sea_orm(column_type = "Text")]
    pub actor: String,
    #[sea_orm(column_type = "Text")]
    pub action: String,
    #[sea_orm(column_type = "Text")]
    pub object_type: String,
    #[sea_orm(column_type = "Text")]
    pub object_id: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub request_id: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub details: Option<Json>,
    /// `hash` of the entry before this one in the chain; null for the first chained entry
    /// and for entries written before the chain started.
    #[sea_orm(column_type = "Text", nullable)]
    pub prev_hash: Option<String>,
    /// SHA-256 (hex) over `prev_hash` and this entry's content; null for entries written
    /// before the chain started, which are outside it.
    #[sea_orm(column_type = "Text", nullable)]
    pub hash: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
