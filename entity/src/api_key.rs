//! `api_keys`: hashed API keys; a key without a workspace is the admin key.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `None` means the admin key.
    #[sea_orm(column_type = "Text", nullable)]
    pub workspace_id: Option<String>,
    /// The key's digest: `hmac1:<hex>` (HMAC-SHA256 with the server's pepper), or bare hex
    /// SHA-256 for keys stored without a pepper.
    #[sea_orm(column_type = "Text", unique)]
    pub key_hash: String,
    /// First characters of the key, for display only.
    #[sea_orm(column_type = "Text")]
    pub prefix: String,
    pub created_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    /// Set when the workspace rotated its key: this one stops working at that time.
    pub expires_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::workspace::Entity",
        from = "Column::WorkspaceId",
        to = "super::workspace::Column::Id"
    )]
    Workspace,
}

impl Related<super::workspace::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Workspace.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
