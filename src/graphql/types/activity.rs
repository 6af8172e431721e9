use crate::service::workspace::Activity;
use async_graphql::{ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};

/// The plan's §2.2 workspace activity.
pub struct WorkspaceActivity(pub Activity);

/// One event between the workspace and a contact.
#[derive(SimpleObject)]
pub struct ActivityEntry {
    /// Event id.
    id: ID,
    /// `created`, `sent`, `received`, `converted` or `updated`.
    action: String,
    /// The contact concerned.
    contact_id: ID,
    /// The lead concerned, if any.
    lead_id: Option<ID>,
    /// When it happened.
    timestamp: DateTime<Utc>,
    /// Details (counterpart workspace, conversion id, changed fields).
    metadata: Option<Json<serde_json::Value>>,
}

/// The plan's §2.2 workspace activity.
#[Object]
impl WorkspaceActivity {
    /// The workspace.
    async fn workspace_id(&self) -> ID {
        ID(self.0.workspace_id.to_string())
    }

    /// Distinct contacts the workspace received.
    async fn total_contacts_received(&self) -> u64 {
        self.0.contacts_received
    }

    /// Distinct contacts the workspace sent on.
    async fn total_contacts_sent(&self) -> u64 {
        self.0.contacts_sent
    }

    /// Conversions the workspace logged.
    async fn total_conversions(&self) -> u64 {
        self.0.conversions
    }

    /// 100 × conversions ÷ contacts received, two decimals; null when none were received.
    async fn conversion_rate(&self) -> Option<f64> {
        self.0.conversion_rate
    }

    /// Latest events first; at most `limit` (1 to 100, default 20) of them.
    async fn recent_activity(&self) -> Vec<ActivityEntry> {
        self.0
            .recent
            .iter()
            .map(|t| ActivityEntry {
                id: ID(t.id.to_string()),
                action: t.action.clone(),
                contact_id: ID(t.contact_id.to_string()),
                lead_id: t.lead_id.map(|l| ID(l.to_string())),
                timestamp: t.timestamp,
                metadata: t.metadata.clone().map(Json),
            })
            .collect()
    }
}
