//! Retract and restate (issue #14): a workspace corrects what it reported. A sale is
//! cancelled (`retract`) or its amount or type changes (`restate`). An adjustment is an
//! append-only row with who, when and why; the conversion keeps its id, shows its current type,
//! value and state, and its adjustments show what it was before each.
//!
//! Every figure is net of adjustments, changed in the adjustment's own transaction: the
//! rollups (the old figures leave their rows, the new ones join theirs), the contact's and the
//! converting workspace's lifetime value, count and status, and so the analytics, the
//! workspace's activity and the exports. A retracted conversion counts nowhere; it is still
//! listed, with `status: retracted`. The status rule is [`ConversionStatus::without`].
//!
//! Locks are taken in the order every other write takes them: the contact, then the
//! conversion, then the workspaces' and rollups' rows, then the audit chain, then the feed.

use super::idempotency::{self, Claim};
use super::{Services, audit, feed, now, rollup, shared, tracking, webhooks};
use crate::auth::Caller;
use crate::domain::{
    AdjustmentAction, Amount, ContactId, ConversionState, ConversionStatus, ConversionType,
    Currency, EventType, IdempotencyKey, Permission, TrackingAction, WorkspaceId,
};
use crate::error::{AppError, AppResult};
use entity::{contact, contact_state, conversion, conversion_adjustment, wide};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use std::collections::HashMap;
use uuid::Uuid;

/// Characters in an adjustment's reason.
pub const MAX_REASON: usize = 1_000;

/// An adjustment to make (`POST /conversions/{id}/adjustments`, `adjustConversion`): the one
/// request both doors build.
#[derive(Debug)]
pub struct AdjustConversion {
    pub change: Change,
    /// Why: 1 to 1,000 characters, kept with the adjustment and in the audit log.
    pub reason: String,
}

/// What the adjustment changes.
#[derive(Debug)]
pub enum Change {
    /// The conversion stops counting, for good.
    Retract,
    /// A new value and/or type; at least one, and not the current ones. The value is in the
    /// conversion's currency, with at most its decimal places.
    Restate {
        value: Option<Amount>,
        conversion_type: Option<ConversionType>,
    },
}

/// The change an `action` with these fields asks for, as both doors give them: a retraction
/// takes neither, a restatement at least one (`BAD_USER_INPUT` naming the field otherwise).
pub fn change(
    action: AdjustmentAction,
    value: Option<Amount>,
    conversion_type: Option<ConversionType>,
) -> AppResult<Change> {
    match action {
        AdjustmentAction::Retract => {
            if value.is_some() {
                return Err(AppError::invalid(
                    "conversion_value",
                    "is not taken by a retraction",
                ));
            }
            if conversion_type.is_some() {
                return Err(AppError::invalid(
                    "conversion_type",
                    "is not taken by a retraction",
                ));
            }
            Ok(Change::Retract)
        }
        AdjustmentAction::Restate if value.is_none() && conversion_type.is_none() => {
            Err(AppError::invalid(
                "conversion_value",
                "a restatement needs a new value, a new type or both",
            ))
        }
        AdjustmentAction::Restate => Ok(Change::Restate {
            value,
            conversion_type,
        }),
    }
}

impl Change {
    pub fn action(&self) -> AdjustmentAction {
        match self {
            Change::Retract => AdjustmentAction::Retract,
            Change::Restate { .. } => AdjustmentAction::Restate,
        }
    }
}

/// An adjustment and the conversion as it stands after it.
#[derive(Debug)]
pub struct Adjustment {
    pub adjustment: conversion_adjustment::Model,
    pub conversion: conversion::Model,
}

/// Stored by this request, or found stored by an earlier one with the same idempotency key
/// (the conversion then as it stands now; this request wrote nothing).
#[derive(Debug)]
pub enum Adjusted {
    Stored(Adjustment),
    Replayed(Adjustment),
}

/// A conversion's type and value at one point of its history.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Figures {
    conversion_type: String,
    value_minor: Option<i64>,
}

impl Services {
    /// Retracts or restates a conversion the caller logged (any, for the admin), and moves
    /// every figure it counted in, in one transaction. Errors: `NOT_FOUND` for a conversion
    /// the caller may not see, `CONFLICT` for one already retracted, `BAD_USER_INPUT` for a
    /// restatement that changes nothing or a value the currency cannot hold; with an
    /// idempotency key, a retry answers the first attempt's adjustment.
    pub async fn adjust_conversion(
        &self,
        caller: &Caller,
        id: Uuid,
        input: AdjustConversion,
        key: Option<&IdempotencyKey>,
    ) -> AppResult<Adjusted> {
        caller.principal.require(Permission::Convert)?;
        let claim = key.map(|k| Claim::new(caller, k, &(id, &input)));
        let missing = || AppError::not_found("conversion", id);
        let txn = self.db.begin_write().await?;
        let seen = conversion::Entity::find_by_id(id)
            .one(&*txn)
            .await?
            .filter(|c| caller.principal.can_see(&c.workspace_id))
            .ok_or_else(missing)?;
        // The contact first, as every write locks it; it also serializes two requests with
        // the same key, so the second finds the first's claim below.
        let contact = contact::Entity::find_by_id(seen.contact_id)
            .lock_exclusive()
            .one(&*txn)
            .await?
            .ok_or_else(|| AppError::Internal("a conversion without its contact".into()))?;
        if let Some(claim) = &claim
            && let Some(prior) = idempotency::prior_adjustment(&*txn, claim).await?
        {
            return Ok(Adjusted::Replayed(self.adjustment_now(&*txn, prior).await?));
        }
        let stored = conversion::Entity::find_by_id(id)
            .lock_exclusive()
            .one(&*txn)
            .await?
            .ok_or_else(missing)?;
        if ConversionState::from_stored(&stored.status) == ConversionState::Retracted {
            return Err(AppError::Conflict(
                "the conversion was retracted; a retraction is final".into(),
            ));
        }
        // A restated value is in the conversion's own currency.
        let currency = Currency::parse("currency", &stored.currency)
            .map_err(|_| AppError::Internal(format!("a stored currency: {}", stored.currency)))?;
        let before = Figures {
            conversion_type: stored.conversion_type.clone(),
            value_minor: stored.value_minor,
        };
        let after = self.figures_after(&input.change, &before, currency)?;
        let at = now();
        let workspace = WorkspaceId::from_trusted(stored.workspace_id.clone());
        let remaining = remaining_types(&*txn, &stored).await?;
        let everyone: Vec<&str> = remaining.iter().map(|(_, t)| t.as_str()).collect();
        let its_own: Vec<&str> = remaining
            .iter()
            .filter(|(w, _)| *w == stored.workspace_id)
            .map(|(_, t)| t.as_str())
            .collect();

        // The contact, whole, and the converting workspace's own state of it.
        // Lifetime values hold the server's currency only (see `lifetime_part`).
        let lifetime = |f: &Figures| Figures {
            conversion_type: f.conversion_type.clone(),
            value_minor: self.lifetime_part(&stored.currency, f.value_minor),
        };
        let (held_before, held_after) = (lifetime(&before), after.as_ref().map(lifetime));
        let mut contact_after = contact.clone();
        let (high, low) = refigured(
            contact.lifetime_value_minor(),
            &mut contact_after.conversion_count,
            &mut contact_after.conversion_status,
            &held_before,
            held_after.as_ref(),
            &everyone,
        )?;
        contact_after.lifetime_value_high = high;
        contact_after.lifetime_value_low = low;
        contact_after.updated_at = at;
        let state = shared::state(&*txn, ContactId(contact.id), &workspace).await?;
        let state_after = state
            .as_ref()
            .map(|state| -> AppResult<contact_state::Model> {
                let mut next = state.clone();
                let (high, low) = refigured(
                    wide::join(state.lifetime_value_high, state.lifetime_value_low),
                    &mut next.conversion_count,
                    &mut next.conversion_status,
                    &held_before,
                    held_after.as_ref(),
                    &its_own,
                )?;
                next.lifetime_value_high = high;
                next.lifetime_value_low = low;
                next.updated_at = at;
                Ok(next)
            })
            .transpose()?;

        let adjustment = conversion_adjustment::Model {
            id: super::new_id(),
            conversion_id: id,
            sequence: next_sequence(&*txn, id).await?,
            workspace_id: stored.workspace_id.clone(),
            action: input.change.action().as_str().to_owned(),
            reason: input.reason.clone(),
            conversion_type_before: before.conversion_type.clone(),
            conversion_type_after: after.as_ref().map_or(before.conversion_type.clone(), |a| {
                a.conversion_type.clone()
            }),
            value_minor_before: before.value_minor,
            value_minor_after: after.as_ref().map_or(before.value_minor, |a| a.value_minor),
            adjusted_by: caller.principal.audit_name(),
            created_at: at,
        };

        // Workspaces' and rollups' rows, after the contact and the conversion.
        let zones = &self.rollup_zones;
        let mut delta = moved(zones, &stored, &before, after.as_ref());
        if let (Some(state), Some(next)) = (&state, &state_after) {
            rollup::status_changed(
                &*txn,
                zones,
                &mut delta,
                contact.id,
                &stored.workspace_id,
                ConversionStatus::from_stored(&state.conversion_status),
                ConversionStatus::from_stored(&next.conversion_status),
            )
            .await?;
        }
        delta.apply(&*txn).await?;

        let mut row = stored.clone().into_active_model();
        row.conversion_type = Set(adjustment.conversion_type_after.clone());
        row.value_minor = Set(adjustment.value_minor_after);
        if after.is_none() {
            row.status = Set(ConversionState::Retracted.as_str().to_owned());
        }
        let conversion = row.update(&*txn).await?;
        contact_after
            .clone()
            .into_active_model()
            .reset_all()
            .update(&*txn)
            .await?;
        if let Some(next) = &state_after {
            shared::save_all(&*txn, [next.clone()]).await?;
        }
        conversion_adjustment::ActiveModel::from(adjustment.clone())
            .reset_all()
            .insert(&*txn)
            .await?;
        tracking::record(
            &*txn,
            tracking::Event {
                contact_id: ContactId(contact.id),
                lead_id: None,
                workspace_id: &workspace,
                action: TrackingAction::Adjusted,
                at,
                metadata: Some(json!({
                    "conversion_id": id,
                    "adjustment_id": adjustment.id,
                    "action": adjustment.action,
                })),
            },
        )
        .await?;
        audit::record(
            &*txn,
            caller,
            match input.change {
                Change::Retract => "conversion.retracted",
                Change::Restate { .. } => "conversion.restated",
            },
            "conversion",
            &id.to_string(),
            json!({
                // The reason stays with the adjustment, where an erasure of the contact
                // reaches it (free text may quote personal data); the chain keeps the rest.
                "adjustment_id": adjustment.id,
                "conversion_type_before": adjustment.conversion_type_before,
                "conversion_type_after": adjustment.conversion_type_after,
                "value_minor_before": adjustment.value_minor_before,
                "value_minor_after": adjustment.value_minor_after,
                "currency": conversion.currency,
            }),
        )
        .await?;
        if let Some(claim) = &claim {
            claim
                .adjustment_row(id, adjustment.id)
                .insert(&*txn)
                .await?;
        }
        // The event shows the converting workspace's state; an older contact without one is
        // shown as that workspace sees it without figures of its own.
        let seen_state =
            state_after.unwrap_or_else(|| shared::fresh(ContactId(contact.id), &workspace, at));
        feed::append(
            &*txn,
            vec![feed::event(
                id,
                &contact_after,
                &seen_state,
                Some(&adjustment),
            )?],
        )
        .await?;
        // Last, as every write takes the outbox. The history holds this adjustment already.
        let history = self.adjustments_in(&*txn, id).await?;
        let hooked = webhooks::record(
            &*txn,
            &[webhooks::Outgoing {
                workspace_id: Some(workspace.clone()),
                event_type: match input.change {
                    Change::Retract => EventType::ConversionRetracted,
                    Change::Restate { .. } => EventType::ConversionAdjusted,
                },
                data: webhooks::payload::conversion(&conversion, &history)?,
                occurred_at: at,
            }],
        )
        .await?;
        txn.commit().await?;
        self.feed_signal.notify_one();
        if hooked > 0 {
            self.wake_webhooks();
        }
        Ok(Adjusted::Stored(Adjustment {
            adjustment,
            conversion,
        }))
    }

    /// The figures `change` leaves (`None`: retracted); a restatement must change something.
    fn figures_after(
        &self,
        change: &Change,
        before: &Figures,
        currency: Currency,
    ) -> AppResult<Option<Figures>> {
        let Change::Restate {
            value,
            conversion_type,
        } = change
        else {
            return Ok(None);
        };
        let after = Figures {
            conversion_type: conversion_type
                .as_ref()
                .map_or(before.conversion_type.clone(), |t| t.as_str().to_owned()),
            value_minor: match value {
                Some(v) => Some(v.minor_units("conversion_value", currency)?),
                None => before.value_minor,
            },
        };
        if after == *before {
            return Err(AppError::invalid(
                "",
                "the restatement changes nothing: give another value or type",
            ));
        }
        Ok(Some(after))
    }

    /// An adjustment and its conversion as it stands now.
    async fn adjustment_now(&self, conn: &impl ConnectionTrait, id: Uuid) -> AppResult<Adjustment> {
        let adjustment = conversion_adjustment::Entity::find_by_id(id)
            .one(conn)
            .await?
            .ok_or_else(|| AppError::Internal("an idempotency key points at nothing".into()))?;
        let conversion = conversion::Entity::find_by_id(adjustment.conversion_id)
            .one(conn)
            .await?
            .ok_or_else(|| AppError::Internal("an adjustment without its conversion".into()))?;
        Ok(Adjustment {
            adjustment,
            conversion,
        })
    }

    /// The adjustments of one conversion stored so far, oldest first.
    async fn adjustments_in(
        &self,
        conn: &impl ConnectionTrait,
        conversion: Uuid,
    ) -> AppResult<Vec<conversion_adjustment::Model>> {
        Ok(conversion_adjustment::Entity::find()
            .filter(conversion_adjustment::Column::ConversionId.eq(conversion))
            .order_by_asc(conversion_adjustment::Column::Sequence)
            .all(conn)
            .await?)
    }

    /// The adjustments of these conversions, each list oldest first: one query. The caller
    /// has already been shown the conversions.
    pub async fn adjustments_of(
        &self,
        conversions: &[Uuid],
    ) -> AppResult<HashMap<Uuid, Vec<conversion_adjustment::Model>>> {
        let mut found: HashMap<Uuid, Vec<conversion_adjustment::Model>> = HashMap::new();
        if conversions.is_empty() {
            return Ok(found);
        }
        for chunk in super::sets::chunks(conversions) {
            let rows = conversion_adjustment::Entity::find()
                .filter(conversion_adjustment::Column::ConversionId.is_in(chunk.to_vec()))
                .order_by_asc(conversion_adjustment::Column::ConversionId)
                .order_by_asc(conversion_adjustment::Column::Sequence)
                .all(self.db.conn())
                .await?;
            for row in rows {
                found.entry(row.conversion_id).or_default().push(row);
            }
        }
        Ok(found)
    }
}

/// (workspace, type) of the contact's other conversions that still count: what the status
/// rule weighs.
async fn remaining_types(
    conn: &impl ConnectionTrait,
    adjusted: &conversion::Model,
) -> AppResult<Vec<(String, String)>> {
    Ok(conversion::Entity::find()
        .select_only()
        .column(conversion::Column::WorkspaceId)
        .column(conversion::Column::ConversionType)
        .distinct()
        .filter(conversion::Column::ContactId.eq(adjusted.contact_id))
        .filter(conversion::Column::Status.eq(ConversionState::Active.as_str()))
        .filter(conversion::Column::Id.ne(adjusted.id))
        .into_tuple()
        .all(conn)
        .await?)
}

/// The rollups' change: the conversion's figures leave their rows, and a restatement's join
/// theirs (on the same `converted_at`).
fn moved(
    zones: &[chrono_tz::Tz],
    conversion: &conversion::Model,
    before: &Figures,
    after: Option<&Figures>,
) -> rollup::Delta {
    let mut delta = rollup::Delta::default();
    let ws = &conversion.workspace_id;
    let at = conversion.converted_at;
    // The conversion's own currency: a restated value is in it.
    let currency = &conversion.currency;
    delta.conversion_removed(
        zones,
        ws,
        &before.conversion_type,
        currency,
        at,
        before.value_minor,
    );
    if let Some(after) = after {
        delta.conversion(
            zones,
            ws,
            &after.conversion_type,
            currency,
            at,
            after.value_minor,
        );
    }
    delta
}

/// The number of the conversion's next adjustment. The conversion's row is locked.
async fn next_sequence(conn: &impl ConnectionTrait, conversion: Uuid) -> AppResult<i32> {
    let last: Option<i32> = conversion_adjustment::Entity::find()
        .select_only()
        .column(conversion_adjustment::Column::Sequence)
        .filter(conversion_adjustment::Column::ConversionId.eq(conversion))
        .order_by_desc(conversion_adjustment::Column::Sequence)
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(last.unwrap_or(0) + 1)
}

/// Moves one holder's figures (the contact's, or a workspace's own state of it) from
/// `before` to `after` (`None`: retracted): the count, the status by the documented rule
/// given the types that still count, and the lifetime value, returned as its halves.
fn refigured(
    lifetime: i128,
    count: &mut i32,
    status: &mut String,
    before: &Figures,
    after: Option<&Figures>,
    remaining: &[&str],
) -> AppResult<(i64, i64)> {
    let mut lifetime = lifetime - i128::from(before.value_minor.unwrap_or(0));
    let current = ConversionStatus::from_stored(status);
    let next = match after {
        // A new amount is no evidence about the stage: the status stays, whoever set it.
        Some(after) if after.conversion_type == before.conversion_type => {
            lifetime += i128::from(after.value_minor.unwrap_or(0));
            current
        }
        Some(after) => {
            lifetime += i128::from(after.value_minor.unwrap_or(0));
            current
                .without(&before.conversion_type, remaining)
                .advanced_by(&after.conversion_type)
        }
        None => {
            *count = count.saturating_sub(1).max(0);
            current.without(&before.conversion_type, remaining)
        }
    };
    *status = next.as_str().to_owned();
    // Never below zero: a total that held the value before holds it net.
    wide::split(lifetime.max(0))
        .ok_or_else(|| AppError::Internal("a lifetime value beyond 95 bits".into()))
}
