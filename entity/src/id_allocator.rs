//! `id_allocators`: the next id convio assigns to a contact or a lead created without one.
//! A row per table, advanced in the creating transaction; never derived from `MAX(id)`, so ids
//! that clients choose (a separate range) cannot move it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "id_allocators")]
pub struct Model {
    /// The table whose ids this row assigns: `contacts` or `leads`.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub table_name: String,
    /// The next id to hand out (it may still have to skip a row stored before the split).
    pub next_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
