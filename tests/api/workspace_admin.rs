//! The admin disables, re-enables and changes a workspace (`POST /workspaces/{id}/disable`,
//! `/enable`, `PATCH /workspaces/{id}`; GraphQL `disableWorkspace`, `enableWorkspace`,
//! `updateWorkspace`): keys, tokens and live subscriptions stop at once, on every node, and
//! nothing of the workspace's data is lost.

use crate::backend::{Backend, fresh_postgres_database, run_on};
use crate::helpers::{
    Creds, FeedSocket, TestApp, assert_graphql_error, assert_problem, expect_json,
    refused_subscription_code, spawn_app_on, spawn_app_with,
};
use crate::rest_workspaces::issue_token;
use serde_json::{Value, json};

const WORKSPACE_FIELDS: &str = "id name permissions rateLimitPerHour disabledAt";

/// workspace_123 holds contact 123456 (received from lead_gen_team) and one sale on it.
async fn fixture(flags: &[&str]) -> (TestApp, Creds) {
    let app = spawn_app_with(flags).await;
    let workspace_123 = app.workspace("workspace_123").await;
    let lead_gen = app.workspace("lead_gen_team").await;
    app.contact_received_by(&lead_gen, 123456, "Jane Roe", "workspace_123")
        .await;
    app.log_conversion(
        &workspace_123,
        json!({ "contact_id": 123456, "converted_by": "agent", "conversion_type": "sale",
                "conversion_value": "100" }),
    )
    .await;
    (app, workspace_123)
}

async fn status(app: &TestApp, creds: &Creds) -> u16 {
    app.get("/conversions", creds).await.status().as_u16()
}

/// The audit entries about workspace `id`, oldest first, as `(action, details)`.
async fn audited(app: &TestApp, id: &str) -> Vec<(String, Value)> {
    let page = expect_json(
        app.get(
            &format!("/audit?object_type=workspace&object_id={id}"),
            &app.admin,
        )
        .await,
        200,
    )
    .await;
    let mut entries: Vec<(String, Value)> = page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["details"].clone(),
            )
        })
        .collect();
    entries.reverse();
    entries
}

fn instant(value: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("an instant")).expect("RFC 3339")
}

fn actions(entries: &[(String, Value)]) -> Vec<&str> {
    entries.iter().map(|(action, _)| action.as_str()).collect()
}

/// A workspace's conversions as the admin sees them.
async fn conversions_of(app: &TestApp, id: &str) -> Vec<Value> {
    let page = expect_json(
        app.get(&format!("/conversions?workspace_id={id}"), &app.admin)
            .await,
        200,
    )
    .await;
    page["conversions"].as_array().expect("conversions").clone()
}

async fn the_admin_disables_and_enables_a_workspace_over_rest_and_nothing_is_lost() {
    // Arrange
    let (app, key) = fixture(&[]).await;
    let token = Creds::bearer(&issue_token(&app, &key).await);
    let before = conversions_of(&app, "workspace_123").await;
    assert_eq!(before.len(), 1);

    // Act
    let disabled = expect_json(
        app.post_json("/workspaces/workspace_123/disable", &app.admin, &json!({}))
            .await,
        200,
    )
    .await;

    // Assert: the key and the token are refused through both doors…
    assert_eq!(disabled["workspace_id"], "workspace_123");
    assert!(disabled["disabled_at"].is_string(), "{disabled}");
    assert_eq!(
        disabled["permissions"],
        json!(["read", "update", "convert"])
    );
    for creds in [&key, &token] {
        assert_problem(
            app.get("/conversions", creds).await,
            401,
            "UNAUTHENTICATED",
            None,
        )
        .await;
        let graphql = app
            .graphql(creds, "{ conversions { nodes { id } } }", json!({}))
            .await;
        assert_graphql_error(&graphql, "UNAUTHENTICATED", None);
    }
    // …and no new token is minted from the key.
    let minted = app
        .rest(reqwest::Method::POST, "/auth/token", &key)
        .send()
        .await
        .expect("sent");
    assert_problem(minted, 401, "UNAUTHENTICATED", None).await;
    // The data is all there, and the workspace shows as disabled.
    assert_eq!(conversions_of(&app, "workspace_123").await, before);
    let shown = app
        .graphql_data(
            &app.admin,
            "{ workspace(id: \"workspace_123\") { disabledAt } }",
            json!({}),
        )
        .await;
    assert_eq!(
        instant(&shown["workspace"]["disabledAt"]),
        instant(&disabled["disabled_at"])
    );
    // Disabling again changes nothing.
    let again = expect_json(
        app.post_json("/workspaces/workspace_123/disable", &app.admin, &json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(again["disabled_at"], disabled["disabled_at"]);

    // Act: re-enable.
    let enabled = expect_json(
        app.post_json("/workspaces/workspace_123/enable", &app.admin, &json!({}))
            .await,
        200,
    )
    .await;

    // Assert: the same key works again, on the same data.
    assert!(enabled["disabled_at"].is_null(), "{enabled}");
    assert_eq!(status(&app, &key).await, 200);
    let own = expect_json(app.get("/conversions", &key).await, 200).await;
    assert_eq!(own["conversions"].as_array().map(Vec::len), Some(1));
    let trail = audited(&app, "workspace_123").await;
    assert_eq!(
        actions(&trail),
        [
            "workspace.registered",
            "workspace.disabled",
            "workspace.enabled"
        ]
    );
}

async fn the_admin_disables_and_enables_a_workspace_over_graphql() {
    // Arrange
    let (app, key) = fixture(&[]).await;
    let disable = format!(
        "mutation {{ disableWorkspace(workspaceId: \"workspace_123\") {{ {WORKSPACE_FIELDS} }} }}"
    );
    let enable = format!(
        "mutation {{ enableWorkspace(workspaceId: \"workspace_123\") {{ {WORKSPACE_FIELDS} }} }}"
    );

    // Act
    let disabled = app.graphql_data(&app.admin, &disable, json!({})).await;
    let while_disabled = status(&app, &key).await;
    let enabled = app.graphql_data(&app.admin, &enable, json!({})).await;

    // Assert
    assert!(
        disabled["disableWorkspace"]["disabledAt"].is_string(),
        "{disabled}"
    );
    assert_eq!(while_disabled, 401);
    assert!(
        enabled["enableWorkspace"]["disabledAt"].is_null(),
        "{enabled}"
    );
    assert_eq!(status(&app, &key).await, 200);
    assert_eq!(conversions_of(&app, "workspace_123").await.len(), 1);
    let trail = audited(&app, "workspace_123").await;
    assert_eq!(
        actions(&trail),
        [
            "workspace.registered",
            "workspace.disabled",
            "workspace.enabled"
        ]
    );
}

async fn only_the_admin_manages_workspaces_and_a_token_only_takes_access_away() {
    // Arrange
    let (app, key) = fixture(&[]).await;
    let other = app.workspace("workspace_456").await;
    let admin_token = Creds::bearer(&issue_token(&app, &app.admin).await);
    let patch = json!({ "permissions": ["read", "update", "convert", "admin"] });

    // Act + Assert: a workspace key manages no workspace, not even its own…
    for creds in [&key, &other] {
        for action in ["disable", "enable"] {
            let response = app
                .post_json(
                    &format!("/workspaces/workspace_123/{action}"),
                    creds,
                    &json!({}),
                )
                .await;
            assert_problem(response, 403, "FORBIDDEN", None).await;
        }
        let response = app
            .patch_json("/workspaces/workspace_123", creds, &patch)
            .await;
        assert_problem(response, 403, "FORBIDDEN", None).await;
        let graphql = app
            .graphql(
                creds,
                "mutation { disableWorkspace(workspaceId: \"workspace_123\") { id } }",
                json!({}),
            )
            .await;
        assert_graphql_error(&graphql, "FORBIDDEN", None);
    }
    // …an admin token may take access away, but not give it (nor widen it).
    let widen = app
        .patch_json("/workspaces/workspace_123", &admin_token, &patch)
        .await;
    assert_problem(widen, 403, "FORBIDDEN", None).await;
    let by_graphql = app
        .graphql(
            &admin_token,
            "mutation { updateWorkspace(workspaceId: \"workspace_123\", input: {permissions: [ADMIN]}) { id } }",
            json!({}),
        )
        .await;
    assert_graphql_error(&by_graphql, "FORBIDDEN", None);
    let disabled = app
        .post_json(
            "/workspaces/workspace_123/disable",
            &admin_token,
            &json!({}),
        )
        .await;
    expect_json(disabled, 200).await;
    let enable = app
        .post_json("/workspaces/workspace_123/enable", &admin_token, &json!({}))
        .await;
    assert_problem(enable, 403, "FORBIDDEN", None).await;

    // Nothing but the one disabling was written.
    assert_eq!(status(&app, &key).await, 401, "still disabled");
    let trail = audited(&app, "workspace_123").await;
    assert_eq!(
        actions(&trail),
        ["workspace.registered", "workspace.disabled"]
    );
    let shown = app
        .graphql_data(
            &app.admin,
            "{ workspace(id: \"workspace_123\") { permissions } }",
            json!({}),
        )
        .await;
    assert_eq!(
        shown["workspace"]["permissions"],
        json!(["READ", "UPDATE", "CONVERT"])
    );
}

async fn the_admin_changes_permissions_and_the_hourly_limit() {
    // Arrange
    let (app, key) = fixture(&[]).await;
    let sale = json!({ "contact_id": 123456, "converted_by": "agent", "conversion_type": "sale" });

    // Act: read-only, and three requests an hour (the fixture's sale was the first).
    let patched = expect_json(
        app.patch_json(
            "/workspaces/workspace_123",
            &app.admin,
            &json!({ "permissions": ["read"], "rate_limit_per_hour": 3 }),
        )
        .await,
        200,
    )
    .await;

    // Assert
    assert_eq!(patched["permissions"], json!(["read"]));
    assert_eq!(patched["rate_limit_per_hour"], 3);
    assert_eq!(patched["workspace_name"], "workspace_123 team", "unchanged");
    let log = app.post_json("/conversions/log", &key, &sale).await;
    assert_problem(log, 403, "FORBIDDEN", None).await;
    assert_eq!(status(&app, &key).await, 200);
    let over = app.get("/conversions", &key).await;
    assert_problem(over, 429, "RATE_LIMITED", None).await;

    // Act: back to the server's default limit and the three permissions, through GraphQL.
    let updated = app
        .graphql_data(
            &app.admin,
            &format!(
                "mutation {{ updateWorkspace(workspaceId: \"workspace_123\", \
                 input: {{permissions: [READ, UPDATE, CONVERT], rateLimitPerHour: null, \
                 workspaceName: \"Alpha\"}}) {{ {WORKSPACE_FIELDS} }} }}"
            ),
            json!({}),
        )
        .await;

    // Assert
    let updated = &updated["updateWorkspace"];
    assert_eq!(updated["permissions"], json!(["READ", "UPDATE", "CONVERT"]));
    assert!(updated["rateLimitPerHour"].is_null(), "{updated}");
    assert_eq!(updated["name"], "Alpha");
    app.log_conversion(&key, sale).await;
    let trail = audited(&app, "workspace_123").await;
    assert_eq!(
        actions(&trail),
        [
            "workspace.registered",
            "workspace.updated",
            "workspace.updated"
        ]
    );
    assert_eq!(
        trail[1].1,
        json!({
            "before": { "permissions": ["read", "update", "convert"], "rate_limit_per_hour": null },
            "after": { "permissions": ["read"], "rate_limit_per_hour": 3 },
        })
    );
    assert_eq!(trail[2].1["after"]["workspace_name"], "Alpha");
}

async fn a_bad_change_is_refused_and_writes_nothing() {
    // Arrange
    let (app, key) = fixture(&[]).await;

    // Act
    let bad_permission = app
        .patch_json(
            "/workspaces/workspace_123",
            &app.admin,
            &json!({ "permissions": ["read", "superuser"] }),
        )
        .await;
    let negative_limit = app
        .patch_json(
            "/workspaces/workspace_123",
            &app.admin,
            &json!({ "rate_limit_per_hour": -1 }),
        )
        .await;
    let empty_name = app
        .patch_json(
            "/workspaces/workspace_123",
            &app.admin,
            &json!({ "workspace_name": "  ", "permissions": ["read"] }),
        )
        .await;
    let unknown_field = app
        .patch_json(
            "/workspaces/workspace_123",
            &app.admin,
            &json!({ "disabled": true }),
        )
        .await;
    let unknown_workspace = app
        .patch_json(
            "/workspaces/nobody",
            &app.admin,
            &json!({ "permissions": ["read"] }),
        )
        .await;
    let disable_unknown = app
        .post_json("/workspaces/nobody/disable", &app.admin, &json!({}))
        .await;
    let graphql = app
        .graphql(
            &app.admin,
            "mutation { updateWorkspace(workspaceId: \"workspace_123\", input: {workspaceName: \"\"}) { id } }",
            json!({}),
        )
        .await;

    // Assert
    assert_problem(bad_permission, 422, "BAD_USER_INPUT", Some("permissions")).await;
    assert_problem(
        negative_limit,
        422,
        "BAD_USER_INPUT",
        Some("rate_limit_per_hour"),
    )
    .await;
    assert_problem(empty_name, 422, "BAD_USER_INPUT", Some("workspace_name")).await;
    assert_problem(unknown_field, 422, "BAD_USER_INPUT", Some("disabled")).await;
    assert_problem(unknown_workspace, 404, "NOT_FOUND", None).await;
    assert_problem(disable_unknown, 404, "NOT_FOUND", None).await;
    assert_graphql_error(&graphql, "BAD_USER_INPUT", Some("workspaceName"));
    let trail = audited(&app, "workspace_123").await;
    assert_eq!(actions(&trail), ["workspace.registered"]);
    app.log_conversion(
        &key,
        json!({ "contact_id": 123456, "converted_by": "a", "conversion_type": "sale" }),
    )
    .await;
}

/// Subscribes `creds` to the feed as subscription "1".
async fn subscribed(app: &TestApp, creds: &Creds) -> FeedSocket {
    app.subscribe_feed(creds, json!({})).await
}

/// The subscription "1" ends with `UNAUTHENTICATED` and the socket closes with 4403. Events
/// for conversions committed before the change may still arrive first (the fixture's sale can
/// reach a subscription opened just after it): they are skipped, the error must follow.
async fn assert_ended(socket: &mut FeedSocket) {
    let mut message = Value::Null;
    for _ in 0..3 {
        message = socket
            .next_message()
            .await
            .expect("the subscription is ended with an error within the wait");
        if message["type"] != "next" {
            break;
        }
    }
    assert_eq!(message["id"], "1", "{message}");
    assert_eq!(refused_subscription_code(&message), "UNAUTHENTICATED");
    let (code, reason) = socket.expect_close().await;
    assert_eq!(code, Some(4403), "{reason}");
}

/// An event reaches `socket` (which must still be open). As in [`assert_ended`], events of
/// conversions committed before may arrive first (the fixture's sale can reach a subscription
/// opened just after it): they are skipped, the new one must follow.
async fn assert_streaming(app: &TestApp, socket: &mut FeedSocket, workspace: &str) {
    let logged = app
        .log_conversion(
            &app.admin,
            json!({ "contact_id": 123456, "workspace_id": workspace,
                    "converted_by": "agent", "conversion_type": "sale" }),
        )
        .await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = socket.next_event().await.expect("still streaming");
        let id = event["data"]["conversionFeed"]["conversion"]["id"].clone();
        if id == logged["id"] {
            return;
        }
        seen.push(id);
    }
    panic!("{} never arrived; got {seen:?}", logged["id"]);
}

async fn disabling_ends_live_subscriptions_at_once() {
    // Arrange: the periodic re-check is an hour away, so only the disabling can end them.
    let (app, key) = fixture(&["--ws-recheck-seconds", "3600"]).await;
    let token = Creds::bearer(&issue_token(&app, &key).await);
    let mut by_key = subscribed(&app, &key).await;
    let mut by_token = subscribed(&app, &token).await;
    let mut bystander = subscribed(&app, &app.admin).await;
    app.wait_for_subscribers(3).await;

    // Act
    app.graphql_data(
        &app.admin,
        "mutation { disableWorkspace(workspaceId: \"workspace_123\") { id } }",
        json!({}),
    )
    .await;

    // Assert
    assert_ended(&mut by_key).await;
    assert_ended(&mut by_token).await;
    assert_streaming(&app, &mut bystander, "lead_gen_team").await;
    // Re-enabled, the key subscribes again.
    expect_json(
        app.post_json("/workspaces/workspace_123/enable", &app.admin, &json!({}))
            .await,
        200,
    )
    .await;
    let mut again = subscribed(&app, &key).await;
    app.wait_for_subscribers(2).await;
    assert_streaming(&app, &mut again, "workspace_123").await;
}

async fn a_change_of_permissions_ends_live_subscriptions_at_once() {
    // Arrange
    let (app, key) = fixture(&["--ws-recheck-seconds", "3600"]).await;
    let mut socket = subscribed(&app, &key).await;
    app.wait_for_subscribers(1).await;

    // Act: the workspace may no longer read.
    expect_json(
        app.patch_json(
            "/workspaces/workspace_123",
            &app.admin,
            &json!({ "permissions": ["convert"] }),
        )
        .await,
        200,
    )
    .await;

    // Assert
    assert_ended(&mut socket).await;
}

crate::backend::on_both_backends!(
    the_admin_disables_and_enables_a_workspace_over_rest_and_nothing_is_lost,
    the_admin_disables_and_enables_a_workspace_over_graphql,
    only_the_admin_manages_workspaces_and_a_token_only_takes_access_away,
    the_admin_changes_permissions_and_the_hourly_limit,
    a_bad_change_is_refused_and_writes_nothing,
    disabling_ends_live_subscriptions_at_once,
    a_change_of_permissions_ends_live_subscriptions_at_once,
);

/// Two nodes on one PostgreSQL database (a SQLite file is served by one process): a workspace
/// disabled through node A loses its subscriptions on node B at once, not at B's next
/// periodic re-check (an hour away here), through either door.
#[tokio::test]
async fn disabling_through_one_node_ends_subscriptions_on_another() {
    run_on(Backend::Postgres, async {
        // Arrange
        let url = fresh_postgres_database().await;
        let flags = ["--ws-recheck-seconds", "3600"];
        let a = spawn_app_on(&url, &flags).await;
        let b = spawn_app_on(&url, &flags).await;
        let alpha = a.workspace("alpha").await;
        let beta = a.workspace("beta").await;
        let mut alpha_on_b = subscribed(&b, &alpha).await;
        let beta_token = Creds::bearer(&issue_token(&a, &beta).await);
        let mut beta_on_b = subscribed(&b, &beta_token).await;
        b.wait_for_subscribers(2).await;

        // Act + Assert: REST on A ends alpha's subscription on B…
        expect_json(
            a.post_json("/workspaces/alpha/disable", &a.admin, &json!({}))
                .await,
            200,
        )
        .await;
        assert_ended(&mut alpha_on_b).await;
        // …and GraphQL on A ends beta's, held with a token.
        a.graphql_data(
            &a.admin,
            "mutation { disableWorkspace(workspaceId: \"beta\") { id } }",
            json!({}),
        )
        .await;
        assert_ended(&mut beta_on_b).await;
    })
    .await;
}

/// Revoking keys through one node ends their subscriptions on another at once, too.
#[tokio::test]
async fn revoking_through_one_node_ends_subscriptions_on_another() {
    run_on(Backend::Postgres, async {
        // Arrange
        let url = fresh_postgres_database().await;
        let flags = ["--ws-recheck-seconds", "3600"];
        let a = spawn_app_on(&url, &flags).await;
        let b = spawn_app_on(&url, &flags).await;
        let alpha = a.workspace("alpha").await;
        let mut on_b = subscribed(&b, &alpha).await;
        b.wait_for_subscribers(1).await;

        // Act
        a.revoke_keys("alpha").await;

        // Assert
        assert_ended(&mut on_b).await;
    })
    .await;
}
