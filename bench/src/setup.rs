//! The setup phase, run with the admin key before any load: register the workspaces the load
//! is spread over and give each the contacts it converts. Every id starts with a fresh run id,
//! so runs can repeat against one database.

use crate::client::{Api, Auth, FailureKey};
use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

/// Setup requests in flight at once: enough to finish quickly, few enough not to be a load test.
const SETUP_PARALLELISM: usize = 8;

/// A workspace the load acts as, with its key and the contacts it received.
pub struct Tenant {
    pub id: String,
    pub key: String,
    pub contacts: Vec<i64>,
}

pub struct Fixture {
    pub run_id: String,
    pub tenants: Vec<Tenant>,
}

pub struct SetupPlan<'a> {
    pub admin_key: &'a str,
    pub workspaces: usize,
    pub contacts_per_workspace: usize,
    /// Each workspace's own `rate_limit_per_hour`; `None` leaves the server's default.
    pub rate_limit_per_hour: Option<u64>,
}

#[derive(Deserialize)]
struct Registered {
    api_key: String,
}

#[derive(Deserialize)]
struct Contact {
    id: i64,
}

pub async fn prepare(api: &Api, plan: &SetupPlan<'_>) -> Result<Fixture, String> {
    let run_id = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    // Contacts come from a lead-source workspace and are *sent* to the load's workspaces, as
    // in the plan: that records `received`, which conversion rates and the funnel count.
    let source = format!("{run_id}-source");
    register(api, plan, &source).await?;
    let tenants = stream::iter(0..plan.workspaces)
        .map(|i| tenant(api, plan, &source, format!("{run_id}-w{i:03}")))
        .buffered(SETUP_PARALLELISM)
        .try_collect()
        .await?;
    Ok(Fixture { run_id, tenants })
}

async fn tenant(
    api: &Api,
    plan: &SetupPlan<'_>,
    source: &str,
    id: String,
) -> Result<Tenant, String> {
    let key = register(api, plan, &id).await?;
    let mut contacts = Vec::with_capacity(plan.contacts_per_workspace);
    for n in 0..plan.contacts_per_workspace {
        contacts.push(send_contact(api, plan.admin_key, source, &id, n).await?);
    }
    Ok(Tenant { id, key, contacts })
}

async fn register(api: &Api, plan: &SetupPlan<'_>, id: &str) -> Result<String, String> {
    let mut body = json!({
        "workspace_id": id,
        "workspace_name": format!("convio-bench {id}"),
        "permissions": ["read", "update", "convert"],
    });
    if let Some(limit) = plan.rate_limit_per_hour {
        body["rate_limit_per_hour"] = json!(limit);
    }
    let registered: Registered = admin(api, plan.admin_key, "/workspaces/register", &body)
        .await
        .map_err(|e| format!("registering workspace {id}: {e}"))?;
    Ok(registered.api_key)
}

/// Creates a contact owned by `source` and sends it to `to`; the server assigns the id.
async fn send_contact(
    api: &Api,
    admin_key: &str,
    source: &str,
    to: &str,
    n: usize,
) -> Result<i64, String> {
    let body = json!({
        "name": format!("Bench Contact {n}"),
        "email": format!("contact{n}@{to}.example"),
        "workspace_id": source,
    });
    let contact: Contact = admin(api, admin_key, "/contacts", &body)
        .await
        .map_err(|e| format!("creating a contact for {to}: {e}"))?;
    let send = json!({ "to_workspace_id": to, "from_workspace_id": source });
    let path = format!("/contacts/{}/send", contact.id);
    let _: Value = admin(api, admin_key, &path, &send)
        .await
        .map_err(|e| format!("sending contact {} to {to}: {e}", contact.id))?;
    Ok(contact.id)
}

async fn admin<T: serde::de::DeserializeOwned>(
    api: &Api,
    admin_key: &str,
    path: &str,
    body: &Value,
) -> Result<T, FailureKey> {
    api.rest(Method::POST, path, Auth::Bearer(admin_key), Some(body))
        .await
}
