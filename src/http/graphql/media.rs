//! Which media type a GraphQL response is sent as, chosen from the request's `Accept` header as
//! the GraphQL-over-HTTP spec asks: `application/graphql-response+json` when the client
//! prefers it, `application/json` otherwise (also for `*/*`, `application/*` and no `Accept`).

use axum::http::{HeaderMap, HeaderValue, header};

/// The media type of one GraphQL response. They differ only in status codes: with
/// `application/json` every well-formed request is answered 200, whatever its errors; with
/// `application/graphql-response+json` a request refused before execution (a document that does
/// not parse or validate, variables that do not fit) is answered 400 and has no `data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    Json,
    GraphqlResponse,
}

impl Media {
    /// The `Content-Type` of a response in this media type, with its (only) encoding.
    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Media::Json => "application/json; charset=utf-8",
            Media::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
        })
    }

    /// The media type the client's `Accept` asks for, or `None` when it accepts neither (the
    /// spec recommends 406 then). No `Accept` at all means `application/json`, as the spec's
    /// legacy rule has it and as every client written before it expects.
    pub fn negotiate(headers: &HeaderMap) -> Option<Media> {
        let mut ranges = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter(|range| !range.trim().is_empty())
            .peekable();
        if ranges.peek().is_none() {
            return Some(Media::Json);
        }
        let mut json = Preference::NONE;
        let mut graphql_response = Preference::NONE;
        for (position, range) in ranges.enumerate() {
            let Some((media_range, quality)) = parse_range(range) else {
                continue;
            };
            let specificity = match media_range.as_str() {
                "application/graphql-response+json" => {
                    graphql_response.offer(quality, 2, position);
                    continue;
                }
                "application/json" => 2,
                "application/*" => 1,
                "*/*" => 0,
                _ => continue,
            };
            json.offer(quality, specificity, position);
            if specificity < 2 {
                graphql_response.offer(quality, specificity, position);
            }
        }
        match (json.quality(), graphql_response.quality()) {
            (0, 0) => None,
            // Equal weights: the type listed first wins; a wildcard names neither, and we choose
            // application/json for it.
            (j, g) if g > j || (g == j && graphql_response.listed_before(&json)) => {
                Some(Media::GraphqlResponse)
            }
            _ => Some(Media::Json),
        }
    }
}

/// How much the client wants one media type: the weight of the most specific range matching
/// it (RFC 9110, 12.5.1), and where that range stood in the header.
#[derive(Clone, Copy)]
struct Preference {
    /// `q` in thousandths; `None` until a range matches.
    quality: Option<u16>,
    specificity: u8,
    position: usize,
}

impl Preference {
    const NONE: Preference = Preference {
        quality: None,
        specificity: 0,
        position: usize::MAX,
    };

    fn offer(&mut self, quality: u16, specificity: u8, position: usize) {
        if self.quality.is_none() || specificity > self.specificity {
            *self = Preference {
                quality: Some(quality),
                specificity,
                position,
            };
        }
    }

    fn quality(&self) -> u16 {
        self.quality.unwrap_or(0)
    }

    /// Listed by a range of its own, before the range `other` came from.
    fn listed_before(&self, other: &Preference) -> bool {
        self.specificity == 2 && self.position < other.position
    }
}

/// `application/json; charset=utf-8; q=0.5` → (`application/json`, 500). A weight that is not
/// a number from 0 to 1 drops the range.
fn parse_range(range: &str) -> Option<(String, u16)> {
    let mut parts = range.split(';');
    let media_range = parts.next()?.trim().to_ascii_lowercase();
    let mut quality = 1000;
    for parameter in parts {
        let Some((name, value)) = parameter.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("q") {
            let q: f32 = value.trim().parse().ok()?;
            if !(0.0..=1.0).contains(&q) {
                return None;
            }
            // Three decimals at most (RFC 9110), so this is exact.
            quality = (q * 1000.0).round() as u16;
        }
    }
    Some((media_range, quality))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiate(accept: Option<&str>) -> Option<Media> {
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
        }
        Media::negotiate(&headers)
    }

    #[test]
    fn json_unless_graphql_response_is_preferred() {
        use Media::*;
        let cases = [
            (None, Some(Json)),
            (Some(""), Some(Json)),
            (Some("application/json"), Some(Json)),
            (Some("*/*"), Some(Json)),
            (Some("application/*"), Some(Json)),
            (Some("text/html, */*;q=0.8"), Some(Json)),
            (
                Some("application/graphql-response+json"),
                Some(GraphqlResponse),
            ),
            (
                Some(
                    "application/graphql-response+json; charset=utf-8, application/json; charset=utf-8",
                ),
                Some(GraphqlResponse),
            ),
            (
                Some("application/json, application/graphql-response+json"),
                Some(Json),
            ),
            (
                Some("application/json;q=0.9, application/graphql-response+json"),
                Some(GraphqlResponse),
            ),
            (
                Some("application/graphql-response+json, */*;q=0.1"),
                Some(GraphqlResponse),
            ),
            (Some("APPLICATION/JSON"), Some(Json)),
            (Some("*/*, application/json;q=0"), Some(GraphqlResponse)),
            (Some("text/html"), None),
            (Some("application/json;q=0"), None),
            (Some("application/json;q=2"), None),
            (Some("application/json;q=x"), None),
        ];
        for (accept, expected) in cases {
            assert_eq!(negotiate(accept), expected, "Accept: {accept:?}");
        }
    }
}
