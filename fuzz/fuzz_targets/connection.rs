//! The whole HTTP connection state machine (`HttpServer` over `TcpServer` and `IoStream`) fed
//! arbitrary byte streams, in arbitrary splits, through real sockets.
//!
//! One in-process server per fuzzing process listens on 127.0.0.1 and is driven by
//! `run_once(.., Some(Duration::ZERO))` steps on the fuzzing thread. Input: a flags byte, a split
//! seed byte, then the bytes the client sends. Flags:
//!
//! * bits 0–2: the write sizes (whole, 1 byte, 3, 17, 512 or 4096 bytes at most, seeded; at
//!   most about 256 writes per input);
//! * bits 3–4: how the client ends: half-close and read everything (twice as likely), reset
//!   (SO_LINGER 0) right after sending, or close without reading;
//! * bit 5: read the answers between writes, or only at the end (a client that does not read:
//!   the server's write buffer and the socket fill up).
//!
//! Invariants: the server never panics and its loop never fails; everything it sends is a
//! sequence of well-formed responses (`HTTP/1.1 `, a 3-digit status, a head that parses, CRLF
//! only, one `Content-Length`, a body of exactly that length), and a response is never cut short
//! when the server ends the stream with a FIN; it always ends a connection whose client has
//! finished sending; afterwards no connection is left open and every pool buffer is back; and
//! a fresh `GET / HTTP/1.1` on a new connection gets `200 Hello, world`.

#![no_main]

use edgeloop_fuzz::{check_stream, split_max, split_sizes, with_server};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let flags = data.first().copied().unwrap_or(0);
    let seed = data.get(1).copied().unwrap_or(0);
    let stream = data.get(2..).unwrap_or_default();
    // At most about 256 writes per input, so that large inputs stay fast to run.
    let max = split_max(flags & 7).max(stream.len() / 256);
    let ending = (flags >> 3) & 3;
    let read_between = flags & 0x20 == 0;
    let sizes = split_sizes(u64::from(seed) << 8 | u64::from(flags), stream.len(), max);
    let allow_head = stream.windows(4).any(|w| w == b"HEAD");

    with_server(|srv| {
        let mut p = srv.connect();
        let mut at = 0;
        for n in sizes {
            p.send(srv, &stream[at..at + n]);
            at += n;
            srv.step();
            if read_between {
                p.read_some();
            }
            srv.step();
            if p.write_failed {
                break;
            }
        }
        match ending {
            2 => p.reset_now(),
            3 => p.close_now(),
            _ => {
                p.shutdown_write();
                p.read_to_end(srv, Duration::from_secs(5));
            }
        }
        let complete = p.eof && !p.reset;
        if let Err(e) = check_stream(&p.got, allow_head, complete) {
            panic!("{e}");
        }
        p.close_now();
        srv.settle(Duration::from_secs(5), "connection");
        srv.health_check();
    });
});
