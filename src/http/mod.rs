//! HTTP/1.1 building blocks for the server: pure functions and small state machines, with no
//! I/O, no allocation and no copying of request bytes.
//!
//! The `HttpServer` connection state machine reads into a per-connection buffer and calls
//! these pieces on it:
//!
//! | piece | what it does | RFC |
//! | --- | --- | --- |
//! | [`parse_head`] → [`Head`] | parses the request line and header fields in place, checks the size limits, and derives [`Framing`], keep-alive, `Expect: 100-continue` and `Host` | RFC 9112 §2–§3, §5, §6, §9.3; RFC 9110 §7.2, §10.1.1 |
//! | [`HeadError`] | why a head is refused, with its status code (400, 413, 414, 417, 431, 501, 505) | |
//! | [`ChunkedDecoder`] | de-chunks a request body in place, resumable at any byte | RFC 9112 §7.1 |
//! | [`ResponseHead`] | writes a status line and header fields into a buffer, refusing anything that could inject a line | RFC 9112 §4, RFC 9110 §5 |
//! | [`reason`] | reason phrases of the status codes | RFC 9110 §15 |
//! | [`imf_fixdate`] | the `Date` header value | RFC 9110 §5.6.7 |
//! | [`limits`] | every size and time limit, each overridable per board at build time | |
//!
//! Read RFC 9112 (HTTP/1.1 message syntax: request line, field lines, message body length,
//! chunked coding, persistence) and RFC 9110 (semantics: methods, status codes, `Host`,
//! `Expect`, field value grammar). The parsing is strict on purpose: where the RFCs let a
//! recipient be lenient (bare LF line endings, `Content-Length` lists, several
//! `Transfer-Encoding` fields, codings before `chunked`), a lenient server behind a proxy is how
//! request smuggling happens, so every such case is refused and the connection closed.

pub mod chunked;
pub mod date;
pub mod fields;
pub mod framing;
pub mod head_error;
pub mod itoa;
pub mod limits;
pub mod method;
pub mod request;
pub mod response;
pub mod status;
pub mod target;

pub use chunked::{ChunkError, ChunkedDecoder, Progress};
pub use date::{IMF_FIXDATE_LEN, imf_fixdate};
pub use framing::Framing;
pub use head_error::HeadError;
pub use httparse::{EMPTY_HEADER, Header};
pub use limits::*;
pub use method::Method;
pub use request::{Head, parse_head};
pub use response::{HeadWriteError, ResponseHead};
pub use status::reason;
pub use target::{Target, TargetForm, split_target};
