//! Keys and tokens: peppered key storage, rotation with a grace period, revocation, and
//! JWT secret rotation by key id. Minting: keys come only from current API keys with the right
//! to mint them, tokens only from keys, and a token dies with its key (the admin key too).

use crate::helpers::{
    ADMIN_KEY, Creds, JWT_SECRET, Refusal, TestApp, assert_graphql_error, assert_problem,
    expect_json, spawn_app_with,
};
use crate::rest_workspaces::{issue_token, resign, resign_with_kid};
use clap::Parser;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

const PEPPER: &str = "pepper-pepper-pepper-pepper-pepper-01";
const OLD_JWT_SECRET: &str = "old-secret-old-secret-old-secret-old-01";

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The key id convio derives for a secret: the first 8 hex digits of its SHA-256.
fn kid_of(secret: &str) -> String {
    sha256_hex(secret)[..8].to_owned()
}

async fn execute(database_url: &str, sql: &str) -> Vec<String> {
    let db = Database::connect(database_url).await.expect("connect");
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query");
    let hashes = rows
        .iter()
        .filter_map(|row| row.try_get::<String>("", "key_hash").ok())
        .collect();
    db.close().await.expect("close");
    hashes
}

async fn status(app: &crate::helpers::TestApp, creds: &Creds) -> u16 {
    app.get("/conversions", creds).await.status().as_u16()
}

const ROTATE: &str =
    "mutation($id: ID!) { rotateApiKey(workspaceId: $id) { apiKey previousKeysExpireAt } }";

/// `(all keys, keys without an expiry)` of a workspace, read from the database.
async fn key_rows(database_url: &str, workspace: &str) -> (i64, i64) {
    let db = Database::connect(database_url).await.expect("connect");
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT COUNT(*) AS total, COUNT(*) - COUNT(expires_at) AS open \
                 FROM api_keys WHERE workspace_id = '{workspace}'"
            ),
        ))
        .await
        .expect("query")
        .expect("a row");
    let counts = (
        row.try_get::<i64>("", "total").expect("total"),
        row.try_get::<i64>("", "open").expect("open"),
    );
    db.close().await.expect("close");
    counts
}

/// `POST /workspaces/{id}/keys/rotate` and `rotateApiKey` as `creds`: both must be refused
/// with `FORBIDDEN`.
async fn assert_rotation_forbidden(app: &TestApp, creds: &Creds, workspace: &str) {
    let rest = app
        .post_json(
            &format!("/workspaces/{workspace}/keys/rotate"),
            creds,
            &json!({}),
        )
        .await;
    assert_problem(rest, 403, "FORBIDDEN", None).await;
    let graphql = app.graphql(creds, ROTATE, json!({ "id": workspace })).await;
    assert_graphql_error(&graphql, "FORBIDDEN", None);
    assert!(graphql["data"].is_null(), "{graphql}");
}

async fn with_a_pepper_keys_are_stored_keyed_and_old_digests_still_work() {
    // Arrange
    let app = spawn_app_with(&["--key-pepper", PEPPER]).await;
    let key = app
        .register_workspace("workspace_123", &["read", "update", "convert"])
        .await;

    // Act
    let stored = execute(
        &app.database_url,
        "SELECT key_hash FROM api_keys WHERE workspace_id = 'workspace_123'",
    )
    .await;

    // Assert
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], sha256_hex(&key), "not the plain SHA-256");
    assert!(stored[0].starts_with("hmac1:"), "{}", stored[0]);
    assert_eq!(
        status(&app, &Creds::headers("workspace_123", &key)).await,
        200
    );

    // A key stored as plain SHA-256 before the pepper was configured keeps working.
    execute(
        &app.database_url,
        &format!(
            "UPDATE api_keys SET key_hash = '{}' WHERE workspace_id = 'workspace_123'",
            sha256_hex(&key)
        ),
    )
    .await;
    assert_eq!(
        status(&app, &Creds::headers("workspace_123", &key)).await,
        200
    );
}

async fn after_rotation_the_old_key_works_for_the_grace_period_only() {
    // Arrange
    let grace_seconds = 2;
    let app = spawn_app_with(&["--key-rotation-grace-seconds", &grace_seconds.to_string()]).await;
    let old = app.workspace("workspace_123").await;

    // Act
    let rotated = expect_json(
        app.post_json("/workspaces/workspace_123/keys/rotate", &old, &json!({}))
            .await,
        200,
    )
    .await;

    // Assert
    let new_key = rotated["api_key"].as_str().expect("a new key");
    assert!(new_key.starts_with("convio_"), "{new_key}");
    assert!(rotated["previous_keys_expire_at"].is_string(), "{rotated}");
    let new = Creds::headers("workspace_123", new_key);
    assert_eq!(status(&app, &new).await, 200, "the new key works");
    assert_eq!(
        status(&app, &old).await,
        200,
        "the old key works in the grace"
    );
    tokio::time::sleep(Duration::from_millis(grace_seconds * 1000 + 1200)).await;
    assert_problem(
        app.get("/conversions", &old).await,
        401,
        "UNAUTHENTICATED",
        None,
    )
    .await;
    assert_eq!(status(&app, &new).await, 200, "the new key still works");
}

async fn rotation_through_graphql_and_only_for_oneself() {
    // Arrange
    let app = spawn_app_with(&[]).await;
    let own = app.workspace("workspace_123").await;
    let other = app.workspace("workspace_456").await;
    let mutation =
        "mutation($id: ID!) { rotateApiKey(workspaceId: $id) { apiKey previousKeysExpireAt } }";

    // Act
    let data = app
        .graphql_data(&own, mutation, json!({ "id": "workspace_123" }))
        .await;
    let foreign = app
        .post_json("/workspaces/workspace_123/keys/rotate", &other, &json!({}))
        .await;

    // Assert
    let key = data["rotateApiKey"]["apiKey"].as_str().expect("a new key");
    assert_eq!(
        status(&app, &Creds::headers("workspace_123", key)).await,
        200
    );
    assert!(data["rotateApiKey"]["previousKeysExpireAt"].is_string());
    assert_problem(foreign, 403, "FORBIDDEN", None).await;
}

async fn revocation_stops_every_key_at_once_and_is_admin_only() {
    // Arrange
    let app = spawn_app_with(&[]).await;
    let first = app.workspace("workspace_123").await;
    let rotated = expect_json(
        app.post_json("/workspaces/workspace_123/keys/rotate", &first, &json!({}))
            .await,
        200,
    )
    .await;
    let second = Creds::headers("workspace_123", rotated["api_key"].as_str().unwrap());
    let bystander = app.workspace("workspace_456").await;

    // Act
    let by_workspace = app
        .post_json("/workspaces/workspace_123/keys/revoke", &first, &json!({}))
        .await;
    let by_admin = app
        .post_json(
            "/workspaces/workspace_123/keys/revoke",
            &app.admin,
            &json!({}),
        )
        .await;

    // Assert
    assert_problem(by_workspace, 403, "FORBIDDEN", None).await;
    let revoked = expect_json(by_admin, 200).await;
    assert_eq!(revoked["revoked"], 2);
    for creds in [&first, &second] {
        assert_problem(
            app.get("/conversions", creds).await,
            401,
            "UNAUTHENTICATED",
            None,
        )
        .await;
    }
    assert_eq!(
        status(&app, &bystander).await,
        200,
        "other workspaces unaffected"
    );
    let again = app
        .graphql_data(
            &app.admin,
            "mutation { revokeApiKeys(workspaceId: \"workspace_123\") }",
            json!({}),
        )
        .await;
    assert_eq!(again["revokeApiKeys"], 0, "nothing left to revoke");
}

async fn a_token_signed_with_a_listed_previous_secret_still_verifies() {
    // Arrange
    let previous = format!("{}={OLD_JWT_SECRET}", kid_of(OLD_JWT_SECRET));
    let rotated = spawn_app_with(&["--jwt-previous-secrets", &previous]).await;
    let unlisted = spawn_app_with(&[]).await;
    let mut tokens = Vec::new();
    for app in [&rotated, &unlisted] {
        let creds = app.workspace("workspace_123").await;
        let jwt = issue_token(app, &creds).await;
        // The same claims, as a node still on the old secret would have signed them.
        tokens.push(resign_with_kid(
            &jwt,
            OLD_JWT_SECRET,
            Some(&kid_of(OLD_JWT_SECRET)),
            |_| {},
        ));
    }

    // Act
    let listed = rotated
        .get("/conversions", &Creds::bearer(&tokens[0]))
        .await;
    let not_listed = unlisted
        .get("/conversions", &Creds::bearer(&tokens[1]))
        .await;

    // Assert
    assert_eq!(listed.status().as_u16(), 200);
    assert_problem(not_listed, 401, "UNAUTHENTICATED", None).await;
}

async fn a_token_with_an_unknown_or_missing_kid_is_refused() {
    // Arrange
    let app = spawn_app_with(&[]).await;
    let creds = app.workspace("workspace_123").await;
    let jwt = issue_token(&app, &creds).await;
    let control = resign(&jwt, JWT_SECRET, |_| {});
    let unknown = resign_with_kid(&jwt, JWT_SECRET, Some("deadbeef"), |_| {});
    let missing = resign_with_kid(&jwt, JWT_SECRET, None, |_| {});

    // Act + Assert
    assert_eq!(status(&app, &Creds::bearer(&control)).await, 200);
    for token in [unknown, missing] {
        let response = app.get("/conversions", &Creds::bearer(&token)).await;
        assert_problem(response, 401, "UNAUTHENTICATED", None).await;
    }
}

async fn revoking_a_workspace_s_keys_cancels_the_tokens_minted_from_them() {
    // Arrange
    let app = spawn_app_with(&[]).await;
    let creds = app.workspace("workspace_123").await;
    let bystander = app.workspace("workspace_456").await;
    let token = Creds::bearer(&issue_token(&app, &creds).await);
    let other_token = Creds::bearer(&issue_token(&app, &bystander).await);
    assert_eq!(status(&app, &token).await, 200, "the token works at first");

    // Act
    app.revoke_keys("workspace_123").await;

    // Assert
    let refused = app.get("/conversions", &token).await;
    assert_problem(refused, 401, "UNAUTHENTICATED", None).await;
    assert_eq!(
        status(&app, &other_token).await,
        200,
        "other tokens unaffected"
    );
}

async fn a_token_ends_with_the_grace_period_of_its_rotated_key() {
    // Arrange
    let grace_seconds = 2;
    let app = spawn_app_with(&["--key-rotation-grace-seconds", &grace_seconds.to_string()]).await;
    let old = app.workspace("workspace_123").await;
    let token = Creds::bearer(&issue_token(&app, &old).await);

    // Act
    expect_json(
        app.post_json("/workspaces/workspace_123/keys/rotate", &old, &json!({}))
            .await,
        200,
    )
    .await;

    // Assert
    assert_eq!(status(&app, &token).await, 200, "valid during the grace");
    tokio::time::sleep(Duration::from_millis(grace_seconds * 1000 + 1200)).await;
    let refused = app.get("/conversions", &token).await;
    assert_problem(refused, 401, "UNAUTHENTICATED", None).await;
}

async fn disabling_a_workspace_cancels_its_tokens() {
    // Arrange
    let app = spawn_app_with(&[]).await;
    let creds = app.workspace("workspace_123").await;
    let token = Creds::bearer(&issue_token(&app, &creds).await);

    assert_eq!(status(&app, &token).await, 200);

    // Act
    let disabled = app
        .post_json("/workspaces/workspace_123/disable", &app.admin, &json!({}))
        .await;
    assert_eq!(disabled.status().as_u16(), 200);

    // Assert
    let refused = app.get("/conversions", &token).await;
    assert_problem(refused, 401, "UNAUTHENTICATED", None).await;
}

async fn a_workspace_token_that_names_no_key_is_refused() {
    // Arrange
    let app = spawn_app_with(&[]).await;
    let creds = app.workspace("workspace_123").await;
    let jwt = issue_token(&app, &creds).await;
    // Correctly signed, but without the key it came from it cannot be checked for revocation.
    let keyless = resign(&jwt, JWT_SECRET, |claims| {
        claims.as_object_mut().expect("claims").remove("key");
    });
    let control = resign(&jwt, JWT_SECRET, |_| {});

    // Act + Assert
    assert_eq!(status(&app, &Creds::bearer(&control)).await, 200);
    let refused = app.get("/conversions", &Creds::bearer(&keyless)).await;
    assert_problem(refused, 401, "UNAUTHENTICATED", None).await;
}

async fn a_token_mints_no_key() {
    // Arrange
    let app = spawn_app_with(&[]).await;
    let key = app.workspace("workspace_123").await;
    let token = Creds::bearer(&issue_token(&app, &key).await);
    let admin_token = Creds::bearer(&issue_token(&app, &app.admin).await);

    // Act + Assert: neither the workspace's nor the admin's token rotates…
    assert_rotation_forbidden(&app, &token, "workspace_123").await;
    assert_rotation_forbidden(&app, &admin_token, "workspace_123").await;
    // …nor registers a workspace, which would mint a permanent key.
    let registered = app
        .post_json(
            "/workspaces/register",
            &admin_token,
            &json!({ "workspace_id": "minted", "workspace_name": "Minted", "permissions": ["admin"] }),
        )
        .await;
    assert_problem(registered, 403, "FORBIDDEN", None).await;
    let by_graphql = app
        .graphql(
            &admin_token,
            "mutation { registerWorkspace(input: {workspaceId: \"minted\", workspaceName: \"M\"}) { apiKey } }",
            json!({}),
        )
        .await;
    assert_graphql_error(&by_graphql, "FORBIDDEN", None);

    // Nothing was written: one key, still without an expiry, and no workspace `minted`.
    assert_eq!(key_rows(&app.database_url, "workspace_123").await, (1, 1));
    assert_eq!(key_rows(&app.database_url, "minted").await, (0, 0));
    assert_eq!(status(&app, &key).await, 200);
    // The key itself still rotates.
    let rotated = app
        .graphql_data(&key, ROTATE, json!({ "id": "workspace_123" }))
        .await;
    assert!(rotated["rotateApiKey"]["apiKey"].is_string(), "{rotated}");
}

async fn a_read_only_key_mints_no_key() {
    // Arrange
    let app = spawn_app_with(&[]).await;
    let reader = Creds::headers("reader", &app.register_workspace("reader", &["read"]).await);
    let converter = Creds::headers(
        "converter",
        &app.register_workspace("converter", &["read", "convert"])
            .await,
    );

    // Act + Assert
    assert_rotation_forbidden(&app, &reader, "reader").await;
    assert_rotation_forbidden(&app, &converter, "converter").await;
    assert_eq!(key_rows(&app.database_url, "reader").await, (1, 1));
    assert_eq!(key_rows(&app.database_url, "converter").await, (1, 1));
    // The admin rotates them.
    let by_admin = app
        .post_json("/workspaces/reader/keys/rotate", &app.admin, &json!({}))
        .await;
    expect_json(by_admin, 200).await;
    assert_eq!(key_rows(&app.database_url, "reader").await, (2, 1));
}

async fn a_key_rotated_out_cannot_rotate_again() {
    // Arrange
    let app = spawn_app_with(&[]).await;
    let first = app.workspace("workspace_123").await;
    let rotated = expect_json(
        app.post_json("/workspaces/workspace_123/keys/rotate", &first, &json!({}))
            .await,
        200,
    )
    .await;
    let second = Creds::headers("workspace_123", rotated["api_key"].as_str().unwrap());

    // Act + Assert: the first key, in its grace period, still reads but mints nothing, and its
    // successor keeps its open-ended life.
    assert_eq!(status(&app, &first).await, 200, "the grace period holds");
    assert_rotation_forbidden(&app, &first, "workspace_123").await;
    assert_eq!(key_rows(&app.database_url, "workspace_123").await, (2, 1));
    // The current key rotates.
    let again = app
        .graphql_data(&second, ROTATE, json!({ "id": "workspace_123" }))
        .await;
    assert!(again["rotateApiKey"]["apiKey"].is_string(), "{again}");
    assert_eq!(key_rows(&app.database_url, "workspace_123").await, (3, 1));
}

async fn two_rotations_with_one_key_at_once_mint_one_key() {
    // Arrange
    let app = spawn_app_with(&[]).await;
    let key = app.workspace("workspace_123").await;
    let rotate = || async {
        app.post_json("/workspaces/workspace_123/keys/rotate", &key, &json!({}))
            .await
            .status()
            .as_u16()
    };

    // Act
    let (a, b) = tokio::join!(rotate(), rotate());

    // Assert
    let mut statuses = [a, b];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 403]);
    assert_eq!(key_rows(&app.database_url, "workspace_123").await, (2, 1));
}

async fn a_token_is_not_exchanged_for_another() {
    // Arrange
    let app = spawn_app_with(&[]).await;
    let key = app.workspace("workspace_123").await;
    let tokens = [
        Creds::bearer(&issue_token(&app, &key).await),
        Creds::bearer(&issue_token(&app, &app.admin).await),
    ];

    // Act + Assert
    for token in &tokens {
        let exchanged = app
            .rest(reqwest::Method::POST, "/auth/token", token)
            .send()
            .await
            .expect("sent");
        assert_problem(exchanged, 403, "FORBIDDEN", None).await;
        assert_eq!(
            status(&app, token).await,
            200,
            "the token itself still works"
        );
    }
}

/// An in-process convio on `database_url` whose admin key is `admin_key`, with the suite's JWT
/// secret: a restart of the same deployment with the admin key changed.
async fn restarted_with_admin_key(database_url: &str, admin_key: &str) -> TestApp {
    let config = convio::Config::parse_from([
        "convio",
        "--bind",
        "127.0.0.1:0",
        "--database-url",
        database_url,
        "--admin-key",
        admin_key,
        "--jwt-secret",
        JWT_SECRET,
        "--db-max-connections",
        "5",
    ]);
    let server = convio::build(config).await.expect("app builds");
    let port = server.local_addr().port();
    tokio::spawn(server.serve());
    TestApp::attach(port)
}

async fn changing_the_admin_key_cancels_the_admin_tokens_minted_from_it() {
    // Arrange
    let before = spawn_app_with(&[]).await;
    let old_token = issue_token(&before, &before.admin).await;
    let new_key = "convio_admin_changed_key_0123456789abcdef";
    let after = restarted_with_admin_key(&before.database_url, new_key).await;
    let query = "{ workspaces { id } }";

    // Act
    let rest = after.get("/conversions", &Creds::bearer(&old_token)).await;
    let graphql = after
        .graphql(&Creds::bearer(&old_token), query, json!({}))
        .await;

    // Assert
    assert_problem(rest, 401, "UNAUTHENTICATED", None).await;
    assert_graphql_error(&graphql, "UNAUTHENTICATED", None);
    let new_token = issue_token(&after, &Creds::bearer(new_key)).await;
    assert_eq!(status(&after, &Creds::bearer(&new_token)).await, 200);
    assert_eq!(
        status(&after, &Creds::bearer(ADMIN_KEY)).await,
        401,
        "old key gone"
    );
    // Where the admin key is unchanged, the old token is as good as ever…
    assert_eq!(status(&before, &Creds::bearer(&old_token)).await, 200);
    // …but not once the claim tying it to that key is taken out.
    let unbound = resign(&old_token, JWT_SECRET, |claims| {
        let claims = claims.as_object_mut().expect("claims");
        assert!(claims.remove("akf").is_some(), "an admin-key fingerprint");
    });
    let refused = before.get("/conversions", &Creds::bearer(&unbound)).await;
    assert_problem(refused, 401, "UNAUTHENTICATED", None).await;
}

async fn an_x_workspace_id_contradicting_the_token_is_refused() {
    // Arrange
    let app = spawn_app_with(&[]).await;
    let key = app.workspace("workspace_123").await;
    app.workspace("workspace_456").await;
    let token = issue_token(&app, &key).await;
    let with_workspace = |workspace: &str, path: &str, method: reqwest::Method| {
        app.client
            .request(method, app.url(path))
            .bearer_auth(&token)
            .header("X-Workspace-ID", workspace)
    };
    let query = json!({ "query": "{ workspaces { id } }" });

    // Act
    let rest = with_workspace("workspace_456", "/conversions", reqwest::Method::GET)
        .send()
        .await
        .expect("sent");
    let graphql: Value = with_workspace("workspace_456", "/graphql", reqwest::Method::POST)
        .json(&query)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let mut socket = app.feed_socket().await;
    let ws = socket
        .init(json!({
            "Authorization": format!("Bearer {token}"),
            "X-Workspace-ID": "workspace_456",
        }))
        .await;

    // Assert
    assert_problem(rest, 401, "UNAUTHENTICATED", None).await;
    assert_graphql_error(&graphql, "UNAUTHENTICATED", None);
    match ws {
        Err(Refusal::Closed(code, reason)) => assert_eq!(code, Some(4403), "{reason}"),
        other => panic!("expected connection_init closed with 4403, got {other:?}"),
    }
    // The workspace the token names is fine.
    let matching = with_workspace("workspace_123", "/conversions", reqwest::Method::GET)
        .send()
        .await
        .expect("sent");
    assert_eq!(matching.status().as_u16(), 200);
}

crate::backend::on_both_backends!(
    a_token_mints_no_key,
    a_read_only_key_mints_no_key,
    a_key_rotated_out_cannot_rotate_again,
    two_rotations_with_one_key_at_once_mint_one_key,
    a_token_is_not_exchanged_for_another,
    changing_the_admin_key_cancels_the_admin_tokens_minted_from_it,
    an_x_workspace_id_contradicting_the_token_is_refused,
    with_a_pepper_keys_are_stored_keyed_and_old_digests_still_work,
    after_rotation_the_old_key_works_for_the_grace_period_only,
    rotation_through_graphql_and_only_for_oneself,
    revocation_stops_every_key_at_once_and_is_admin_only,
    a_token_signed_with_a_listed_previous_secret_still_verifies,
    a_token_with_an_unknown_or_missing_kid_is_refused,
    revoking_a_workspace_s_keys_cancels_the_tokens_minted_from_them,
    a_token_ends_with_the_grace_period_of_its_rotated_key,
    disabling_a_workspace_cancels_its_tokens,
    a_workspace_token_that_names_no_key_is_refused,
);
