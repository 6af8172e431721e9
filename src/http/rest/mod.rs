//! The REST shims of the plan (§2, §6), for integrators' webhooks, and their router, built
//! from the handlers' OpenAPI annotations so that the document and the routes are one list.

pub mod adjustments;
pub mod audit;
pub mod contacts;
pub mod conversions;
pub mod exchange_rates;
pub mod export;
pub mod webhooks;
pub mod workspaces;

use super::AppState;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

/// Every REST route, documented in `document` (the fixed parts of the OpenAPI document).
pub fn routes(document: utoipa::openapi::OpenApi) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(document)
        .routes(routes!(conversions::log))
        .routes(routes!(conversions::batch))
        .routes(routes!(conversions::list))
        .routes(routes!(conversions::analytics))
        .routes(routes!(export::export))
        .routes(routes!(conversions::show))
        .routes(routes!(adjustments::adjust))
        .routes(routes!(contacts::create))
        .routes(routes!(contacts::show))
        .routes(routes!(contacts::update_conversion))
        .routes(routes!(contacts::send))
        .routes(routes!(contacts::erase))
        .routes(routes!(contacts::create_lead))
        .routes(no_store(routes!(workspaces::register)))
        .routes(routes!(workspaces::update))
        .routes(routes!(workspaces::disable))
        .routes(routes!(workspaces::enable))
        .routes(routes!(workspaces::activity))
        .routes(no_store(routes!(workspaces::rotate_key)))
        .routes(routes!(workspaces::revoke_keys))
        .routes(no_store(routes!(workspaces::token)))
        .routes(routes!(audit::list))
        // One path, two methods: one `routes!`. The secret is in `create`'s answer.
        .routes(no_store(routes!(webhooks::create, webhooks::list)))
        .routes(routes!(webhooks::delete))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(exchange_rates::set, exchange_rates::list))
}

/// A route whose responses carry keys or tokens: `Cache-Control: no-store`.
fn no_store((schemas, paths, route): UtoipaMethodRouter<AppState>) -> UtoipaMethodRouter<AppState> {
    (schemas, paths, super::no_store(route))
}
