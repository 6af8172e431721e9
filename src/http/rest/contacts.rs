//! `PATCH /contacts/{id}/conversion` (plan §2.1, §6.2), and the contact and lead endpoints an
//! integrator needs to get contacts into convio.

use crate::auth::Caller;
use crate::domain::{ContactId, ConversionStatus, LeadId, WorkspaceId};
use crate::error::{AppError, AppResult};
use crate::http::body::JsonBody;
use crate::http::views::{ContactView, LeadView};
use crate::input::{CreateContact, UpdateContactConversion};
use crate::service::Services;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

fn contact_id(raw: &str) -> AppResult<ContactId> {
    // An id that cannot exist reads as not found, like one that does not.
    ContactId::parse("id", raw).map_err(|_| AppError::not_found("contact", raw))
}

const UPDATE_FIELDS: &[&str] = &[
    "sent_from_workspace",
    "converted_from_workspace",
    "conversion_status",
    "converted_by",
    "custom_metadata",
    "replace_custom_metadata",
];

pub async fn update_conversion(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody,
) -> AppResult<Json<ContactView>> {
    let id = contact_id(&id)?;
    let f = body.fields(UPDATE_FIELDS)?;
    let update = UpdateContactConversion {
        sent_from_workspace: f.opt("sent_from_workspace")?,
        converted_from_workspace: f.opt("converted_from_workspace")?,
        conversion_status: f
            .opt::<String>("conversion_status")?
            .map(|s| ConversionStatus::parse("conversion_status", &s))
            .transpose()?,
        converted_by: f.opt("converted_by")?,
        custom_metadata: f.opt("custom_metadata")?,
        replace_custom_metadata: f.opt("replace_custom_metadata")?,
    }
    .parse()?;
    let contact = services
        .update_contact_conversion(&caller, id, update)
        .await?;
    Ok(Json(services.reveal(&caller.principal, contact)?.into()))
}

const CREATE_FIELDS: &[&str] = &[
    "id",
    "name",
    "email",
    "phone",
    "custom_metadata",
    "workspace_id",
];

pub async fn create(
    State(services): State<Services>,
    caller: Caller,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<ContactView>)> {
    let f = body.fields(CREATE_FIELDS)?;
    let new = CreateContact {
        id: f.id("id")?,
        name: f.opt("name")?,
        email: f.opt("email")?,
        phone: f.opt("phone")?,
        custom_metadata: f.opt("custom_metadata")?,
        workspace_id: f.opt("workspace_id")?,
    }
    .parse()?;
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

const SEND_FIELDS: &[&str] = &["to_workspace_id", "from_workspace_id", "lead_id"];

pub async fn send(
    State(services): State<Services>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody,
) -> AppResult<Json<ContactView>> {
    let id = contact_id(&id)?;
    let f = body.fields(SEND_FIELDS)?;
    let to = WorkspaceId::parse("to_workspace_id", &f.req::<String>("to_workspace_id")?)?;
    let from = f
        .opt::<String>("from_workspace_id")?
        .map(|w| WorkspaceId::parse("from_workspace_id", &w))
        .transpose()?;
    let lead = f
        .id("lead_id")?
        .map(|l| LeadId::parse("lead_id", &l))
        .transpose()?;
    let contact = services.send_contact(&caller, id, to, from, lead).await?;
    Ok(Json(services.reveal(&caller.principal, contact)?.into()))
}

pub async fn create_lead(
    State(services): State<Services>,
    caller: Caller,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<LeadView>)> {
    let f = body.fields(&["id", "contact_id"])?;
    let id = f.id("id")?.map(|i| LeadId::parse("id", &i)).transpose()?;
    let contact = ContactId::parse("contact_id", &f.req_id("contact_id")?)?;
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
