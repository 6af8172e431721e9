//! `contact_rollups`: per zone, workspace, local day of first receipt and current status,
//! how many contacts the workspace received. Moved between statuses when a contact's
//! status changes, in the same transaction.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contact_rollups")]
pub struct Model {
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
    pub status: String,
    pub contacts: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
