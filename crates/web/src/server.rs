//! The HTTP/1.1 server of the local and Azure hosts, with the connection timeouts a public server needs (Lambda has
//! API Gateway in front and no server of ours):
//!
//! - [`HEADER_READ_TIMEOUT`]: a request's headers must be complete this long after the connection opened or the last
//!   answer was written; a client that sends half its headers, or an idle keep-alive connection, is closed then;
//! - a body that arrives slower than [`crate::BODY_READ_TIMEOUT`] is a 408, where the body is read (json.rs);
//! - a request hyper cannot parse is answered problem+json all the same ([`crate::transport`]);
//! - on SIGTERM or Ctrl-C: stop accepting, let the requests in flight finish (at most [`DRAIN_TIMEOUT`]), close idle
//!   connections.

use crate::transport::ProblemStream;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How long a connection may take to send a request's headers, from its opening or from the last answer.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the requests in flight may take to finish once the server is told to stop.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` completes, then drains. Each request carries its peer's address as
/// [`ConnectInfo`] (the guard counts anonymous callers by it).
pub async fn serve(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let mut connection = http1::Builder::new();
    connection.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors, a connection reset before it was accepted: the listener itself is fine.
                Err(err) => {
                    tracing::warn!(error = %err, "a connection could not be accepted");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service = tower::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request.map(axum::body::Body::new))
        });
        let stream = TokioIo::new(ProblemStream::new(stream));
        let served = graceful.watch(connection.serve_connection(stream, TowerToHyperService::new(service)));
        tokio::spawn(async move {
            // Timeouts, resets and malformed requests end the connection; hyper has answered what it could.
            if let Err(err) = served.await {
                tracing::debug!(error = %err, %peer, "connection closed");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!(seconds = DRAIN_TIMEOUT.as_secs(), "requests still in flight after the drain timeout");
    }
}
