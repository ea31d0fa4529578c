//! Build-time capacities.
//!
//! Every table and buffer in edgeloop has a fixed size chosen when the firmware is compiled. Each
//! constant below has a documented default and can be overridden for a board by setting the named
//! environment variable at build time, usually from the `[env]` table of a `boards/<board>.toml`
//! cargo config fragment:
//!
//! ```toml
//! [env]
//! EDGELOOP_MAX_HANDLERS = "2048"
//! ```
//!
//! A value that is not a plain decimal number, or is zero, fails the build (a `const` panic), so a
//! typo in a board file can never silently produce a different memory budget.

/// Parses a decimal build-time setting, or returns `default` when the variable is unset.
///
/// Used in `const` context: an invalid value is a compile-time error.
pub const fn parse_or(value: Option<&str>, default: usize) -> usize {
    let s = match value {
        Some(s) => s,
        None => return default,
    };
    let b = s.as_bytes();
    assert!(!b.is_empty(), "edgeloop: empty capacity setting");
    let mut i = 0;
    let mut n: usize = 0;
    while i < b.len() {
        let d = b[i];
        assert!(
            d.is_ascii_digit(),
            "edgeloop: capacity setting is not a decimal number"
        );
        n = match n.checked_mul(10) {
            Some(v) => v,
            None => panic!("edgeloop: capacity setting overflows usize"),
        };
        n = match n.checked_add((d - b'0') as usize) {
            Some(v) => v,
            None => panic!("edgeloop: capacity setting overflows usize"),
        };
        i += 1;
    }
    assert!(n > 0, "edgeloop: capacity setting must be at least 1");
    n
}

/// Entries in the [`IoLoop`](crate::ioloop::IoLoop) handler table: one per registered file
/// descriptor (listeners, connections, the waker, the signal fd).
///
/// Default 1088 (1024 connections + 64 others). Set with `EDGELOOP_MAX_HANDLERS`.
/// Cost: about 32 bytes per entry.
pub const MAX_HANDLERS: usize = parse_or(option_env!("EDGELOOP_MAX_HANDLERS"), 1088);

/// Entries in the timer heap (`call_later`, `call_at`, periodic callbacks).
///
/// Default 64. Set with `EDGELOOP_MAX_TIMERS`. Cost: about 40 bytes per entry.
pub const MAX_TIMERS: usize = parse_or(option_env!("EDGELOOP_MAX_TIMERS"), 64);

/// Callbacks queued with `add_callback` for the next loop iteration.
///
/// Default 64. Set with `EDGELOOP_MAX_CALLBACKS`. Cost: about 24 bytes per entry.
pub const MAX_CALLBACKS: usize = parse_or(option_env!("EDGELOOP_MAX_CALLBACKS"), 64);

/// Callbacks that other threads can have queued at once through a
/// [`Remote`](crate::ioloop::Remote), and the most the loop runs per wake-up.
///
/// Default 16. Set with `EDGELOOP_MAX_REMOTE_CALLBACKS`: a power of two from 2 to 128 (the
/// lock-free queue's constraint; another value fails the build).
pub const MAX_REMOTE_CALLBACKS: usize = parse_or(option_env!("EDGELOOP_MAX_REMOTE_CALLBACKS"), 16);

/// Readiness events taken from the kernel in one `epoll_wait` call.
///
/// Default 256. Set with `EDGELOOP_EVENTS_PER_WAIT`. Cost: 12–16 bytes each, on the loop.
pub const EVENTS_PER_WAIT: usize = parse_or(option_env!("EDGELOOP_EVENTS_PER_WAIT"), 256);

/// Buffers the [`BufferPool`](crate::iostream::BufferPool) free list can hold.
///
/// Default 256. Set with `EDGELOOP_MAX_BUFFERS`. Cost: 16 bytes per entry (the buffers
/// themselves are the caller's static region).
pub const MAX_BUFFERS: usize = parse_or(option_env!("EDGELOOP_MAX_BUFFERS"), 256);

/// Connection slots of the firmware binaries (`examples/`): the most clients served at once.
///
/// Default 1024. Set with `EDGELOOP_MAX_CONNECTIONS`. Keep [`MAX_HANDLERS`] above it: the
/// handler table is indexed by fd number. Cost: `size_of::<Slot<_>>()` each (about 200 bytes for
/// HTTP), whether idle or busy.
pub const MAX_CONNECTIONS: usize = parse_or(option_env!("EDGELOOP_MAX_CONNECTIONS"), 1024);

/// Bytes per I/O buffer in the firmware binaries' pool. A request head must fit in one.
///
/// Default 4096. Set with `EDGELOOP_BUFFER_SIZE`.
pub const BUFFER_SIZE: usize = parse_or(option_env!("EDGELOOP_BUFFER_SIZE"), 4096);

/// I/O buffers in the firmware binaries' pool. A busy connection borrows two; an idle one none.
///
/// Default 128 (64 connections busy at once, 512 KiB). Set with `EDGELOOP_BUFFER_COUNT`; at
/// most [`MAX_BUFFERS`].
pub const BUFFER_COUNT: usize = {
    let n = parse_or(option_env!("EDGELOOP_BUFFER_COUNT"), 128);
    assert!(
        n <= MAX_BUFFERS,
        "EDGELOOP_BUFFER_COUNT exceeds EDGELOOP_MAX_BUFFERS"
    );
    n
};

/// Backlog passed to `listen(2)` by [`TcpServer`](crate::tcpserver::TcpServer).
///
/// Default 1024 (the kernel caps it at `net.core.somaxconn`). Set with `EDGELOOP_LISTEN_BACKLOG`.
pub const LISTEN_BACKLOG: usize = parse_or(option_env!("EDGELOOP_LISTEN_BACKLOG"), 1024);

#[cfg(test)]
mod tests {
    use super::parse_or;

    #[test]
    fn parse_or_default_when_unset() {
        assert_eq!(parse_or(None, 7), 7);
    }

    #[test]
    fn parse_or_reads_decimal() {
        assert_eq!(parse_or(Some("4096"), 7), 4096);
    }

    #[test]
    #[should_panic]
    fn parse_or_rejects_hex() {
        parse_or(Some("0x10"), 7);
    }

    #[test]
    #[should_panic]
    fn parse_or_rejects_zero() {
        parse_or(Some("0"), 7);
    }
}
