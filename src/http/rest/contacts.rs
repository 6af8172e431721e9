//! `PATCH /contacts/{id}/conversion` (plan §2.1, §6.2), and the contact and lead endpoints an
//! integrator needs to get contacts into convio.

use crate::auth::Caller;
use crate::domain::{
    ContactId, ConversionStatus, CustomData, LeadId, WorkspaceId, contact_details, required_text,
};
use crate::error::{AppError, AppResult};
use crate::http::body::{IdText, JsonBody};
use crate::http::views::{ContactView, LeadView};
use crate::service::Services;
use crate::service::contact::{ContactConversionUpdate, NewContact};
use crate::service::conversion::MAX_LABEL;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

fn contact_id(raw: &str) -> AppResult<ContactId> {
    // An id that cannot exist reads as not found, like one that does not.
    ContactId::parse("id", raw).map_err(|_| AppError::not_found("contact", raw))
}

/// The body of `PATCH /contacts/{id}/conversion`; every field optional, at least
/// one given.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1, example = json!({
    "sent_from_workspace": "workspace_123", "converted_from_workspace": "workspace_456",
    "conversion_status": "converted", "converted_by": "agent_john_doe",
    "custom_metadata": { "qualification_score": 95, "interested_products": ["solar", "battery"],
                         "preferred_contact_time": "morning", "decision_timeline": "30_days" }
}))]
pub struct UpdateConversionBody {
    /// The workspace that sent the contact on (yourself, or one that sent it to you).
    #[schema(pattern = r"^[A-Za-z0-9_.-]{1,64}$")]
    sent_from_workspace: Option<String>,
    /// The workspace that converted it (yourself; the admin: any).
    #[schema(pattern = r"^[A-Za-z0-9_.-]{1,64}$")]
    converted_from_workspace: Option<String>,
    /// Where the contact stands in the funnel.
    #[schema(value_type = Option<crate::http::openapi::ConversionStatusName>)]
    conversion_status: Option<String>,
    /// Who converted it: 1 to 255 characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    converted_by: Option<String>,
    #[schema(schema_with = crate::http::openapi::custom_json)]
    custom_metadata: Option<Box<RawValue>>,
    /// Replace `custom_metadata` whole instead of merging it (default false).
    replace_custom_metadata: Option<bool>,
}

impl TryFrom<UpdateConversionBody> for ContactConversionUpdate {
    type Error = AppError;

    fn try_from(body: UpdateConversionBody) -> AppResult<Self> {
        Ok(ContactConversionUpdate {
            sent_from_workspace: workspace("sent_from_workspace", body.sent_from_workspace)?,
            converted_from_workspace: workspace(
                "converted_from_workspace",
                body.converted_from_workspace,
            )?,
            conversion_status: body
                .conversion_status
                .map(|s| ConversionStatus::parse("conversion_status", &s))
                .transpose()?,
            converted_by: body
                .converted_by
                .map(|b| required_text("converted_by", &b, MAX_LABEL))
                .transpose()?,
            custom_metadata: CustomData::parse_literal(
                "custom_metadata",
                body.custom_metadata.as_deref(),
            )?,
            replace_custom_metadata: body.replace_custom_metadata.unwrap_or(false),
        })
    }
}

fn workspace(field: &str, raw: Option<String>) -> AppResult<Option<WorkspaceId>> {
    raw.map(|w| WorkspaceId::parse(field, &w)).transpose()
}

/// Updates a contact's conversion status, workspaces, converter and metadata.
#[utoipa::path(patch, path = "/contacts/{id}/conversion", operation_id = "updateContactConversion", tag = "contacts", security(("api_key" = []), ("bearer" = [])),
    params(("id" = String, Path, pattern = "^[1-9][0-9]{0,15}$", example = "123456", description = "The contact's id")), request_body = UpdateConversionBody,
    responses((status = 200, description = "The contact as the caller sees it", body = ContactView),
        (status = 409, description = "The contact was erased and takes no free-form data (`ERASED`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such contact, or not yours", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn update_conversion(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody,
) -> AppResult<Json<ContactView>> {
    let id = contact_id(&id)?;
    let update = body.parse::<UpdateConversionBody>()?.try_into()?;
    let contact = services
        .update_contact_conversion(&caller, id, update)
        .await?;
    Ok(Json(services.reveal(&caller.principal, contact)?.into()))
}

/// The body of `POST /contacts`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContactBody {
    #[schema(schema_with = crate::http::openapi::chosen_id)]
    id: Option<IdText>,
    /// Full name: at most 200 characters.
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    name: Option<String>,
    /// At most 254 characters with an `@` and no spaces.
    #[schema(
        max_length = 254,
        pattern = r"^[^\s\u0000-\u001F\u007F-\u009F]*@[^\s\u0000-\u001F\u007F-\u009F]*$"
    )]
    email: Option<String>,
    /// As written: at most 50 characters.
    #[schema(max_length = 50, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    phone: Option<String>,
    #[schema(schema_with = crate::http::openapi::custom_json)]
    custom_metadata: Option<Box<RawValue>>,
    /// The owner (the admin only; a workspace owns what it creates).
    #[schema(pattern = r"^[A-Za-z0-9_.-]{1,64}$")]
    workspace_id: Option<String>,
}

impl TryFrom<CreateContactBody> for NewContact {
    type Error = AppError;

    fn try_from(body: CreateContactBody) -> AppResult<Self> {
        Ok(NewContact {
            id: body.id.map(|i| ContactId::parse("id", &i.0)).transpose()?,
            name: contact_details::name(body.name)?,
            email: contact_details::email(body.email)?,
            phone: contact_details::phone(body.phone)?,
            custom_metadata: CustomData::parse_literal(
                "custom_metadata",
                body.custom_metadata.as_deref(),
            )?,
            workspace_id: workspace("workspace_id", body.workspace_id)?,
        })
    }
}

/// Creates a contact (the caller's workspace owns it; the admin may name one).
#[utoipa::path(post, path = "/contacts", operation_id = "createContact", tag = "contacts", security(("api_key" = []), ("bearer" = [])), request_body = CreateContactBody,
    responses((status = 201, description = "The contact", body = ContactView),
        (status = 409, description = "The id is taken", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(services): State<Services>,
    caller: Caller,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<ContactView>)> {
    let new = body.parse::<CreateContactBody>()?.try_into()?;
    let contact = services.create_contact(&caller, new).await?;
    let shown = services.reveal(&caller.principal, contact)?;
    Ok((StatusCode::CREATED, Json(shown.into())))
}

/// One contact, as the caller sees it.
#[utoipa::path(get, path = "/contacts/{id}", operation_id = "getContact", tag = "contacts", security(("api_key" = []), ("bearer" = [])), params(("id" = String, Path, pattern = "^[1-9][0-9]{0,15}$", example = "123456", description = "The contact's id")),
    responses((status = 200, description = "The contact", body = ContactView),
        (status = 404, description = "No such contact, or not yours", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn show(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<Json<ContactView>> {
    let id = contact_id(&id)?;
    let contact = services
        .contact(&caller, id)
        .await?
        .ok_or_else(|| AppError::not_found("contact", id))?;
    Ok(Json(services.reveal(&caller.principal, contact)?.into()))
}

/// The body of `POST /contacts/{id}/send`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    /// The workspace it goes to.
    #[schema(pattern = r"^[A-Za-z0-9_.-]{1,64}$")]
    to_workspace_id: String,
    /// The sender (default: the caller's workspace).
    #[schema(pattern = r"^[A-Za-z0-9_.-]{1,64}$")]
    from_workspace_id: Option<String>,
    /// The lead it goes with, if any.
    lead_id: Option<IdText>,
}

/// Sends the contact on to a workspace (recorded as sent and received).
#[utoipa::path(post, path = "/contacts/{id}/send", operation_id = "sendContact", tag = "contacts", security(("api_key" = []), ("bearer" = [])), params(("id" = String, Path, pattern = "^[1-9][0-9]{0,15}$", example = "123456", description = "The contact's id")),
    request_body = SendBody,
    responses((status = 200, description = "The contact", body = ContactView),
        (status = 404, description = "No such contact, or not yours", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn send(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody,
) -> AppResult<Json<ContactView>> {
    let id = contact_id(&id)?;
    let body: SendBody = body.parse()?;
    let to = WorkspaceId::parse("to_workspace_id", &body.to_workspace_id)?;
    let from = workspace("from_workspace_id", body.from_workspace_id)?;
    let lead = body
        .lead_id
        .map(|l| LeadId::parse("lead_id", &l.0))
        .transpose()?;
    let contact = services.send_contact(&caller, id, to, from, lead).await?;
    Ok(Json(services.reveal(&caller.principal, contact)?.into()))
}

/// The body of `POST /leads`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLeadBody {
    #[schema(schema_with = crate::http::openapi::chosen_id)]
    id: Option<IdText>,
    /// The contact the lead is about.
    contact_id: IdText,
}

/// Creates a lead (an inquiry) for a contact the caller can see.
#[utoipa::path(post, path = "/leads", operation_id = "createLead", tag = "contacts", security(("api_key" = []), ("bearer" = [])), request_body = CreateLeadBody,
    responses((status = 201, description = "The lead", body = LeadView),
        (status = 409, description = "The id is taken", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create_lead(
    State(services): State<Services>,
    caller: Caller,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<LeadView>)> {
    let body: CreateLeadBody = body.parse()?;
    let id = body.id.map(|i| LeadId::parse("id", &i.0)).transpose()?;
    let contact = ContactId::parse("contact_id", &body.contact_id.0)?;
    let lead = services.create_lead(&caller, id, contact).await?;
    let shown = services.reveal(&caller.principal, lead)?;
    Ok((StatusCode::CREATED, Json(shown.into())))
}

/// Erases the contact's personal data (GDPR; admin only); its conversions and totals stay.
#[utoipa::path(post, path = "/contacts/{id}/erase", operation_id = "eraseContact", tag = "contacts", security(("api_key" = []), ("bearer" = [])), params(("id" = String, Path, pattern = "^[1-9][0-9]{0,15}$", example = "123456", description = "The contact's id")),
    responses((status = 200, description = "The contact, erased", body = ContactView),
        (status = 404, description = "No such contact", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn erase(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<Json<ContactView>> {
    let id = contact_id(&id)?;
    let erased = services.erase_contact(&caller, id).await?;
    Ok(Json(services.reveal(&caller.principal, erased)?.into()))
}
