//! `serviceInfo`: the server's settings a client must respect (currency, zones, limits), and
//! who the caller is, so a dashboard configures itself instead of hard-coding them.

use super::WeekStartDay;
use crate::auth::Principal;
use crate::config::Hardening;
use crate::domain::Permission;
use crate::service::Services;
use crate::service::page::MAX_PAGE;
use async_graphql::{ID, Object, Result, SimpleObject};

/// This server's settings and the limits a client must respect.
pub struct ServiceInfo {
    pub(crate) services: Services,
    pub(crate) limits: Hardening,
    pub(crate) principal: Principal,
    pub(crate) rate_limit_per_hour: u64,
}

/// Who the credentials of this request belong to.
#[derive(SimpleObject)]
pub struct CallerInfo {
    /// The caller's workspace; null for the admin key.
    workspace_id: Option<ID>,
    /// Whether the caller sees every workspace (the admin key, or a workspace granted `ADMIN`).
    is_admin: bool,
    /// What the caller's credentials allow.
    permissions: Vec<Permission>,
}

fn int(n: impl TryInto<i32>) -> i32 {
    n.try_into().unwrap_or(i32::MAX)
}

/// This server's settings and the limits a client must respect, and who the caller is.
#[Object]
impl ServiceInfo {
    /// ISO 4217 code of every amount on this server.
    async fn currency(&self) -> &str {
        self.services.currency.code()
    }

    /// The first of `--analytics-time-zones`: the zone a dashboard should default to.
    async fn default_time_zone(&self) -> &str {
        self.services
            .rollup_zones()
            .first()
            .map_or("UTC", |z| z.name())
    }

    /// IANA zones whose analytics are served from rollups (fast); other zones are exact but
    /// computed from the rows.
    async fn rollup_time_zones(&self) -> Vec<&str> {
        self.services
            .rollup_zones()
            .iter()
            .map(|z| z.name())
            .collect()
    }

    /// The first day of a week where a query names none.
    async fn week_start(&self) -> WeekStartDay {
        WeekStartDay::Monday
    }

    /// Largest page (`first`, REST `limit`) a list accepts.
    async fn max_page_size(&self) -> i32 {
        int(MAX_PAGE)
    }

    /// Requests per clock hour the caller may make (its workspace's own limit or the server
    /// default); 0 means unlimited, as for the admin key.
    async fn rate_limit_per_hour(&self) -> i32 {
        int(self.rate_limit_per_hour)
    }

    /// Lifetime of a JWT from `POST /auth/token`, in seconds: renew before it runs out.
    async fn token_ttl_seconds(&self) -> i32 {
        int(self.services.tokens.ttl_seconds)
    }

    /// Deepest selection nesting a GraphQL document may have (introspection has its own bound).
    async fn max_depth(&self) -> i32 {
        int(self.limits.graphql_max_depth)
    }

    /// Largest complexity a GraphQL document may have: one point per field, a connection
    /// counting its selection once per row of its page (`first`, default 50).
    async fn max_complexity(&self) -> i32 {
        int(self.limits.graphql_max_complexity)
    }

    /// Most field aliases one GraphQL document may use.
    async fn max_aliases(&self) -> i32 {
        int(self.limits.graphql_max_aliases)
    }

    /// Most data rows an .xlsx export may hold; more are refused (422): export CSV instead.
    async fn max_export_xlsx_rows(&self) -> i32 {
        int(self.services.export_limits().xlsx_max_rows)
    }

    /// Who the credentials of this request belong to.
    async fn caller(&self) -> Result<CallerInfo> {
        let p = &self.principal;
        Ok(CallerInfo {
            workspace_id: p.workspace().map(|w| ID(w.as_str().to_owned())),
            is_admin: p.is_admin(),
            permissions: p.permissions.clone(),
        })
    }
}
