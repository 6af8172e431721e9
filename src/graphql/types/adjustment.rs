//! A conversion's retraction or restatement, and what `adjustConversion` answers.

use super::{Conversion, decimal};
use crate::domain::AdjustmentAction;
use crate::graphql::scalars::Decimal;
use async_graphql::{ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::conversion_adjustment;

/// One retraction or restatement of a conversion: append-only, with who, when and why.
pub struct ConversionAdjustment {
    row: conversion_adjustment::Model,
    currency: String,
}

impl ConversionAdjustment {
    /// `row`, whose values are in `currency` (its conversion's).
    pub fn new(row: conversion_adjustment::Model, currency: &str) -> Self {
        ConversionAdjustment {
            row,
            currency: currency.to_owned(),
        }
    }
}

/// One retraction or restatement of a conversion: append-only, with who, when and why.
#[Object]
impl ConversionAdjustment {
    /// Unique id (UUID).
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }

    /// The adjusted conversion's id.
    async fn conversion_id(&self) -> ID {
        ID(self.row.conversion_id.to_string())
    }

    /// 1 for the conversion's first adjustment, then 2, …
    async fn sequence(&self) -> i32 {
        self.row.sequence
    }

    /// `RETRACT` or `RESTATE`.
    async fn action(&self) -> AdjustmentAction {
        if self.row.action == AdjustmentAction::Retract.as_str() {
            AdjustmentAction::Retract
        } else {
            AdjustmentAction::Restate
        }
    }

    /// Why, as the adjusting caller wrote it.
    async fn reason(&self) -> &str {
        &self.row.reason
    }

    /// The conversion's type before this adjustment.
    async fn conversion_type_before(&self) -> &str {
        &self.row.conversion_type_before
    }

    /// Its type after (unchanged by a retraction).
    async fn conversion_type_after(&self) -> &str {
        &self.row.conversion_type_after
    }

    /// Its value before, in its currency; null when it carried none.
    async fn conversion_value_before(&self) -> Option<Decimal> {
        self.row
            .value_minor_before
            .map(|v| decimal(v, &self.currency))
    }

    /// Its value after (unchanged by a retraction, which removes it from every figure).
    async fn conversion_value_after(&self) -> Option<Decimal> {
        self.row
            .value_minor_after
            .map(|v| decimal(v, &self.currency))
    }

    /// Who adjusted it: `admin` or `workspace:<id>`.
    async fn adjusted_by(&self) -> &str {
        &self.row.adjusted_by
    }

    /// When.
    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
}

/// What `adjustConversion` answers: the adjustment, and the conversion as it stands now.
#[derive(SimpleObject)]
pub struct AdjustConversionPayload {
    /// The adjustment stored (or, on a replay, the one the idempotency key stored).
    pub adjustment: ConversionAdjustment,
    /// The conversion with its current type, value and status.
    pub conversion: Conversion,
    /// True when the idempotency key was seen: nothing was written.
    pub replayed: bool,
}
