//! Conversions: log one (the heart of convio), read one, and list them with filters.

use super::access::acting_workspace;
use super::idempotency::{self, Claim};
use super::page::{Page, Window};
use super::{Services, now};
use crate::auth::Caller;
use crate::domain::{
    Amount, ContactId, ConversionType, Currency, CustomData, DateRange, IdempotencyKey, LeadId,
    Permission, WorkspaceId, happened_by,
};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Datelike, Utc};
use entity::conversion;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, PaginatorTrait, QueryFilter,
};
use serde::Serialize;
use uuid::Uuid;

/// A conversion to log (plan `POST /conversions/log`): the one request both doors build, REST
/// from its JSON body and GraphQL from `LogConversionInput`, each with `TryFrom`.
#[derive(Debug)]
pub struct LogConversion {
    pub contact_id: ContactId,
    /// The lead this conversion closes; it must belong to the contact.
    pub lead_id: Option<LeadId>,
    /// Defaults to the caller's workspace; the admin must name one.
    pub workspace_id: Option<WorkspaceId>,
    /// Who converted the contact: 1 to 255 characters.
    pub converted_by: String,
    pub conversion_type: ConversionType,
    /// The exact amount in `currency`, with at most its decimal places (none for JPY, three
    /// for BHD).
    pub value: Option<Amount>,
    /// Any ISO 4217 currency ([`crate::domain::ISO_4217`]); the server's (`--currency`)
    /// when omitted.
    pub currency: Option<Currency>,
    /// Defaults to now; set it to backfill. At most five minutes ahead of the server's clock.
    pub converted_at: Option<DateTime<Utc>>,
    pub custom_data: Option<CustomData>,
}

/// What became of a logged conversion: stored by this request, or found stored by an earlier
/// one with the same idempotency key (this request then wrote nothing).
#[derive(Debug)]
pub enum Logged {
    Stored(conversion::Model),
    Replayed(conversion::Model),
}

/// What became of one item of a batch, as both doors report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, async_graphql::Enum)]
#[serde(rename_all = "snake_case")]
pub enum LogStatus {
    /// Logged now.
    Stored,
    /// Its idempotency key was already used with the same input: the earlier conversion.
    Replayed,
    /// Refused; see `error`. Nothing was written for it.
    Rejected,
}

impl LogStatus {
    pub fn of(outcome: &AppResult<Logged>) -> LogStatus {
        match outcome {
            Ok(Logged::Stored(_)) => LogStatus::Stored,
            Ok(Logged::Replayed(_)) => LogStatus::Replayed,
            Err(_) => LogStatus::Rejected,
        }
    }
}

impl Logged {
    pub fn conversion(&self) -> &conversion::Model {
        match self {
            Logged::Stored(c) | Logged::Replayed(c) => c,
        }
    }

    pub fn into_conversion(self) -> conversion::Model {
        match self {
            Logged::Stored(c) | Logged::Replayed(c) => c,
        }
    }
}

/// Filters of `GET /conversions` and the `conversions` query; all combined with AND.
#[derive(Clone, Debug, Default)]
pub struct ConversionFilter {
    pub workspace_id: Option<WorkspaceId>,
    /// Bounds on `converted_at`.
    pub range: DateRange,
    pub contact_id: Option<ContactId>,
    pub conversion_type: Option<ConversionType>,
    /// Inclusive bounds on the value, in the server's currency: with either bound, only
    /// conversions in that currency match (a bound in dollars says nothing of a sale in yen).
    pub min_value: Option<Amount>,
    pub max_value: Option<Amount>,
    /// Only conversions stored (`created_at`) strictly after this instant: what a client that
    /// was disconnected missed, backfilled ones included.
    pub created_after: Option<DateTime<Utc>>,
}

/// A position in the newest-first order: `converted_at`, then id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub converted_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    pub fn of(model: &conversion::Model) -> Self {
        Cursor {
            converted_at: model.converted_at,
            id: model.id,
        }
    }

    pub fn encode(&self) -> String {
        format!(
            "{}_{}",
            self.converted_at.timestamp_micros(),
            self.id.simple()
        )
    }

    /// Reads a cursor written by [`Cursor::encode`], and nothing else: its instant within
    /// years 1 to 9999 (as every stored instant is), in the form `encode` writes.
    pub fn decode(field: &str, raw: &str) -> AppResult<Self> {
        let bad = || AppError::invalid(field, "is not a cursor this server issued");
        let (micros, id) = raw.split_once('_').ok_or_else(bad)?;
        let micros: i64 = micros.parse().map_err(|_| bad())?;
        let cursor = Cursor {
            converted_at: DateTime::from_timestamp_micros(micros)
                .filter(|t| (1..=9999).contains(&t.year()))
                .ok_or_else(bad)?,
            id: Uuid::parse_str(id).map_err(|_| bad())?,
        };
        if cursor.encode() != raw {
            return Err(bad());
        }
        Ok(cursor)
    }
}

/// A conversion waiting in the writer's queue.
struct Queued {
    answer: tokio::sync::oneshot::Receiver<AppResult<Logged>>,
    claim: Option<Claim>,
}

impl Queued {
    /// The writer's answer. A key another node stored first is answered with its conversion.
    async fn outcome(self, services: &Services) -> AppResult<Logged> {
        let result = self
            .answer
            .await
            .map_err(|_| AppError::Internal("the conversion writer dropped a request".into()))?;
        match (result, self.claim) {
            (Err(err @ AppError::Conflict(_)), Some(claim)) => {
                match idempotency::prior(services.db.conn(), &claim).await? {
                    Some(id) => services.replayed(services.db.conn(), id).await,
                    None => Err(err),
                }
            }
            (result, _) => result,
        }
    }
}

/// Characters in `converted_by` and other short labels.
pub const MAX_LABEL: usize = 255;
/// Conversions in one batch request.
pub const MAX_BATCH: usize = 1000;

impl Services {
    /// Logs a conversion and everything it implies, in one transaction shared with the other
    /// conversions being logged at the same moment (see `ingest`); then publishes it. With an
    /// idempotency key, a retry returns the first attempt's conversion instead.
    pub async fn log_conversion(
        &self,
        caller: &Caller,
        input: LogConversion,
        key: Option<&IdempotencyKey>,
    ) -> AppResult<Logged> {
        self.submit(caller, input, key).await?.outcome(self).await
    }

    /// Logs each item on its own, so one bad item refuses only itself. Items that failed to
    /// parse are passed through as their error. The items are queued in their order and so
    /// written in it (a later item's `converted_by` is the one the contact keeps), sharing
    /// groups instead of waiting on each other.
    pub async fn log_conversions(
        &self,
        caller: &Caller,
        items: Vec<AppResult<(LogConversion, Option<IdempotencyKey>)>>,
    ) -> AppResult<Vec<AppResult<Logged>>> {
        caller.principal.require(Permission::Convert)?;
        if items.is_empty() || items.len() > MAX_BATCH {
            return Err(AppError::invalid(
                "conversions",
                format!("must hold 1 to {MAX_BATCH} conversions"),
            ));
        }
        self.count_batch_items(&caller.principal, items.len())
            .await?;
        let mut queued = Vec::with_capacity(items.len());
        for item in items {
            queued.push(match item {
                Ok((input, key)) => self.submit(caller, input, key.as_ref()).await,
                Err(err) => Err(err),
            });
        }
        let outcomes = queued.into_iter().map(|queued| async move {
            match queued {
                Ok(queued) => queued.outcome(self).await,
                Err(err) => Err(err),
            }
        });
        Ok(futures_util::future::join_all(outcomes).await)
    }

    /// Checks what can be checked without the database and queues the conversion.
    async fn submit(
        &self,
        caller: &Caller,
        input: LogConversion,
        key: Option<&IdempotencyKey>,
    ) -> AppResult<Queued> {
        caller.principal.require(Permission::Convert)?;
        if let Some(at) = input.converted_at {
            happened_by("converted_at", at, now())?;
        }
        self.value_minor(&input)?;
        let workspace_id =
            acting_workspace(caller, input.workspace_id.clone(), "workspace_id", true)?
                .ok_or_else(|| {
                    AppError::invalid("workspace_id", "is required for the admin key")
                })?;
        let claim = key.map(|k| Claim::new(caller, k, &input));
        let answer = self
            .enqueue(caller.clone(), workspace_id, input, claim.clone())
            .await?;
        Ok(Queued { answer, claim })
    }

    /// The currency the conversion is in: the one given, else the server's.
    pub(super) fn currency_of(&self, input: &LogConversion) -> Currency {
        input.currency.unwrap_or(self.currency)
    }

    /// The conversion's value in minor units of its currency.
    pub(super) fn value_minor(&self, input: &LogConversion) -> AppResult<Option<i64>> {
        input
            .value
            .as_ref()
            .map(|v| v.minor_units("conversion_value", self.currency_of(input)))
            .transpose()
    }

    /// What a conversion adds to a lifetime value: its value if it is in the server's
    /// currency, nothing otherwise. Lifetime values stay in one currency (the server's), as
    /// they always were; a sale in another currency still counts in the conversion count
    /// and status, and in analytics at the reporting currency's rate.
    pub(crate) fn lifetime_part(&self, currency: &str, value_minor: Option<i64>) -> Option<i64> {
        value_minor.filter(|_| currency == self.currency.code())
    }

    async fn replayed(&self, conn: &impl ConnectionTrait, id: Uuid) -> AppResult<Logged> {
        let conversion = conversion::Entity::find_by_id(id)
            .one(conn)
            .await?
            .ok_or_else(|| AppError::Internal("an idempotency key points at nothing".into()))?;
        Ok(Logged::Replayed(conversion))
    }

    /// One conversion, if it exists and the caller may see it.
    pub async fn conversion(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> AppResult<Option<conversion::Model>> {
        caller.principal.require(Permission::Read)?;
        let found = conversion::Entity::find_by_id(id)
            .one(self.db.conn())
            .await?;
        Ok(found.filter(|c| caller.principal.can_see(&c.workspace_id)))
    }

    /// One window of the conversions matching the filter, newest first (`converted_at`, then
    /// id, both descending; [`Cursor`] is a position in that order).
    pub async fn conversions(
        &self,
        caller: &Caller,
        filter: ConversionFilter,
        window: &Window<Cursor>,
    ) -> AppResult<Page<conversion::Model>> {
        caller.principal.require(Permission::Read)?;
        let cond = self.conversion_condition(caller, &filter)?;
        let query = window.select(
            conversion::Entity::find().filter(cond),
            &[
                (conversion::Column::ConvertedAt, Order::Desc),
                (conversion::Column::Id, Order::Desc),
            ],
            |c| vec![c.converted_at.into(), c.id.into()],
        );
        Ok(window.page(query.all(self.db.conn()).await?))
    }

    /// How many conversions match the filter over all pages: one `COUNT` query.
    pub async fn count_conversions(
        &self,
        caller: &Caller,
        filter: &ConversionFilter,
    ) -> AppResult<u64> {
        caller.principal.require(Permission::Read)?;
        let cond = self.conversion_condition(caller, filter)?;
        Ok(conversion::Entity::find()
            .filter(cond)
            .count(self.db.conn())
            .await?)
    }

    /// The WHERE clause for a conversion filter, confined to what the caller may see.
    pub(crate) fn conversion_condition(
        &self,
        caller: &Caller,
        filter: &ConversionFilter,
    ) -> AppResult<Condition> {
        let workspace = scoped_workspace(caller, filter.workspace_id.as_ref())?;
        let minor = |field: &str, amount: &Option<Amount>| {
            amount
                .as_ref()
                .map(|a| a.minor_units(field, self.currency))
                .transpose()
        };
        let min_value = minor("min_value", &filter.min_value)?;
        let max_value = minor("max_value", &filter.max_value)?;
        if let (Some(min), Some(max)) = (min_value, max_value)
            && min > max
        {
            return Err(AppError::invalid_against(
                "max_value",
                "must not be below",
                "min_value",
            ));
        }
        let mut cond = Condition::all();
        if let Some(ws) = workspace {
            cond = cond.add(conversion::Column::WorkspaceId.eq(ws.as_str()));
        }
        if let Some(from) = filter.range.from {
            cond = cond.add(conversion::Column::ConvertedAt.gte(from));
        }
        if let Some(until) = filter.range.until {
            cond = cond.add(conversion::Column::ConvertedAt.lt(until));
        }
        if let Some(contact) = filter.contact_id {
            cond = cond.add(conversion::Column::ContactId.eq(contact.0));
        }
        if let Some(t) = &filter.conversion_type {
            cond = cond.add(conversion::Column::ConversionType.eq(t.as_str()));
        }
        if let Some(min) = min_value {
            cond = cond.add(conversion::Column::ValueMinor.gte(min));
        }
        if let Some(max) = max_value {
            cond = cond.add(conversion::Column::ValueMinor.lte(max));
        }
        if min_value.is_some() || max_value.is_some() {
            cond = cond.add(conversion::Column::Currency.eq(self.currency.code()));
        }
        if let Some(after) = filter.created_after {
            cond = cond.add(conversion::Column::CreatedAt.gt(after));
        }
        Ok(cond)
    }

    /// Conversions by id, for the DataLoader; only those the caller may see.
    pub async fn conversions_by_ids(
        &self,
        caller: &Caller,
        ids: &[Uuid],
    ) -> AppResult<Vec<conversion::Model>> {
        let mut query =
            conversion::Entity::find().filter(conversion::Column::Id.is_in(ids.to_vec()));
        if let Some(ws) = caller.principal.scope() {
            query = query.filter(conversion::Column::WorkspaceId.eq(ws.as_str()));
        }
        Ok(query.all(self.db.conn()).await?)
    }
}

/// The workspace a query is confined to: the caller's own for a workspace (naming another is
/// forbidden), or whatever the filter names for an admin.
pub(crate) fn scoped_workspace(
    caller: &Caller,
    requested: Option<&WorkspaceId>,
) -> AppResult<Option<WorkspaceId>> {
    match (caller.principal.scope(), requested) {
        (Some(own), Some(req)) if own != req => Err(AppError::Forbidden(
            "a workspace may read only its own data".into(),
        )),
        (Some(own), _) => Ok(Some(own.clone())),
        (None, req) => Ok(req.cloned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let c = Cursor {
            converted_at: "2024-05-01T10:00:00.123456Z".parse().unwrap(),
            id: Uuid::new_v4(),
        };
        assert_eq!(Cursor::decode("after", &c.encode()).unwrap(), c);
        assert!(Cursor::decode("after", "garbage").is_err());
        // Only what `encode` writes: no other spelling, no instant past year 9999.
        let id = c.id.simple();
        for other in [
            format!("+{}_{id}", c.converted_at.timestamp_micros()),
            format!("0{}_{id}", c.converted_at.timestamp_micros()),
            format!("253402300800000000_{id}"),
        ] {
            assert!(Cursor::decode("after", &other).is_err(), "{other}");
        }
    }
}
