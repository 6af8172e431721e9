//! `webhook_endpoints`: a URL that receives signed events of the types it subscribed to.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The workspace whose events it receives; `None`: the admin's, which receives all.
    pub workspace_id: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub url: String,
    /// One bit per subscribed event type (`service::webhooks::EventType::bit`).
    pub event_mask: i64,
    /// The signing secret: sealed (`v1:<kid>:…`) when encryption keys are configured, else
    /// `whsec_…` as shown once to its owner.
    #[sea_orm(column_type = "Text")]
    pub secret: String,
    pub created_at: DateTimeUtc,
    /// Since when every attempt failed; `None` after a success.
    pub failing_since: Option<DateTimeUtc>,
    /// When it was disabled after sustained failure; `None` while enabled.
    pub disabled_at: Option<DateTimeUtc>,
    /// Why it was disabled, for its owner to read.
    #[sea_orm(column_type = "Text", nullable)]
    pub notice: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
