//! `idempotency_keys`: which conversion a caller's idempotency key already produced.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    /// `admin` or `workspace:<id>`: keys are scoped per caller.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub scope: String,
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub key: String,
    /// SHA-256 (hex) of the parsed request.
    #[sea_orm(column_type = "Text")]
    pub fingerprint: String,
    pub conversion_id: Uuid,
    pub created_at: DateTimeUtc,
    /// The adjustment of `conversion_id` the key stored; `None` for a key that logged it.
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
