//! `conversions`: one row per conversion event reported by a workspace for a contact.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub contact_id: i64,
    pub lead_id: Option<i64>,
    #[sea_orm(column_type = "Text")]
    pub workspace_id: String,
    #[sea_orm(column_type = "Text")]
    pub converted_by: String,
    pub converted_at: DateTimeUtc,
    #[sea_orm(column_type = "Text")]
    pub conversion_type: String,
    /// Value in minor currency units (e.g. cents), if any.
    pub value_minor: Option<i64>,
    /// ISO 4217 code, three letters.
    #[sea_orm(column_type = "Text")]
    pub currency: String,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub custom_data: Option<Json>,
    pub created_at: DateTimeUtc,
    /// `active`, or `retracted` by an adjustment. `conversion_type` and `value_minor` are the
    /// current ones; `conversion_adjustments` keeps what they were.
    #[sea_orm(column_type = "Text")]
    pub status: String,
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
        belongs_to = "super::lead::Entity",
        from = "Column::LeadId",
        to = "super::lead::Column::Id"
    )]
    Lead,
    #[sea_orm(
        belongs_to = "super::workspace::Entity",
        from = "Column::WorkspaceId",
        to = "super::workspace::Column::Id"
    )]
    Workspace,
}

impl Related<super::contact::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Contact.def()
    }
}

impl Related<super::lead::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Lead.def()
    }
}

impl Related<super::workspace::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Workspace.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
