use super::{Contact, ConversionAdjustment, Lead, Workspace, decimal};
use crate::domain::{ContactId, ConversionState, LeadId};
use crate::error::AppError;
use crate::events::EventKind;
use crate::graphql::connection::{CONVERSIONS, CountOf, Counted, Paging, connection};
use crate::graphql::loaders::{AdjustmentsOf, Loaders, WorkspaceKey};
use crate::graphql::scalars::Decimal;
use crate::graphql::{caller, services};
use crate::service::conversion::{ConversionFilter, Cursor};
use crate::service::feed_cursor::FeedCursor;
use crate::service::shared::SeenContact;
use async_graphql::{Context, ID, Json, Object, Result};
use chrono::{DateTime, Utc};
use entity::{conversion, conversion_adjustment};

/// A conversion a workspace reported for a contact: a sale, an appointment, a qualification…
pub struct Conversion(pub conversion::Model);

/// One page of the conversions matching `filter` that the caller may see, newest first, as
/// a Relay connection: the body of every `conversions` field. `paging` is read by the one
/// rule of Relay's arguments (`Paging::window`), whose errors are `BAD_USER_INPUT` naming the
/// argument.
pub(crate) async fn conversion_page(
    ctx: &Context<'_>,
    filter: ConversionFilter,
    paging: Paging,
) -> Result<Counted<Conversion>> {
    let window = paging.window(
        CONVERSIONS,
        |t| Cursor::decode("after", t).ok(),
        Cursor::encode,
    )?;
    let page = services(ctx)?
        .conversions(caller(ctx)?, filter.clone(), &window)
        .await?;
    Ok(connection(
        CONVERSIONS,
        page,
        CountOf::Conversions(filter),
        |c| Cursor::of(c).encode(),
        Conversion,
    ))
}

/// A conversion a workspace reported for a contact: a sale, an appointment, a qualification…
#[Object]
impl Conversion {
    /// Unique id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The converted contact's id.
    async fn contact_id(&self) -> ID {
        ID(self.0.contact_id.to_string())
    }

    /// The lead this conversion closed, if one was given.
    async fn lead_id(&self) -> Option<ID> {
        self.0.lead_id.map(|id| ID(id.to_string()))
    }

    /// The workspace that reported it.
    async fn workspace_id(&self) -> ID {
        ID(self.0.workspace_id.clone())
    }

    /// Who in the workspace converted the contact (an agent or owner id).
    async fn converted_by(&self) -> &str {
        &self.0.converted_by
    }

    /// When the conversion happened (may be backfilled; defaults to when it was logged).
    async fn converted_at(&self) -> DateTime<Utc> {
        self.0.converted_at
    }

    /// `sale`, `appointment`, `qualified`, or another lowercase identifier.
    async fn conversion_type(&self) -> &str {
        &self.0.conversion_type
    }

    /// The exact value, in `currency`; null when the conversion carries none.
    async fn conversion_value(&self) -> Option<Decimal> {
        self.0.value_minor.map(|v| decimal(v, &self.0.currency))
    }

    /// ISO 4217 currency of `conversionValue`.
    async fn currency(&self) -> &str {
        &self.0.currency
    }

    /// The workspace's own structured data (contract id, products, …). Values under keys
    /// starting with `secret_` are encrypted at rest and shown as `***` to read-only callers.
    async fn custom_data(&self, ctx: &Context<'_>) -> Result<Option<Json<serde_json::Value>>> {
        Ok(services(ctx)?
            .revealed(&caller(ctx)?.principal, &self.0)?
            .map(Json))
    }

    /// When convio stored it.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// `ACTIVE`, or `RETRACTED`: kept, but counted in no figure. `conversionType` and
    /// `conversionValue` are the current ones.
    async fn status(&self) -> ConversionState {
        ConversionState::from_stored(&self.0.status)
    }

    /// Its retractions and restatements, oldest first; each says what it was before.
    async fn adjustments(&self, ctx: &Context<'_>) -> Result<Vec<ConversionAdjustment>> {
        let found = ctx
            .data::<Loaders>()?
            .load_one(AdjustmentsOf(self.0.id))
            .await?
            .unwrap_or_default();
        let currency = &self.0.currency;
        Ok(found
            .into_iter()
            .map(|a| ConversionAdjustment::new(a, currency))
            .collect())
    }

    /// The converted contact.
    async fn contact(&self, ctx: &Context<'_>) -> Result<Contact> {
        let loader = ctx.data::<Loaders>()?;
        let found = loader.load_one(ContactId(self.0.contact_id)).await?;
        found
            .map(Contact)
            .ok_or_else(|| AppError::Internal("a conversion's contact is missing".into()).into())
    }

    /// The lead this conversion closed.
    async fn lead(&self, ctx: &Context<'_>) -> Result<Option<Lead>> {
        let Some(id) = self.0.lead_id else {
            return Ok(None);
        };
        Ok(ctx.data::<Loaders>()?.load_one(LeadId(id)).await?.map(Lead))
    }

    /// The workspace that reported it.
    async fn workspace(&self, ctx: &Context<'_>) -> Result<Workspace> {
        let found = ctx
            .data::<Loaders>()?
            .load_one(WorkspaceKey(self.0.workspace_id.clone()))
            .await?;
        found
            .map(Workspace)
            .ok_or_else(|| AppError::Internal("a conversion's workspace is missing".into()).into())
    }
}

/// One event on the live feed: a conversion logged, restated or retracted, and its contact
/// right after the commit.
pub struct ConversionEvent {
    pub kind: EventKind,
    /// The event's position in the feed (`feed_events.id`).
    pub sequence: i64,
    pub conversion: conversion::Model,
    pub adjustment: Option<conversion_adjustment::Model>,
    pub contact: SeenContact,
}

/// One event on the live feed: a conversion logged, restated or retracted, and its contact
/// right after the commit.
#[Object]
impl ConversionEvent {
    /// What happened: `LOGGED`, `ADJUSTED` (restated) or `RETRACTED`.
    async fn kind(&self) -> EventKind {
        self.kind
    }

    /// This event's place in the feed, opaque: `conversionFeed(after: cursor)` resumes right
    /// after it, on any node, while the event is within the server's feed retention (7 days
    /// by default).
    async fn cursor(&self) -> String {
        FeedCursor {
            sequence: self.sequence,
        }
        .encode()
    }

    /// The conversion: as logged, or as the adjustment left it.
    async fn conversion(&self) -> Conversion {
        Conversion(self.conversion.clone())
    }

    /// The restatement or retraction an `ADJUSTED` or `RETRACTED` event reports.
    async fn adjustment(&self) -> Option<ConversionAdjustment> {
        self.adjustment
            .clone()
            .map(|a| ConversionAdjustment::new(a, &self.conversion.currency))
    }

    /// The contact as it stood after the conversion (status, lifetime value, count), as you
    /// see it: whole if your workspace owns it, else only your own figures.
    async fn contact(&self) -> Contact {
        Contact(self.contact.clone())
    }
}
