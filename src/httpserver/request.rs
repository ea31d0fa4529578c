//! The request a handler sees: borrowed from the connection's read buffer, never copied.

use core::net::SocketAddr;

use crate::http::{Header, Method};
use crate::tcpserver::ConnId;

/// An HTTP request (Tornado's `HTTPServerRequest`). Every `&str` and `&[u8]` borrows the
/// connection's read buffer; the request lives for the duration of the handler call.
#[derive(Debug, Clone, Copy)]
pub struct Request<'r> {
    /// The method.
    pub method: Method,
    /// The request-target as received (`/path?query`).
    pub target: &'r str,
    /// The path, without the query.
    pub path: &'r str,
    /// The query string, without the `?` (empty when absent).
    pub query: &'r str,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// The header fields in order.
    pub headers: &'r [Header<'r>],
    /// The body (de-chunked when it was sent chunked).
    pub body: &'r [u8],
    /// The client's address: the peer of the socket, or with
    /// [`HttpServer::set_xheaders`](super::HttpServer::set_xheaders) the one named by
    /// `X-Real-Ip` / `X-Forwarded-For`.
    pub remote: Option<SocketAddr>,
    /// The connection, for deferred responses.
    pub conn: ConnId,
    /// Whether the connection stays open after this response.
    pub keep_alive: bool,
}

impl<'r> Request<'r> {
    /// The first header field named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'r [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// All header fields named `name`.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'r [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
}

/// The client address named by `X-Real-Ip`, else by the last element of `X-Forwarded-For`
/// (the one the nearest proxy added), as Tornado's `xheaders` does. Invalid values are ignored.
/// Reads the client address from proxy headers: [`forwarded_ip`], stored by
/// `HttpServer::set_xheaders`.
pub(crate) type XHeaders = fn(&[Header<'_>]) -> Option<core::net::IpAddr>;

pub(crate) fn forwarded_ip(headers: &[Header<'_>]) -> Option<core::net::IpAddr> {
    let get = |n: &str| {
        headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(n))
            .map(|h| h.value)
    };
    // Surrounding ASCII whitespace is allowed; the address itself is parsed as
    // `IpAddr::from_str` would, without linking `core`'s general parser.
    let parse = |v: &[u8]| crate::http::fields::parse_ip(v.trim_ascii());
    if let Some(ip) = get("X-Real-Ip").and_then(parse) {
        return Some(ip);
    }
    get("X-Forwarded-For").and_then(|v| v.rsplit(|&b| b == b',').next().and_then(parse))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_forwarded_ip_prefers_real_ip_then_last_forwarded() {
        let h = [
            Header {
                name: "X-Forwarded-For",
                value: b"1.1.1.1, 10.0.0.2",
            },
            Header {
                name: "X-Real-Ip",
                value: b"192.168.1.9",
            },
        ];
        assert_eq!(forwarded_ip(&h), "192.168.1.9".parse().ok());
        assert_eq!(forwarded_ip(&h[..1]), "10.0.0.2".parse().ok());
        let bad = [Header {
            name: "X-Real-Ip",
            value: b"not an ip",
        }];
        assert_eq!(forwarded_ip(&bad), None);
    }
}
