//! `workspaces`: the tenants (partner workspaces) that send and convert contacts.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "workspaces")]
pub struct Model {
    /// Caller-chosen identifier such as `workspace_123`.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub id: String,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    /// JSON array of permission strings.
    #[sea_orm(column_type = "JsonBinary")]
    pub permissions: Json,
    pub created_at: DateTimeUtc,
    pub disabled_at: Option<DateTimeUtc>,
    /// Requests per clock hour; `None` uses the server's default, 0 means unlimited.
    pub rate_limit_per_hour: Option<i64>,
    /// Bumped by every write that changes this workspace's analytics: the cache's key.
    #[sea_orm(default_value = 0)]
    pub analytics_version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::api_key::Entity")]
    ApiKey,
    #[sea_orm(has_many = "super::lead::Entity")]
    Lead,
    #[sea_orm(has_many = "super::conversion::Entity")]
    Conversion,
    #[sea_orm(has_many = "super::workspace_tracking::Entity")]
    WorkspaceTracking,
}

impl Related<super::api_key::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ApiKey.def()
    }
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
