//! Serving connections with the limits `axum::serve` lacks, so that slow or idle clients
//! cannot hold the server: a deadline for request headers (hyper's), an idle timeout, and a
//! cap on concurrent connections. Bodies get their own deadline in `http::limits`.
//!
//! Each accepted connection holds one slot of the cap for as long as its socket is open —
//! through a WebSocket upgrade too, since the slot travels inside the socket. At the cap, a
//! newly accepted client takes the slot of the connection that has waited on its own client
//! the longest (an unfinished request head, a body that does not come, an idle keep-alive):
//! crawlers cannot crowd out clients that send their requests. When every slot does real
//! work, new clients wait in the kernel's listen backlog.

mod activity;
mod tracked;

pub use activity::ClientWait;

use activity::{Activity, Registry};
use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tracked::Tracked;

/// Timeouts and the connection cap. Flattened into `Hardening`, so each is a flag with an
/// environment fallback.
#[derive(Clone, Debug, clap::Args)]
pub struct ConnectionLimits {
    /// Seconds a client has to send a request's complete headers, counted from when the
    /// connection opens or its previous response ends; then the connection is closed without
    /// an answer. An idle kept-alive connection is therefore closed after this long too.
    #[arg(
        long,
        global = true,
        env = "CONVIO_HEADER_READ_TIMEOUT_SECONDS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub header_read_timeout_seconds: u64,

    /// Seconds a client has to send a request's whole body, counted from the end of its
    /// headers; then it gets 408 and the connection is closed.
    #[arg(
        long,
        global = true,
        env = "CONVIO_BODY_READ_TIMEOUT_SECONDS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub body_read_timeout_seconds: u64,

    /// Seconds a connection may go without a byte moving either way while the server is not
    /// working on one of its requests (e.g. a client that stops reading its response); then it
    /// is closed. WebSockets are exempt: subscriptions are legitimately quiet.
    #[arg(
        long,
        global = true,
        env = "CONVIO_IDLE_TIMEOUT_SECONDS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub idle_timeout_seconds: u64,

    /// Most client connections open at once, WebSockets included. At the cap, a new client
    /// takes the place of the connection stalled longest on its own client (unfinished
    /// headers or body, idle keep-alive); when none is, it waits in the listen backlog.
    #[arg(
        long,
        global = true,
        env = "CONVIO_MAX_CONNECTIONS",
        default_value_t = 1024,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub max_connections: u64,
}

/// A listener on `addr` whose kernel queue holds `backlog` connections not yet accepted
/// (capped by the kernel at `net.core.somaxconn`). tokio's `TcpListener::bind` asks for 128,
/// as the standard library does: a burst of more new clients than that (a thousand webhooks
/// at once) overflows the queue, the kernel drops the extra SYNs, and those clients send them
/// again only after a second. The server passes its connection cap (`--max-connections`),
/// the number of clients it serves at once anyway, or 128 if that is more.
pub fn listen(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // As tokio's `bind` does: a restarted server rebinds at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, closes the
/// connections that only wait on their client, lets every request being handled or answered
/// finish, and returns once those connections are closed. Upgraded WebSockets are not waited
/// for.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(
        usize::try_from(limits.max_connections).unwrap_or(Semaphore::MAX_PERMITS),
    ));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_read_timeout_seconds))
        .keep_alive(true);
    let idle = Duration::from_secs(limits.idle_timeout_seconds);
    // Every connection task holds a receiver; `closed()` resolves once all are gone.
    let (stop, stopped) = watch::channel(false);
    let registry = Arc::new(Registry::default());
    tokio::pin!(shutdown);
    loop {
        let (stream, slot) = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &slots, &registry) => accepted,
        };
        // Answers and feed events are small writes that should leave at once: with Nagle's
        // algorithm a feed event waits for the client's (delayed) ACK of the one before.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "TCP_NODELAY could not be set");
        }
        let connection = Connection {
            http: http.clone(),
            router: router.clone(),
            idle,
            stop: stopped.clone(),
            registry: registry.clone(),
        };
        tokio::spawn(connection.serve(stream, slot));
    }
    drop(listener);
    drop(stopped);
    stop.send_replace(true);
    stop.closed().await;
    Ok(())
}

/// The next connection and its slot: a free one, or the slot of the connection stalled
/// longest, or the next to free up.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
    registry: &Registry,
) -> (TcpStream, OwnedSemaphorePermit) {
    let stream = next_client(listener).await;
    if let Ok(slot) = slots.clone().try_acquire_owned() {
        return (stream, slot);
    }
    if registry.evict_longest_stalled() {
        tracing::debug!("connection cap reached: evicted the longest-stalled connection");
    }
    match slots.clone().acquire_owned().await {
        Ok(slot) => (stream, slot),
        // The semaphore is never closed; should it be, accept nothing more.
        Err(_) => std::future::pending().await,
    }
}

/// Accept errors (a client that reset, or the process out of file descriptors) are logged
/// and retried, never fatal.
async fn next_client(listener: &TcpListener) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return stream,
            Err(err) if is_per_connection(&err) => {}
            Err(err) => {
                tracing::error!(error = %err, "accepting a connection failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// What one connection task needs.
struct Connection {
    http: http1::Builder,
    router: Router,
    idle: Duration,
    stop: watch::Receiver<bool>,
    registry: Arc<Registry>,
}

impl Connection {
    async fn serve(mut self, stream: TcpStream, slot: OwnedSemaphorePermit) {
        let activity = Activity::new();
        let _listed = self.registry.enter(&activity);
        // The client's address, for the limit on failed authentication attempts.
        let peer = stream.peer_addr().ok().map(axum::extract::ConnectInfo);
        let io = TokioIo::new(Tracked::new(stream, activity.clone(), slot));
        let router = TowerToHyperService::new(self.router);
        let requests = activity.clone();
        let service =
            hyper::service::service_fn(move |mut request: axum::http::Request<Incoming>| {
                let handling = requests.handling();
                request
                    .extensions_mut()
                    .insert(ClientWait(requests.clone()));
                if let Some(peer) = peer {
                    request.extensions_mut().insert(peer);
                }
                let response = router.call(request);
                let requests = requests.clone();
                async move {
                    let response = response.await;
                    // Until the body is sent (or dropped), the connection is not idle.
                    let delivering = requests.delivering();
                    drop(handling);
                    response.map(|response| {
                        response.map(|body| {
                            Body::new(body.map_frame(move |frame| {
                                let _ = &delivering;
                                frame
                            }))
                        })
                    })
                }
            });
        let connection = self.http.serve_connection(io, service).with_upgrades();
        tokio::pin!(connection);
        let mut stopping = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(error = %err, "connection ended with an error");
                    }
                    return;
                }
                () = activity.idle_for(self.idle) => {
                    tracing::debug!("closing an idle connection");
                    return;
                }
                () = activity.evicted(), if !stopping => {
                    if activity.may_drop() {
                        return;
                    }
                    // Work started since it was chosen: finish it, then close.
                    connection.as_mut().graceful_shutdown();
                    stopping = true;
                }
                Ok(()) = self.stop.changed(), if !stopping => {
                    // Nothing in flight but a client's unfinished request: close now.
                    if activity.may_drop() {
                        return;
                    }
                    // Finishes the request in flight, then closes.
                    connection.as_mut().graceful_shutdown();
                    stopping = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::listen;
    use std::net::TcpStream;
    use std::time::Duration;

    /// A burst of new clients larger than tokio's default backlog (128) all connect at once,
    /// though the server accepts none of them yet: none waits for its SYN to be sent again.
    #[tokio::test]
    async fn a_burst_of_clients_waits_in_the_backlog() {
        const CLIENTS: usize = 200;
        let cap = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|text| text.trim().parse::<usize>().ok());
        if cap.is_some_and(|cap| cap < CLIENTS) {
            eprintln!("skipped: net.core.somaxconn is {cap:?}, below {CLIENTS}");
            return;
        }
        let listener = listen("127.0.0.1:0".parse().unwrap(), 1024).expect("a listener");
        let addr = listener.local_addr().expect("an address");
        let clients: Vec<TcpStream> = (0..CLIENTS)
            .map(|i| {
                TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                    .unwrap_or_else(|e| panic!("client {i} could not connect: {e}"))
            })
            .collect();
        assert_eq!(clients.len(), CLIENTS);
    }
}
