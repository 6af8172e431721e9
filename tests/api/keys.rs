//! Keys and tokens: peppered key storage, rotation with a grace period, revocation, and
//! JWT secret rotation by key id.

use crate::helpers::{Creds, JWT_SECRET, assert_problem, expect_json, spawn_app_with};
use crate::rest_workspaces::{issue_token, resign, resign_with_kid};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::json;
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

    // Act
    execute(
        &app.database_url,
        "UPDATE workspaces SET disabled_at = created_at WHERE id = 'workspace_123'",
    )
    .await;

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

crate::backend::on_both_backends!(
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
