//! `conversion_adjustments`: the append-only history of a conversion's retractions and
//! restatements, numbered per conversion.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversion_adjustments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub conversion_id: Uuid,
    /// 1 for the conversion's first adjustment, then 2, …
    pub sequence: i32,
    /// The conversion's workspace.
    #[sea_orm(column_type = "Text")]
    pub workspace_id: String,
    /// `retract` or `restate`.
    #[sea_orm(column_type = "Text")]
    pub action: String,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    #[sea_orm(column_type = "Text")]
    pub conversion_type_before: String,
    #[sea_orm(column_type = "Text")]
    pub conversion_type_after: String,
    /// Minor units of the conversion's currency.
    pub value_minor_before: Option<i64>,
    pub value_minor_after: Option<i64>,
    /// Who adjusted it: `admin` or `workspace:<id>` (as in the audit log).
    #[sea_orm(column_type = "Text")]
    pub adjusted_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::conversion::Entity",
        from = "Column::ConversionId",
        to = "super::conversion::Column::Id"
    )]
    Conversion,
}

impl Related<super::conversion::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Conversion.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
