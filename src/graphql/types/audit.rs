//! `AuditEntry`: one row of the audit log, for admins.

use async_graphql::{ID, Json, Object};
use chrono::{DateTime, Utc};
use entity::audit_log;

/// Who did what to which object, and when: one entry of the tamper-evident audit log.
pub struct AuditEntry(pub audit_log::Model);

/// Who did what to which object, and when: one entry of the tamper-evident audit log.
#[Object]
impl AuditEntry {
    /// Entry id, increasing in the order entries were written.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// When the write happened.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }

    /// Who made it: `admin` or `workspace:<id>`.
    async fn actor(&self) -> &str {
        &self.0.actor
    }

    /// What was done, e.g. `conversion.logged`.
    async fn action(&self) -> &str {
        &self.0.action
    }

    /// The kind of object written, e.g. `contact`.
    async fn object_type(&self) -> &str {
        &self.0.object_type
    }

    /// The id of the object written.
    async fn object_id(&self) -> &str {
        &self.0.object_id
    }

    /// The `x-request-id` of the request that made the write, if any.
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    /// What changed, as recorded at the time.
    async fn details(&self) -> Option<Json<serde_json::Value>> {
        self.0.details.clone().map(Json)
    }

    /// SHA-256 (hex) over the previous entry's hash and this entry; null for entries
    /// written before the chain started.
    async fn hash(&self) -> Option<&str> {
        self.0.hash.as_deref()
    }
}
