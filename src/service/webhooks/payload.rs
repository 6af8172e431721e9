//! The `data` of each event, shaped as the REST views show the same object
//! (`GET /conversions/{id}`, `GET /contacts/{id}`), so a receiver parses one shape. Amounts are
//! exact JSON numbers. Sensitive custom values (`secret_…` keys) are always masked: a
//! webhook leaves convio for a URL, and is not a reader that may open them.

use crate::domain::{Currency, is_sensitive};
use crate::error::{AppError, AppResult};
use crate::service::sensitive::MASK;
use crate::service::shared::SeenContact;
use chrono::{DateTime, Utc};
use entity::{conversion, conversion_adjustment};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use uuid::Uuid;

/// A conversion as `GET /conversions/{id}` shows it.
#[derive(Serialize)]
struct ConversionData<'a> {
    id: Uuid,
    contact_id: i64,
    lead_id: Option<i64>,
    workspace_id: &'a str,
    converted_by: &'a str,
    converted_at: DateTime<Utc>,
    conversion_type: &'a str,
    conversion_value: Option<Box<RawValue>>,
    currency: &'a str,
    custom_data: Option<Value>,
    created_at: DateTime<Utc>,
    /// `active` or `retracted`.
    status: &'a str,
    /// Its retractions and restatements so far, oldest first.
    adjustments: Vec<AdjustmentData<'a>>,
}

/// An adjustment as `GET /conversions/{id}` lists it.
#[derive(Serialize)]
struct AdjustmentData<'a> {
    id: Uuid,
    conversion_id: Uuid,
    sequence: i32,
    action: &'a str,
    reason: &'a str,
    conversion_type_before: &'a str,
    conversion_type_after: &'a str,
    conversion_value_before: Option<Box<RawValue>>,
    conversion_value_after: Option<Box<RawValue>>,
    adjusted_by: &'a str,
    created_at: DateTime<Utc>,
}

/// A contact as `GET /contacts/{id}` shows it to the event's workspace.
#[derive(Serialize)]
struct ContactData<'a> {
    id: i64,
    name: Option<&'a str>,
    email: Option<&'a str>,
    phone: Option<&'a str>,
    sent_from_workspace: Option<&'a str>,
    converted_from_workspace: Option<&'a str>,
    conversion_status: &'a str,
    converted_timestamp: Option<DateTime<Utc>>,
    converted_by: Option<&'a str>,
    custom_metadata: Option<Value>,
    lifetime_value: Box<RawValue>,
    currency: &'a str,
    conversion_count: i32,
    erased_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The `data` of a conversion event: the conversion with its `adjustments` (none when just
/// logged). `custom_data` is the conversion's, sealed or not: sensitive values are masked
/// either way.
pub fn conversion(
    c: &conversion::Model,
    adjustments: &[conversion_adjustment::Model],
) -> AppResult<Box<RawValue>> {
    let money = |minor: Option<i64>| {
        minor
            .map(|v| amount(i128::from(v), &c.currency))
            .transpose()
    };
    let adjustments = adjustments
        .iter()
        .map(|a| {
            Ok(AdjustmentData {
                id: a.id,
                conversion_id: a.conversion_id,
                sequence: a.sequence,
                action: &a.action,
                reason: &a.reason,
                conversion_type_before: &a.conversion_type_before,
                conversion_type_after: &a.conversion_type_after,
                conversion_value_before: money(a.value_minor_before)?,
                conversion_value_after: money(a.value_minor_after)?,
                adjusted_by: &a.adjusted_by,
                created_at: a.created_at,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    raw(&ConversionData {
        status: &c.status,
        adjustments,
        id: c.id,
        contact_id: c.contact_id,
        lead_id: c.lead_id,
        workspace_id: &c.workspace_id,
        converted_by: &c.converted_by,
        converted_at: c.converted_at,
        conversion_type: &c.conversion_type,
        conversion_value: c
            .value_minor
            .map(|v| amount(i128::from(v), &c.currency))
            .transpose()?,
        currency: &c.currency,
        custom_data: masked(c.custom_data.as_ref()),
        created_at: c.created_at,
    })
}

/// The `data` of `contact.updated`: the contact as the event's workspace sees it.
pub fn contact(seen: &SeenContact) -> AppResult<Box<RawValue>> {
    raw(&ContactData {
        id: seen.id,
        name: seen.name.as_deref(),
        email: seen.email.as_deref(),
        phone: seen.phone.as_deref(),
        sent_from_workspace: seen.sent_from_workspace.as_deref(),
        converted_from_workspace: seen.converted_from_workspace.as_deref(),
        conversion_status: &seen.conversion_status,
        converted_timestamp: seen.converted_timestamp,
        converted_by: seen.converted_by.as_deref(),
        custom_metadata: masked(seen.custom_metadata.as_ref()),
        lifetime_value: amount(seen.lifetime_value_minor(), &seen.currency)?,
        currency: &seen.currency,
        conversion_count: seen.conversion_count,
        erased_at: seen.erased_at,
        created_at: seen.created_at,
        updated_at: seen.updated_at,
    })
}

/// Custom data with every sensitive value (sealed or plain) replaced by the mask.
fn masked(custom: Option<&Value>) -> Option<Value> {
    custom.map(|value| match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, v)| match is_sensitive(key) && !v.is_null() {
                    true => (key.clone(), Value::from(MASK)),
                    false => (key.clone(), v.clone()),
                })
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    })
}

/// An exact amount as a JSON number literal, as the REST views write it.
fn amount(minor: i128, currency_code: &str) -> AppResult<Box<RawValue>> {
    let currency = Currency::parse("currency", currency_code).unwrap_or(Currency::USD);
    RawValue::from_string(currency.format_amount(minor))
        .map_err(|e| AppError::Internal(format!("an amount is not a JSON number: {e}")))
}

fn raw(data: &impl Serialize) -> AppResult<Box<RawValue>> {
    serde_json::value::to_raw_value(data)
        .map_err(|e| AppError::Internal(format!("serialising a webhook payload failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sensitive_values_never_leave_in_a_payload() {
        let sealed = json!({"plan": "gold", "secret_ssn": {"$enc": "v1:k1:AAAA"}, "secret_x": "plain", "secret_n": null});
        assert_eq!(
            masked(Some(&sealed)),
            Some(json!({"plan": "gold", "secret_ssn": "***", "secret_x": "***", "secret_n": null}))
        );
    }
}
