//! `conversionStats`: grouped figures for a chart, and the enums that shape them.

use super::currency::{CurrencyFigures, by_currency};
use super::decimal;
use crate::domain::{Granularity, WeekStart};
use crate::graphql::scalars::Decimal;
use crate::service::stats::{Dimension, Stats};
use async_graphql::{Enum, ID, Object, SimpleObject};

/// What `conversionStats` groups by; combine any, with at most one time bucket.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum StatsDimension {
    /// The workspace that logged the conversion.
    Workspace,
    /// The conversion type.
    ConversionType,
    /// The contact's current conversion status, as the conversion's own workspace reached it
    /// (on a shared contact, another workspace's progress does not move it).
    ContactStatus,
    /// Local day of `timeZone`.
    Day,
    /// Local week of `timeZone`, starting on `weekStart`.
    Week,
    /// Local month of `timeZone`.
    Month,
}

impl From<StatsDimension> for Dimension {
    fn from(d: StatsDimension) -> Self {
        match d {
            StatsDimension::Workspace => Dimension::Workspace,
            StatsDimension::ConversionType => Dimension::ConversionType,
            StatsDimension::ContactStatus => Dimension::ContactStatus,
            StatsDimension::Day => Dimension::Period(Granularity::Day),
            StatsDimension::Week => Dimension::Period(Granularity::Week),
            StatsDimension::Month => Dimension::Period(Granularity::Month),
        }
    }
}

/// The first day of a week.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum WeekStartDay {
    /// ISO weeks.
    Monday,
    /// As calendars in the Americas print them.
    Sunday,
}

impl From<WeekStartDay> for WeekStart {
    fn from(day: WeekStartDay) -> Self {
        match day {
            WeekStartDay::Monday => WeekStart::Monday,
            WeekStartDay::Sunday => WeekStart::Sunday,
        }
    }
}

/// Grouped conversion figures, for a chart that asks for exactly what it draws.
pub struct ConversionStats {
    pub stats: Stats,
    pub time_zone: String,
}

/// One group: the dimensions grouped by are set, the others null.
#[derive(SimpleObject)]
pub struct StatsGroup {
    /// `2024-03-10` for a day or a week (its first day), `2024-03` for a month.
    period: Option<String>,
    /// The workspace.
    workspace_id: Option<ID>,
    /// The conversion type.
    conversion_type: Option<String>,
    /// The contact's current status, as the conversion's own workspace reached it.
    contact_status: Option<String>,
    /// Conversions in the group.
    conversions: u64,
    /// Their total value in `currency`, converted exactly and rounded once, half to even;
    /// null while one of them has no rate (see `missingRates`).
    total_value: Option<Decimal>,
    /// Total value ÷ conversions that carry a value, rounded half away from zero.
    average_value: Option<Decimal>,
    /// Each logged currency's own figures in the group, in its own units.
    by_currency: Vec<CurrencyFigures>,
}

/// Grouped conversion figures, for a chart that asks for exactly what it draws.
#[Object]
impl ConversionStats {
    /// The reporting currency (ISO 4217) of every total, except `byCurrency`.
    async fn currency(&self) -> &str {
        self.stats.currency.code()
    }

    /// Currencies with valued conversions here but no rate into `currency` on their UTC
    /// dates, sorted; empty when every total is complete.
    async fn missing_rates(&self) -> &[String] {
        &self.stats.missing_rates
    }

    /// The IANA time zone of the periods.
    async fn time_zone(&self) -> &str {
        &self.time_zone
    }

    /// Whether the figures were read from the daily rollups (fast) rather than the rows.
    async fn from_rollups(&self) -> bool {
        self.stats.from_rollups
    }

    /// The groups, periods oldest first; groups without conversions are omitted. A plain
    /// list: one entry per combination of the grouped dimensions that occurs (workspaces ×
    /// types × the five statuses × periods), read with one `GROUP BY`, never one per conversion.
    async fn groups(&self) -> Vec<StatsGroup> {
        let code = self.stats.currency.code();
        self.stats
            .groups
            .iter()
            .map(|(key, tally)| StatsGroup {
                period: key.period.clone(),
                workspace_id: key.workspace_id.clone().map(ID),
                conversion_type: key.conversion_type.clone(),
                contact_status: key.contact_status.clone(),
                conversions: tally.conversions,
                total_value: tally.total_minor().map(|m| decimal(m, code)),
                average_value: tally.average_minor().map(|m| decimal(m, code)),
                by_currency: by_currency(tally, &self.stats.missing_rates),
            })
            .collect()
    }
}
