//! The REST contract as an OpenAPI 3.1 document, generated from the handlers' own annotations
//! (`utoipa`): the router of the REST routes is built from the same annotations
//! (`rest::routes`), so a documented path or method cannot drift from a served one. Served at
//! `/openapi.json`, printed by `convio openapi`, committed as `openapi.json` (a test fails when
//! it drifts).

use super::rest;
use utoipa::openapi::schema::SchemaType;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
use utoipa::{Modify, OpenApi};

/// The document's fixed parts: what the handlers do not say themselves.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "convio REST API",
        description = "Conversion tracking: workspaces log conversions against contacts and \
                       leads, update contacts, and read analytics. Errors are RFC 9457 \
                       `application/problem+json` bodies (`Problem`) whose `code` is stable and \
                       whose `field` names the input at fault. Every response to a workspace's \
                       credentials carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and \
                       `X-RateLimit-Reset` (the admin is not limited); a refusal over the limit \
                       is `429` with `Retry-After`. GraphQL (`/graphql`) is described by its own \
                       schema; docs/api.md says which permission each operation needs.",
        license(name = "MIT", identifier = "MIT"),
    ),
    servers((url = "/", description = "The server that serves this document")),
    modifiers(&Credentials),
    components(schemas(crate::error::Problem, TimeZone, PermissionName, ConversionStatusName)),
    tags(
        (name = "conversions", description = "Log conversions and read them back."),
        (name = "contacts", description = "Contacts and leads, their status and metadata."),
        (name = "workspaces", description = "Workspaces, their keys and activity."),
        (name = "audit", description = "The tamper-evident audit log (admin only)."),
        (name = "webhooks", description = "Outgoing webhooks: endpoints, signed deliveries (Standard Webhooks) and their log."),
        (name = "currencies", description = "Exchange rates for reporting in one currency."),
    )
)]
struct Document;

/// The two ways to present a credential, as security schemes.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "A workspace's (or the admin's) API key. `X-Workspace-ID` may name the key's \
                 workspace beside it; naming another is refused. Send one credential: a key \
                 here and another in `Authorization` is refused.",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key, or a JWT from `POST /auth/token` (15 minutes by default).",
                    ))
                    .build(),
            ),
        );
    }
}

/// The refusals every operation may answer, as shared responses, so that each handler lists
/// only its own: 401, 403, 422, 429 and 503 everywhere; 400 (a malformed query or body)
/// everywhere; 408, 413 and 415 where a body is read; 404 where the path names an object.
/// Every response carries the rate-limit headers of an authenticated caller.
struct Refusals;

/// (status, description, has `Retry-After`), the shared responses `Refusals` adds.
const REFUSALS: [(&str, &str, bool); 10] = [
    (
        "400",
        "Malformed: the body is not a JSON object, or the query string cannot be read (`BAD_USER_INPUT`)",
        false,
    ),
    (
        "401",
        "No, unknown, expired, revoked or ambiguous credentials (`UNAUTHENTICATED`)",
        false,
    ),
    (
        "403",
        "The credentials do not allow this (`FORBIDDEN`)",
        false,
    ),
    (
        "404",
        "No such object, or not one the caller may see (`NOT_FOUND`)",
        false,
    ),
    (
        "408",
        "The body did not arrive in time (`REQUEST_TIMEOUT`)",
        false,
    ),
    (
        "413",
        "The body is over the size limit (`PAYLOAD_TOO_LARGE`)",
        false,
    ),
    (
        "415",
        "The body is not declared as JSON (`BAD_USER_INPUT`)",
        false,
    ),
    (
        "422",
        "A value breaks a rule; `field` names it (`BAD_USER_INPUT`)",
        false,
    ),
    (
        "429",
        "Over the workspace's hourly limit, or too many failed authentications from this address (`RATE_LIMITED`)",
        true,
    ),
    (
        "503",
        "The database is busy; nothing was written (`DATABASE_BUSY`)",
        true,
    ),
];

impl Modify for Refusals {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Content, HeaderBuilder, Ref, ResponseBuilder};
        let components = openapi.components.get_or_insert_with(Default::default);
        let integer = |description: &str| {
            HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
                .description(Some(description))
                .build()
        };
        let problem = || Content::new(Some(Ref::from_schema_name("Problem")));
        for (status, description, retry) in REFUSALS {
            let mut response = ResponseBuilder::new()
                .description(description)
                .content("application/problem+json", problem());
            if retry {
                response =
                    response.header("Retry-After", integer("Seconds until a retry may succeed"));
            }
            components
                .responses
                .insert(format!("Problem{status}"), response.build().into());
        }
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.patch.as_mut(),
                item.delete.as_mut(),
            ];
            for operation in operations.into_iter().flatten() {
                let reads_body = operation.request_body.is_some();
                let names_object = operation
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| matches!(p, RefOr::T(p) if p.name == "id"));
                for (status, _, _) in REFUSALS {
                    let applies = match status {
                        "408" | "413" | "415" => reads_body,
                        "404" => names_object,
                        _ => true,
                    };
                    if applies {
                        operation
                            .responses
                            .responses
                            .entry(status.to_owned())
                            .or_insert_with(|| {
                                Ref::new(format!("#/components/responses/Problem{status}")).into()
                            });
                    }
                }
                // The operation's own responses (the shared ones are references).
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        for (name, what) in [
                            (
                                "X-RateLimit-Limit",
                                "Requests the workspace may make per hour",
                            ),
                            ("X-RateLimit-Remaining", "Requests left this hour"),
                            ("X-RateLimit-Reset", "Seconds until the hour is over"),
                        ] {
                            response
                                .headers
                                .entry(name.to_owned())
                                .or_insert_with(|| integer(what).into());
                        }
                    }
                }
            }
        }
    }
}

/// The whole document: the fixed parts and every REST route's.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = rest::routes(Document::openapi()).into_openapi();
    Refusals.modify(&mut document);
    document
}

/// [`document`] as pretty-printed JSON, as committed in `openapi.json`.
pub fn json() -> String {
    document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// An exact amount as REST writes it: a JSON number with the currency's decimal places
/// (`25000.00`), never rounded through a binary double.
pub fn money() -> RefOr<Schema> {
    amount_schema(Type::Number.into())
}

/// [`money`], or `null` when there is no amount.
pub fn money_or_null() -> RefOr<Schema> {
    amount_schema(SchemaType::from_iter([Type::Number, Type::Null]))
}

fn amount_schema(schema_type: SchemaType) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(schema_type)
        .description(Some(
            "An exact amount in `currency`, written with its decimal places (25000.00).",
        ))
        .examples([serde_json::json!(25000.00)])
        .build()
        .into()
}

/// A decimal amount as text: at most 10¹² units and three decimal places (the most any
/// accepted currency has, BHD's; trailing zeros aside). The query parameters `min_value` and
/// `max_value`, in the server's currency, spell the two-place pattern out (an attribute takes
/// only a literal).
const AMOUNT_TEXT: &str = r"^([0-9]{1,12}(\.[0-9]{1,3}0*)?|1000000000000(\.0+)?)$";

/// An amount as a client sends it: a JSON number or a decimal string, read from its literal
/// text (`domain::Amount`): not negative, at most 10¹² units, at most the currency's decimal
/// places (none for JPY, two for USD, three for BHD), no exponent.
pub fn amount_input() -> RefOr<Schema> {
    let number = ObjectBuilder::new()
        .schema_type(Type::Number)
        .minimum(Some(0))
        .maximum(Some(1_000_000_000_000_i64))
        .multiple_of(Some(0.001));
    let text = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(AMOUNT_TEXT));
    let any_of = utoipa::openapi::schema::AnyOfBuilder::new()
        .item(number)
        .item(text)
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(
            "An exact amount: a JSON number or a decimal string (\"18500.50\"), not negative, \
             at most the currency's decimal places, no exponent. Never rounded.",
        ))
        .examples([serde_json::json!(25000), serde_json::json!("18500.50")])
        .build();
    RefOr::T(Schema::AnyOf(any_of))
}

/// A permission of a workspace's credentials: the component `PermissionName`, an enumeration
/// of `domain::Permission`'s names.
pub struct PermissionName;

impl utoipa::PartialSchema for PermissionName {
    fn schema() -> RefOr<Schema> {
        names(
            crate::domain::Permission::ALL.map(|p| p.as_str()),
            "What a workspace's credentials allow.",
        )
    }
}

impl utoipa::ToSchema for PermissionName {}

/// Where a contact stands in the funnel: the component `ConversionStatusName`, an enumeration
/// of `domain::ConversionStatus`'s names.
pub struct ConversionStatusName;

impl utoipa::PartialSchema for ConversionStatusName {
    fn schema() -> RefOr<Schema> {
        names(
            crate::domain::ConversionStatus::ALL.map(|s| s.as_str()),
            "Where a contact stands in the funnel.",
        )
    }
}

impl utoipa::ToSchema for ConversionStatusName {}

fn names<const N: usize>(names: [&str; N], description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
        .description(Some(description))
        .build()
        .into()
}

/// An IANA time zone name that convio knows (`Europe/Berlin`), for the query parameters
/// that take one: the component `TimeZone`.
pub struct TimeZone;

impl utoipa::PartialSchema for TimeZone {
    fn schema() -> RefOr<Schema> {
        // Not an enumeration: several names differ only in characters generators drop
        // (`GMT+0`, `GMT-0`, `GMT0`), which breaks the enum types they build.
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^$|^[A-Za-z][A-Za-z0-9_+/-]{0,63}$"))
            .description(Some(
                "An IANA time zone name convio knows, e.g. `Europe/Berlin` (empty, like \
                 absent: UTC); any other name is refused with 422.",
            ))
            .examples([serde_json::json!("Europe/Berlin")])
            .build()
            .into()
    }
}

impl utoipa::ToSchema for TimeZone {}

/// An id that is a JSON integer or its decimal text (`123456` or `"123456"`).
pub fn integer_id() -> RefOr<Schema> {
    id_schema(
        crate::domain::ASSIGNED_ID_MAX,
        16,
        "A contact's or lead's id, as a JSON integer or its decimal text.",
    )
}

/// An id a client chooses for a new contact or lead: at most `CLIENT_ID_MAX`, below the ids
/// convio assigns itself.
pub fn chosen_id() -> RefOr<Schema> {
    id_schema(
        crate::domain::CLIENT_ID_MAX,
        15,
        "An id of your own, 1 to 999999999999999 (convio assigns larger ones itself), as a \
         JSON integer or its decimal text; leave it out to have one assigned.",
    )
}

fn id_schema(max: i64, digits: usize, description: &str) -> RefOr<Schema> {
    let number = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(max));
    let text = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^[1-9][0-9]{{0,{}}}$", digits - 1)));
    let any_of = utoipa::openapi::schema::AnyOfBuilder::new()
        .item(number)
        .item(text)
        .description(Some(description))
        .examples([serde_json::json!(123456)])
        .build();
    RefOr::T(Schema::AnyOf(any_of))
}

/// Free-form JSON an integration stores beside a record (an object; see docs/api.md for
/// the size limits and the `secret_` keys).
pub fn custom_json() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .additional_properties(Some(
            utoipa::openapi::schema::AdditionalProperties::FreeForm(true),
        ))
        .description(Some(
            "A JSON object of your own (at most 16 KiB, nested at most 8 deep); numbers are kept \
             exactly or refused. \
             Values under keys starting with `secret_` are encrypted at rest.",
        ))
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use crate::http::rest::conversions::FILTER_PARAMS;

    #[test]
    fn openapi_json_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
        let generated = format!("{}\n", super::json());
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &generated).expect("write openapi.json");
            return;
        }
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "openapi.json is out of date: run `UPDATE_SCHEMA=1 cargo test openapi_json_is_current`"
        );
    }

    /// The query parameters a handler takes are listed twice, in its annotation and in the
    /// names it accepts (everything else is refused): the two must agree.
    #[test]
    fn documented_query_parameters_are_the_accepted_ones() {
        let document = super::document();
        let query = |path: &str| -> Vec<String> {
            let item = &document.paths.paths[path];
            let operation = item.get.as_ref().expect("a GET");
            let mut names: Vec<String> = operation
                .parameters
                .iter()
                .flatten()
                .filter_map(|p| match p {
                    utoipa::openapi::RefOr::T(p)
                        if matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query) =>
                    {
                        Some(p.name.clone())
                    }
                    _ => None,
                })
                .collect();
            names.sort();
            names
        };
        let sorted = |names: &[&str]| {
            let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            names.sort();
            names
        };
        let list = [FILTER_PARAMS, &["limit", "after"]].concat();
        assert_eq!(query("/conversions"), sorted(&list));
        let export = [FILTER_PARAMS, crate::http::rest::export::EXPORT_PARAMS].concat();
        assert_eq!(query("/conversions/export"), sorted(&export));
        assert_eq!(
            query("/conversions/analytics"),
            sorted(crate::http::rest::conversions::ANALYTICS_PARAMS)
        );
        assert_eq!(
            query("/audit"),
            sorted(crate::http::rest::audit::LIST_PARAMS)
        );
        assert_eq!(query("/workspaces/{id}/activity"), sorted(&["limit"]));
    }
}
