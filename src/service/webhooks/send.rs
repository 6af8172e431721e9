//! One HTTP POST to an endpoint, over a connection to an address `target` checked: HTTP/1.1
//! (TLS with the Mozilla roots for `https`), bounded connect and total time, no redirects
//! followed (a 3xx is a failed attempt), and at most [`KEPT`] bytes of the answer read.

use crate::domain::EndpointUrl;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, header};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, pki_types::ServerName};

/// Bytes of a response body read and kept for the delivery log.
pub const KEPT: usize = 4096;

/// What the endpoint answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The start of the body, lossily decoded.
    pub body: String,
}

/// Makes the connections; one per server, built at start.
#[derive(Clone)]
pub struct Client {
    tls: TlsConnector,
    connect_timeout: Duration,
}

impl Client {
    pub fn new(connect_timeout: Duration) -> Self {
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // The ring provider supports the default protocol versions: this cannot fail.
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            .unwrap_or_else(|_| unreachable!("ring supports TLS 1.2 and 1.3"));
        Client {
            tls: TlsConnector::from(Arc::new(config)),
            connect_timeout,
        }
    }

    /// POSTs `body` with `headers` to `url`, connecting to `addrs` (checked, in order) only.
    /// An `Err` is a failed attempt's reason, for the delivery log.
    pub async fn post(
        &self,
        url: &EndpointUrl,
        addrs: &[SocketAddr],
        headers: &[(&'static str, String)],
        body: String,
    ) -> Result<Answer, String> {
        let stream = self.connect(addrs).await?;
        let url = url.url();
        let host = url.host_str().unwrap_or_default();
        let host_header = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let mut request = Request::post(path)
            .header(header::HOST, host_header)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::USER_AGENT,
                concat!("convio-webhooks/", env!("CARGO_PKG_VERSION")),
            )
            .header(header::CONNECTION, "close");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("building the request failed: {e}"))?;
        if url.scheme() == "https" {
            let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
                .map_err(|_| "the host is not a valid TLS server name".to_owned())?;
            let tls = self
                .tls
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS handshake failed: {e}"))?;
            exchange(tls, request).await
        } else {
            exchange(stream, request).await
        }
    }

    async fn connect(&self, addrs: &[SocketAddr]) -> Result<TcpStream, String> {
        let mut last = "no address to connect to".to_owned();
        for addr in addrs {
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Ok(Err(e)) => last = format!("connecting to {addr} failed: {e}"),
                Err(_) => last = format!("connecting to {addr} timed out"),
            }
        }
        Err(last)
    }
}

/// Sends one request over `io` and reads the status and the first [`KEPT`] bytes.
async fn exchange<IO>(io: IO, request: Request<Full<Bytes>>) -> Result<Answer, String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    // Dropped (and so aborted) with this attempt, whatever ends it.
    let _connection = AbortOnDrop(tokio::spawn(connection));
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("sending failed: {e}"))?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut kept: Vec<u8> = Vec::new();
    while kept.len() < KEPT {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let room = KEPT - kept.len();
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            // The status is what counts; a body cut short is logged as far as it came.
            Some(Err(_)) | None => break,
        }
    }
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&kept).into_owned(),
    })
}

struct AbortOnDrop(tokio::task::JoinHandle<Result<(), hyper::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
