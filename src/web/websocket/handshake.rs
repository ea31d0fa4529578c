//! The opening handshake (RFC 6455 §4.2): request checks and `Sec-WebSocket-Accept`.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::http::Method;
use crate::http::fields::{list_contains, list_elements};
use crate::httpserver::Request;

/// The GUID appended to the key (RFC 6455 §1.3).
pub const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Length of a `Sec-WebSocket-Accept` value.
pub const ACCEPT_LEN: usize = 28;

/// Why an upgrade request is refused, with the status it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HandshakeError {
    /// Not `GET`: `405`.
    Method,
    /// Not HTTP/1.1: `400`.
    Version,
    /// No `Upgrade: websocket`: `400`.
    NotWebSocket,
    /// `Connection` does not contain `upgrade`: `400`.
    NotUpgrade,
    /// `Sec-WebSocket-Key` missing, repeated, or not 16 bytes in base64: `400`.
    BadKey,
    /// `Sec-WebSocket-Version` is not 13: `426` with `Sec-WebSocket-Version: 13`.
    UnsupportedVersion,
    /// `check_origin` refused the `Origin`: `403`.
    Origin,
    /// Every WebSocket slot is taken: `503`.
    TableFull,
    /// The application refused the connection in `on_open`... or the response could not be
    /// built: `500`.
    Internal,
}

impl HandshakeError {
    /// The status code of the refusal.
    pub const fn status(self) -> u16 {
        match self {
            HandshakeError::Method => 405,
            HandshakeError::Version
            | HandshakeError::NotWebSocket
            | HandshakeError::NotUpgrade
            | HandshakeError::BadKey => 400,
            HandshakeError::UnsupportedVersion => 426,
            HandshakeError::Origin => 403,
            HandshakeError::TableFull => 503,
            HandshakeError::Internal => 500,
        }
    }

    /// The body of the refusal (Tornado's wording where it has one).
    pub const fn message(self) -> &'static str {
        match self {
            HandshakeError::Method => "405 Method Not Allowed\n",
            HandshakeError::Version => "WebSocket needs HTTP/1.1\n",
            HandshakeError::NotWebSocket => "Can \"Upgrade\" only to \"WebSocket\".\n",
            HandshakeError::NotUpgrade => "\"Connection\" must be \"Upgrade\".\n",
            HandshakeError::BadKey => "Missing/Invalid WebSocket key\n",
            HandshakeError::UnsupportedVersion => "Unsupported WebSocket version\n",
            HandshakeError::Origin => "Cross origin websockets not allowed\n",
            HandshakeError::TableFull => "Too many WebSocket connections\n",
            HandshakeError::Internal => "500 Internal Server Error\n",
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message().trim_end())
    }
}

impl core::error::Error for HandshakeError {}

/// Checks an upgrade request (everything but the origin) and returns its
/// `Sec-WebSocket-Accept` value.
pub fn check_request(req: &Request<'_>) -> Result<[u8; ACCEPT_LEN], HandshakeError> {
    if req.method != Method::Get {
        return Err(HandshakeError::Method);
    }
    if req.version != 1 {
        return Err(HandshakeError::Version);
    }
    if !req
        .headers_named("Upgrade")
        .any(|v| list_contains(v, b"websocket"))
    {
        return Err(HandshakeError::NotWebSocket);
    }
    if !req
        .headers_named("Connection")
        .any(|v| list_contains(v, b"upgrade"))
    {
        return Err(HandshakeError::NotUpgrade);
    }
    let mut keys = req.headers_named("Sec-WebSocket-Key");
    let key = match (keys.next(), keys.next()) {
        (Some(k), None) => crate::http::fields::trim_ows(k),
        _ => return Err(HandshakeError::BadKey),
    };
    let mut versions = req.headers_named("Sec-WebSocket-Version");
    match (versions.next(), versions.next()) {
        (Some(v), None) if crate::http::fields::trim_ows(v) == b"13" => {}
        _ => return Err(HandshakeError::UnsupportedVersion),
    }
    if !valid_key(key) {
        return Err(HandshakeError::BadKey);
    }
    Ok(accept_key(key))
}

/// Whether `key` is the base64 encoding of 16 bytes (24 characters, padded).
pub fn valid_key(key: &[u8]) -> bool {
    let mut out = [0u8; 18];
    key.len() == 24 && STANDARD.decode_slice(key, &mut out) == Ok(16)
}

/// `Sec-WebSocket-Accept` for `key`: base64(SHA-1(key + GUID)).
pub fn accept_key(key: &[u8]) -> [u8; ACCEPT_LEN] {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(GUID);
    let digest = sha.digest().bytes();
    let mut out = [0u8; ACCEPT_LEN];
    // 20 bytes always encode to exactly 28 characters.
    let _ = STANDARD.encode_slice(digest, &mut out);
    out
}

/// The origin the browser sent (`Origin`, or `Sec-WebSocket-Origin` of old drafts).
pub fn origin<'r>(req: &Request<'r>) -> Option<&'r [u8]> {
    req.header("Origin")
        .or_else(|| req.header("Sec-WebSocket-Origin"))
}

/// Tornado's default `check_origin`: the origin's host (and port) equals the `Host` field,
/// compared without regard to ASCII case. `null` and malformed origins are refused.
pub fn same_host(req: &Request<'_>, origin: &[u8]) -> bool {
    let origin = crate::http::fields::trim_ows(origin);
    let Some(at) = origin.windows(3).position(|w| w == b"://") else {
        return false;
    };
    let rest = &origin[at + 3..];
    let netloc = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .map_or(rest, |e| &rest[..e]);
    let host = req.header("Host").map(crate::http::fields::trim_ows);
    !netloc.is_empty() && host.is_some_and(|h| h.eq_ignore_ascii_case(netloc))
}

/// The subprotocols the client offers (`Sec-WebSocket-Protocol`, every field, in order).
pub fn offered_subprotocols<'a>(req: &'a Request<'a>) -> impl Iterator<Item = &'a [u8]> + 'a {
    req.headers_named("Sec-WebSocket-Protocol")
        .flat_map(list_elements)
        .filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Header;

    fn req<'a>(headers: &'a [Header<'a>]) -> Request<'a> {
        Request {
            method: Method::Get,
            target: "/ws",
            path: "/ws",
            query: "",
            version: 1,
            headers,
            body: b"",
            remote: None,
            conn: crate::tcpserver::ConnId::from_token(crate::ioloop::Token(0)),
            keep_alive: true,
        }
    }

    fn h<'a>(name: &'a str, value: &'a str) -> Header<'a> {
        Header {
            name,
            value: value.as_bytes(),
        }
    }

    #[test]
    fn test_rfc_example_accept() {
        // RFC 6455 §1.3.
        assert_eq!(
            &accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25jZQ"));
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25jZQ=!"));
        assert!(!valid_key(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "21 bytes");
    }

    #[test]
    fn test_check_request() {
        let good = [
            h("Host", "dev.local:8080"),
            h("Upgrade", "WebSocket"),
            h("Connection", "keep-alive, Upgrade"),
            h("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            h("Sec-WebSocket-Version", "13"),
        ];
        assert_eq!(
            check_request(&req(&good)).map(|a| a.to_vec()),
            Ok(b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_vec())
        );
        let mut bad = good;
        bad[1] = h("Upgrade", "h2c");
        assert_eq!(check_request(&req(&bad)), Err(HandshakeError::NotWebSocket));
        let mut bad = good;
        bad[2] = h("Connection", "keep-alive");
        assert_eq!(check_request(&req(&bad)), Err(HandshakeError::NotUpgrade));
        let mut bad = good;
        bad[3] = h("X-Nothing", "");
        assert_eq!(check_request(&req(&bad)), Err(HandshakeError::BadKey));
        let mut bad = good;
        bad[4] = h("Sec-WebSocket-Version", "8");
        assert_eq!(
            check_request(&req(&bad)),
            Err(HandshakeError::UnsupportedVersion)
        );
        let twice = [good[0], good[1], good[2], good[3], good[3], good[4]];
        assert_eq!(check_request(&req(&twice)), Err(HandshakeError::BadKey));
        let mut post = req(&good);
        post.method = Method::Post;
        assert_eq!(check_request(&post), Err(HandshakeError::Method));
        let mut old = req(&good);
        old.version = 0;
        assert_eq!(check_request(&old), Err(HandshakeError::Version));
        assert_eq!(HandshakeError::UnsupportedVersion.status(), 426);
    }

    #[test]
    fn test_same_host() {
        let hs = [h("Host", "Dev.Local:8080")];
        let r = req(&hs);
        assert!(same_host(&r, b"http://dev.local:8080"));
        assert!(same_host(&r, b"https://DEV.local:8080/path"));
        assert!(!same_host(&r, b"http://dev.local"));
        assert!(!same_host(&r, b"http://evil.example"));
        assert!(!same_host(&r, b"null"));
        assert!(!same_host(&r, b"http://"));
        assert!(!same_host(&req(&[]), b"http://dev.local:8080"));
    }

    #[test]
    fn test_offered_subprotocols() {
        let hs = [
            h("Sec-WebSocket-Protocol", "chat, superchat"),
            h("Sec-WebSocket-Protocol", " v2 ,"),
        ];
        let r = req(&hs);
        let v: Vec<&[u8]> = offered_subprotocols(&r).collect();
        assert_eq!(v, [&b"chat"[..], b"superchat", b"v2"]);
    }
}
