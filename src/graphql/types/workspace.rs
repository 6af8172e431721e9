use crate::domain::Permission;
use crate::service::workspace::permissions_of;
use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};
use entity::workspace;

/// A team or system (a CRM, a sales team) that receives contacts and reports conversions.
pub struct Workspace(pub workspace::Model);

/// A team or system (a CRM, a sales team) that receives contacts and reports conversions.
#[Object]
impl Workspace {
    /// The workspace id, such as `salesforce_prod`.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What its credentials allow.
    async fn permissions(&self) -> Vec<Permission> {
        permissions_of(&self.0)
    }

    /// When it was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it was disabled, if it is: its keys and tokens are then refused.
    async fn disabled_at(&self) -> Option<DateTime<Utc>> {
        self.0.disabled_at
    }

    /// Its own hourly request limit (0: unlimited); null when the server's default applies.
    async fn rate_limit_per_hour(&self) -> Option<i32> {
        self.0
            .rate_limit_per_hour
            .map(|l| i32::try_from(l).unwrap_or(i32::MAX))
    }
}

/// A new workspace and its API key.
pub struct RegisteredWorkspace {
    pub workspace: workspace::Model,
    pub api_key: String,
}

/// A new workspace and its API key.
#[Object]
impl RegisteredWorkspace {
    /// The registered workspace.
    async fn workspace(&self) -> Workspace {
        Workspace(self.workspace.clone())
    }

    /// The API key. Shown this once: only its hash is stored.
    async fn api_key(&self) -> &str {
        &self.api_key
    }
}
