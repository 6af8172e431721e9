//! `exchange_rates`: what one unit of `base` is worth in `quote` from `effective_date` on,
//! set by the admin. A conversion uses the rate in force on the UTC date it happened.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "exchange_rates")]
pub struct Model {
    /// ISO 4217 code of the currency priced.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub base: String,
    /// ISO 4217 code of the currency it is priced in.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub quote: String,
    /// First UTC date the rate applies to; it applies until the next one of the pair.
    #[sea_orm(primary_key, auto_increment = false)]
    pub effective_date: Date,
    /// Exact positive decimal text (`1.0842`): units of `quote` per unit of `base`.
    #[sea_orm(column_type = "Text")]
    pub rate: String,
    /// Audit name of the key that set it.
    #[sea_orm(column_type = "Text")]
    pub set_by: String,
    pub set_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
