//! JSON bodies (feature `json`): [`write_json`] serializes a `serde::Serialize` value into the
//! response with `serde-json-core`, [`parse_json`] reads a request body into a
//! `serde::Deserialize` value. Nothing is allocated.
//!
//! [`write_json`] serializes into a stack buffer of [`JSON_MAX`] bytes, then copies the text
//! into the response body; [`write_json_with`] uses a buffer the caller provides instead (a
//! `static`, for documents larger than a stack should hold). Either way a document that does
//! not fit is an error and leaves the response unchanged.
//!
//! Parsing borrows from the body: `&str` fields are zero-copy slices of it, with any escapes
//! left as sent (`"a\"b"` gives the four bytes `a\"b`). [`parse_json_escaped`] unescapes
//! strings into a caller buffer instead, for fields of owned types that copy what they are
//! given (`char`, a fixed-capacity string). Trailing bytes other than whitespace are an error.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::config::parse_or;
use crate::httpserver::{Response, ResponseError};

/// Largest JSON document [`write_json`] can send, in bytes (the stack buffer it serializes
/// into).
///
/// Default 2048. Set with `EDGELOOP_WEB_JSON_MAX`. Cost: that much stack during the call.
pub const JSON_MAX: usize = parse_or(option_env!("EDGELOOP_WEB_JSON_MAX"), 2048);

/// Why a JSON body could not be written or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum JsonError {
    /// The document does not fit in the serialization buffer.
    TooLarge,
    /// The response refused the body or the `Content-Type` (e.g. the body room is too small).
    Response(ResponseError),
    /// The request body is not valid JSON, not the expected shape, or has trailing data.
    Invalid,
    /// An escaped string does not fit in the unescape buffer.
    EscapeBufferTooSmall,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::TooLarge => f.write_str("JSON document too large for its buffer"),
            JsonError::Response(e) => write!(f, "response: {e}"),
            JsonError::Invalid => f.write_str("invalid JSON body"),
            JsonError::EscapeBufferTooSmall => f.write_str("JSON string too long to unescape"),
        }
    }
}

impl core::error::Error for JsonError {}

impl From<ResponseError> for JsonError {
    fn from(e: ResponseError) -> Self {
        JsonError::Response(e)
    }
}

impl From<JsonError> for super::HttpError {
    /// A body that cannot be read is the client's fault (`400`); one that cannot be written,
    /// the server's (`500`).
    fn from(e: JsonError) -> Self {
        match e {
            JsonError::Invalid | JsonError::EscapeBufferTooSmall => super::HttpError::BAD_REQUEST,
            JsonError::TooLarge | JsonError::Response(_) => super::HttpError::INTERNAL,
        }
    }
}

/// Tornado's `write(dict)`: serializes `value` into the response body and sets
/// `Content-Type: application/json; charset=UTF-8`. See the [module docs](self).
pub fn write_json<T: Serialize + ?Sized>(
    resp: &mut Response<'_>,
    value: &T,
) -> Result<(), JsonError> {
    let mut buf = [0u8; JSON_MAX];
    write_json_with(resp, value, &mut buf)
}

/// [`write_json`] through `scratch` instead of a stack buffer.
pub fn write_json_with<T: Serialize + ?Sized>(
    resp: &mut Response<'_>,
    value: &T,
    scratch: &mut [u8],
) -> Result<(), JsonError> {
    if resp.body_len() != resp.body().len() {
        // A static body is set: a copied one cannot follow it.
        return Err(JsonError::Response(ResponseError::BodyConflict));
    }
    let n = serde_json_core::to_slice(value, scratch).map_err(|_| JsonError::TooLarge)?;
    if n > resp.body_room() {
        return Err(JsonError::Response(ResponseError::BodyTooLarge));
    }
    resp.set_header("Content-Type", b"application/json; charset=UTF-8")?;
    resp.write(&scratch[..n])?;
    Ok(())
}

/// Parses a JSON body (Tornado's `json.loads(self.request.body)`). `&str` fields borrow the
/// body with their escapes left as sent (see the [module docs](self)).
pub fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, JsonError> {
    serde_json_core::from_slice(body)
        .map(|(v, _)| v)
        .map_err(de_error)
}

/// [`parse_json`] that unescapes escaped strings into `unescape` (which must hold the longest
/// one) and hands them to owned field types; a borrowed `&str` field with an escaped string is
/// then [`JsonError::Invalid`].
pub fn parse_json_escaped<'a, T: Deserialize<'a>>(
    body: &'a [u8],
    unescape: &mut [u8],
) -> Result<T, JsonError> {
    serde_json_core::from_slice_escaped(body, unescape)
        .map(|(v, _)| v)
        .map_err(de_error)
}

fn de_error(e: serde_json_core::de::Error) -> JsonError {
    match e {
        serde_json_core::de::Error::EscapedStringIsTooLong => JsonError::EscapeBufferTooSmall,
        _ => JsonError::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Iface<'a> {
        name: &'a str,
        up: bool,
        mtu: u32,
    }

    #[test]
    fn write_json_sets_type_and_body() {
        let mut buf = [0u8; 4096];
        let mut r = Response::new(&mut buf).unwrap();
        let v = Iface {
            name: "eth0",
            up: true,
            mtu: 1500,
        };
        write_json(&mut r, &v).unwrap();
        assert_eq!(r.body(), br#"{"name":"eth0","up":true,"mtu":1500}"#);
        assert_eq!(
            r.header("Content-Type"),
            Some(&b"application/json; charset=UTF-8"[..])
        );
    }

    #[test]
    fn write_json_too_large_leaves_response_unchanged() {
        let mut buf = [0u8; 4096];
        let mut r = Response::new(&mut buf).unwrap();
        let mut scratch = [0u8; 8];
        let v = Iface {
            name: "eth0",
            up: true,
            mtu: 1500,
        };
        assert_eq!(
            write_json_with(&mut r, &v, &mut scratch),
            Err(JsonError::TooLarge)
        );
        assert!(r.body().is_empty());
        assert_eq!(r.header("Content-Type"), None);
        let mut small = [0u8; 1100];
        let mut r = Response::new(&mut small).unwrap();
        let long = [7u32; 64];
        assert_eq!(
            write_json(&mut r, &long[..]),
            Err(JsonError::Response(ResponseError::BodyTooLarge))
        );
        assert!(!r.failed());
        let mut r = Response::new(&mut small).unwrap();
        r.write_static(b"static").unwrap();
        assert_eq!(
            write_json(&mut r, &1u8),
            Err(JsonError::Response(ResponseError::BodyConflict))
        );
        assert!(!r.failed());
        assert_eq!(r.header("Content-Type"), None);
    }

    #[test]
    fn parse_json_borrows_and_rejects_garbage() {
        let v: Iface<'_> = parse_json(br#" {"name":"wlan0","up":false,"mtu":1280} "#).unwrap();
        assert_eq!(v.name, "wlan0");
        assert_eq!(v.mtu, 1280);
        for bad in [
            &b""[..],
            b"{",
            b"[1]",
            br#"{"name":"x","up":true,"mtu":1} x"#,
        ] {
            assert_eq!(parse_json::<Iface<'_>>(bad), Err(JsonError::Invalid));
        }
    }

    #[test]
    fn parse_json_escaped_unescapes_into_buffer() {
        #[derive(Deserialize)]
        struct S<'a> {
            raw: &'a str,
        }
        let body = br#"{"raw":"a\"b"}"#;
        let v: S<'_> = parse_json(body).unwrap();
        assert_eq!(v.raw, "a\\\"b");
        let mut un = [0u8; 16];
        let v: Result<S<'_>, _> = parse_json_escaped(body, &mut un);
        assert_eq!(v.err(), Some(JsonError::Invalid));
        #[derive(Deserialize)]
        struct C {
            c: char,
        }
        let v: C = parse_json_escaped(br#"{"c":"\u00e9"}"#, &mut un).unwrap();
        assert_eq!(v.c, '\u{e9}');
        let mut tiny = [0u8; 1];
        assert_eq!(
            parse_json_escaped::<C>(br#"{"c":"\u00e9"}"#, &mut tiny).err(),
            Some(JsonError::EscapeBufferTooSmall)
        );
    }
}
