use super::{Conversion, Lead, conversion_page, decimal};
use crate::domain::{ContactId, ConversionStatus, LeadId};
use crate::graphql::connection::{CountOf, Counted, LEADS, Paging, connection};
use crate::graphql::scalars::Decimal;
use crate::graphql::{caller, services};
use crate::service::conversion::ConversionFilter;
use crate::service::shared::SeenContact;
use async_graphql::{Context, ID, Json, Object, Result};
use chrono::{DateTime, Utc};

/// A person handed to workspaces, and what became of them: as a whole for the workspace
/// that owns the contact and for the admin; for a workspace that received it, what that
/// workspace itself made of it (its own conversions, status and sender only).
pub struct Contact(pub SeenContact);

/// A person handed to workspaces, and what became of them: as a whole for the workspace
/// that owns the contact and for the admin; for a workspace that received it, what that
/// workspace itself made of it (its own conversions, status and sender only).
#[Object]
impl Contact {
    /// 64-bit id (integrators may bring their own).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Full name.
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// Email address.
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }

    /// Phone number.
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }

    /// When the contact was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When anything about the contact last changed (a receiver: anything it sees).
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The workspace that sent the contact on (to a receiver: the one that sent it to you).
    async fn sent_from_workspace(&self) -> Option<ID> {
        self.0.sent_from_workspace.clone().map(ID)
    }

    /// The workspace that last converted the contact (a receiver: itself, or null).
    async fn converted_from_workspace(&self) -> Option<ID> {
        self.0.converted_from_workspace.clone().map(ID)
    }

    /// Where the contact stands in the funnel (a receiver: as far as it got itself).
    async fn conversion_status(&self) -> ConversionStatus {
        ConversionStatus::from_stored(&self.0.conversion_status)
    }

    /// When the contact last converted (a receiver: by its own conversions).
    async fn converted_timestamp(&self) -> Option<DateTime<Utc>> {
        self.0.converted_timestamp
    }

    /// Who last converted the contact (a receiver: of its own people).
    async fn converted_by(&self) -> Option<&str> {
        self.0.converted_by.as_deref()
    }

    /// Workspace-supplied metadata (merged on update unless replaced), shared by every
    /// workspace that holds the contact. Values under keys starting with `secret_` are
    /// encrypted at rest and shown as `***` to read-only callers, and to a workspace that
    /// received the contact unless it wrote the value itself (the owner reads them all).
    async fn custom_metadata(&self, ctx: &Context<'_>) -> Result<Option<Json<serde_json::Value>>> {
        Ok(services(ctx)?
            .revealed(&caller(ctx)?.principal, &*self.0)?
            .map(Json))
    }

    /// Sum of all conversion values, exact, in `currency` (a receiver: of its own).
    async fn lifetime_value(&self) -> Decimal {
        decimal(self.0.lifetime_value_minor(), &self.0.currency)
    }

    /// ISO 4217 currency of `lifetimeValue`.
    async fn currency(&self) -> &str {
        &self.0.currency
    }

    /// When the contact's personal data was erased (GDPR); null while it is kept.
    async fn erased_at(&self) -> Option<DateTime<Utc>> {
        self.0.erased_at
    }

    /// How many conversions were logged for the contact (a receiver: by itself).
    async fn conversion_count(&self) -> i32 {
        self.0.conversion_count
    }

    /// The contact's conversions that the caller may see (a workspace sees its own, the
    /// admin all), newest first (Relay connection; `totalCount` counts only those). Costs
    /// `first` or `last` (default 50) times its selection in query complexity.
    #[graphql(complexity = "crate::graphql::connection::cost(first, last, child_complexity)")]
    async fn conversions(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page forwards: this many items (0 to 200) from the start of the \
                          list, or after `after`. Without `first` and `last`: 50."
        )]
        first: Option<i32>,
        #[graphql(desc = "Page forwards from this cursor: the items that follow it (a \
                          page's `pageInfo.endCursor`).")]
        after: Option<String>,
        #[graphql(
            desc = "Page backwards: this many items (0 to 200) from the end of the \
                          list, or before `before`. Not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Page backwards from this cursor: the items that precede it (a \
                          page's `pageInfo.startCursor`)."
        )]
        before: Option<String>,
    ) -> Result<Counted<Conversion>> {
        let filter = ConversionFilter {
            contact_id: Some(ContactId(self.0.id)),
            ..ConversionFilter::default()
        };
        let paging = Paging {
            first,
            after,
            last,
            before,
        };
        conversion_page(ctx, filter, paging).await
    }

    /// The contact's leads, oldest first (Relay connection). Costs `first` or `last` (default 50)
    /// times its selection in query complexity.
    #[graphql(complexity = "crate::graphql::connection::cost(first, last, child_complexity)")]
    async fn leads(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page forwards: this many items (0 to 200) from the start of the \
                          list, or after `after`. Without `first` and `last`: 50."
        )]
        first: Option<i32>,
        #[graphql(desc = "Page forwards from this cursor: the items that follow it (a \
                          page's `pageInfo.endCursor`).")]
        after: Option<String>,
        #[graphql(
            desc = "Page backwards: this many items (0 to 200) from the end of the \
                          list, or before `before`. Not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Page backwards from this cursor: the items that precede it (a \
                          page's `pageInfo.startCursor`)."
        )]
        before: Option<String>,
    ) -> Result<Counted<Lead>> {
        let contact = ContactId(self.0.id);
        let paging = Paging {
            first,
            after,
            last,
            before,
        };
        let window = paging.window(
            LEADS,
            |t| LeadId::parse("after", t).ok(),
            |id| id.0.to_string(),
        )?;
        let page = services(ctx)?
            .leads_of(caller(ctx)?, contact, &window)
            .await?;
        Ok(connection(
            LEADS,
            page,
            CountOf::LeadsOf(contact),
            |l| l.id.to_string(),
            Lead,
        ))
    }
}
