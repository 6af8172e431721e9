//! A GraphQL-over-HTTP request, read from a POST body or a GET query string into the library's
//! request. Anything that is not a well-formed request (the spec's four parameters, each of its
//! type) is refused as `Malformed`, naming the parameter at fault.

use crate::domain::{inexact_number_in_graphql, inexact_number_in_json};
use crate::error::{AppError, AppResult};
use async_graphql::{Extensions, Request, Variables};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// The parameters of a request; no other name is accepted, so a misspelt one is not dropped.
const PARAMETERS: &str = "query, operationName, variables, extensions";

/// A POST body: one JSON object with `query` (a string) and optionally `operationName` (a
/// string), `variables` and `extensions` (objects); `null` is the same as leaving one out.
/// Batches (a JSON array of requests) are refused: one HTTP request is one operation, counted
/// once against the rate limit.
pub fn from_body(body: &[u8]) -> AppResult<Request> {
    let text = std::str::from_utf8(body)
        .map_err(|_| AppError::malformed(None, "the body is not valid UTF-8"))?;
    match text.trim_start().as_bytes().first() {
        None => {
            return Err(AppError::malformed(
                None,
                r#"the body is empty: send a JSON object such as {"query": "{ __typename }"}"#,
            ));
        }
        Some(b'[') => {
            return Err(AppError::malformed(
                None,
                "batched requests are not supported: send one operation per request",
            ));
        }
        Some(b'{') => {}
        Some(_) if serde_json::from_str::<&RawValue>(text).is_ok() => {
            return Err(AppError::malformed(
                None,
                "the body must be a JSON object with a `query`",
            ));
        }
        Some(_) => {}
    }
    let fields: BTreeMap<String, Box<RawValue>> = serde_json::from_str(text).map_err(|e| {
        AppError::malformed(None, format!("the body is not valid JSON: {}", detail(&e)))
    })?;
    let mut fields = Fields(
        fields
            .into_iter()
            .filter(|(_, value)| value.get() != "null")
            .collect(),
    );
    let (query, operation_name, variables, extensions) = (
        fields.take("query"),
        fields.take("operationName"),
        fields.take("variables"),
        fields.take("extensions"),
    );
    fields.finish()?;
    let query = match query {
        Some(raw) => serde_json::from_str::<String>(raw.get())
            .map_err(|_| AppError::malformed(Some("query".into()), "must be a string"))?,
        None => return Err(missing_query()),
    };
    let operation_name = operation_name
        .map(|raw| {
            serde_json::from_str::<String>(raw.get()).map_err(|_| {
                AppError::malformed(Some("operationName".into()), "must be a string or null")
            })
        })
        .transpose()?;
    exact_numbers(&query, variables.as_ref().map(|raw| raw.get()))?;
    let variables = variables
        .map(|raw| object("variables", raw.get()))
        .transpose()?;
    let extensions = extensions
        .map(|raw| object("extensions", raw.get()))
        .transpose()?;
    Ok(request(query, operation_name, variables, extensions))
}

/// A GET query string: the same parameters, URL-encoded, `variables` and `extensions` as JSON
/// text. An empty `operationName` is the same as none.
pub fn from_query_string(query_string: &str) -> AppResult<Request> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query_string)
        .map_err(|_| AppError::malformed(None, "malformed query string"))?;
    let mut params = BTreeMap::new();
    for (name, value) in pairs {
        if params.contains_key(&name) {
            return Err(AppError::malformed(Some(name), "is given more than once"));
        }
        params.insert(name, value);
    }
    let mut params = Fields(params);
    let (query, operation_name, variables, extensions) = (
        params.take("query"),
        params.take("operationName"),
        params.take("variables"),
        params.take("extensions"),
    );
    params.finish()?;
    let query = query.ok_or_else(missing_query)?;
    let operation_name = operation_name.filter(|name| !name.is_empty());
    let variables = variables.filter(|text| text.trim() != "null");
    exact_numbers(&query, variables.as_deref())?;
    let variables = variables
        .map(|text| object("variables", &text))
        .transpose()?;
    let extensions = extensions
        .filter(|text| text.trim() != "null")
        .map(|text| object("extensions", &text))
        .transpose()?;
    Ok(request(query, operation_name, variables, extensions))
}

fn request(
    query: String,
    operation_name: Option<String>,
    variables: Option<Variables>,
    extensions: Option<Extensions>,
) -> Request {
    let mut request = Request::new(query).variables(variables.unwrap_or_default());
    if let Some(name) = operation_name {
        request = request.operation_name(name);
    }
    request.extensions = extensions.unwrap_or_default();
    request
}

/// Refuses a number, in the document or its variables, that convio could not keep exactly:
/// the library reads every number as a 64-bit integer or a double, so `0.1234567890123456789`
/// in custom data would be stored changed (REST refuses the same numbers).
/// How deep brackets may nest in a document (lists, objects, arguments, selections): far
/// beyond any real query, far below where the library's recursive parser runs out of stack
/// (about 2,000 levels crashed the process).
const MAX_NESTING: usize = 64;

/// Refuses a document whose brackets nest deeper than [`MAX_NESTING`], before it is parsed.
/// Strings, block strings and comments are skipped, so their brackets do not count and a
/// quote inside them cannot hide the brackets that follow.
fn shallow(query: &str) -> AppResult<()> {
    let bytes = query.as_bytes();
    let (mut i, mut depth, mut deepest) = (0, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if query[i..].starts_with("\"\"\"") => {
                i += 3;
                while i < bytes.len() && !query[i..].starts_with("\"\"\"") {
                    i += if query[i..].starts_with("\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    if deepest > MAX_NESTING {
        return Err(AppError::malformed(
            Some("query".into()),
            format!("nests brackets deeper than {MAX_NESTING} levels"),
        ));
    }
    Ok(())
}

fn exact_numbers(query: &str, variables: Option<&str>) -> AppResult<()> {
    shallow(query)?;
    let (field, number) = match (
        inexact_number_in_graphql(query),
        variables.and_then(inexact_number_in_json),
    ) {
        (Some(number), _) => ("query", number),
        (None, Some(number)) => ("variables", number),
        (None, None) => return Ok(()),
    };
    Err(AppError::invalid(
        field,
        format!(
            "holds the number {number}, which cannot be kept exactly (numbers are read as \
             64-bit integers or doubles); send it as a string"
        ),
    ))
}

fn missing_query() -> AppError {
    AppError::malformed(
        Some("query".into()),
        "is required: the GraphQL document to run, as a string",
    )
}

/// A JSON object (the variables, or the extensions), read as the library reads variables so
/// that every value arrives exactly as it would through the library's own extractor.
fn object<T: DeserializeOwned>(name: &str, text: &str) -> AppResult<T> {
    let not_an_object = || AppError::malformed(Some(name.into()), "must be a JSON object or null");
    if !text.trim_start().starts_with('{') {
        return Err(not_an_object());
    }
    serde_json::from_str(text).map_err(|e| {
        AppError::malformed(
            Some(name.into()),
            format!("is not valid JSON: {}", detail(&e)),
        )
    })
}

/// The parameters not yet taken.
struct Fields<T>(BTreeMap<String, T>);

impl<T> Fields<T> {
    fn take(&mut self, name: &str) -> Option<T> {
        self.0.remove(name)
    }

    /// Call after taking every known parameter: anything left is unknown. Its name goes in the
    /// message rather than `extensions.field`, which would respell it in camelCase.
    fn finish(self) -> AppResult<()> {
        match self.0.into_keys().next() {
            Some(unknown) => Err(AppError::malformed(
                None,
                format!("unknown request parameter `{unknown}`; expected one of: {PARAMETERS}"),
            )),
            None => Ok(()),
        }
    }
}

/// A serde message without the line/column suffix.
fn detail(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(result: AppResult<Request>) -> (Option<String>, String) {
        match result {
            Err(AppError::Malformed { field, message }) => (field, message),
            Err(other) => panic!("expected Malformed, got {other:?}"),
            Ok(request) => panic!("expected a refusal, got {request:?}"),
        }
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = format!(
            "{{ __typename(x: {}{}) }}",
            "[".repeat(2000),
            "]".repeat(2000)
        );
        assert!(from_body(serde_json::json!({ "query": deep }).to_string().as_bytes()).is_err());
        let fine = format!("{{ __typename(x: {}{}) }}", "[".repeat(30), "]".repeat(30));
        assert!(shallow(&fine).is_ok());
        assert!(shallow("{ a(s: \"[[[[\") # {{{{\n }").is_ok());
        let hidden = format!(
            "{{ a(s: \"\"\"x\"y\"\"\", t: {}{}) }}",
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(
            shallow(&hidden).is_err(),
            "a quote in a block string hides nothing"
        );
    }

    #[test]
    fn a_body_with_the_four_parameters_is_read() {
        let request = from_body(
            br#"{"query": "query Q($n: Int) { a }", "operationName": "Q",
                "variables": {"n": 1}, "extensions": {"some": "value"}}"#,
        )
        .unwrap();
        assert_eq!(request.query, "query Q($n: Int) { a }");
        assert_eq!(request.operation_name.as_deref(), Some("Q"));
        assert_eq!(request.variables.into_value().to_string(), "{n: 1}");
        assert_eq!(request.extensions.0.len(), 1);
        let nulls = from_body(
            br#"{"query": "{ a }", "operationName": null, "variables": null, "extensions": null}"#,
        )
        .unwrap();
        assert_eq!(nulls.operation_name, None);
    }

    #[test]
    fn a_body_that_is_not_a_request_names_what_is_wrong() {
        let cases: [(&[u8], Option<&str>, &str); 12] = [
            (b"", None, "the body is empty"),
            (b"  \n", None, "the body is empty"),
            (b"{ \"not a JSON", None, "not valid JSON"),
            (b"\xff", None, "not valid UTF-8"),
            (br#"[{"query": "{ a }"}]"#, None, "batched requests"),
            (br#""{ a }""#, None, "must be a JSON object"),
            (br#"{}"#, Some("query"), "is required"),
            (
                br#"{"qeury": "{ a }"}"#,
                None,
                "unknown request parameter `qeury`",
            ),
            (br#"{"query": 0}"#, Some("query"), "must be a string"),
            (
                br#"{"query": "{ a }", "operationName": false}"#,
                Some("operationName"),
                "string",
            ),
            (
                br#"{"query": "{ a }", "variables": ["x"]}"#,
                Some("variables"),
                "JSON object",
            ),
            (
                br#"{"query": "{ a }", "extensions": "x"}"#,
                Some("extensions"),
                "JSON object",
            ),
        ];
        for (body, field, message) in cases {
            let (got_field, got_message) = refusal(from_body(body));
            assert_eq!(got_field.as_deref(), field, "{body:?}");
            assert!(got_message.contains(message), "{body:?}: {got_message}");
        }
        let (field, message) = refusal(from_body(br#"{"query": "{ a }", "varaibles": {}}"#));
        assert_eq!(field, None);
        assert!(message.contains("`varaibles`"), "{message}");
    }

    #[test]
    fn a_query_string_is_read_like_a_body() {
        let request =
            from_query_string("query=%7B+a+%7D&operationName=&variables=%7B%22n%22%3A1%7D")
                .unwrap();
        assert_eq!(request.query, "{ a }");
        assert_eq!(request.operation_name, None);
        assert_eq!(request.variables.into_value().to_string(), "{n: 1}");
        for (query_string, field) in [
            ("", Some("query")),
            ("operationName=Q", Some("query")),
            ("query=x&query=y", Some("query")),
            ("query=x&variables=%5B%5D", Some("variables")),
            ("query=x&variables=%7B", Some("variables")),
            ("query=x&extensions=1", Some("extensions")),
            ("query=x&other=1", None),
        ] {
            let (got, _) = refusal(from_query_string(query_string));
            assert_eq!(got.as_deref(), field, "{query_string}");
        }
    }
}
