//! Raw inputs as both doors receive them (text and JSON), and the one place they are parsed
//! into the service layer's domain types. REST bodies and GraphQL inputs convert into these,
//! so a rule (and its error message) is written once. Field names are REST's snake_case;
//! GraphQL errors translate them to camelCase.

use crate::domain::{
    ContactId, ConversionStatus, ConversionType, CustomData, DateRange, FunnelStage, LeadId,
    Permission, WeekStart, WorkspaceId, optional_text, parse_instant, parse_zone, required_text,
};
use crate::error::AppResult;
use crate::service::Services;
use crate::service::analytics::AnalyticsFilter;
use crate::service::contact::{ContactConversionUpdate, NewContact};
use crate::service::contact_list::ContactFilter;
use crate::service::conversion::{ConversionFilter, NewConversion};
use crate::service::stats::{Dimension, StatsQuery};
use crate::service::workspace::NewWorkspace;
use chrono_tz::Tz;
use serde_json::Value;

const MAX_LABEL: usize = 255;

fn workspace(field: &str, raw: Option<String>) -> AppResult<Option<WorkspaceId>> {
    raw.map(|w| WorkspaceId::parse(field, &w)).transpose()
}

fn custom(field: &str, raw: Option<Value>) -> AppResult<Option<CustomData>> {
    raw.filter(|v| !v.is_null())
        .map(|v| CustomData::parse(field, v))
        .transpose()
}

/// The request's time zone (UTC unless given): date bounds are its local days.
fn zone(raw: Option<&str>) -> AppResult<Tz> {
    raw.map_or(Ok(Tz::UTC), |z| parse_zone("time_zone", z))
}

fn week_start(raw: Option<&str>) -> AppResult<WeekStart> {
    raw.map_or(Ok(WeekStart::Monday), |w| WeekStart::parse("week_start", w))
}

fn range(from_date: Option<String>, to_date: Option<String>, zone: Tz) -> AppResult<DateRange> {
    DateRange::parse(
        "from_date",
        from_date.as_deref(),
        "to_date",
        to_date.as_deref(),
        zone,
    )
}

fn conversion_type(raw: Option<String>) -> AppResult<Option<ConversionType>> {
    raw.map(|t| ConversionType::parse("conversion_type", &t))
        .transpose()
}

fn text(field: &str, raw: Option<String>, max: usize) -> AppResult<Option<String>> {
    raw.map(|t| optional_text(field, &t, max))
        .transpose()
        .map(|t| t.filter(|t| !t.is_empty()))
}

#[derive(Debug, Default)]
pub struct LogConversion {
    pub contact_id: String,
    pub lead_id: Option<String>,
    pub workspace_id: Option<String>,
    pub converted_by: String,
    pub conversion_type: String,
    pub conversion_value: Option<String>,
    pub currency: Option<String>,
    pub converted_at: Option<String>,
    pub custom_data: Option<Value>,
}

impl LogConversion {
    pub fn parse(self, services: &Services) -> AppResult<NewConversion> {
        services.check_currency("currency", self.currency.as_deref())?;
        Ok(NewConversion {
            contact_id: ContactId::parse("contact_id", &self.contact_id)?,
            lead_id: self
                .lead_id
                .map(|l| LeadId::parse("lead_id", &l))
                .transpose()?,
            workspace_id: workspace("workspace_id", self.workspace_id)?,
            converted_by: required_text("converted_by", &self.converted_by, MAX_LABEL)?,
            conversion_type: ConversionType::parse("conversion_type", &self.conversion_type)?,
            value_minor: self
                .conversion_value
                .map(|v| services.currency.parse_amount("conversion_value", &v))
                .transpose()?,
            converted_at: self
                .converted_at
                .map(|t| parse_instant("converted_at", &t))
                .transpose()?,
            custom_data: custom("custom_data", self.custom_data)?,
        })
    }
}

#[derive(Debug, Default)]
pub struct UpdateContactConversion {
    pub sent_from_workspace: Option<String>,
    pub converted_from_workspace: Option<String>,
    pub conversion_status: Option<ConversionStatus>,
    pub converted_by: Option<String>,
    pub custom_metadata: Option<Value>,
    pub replace_custom_metadata: Option<bool>,
}

impl UpdateContactConversion {
    pub fn parse(self) -> AppResult<ContactConversionUpdate> {
        Ok(ContactConversionUpdate {
            sent_from_workspace: workspace("sent_from_workspace", self.sent_from_workspace)?,
            converted_from_workspace: workspace(
                "converted_from_workspace",
                self.converted_from_workspace,
            )?,
            conversion_status: self.conversion_status,
            converted_by: self
                .converted_by
                .map(|b| required_text("converted_by", &b, MAX_LABEL))
                .transpose()?,
            custom_metadata: custom("custom_metadata", self.custom_metadata)?,
            replace_custom_metadata: self.replace_custom_metadata.unwrap_or(false),
        })
    }
}

#[derive(Debug, Default)]
pub struct CreateContact {
    pub id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub custom_metadata: Option<Value>,
    pub workspace_id: Option<String>,
}

impl CreateContact {
    pub fn parse(self) -> AppResult<NewContact> {
        let email = text("email", self.email, 254)?;
        if let Some(email) = &email
            && (!email.contains('@') || email.contains(char::is_whitespace))
        {
            return Err(crate::error::AppError::invalid(
                "email",
                "is not an email address",
            ));
        }
        Ok(NewContact {
            id: self.id.map(|i| ContactId::parse("id", &i)).transpose()?,
            name: text("name", self.name, 200)?,
            email,
            phone: text("phone", self.phone, 50)?,
            custom_metadata: custom("custom_metadata", self.custom_metadata)?,
            workspace_id: workspace("workspace_id", self.workspace_id)?,
        })
    }
}

/// The filters of `GET /conversions` and the `conversions` query, as text.
#[derive(Debug, Default)]
pub struct ConversionQuery {
    pub workspace_id: Option<String>,
    pub from_date: Option<String>,
    pub to_date: Option<String>,
    pub contact_id: Option<String>,
    pub conversion_type: Option<String>,
    pub min_value: Option<String>,
    pub max_value: Option<String>,
    /// IANA zone whose local days `from_date` and `to_date` name.
    pub time_zone: Option<String>,
    /// RFC 3339 instant: only conversions stored strictly after it.
    pub created_after: Option<String>,
}

impl ConversionQuery {
    pub fn parse(self, services: &Services) -> AppResult<ConversionFilter> {
        let amount = |field: &str, raw: Option<String>| {
            raw.map(|v| services.currency.parse_amount(field, &v))
                .transpose()
        };
        let zone = zone(self.time_zone.as_deref())?;
        Ok(ConversionFilter {
            workspace_id: workspace("workspace_id", self.workspace_id)?,
            range: range(self.from_date, self.to_date, zone)?,
            contact_id: self
                .contact_id
                .map(|c| ContactId::parse("contact_id", &c))
                .transpose()?,
            conversion_type: conversion_type(self.conversion_type)?,
            min_value_minor: amount("min_value", self.min_value)?,
            max_value_minor: amount("max_value", self.max_value)?,
            created_after: self
                .created_after
                .map(|t| parse_instant("created_after", &t))
                .transpose()?,
        })
    }
}

/// The filters of the `contacts` query (the funnel drill-down), as text.
#[derive(Debug, Default)]
pub struct ContactQuery {
    pub workspace_id: Option<String>,
    /// Date (a whole day of `time_zone`) or RFC 3339 instant, inclusive.
    pub received_from: Option<String>,
    /// Date (a whole day of `time_zone`) or RFC 3339 instant, inclusive.
    pub received_to: Option<String>,
    /// IANA zone whose local days `received_from` and `received_to` name.
    pub time_zone: Option<String>,
    pub reached_stage: Option<FunnelStage>,
    pub status: Option<ConversionStatus>,
}

impl ContactQuery {
    pub fn parse(self) -> AppResult<ContactFilter> {
        let zone = zone(self.time_zone.as_deref())?;
        Ok(ContactFilter {
            workspace_id: workspace("workspace_id", self.workspace_id)?,
            received: DateRange::parse(
                "received_from",
                self.received_from.as_deref(),
                "received_to",
                self.received_to.as_deref(),
                zone,
            )?,
            reached: self.reached_stage,
            status: self.status,
        })
    }
}

#[derive(Debug, Default)]
pub struct AnalyticsQuery {
    pub workspace_id: Option<String>,
    pub from_date: Option<String>,
    pub to_date: Option<String>,
    pub conversion_type: Option<String>,
    pub time_zone: Option<String>,
    pub week_start: Option<String>,
}

impl AnalyticsQuery {
    pub fn parse(self) -> AppResult<AnalyticsFilter> {
        let zone = zone(self.time_zone.as_deref())?;
        Ok(AnalyticsFilter {
            workspace_id: workspace("workspace_id", self.workspace_id)?,
            range: range(self.from_date, self.to_date, zone)?,
            conversion_type: conversion_type(self.conversion_type)?,
            zone,
            week_start: week_start(self.week_start.as_deref())?,
        })
    }
}

/// Grouped figures: the conversion filters plus how to group and bucket them.
#[derive(Debug, Default)]
pub struct StatsInput {
    pub filter: ConversionQuery,
    pub week_start: Option<String>,
    pub group_by: Vec<Dimension>,
}

impl StatsInput {
    pub fn parse(self, services: &Services) -> AppResult<StatsQuery> {
        let zone = zone(self.filter.time_zone.as_deref())?;
        Ok(StatsQuery {
            filter: self.filter.parse(services)?,
            zone,
            week_start: week_start(self.week_start.as_deref())?,
            group_by: self.group_by,
        })
    }
}

#[derive(Debug, Default)]
pub struct RegisterWorkspace {
    pub workspace_id: String,
    pub workspace_name: String,
    pub permissions: Option<Vec<Permission>>,
    pub api_key: Option<String>,
    pub rate_limit_per_hour: Option<u32>,
}

impl RegisterWorkspace {
    pub fn parse(self) -> AppResult<NewWorkspace> {
        Ok(NewWorkspace {
            id: WorkspaceId::parse("workspace_id", &self.workspace_id)?,
            name: required_text("workspace_name", &self.workspace_name, 200)?,
            permissions: self
                .permissions
                .unwrap_or_else(|| Permission::DEFAULT.to_vec()),
            api_key: self.api_key,
            rate_limit_per_hour: self.rate_limit_per_hour,
        })
    }
}
