//! Problems hyper answers itself. A request hyper cannot parse (a bad request line, a duplicate Content-Length, an
//! unknown HTTP version, a URI or headers over its limits) never reaches a handler: hyper writes a bare
//! `HTTP/1.1 400 Bad Request` (414, 431) with `connection: close`, no body, and closes. [`ProblemStream`] rewrites that
//! one answer as it is written into problem+json (`malformed_request`), like every other error of ours. Nothing else
//! of a connection is touched: our handlers' answers always carry a Content-Type, which hyper's own never do.

use crate::Problem;
use codecapsule_core::model::ErrorCode;
use http::StatusCode;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What hyper's own error answers start with after their status line.
const BARE_ANSWER: &[u8] = b"\r\nconnection: close\r\ncontent-length: 0\r\n";

/// A connection's stream, with hyper's bare error answers rewritten into problem+json.
pub struct ProblemStream<S> {
    inner: S,
    /// A rewritten answer still to be written, and how much of it has been.
    pending: Option<(Vec<u8>, usize)>,
}

impl<S> ProblemStream<S> {
    /// Wraps a connection's stream.
    pub fn new(inner: S) -> ProblemStream<S> {
        ProblemStream { inner, pending: None }
    }
}

/// The problem+json answer in place of hyper's bare `head`, when `head` is one.
fn rewritten(head: &[u8]) -> Option<Vec<u8>> {
    let status_line_end = head.windows(2).position(|pair| pair == b"\r\n")?;
    let status: u16 = std::str::from_utf8(head.get(9..12)?).ok()?.parse().ok()?;
    let is_bare = head.starts_with(b"HTTP/1.1 ")
        && (400..600).contains(&status)
        && head[status_line_end..].starts_with(BARE_ANSWER)
        && head.ends_with(b"\r\n\r\n");
    if !is_bare {
        return None;
    }
    let status = StatusCode::from_u16(status).ok()?;
    let detail = match status {
        StatusCode::URI_TOO_LONG => "the request's URI is longer than this server reads: send the data in the body",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            "the request's headers are larger than this server reads: send fewer or smaller headers"
        }
        _ => "the request is not valid HTTP/1.1 (its request line, a header, or its Content-Length); fix the client",
    };
    let body = Problem::new(status, ErrorCode::MalformedRequest, detail).body();
    // The status line and hyper's own headers after the content length (the date), then ours.
    let rest = &head[status_line_end + BARE_ANSWER.len()..];
    let mut answer = head[..status_line_end].to_vec();
    answer.extend_from_slice(b"\r\nconnection: close\r\ncontent-type: application/problem+json\r\n");
    answer.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    answer.extend_from_slice(rest);
    answer.extend_from_slice(&body);
    Some(answer)
}

impl<S: AsyncWrite + Unpin> ProblemStream<S> {
    /// Writes what is left of a rewritten answer.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((answer, written)) = &mut self.pending {
            let wrote = ready!(Pin::new(&mut self.inner).poll_write(cx, &answer[*written..]))?;
            if wrote == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += wrote;
            if *written == answer.len() {
                self.pending = None;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ProblemStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ProblemStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        if let Some(answer) = rewritten(buf) {
            // Taken whole, as hyper wrote it; the rewritten bytes go out now or on flush.
            self.pending = Some((answer, 0));
            let _ = self.drain(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_bare_error_answers_are_rewritten() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Wed, 02 Dec 2026 01:32:22 GMT\r\n\r\n";
        let answer = String::from_utf8(rewritten(bare).unwrap()).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\n"), "{head}");
        assert!(head.contains("content-type: application/problem+json") && head.contains("\r\ndate: Wed"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!((problem["status"].as_u64(), problem["code"].as_str()), (Some(431), Some("malformed_request")));
        // Our own answers (a Content-Type, a body) and successes pass as they are.
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 2\r\n\r\n{}";
        assert!(rewritten(ours).is_none());
        assert!(rewritten(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(rewritten(b"{\"partial\": \"body\"}").is_none());
    }
}
