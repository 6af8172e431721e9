use super::currency::{CurrencyFigures, by_currency};
use super::decimal;
use crate::graphql::scalars::Decimal;
use crate::service::analytics::Analytics;
use async_graphql::{ID, Object, SimpleObject};

/// Conversion analytics for a dashboard (plan §2.1 and §4). Definitions: docs/api.md.
pub struct ConversionAnalytics {
    pub analytics: Analytics,
}

/// The headline figures.
#[derive(SimpleObject)]
pub struct AnalyticsSummary {
    /// Conversions of every type.
    total_conversions: u64,
    /// Sum of conversion values in `currency`, converted exactly and rounded once, half to
    /// even; null while a valued conversion has no rate (see `missingRates`), never a
    /// total that counts it as 0.
    total_value: Option<Decimal>,
    /// Total value ÷ conversions that carry a value, rounded half away from zero; null if none.
    average_value: Option<Decimal>,
    /// 100 × conversions ÷ contacts received, two decimals; null when none were received.
    conversion_rate: Option<f64>,
    /// Distinct (workspace, contact) pairs received in the period.
    contacts_received: u64,
}

/// One workspace's figures.
#[derive(SimpleObject)]
pub struct WorkspaceAnalytics {
    /// The workspace.
    workspace_id: ID,
    /// Its conversions.
    conversions: u64,
    /// Their total value in `currency`; null while one lacks a rate.
    total_value: Option<Decimal>,
    /// Total value ÷ its conversions that carry a value, rounded half away from zero; null if
    /// none does (the summary's `averageValue`, for one workspace).
    average_value: Option<Decimal>,
    /// 100 × conversions ÷ contacts received.
    conversion_rate: Option<f64>,
    /// Distinct contacts it received in the period.
    contacts_received: u64,
}

/// Conversions of one type.
#[derive(SimpleObject)]
pub struct TypeCount {
    /// The conversion type.
    conversion_type: String,
    /// How many.
    conversions: u64,
    /// Their total value in `currency`; null while one lacks a rate.
    total_value: Option<Decimal>,
}

/// One bucket of a trend line.
#[derive(SimpleObject)]
pub struct TrendPoint {
    /// `2024-01-15` for days and weeks (the week's first day), `2024-01` for months.
    period: String,
    /// Conversions in the bucket.
    conversions: u64,
    /// Their total value in `currency`; null while one lacks a rate.
    total_value: Option<Decimal>,
}

/// Trend lines, oldest bucket first; buckets without conversions are omitted. Plain lists: at
/// most one point per day, week or month in the filter's period (conversions cannot be dated
/// in the future), summed with one `GROUP BY`, never one point per conversion.
#[derive(SimpleObject)]
pub struct Trends {
    /// By local day of the time zone.
    daily: Vec<TrendPoint>,
    /// By local week, starting on the requested day (Monday unless asked).
    weekly: Vec<TrendPoint>,
    /// By month.
    monthly: Vec<TrendPoint>,
}

/// One funnel stage (plan §4.2).
#[derive(SimpleObject)]
pub struct FunnelStage {
    /// `leads_received`, `qualified`, `appointments` or `conversions`.
    stage: String,
    /// Contacts received in the period that reached this stage.
    count: u64,
    /// Percent of `leads_received`; null when none were received.
    percent: Option<f64>,
}

impl ConversionAnalytics {
    fn money(&self, minor: i128) -> Decimal {
        decimal(minor, self.analytics.currency.code())
    }

    fn points(&self, points: &[crate::service::analytics::TrendPoint]) -> Vec<TrendPoint> {
        points
            .iter()
            .map(|p| TrendPoint {
                period: p.period.clone(),
                conversions: p.tally.conversions,
                total_value: p.tally.total_minor().map(|m| self.money(m)),
            })
            .collect()
    }
}

/// Conversion analytics for a dashboard (plan §2.1 and §4). Definitions: docs/api.md.
#[Object]
impl ConversionAnalytics {
    /// The reporting currency (ISO 4217): every total here is in it, except `byCurrency`.
    async fn currency(&self) -> &str {
        self.analytics.currency.code()
    }

    /// Each logged currency's own figures over the whole selection, in its own units.
    async fn by_currency(&self) -> Vec<CurrencyFigures> {
        by_currency(&self.analytics.summary, &self.analytics.missing_rates)
    }

    /// Currencies with valued conversions here but no rate into `currency` on their UTC
    /// dates, sorted; empty when every total is complete.
    async fn missing_rates(&self) -> &[String] {
        &self.analytics.missing_rates
    }

    /// The IANA time zone of the days, weeks and months.
    async fn time_zone(&self) -> &str {
        self.analytics.zone.name()
    }

    /// Totals over everything the filter selects.
    async fn summary(&self) -> AnalyticsSummary {
        let a = &self.analytics;
        AnalyticsSummary {
            total_conversions: a.summary.conversions,
            total_value: a.summary.total_minor().map(|m| self.money(m)),
            average_value: a.average_minor.map(|m| self.money(m)),
            conversion_rate: a.conversion_rate,
            contacts_received: a.contacts_received,
        }
    }

    /// Per workspace, ordered by id. A plain list: one entry per workspace, and only the admin
    /// creates workspaces (a workspace's own key sees at most itself).
    async fn by_workspace(&self) -> Vec<WorkspaceAnalytics> {
        self.analytics
            .by_workspace
            .iter()
            .map(|w| WorkspaceAnalytics {
                workspace_id: ID(w.workspace_id.clone()),
                conversions: w.tally.conversions,
                total_value: w.tally.total_minor().map(|m| self.money(m)),
                average_value: w.tally.average_minor().map(|m| self.money(m)),
                conversion_rate: w.conversion_rate,
                contacts_received: w.contacts_received,
            })
            .collect()
    }

    /// Per conversion type, most frequent first. A plain list: one entry per distinct type in
    /// the filter's conversions, read with one `GROUP BY`, never one entry per conversion.
    async fn by_type(&self) -> Vec<TypeCount> {
        self.analytics
            .by_type
            .iter()
            .map(|(t, tally)| TypeCount {
                conversion_type: t.clone(),
                conversions: tally.conversions,
                total_value: tally.total_minor().map(|m| self.money(m)),
            })
            .collect()
    }

    /// Daily, weekly and monthly trend lines.
    async fn trends(&self) -> Trends {
        Trends {
            daily: self.points(&self.analytics.daily),
            weekly: self.points(&self.analytics.weekly),
            monthly: self.points(&self.analytics.monthly),
        }
    }

    /// Leads received → qualified → appointments → conversions: always these four stages.
    async fn funnel(&self) -> Vec<FunnelStage> {
        self.analytics
            .funnel
            .iter()
            .map(|s| FunnelStage {
                stage: s.stage.to_owned(),
                count: s.count,
                percent: s.percent,
            })
            .collect()
    }
}
