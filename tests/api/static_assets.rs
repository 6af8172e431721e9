//! The dashboard and GraphiQL as a browser gets them from the binary: pages, hashed assets,
//! ETag revalidation, compression, cache headers and the security headers.

use crate::helpers::{Creds, TestApp, assert_problem, spawn_app, spawn_app_with};
use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
};
use reqwest::{Method, Response};

const DASHBOARD_CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
     style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
     form-action 'self'";

async fn fetch(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = app.client.get(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request sent")
}

fn header(response: &Response, name: impl reqwest::header::AsHeaderName) -> &str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The `/…/assets/…` paths an HTML page references.
fn asset_paths(html: &str, prefix: &str) -> Vec<String> {
    html.split('"')
        .filter(|part| part.starts_with(&format!("{prefix}/assets/")))
        .map(str::to_owned)
        .collect()
}

/// A CSP that names no other host: no scheme, no wildcard, only keywords and `data:`.
fn assert_same_origin_only(csp: &str) {
    assert!(!csp.is_empty(), "no Content-Security-Policy");
    for word in csp.split([';', ' ']).filter(|w| !w.is_empty()) {
        let allowed = word.starts_with('\'')
            || word == "data:"
            || word.chars().all(|c| c.is_ascii_lowercase() || c == '-');
        assert!(allowed, "CSP allows `{word}`: {csp}");
    }
}

async fn the_dashboard_page_is_served_with_a_strict_policy() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let page = fetch(&app, "/dashboard", &[]).await;
    let slash = fetch(&app, "/dashboard/", &[]).await;

    // Assert
    assert_eq!(page.status().as_u16(), 200);
    assert!(header(&page, CONTENT_TYPE).starts_with("text/html"));
    assert_eq!(header(&page, CACHE_CONTROL), "no-cache");
    assert_eq!(header(&page, "content-security-policy"), DASHBOARD_CSP);
    assert_same_origin_only(header(&page, "content-security-policy"));
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    assert_eq!(header(&page, "referrer-policy"), "no-referrer");
    assert!(!header(&page, "x-request-id").is_empty(), "request id");
    assert!(!header(&page, ETAG).is_empty());
    assert_eq!(slash.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert_eq!(html, slash.text().await.unwrap());
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    assert!(
        !html.contains("<style") && !html.contains("style="),
        "{html}"
    );
}

async fn hashed_assets_are_cached_for_a_year_and_revalidated_by_etag() {
    // Arrange
    let app = spawn_app().await;
    let html = fetch(&app, "/dashboard", &[]).await.text().await.unwrap();
    let assets = asset_paths(&html, "/dashboard");
    assert!(assets.iter().any(|a| a.ends_with(".js")), "{html}");
    assert!(assets.iter().any(|a| a.ends_with(".css")), "{html}");

    for path in &assets {
        // Act
        let first = fetch(&app, path, &[]).await;
        let etag = header(&first, ETAG).to_owned();
        let again = fetch(&app, path, &[(IF_NONE_MATCH.as_str(), &etag)]).await;
        let changed = fetch(&app, path, &[(IF_NONE_MATCH.as_str(), "\"stale\"")]).await;

        // Assert
        assert_eq!(first.status().as_u16(), 200, "{path}");
        assert_eq!(
            header(&first, CACHE_CONTROL),
            "public, max-age=31536000, immutable"
        );
        assert!(etag.starts_with('"') && etag.len() > 10, "{path}: {etag}");
        assert_eq!(again.status().as_u16(), 304, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
        assert_eq!(changed.status().as_u16(), 200, "{path}");
    }
    let page = fetch(&app, "/dashboard", &[]).await;
    let etag = header(&page, ETAG).to_owned();
    let revalidated = fetch(&app, "/dashboard", &[(IF_NONE_MATCH.as_str(), &etag)]).await;
    assert_eq!(revalidated.status().as_u16(), 304);
}

async fn assets_are_compressed_as_the_client_accepts() {
    // Arrange
    let app = spawn_app().await;
    let html = fetch(&app, "/dashboard", &[]).await.text().await.unwrap();
    let script = asset_paths(&html, "/dashboard")
        .into_iter()
        .find(|a| a.ends_with(".js"))
        .unwrap();
    let accept = ACCEPT_ENCODING.as_str();

    // Act
    let plain = fetch(&app, &script, &[]).await;
    let gzip = fetch(&app, &script, &[(accept, "gzip")]).await;
    let brotli = fetch(&app, &script, &[(accept, "gzip, deflate, br")]).await;

    // Assert
    assert_eq!(header(&plain, CONTENT_ENCODING), "");
    assert!(header(&plain, CONTENT_TYPE).contains("javascript"));
    assert!(
        header(&plain, "vary")
            .to_ascii_lowercase()
            .contains("accept-encoding")
    );
    assert_eq!(header(&gzip, CONTENT_ENCODING), "gzip");
    assert_eq!(header(&brotli, CONTENT_ENCODING), "br");
    assert_eq!(header(&brotli, "content-security-policy"), DASHBOARD_CSP);
    let plain = plain.bytes().await.unwrap();
    let gzip = gzip.bytes().await.unwrap();
    let brotli = brotli.bytes().await.unwrap();
    assert_eq!(&gzip[..2], &[0x1f, 0x8b], "a gzip stream");
    assert!(gzip.len() < plain.len() / 2 && brotli.len() < gzip.len());
}

async fn graphiql_is_served_offline_except_in_production() {
    // Arrange
    let app = spawn_app().await;
    let production = spawn_app_with(&["--production", "true"]).await;

    // Act
    let page = fetch(&app, "/graphiql", &[]).await;
    let csp = header(&page, "content-security-policy").to_owned();
    let html = page.text().await.unwrap();
    let assets = asset_paths(&html, "/graphiql");
    let dashboard_in_production = fetch(&production, "/dashboard", &[]).await;
    let graphiql_in_production = fetch(&production, "/graphiql", &[]).await;
    let graphiql_asset_in_production = fetch(&production, &assets[0], &[]).await;

    // Assert
    assert_same_origin_only(&csp);
    assert!(csp.contains("script-src") || csp.contains("default-src 'self'"));
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    assert!(!assets.is_empty(), "{html}");
    for path in &assets {
        let asset = fetch(&app, path, &[]).await;
        assert_eq!(asset.status().as_u16(), 200, "{path}");
    }
    assert_eq!(dashboard_in_production.status().as_u16(), 200);
    assert_problem(graphiql_in_production, 404, "NOT_FOUND", None).await;
    assert_problem(graphiql_asset_in_production, 404, "NOT_FOUND", None).await;
}

async fn unknown_paths_get_problem_json_and_pages_are_not_rate_limited() {
    // Arrange
    let app = spawn_app_with(&["--rate-limit-per-hour", "2"]).await;
    let alpha = app.workspace("alpha").await;

    // Act
    let unknown_asset = fetch(&app, "/dashboard/assets/app-NOPE.js", &[]).await;
    let unknown_page = fetch(&app, "/dashboard/settings", &[]).await;
    let posted = app
        .rest(Method::POST, "/dashboard", &Creds::Anonymous)
        .send()
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let page = app
            .rest(Method::GET, "/dashboard", &alpha)
            .send()
            .await
            .unwrap();
        assert!(page.headers().get("x-ratelimit-remaining").is_none());
        statuses.push(page.status().as_u16());
    }

    // Assert
    assert_problem(unknown_asset, 404, "NOT_FOUND", None).await;
    assert_problem(unknown_page, 404, "NOT_FOUND", None).await;
    assert_problem(posted, 405, "BAD_USER_INPUT", None).await;
    assert_eq!(statuses, vec![200; 5]);
}

crate::backend::on_both_backends!(
    the_dashboard_page_is_served_with_a_strict_policy,
    hashed_assets_are_cached_for_a_year_and_revalidated_by_etag,
    assets_are_compressed_as_the_client_accepts,
    graphiql_is_served_offline_except_in_production,
    unknown_paths_get_problem_json_and_pages_are_not_rate_limited,
);
