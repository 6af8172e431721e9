//! The HTTP side of the load generator: one pooled HTTP/1.1 client and the two ways convio is
//! called (REST with problem+json errors, GraphQL with `extensions.code`), each failure reduced
//! to a short key so that errors can be counted by status and code.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

/// A request that takes longer than this is counted as a timeout rather than waited for.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request failed, as counted in the report: `HTTP 429 RATE_LIMITED`,
/// `GraphQL BAD_USER_INPUT`, `transport: connect`, ….
pub type FailureKey = String;

pub struct Api {
    http: reqwest::Client,
    base: String,
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    /// `Authorization: Bearer <key>`: the admin key, or a workspace key on its own.
    Bearer(&'a str),
    /// `X-Workspace-ID` and `X-API-Key`, as the plan's webhooks send them.
    Workspace { id: &'a str, key: &'a str },
}

#[derive(Deserialize)]
struct GraphQlReply<T> {
    data: Option<T>,
    #[serde(default)]
    errors: Vec<GraphQlError>,
}

#[derive(Deserialize)]
struct GraphQlError {
    #[serde(default)]
    extensions: Option<Value>,
}

impl Api {
    /// `pool` should be at least the number of requests in flight at once: a request that
    /// finds no idle connection opens a new one, and connection set-up would then be measured.
    pub fn new(base: &str, pool: usize) -> Result<Api, reqwest::Error> {
        // Without reqwest's `http2` feature every connection is HTTP/1.1 with keep-alive, which
        // is what webhook senders use.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(pool)
            .tcp_nodelay(true)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(Api {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str, auth: Auth) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match auth {
            Auth::Bearer(key) => request.bearer_auth(key),
            Auth::Workspace { id, key } => request
                .header("X-Workspace-ID", id)
                .header("X-API-Key", key),
        }
    }

    /// A REST call whose 2xx body is decoded as `T`.
    pub async fn rest<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<&Value>,
    ) -> Result<T, FailureKey> {
        let mut request = self.request(method, path, auth);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        // The whole body is read either way, so that latency runs to its last byte.
        let bytes = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(http_failure(status.as_u16(), &bytes));
        }
        serde_json::from_slice(&bytes)
            .map_err(|_| format!("HTTP {} undecodable body", status.as_u16()))
    }

    /// A GraphQL operation at `POST /graphql`; its `data` decoded as `T`.
    pub async fn graphql<T: DeserializeOwned>(
        &self,
        auth: Auth<'_>,
        query: &str,
        variables: Value,
    ) -> Result<T, FailureKey> {
        let body = serde_json::json!({ "query": query, "variables": variables });
        let reply: GraphQlReply<T> = self
            .rest(reqwest::Method::POST, "/graphql", auth, Some(&body))
            .await?;
        match (reply.data, reply.errors.first()) {
            (_, Some(error)) => Err(format!("GraphQL {}", error_code(error.extensions.as_ref()))),
            (Some(data), None) => Ok(data),
            (None, None) => Err("GraphQL no data".to_owned()),
        }
    }

    /// The Prometheus text of `/metrics` (unauthenticated).
    pub async fn metrics(&self) -> Result<String, FailureKey> {
        let response = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .map_err(transport)?;
        response.text().await.map_err(transport)
    }
}

/// `extensions.code` of a GraphQL error (or of a problem+json body, which has it at the top).
pub fn error_code(holder: Option<&Value>) -> &str {
    holder
        .and_then(|h| h.get("code"))
        .and_then(Value::as_str)
        .unwrap_or("no code")
}

fn http_failure(status: u16, body: &[u8]) -> FailureKey {
    let problem: Option<Value> = serde_json::from_slice(body).ok();
    match problem.as_ref().and_then(|p| p.get("code")) {
        Some(_) => format!("HTTP {status} {}", error_code(problem.as_ref())),
        None => format!("HTTP {status}"),
    }
}

fn transport(error: reqwest::Error) -> FailureKey {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_body() || error.is_decode() {
        "body"
    } else {
        "request"
    };
    format!("transport: {kind}")
}

#[cfg(test)]
mod tests {
    use super::http_failure;

    #[test]
    fn failures_are_keyed_by_status_and_code() {
        let problem = br#"{"status":429,"code":"RATE_LIMITED","detail":"over"}"#;
        assert_eq!(http_failure(429, problem), "HTTP 429 RATE_LIMITED");
        assert_eq!(http_failure(502, b"<html>bad gateway</html>"), "HTTP 502");
    }
}
