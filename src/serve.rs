//! Serving connections with the limits `axum::serve` lacks, so that slow or idle clients
//! cannot hold the server: a deadline for request headers (hyper's), an idle timeout, and a
//! cap on concurrent connections. Bodies get their own deadline in `http::limits`.
//!
//! Each accepted connection holds one slot of the cap for as long as its socket is open —
//! through a WebSocket upgrade too, since the slot travels inside the socket. Past the cap,
//! new clients wait in the kernel's listen backlog until a slot frees; the header deadline
//! frees slots that crawling clients hold, so others get through.

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

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

    /// Most client connections open at once, WebSockets included. Further clients wait in the
    /// listen backlog until one closes.
    #[arg(
        long,
        global = true,
        env = "CONVIO_MAX_CONNECTIONS",
        default_value_t = 1024,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub max_connections: u64,
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets every
/// request in flight finish, and returns once those connections are closed.
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
    tokio::pin!(shutdown);
    loop {
        let (stream, slot) = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &slots) => accepted,
        };
        let connection = Connection {
            http: http.clone(),
            router: router.clone(),
            idle,
            stop: stopped.clone(),
        };
        tokio::spawn(connection.serve(stream, slot));
    }
    drop(listener);
    drop(stopped);
    stop.send_replace(true);
    stop.closed().await;
    Ok(())
}

/// The next connection, once a slot is free. Accept errors (a client that reset, or the
/// process out of file descriptors) are logged and retried, never fatal.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> (TcpStream, OwnedSemaphorePermit) {
    let Ok(slot) = slots.clone().acquire_owned().await else {
        // The semaphore is never closed; should it be, accept nothing more.
        return std::future::pending().await;
    };
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return (stream, slot),
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
}

impl Connection {
    async fn serve(mut self, stream: TcpStream, slot: OwnedSemaphorePermit) {
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Tracked {
            stream,
            activity: activity.clone(),
            _slot: slot,
        });
        let router = TowerToHyperService::new(self.router);
        let working = activity.clone();
        let service = hyper::service::service_fn(move |request: axum::http::Request<Incoming>| {
            let busy = working.begin();
            let response = router.call(request);
            async move {
                let response = response.await;
                drop(busy);
                response
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
                Ok(()) = self.stop.changed(), if !stopping => {
                    // Finishes the request in flight, if any, then closes.
                    connection.as_mut().graceful_shutdown();
                    stopping = true;
                }
            }
        }
    }
}

/// When bytes last moved on a connection, and how many of its requests are being worked on.
struct Activity {
    origin: Instant,
    last_millis: AtomicU64,
    working: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Activity {
            origin: Instant::now(),
            last_millis: AtomicU64::new(0),
            working: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let millis = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_millis.store(millis, Ordering::Relaxed);
    }

    /// Marks a request as being worked on until the guard is dropped.
    fn begin(self: &Arc<Self>) -> Working {
        self.working.fetch_add(1, Ordering::Relaxed);
        Working(self.clone())
    }

    /// Resolves once nothing has moved for `limit` while no request was being worked on.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let last =
                self.origin + Duration::from_millis(self.last_millis.load(Ordering::Relaxed));
            let now = Instant::now();
            let busy = self.working.load(Ordering::Relaxed) > 0;
            if !busy && now >= last + limit {
                return;
            }
            let wake = if busy { now + limit } else { last + limit };
            tokio::time::sleep_until(wake).await;
        }
    }
}

/// A request being worked on; when it is answered, the idle clock starts again.
struct Working(Arc<Activity>);

impl Drop for Working {
    fn drop(&mut self) {
        self.0.touch();
        self.0.working.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The client's socket, noting each transfer, and holding its connection slot until closed.
struct Tracked {
    stream: TcpStream,
    activity: Arc<Activity>,
    _slot: OwnedSemaphorePermit,
}

impl Tracked {
    fn noted<T>(
        &self,
        poll: Poll<io::Result<T>>,
        moved: impl FnOnce(&T) -> bool,
    ) -> Poll<io::Result<T>> {
        if let Poll::Ready(Ok(value)) = &poll
            && moved(value)
        {
            self.activity.touch();
        }
        poll
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.stream).poll_read(cx, buf);
        let moved = buf.filled().len() > before;
        self.noted(poll, |()| moved)
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.noted(poll, |n| *n > 0)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.noted(poll, |n| *n > 0)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
