use super::{Contact, Conversion};
use crate::domain::ContactId;
use crate::error::AppError;
use crate::graphql::loaders::Loaders;
use crate::graphql::{caller, services};
use async_graphql::{Context, ID, Json, Object, Result};
use chrono::{DateTime, Utc};
use entity::lead;

/// A contact's inquiry, linked to the conversion it became.
pub struct Lead(pub lead::Model);

/// A contact's inquiry, linked to the conversion it became.
#[Object]
impl Lead {
    /// 64-bit id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The contact who made the inquiry.
    async fn contact_id(&self) -> ID {
        ID(self.0.contact_id.to_string())
    }

    /// When the lead was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The workspace that converted the lead.
    async fn workspace_id(&self) -> Option<ID> {
        self.0.workspace_id.clone().map(ID)
    }

    /// The conversion that closed the lead.
    async fn conversion_id(&self) -> Option<ID> {
        self.0.conversion_id.map(|id| ID(id.to_string()))
    }

    /// The conversion's custom data, copied when the lead was linked (`secret_` values
    /// masked for read-only callers, as on the conversion).
    async fn conversion_metadata(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<Json<serde_json::Value>>> {
        Ok(services(ctx)?
            .revealed(&caller(ctx)?.principal, &self.0)?
            .map(Json))
    }

    /// The contact who made the inquiry.
    async fn contact(&self, ctx: &Context<'_>) -> Result<Contact> {
        let found = ctx
            .data::<Loaders>()?
            .load_one(ContactId(self.0.contact_id))
            .await?;
        found
            .map(Contact)
            .ok_or_else(|| AppError::Internal("a conversion's contact is missing".into()).into())
    }

    /// The conversion that closed the lead, if the caller may see it.
    async fn conversion(&self, ctx: &Context<'_>) -> Result<Option<Conversion>> {
        let Some(id) = self.0.conversion_id else {
            return Ok(None);
        };
        Ok(ctx.data::<Loaders>()?.load_one(id).await?.map(Conversion))
    }
}
