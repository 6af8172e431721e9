//! REST response bodies, in the plan's snake_case shapes. Money is written as an exact JSON
//! number (`25000.00`), never through a float.

use crate::domain::{ConversionState, Currency};
use crate::service::analytics::{Analytics, TrendPoint};
use crate::service::sensitive::Revealed;
use crate::service::shared::SeenContact;
use crate::service::workspace::{Activity, permissions_of};
use chrono::{DateTime, Utc};
use entity::{conversion, conversion_adjustment, lead, workspace};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

/// An exact decimal written as a JSON number literal.
fn amount(minor: impl Into<i128>, currency_code: &str) -> Box<RawValue> {
    let currency = Currency::parse("currency", currency_code).unwrap_or(Currency::USD);
    // A formatted amount is always a valid JSON number; the default (null) is unreachable.
    RawValue::from_string(currency.format_amount(minor)).unwrap_or_default()
}

#[derive(Serialize, ToSchema)]
pub struct ConversionView {
    id: Uuid,
    contact_id: i64,
    lead_id: Option<i64>,
    workspace_id: String,
    converted_by: String,
    converted_at: DateTime<Utc>,
    conversion_type: String,
    #[schema(schema_with = super::openapi::money_or_null)]
    conversion_value: Option<Box<RawValue>>,
    currency: String,
    #[schema(schema_with = super::openapi::custom_json)]
    custom_data: Option<Value>,
    created_at: DateTime<Utc>,
    /// `active`, or `retracted`: kept, but counted in no figure. `conversion_type` and
    /// `conversion_value` are the current ones.
    #[schema(value_type = String, example = "active")]
    status: ConversionState,
    /// Its retractions and restatements, oldest first (in the answers about one conversion).
    #[serde(skip_serializing_if = "Option::is_none")]
    adjustments: Option<Vec<AdjustmentView>>,
}

impl ConversionView {
    /// With its history: `adjustments` are the conversion's, oldest first.
    pub fn with_adjustments(mut self, adjustments: Vec<conversion_adjustment::Model>) -> Self {
        self.adjustments = Some(
            adjustments
                .into_iter()
                .map(|a| AdjustmentView::new(a, &self.currency))
                .collect(),
        );
        self
    }
}

/// One retraction or restatement of a conversion.
#[derive(Serialize, ToSchema)]
pub struct AdjustmentView {
    id: Uuid,
    conversion_id: Uuid,
    /// 1 for the conversion's first adjustment, then 2, …
    sequence: i32,
    /// `retract` or `restate`.
    #[schema(example = "restate")]
    action: String,
    reason: String,
    conversion_type_before: String,
    conversion_type_after: String,
    #[schema(schema_with = super::openapi::money_or_null)]
    conversion_value_before: Option<Box<RawValue>>,
    #[schema(schema_with = super::openapi::money_or_null)]
    conversion_value_after: Option<Box<RawValue>>,
    /// `admin` or `workspace:<id>`.
    adjusted_by: String,
    created_at: DateTime<Utc>,
}

impl AdjustmentView {
    /// `a`, whose values are in `currency` (its conversion's).
    pub fn new(a: conversion_adjustment::Model, currency: &str) -> Self {
        AdjustmentView {
            conversion_value_before: a.value_minor_before.map(|v| amount(v, currency)),
            conversion_value_after: a.value_minor_after.map(|v| amount(v, currency)),
            id: a.id,
            conversion_id: a.conversion_id,
            sequence: a.sequence,
            action: a.action,
            reason: a.reason,
            conversion_type_before: a.conversion_type_before,
            conversion_type_after: a.conversion_type_after,
            adjusted_by: a.adjusted_by,
            created_at: a.created_at,
        }
    }
}

/// Only from a revealed row: sensitive values are opened or masked for the reader.
impl From<Revealed<conversion::Model>> for ConversionView {
    fn from(c: Revealed<conversion::Model>) -> Self {
        let c = c.into_inner();
        ConversionView {
            status: ConversionState::from_stored(&c.status),
            adjustments: None,
            conversion_value: c.value_minor.map(|v| amount(v, &c.currency)),
            id: c.id,
            contact_id: c.contact_id,
            lead_id: c.lead_id,
            workspace_id: c.workspace_id,
            converted_by: c.converted_by,
            converted_at: c.converted_at,
            conversion_type: c.conversion_type,
            currency: c.currency,
            custom_data: c.custom_data,
            created_at: c.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ContactView {
    id: i64,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    sent_from_workspace: Option<String>,
    converted_from_workspace: Option<String>,
    #[schema(value_type = super::openapi::ConversionStatusName)]
    conversion_status: String,
    converted_timestamp: Option<DateTime<Utc>>,
    converted_by: Option<String>,
    #[schema(schema_with = super::openapi::custom_json)]
    custom_metadata: Option<Value>,
    #[schema(schema_with = super::openapi::money)]
    lifetime_value: Box<RawValue>,
    currency: String,
    conversion_count: i32,
    erased_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Only from a row seen by the reader (`service::shared`: whole for the owner and the admin, a
/// receiver's own figures otherwise) and revealed to it (sensitive values opened or masked).
impl From<Revealed<SeenContact>> for ContactView {
    fn from(c: Revealed<SeenContact>) -> Self {
        let c = c.into_inner().into_inner();
        ContactView {
            lifetime_value: amount(c.lifetime_value_minor(), &c.currency),
            id: c.id,
            name: c.name,
            email: c.email,
            phone: c.phone,
            sent_from_workspace: c.sent_from_workspace,
            converted_from_workspace: c.converted_from_workspace,
            conversion_status: c.conversion_status,
            converted_timestamp: c.converted_timestamp,
            converted_by: c.converted_by,
            custom_metadata: c.custom_metadata,
            currency: c.currency,
            conversion_count: c.conversion_count,
            erased_at: c.erased_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LeadView {
    id: i64,
    contact_id: i64,
    workspace_id: Option<String>,
    conversion_id: Option<Uuid>,
    #[schema(schema_with = super::openapi::custom_json)]
    conversion_metadata: Option<Value>,
    created_at: DateTime<Utc>,
}

/// Only from a revealed row: sensitive values are opened or masked for the reader.
impl From<Revealed<lead::Model>> for LeadView {
    fn from(l: Revealed<lead::Model>) -> Self {
        let l = l.into_inner();
        LeadView {
            id: l.id,
            contact_id: l.contact_id,
            workspace_id: l.workspace_id,
            conversion_id: l.conversion_id,
            conversion_metadata: l.conversion_metadata,
            created_at: l.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RegisteredView {
    workspace_id: String,
    workspace_name: String,
    #[schema(value_type = Vec<super::openapi::PermissionName>)]
    permissions: Vec<&'static str>,
    api_key: String,
    created_at: DateTime<Utc>,
}

impl RegisteredView {
    pub fn new(w: workspace::Model, api_key: String) -> Self {
        RegisteredView {
            permissions: permissions_of(&w).iter().map(|p| p.as_str()).collect(),
            workspace_id: w.id,
            workspace_name: w.name,
            api_key,
            created_at: w.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ActivityEntryView {
    id: i64,
    action: String,
    contact_id: i64,
    lead_id: Option<i64>,
    timestamp: DateTime<Utc>,
    #[schema(schema_with = super::openapi::custom_json)]
    metadata: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct ActivityView {
    workspace_id: String,
    total_contacts_received: u64,
    total_contacts_sent: u64,
    total_conversions: u64,
    conversion_rate: Option<f64>,
    recent_activity: Vec<ActivityEntryView>,
}

impl From<Activity> for ActivityView {
    fn from(a: Activity) -> Self {
        ActivityView {
            workspace_id: a.workspace_id.to_string(),
            total_contacts_received: a.contacts_received,
            total_contacts_sent: a.contacts_sent,
            total_conversions: a.conversions,
            conversion_rate: a.conversion_rate,
            recent_activity: a
                .recent
                .into_iter()
                .map(|t| ActivityEntryView {
                    id: t.id,
                    action: t.action,
                    contact_id: t.contact_id,
                    lead_id: t.lead_id,
                    timestamp: t.timestamp,
                    metadata: t.metadata,
                })
                .collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SummaryView {
    total_conversions: u64,
    /// Converted into `currency`; null while a valued conversion lacks a rate (`missing_rates`).
    #[schema(schema_with = super::openapi::money_or_null)]
    total_value: Option<Box<RawValue>>,
    #[schema(schema_with = super::openapi::money_or_null)]
    average_value: Option<Box<RawValue>>,
    conversion_rate: Option<f64>,
    contacts_received: u64,
}

#[derive(Serialize, ToSchema)]
pub struct WorkspaceFiguresView {
    workspace_id: String,
    conversions: u64,
    #[schema(schema_with = super::openapi::money_or_null)]
    total_value: Option<Box<RawValue>>,
    conversion_rate: Option<f64>,
    contacts_received: u64,
}

#[derive(Serialize, ToSchema)]
pub struct TrendPointView {
    period: String,
    conversions: u64,
    #[schema(schema_with = super::openapi::money_or_null)]
    total_value: Option<Box<RawValue>>,
}

#[derive(Serialize, ToSchema)]
pub struct TrendsView {
    daily: Vec<TrendPointView>,
    weekly: Vec<TrendPointView>,
    monthly: Vec<TrendPointView>,
}

#[derive(Serialize, ToSchema)]
pub struct FunnelStageView {
    stage: &'static str,
    count: u64,
    percent: Option<f64>,
}

/// One logged currency's own figures, in its own minor units: never converted.
#[derive(Serialize, ToSchema)]
pub struct CurrencyFiguresView {
    /// ISO 4217 code.
    currency: String,
    conversions: u64,
    /// Exact, in this currency.
    #[schema(schema_with = super::openapi::money)]
    total_value: Box<RawValue>,
    /// Whether a rate into the reporting currency was missing for some of them.
    missing_rate: bool,
}

/// The plan's §2.1 analytics response, plus `currency`, the §4.2 `funnel` and the §14.3
/// per-currency figures.
#[derive(Serialize, ToSchema)]
pub struct AnalyticsView {
    /// The reporting currency: every converted total is in it.
    currency: String,
    /// Each logged currency's own figures over the whole selection.
    by_currency: Vec<CurrencyFiguresView>,
    /// Currencies with valued conversions and no rate into `currency` on their dates; the
    /// totals they are part of are null, never counted as 0.
    missing_rates: Vec<String>,
    /// The IANA zone of the days, weeks and months.
    time_zone: &'static str,
    summary: SummaryView,
    by_workspace: Vec<WorkspaceFiguresView>,
    /// The plan's shape: conversion type → count.
    #[schema(value_type = std::collections::HashMap<String, u64>)]
    by_type: Map<String, Value>,
    trends: TrendsView,
    funnel: Vec<FunnelStageView>,
}

impl AnalyticsView {
    pub fn new(a: Analytics) -> Self {
        let currency = a.currency.code();
        let money = |minor: i128| amount(minor, currency);
        let points = |ps: Vec<TrendPoint>| {
            ps.into_iter()
                .map(|p| TrendPointView {
                    period: p.period,
                    conversions: p.tally.conversions,
                    total_value: p.tally.total_minor().map(money),
                })
                .collect()
        };
        AnalyticsView {
            currency: currency.to_owned(),
            by_currency: a
                .summary
                .by_currency
                .iter()
                .map(|(code, tally)| CurrencyFiguresView {
                    currency: code.clone(),
                    conversions: tally.conversions,
                    total_value: amount(tally.total_minor, code),
                    missing_rate: a.missing_rates.contains(code),
                })
                .collect(),
            missing_rates: a.missing_rates.clone(),
            time_zone: a.zone.name(),
            summary: SummaryView {
                total_conversions: a.summary.conversions,
                total_value: a.summary.total_minor().map(money),
                average_value: a.average_minor.map(money),
                conversion_rate: a.conversion_rate,
                contacts_received: a.contacts_received,
            },
            by_workspace: a
                .by_workspace
                .into_iter()
                .map(|w| WorkspaceFiguresView {
                    total_value: w.tally.total_minor().map(money),
                    workspace_id: w.workspace_id,
                    conversions: w.tally.conversions,
                    conversion_rate: w.conversion_rate,
                    contacts_received: w.contacts_received,
                })
                .collect(),
            by_type: a
                .by_type
                .into_iter()
                .map(|(t, tally)| (t, Value::from(tally.conversions)))
                .collect(),
            trends: TrendsView {
                daily: points(a.daily),
                weekly: points(a.weekly),
                monthly: points(a.monthly),
            },
            funnel: a
                .funnel
                .into_iter()
                .map(|s| FunnelStageView {
                    stage: s.stage,
                    count: s.count,
                    percent: s.percent,
                })
                .collect(),
        }
    }
}
