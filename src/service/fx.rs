//! Exchange rates (#14 §3): the admin sets what one unit of a currency is worth in another
//! from a date on; analytics convert each conversion at the rate in force on the UTC date of
//! its `converted_at` (the latest `effective_date` on or before it).
//!
//! Only the pair asked for is used: reporting a EUR sale in USD needs a EUR→USD rate; a
//! USD→EUR rate is not inverted (an inverse of a decimal rate is rarely a decimal, and banks
//! quote each direction on its own).

use super::{Services, audit, now};
use crate::auth::Caller;
use crate::domain::{Currency, Rate};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{exchange_rate, workspace};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};
use serde_json::json;
use std::collections::BTreeMap;

/// Set a rate (`PUT /exchange-rates`, `setExchangeRate`): the one request both doors build.
#[derive(Debug, Clone)]
pub struct SetExchangeRate {
    /// The currency priced.
    pub base: Currency,
    /// The currency it is priced in; not `base`.
    pub quote: Currency,
    /// Units of `quote` per unit of `base`, exact.
    pub rate: Rate,
    /// The first UTC date the rate applies to. Setting a pair's rate again for the same date
    /// replaces it.
    pub effective_date: NaiveDate,
}

impl Services {
    /// Stores a rate (admin only; 403 otherwise), audited as `exchange_rate.set`. Every
    /// workspace's cached analytics go stale: a converted total may change.
    pub async fn set_exchange_rate(
        &self,
        caller: &Caller,
        input: SetExchangeRate,
    ) -> AppResult<exchange_rate::Model> {
        caller.principal.require_admin()?;
        if input.base == input.quote {
            return Err(AppError::invalid_against(
                "quote",
                "must differ from",
                "base",
            ));
        }
        let row = exchange_rate::Model {
            base: input.base.code().to_owned(),
            quote: input.quote.code().to_owned(),
            effective_date: input.effective_date,
            rate: input.rate.to_string(),
            set_by: caller.principal.audit_name(),
            set_at: now(),
        };
        let txn = self.db.begin_write().await?;
        use exchange_rate::Column as C;
        exchange_rate::Entity::insert(exchange_rate::ActiveModel::from(row.clone()))
            .on_conflict(
                OnConflict::columns([C::Base, C::Quote, C::EffectiveDate])
                    .update_columns([C::Rate, C::SetBy, C::SetAt])
                    .to_owned(),
            )
            .exec_without_returning(&*txn)
            .await?;
        workspace::Entity::update_many()
            .col_expr(
                workspace::Column::AnalyticsVersion,
                Expr::col(workspace::Column::AnalyticsVersion).add(1),
            )
            .exec(&*txn)
            .await?;
        audit::record(
            &*txn,
            caller,
            "exchange_rate.set",
            "exchange_rate",
            &format!("{}/{}/{}", row.base, row.quote, row.effective_date),
            json!({ "rate": row.rate }),
        )
        .await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Every rate, by pair and then effective date (oldest first). Readable by any key with
    /// `read`: rates are the same for every workspace.
    pub async fn exchange_rates(&self, caller: &Caller) -> AppResult<Vec<exchange_rate::Model>> {
        caller.principal.require(crate::domain::Permission::Read)?;
        load(self.db.conn()).await
    }
}

async fn load(conn: &impl ConnectionTrait) -> AppResult<Vec<exchange_rate::Model>> {
    use exchange_rate::Column as C;
    Ok(exchange_rate::Entity::find()
        .order_by_asc(C::Base)
        .order_by_asc(C::Quote)
        .order_by_asc(C::EffectiveDate)
        .all(conn)
        .await?)
}

/// Every rate, read once per analytics answer (the table holds a few rows per pair and year).
#[derive(Debug, Default)]
pub struct RateBook {
    /// (base, quote) → effective dates, ascending, with their rate.
    pairs: BTreeMap<(String, String), Vec<(NaiveDate, Rate)>>,
}

impl RateBook {
    pub async fn load(conn: &impl ConnectionTrait) -> AppResult<RateBook> {
        let mut book = RateBook::default();
        for row in load(conn).await? {
            let rate = Rate::parse("rate", &row.rate).map_err(|_| {
                AppError::Internal(format!("a stored rate is not one: {}", row.rate))
            })?;
            book.pairs
                .entry((row.base, row.quote))
                .or_default()
                .push((row.effective_date, rate));
        }
        Ok(book)
    }

    /// The `from`→`to` rate in force on the UTC date of `at`; `None` if none was set on or
    /// before it.
    pub fn rate(&self, from: &str, to: &str, at: DateTime<Utc>) -> Option<Rate> {
        self.on(from, to, at.date_naive())
    }

    /// The `from`→`to` rate in force on `day`.
    pub fn on(&self, from: &str, to: &str, day: NaiveDate) -> Option<Rate> {
        let dates = self.pairs.get(&(from.to_owned(), to.to_owned()))?;
        let i = dates.partition_point(|(d, _)| *d <= day);
        i.checked_sub(1).map(|i| dates[i].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_the_latest_effective_on_or_before_the_day() {
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        let rate = |s| Rate::parse("rate", s).unwrap();
        let mut book = RateBook::default();
        book.pairs.insert(
            ("EUR".into(), "USD".into()),
            vec![
                (day("2026-01-01"), rate("1.08")),
                (day("2026-02-01"), rate("1.1")),
            ],
        );
        assert_eq!(book.on("EUR", "USD", day("2025-12-31")), None);
        assert_eq!(book.on("EUR", "USD", day("2026-01-01")), Some(rate("1.08")));
        assert_eq!(book.on("EUR", "USD", day("2026-01-31")), Some(rate("1.08")));
        assert_eq!(book.on("EUR", "USD", day("2026-02-01")), Some(rate("1.1")));
        assert_eq!(
            book.on("USD", "EUR", day("2026-02-01")),
            None,
            "never inverted"
        );
    }
}
