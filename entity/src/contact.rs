//! `contacts`: the people being tracked, with their current conversion state and lifetime value.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contacts")]
pub struct Model {
    /// Auto-increment, but callers may also insert explicit ids.
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "Text", nullable)]
    pub name: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub email: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub phone: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    #[sea_orm(column_type = "Text", nullable)]
    pub sent_from_workspace: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub converted_from_workspace: Option<String>,
    /// Defaults to `pending` in the database.
    #[sea_orm(column_type = "Text", default_value = "pending")]
    pub conversion_status: String,
    pub converted_timestamp: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub converted_by: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub custom_metadata: Option<Json>,
    /// Lifetime value in minor currency units (e.g. cents): `high × 2³² + low` (see
    /// [`crate::wide`]), so no number of conversions can overflow it.
    #[sea_orm(default_value = 0)]
    pub lifetime_value_low: i64,
    #[sea_orm(default_value = 0)]
    pub lifetime_value_high: i64,
    /// ISO 4217 code, three letters.
    #[sea_orm(column_type = "Text")]
    pub currency: String,
    #[sea_orm(default_value = 0)]
    pub conversion_count: i32,
    /// When the contact's personal data was erased (GDPR); the row stays for the totals.
    pub erased_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::lead::Entity")]
    Lead,
    #[sea_orm(has_many = "super::conversion::Entity")]
    Conversion,
    #[sea_orm(has_many = "super::workspace_tracking::Entity")]
    WorkspaceTracking,
}

impl Related<super::lead::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Lead.def()
    }
}

impl Related<super::conversion::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Conversion.def()
    }
}

impl Related<super::workspace_tracking::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::WorkspaceTracking.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
