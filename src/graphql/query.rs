//! Query root.

use super::connection::{AUDIT_LOG, CONTACTS, CountOf, Counted, Paging, connection};
use super::scalars::Decimal;
use super::types::{
    AuditEntry, Contact, Conversion, ConversionAnalytics, ConversionStats, Lead, ServiceInfo,
    StatsDimension, WeekStartDay, Workspace, WorkspaceActivity, conversion_page,
};
use super::{caller, services};
use crate::config::Hardening;
use crate::domain::{
    ContactId, ConversionStatus, ConversionType, Currency, DateRange, FunnelStage, LeadId,
    WorkspaceId, instant, optional_text, page_size, zone_or_utc,
};
use crate::error::AppError;
use crate::service::analytics as service_analytics;
use crate::service::audit::AuditFilter;
use crate::service::contact_list as service_contacts;
use crate::service::conversion::{self as service, MAX_LABEL};
use crate::service::stats::StatsQuery;
use crate::service::workspace::{ACTIVITY_DEFAULT, ACTIVITY_MAX};
use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

/// Read conversions, contacts, leads, workspaces and analytics.
#[derive(Default)]
pub struct QueryRoot;

/// Filters for `conversions`; all optional and combined with AND.
#[derive(InputObject, Default)]
pub struct ConversionFilter {
    /// Only this workspace (a workspace may name only itself).
    workspace_id: Option<ID>,
    /// From this date (`2024-01-01`, a whole day of `timeZone`) or RFC 3339 instant, inclusive.
    from_date: Option<String>,
    /// To this date (a whole day of `timeZone`) or RFC 3339 instant, inclusive.
    to_date: Option<String>,
    /// IANA time zone whose days `fromDate` and `toDate` name (default `UTC`).
    time_zone: Option<String>,
    /// Only this contact.
    contact_id: Option<ID>,
    /// Only this conversion type.
    conversion_type: Option<String>,
    /// Value at least this.
    min_value: Option<Decimal>,
    /// Value at most this.
    max_value: Option<Decimal>,
    /// Only conversions stored (`createdAt`) strictly after this instant, whatever their
    /// `convertedAt`: a feed that was disconnected asks for what it missed with this.
    created_after: Option<DateTime<Utc>>,
}

impl ConversionFilter {
    /// The service's filter, and the zone whose local days its dates name.
    fn parse(self) -> Result<(service::ConversionFilter, Tz), AppError> {
        let zone = zone_or_utc("time_zone", self.time_zone.as_deref())?;
        let amount = |field: &str, raw: Option<Decimal>| raw.map(|d| d.amount(field)).transpose();
        let filter = service::ConversionFilter {
            workspace_id: workspace("workspace_id", self.workspace_id)?,
            range: DateRange::dates(self.from_date.as_deref(), self.to_date.as_deref(), zone)?,
            contact_id: self
                .contact_id
                .map(|c| ContactId::parse("contact_id", &c))
                .transpose()?,
            conversion_type: conversion_type(self.conversion_type)?,
            min_value: amount("min_value", self.min_value)?,
            max_value: amount("max_value", self.max_value)?,
            created_after: self
                .created_after
                .map(|t| instant("created_after", t))
                .transpose()?,
        };
        Ok((filter, zone))
    }
}

fn workspace(field: &str, id: Option<ID>) -> Result<Option<WorkspaceId>, AppError> {
    id.map(|w| WorkspaceId::parse(field, &w)).transpose()
}

fn conversion_type(raw: Option<String>) -> Result<Option<ConversionType>, AppError> {
    raw.map(|t| ConversionType::parse("conversion_type", &t))
        .transpose()
}

/// Filters for `contacts`; all optional and combined with AND. With any of `workspaceId`,
/// `receivedFrom`, `receivedTo` or `reachedStage` the list is the funnel's drill-down:
/// contacts first received (by `workspaceId`; by your own workspace; or, for the admin, by
/// any workspace) within the period, as `conversionAnalytics.funnel` counts them. Without
/// them it is every contact you may see.
#[derive(InputObject, Default)]
pub struct ContactFilter {
    /// Received by this workspace (a workspace may name only itself).
    workspace_id: Option<ID>,
    /// First received on or after this date (`2024-01-01`, a whole day of `timeZone`) or
    /// RFC 3339 instant, as `ConversionFilter.fromDate`.
    received_from: Option<String>,
    /// First received on or before this date (a whole day of `timeZone`) or instant, inclusive.
    received_to: Option<String>,
    /// IANA time zone whose days `receivedFrom` and `receivedTo` name (default `UTC`).
    time_zone: Option<String>,
    /// Whose current status reached this funnel stage (the stage's contacts in the funnel:
    /// the status the receiving workspace reached itself).
    reached_stage: Option<FunnelStage>,
    /// Whose current status, as you see it (see `Contact`), is exactly this.
    status: Option<ConversionStatus>,
}

impl TryFrom<ContactFilter> for service_contacts::ContactFilter {
    type Error = AppError;

    fn try_from(f: ContactFilter) -> Result<Self, AppError> {
        let zone = zone_or_utc("time_zone", f.time_zone.as_deref())?;
        Ok(service_contacts::ContactFilter {
            workspace_id: workspace("workspace_id", f.workspace_id)?,
            received: DateRange::parse(
                "received_from",
                f.received_from.as_deref(),
                "received_to",
                f.received_to.as_deref(),
                zone,
            )?,
            reached: f.reached_stage,
            status: f.status,
        })
    }
}

/// Filters for `conversionAnalytics`; all optional.
#[derive(InputObject, Default)]
pub struct AnalyticsFilter {
    /// Only this workspace (a workspace may name only itself).
    workspace_id: Option<ID>,
    /// From this date or instant, inclusive.
    from_date: Option<String>,
    /// To this date or instant, inclusive.
    to_date: Option<String>,
    /// Count only conversions of this type.
    conversion_type: Option<String>,
    /// IANA time zone of the days, weeks and months (default `UTC`); dates are its days.
    time_zone: Option<String>,
    /// First day of a week in the weekly trend (default Monday).
    week_start: Option<WeekStartDay>,
    /// ISO 4217 currency of every total (default: the server's); other currencies are
    /// converted at the rate in force on each conversion's UTC date.
    reporting_currency: Option<String>,
}

/// Read conversions, contacts, leads, workspaces and analytics.
#[Object(name = "BaseQuery")]
impl QueryRoot {
    /// One conversion; null when it does not exist or is not yours.
    async fn conversion(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The conversion's id (a UUID).")] id: ID,
    ) -> Result<Option<Conversion>> {
        let Ok(id) = Uuid::parse_str(&id) else {
            return Ok(None);
        };
        let found = services(ctx)?.conversion(caller(ctx)?, id).await?;
        Ok(found.map(Conversion))
    }

    /// Conversions matching the filter, newest first (Relay connection).
    #[graphql(complexity = "super::connection::cost(first, last, child_complexity)")]
    async fn conversions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which conversions; all optional, combined with AND.")] filter: Option<
            ConversionFilter,
        >,
        #[graphql(
            desc = "Page forwards: this many items (0 to 200) from the start of the \
                          list, or after `after`. Without `first` and `last`: 50."
        )]
        first: Option<i32>,
        #[graphql(desc = "Page forwards from this cursor: the items that follow it (a \
                          page's `pageInfo.endCursor`).")]
        after: Option<String>,
        #[graphql(
            desc = "Page backwards: this many items (0 to 200) from the end of the \
                          list, or before `before`. Not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Page backwards from this cursor: the items that precede it (a \
                          page's `pageInfo.startCursor`)."
        )]
        before: Option<String>,
    ) -> Result<Counted<Conversion>> {
        let (filter, _) = filter.unwrap_or_default().parse()?;
        let paging = Paging {
            first,
            after,
            last,
            before,
        };
        conversion_page(ctx, filter, paging).await
    }

    /// One contact; null when it does not exist or is not yours.
    async fn contact(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The contact's id (a positive integer).")] id: ID,
    ) -> Result<Option<Contact>> {
        let id = ContactId::parse("id", &id)?;
        Ok(services(ctx)?.contact(caller(ctx)?, id).await?.map(Contact))
    }

    /// Contacts in id order: without a filter, those you created, sent, received, converted
    /// or updated; with one, the funnel's drill-down (see `ContactFilter`). `totalCount` counts
    /// each contact once, while a funnel stage's `count` counts (workspace, contact) pairs: the
    /// two are equal for one workspace (`workspaceId`, or a workspace's own key), and for the
    /// admin across all workspaces `totalCount` is smaller by the contacts that more than one
    /// workspace received in the period.
    #[graphql(complexity = "super::connection::cost(first, last, child_complexity)")]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which contacts; none gives every contact you may see.")] filter: Option<
            ContactFilter,
        >,
        #[graphql(
            desc = "Page forwards: this many items (0 to 200) from the start of the \
                          list, or after `after`. Without `first` and `last`: 50."
        )]
        first: Option<i32>,
        #[graphql(desc = "Page forwards from this cursor: the items that follow it (a \
                          page's `pageInfo.endCursor`).")]
        after: Option<String>,
        #[graphql(
            desc = "Page backwards: this many items (0 to 200) from the end of the \
                          list, or before `before`. Not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Page backwards from this cursor: the items that precede it (a \
                          page's `pageInfo.startCursor`)."
        )]
        before: Option<String>,
    ) -> Result<Counted<Contact>> {
        let filter = service_contacts::ContactFilter::try_from(filter.unwrap_or_default())?;
        let paging = Paging {
            first,
            after,
            last,
            before,
        };
        let window = paging.window(
            CONTACTS,
            |t| ContactId::parse("after", t).ok(),
            |id| id.0.to_string(),
        )?;
        let page = services(ctx)?
            .contacts(caller(ctx)?, &filter, &window)
            .await?;
        Ok(connection(
            CONTACTS,
            page,
            CountOf::Contacts(filter),
            |c| c.id.to_string(),
            Contact,
        ))
    }

    /// One lead; null when it does not exist or its contact is not yours.
    async fn lead(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The lead's id (a positive integer).")] id: ID,
    ) -> Result<Option<Lead>> {
        let id = LeadId::parse("id", &id)?;
        Ok(services(ctx)?.lead(caller(ctx)?, id).await?.map(Lead))
    }

    /// One workspace; a workspace sees only itself.
    async fn workspace(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The workspace's id, e.g. `salesforce_prod`.")] id: ID,
    ) -> Result<Option<Workspace>> {
        let id = WorkspaceId::parse("id", &id)?;
        Ok(services(ctx)?
            .workspace(caller(ctx)?, &id)
            .await?
            .map(Workspace))
    }

    /// All workspaces (admin), or just your own. A plain list: only the admin creates
    /// workspaces, so its length is the admin's choice, not something a tenant can grow.
    async fn workspaces(&self, ctx: &Context<'_>) -> Result<Vec<Workspace>> {
        let rows = services(ctx)?.workspaces(caller(ctx)?).await?;
        Ok(rows.into_iter().map(Workspace).collect())
    }

    /// The plan's §2.2 activity of one workspace.
    async fn workspace_activity(
        &self,
        ctx: &Context<'_>,
        workspace_id: ID,
        #[graphql(desc = "Recent entries, 1 to 100 (default 20).")] limit: Option<i32>,
    ) -> Result<WorkspaceActivity> {
        let id = WorkspaceId::parse("workspace_id", &workspace_id)?;
        let limit = page_size(
            "limit",
            limit.map(i64::from),
            ACTIVITY_DEFAULT,
            ACTIVITY_MAX,
        )?;
        let activity = services(ctx)?
            .workspace_activity(caller(ctx)?, &id, limit)
            .await?;
        Ok(WorkspaceActivity(activity))
    }

    /// Totals, rates, breakdowns, trends and the funnel.
    async fn conversion_analytics(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which conversions and which days; all optional.")] filter: Option<
            AnalyticsFilter,
        >,
    ) -> Result<ConversionAnalytics> {
        let services = services(ctx)?;
        let f = filter.unwrap_or_default();
        let zone = zone_or_utc("time_zone", f.time_zone.as_deref())?;
        let filter = service_analytics::AnalyticsFilter {
            workspace_id: workspace("workspace_id", f.workspace_id)?,
            range: DateRange::dates(f.from_date.as_deref(), f.to_date.as_deref(), zone)?,
            conversion_type: conversion_type(f.conversion_type)?,
            zone,
            week_start: f.week_start.map(Into::into).unwrap_or_default(),
            reporting_currency: reporting("reporting_currency", f.reporting_currency)?,
        };
        let analytics = services.analytics(caller(ctx)?, filter).await?;
        Ok(ConversionAnalytics { analytics })
    }

    /// Conversion figures grouped by any of workspace, type, contact status and one time
    /// bucket, with the same filters as `conversions`: the data behind one chart.
    async fn conversion_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which conversions; all optional, combined with AND.")] filter: Option<
            ConversionFilter,
        >,
        #[graphql(desc = "Dimensions to group by; empty gives one total.")] group_by: Vec<
            StatsDimension,
        >,
        #[graphql(desc = "First day of a week for `WEEK` (default Monday).")] week_start: Option<
            WeekStartDay,
        >,
        #[graphql(
            desc = "ISO 4217 currency of every total (default: the server's); other currencies are converted at the rate in force on each conversion's UTC date."
        )]
        reporting_currency: Option<String>,
    ) -> Result<ConversionStats> {
        let services = services(ctx)?;
        let filter = filter.unwrap_or_default();
        let (filter, zone) = filter.parse()?;
        let query = StatsQuery {
            filter,
            zone,
            week_start: week_start.map(Into::into).unwrap_or_default(),
            group_by: group_by.into_iter().map(Into::into).collect(),
            reporting_currency: reporting("reporting_currency", reporting_currency)?,
        };
        let time_zone = query.zone.name().to_owned();
        let stats = services.conversion_stats(caller(ctx)?, query).await?;
        Ok(ConversionStats { stats, time_zone })
    }

    /// The audit log, newest first (Relay connection). Admin only.
    #[expect(
        clippy::too_many_arguments,
        reason = "each argument is one of the field's GraphQL arguments"
    )]
    #[graphql(complexity = "super::connection::cost(first, last, child_complexity)")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only entries about this kind of object, e.g. `contact`.")]
        object_type: Option<String>,
        #[graphql(desc = "Only entries about the object with this id.")] object_id: Option<String>,
        #[graphql(desc = "Only entries by this actor: `admin` or `workspace:<id>`.")] actor: Option<
            String,
        >,
        #[graphql(
            desc = "Page forwards: this many items (0 to 200) from the start of the \
                          list, or after `after`. Without `first` and `last`: 50."
        )]
        first: Option<i32>,
        #[graphql(desc = "Page forwards from this cursor: the items that follow it (a \
                          page's `pageInfo.endCursor`).")]
        after: Option<String>,
        #[graphql(
            desc = "Page backwards: this many items (0 to 200) from the end of the \
                          list, or before `before`. Not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Page backwards from this cursor: the items that precede it (a \
                          page's `pageInfo.startCursor`)."
        )]
        before: Option<String>,
    ) -> Result<Counted<AuditEntry>> {
        // Free text compared with stored text: the same rule as every label.
        let label = |field: &str, raw: Option<String>| {
            raw.map(|t| optional_text(field, &t, MAX_LABEL)).transpose()
        };
        let filter = AuditFilter {
            object_type: label("object_type", object_type)?,
            object_id: label("object_id", object_id)?,
            actor: label("actor", actor)?,
        };
        let paging = Paging {
            first,
            after,
            last,
            before,
        };
        let window = paging.window(AUDIT_LOG, |t| t.parse::<i64>().ok(), i64::to_string)?;
        let page = services(ctx)?
            .audit_entries(caller(ctx)?, filter.clone(), &window)
            .await?;
        Ok(connection(
            AUDIT_LOG,
            page,
            CountOf::AuditEntries(filter),
            |e| e.id.to_string(),
            AuditEntry,
        ))
    }

    /// The server's currency, time zones and the limits a client must respect, and who you
    /// are. Any authenticated caller.
    async fn service_info(&self, ctx: &Context<'_>) -> Result<ServiceInfo> {
        let services = services(ctx)?;
        let principal = caller(ctx)?.principal.clone();
        Ok(ServiceInfo {
            services: services.clone(),
            limits: ctx.data::<Hardening>()?.clone(),
            rate_limit_per_hour: services.hourly_limit_of(&principal).await?,
            principal,
        })
    }
}

/// A reporting currency argument, parsed; errors name `field`.
fn reporting(field: &str, code: Option<String>) -> Result<Option<Currency>, AppError> {
    code.map(|c| Currency::parse(field, &c)).transpose()
}
