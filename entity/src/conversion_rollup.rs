//! `conversion_rollups`: per zone, workspace, local day, type and currency, the count and exact total
//! of conversions. Kept in the same transaction as the conversions.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversion_rollups")]
pub struct Model {
    /// IANA time zone whose local days these are.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub zone: String,
    /// `day`, or `month` for a row dated the first day of its month.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub grain: String,
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub workspace_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub conversion_type: String,
    /// ISO 4217 code of the conversions this row sums: totals are never mixed.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub currency: String,
    pub conversions: i64,
    /// Exact sum of `value_minor`: `high × 2³² + low` (see [`crate::wide`]).
    pub total_minor_low: i64,
    pub total_minor_high: i64,
    /// Conversions that carry a value.
    pub valued: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
