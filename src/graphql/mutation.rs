//! Mutation root: thin wrappers that convert inputs and call the service layer.

use super::scalars::Decimal;
use super::types::{
    AdjustConversionPayload, Contact, Conversion, ConversionAdjustment, Lead, RegisteredWorkspace,
    Workspace,
};
use super::{caller, services};
use crate::domain::IdempotencyKey;
use crate::domain::{
    AdjustmentAction, ContactId, ConversionStatus, ConversionType, Currency, CustomData, LeadId,
    Permission, WorkspaceId, contact_details, instant, required_text,
};
use crate::error::AppError;
use crate::service::adjustment::{self, AdjustConversion, Adjusted};
use crate::service::contact::{ContactConversionUpdate, NewContact};
use crate::service::conversion::{LogConversion, LogStatus, Logged, MAX_LABEL};
use crate::service::workspace::{MAX_WORKSPACE_NAME, NewWorkspace, WorkspaceChange};
use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A workspace's new API key, from `rotateApiKey`.
#[derive(SimpleObject)]
pub struct RotatedKey {
    /// The new key. It is shown this once; only its digest is stored.
    api_key: String,
    /// When the workspace's previous keys stop working (the rotation grace period).
    previous_keys_expire_at: DateTime<Utc>,
}

/// Log conversions, update contacts, register workspaces.
#[derive(Default)]
pub struct MutationRoot;

/// A conversion to log (plan `POST /conversions/log`).
#[derive(InputObject)]
pub struct LogConversionInput {
    /// The converted contact.
    contact_id: ID,
    /// The lead this conversion closes; it must belong to the contact.
    lead_id: Option<ID>,
    /// Defaults to your workspace; only the admin may name another.
    workspace_id: Option<ID>,
    /// Who converted the contact (an agent or owner id).
    converted_by: String,
    /// `sale`, `appointment`, `qualified`, or another lowercase identifier.
    conversion_type: String,
    /// Exact amount, e.g. "25000" or "18500.50".
    conversion_value: Option<Decimal>,
    /// Any ISO 4217 code (`JPY`, `USD`, `BHD` …); the server's when omitted. The value has
    /// at most its decimal places.
    currency: Option<String>,
    /// When it happened (backfill); defaults to now.
    converted_at: Option<DateTime<Utc>>,
    /// A JSON object of your own (at most 16 KiB, 8 levels deep).
    custom_data: Option<Json<serde_json::Value>>,
}

impl TryFrom<LogConversionInput> for LogConversion {
    type Error = AppError;

    fn try_from(input: LogConversionInput) -> Result<Self, AppError> {
        Ok(LogConversion {
            contact_id: ContactId::parse("contact_id", &input.contact_id)?,
            lead_id: input
                .lead_id
                .map(|l| LeadId::parse("lead_id", &l))
                .transpose()?,
            workspace_id: input
                .workspace_id
                .map(|w| WorkspaceId::parse("workspace_id", &w))
                .transpose()?,
            converted_by: required_text("converted_by", &input.converted_by, MAX_LABEL)?,
            conversion_type: ConversionType::parse("conversion_type", &input.conversion_type)?,
            value: input
                .conversion_value
                .map(|d| d.amount("conversion_value"))
                .transpose()?,
            currency: input
                .currency
                .map(|c| Currency::parse("currency", &c))
                .transpose()?,
            converted_at: input
                .converted_at
                .map(|t| instant("converted_at", t))
                .transpose()?,
            custom_data: CustomData::parse_optional("custom_data", input.custom_data.map(|j| j.0))?,
        })
    }
}

/// A retraction or restatement (`adjustConversion`; REST `POST /conversions/{id}/adjustments`).
#[derive(InputObject)]
pub struct AdjustConversionInput {
    /// The conversion to adjust: one your workspace logged (any, for the admin).
    conversion_id: ID,
    /// `RETRACT`: it stops counting, for good. `RESTATE`: a new value and/or type.
    action: AdjustmentAction,
    /// Why: 1 to 1,000 characters, kept with the adjustment and in the audit log.
    reason: String,
    /// A restatement's new exact amount, in the conversion's currency.
    conversion_value: Option<Decimal>,
    /// A restatement's new type.
    conversion_type: Option<String>,
}

impl TryFrom<AdjustConversionInput> for (Uuid, AdjustConversion) {
    type Error = AppError;

    fn try_from(input: AdjustConversionInput) -> Result<Self, AppError> {
        let id = Uuid::parse_str(&input.conversion_id)
            .map_err(|_| AppError::invalid("conversion_id", "must be a conversion id (a UUID)"))?;
        let value = input
            .conversion_value
            .map(|d| d.amount("conversion_value"))
            .transpose()?;
        let conversion_type = input
            .conversion_type
            .map(|t| ConversionType::parse("conversion_type", &t))
            .transpose()?;
        let change = adjustment::change(input.action, value, conversion_type)?;
        let reason = required_text("reason", &input.reason, adjustment::MAX_REASON)?;
        Ok((id, AdjustConversion { change, reason }))
    }
}

/// One conversion of a `logConversions` batch.
#[derive(InputObject)]
pub struct LogConversionItem {
    /// The conversion.
    conversion: LogConversionInput,
    /// Makes this item safe to retry; scoped to your workspace.
    idempotency_key: Option<String>,
}

/// Why a batch item was refused.
#[derive(SimpleObject)]
pub struct ItemError {
    /// The error code, as in `extensions.code`.
    code: String,
    /// What is wrong.
    message: String,
    /// The offending input field, if one.
    field: Option<String>,
}

/// The result of one batch item.
#[derive(SimpleObject)]
pub struct LogConversionResult {
    /// The item's position in the request, from 0.
    index: i32,
    /// Stored, replayed or rejected.
    status: LogStatus,
    /// The conversion, unless rejected.
    conversion: Option<Conversion>,
    /// Why it was rejected.
    error: Option<ItemError>,
}

impl LogConversionResult {
    fn new(index: usize, outcome: Result<Logged, AppError>) -> Self {
        let index = i32::try_from(index).unwrap_or(i32::MAX);
        let status = LogStatus::of(&outcome);
        match outcome {
            Ok(logged) => LogConversionResult {
                index,
                status,
                conversion: Some(Conversion(logged.into_conversion())),
                error: None,
            },
            Err(err) => {
                let gql = async_graphql::Error::from(err.clone());
                LogConversionResult {
                    index,
                    status,
                    conversion: None,
                    error: Some(ItemError {
                        code: err.code().to_owned(),
                        message: gql.message,
                        field: err.field().map(crate::error::camel_case),
                    }),
                }
            }
        }
    }
}

/// Changes to a contact's conversion state (plan `PATCH /contacts/:id/conversion`).
#[derive(InputObject)]
pub struct UpdateContactConversionInput {
    /// The workspace that sent the contact.
    sent_from_workspace: Option<ID>,
    /// The workspace that converted it (your own unless admin).
    converted_from_workspace: Option<ID>,
    /// The new status; may move in any direction.
    conversion_status: Option<ConversionStatus>,
    /// Who converted or owns the contact.
    converted_by: Option<String>,
    /// Merged into the stored object: keys overwrite, null removes a key.
    custom_metadata: Option<Json<serde_json::Value>>,
    /// Replace the stored metadata instead of merging.
    replace_custom_metadata: Option<bool>,
}

impl TryFrom<UpdateContactConversionInput> for ContactConversionUpdate {
    type Error = AppError;

    fn try_from(input: UpdateContactConversionInput) -> Result<Self, AppError> {
        Ok(ContactConversionUpdate {
            sent_from_workspace: workspace("sent_from_workspace", input.sent_from_workspace)?,
            converted_from_workspace: workspace(
                "converted_from_workspace",
                input.converted_from_workspace,
            )?,
            conversion_status: input.conversion_status,
            converted_by: input
                .converted_by
                .map(|b| required_text("converted_by", &b, MAX_LABEL))
                .transpose()?,
            custom_metadata: CustomData::parse_optional(
                "custom_metadata",
                input.custom_metadata.map(|j| j.0),
            )?,
            replace_custom_metadata: input.replace_custom_metadata.unwrap_or(false),
        })
    }
}

fn workspace(field: &str, id: Option<ID>) -> Result<Option<WorkspaceId>, AppError> {
    id.map(|w| WorkspaceId::parse(field, &w)).transpose()
}

/// A new contact.
#[derive(InputObject)]
pub struct CreateContactInput {
    /// Your own 64-bit id; omit to have one assigned.
    id: Option<ID>,
    /// Full name.
    name: Option<String>,
    /// Email address.
    email: Option<String>,
    /// Phone number.
    phone: Option<String>,
    /// A JSON object of your own.
    custom_metadata: Option<Json<serde_json::Value>>,
    /// The owning workspace (admin only; defaults to yours).
    workspace_id: Option<ID>,
}

impl TryFrom<CreateContactInput> for NewContact {
    type Error = AppError;

    fn try_from(input: CreateContactInput) -> Result<Self, AppError> {
        Ok(NewContact {
            id: input.id.map(|i| ContactId::parse("id", &i)).transpose()?,
            name: contact_details::name(input.name)?,
            email: contact_details::email(input.email)?,
            phone: contact_details::phone(input.phone)?,
            custom_metadata: CustomData::parse_optional(
                "custom_metadata",
                input.custom_metadata.map(|j| j.0),
            )?,
            workspace_id: workspace("workspace_id", input.workspace_id)?,
        })
    }
}

/// A new lead.
#[derive(InputObject)]
pub struct CreateLeadInput {
    /// Your own 64-bit id; omit to have one assigned.
    id: Option<ID>,
    /// The contact who made the inquiry.
    contact_id: ID,
}

/// A workspace to register (admin only).
#[derive(InputObject)]
pub struct RegisterWorkspaceInput {
    /// `[A-Za-z0-9_.-]`, 1 to 64 characters.
    workspace_id: ID,
    /// Display name.
    workspace_name: String,
    /// Defaults to READ, UPDATE, CONVERT.
    permissions: Option<Vec<Permission>>,
    /// A key of your choosing (16+ characters); omit to have a strong one generated.
    api_key: Option<String>,
    /// Requests this workspace may make per hour; omit for the server's default, 0 for no limit.
    rate_limit_per_hour: Option<u32>,
}

impl TryFrom<RegisterWorkspaceInput> for NewWorkspace {
    type Error = AppError;

    fn try_from(input: RegisterWorkspaceInput) -> Result<Self, AppError> {
        Ok(NewWorkspace {
            id: WorkspaceId::parse("workspace_id", &input.workspace_id)?,
            name: required_text("workspace_name", &input.workspace_name, MAX_WORKSPACE_NAME)?,
            permissions: input
                .permissions
                .unwrap_or_else(|| Permission::DEFAULT.to_vec()),
            api_key: input.api_key,
            rate_limit_per_hour: input.rate_limit_per_hour,
        })
    }
}

/// What to change about a workspace (admin only); a field left out stays as it is.
#[derive(InputObject)]
pub struct UpdateWorkspaceInput {
    /// Display name.
    workspace_name: Option<String>,
    /// Replaces the workspace's permissions.
    permissions: Option<Vec<Permission>>,
    /// Requests it may make per hour; 0 for no limit, null for the server's default.
    rate_limit_per_hour: MaybeUndefined<u32>,
}

impl TryFrom<UpdateWorkspaceInput> for WorkspaceChange {
    type Error = AppError;

    fn try_from(input: UpdateWorkspaceInput) -> Result<Self, AppError> {
        Ok(WorkspaceChange {
            name: input
                .workspace_name
                .map(|name| required_text("workspace_name", &name, MAX_WORKSPACE_NAME))
                .transpose()?,
            permissions: input.permissions,
            rate_limit_per_hour: match input.rate_limit_per_hour {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(limit) => Some(Some(limit)),
            },
        })
    }
}

/// Log conversions, update contacts, register workspaces.
#[Object(name = "BaseMutation")]
impl MutationRoot {
    /// Logs a conversion: stores it, updates the contact and lead, records tracking and audit,
    /// all in one transaction, then publishes it on `conversionFeed`. With an
    /// `idempotencyKey`, a retry returns the first attempt's conversion (the response then
    /// carries the HTTP header `Idempotency-Replayed: true`), and the same key with a
    /// different input is refused with `IDEMPOTENCY_CONFLICT`.
    async fn log_conversion(
        &self,
        ctx: &Context<'_>,
        input: LogConversionInput,
        #[graphql(desc = "Makes the mutation safe to retry; scoped to your workspace.")]
        idempotency_key: Option<String>,
    ) -> Result<Conversion> {
        let services = services(ctx)?;
        let key = idempotency_key
            .map(|k| IdempotencyKey::parse("idempotency_key", &k))
            .transpose()?;
        let logged = services
            .log_conversion(caller(ctx)?, input.try_into()?, key.as_ref())
            .await?;
        if let Logged::Replayed(_) = logged {
            ctx.insert_http_header("Idempotency-Replayed", "true");
        }
        Ok(Conversion(logged.into_conversion()))
    }

    /// Retracts or restates a conversion your workspace logged (any, for the admin), and
    /// moves every figure it counted in (analytics, the contact's lifetime value, count and
    /// status) in the same transaction. Errors: `NOT_FOUND`, `CONFLICT` (already retracted),
    /// `BAD_USER_INPUT` naming the field.
    async fn adjust_conversion(
        &self,
        ctx: &Context<'_>,
        input: AdjustConversionInput,
        #[graphql(desc = "Makes the mutation safe to retry; scoped to your workspace.")]
        idempotency_key: Option<String>,
    ) -> Result<AdjustConversionPayload> {
        let key = idempotency_key
            .map(|k| IdempotencyKey::parse("idempotency_key", &k))
            .transpose()?;
        let (id, request): (Uuid, AdjustConversion) = input.try_into()?;
        let adjusted = services(ctx)?
            .adjust_conversion(caller(ctx)?, id, request, key.as_ref())
            .await?;
        let (replayed, done) = match adjusted {
            Adjusted::Stored(done) => (false, done),
            Adjusted::Replayed(done) => {
                ctx.insert_http_header("Idempotency-Replayed", "true");
                (true, done)
            }
        };
        Ok(AdjustConversionPayload {
            adjustment: ConversionAdjustment::new(done.adjustment, &done.conversion.currency),
            conversion: Conversion(done.conversion),
            replayed,
        })
    }

    /// Logs up to 1,000 conversions, each on its own: one result per item, in order, saying
    /// whether it was stored, replayed (its idempotency key was seen) or rejected, and why.
    /// The answer is as long as the input, which is refused beyond 1,000 items.
    async fn log_conversions(
        &self,
        ctx: &Context<'_>,
        conversions: Vec<LogConversionItem>,
    ) -> Result<Vec<LogConversionResult>> {
        let services = services(ctx)?;
        let parsed = conversions
            .into_iter()
            .map(|item| {
                let key = item
                    .idempotency_key
                    .map(|k| IdempotencyKey::parse("idempotency_key", &k))
                    .transpose()?;
                Ok((item.conversion.try_into()?, key))
            })
            .collect();
        let outcomes = services.log_conversions(caller(ctx)?, parsed).await?;
        Ok(outcomes
            .into_iter()
            .enumerate()
            .map(|(index, outcome)| LogConversionResult::new(index, outcome))
            .collect())
    }

    /// Updates a contact's conversion status, workspaces, owner and metadata.
    async fn update_contact_conversion(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
        input: UpdateContactConversionInput,
    ) -> Result<Contact> {
        let id = ContactId::parse("contact_id", &contact_id)?;
        let update = input.try_into()?;
        let contact = services(ctx)?
            .update_contact_conversion(caller(ctx)?, id, update)
            .await?;
        Ok(Contact(contact))
    }

    /// Creates a contact owned by your workspace.
    async fn create_contact(
        &self,
        ctx: &Context<'_>,
        input: CreateContactInput,
    ) -> Result<Contact> {
        let new = input.try_into()?;
        Ok(Contact(
            services(ctx)?.create_contact(caller(ctx)?, new).await?,
        ))
    }

    /// Creates a lead for a contact you can see.
    async fn create_lead(&self, ctx: &Context<'_>, input: CreateLeadInput) -> Result<Lead> {
        let id = input.id.map(|i| LeadId::parse("id", &i)).transpose()?;
        let contact_id = ContactId::parse("contact_id", &input.contact_id)?;
        Ok(Lead(
            services(ctx)?
                .create_lead(caller(ctx)?, id, contact_id)
                .await?,
        ))
    }

    /// Sends a contact from your workspace to another (`sent` and `received` tracking).
    async fn send_contact(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
        to_workspace_id: ID,
        #[graphql(desc = "The sender (admin only; defaults to your workspace).")] from_workspace_id: Option<ID>,
        lead_id: Option<ID>,
    ) -> Result<Contact> {
        let id = ContactId::parse("contact_id", &contact_id)?;
        let to = WorkspaceId::parse("to_workspace_id", &to_workspace_id)?;
        let from = from_workspace_id
            .map(|f| WorkspaceId::parse("from_workspace_id", &f))
            .transpose()?;
        let lead = lead_id.map(|l| LeadId::parse("lead_id", &l)).transpose()?;
        let contact = services(ctx)?
            .send_contact(caller(ctx)?, id, to, from, lead)
            .await?;
        Ok(Contact(contact))
    }

    /// Erases a contact's personal data (GDPR; admin only): name, email, phone, metadata and
    /// the free-form data of its conversions and leads. Conversions and their values stay, so
    /// totals do not change.
    async fn erase_contact(&self, ctx: &Context<'_>, contact_id: ID) -> Result<Contact> {
        let id = ContactId::parse("contact_id", &contact_id)?;
        Ok(Contact(
            services(ctx)?.erase_contact(caller(ctx)?, id).await?,
        ))
    }

    /// Registers a workspace (admin only). The API key is in the answer, this once.
    async fn register_workspace(
        &self,
        ctx: &Context<'_>,
        input: RegisterWorkspaceInput,
    ) -> Result<RegisteredWorkspace> {
        let new = input.try_into()?;
        let (workspace, api_key) = services(ctx)?.register_workspace(caller(ctx)?, new).await?;
        Ok(RegisteredWorkspace { workspace, api_key })
    }

    /// Issues a new API key for a workspace (the admin, or the workspace itself with the
    /// `UPDATE` permission); its previous keys keep working for the rotation grace period, then
    /// stop. Needs a current API key: a token, or a key already rotated out, is `FORBIDDEN`.
    async fn rotate_api_key(&self, ctx: &Context<'_>, workspace_id: ID) -> Result<RotatedKey> {
        let id = WorkspaceId::parse("workspace_id", &workspace_id)?;
        let (api_key, previous_keys_expire_at) =
            services(ctx)?.rotate_api_key(caller(ctx)?, &id).await?;
        Ok(RotatedKey {
            api_key,
            previous_keys_expire_at,
        })
    }

    /// Revokes every API key of a workspace at once (admin only); returns how many.
    async fn revoke_api_keys(&self, ctx: &Context<'_>, workspace_id: ID) -> Result<u64> {
        let id = WorkspaceId::parse("workspace_id", &workspace_id)?;
        Ok(services(ctx)?.revoke_api_keys(caller(ctx)?, &id).await?)
    }

    /// Disables a workspace (admin only): its keys and tokens are refused and its live
    /// subscriptions end at once, on every node. Its data and keys are kept.
    async fn disable_workspace(&self, ctx: &Context<'_>, workspace_id: ID) -> Result<Workspace> {
        let id = WorkspaceId::parse("workspace_id", &workspace_id)?;
        let disabled = services(ctx)?.disable_workspace(caller(ctx)?, &id).await?;
        Ok(Workspace(disabled))
    }

    /// Enables a disabled workspace (admin only, with an API key, not a token): its keys work
    /// again.
    async fn enable_workspace(&self, ctx: &Context<'_>, workspace_id: ID) -> Result<Workspace> {
        let id = WorkspaceId::parse("workspace_id", &workspace_id)?;
        let enabled = services(ctx)?.enable_workspace(caller(ctx)?, &id).await?;
        Ok(Workspace(enabled))
    }

    /// Changes a workspace's name, permissions or hourly limit (admin only, with an API key,
    /// not a token). A change of permissions ends the workspace's live subscriptions; they
    /// reconnect with the new permissions.
    async fn update_workspace(
        &self,
        ctx: &Context<'_>,
        workspace_id: ID,
        input: UpdateWorkspaceInput,
    ) -> Result<Workspace> {
        let id = WorkspaceId::parse("workspace_id", &workspace_id)?;
        let change = input.try_into()?;
        let updated = services(ctx)?
            .update_workspace(caller(ctx)?, &id, change)
            .await?;
        Ok(Workspace(updated))
    }
}
