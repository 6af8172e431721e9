//! The dashboard (`/dashboard`), GraphiQL (`/graphiql`) and the REST reference (`/docs`,
//! Swagger UI over `/openapi.json`): pages and hashed assets embedded
//! in the binary by build.rs, served by memory-serve with an ETag (and 304 to a matching
//! `If-None-Match`), brotli or gzip as the client accepts, `no-cache` for the HTML (always
//! revalidated, so a new build shows at once) and a year, immutable, for the assets (their
//! names carry a hash of their content). Every response carries a Content-Security-Policy
//! that allows nothing from another host, and no inline script.
//!
//! The pages take no credentials, so they never count against a workspace's rate limit.

use super::ops;
use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;
use memory_serve::{CacheControl, MemoryServe};
use std::sync::LazyLock;

/// The dashboard's policy: same-origin scripts, styles, data and WebSocket only.
pub const DASHBOARD_CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
     style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
     form-action 'self'";

/// GraphiQL's policy: the dashboard's, except that its editor and dialogs (CodeMirror,
/// Radix) inject `<style>` elements at run time. Scripts stay same-origin only.
pub const GRAPHIQL_CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
     style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'; form-action 'self'";

/// The REST reference's policy: the dashboard's, except that Swagger UI sets `style`
/// attributes and inline SVG icons at run time. Scripts stay same-origin only.
pub const DOCS_CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
     style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'; form-action 'self'";

/// Every file besides the HTML lives under `assets/` with a content hash in its name.
const HASHED_ASSET_CACHE: &str = "public, max-age=31536000, immutable";

// Built once per process: building decompresses and gzips every asset, and memory-serve
// keeps what it builds for the life of the process.
static DASHBOARD: LazyLock<Router> =
    LazyLock::new(|| pages(memory_serve::load!("dashboard"), DASHBOARD_CSP));
static GRAPHIQL: LazyLock<Router> =
    LazyLock::new(|| pages(memory_serve::load!("graphiql"), GRAPHIQL_CSP));
static DOCS: LazyLock<Router> = LazyLock::new(|| pages(memory_serve::load!("docs"), DOCS_CSP));

/// `/dashboard`, `/dashboard/` and `/dashboard/assets/…`, to nest at `/dashboard`.
pub fn dashboard() -> Router {
    DASHBOARD.clone()
}

/// `/docs`, `/docs/` and `/docs/assets/…` (the REST reference), to nest at `/docs`.
pub fn docs() -> Router {
    DOCS.clone()
}

/// `/graphiql`, `/graphiql/` and `/graphiql/assets/…`, to nest at `/graphiql`.
pub fn graphiql() -> Router {
    GRAPHIQL.clone()
}

fn pages(assets: MemoryServe, csp: &'static str) -> Router {
    let security_headers = move |mut response: Response| async move {
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        );
        response
    };
    assets
        .index_file(Some("/index.html"))
        .enable_gzip(true)
        .enable_brotli(true)
        .html_cache_control(CacheControl::NoCache)
        .cache_control(CacheControl::Custom(HASHED_ASSET_CACHE))
        .into_router()
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(axum::middleware::map_response(security_headers))
}
