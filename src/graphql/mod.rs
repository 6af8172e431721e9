//! The GraphQL schema: query, mutation and subscription roots merged from per-noun files.
//! `schema()` is a pure builder with no data, so `schema.graphql` can be generated from it.

mod connection;
mod depth;
mod documents;
mod exchange_rates;
mod limits;
pub(crate) mod loaders;
mod mutation;
mod query;
mod scalars;
mod subscription;
mod types;
mod webhooks;

use crate::auth::Caller;
use crate::config::Hardening;
use crate::error::AppError;
use crate::service::Services;
use async_graphql::{Context, Schema, SchemaBuilder};
pub use loaders::Loaders;
pub use subscription::{Delivery, FeedTap, fell_behind};

pub type ConvioSchema = Schema<Query, Mutation, subscription::SubscriptionRoot>;

/// Read conversions, contacts, leads, workspaces, analytics, webhook endpoints and
/// exchange rates.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Query")]
pub struct Query(
    query::QueryRoot,
    webhooks::WebhookQuery,
    exchange_rates::ExchangeRateQuery,
);

/// Log conversions, update contacts, register workspaces and webhook endpoints, set
/// exchange rates.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct Mutation(
    mutation::MutationRoot,
    webhooks::WebhookMutation,
    exchange_rates::ExchangeRateMutation,
);

/// The schema without data: for SDL export and as the base of `build`.
pub fn schema() -> Builder {
    Schema::build(
        Query::default(),
        Mutation::default(),
        subscription::SubscriptionRoot,
    )
}

/// The schema serving requests, with the services every resolver calls and the limits
/// that keep one document from costing the server more than a client should be allowed.
pub fn build(services: Services, limits: &Hardening) -> ConvioSchema {
    limited(schema(), limits)
        .extension(crate::observability::OperationMetrics::new(
            &services.metrics,
        ))
        // Last, so innermost: it stands in for the parser alone.
        .extension(documents::ParsedDocuments::default())
        .data(services)
        .data(limits.clone())
        .finish()
}

type Builder = SchemaBuilder<Query, Mutation, subscription::SubscriptionRoot>;

/// `builder` with the depth, complexity and alias limits, and production's switches.
fn limited(builder: Builder, limits: &Hardening) -> Builder {
    let mut builder = builder
        .limit_complexity(limits.graphql_max_complexity)
        .extension(limits::DocumentLimits {
            max_depth: limits.graphql_max_depth,
            max_aliases: limits.graphql_max_aliases,
        });
    if limits.production {
        // Strangers should not get a map of the API, nor hints at the names they guessed.
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder
}

/// The SDL as checked in at `schema.graphql`: fields, arguments and enum items sorted so
/// that the diff of a change shows only what changed.
pub fn sdl() -> String {
    schema().finish().sdl_with_options(
        async_graphql::SDLExportOptions::new()
            .sorted_fields()
            .sorted_arguments()
            .sorted_enum_items()
            .include_specified_by(),
    )
}

/// The outcome of authenticating one request or WebSocket connection. Resolvers ask for the
/// caller, so a query without credentials still reaches the schema (introspection works)
/// and fails field by field with `UNAUTHENTICATED`.
pub struct RequestAuth(pub Result<Caller, AppError>);

pub(crate) fn caller<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Caller> {
    match ctx.data::<RequestAuth>() {
        Ok(RequestAuth(Ok(caller))) => Ok(caller),
        Ok(RequestAuth(Err(err))) => Err(err.clone().into()),
        Err(_) => Err(AppError::Unauthenticated("no credentials".into()).into()),
    }
}

pub(crate) fn services<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Services> {
    ctx.data::<Services>()
}

#[cfg(test)]
mod tests {
    /// `schema.graphql` is generated: this fails when it drifts from the code.
    /// Regenerate with `UPDATE_SCHEMA=1 cargo test schema_is_current`.
    #[test]
    fn schema_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
        let generated = super::sdl();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &generated).expect("write schema.graphql");
            return;
        }
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "schema.graphql is out of date: run `UPDATE_SCHEMA=1 cargo test schema_is_current`"
        );
    }

    /// The standard introspection query of graphql-js passes every default limit, while the
    /// limits still refuse a deep ordinary query.
    #[tokio::test]
    async fn introspection_fits_the_default_limits() {
        use clap::Parser;
        let limits = crate::Config::parse_from(["convio"]).hardening;
        let schema = super::limited(super::schema(), &limits).finish();
        for query in [
            include_str!("../../tests/api/introspection_query.graphql"),
            include_str!("../../tests/api/introspection_query_full.graphql"),
        ] {
            let response = schema.execute(query).await;
            assert!(response.errors.is_empty(), "{:?}", response.errors);
        }
        // contact › conversions › nodes › (contact › conversions › nodes) ×4 › id: 16 levels.
        let deep = format!(
            "{{ contact(id: 1) {{ conversions(first: 1) {{ nodes {{ {} id {} }} }} }} }}",
            "contact { conversions(first: 1) { nodes { ".repeat(4),
            "} } }".repeat(4)
        );
        let response = schema.execute(deep.as_str()).await;
        assert!(
            response.errors[0].message.contains("too deep"),
            "{:?}",
            response.errors
        );
    }

    #[test]
    fn every_type_and_field_is_documented() {
        // Relay's `PageInfo` comes from the library, documented there.
        let library = ["PageInfo"];
        let (mut in_doc, mut documented, mut in_library_type) = (false, false, false);
        for line in super::sdl().lines() {
            let trimmed = line.trim();
            if trimmed == "\"\"\"" {
                in_doc = !in_doc;
                documented = !in_doc;
                continue;
            }
            if in_doc || trimmed.is_empty() {
                continue;
            }
            let mut words = trimmed.split_whitespace();
            let keyword = words.next().unwrap_or_default();
            let declares_type =
                ["type", "input", "enum"].contains(&keyword) && !line.starts_with('\t');
            if declares_type {
                in_library_type = library.contains(&words.next().unwrap_or_default());
            } else if keyword == "schema" {
                in_library_type = true;
            }
            let declares_field = line.starts_with('\t')
                && !line.starts_with("\t\t")
                && trimmed.starts_with(|c: char| c.is_ascii_alphabetic());
            if (declares_type || declares_field) && !in_library_type {
                assert!(documented, "undocumented in schema.graphql: {trimmed}");
            }
            documented = false;
        }
    }
}
