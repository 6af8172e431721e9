//! Workspaces: registration (plan §2.2), keys and JWTs, permissions, activity, health.

use crate::helpers::{Creds, assert_problem, expect_json, spawn_app};
use serde_json::{Value, json};

async fn the_admin_registers_the_plans_workspace_and_its_key_works() {
    // Arrange
    let app = spawn_app().await;
    // Plan §2.2, verbatim.
    let body = json!({
      "workspace_id": "workspace_123",
      "workspace_name": "Sales Team Alpha",
      "api_key": "generated_api_key",
      "permissions": ["read", "update", "convert"]
    });

    // Act
    let response = app
        .post_json("/workspaces/register", &app.admin, &body)
        .await;

    // Assert
    let registered = expect_json(response, 201).await;
    assert_eq!(registered["workspace_id"], "workspace_123");
    assert_eq!(registered["workspace_name"], "Sales Team Alpha");
    assert_eq!(
        registered["permissions"],
        json!(["read", "update", "convert"])
    );
    assert_eq!(registered["api_key"], "generated_api_key");
    assert!(registered["created_at"].is_string());
    let with_headers = app
        .get(
            "/conversions",
            &Creds::headers("workspace_123", "generated_api_key"),
        )
        .await;
    assert_eq!(with_headers.status().as_u16(), 200);
    let with_bearer = app
        .get("/conversions", &Creds::bearer("generated_api_key"))
        .await;
    assert_eq!(with_bearer.status().as_u16(), 200);
}

/// Credentials that could name two callers (a key in `X-API-Key` and one in `Authorization`,
/// or a header given twice) are refused, never resolved by a precedence rule.
async fn credentials_given_twice_are_refused() {
    // Arrange
    let app = spawn_app().await;
    let alpha = app.register_workspace("alpha", &["read"]).await;
    let beta = app.register_workspace("beta", &["read"]).await;
    let get = || app.rest(reqwest::Method::GET, "/conversions", &Creds::Anonymous);

    // Act
    let key_and_bearer = get()
        .header("X-API-Key", &alpha)
        .bearer_auth(&beta)
        .send()
        .await
        .unwrap();
    let same_key_twice_over = get()
        .header("X-API-Key", &alpha)
        .bearer_auth(&alpha)
        .send()
        .await
        .unwrap();
    let two_keys = get()
        .header("X-API-Key", &beta)
        .header("X-API-Key", &alpha)
        .send()
        .await
        .unwrap();
    let one_key = get().header("X-API-Key", &alpha).send().await.unwrap();

    // Assert
    for refused in [key_and_bearer, same_key_twice_over, two_keys] {
        crate::helpers::assert_problem(refused, 401, "UNAUTHENTICATED", None).await;
    }
    assert_eq!(one_key.status().as_u16(), 200);
}

async fn a_generated_key_is_strong_and_shown_once() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app
        .post_json(
            "/workspaces/register",
            &app.admin,
            &json!({ "workspace_id": "workspace_123", "workspace_name": "Sales Team Alpha" }),
        )
        .await;

    // Assert
    let registered = expect_json(response, 201).await;
    let key = registered["api_key"].as_str().expect("a generated key");
    assert!(key.len() >= 32, "generated keys are long: {key}");
    assert_eq!(
        registered["permissions"],
        json!(["read", "update", "convert"]),
        "the default permissions"
    );
    let works = app
        .get("/conversions", &Creds::headers("workspace_123", key))
        .await;
    assert_eq!(works.status().as_u16(), 200);
    let graphql = app
        .graphql_data(
            &app.admin,
            "{ workspace(id: \"workspace_123\") { id name } }",
            json!({}),
        )
        .await;
    assert!(
        !graphql.to_string().contains(key),
        "the key is never shown again"
    );
}

async fn only_the_admin_may_register_workspaces() {
    // Arrange
    let app = spawn_app().await;
    let workspace_123 = app.workspace("workspace_123").await;
    let body = json!({ "workspace_id": "intruder", "workspace_name": "Intruder" });

    // Act
    let as_workspace = app
        .post_json("/workspaces/register", &workspace_123, &body)
        .await;
    let anonymous = app
        .post_json("/workspaces/register", &Creds::Anonymous, &body)
        .await;
    let bad_key = app
        .post_json(
            "/workspaces/register",
            &Creds::bearer("convio_admin_not_the_key_at_all"),
            &body,
        )
        .await;

    // Assert
    assert_problem(as_workspace, 403, "FORBIDDEN", None).await;
    assert_problem(anonymous, 401, "UNAUTHENTICATED", None).await;
    assert_problem(bad_key, 401, "UNAUTHENTICATED", None).await;
    let listed = app
        .graphql_data(&app.admin, "{ workspaces { id } }", json!({}))
        .await;
    assert_eq!(
        listed["workspaces"],
        json!([{ "id": "workspace_123" }]),
        "nothing registered"
    );
}

async fn registering_a_taken_id_is_a_conflict() {
    // Arrange
    let app = spawn_app().await;
    let first_key = app.register_workspace("workspace_123", &["read"]).await;

    // Act
    let response = app
        .post_json(
            "/workspaces/register",
            &app.admin,
            &json!({ "workspace_id": "workspace_123", "workspace_name": "Again" }),
        )
        .await;

    // Assert
    assert_problem(response, 409, "CONFLICT", None).await;
    let still_works = app
        .get("/conversions", &Creds::headers("workspace_123", &first_key))
        .await;
    assert_eq!(
        still_works.status().as_u16(),
        200,
        "the first key still works"
    );
}

async fn a_short_chosen_key_or_bad_workspace_id_is_refused() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let short_key = app
        .post_json(
            "/workspaces/register",
            &app.admin,
            &json!({ "workspace_id": "workspace_123", "workspace_name": "A", "api_key": "short" }),
        )
        .await;
    let bad_id = app
        .post_json(
            "/workspaces/register",
            &app.admin,
            &json!({ "workspace_id": "no spaces allowed", "workspace_name": "A" }),
        )
        .await;

    // Assert
    assert_problem(short_key, 422, "BAD_USER_INPUT", Some("api_key")).await;
    assert_problem(bad_id, 422, "BAD_USER_INPUT", Some("workspace_id")).await;
}

async fn a_key_presented_for_another_workspace_id_is_refused() {
    // Arrange
    let app = spawn_app().await;
    let key_123 = app.register_workspace("workspace_123", &["read"]).await;
    app.register_workspace("workspace_456", &["read"]).await;

    // Act
    let response = app
        .get("/conversions", &Creds::headers("workspace_456", &key_123))
        .await;

    // Assert
    assert_problem(response, 401, "UNAUTHENTICATED", None).await;
}

async fn permissions_limit_what_a_key_may_do() {
    // Arrange
    let app = spawn_app().await;
    let lead_gen = app.workspace("lead_gen_team").await;
    let reader_key = app.register_workspace("reader", &["read"]).await;
    let reader = Creds::headers("reader", &reader_key);
    app.contact_received_by(&lead_gen, 123456, "Jane Roe", "reader")
        .await;

    // Act
    let log = app
        .post_json(
            "/conversions/log",
            &reader,
            &json!({ "contact_id": 123456, "converted_by": "a", "conversion_type": "sale" }),
        )
        .await;
    let patch = app
        .patch_json(
            "/contacts/123456/conversion",
            &reader,
            &json!({ "conversion_status": "qualified" }),
        )
        .await;
    let read = app.get("/contacts/123456", &reader).await;

    // Assert
    assert_problem(log, 403, "FORBIDDEN", None).await;
    assert_problem(patch, 403, "FORBIDDEN", None).await;
    let contact = expect_json(read, 200).await;
    assert_eq!(contact["conversion_status"], "pending");
    assert_eq!(contact["conversion_count"], 0);
}

async fn activity_counts_what_a_workspace_received_sent_and_converted() {
    // Arrange: lead_gen sends three contacts to alpha; alpha passes one on to beta and
    // converts two of them.
    let app = spawn_app().await;
    let lead_gen = app.workspace("lead_gen_team").await;
    let alpha = app.workspace("alpha").await;
    let beta = app.workspace("beta").await;
    for id in [1001, 1002, 1003] {
        app.contact_received_by(&lead_gen, id, "Contact", "alpha")
            .await;
    }
    app.send_contact(&alpha, 1003, "beta").await;
    app.log_conversion(
        &alpha,
        json!({ "contact_id": 1001, "converted_by": "a", "conversion_type": "sale", "conversion_value": 100 }),
    )
    .await;
    let last = app
        .log_conversion(
            &alpha,
            json!({ "contact_id": 1002, "converted_by": "a", "conversion_type": "appointment" }),
        )
        .await;

    // Act
    let alpha_activity =
        expect_json(app.get("/workspaces/alpha/activity", &alpha).await, 200).await;
    let beta_activity = expect_json(app.get("/workspaces/beta/activity", &beta).await, 200).await;
    let lead_gen_activity = expect_json(
        app.get("/workspaces/lead_gen_team/activity", &app.admin)
            .await,
        200,
    )
    .await;
    let limited = expect_json(
        app.get("/workspaces/alpha/activity?limit=2", &alpha).await,
        200,
    )
    .await;

    // Assert
    assert_eq!(alpha_activity["workspace_id"], "alpha");
    assert_eq!(alpha_activity["total_contacts_received"], 3);
    assert_eq!(alpha_activity["total_contacts_sent"], 1);
    assert_eq!(alpha_activity["total_conversions"], 2);
    assert_eq!(alpha_activity["conversion_rate"], 66.67);
    let entries = alpha_activity["recent_activity"].as_array().unwrap();
    let mut actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions[0], "converted", "newest first");
    assert_eq!(entries[0]["contact_id"], 1002);
    assert_eq!(entries[0]["metadata"]["conversion_id"], last["id"]);
    actions.sort_unstable();
    assert_eq!(
        actions,
        vec![
            "converted",
            "converted",
            "received",
            "received",
            "received",
            "sent"
        ]
    );

    assert_eq!(beta_activity["total_contacts_received"], 1);
    assert_eq!(beta_activity["total_contacts_sent"], 0);
    assert_eq!(beta_activity["total_conversions"], 0);
    assert_eq!(beta_activity["conversion_rate"], 0.0);

    assert_eq!(lead_gen_activity["total_contacts_sent"], 3);
    assert_eq!(lead_gen_activity["total_contacts_received"], 0);
    assert_eq!(
        lead_gen_activity["conversion_rate"],
        Value::Null,
        "nothing received"
    );

    let limited = limited["recent_activity"].as_array().unwrap();
    assert_eq!(limited.len(), 2);
    assert!(limited.iter().all(|e| e["action"] == "converted"));
}

async fn a_token_from_auth_token_works_as_bearer() {
    // Arrange
    let app = spawn_app().await;
    let workspace_123 = app.workspace("workspace_123").await;

    // Act
    let response = app
        .rest(reqwest::Method::POST, "/auth/token", &workspace_123)
        .send()
        .await
        .unwrap();

    // Assert
    let token = expect_json(response, 200).await;
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 900);
    let jwt = token["access_token"].as_str().expect("an access token");
    assert_eq!(jwt.split('.').count(), 3, "a JWT: {jwt}");
    let jwt = Creds::bearer(jwt);
    let rest = app.get("/conversions", &jwt).await;
    assert_eq!(rest.status().as_u16(), 200);
    let graphql = app
        .graphql_data(&jwt, "{ workspaces { id } }", json!({}))
        .await;
    assert_eq!(graphql["workspaces"], json!([{ "id": "workspace_123" }]));
}

async fn a_tampered_or_anonymous_token_request_is_refused() {
    // Arrange
    let app = spawn_app().await;
    let workspace_123 = app.workspace("workspace_123").await;
    app.workspace("workspace_456").await;
    let token = expect_json(
        app.rest(reqwest::Method::POST, "/auth/token", &workspace_123)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let jwt = token["access_token"].as_str().unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();

    // A different payload under the original signature…
    let forged_payload = {
        let claims = decode_segment(parts[1]);
        let forged = claims.replace("workspace_123", "workspace_456");
        assert_ne!(claims, forged, "the claims name the workspace: {claims}");
        encode_segment(&forged)
    };
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    // …and the original payload under a damaged signature.
    let mut signature: Vec<char> = parts[2].chars().collect();
    signature[5] = if signature[5] == 'A' { 'B' } else { 'A' };
    let signature: String = signature.into_iter().collect();
    let resigned = format!("{}.{}.{}", parts[0], parts[1], signature);

    // Act
    let forged = app.get("/conversions", &Creds::bearer(&forged)).await;
    let resigned = app.get("/conversions", &Creds::bearer(&resigned)).await;
    let anonymous = app
        .rest(reqwest::Method::POST, "/auth/token", &Creds::Anonymous)
        .send()
        .await
        .unwrap();

    // Assert
    assert_problem(forged, 401, "UNAUTHENTICATED", None).await;
    assert_problem(resigned, 401, "UNAUTHENTICATED", None).await;
    assert_problem(anonymous, 401, "UNAUTHENTICATED", None).await;
}

async fn health_and_metrics_need_no_credentials() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let health = app.get("/healthz", &Creds::Anonymous).await;
    let metrics = app.get("/metrics", &Creds::Anonymous).await;

    // Assert
    // `status` is the contract; `checks` (per dependency) may grow.
    assert_eq!(expect_json(health, 200).await["status"], "ok");
    assert_eq!(metrics.status().as_u16(), 200);
    assert!(
        metrics
            .text()
            .await
            .unwrap()
            .contains("convio_db_statements_total")
    );
}

async fn everything_else_needs_credentials() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let list = app.get("/conversions", &Creds::Anonymous).await;
    let analytics = app.get("/conversions/analytics", &Creds::Anonymous).await;
    let contact = app.get("/contacts/1", &Creds::Anonymous).await;

    // Assert
    assert_problem(list, 401, "UNAUTHENTICATED", None).await;
    assert_problem(analytics, 401, "UNAUTHENTICATED", None).await;
    assert_problem(contact, 401, "UNAUTHENTICATED", None).await;
}

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding, as JWTs use it (no new dependency for two small functions).
fn encode_segment(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(B64URL[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn decode_segment(segment: &str) -> String {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in segment.bytes() {
        let v = B64URL.iter().position(|b| *b == c).expect("base64url") as u32;
        bits = bits << 6 | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8(out).expect("UTF-8 claims")
}

/// A JWT's claims, re-signed with `secret` after `change`, under the original `kid`.
pub fn resign(jwt: &str, secret: &str, change: impl FnOnce(&mut Value)) -> String {
    let header: Value = serde_json::from_str(&decode_segment(
        jwt.split('.').next().expect("a JWT header"),
    ))
    .expect("a JSON header");
    resign_with_kid(jwt, secret, header["kid"].as_str(), change)
}

/// A JWT's claims, re-signed with `secret` after `change`, with the given `kid` (or none).
pub fn resign_with_kid(
    jwt: &str,
    secret: &str,
    kid: Option<&str>,
    change: impl FnOnce(&mut Value),
) -> String {
    let claims = decode_segment(jwt.split('.').nth(1).expect("a JWT payload"));
    let mut claims: Value = serde_json::from_str(&claims).expect("JSON claims");
    change(&mut claims);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("a signed token")
}

pub async fn issue_token(app: &crate::helpers::TestApp, creds: &Creds) -> String {
    let token = expect_json(
        app.rest(reqwest::Method::POST, "/auth/token", creds)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    token["access_token"].as_str().unwrap().to_owned()
}

async fn a_token_is_hs256_for_convio_and_lives_fifteen_minutes() {
    // Arrange
    let app = spawn_app().await;
    let workspace_123 = app.workspace("workspace_123").await;

    // Act
    let jwt = issue_token(&app, &workspace_123).await;

    // Assert
    let parts: Vec<&str> = jwt.split('.').collect();
    let header: Value = serde_json::from_str(&decode_segment(parts[0])).unwrap();
    let claims: Value = serde_json::from_str(&decode_segment(parts[1])).unwrap();
    assert_eq!(header["alg"], "HS256");
    assert!(
        header["kid"].is_string(),
        "a key id names the secret: {header}"
    );
    assert_eq!(claims["iss"], "convio");
    assert_eq!(claims["aud"], "convio");
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 900);
}

async fn expired_foreign_and_unsigned_tokens_are_refused() {
    // Arrange
    let app = spawn_app().await;
    let workspace_123 = app.workspace("workspace_123").await;
    let jwt = issue_token(&app, &workspace_123).await;
    let now = chrono::Utc::now().timestamp();
    let secret = crate::helpers::JWT_SECRET;
    let control = resign(&jwt, secret, |_| {});
    let expired = resign(&jwt, secret, |c| {
        c["iat"] = json!(now - 4000);
        c["nbf"] = json!(now - 4000);
        c["exp"] = json!(now - 3600);
    });
    let other_audience = resign(&jwt, secret, |c| c["aud"] = json!("someone-else"));
    let other_issuer = resign(&jwt, secret, |c| c["iss"] = json!("someone-else"));
    let other_secret = resign(&jwt, "another-secret-another-secret-another", |_| {});
    let unsigned = {
        let parts: Vec<&str> = jwt.split('.').collect();
        format!(
            "{}.{}.",
            encode_segment(r#"{"alg":"none","typ":"JWT"}"#),
            parts[1]
        )
    };

    // Act + Assert: the same claims signed with the server's secret are fine…
    let ok = app.get("/conversions", &Creds::bearer(&control)).await;
    assert_eq!(
        ok.status().as_u16(),
        200,
        "re-signing with the secret keeps a token valid"
    );
    // …anything else is not.
    for (name, token) in [
        ("expired", expired),
        ("other audience", other_audience),
        ("other issuer", other_issuer),
        ("other secret", other_secret),
        ("alg none", unsigned),
    ] {
        let response = app.get("/conversions", &Creds::bearer(&token)).await;
        assert_eq!(response.status().as_u16(), 401, "{name} token accepted");
        assert_problem(response, 401, "UNAUTHENTICATED", None).await;
    }
}

async fn the_admin_key_also_works_as_x_api_key() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app
        .client
        .post(app.url("/workspaces/register"))
        .header("X-API-Key", crate::helpers::ADMIN_KEY)
        .json(&json!({ "workspace_id": "workspace_123", "workspace_name": "Sales Team Alpha" }))
        .send()
        .await
        .unwrap();

    // Assert
    let registered = expect_json(response, 201).await;
    assert_eq!(registered["workspace_id"], "workspace_123");
}

async fn graphiql_is_served_without_credentials() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app.get("/graphiql", &Creds::Anonymous).await;

    // Assert
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
}

crate::backend::on_both_backends!(
    the_admin_registers_the_plans_workspace_and_its_key_works,
    a_generated_key_is_strong_and_shown_once,
    credentials_given_twice_are_refused,
    only_the_admin_may_register_workspaces,
    registering_a_taken_id_is_a_conflict,
    a_short_chosen_key_or_bad_workspace_id_is_refused,
    a_key_presented_for_another_workspace_id_is_refused,
    permissions_limit_what_a_key_may_do,
    activity_counts_what_a_workspace_received_sent_and_converted,
    a_token_from_auth_token_works_as_bearer,
    a_tampered_or_anonymous_token_request_is_refused,
    health_and_metrics_need_no_credentials,
    everything_else_needs_credentials,
    a_token_is_hs256_for_convio_and_lives_fifteen_minutes,
    expired_foreign_and_unsigned_tokens_are_refused,
    the_admin_key_also_works_as_x_api_key,
    graphiql_is_served_without_credentials,
);
