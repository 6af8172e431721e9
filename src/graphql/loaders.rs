//! Per-request DataLoaders: relations resolve in one `IN (…)` query per hop, however many
//! parents a query lists. Built per request (or per WebSocket connection) with the caller,
//! so tenancy filters apply inside the batch, and without a cache, so nothing goes stale.

use crate::auth::Caller;
use crate::domain::{ContactId, LeadId};
use crate::error::AppError;
use crate::service::Services;
use crate::service::shared::SeenContact;
use async_graphql::dataloader::{DataLoader, Loader};
use entity::{conversion, conversion_adjustment, lead, workspace};
use std::collections::HashMap;
use uuid::Uuid;

/// Key: the adjustments of a conversion the caller was shown, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AdjustmentsOf(pub Uuid);

/// Key: a workspace by id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WorkspaceKey(pub String);

pub struct Batcher {
    services: Services,
    caller: Caller,
}

pub type Loaders = DataLoader<Batcher>;

pub fn loaders(services: Services, caller: Caller) -> Loaders {
    DataLoader::new(Batcher { services, caller }, tokio::spawn)
}

/// Contacts as the caller sees them (see `service::shared`): two queries per batch, the
/// contacts and the caller's own states of them.
impl Loader<ContactId> for Batcher {
    type Value = SeenContact;
    type Error = AppError;

    async fn load(&self, keys: &[ContactId]) -> Result<HashMap<ContactId, Self::Value>, AppError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = self.services.contacts_by_ids(&self.caller, &ids).await?;
        Ok(rows.into_iter().map(|c| (ContactId(c.id), c)).collect())
    }
}

impl Loader<LeadId> for Batcher {
    type Value = lead::Model;
    type Error = AppError;

    async fn load(&self, keys: &[LeadId]) -> Result<HashMap<LeadId, Self::Value>, AppError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = self.services.leads_by_ids(&self.caller, &ids).await?;
        Ok(rows.into_iter().map(|l| (LeadId(l.id), l)).collect())
    }
}

impl Loader<WorkspaceKey> for Batcher {
    type Value = workspace::Model;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[WorkspaceKey],
    ) -> Result<HashMap<WorkspaceKey, Self::Value>, AppError> {
        let ids: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let rows = self.services.workspaces_by_ids(&ids).await?;
        Ok(rows
            .into_iter()
            .map(|w| (WorkspaceKey(w.id.clone()), w))
            .collect())
    }
}

impl Loader<Uuid> for Batcher {
    type Value = conversion::Model;
    type Error = AppError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, AppError> {
        let rows = self.services.conversions_by_ids(&self.caller, keys).await?;
        Ok(rows.into_iter().map(|c| (c.id, c)).collect())
    }
}

/// One query per batch; a conversion without adjustments gets an empty list.
impl Loader<AdjustmentsOf> for Batcher {
    type Value = Vec<conversion_adjustment::Model>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[AdjustmentsOf],
    ) -> Result<HashMap<AdjustmentsOf, Self::Value>, AppError> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let mut found = self.services.adjustments_of(&ids).await?;
        Ok(keys
            .iter()
            .map(|k| (*k, found.remove(&k.0).unwrap_or_default()))
            .collect())
    }
}
