//! `contact_states`: what one workspace made of one contact: its own conversions' count, sum
//! and latest, the status it reached, and who sent the contact to it. The `contacts` row holds
//! the whole outcome (every workspace's), which only the contact's owner and the admin see; a
//! workspace that received the contact sees this row instead, so one receiver never learns
//! another's progress. One row per (contact, workspace) that holds the contact.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contact_states")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub contact_id: i64,
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub workspace_id: String,
    /// Whether this workspace owns the contact: it created it (or, for a contact the admin
    /// created without an owner, it was the first the contact was sent from). An owner sees
    /// the `contacts` row whole.
    pub owner: bool,
    /// The status this workspace reached with the contact (its conversions and updates).
    #[sea_orm(column_type = "Text")]
    pub conversion_status: String,
    /// This workspace's conversions of the contact.
    pub conversion_count: i32,
    /// Their total value in minor units, `high × 2³² + low` (see [`crate::wide`]).
    pub lifetime_value_low: i64,
    pub lifetime_value_high: i64,
    #[sea_orm(column_type = "Text", nullable)]
    pub converted_by: Option<String>,
    /// This workspace, once it converted the contact or named itself the converter.
    #[sea_orm(column_type = "Text", nullable)]
    pub converted_from_workspace: Option<String>,
    pub converted_timestamp: Option<DateTimeUtc>,
    /// The workspace that last sent the contact to this one.
    #[sea_orm(column_type = "Text", nullable)]
    pub sent_from_workspace: Option<String>,
    /// When this workspace's view of the contact last changed.
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::contact::Entity",
        from = "Column::ContactId",
        to = "super::contact::Column::Id"
    )]
    Contact,
}

impl Related<super::contact::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Contact.def()
    }
}

impl Model {
    /// This workspace's conversions' total value in minor units.
    pub fn lifetime_value_minor(&self) -> i128 {
        crate::wide::join(self.lifetime_value_high, self.lifetime_value_low)
    }
}

impl ActiveModelBehavior for ActiveModel {}
