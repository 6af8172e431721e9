//! `leads`: a contact handed to (or by) a workspace; links to its conversion once converted.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "leads")]
pub struct Model {
    /// Auto-increment, but callers may also insert explicit ids.
    #[sea_orm(primary_key)]
    pub id: i64,
    pub contact_id: i64,
    pub created_at: DateTimeUtc,
    #[sea_orm(column_type = "Text", nullable)]
    pub workspace_id: Option<String>,
    /// Id of the conversion, if any. Deliberately not a foreign key
    /// (`conversions.lead_id` already references `leads`).
    pub conversion_id: Option<Uuid>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub conversion_metadata: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::contact::Entity",
        from = "Column::ContactId",
        to = "super::contact::Column::Id"
    )]
    Contact,
    #[sea_orm(
        belongs_to = "super::workspace::Entity",
        from = "Column::WorkspaceId",
        to = "super::workspace::Column::Id"
    )]
    Workspace,
    #[sea_orm(has_many = "super::conversion::Entity")]
    Conversion,
    #[sea_orm(has_many = "super::workspace_tracking::Entity")]
    WorkspaceTracking,
}

impl Related<super::contact::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Contact.def()
    }
}

impl Related<super::workspace::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Workspace.def()
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
