//! The defmt global logger of firmware binaries: rzcobs frames on stderr, microsecond timestamps.
//!
//! There is nothing to call: building a firmware with the `firmware` and `defmt` features links
//! this logger (`#[defmt::global_logger]`) and its timestamp (`#[defmt::timestamp]`, microseconds
//! of `CLOCK_MONOTONIC`), so `defmt::info!` and the library's own log lines just work. A binary
//! must therefore not define another global logger or timestamp while both features are on.
//!
//! Each log line becomes one frame, encoded with [`defmt::Encoder`] (rzcobs, defmt's default),
//! collected in a small static buffer and written to stderr with one `write(2)` when the line ends
//! (a buffer that fills up mid-line is written early; the stream stays valid). Frames hold
//! indices into the ELF's `.defmt` section instead of text, so the host decodes them with the
//! unstripped ELF:
//!
//! ```text
//! firmware 2>log.bin; defmt-print -e target/<triple>/<profile>/examples/firmware < log.bin
//! firmware 2>&1 >/dev/null | defmt-print -e <elf>        # live
//! ```
//!
//! Linking needs `build/defmt.rs` (called from the build script): it places the `.defmt` section
//! with a linker script fragment and links the examples non-PIE. A firmware in another crate
//! does the same from its own build script, with `cargo:rustc-link-arg-bins=-Tedgeloop-defmt.x`
//! (edgeloop's build script puts the file on the search path) and
//! `cargo:rustc-link-arg-bins=-no-pie` (x86_64 musl needs `-C relocation-model=static` instead).
//! The level is chosen at build time with `DEFMT_LOG` (`info` in `.cargo/config.toml`).
//!
//! [`set_output`] sends the frames to another descriptor (a UART device, say) instead of fd 2.
//! A terminal (a serial console included) must not post-process output (`stty -opost`, or raw
//! mode), or its `\n` → `\r\n` translation corrupts the frames. A channel of their own is
//! better still: on QEMU the status firmware, as PID 1, finds the virtio-serial port
//! `edgeloop.defmt` (`edgeloop::device::find_virtio_port`), opens it and passes it here, and
//! QEMU writes the frames, untouched and apart from the console's text, to a file on the host.
//! Writes are plain blocking `write(2)` calls: on a blocking descriptor (a virtio port, a pipe)
//! a frame waits for room rather than being cut.
//!
//! # Re-entrancy
//!
//! A firmware has one thread, but a signal handler, or a `defmt::Format` implementation that logs
//! by itself, can start a line while another one is half written. defmt's contract calls that a
//! bug. Here the nested line is dropped (and counted by [`dropped_frames`]) while the outer line
//! completes intact: the frame is guarded by an `AtomicBool`, nested acquires only bump a counter,
//! and the encoder and buffer are only ever touched under a second, non-blocking guard, so even
//! concurrent use from several threads (also unsupported) loses lines but never aliases state.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

use rustix::fd::{AsRawFd, BorrowedFd};
use rustix::time::{ClockId, clock_gettime};

/// Bytes of encoded frame collected before a `write(2)`. A typical line fits, so it leaves in
/// one system call (atomic on a pipe, as `PIPE_BUF` is larger).
const BUFFER: usize = 256;

/// The global logger: see the [module docs](self).
#[defmt::global_logger]
struct StderrLogger;

/// Microseconds since boot (`CLOCK_MONOTONIC`).
fn monotonic_us() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let micros = u64::try_from(t.tv_nsec).unwrap_or(0) / 1_000;
    secs.wrapping_mul(1_000_000).wrapping_add(micros)
}

defmt::timestamp!("{=u64:us}", monotonic_us());

/// A frame is open (between the outer `acquire` and its `release`).
static TAKEN: AtomicBool = AtomicBool::new(false);
/// Acquires made while a frame was open, not yet released: their bytes are dropped.
static NESTED: AtomicU32 = AtomicU32::new(0);
/// Lines dropped because they were nested in another one.
static DROPPED: AtomicU32 = AtomicU32::new(0);
/// Guards [`STATE`]: held only for the duration of one encoder call, never waited on.
static BUSY: AtomicBool = AtomicBool::new(false);
/// Where frames are written.
static OUTPUT: AtomicI32 = AtomicI32::new(2);

/// The encoder and the not yet written output.
struct State {
    encoder: defmt::Encoder,
    buf: [u8; BUFFER],
    len: usize,
}

struct Shared(UnsafeCell<State>);

// SAFETY: the cell is only accessed through `with_state`, which holds `BUSY` (taken by
// compare-exchange, never waited on) for the whole access, so accesses never overlap.
unsafe impl Sync for Shared {}

static STATE: Shared = Shared(UnsafeCell::new(State {
    encoder: defmt::Encoder::new(),
    buf: [0; BUFFER],
    len: 0,
}));

/// Runs `f` with exclusive access to the state; skips it if another access is in progress
/// (possible only when the logger is misused from several threads).
fn with_state(f: impl FnOnce(&mut State)) {
    if BUSY
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return;
    }
    // SAFETY: `BUSY` was false and is now ours: no other reference to the state exists until
    // the store below, and `f` cannot re-enter (the logger does not log).
    f(unsafe { &mut *STATE.0.get() });
    BUSY.store(false, Ordering::Release);
}

/// Writes what the buffer holds to the output and empties it.
fn flush_buffer(buf: &[u8], len: &mut usize) {
    if *len > 0 {
        // SAFETY: `set_output` only stores descriptors borrowed for `'static`, and fd 2 stays
        // open for the life of a normally started process.
        let fd = unsafe { BorrowedFd::borrow_raw(OUTPUT.load(Ordering::Relaxed)) };
        crate::firmware::write_all(fd, &[&buf[..*len]]);
        *len = 0;
    }
}

/// Runs one encoder step, sending its output through the buffer.
fn encode(step: impl FnOnce(&mut defmt::Encoder, &mut dyn FnMut(&[u8])), flush: bool) {
    with_state(|s| {
        let State { encoder, buf, len } = s;
        step(encoder, &mut |bytes: &[u8]| {
            for &b in bytes {
                if *len == buf.len() {
                    flush_buffer(buf, len);
                }
                buf[*len] = b;
                *len += 1;
            }
        });
        if flush {
            flush_buffer(buf, len);
        }
    });
}

/// Whether the calling context opened the current frame (rather than nesting inside it).
fn owns_frame() -> bool {
    NESTED.load(Ordering::Acquire) == 0
}

// SAFETY: `acquire` enters the critical section or, when a frame is already open, records a
// nested acquire whose writes and release are then ignored; `release` leaves exactly what the
// matching `acquire` entered. No call blocks or re-enters the logger.
unsafe impl defmt::Logger for StderrLogger {
    fn acquire() {
        if TAKEN
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            encode(|e, w| e.start_frame(w), false);
        } else {
            NESTED.fetch_add(1, Ordering::AcqRel);
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }

    unsafe fn flush() {
        if owns_frame() {
            encode(|_, _| {}, true);
        }
    }

    unsafe fn release() {
        // A nested release only closes its own acquire; one decrement per nested acquire, even
        // when two contexts race here.
        if NESTED
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
        {
            return;
        }
        encode(|e, w| e.end_frame(w), true);
        TAKEN.store(false, Ordering::Release);
    }

    unsafe fn write(bytes: &[u8]) {
        if owns_frame() {
            encode(|e, w| e.write(bytes, w), false);
        }
    }
}

/// Sends the frames to `fd` from now on instead of stderr (a serial device or a virtio-serial
/// port, for example).
///
/// Call it between log lines (normally at start-up, before the first one). The descriptor must
/// stay open: keep the `OwnedFd` in a `static` (a `static_cell::StaticCell`, as
/// `examples/status.rs` does) and pass it borrowed.
pub fn set_output(fd: BorrowedFd<'static>) {
    OUTPUT.store(fd.as_raw_fd(), Ordering::Relaxed);
}

/// How many log lines were dropped because they started while another line was being written
/// (from a signal handler, or from a `defmt::Format` implementation that logs).
pub fn dropped_frames() -> u32 {
    DROPPED.load(Ordering::Relaxed)
}
