//! `feed_events`: one row per event on the live feed; its id is the event's durable order.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "feed_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub conversion_id: Uuid,
    pub created_at: DateTimeUtc,
    /// The contact's conversion state right after this conversion (see `service::feed`);
    /// `None` on events written before it was kept.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub contact_after: Option<Json>,
    /// `logged`, `adjusted` or `retracted`.
    #[sea_orm(column_type = "Text")]
    pub kind: String,
    /// The adjustment an `adjusted` or `retracted` event reports.
    pub adjustment_id: Option<Uuid>,
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
