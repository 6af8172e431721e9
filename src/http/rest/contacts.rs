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

fn contact_id(raw: &str) -> AppResult<ContactId> {
    // An id that cannot exist reads as not found, like one that does not.
    ContactId::parse("id", raw).map_err(|_| AppError::not_found("contact", raw))
}

/// The body of `PATCH /contacts/{id}/conversion` (plan §2.1); every field optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConversionBody {
    sent_from_workspace: Option<String>,
    converted_from_workspace: Option<String>,
    conversion_status: Option<String>,
    converted_by: Option<String>,
    custom_metadata: Option<Box<RawValue>>,
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
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateContactBody {
    id: Option<IdText>,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    custom_metadata: Option<Box<RawValue>>,
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
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    to_workspace_id: String,
    from_workspace_id: Option<String>,
    lead_id: Option<IdText>,
}

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
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateLeadBody {
    id: Option<IdText>,
    contact_id: IdText,
}

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

/// `POST /contacts/{id}/erase` (admin): GDPR erasure of the contact's personal data.
pub async fn erase(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<Json<ContactView>> {
    let id = contact_id(&id)?;
    let erased = services.erase_contact(&caller, id).await?;
    Ok(Json(services.reveal(&caller.principal, erased)?.into()))
}
