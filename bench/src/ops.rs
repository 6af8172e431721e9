//! The operations the scenarios repeat: logging a conversion (REST or GraphQL) and the
//! dashboard reads (analytics and workspace activity, REST or GraphQL), each as a workspace.

use crate::cli::Reads;
use crate::client::{Api, Auth, FailureKey};
use crate::setup::Tenant;
use reqwest::Method;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    LogRest,
    LogGraphql,
    AnalyticsRest,
    AnalyticsGraphql,
    ActivityRest,
    ActivityGraphql,
}

/// Cycled through so that statuses move forward and analytics have every type to count.
const CONVERSION_TYPES: [&str; 3] = ["qualified", "appointment", "sale"];

/// Every section a dashboard draws, so the query costs what a real dashboard's does.
const ANALYTICS_QUERY: &str = "query Dashboard($filter: AnalyticsFilter) {
  conversionAnalytics(filter: $filter) {
    currency
    summary { totalConversions totalValue averageValue conversionRate contactsReceived }
    byWorkspace { workspaceId conversions totalValue conversionRate contactsReceived }
    byType { conversionType conversions totalValue }
    trends {
      daily { period conversions totalValue }
      weekly { period conversions totalValue }
      monthly { period conversions totalValue }
    }
    funnel { stage count percent }
  }
}";

const ACTIVITY_QUERY: &str = "query Activity($workspaceId: ID!) {
  workspaceActivity(workspaceId: $workspaceId) {
    workspaceId totalContactsReceived totalContactsSent totalConversions conversionRate
    recentActivity { id action contactId leadId timestamp metadata }
  }
}";

const LOG_MUTATION: &str = "mutation Log($input: LogConversionInput!) {
  logConversion(input: $input) { id createdAt }
}";

#[derive(Deserialize)]
struct Logged {
    id: Uuid,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogConversionData {
    log_conversion: Logged,
}

impl Op {
    /// The row name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Op::LogRest => "POST /conversions/log",
            Op::LogGraphql => "graphql logConversion",
            Op::AnalyticsRest => "GET /conversions/analytics",
            Op::AnalyticsGraphql => "graphql conversionAnalytics",
            Op::ActivityRest => "GET /workspaces/{id}/activity",
            Op::ActivityGraphql => "graphql workspaceActivity",
        }
    }

    /// Runs the operation once as `tenant`; `seq` varies the contact and conversion type.
    /// Reads take the view `reads` asks for: the admin's (optionally of one workspace, in a
    /// time zone) or the tenant's own.
    /// A logged conversion's id is returned so the feed can expect it.
    pub async fn run(
        self,
        api: &Api,
        tenant: &Tenant,
        seq: u64,
        reads: &Reads,
    ) -> Result<Option<Uuid>, FailureKey> {
        let webhook = Auth::Workspace {
            id: &tenant.id,
            key: &tenant.key,
        };
        let own = Auth::Bearer(&tenant.key);
        let dashboard = reads.admin.as_deref().map_or(own, Auth::Bearer);
        let read_workspace = reads.workspace.as_deref().unwrap_or(&tenant.id);
        match self {
            Op::LogRest => {
                let body = log_body(tenant, seq);
                let logged: Logged = api
                    .rest(Method::POST, "/conversions/log", webhook, Some(&body))
                    .await?;
                Ok(Some(logged.id))
            }
            Op::LogGraphql => {
                let input = log_input(tenant, seq);
                let data: LogConversionData = api
                    .graphql(own, LOG_MUTATION, json!({ "input": input }))
                    .await?;
                Ok(Some(data.log_conversion.id))
            }
            Op::AnalyticsRest => {
                let _: IgnoredAny = api
                    .rest(Method::GET, &analytics_path(reads), dashboard, None)
                    .await?;
                Ok(None)
            }
            Op::AnalyticsGraphql => {
                let _: IgnoredAny = api
                    .graphql(
                        dashboard,
                        ANALYTICS_QUERY,
                        json!({ "filter": analytics_filter(reads) }),
                    )
                    .await?;
                Ok(None)
            }
            Op::ActivityRest => {
                let path = format!("/workspaces/{read_workspace}/activity");
                let _: IgnoredAny = api.rest(Method::GET, &path, dashboard, None).await?;
                Ok(None)
            }
            Op::ActivityGraphql => {
                let variables = json!({ "workspaceId": read_workspace });
                let _: IgnoredAny = api.graphql(dashboard, ACTIVITY_QUERY, variables).await?;
                Ok(None)
            }
        }
    }
}

/// `GET /conversions/analytics` with the reads' filters.
fn analytics_path(reads: &Reads) -> String {
    let params: Vec<String> = [
        ("workspace_id", reads.workspace.as_deref()),
        ("time_zone", reads.time_zone.as_deref()),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| format!("{name}={v}")))
    .collect();
    match params.is_empty() {
        true => "/conversions/analytics".to_owned(),
        false => format!("/conversions/analytics?{}", params.join("&")),
    }
}

/// The `conversionAnalytics` filter with the reads' filters.
fn analytics_filter(reads: &Reads) -> Value {
    json!({ "workspaceId": reads.workspace, "timeZone": reads.time_zone })
}

/// The contact and type of the `seq`-th conversion of a tenant: contacts in turn, and each
/// contact's types in turn.
fn pick(tenant: &Tenant, seq: u64) -> (i64, &'static str) {
    let contacts = tenant.contacts.len() as u64;
    let contact = tenant.contacts[(seq % contacts) as usize];
    let kind = CONVERSION_TYPES[((seq / contacts) % CONVERSION_TYPES.len() as u64) as usize];
    (contact, kind)
}

/// A sale carries a value, as in the plan's examples; the other types carry none.
fn value_of(kind: &str) -> Option<&'static str> {
    (kind == "sale").then_some("250.00")
}

fn log_body(tenant: &Tenant, seq: u64) -> Value {
    let (contact, kind) = pick(tenant, seq);
    json!({
        "contact_id": contact,
        "workspace_id": tenant.id,
        "converted_by": "bench-agent",
        "conversion_type": kind,
        "conversion_value": value_of(kind),
        "custom_data": { "source": "convio-bench", "seq": seq },
    })
}

fn log_input(tenant: &Tenant, seq: u64) -> Value {
    let (contact, kind) = pick(tenant, seq);
    json!({
        "contactId": contact.to_string(),
        "convertedBy": "bench-agent",
        "conversionType": kind,
        "conversionValue": value_of(kind),
        "customData": { "source": "convio-bench", "seq": seq },
    })
}

#[cfg(test)]
mod tests {
    use super::pick;
    use crate::setup::Tenant;

    #[test]
    fn contacts_then_types_take_turns() {
        let tenant = Tenant {
            id: "w".into(),
            key: "k".into(),
            contacts: vec![10, 11],
        };
        let picks: Vec<_> = (0..6).map(|seq| pick(&tenant, seq)).collect();
        assert_eq!(
            picks,
            [
                (10, "qualified"),
                (11, "qualified"),
                (10, "appointment"),
                (11, "appointment"),
                (10, "sale"),
                (11, "sale"),
            ]
        );
    }
}
