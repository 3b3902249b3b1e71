//! The client's address, as the platform vouches for it: what anonymous callers are counted by.
//!
//! - On Lambda: API Gateway's `sourceIp` (the TCP peer API Gateway saw; no header can change it).
//! - Behind a proxy (the Azure Functions host, or TRUSTED_PROXY_HOPS set): X-Forwarded-For, counted from its end. Each
//!   proxy appends the address it received the request from, so the last entry is written by the nearest proxy and
//!   anything before the proxies' own entries was written by the client. With `hops` trusted proxies the client is the
//!   `hops`-th entry from the end; entries the client wrote in front of it are ignored.
//! - Otherwise the TCP peer.
//!
//! An X-Forwarded-For that is over [`MAX_FORWARDED_BYTES`], is not ASCII, or whose trusted entry is not an IP address
//! (Azure writes `address:port`, and IPv6 in brackets) is ignored: the peer counts instead.

use axum::extract::{ConnectInfo, Request};
use std::net::{IpAddr, SocketAddr};

/// X-Forwarded-For past this length is ignored (a proxy chain of a few hops is well under it).
pub const MAX_FORWARDED_BYTES: usize = 512;

/// The client's address, put on every request by the host adapter (see [`crate::host::app`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress(pub String);

/// The address of `request`'s client, trusting `hops` proxies in front of this server.
pub fn client_address(request: &Request, hops: usize) -> ClientAddress {
    if let Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) =
        request.extensions().get::<lambda_http::request::RequestContext>()
        && let Some(ip) = context.http.source_ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok())
    {
        return ClientAddress(ip.to_string());
    }
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(address)| address.ip());
    let forwarded = request.headers().get("x-forwarded-for").and_then(|value| value.to_str().ok());
    if let Some(forwarded) = forwarded.filter(|_| hops > 0)
        && let Some(address) = forwarded_client(forwarded, hops)
    {
        return ClientAddress(address.to_string());
    }
    ClientAddress(peer.map(|peer| peer.to_string()).unwrap_or_else(|| "unknown".into()))
}

/// The `hops`-th address from the end of an X-Forwarded-For value, if it is one.
fn forwarded_client(forwarded: &str, hops: usize) -> Option<IpAddr> {
    if forwarded.len() > MAX_FORWARDED_BYTES {
        return None;
    }
    let entry = forwarded.rsplit(',').nth(hops - 1)?.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|address| address.ip()))
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(forwarded: Option<&str>, peer: [u8; 4]) -> Request {
        let mut builder = http::Request::builder().uri("/api/judge");
        if let Some(forwarded) = forwarded {
            builder = builder.header("x-forwarded-for", forwarded);
        }
        let mut request = builder.body(axum::body::Body::empty()).unwrap();
        request.extensions_mut().insert(ConnectInfo(SocketAddr::from((peer, 40000))));
        request
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() {
        let address = client_address(&request(Some("203.0.113.7"), [127, 0, 0, 1]), 0);
        assert_eq!(address, ClientAddress("127.0.0.1".into()));
    }

    #[test]
    fn behind_one_proxy_the_entry_it_appended_counts_and_the_clients_own_do_not() {
        let forged = request(Some("198.51.100.1, 198.51.100.2, 203.0.113.7:52100"), [127, 0, 0, 1]);
        assert_eq!(client_address(&forged, 1), ClientAddress("203.0.113.7".into()));
        let two = request(Some("198.51.100.1, 203.0.113.7, 10.0.0.2"), [127, 0, 0, 1]);
        assert_eq!(client_address(&two, 2), ClientAddress("203.0.113.7".into()));
        let v6 = request(Some("[2001:db8::7]:443"), [127, 0, 0, 1]);
        assert_eq!(client_address(&v6, 1), ClientAddress("2001:db8::7".into()));
    }

    #[test]
    fn a_header_of_exactly_the_limit_is_read_and_one_byte_more_is_not() {
        let client = "203.0.113.7";
        let at_limit = format!("{}{client}", " ".repeat(MAX_FORWARDED_BYTES - client.len()));
        assert_eq!(at_limit.len(), MAX_FORWARDED_BYTES);
        assert_eq!(client_address(&request(Some(&at_limit), [10, 0, 0, 9]), 1), ClientAddress(client.into()));
        let over = format!(" {at_limit}");
        assert_eq!(client_address(&request(Some(&over), [10, 0, 0, 9]), 1), ClientAddress("10.0.0.9".into()));
    }

    #[test]
    fn an_over_long_short_or_malformed_header_is_ignored() {
        let long = format!("{}203.0.113.7", "1.1.1.1, ".repeat(600));
        assert_eq!(client_address(&request(Some(&long), [10, 0, 0, 9]), 1), ClientAddress("10.0.0.9".into()));
        assert_eq!(client_address(&request(Some("not-an-ip"), [10, 0, 0, 9]), 1), ClientAddress("10.0.0.9".into()));
        assert_eq!(client_address(&request(Some("203.0.113.7"), [10, 0, 0, 9]), 2), ClientAddress("10.0.0.9".into()));
        assert_eq!(client_address(&request(None, [10, 0, 0, 9]), 1), ClientAddress("10.0.0.9".into()));
    }
}
