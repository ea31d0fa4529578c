//! Reading frames from an upgraded connection's input: unmasking and reassembling in place,
//! answering control frames, delivering messages.
//!
//! The unconsumed input always starts with the fragments of the message being reassembled
//! (`assembled` bytes, already unmasked and joined), followed by frames not read yet:
//!
//! ```text
//! [ assembled payload | next frame header | its payload | ... ]
//! ```
//!
//! A continuation frame's header is cut out by sliding the assembled bytes forward over it
//! (then consuming as many bytes at the front), so its payload joins them; a control frame in
//! the middle of a message is answered and cut out the same way. [`next_event`] does this as a
//! pure function over the input bytes.

use crate::httpserver::Upgraded;
use crate::ioloop::IoLoop;
use crate::tcpserver::ConnId;

use super::frame::{
    MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, Opcode, apply_mask, parse_close, parse_header,
};
use super::table::{State, flush_outbox, send};
use super::{CloseCode, MAX_MESSAGE_BYTES, Message, WebSocketApp, WebSockets};

/// A message being reassembled from fragments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Reassembly {
    /// Its type (text or binary), while one is in progress.
    frag: Option<Opcode>,
    /// Its bytes so far, at the start of the unconsumed input.
    assembled: usize,
}

/// What the next frame of the input amounts to. Every variant but `Wait` and `Fail` says how
/// many bytes to consume once it has been handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    /// More bytes are needed.
    Wait,
    /// Fail the connection with this code.
    Fail(CloseCode),
    /// A fragment was joined to the message in progress.
    Fragment { consume: usize },
    /// A complete message is at `input[start..end]` (text is valid UTF-8); consume `end`.
    Message {
        op: Opcode,
        start: usize,
        end: usize,
    },
    /// A control frame, its payload copied out.
    Control {
        op: Opcode,
        payload: [u8; MAX_CONTROL_PAYLOAD],
        len: usize,
        consume: usize,
    },
}

/// Reads the next frame of `input` (the unconsumed bytes of a connection whose buffers are
/// `cap` bytes), unmasking it and joining fragments in place. Never panics.
pub(super) fn next_event(
    input: &mut [u8],
    rs: &mut Reassembly,
    cap: usize,
    max_message: usize,
) -> Event {
    let a = rs.assembled.min(input.len());
    let h = match parse_header(&input[a..], true) {
        Ok(Some(h)) => h,
        Ok(None) => return Event::Wait,
        Err(e) => return Event::Fail(e.close_code()),
    };
    match (h.opcode, rs.frag) {
        (Opcode::Text | Opcode::Binary, Some(_)) | (Opcode::Continuation, None) => {
            return Event::Fail(CloseCode::PROTOCOL_ERROR);
        }
        _ => {}
    }
    if !h.opcode.is_control() && a as u64 + h.payload_len > max_message as u64 {
        return Event::Fail(CloseCode::MESSAGE_TOO_BIG);
    }
    // Bounded by max_message (data) or 125 (control) now.
    let (hl, pl) = (h.header_len, h.payload_len as usize);
    let total = hl + pl;
    if a + total > cap {
        return Event::Fail(CloseCode::MESSAGE_TOO_BIG);
    }
    if input.len() < a + total {
        return Event::Wait;
    }
    if let Some(m) = h.mask {
        apply_mask(&mut input[a + hl..a + total], m);
    }
    if h.opcode.is_control() {
        let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
        payload[..pl].copy_from_slice(&input[a + hl..a + total]);
        input.copy_within(..a, total);
        return Event::Control {
            op: h.opcode,
            payload,
            len: pl,
            consume: total,
        };
    }
    // A data frame: the first fragment, a continuation, or a whole message.
    let op = rs.frag.unwrap_or(h.opcode);
    input.copy_within(..a, hl);
    let len = a + pl;
    if !h.fin {
        rs.frag = Some(op);
        rs.assembled = len;
        return Event::Fragment { consume: hl };
    }
    *rs = Reassembly::default();
    let (start, end) = (hl, hl + len);
    if op == Opcode::Text && core::str::from_utf8(&input[start..end]).is_err() {
        return Event::Fail(CloseCode::INVALID_PAYLOAD);
    }
    Event::Message { op, start, end }
}

impl<A: WebSocketApp> WebSockets<A> {
    /// Forwarded from [`HttpApp::on_upgraded`](crate::httpserver::HttpApp::on_upgraded): reads
    /// the frames of WebSocket `conn`, calls the handler, and writes the answers. Returns
    /// `false` if `conn` is not a WebSocket (the application handles it, or closes it).
    pub fn on_upgraded(
        app: &mut A,
        lp: &mut IoLoop<A>,
        conn: ConnId,
        io: &mut Upgraded<'_>,
    ) -> bool {
        let Some(i) = app.websockets().find(conn) else {
            return false;
        };
        flush_outbox(app, lp, Some(conn));
        let cap = app.http().tcp().pool().buffer_size();
        let out = &mut app.websockets().out;
        if out.owner != Some(conn) {
            out.owner = Some(conn);
            out.len = 0;
        }
        out.room = io.room();
        let max_message = MAX_MESSAGE_BYTES.min(cap.saturating_sub(MAX_HEADER_LEN));
        let fail = loop {
            let Some(w) = app.websockets().slots[i].as_mut() else {
                break None;
            };
            if w.state == State::Closed {
                break None;
            }
            let delivering = w.state == State::Open;
            let cb = w.cb;
            match next_event(io.input(), &mut w.rs, cap, max_message) {
                Event::Wait => break None,
                Event::Fail(code) => break Some(code),
                Event::Fragment { consume } => io.consume(consume),
                Event::Message { op, start, end } => {
                    let payload = &io.input()[start..end];
                    let msg = match op {
                        // Checked by next_event.
                        Opcode::Text => core::str::from_utf8(payload).map(Message::Text),
                        _ => Ok(Message::Binary(payload)),
                    };
                    if let (Ok(msg), true) = (msg, delivering) {
                        (cb.on_message)(app, lp, conn, msg);
                    }
                    io.consume(end);
                }
                Event::Control {
                    op,
                    payload,
                    len,
                    consume,
                } => {
                    io.consume(consume);
                    let payload = &payload[..len];
                    match op {
                        Opcode::Ping if delivering => {
                            // Best effort: a pong that does not fit is skipped.
                            let _ = send(app, lp, conn, Opcode::Pong, payload);
                        }
                        Opcode::Pong => {
                            w.awaiting_pong = false;
                            (cb.on_pong)(app, lp, conn, payload);
                        }
                        Opcode::Close => match parse_close(payload) {
                            Err(code) => break Some(code),
                            Ok(code) => {
                                w.state = State::Closed;
                                if delivering || code.is_some() {
                                    w.close_code = code;
                                }
                                if delivering {
                                    // Echo the code (an empty close answers an empty one).
                                    let echo = code.map(u16::to_be_bytes);
                                    let echo = echo.as_ref().map_or(&[][..], |e| &e[..]);
                                    let _ = send(app, lp, conn, Opcode::Close, echo);
                                }
                                break None;
                            }
                        },
                        _ => {}
                    }
                }
            }
        };
        let ws = app.websockets();
        let mut send_close = None;
        if let Some(w) = ws.slots[i].as_mut() {
            if let Some(code) = fail {
                if w.state == State::Open {
                    send_close = Some(code);
                }
                w.state = State::Closed;
                w.close_code = Some(code.0);
            }
            if w.state == State::Closed {
                io.close();
            }
        }
        if let Some(code) = send_close {
            let _ = send(app, lp, conn, Opcode::Close, &code.0.to_be_bytes());
        }
        if io.is_eof() {
            io.close();
        }
        let out = &mut app.websockets().out;
        let len = core::mem::take(&mut out.len);
        out.owner = None;
        // The outbox never holds more than the room measured above.
        let _ = io.write(&[&out.buf[..len]]);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x11, 0x22, 0x33, 0x44];
        let mut v = vec![first];
        if payload.len() < 126 {
            v.push(0x80 | payload.len() as u8);
        } else {
            v.push(0x80 | 126);
            v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(&mask);
        let mut p = payload.to_vec();
        apply_mask(&mut p, mask);
        v.extend_from_slice(&p);
        v
    }

    /// Runs `input` through `next_event` as the dispatcher does; returns the messages and
    /// control frames seen, and how it ended.
    fn run(mut input: Vec<u8>, max: usize) -> (Vec<(Opcode, Vec<u8>)>, Event) {
        let mut rs = Reassembly::default();
        let mut seen = Vec::new();
        loop {
            match next_event(&mut input, &mut rs, 4096, max) {
                Event::Fragment { consume } => {
                    input.drain(..consume);
                }
                Event::Message { op, start, end } => {
                    seen.push((op, input[start..end].to_vec()));
                    input.drain(..end);
                }
                Event::Control {
                    op,
                    payload,
                    len,
                    consume,
                } => {
                    seen.push((op, payload[..len].to_vec()));
                    input.drain(..consume);
                }
                end => return (seen, end),
            }
        }
    }

    #[test]
    fn test_whole_and_fragmented_messages_with_interleaved_ping() {
        let mut input = frame(0x81, b"hello");
        input.extend(frame(0x02, b"ab"));
        input.extend(frame(0x00, b"cd"));
        input.extend(frame(0x89, b"p!"));
        input.extend(frame(0x80, b"ef"));
        input.extend(frame(0x8a, b""));
        let (seen, end) = run(input, 100);
        assert_eq!(end, Event::Wait);
        assert_eq!(
            seen,
            [
                (Opcode::Text, b"hello".to_vec()),
                (Opcode::Ping, b"p!".to_vec()),
                (Opcode::Binary, b"abcdef".to_vec()),
                (Opcode::Pong, b"".to_vec()),
            ]
        );
    }

    #[test]
    fn test_partial_input_waits_at_every_cut() {
        let mut input = frame(0x01, "héllo ".as_bytes());
        input.extend(frame(0x80, "wörld".as_bytes()));
        for cut in 0..input.len() {
            let (seen, end) = run(input[..cut].to_vec(), 100);
            assert_eq!(end, Event::Wait, "{cut}");
            assert!(seen.is_empty(), "{cut}");
        }
        let (seen, _) = run(input, 100);
        assert_eq!(seen, [(Opcode::Text, "héllo wörld".as_bytes().to_vec())]);
    }

    #[test]
    fn test_failures() {
        let fail = |input: Vec<u8>, max| run(input, max).1;
        assert_eq!(
            fail(frame(0x81, &[0xff]), 100),
            Event::Fail(CloseCode::INVALID_PAYLOAD)
        );
        // UTF-8 split across fragments is fine; invalid as a whole is not.
        let mut split = frame(0x01, &[0xc3]);
        split.extend(frame(0x80, &[0xa9]));
        assert_eq!(run(split, 100).0, [(Opcode::Text, "é".as_bytes().to_vec())]);
        assert_eq!(
            fail(frame(0x82, &[0; 101]), 100),
            Event::Fail(CloseCode::MESSAGE_TOO_BIG)
        );
        let mut grow = frame(0x02, &[0; 60]);
        grow.extend(frame(0x80, &[0; 60]));
        assert_eq!(fail(grow, 100), Event::Fail(CloseCode::MESSAGE_TOO_BIG));
        assert_eq!(
            fail(frame(0x80, b"x"), 100),
            Event::Fail(CloseCode::PROTOCOL_ERROR)
        );
        let mut two_starts = frame(0x01, b"a");
        two_starts.extend(frame(0x81, b"b"));
        assert_eq!(
            fail(two_starts, 100),
            Event::Fail(CloseCode::PROTOCOL_ERROR)
        );
        assert_eq!(
            fail(vec![0x81, 0x01, b'x'], 100),
            Event::Fail(CloseCode::PROTOCOL_ERROR)
        );
        // A frame that cannot fit in the buffer, whatever the message limit.
        let mut rs = Reassembly::default();
        let mut big = frame(0x82, &[0; 300]);
        assert_eq!(
            next_event(&mut big, &mut rs, 200, 1000),
            Event::Fail(CloseCode::MESSAGE_TOO_BIG)
        );
    }

    proptest::proptest! {
        #[test]
        fn prop_any_input_is_handled_without_panic(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            assembled in 0usize..400,
        ) {
            let mut input = data;
            let mut rs = Reassembly { frag: Some(Opcode::Binary), assembled };
            for _ in 0..8 {
                match next_event(&mut input, &mut rs, 256, 200) {
                    Event::Fragment { consume } | Event::Control { consume, .. } => {
                        proptest::prop_assert!(consume <= input.len());
                        input.drain(..consume);
                    }
                    Event::Message { start, end, .. } => {
                        proptest::prop_assert!(start <= end && end <= input.len());
                        input.drain(..end);
                    }
                    Event::Wait | Event::Fail(_) => break,
                }
            }
        }
    }
}
