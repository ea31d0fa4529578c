//! Glue for firmware-style binaries: `#![no_std]`, `#![no_main]`, no allocator.
//!
//! [`firmware_main!`](crate::firmware_main) defines the C `main` the libc start-up code calls
//! (libc is linked for its start-up code only; all I/O goes through rustix), a panic handler that
//! reports on stderr and exits with status 101 (without `core::fmt`: see [`on_panic`]), and the
//! no-op unwinding personality that debug builds of `core` reference. The binary keeps only its
//! own logic:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! edgeloop::firmware_main!(run);
//! fn run(args: edgeloop::firmware::Args) -> i32 { 0 }
//! ```
//!
//! Printing: [`write_all`] writes bytes, [`Text`] assembles fixed text, integers and addresses
//! on the stack without `core::fmt` (which costs about 10 KB of code in a small aarch64 binary);
//! [`write_fmt`] takes `format_args!` when that is worth it.
//!
//! Build such binaries with `panic = "abort"` (the crate's profiles do); `cargo test` builds
//! every target with unwinding, so the examples that use this require the `firmware` feature.

use core::ffi::{CStr, c_char, c_int};

use rustix::fd::BorrowedFd;

/// The process's command-line arguments (program name excluded), as UTF-8 strings.
#[derive(Debug, Clone, Copy)]
pub struct Args {
    argc: usize,
    argv: *const *const c_char,
}

impl Args {
    /// Wraps `main`'s arguments.
    ///
    /// # Safety
    /// `argv` must point to `argc` valid NUL-terminated strings that live for the whole process
    /// (what the C runtime passes to `main`).
    pub unsafe fn from_raw(argc: c_int, argv: *const *const c_char) -> Self {
        Args {
            argc: usize::try_from(argc).unwrap_or(0),
            argv,
        }
    }

    /// The number of arguments after the program name.
    pub fn len(&self) -> usize {
        self.argc.saturating_sub(1)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Argument `i` (0 is the first after the program name); `None` if absent or not UTF-8.
    pub fn get(&self, i: usize) -> Option<&'static str> {
        if i >= self.len() || self.argv.is_null() {
            return None;
        }
        // SAFETY: `from_raw`'s contract: `argv[1..argc]` are valid C strings for the process's
        // whole life, and `i + 1 < argc` was checked above.
        let s = unsafe { CStr::from_ptr(*self.argv.add(i + 1)) };
        s.to_str().ok()
    }

    /// Iterates the arguments; a non-UTF-8 argument is yielded as `"\u{FFFD}"`.
    pub fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or("\u{FFFD}"))
    }
}

/// Standard output.
pub fn stdout() -> BorrowedFd<'static> {
    // SAFETY: fd 1 stays open for the life of a normally started process; we never close it.
    unsafe { rustix::stdio::stdout() }
}

/// Standard error.
pub fn stderr() -> BorrowedFd<'static> {
    // SAFETY: fd 2 stays open for the life of a normally started process; we never close it.
    unsafe { rustix::stdio::stderr() }
}

/// Writes every part to `fd`, retrying short writes and `EINTR`; errors are ignored (there is
/// nowhere left to report them).
pub fn write_all(fd: BorrowedFd<'_>, parts: &[&[u8]]) {
    for part in parts {
        let mut rest = *part;
        while !rest.is_empty() {
            match rustix::io::write(fd, rest) {
                Ok(0) => return,
                Ok(n) => rest = &rest[n..],
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return,
            }
        }
    }
}

pub use crate::fmt::Text;

/// Formats `args` into a fixed buffer and writes it to `fd` (at most 512 bytes; longer text is
/// cut and ends with `…`).
///
/// This links `core::fmt` (about 10 KB of code on aarch64); fixed text, integers and addresses
/// can be printed without it through a [`Text`] and [`write_all`].
pub fn write_fmt(fd: BorrowedFd<'_>, args: core::fmt::Arguments<'_>) {
    let mut s: heapless::String<512> = heapless::String::new();
    if core::fmt::write(&mut s, args).is_err() {
        s.truncate(509);
        let _ = s.push_str("…");
    }
    write_all(fd, &[s.as_bytes()]);
}

/// Appends what [`Error`](crate::ioloop::Error)'s `Display` says, without `core::fmt` (the
/// wording is shorter for stream errors: their kind is not spelled out).
pub fn describe_error<'t, const N: usize>(
    t: &'t mut Text<N>,
    e: &crate::ioloop::Error,
) -> &'t mut Text<N> {
    use crate::ioloop::Error as E;
    let (text, number) = match *e {
        E::Io(98) => ("address already in use (errno 98)", None),
        E::Io(99) => ("address not available on this host (errno 99)", None),
        E::Io(13) => ("permission denied (errno 13)", None),
        E::Io(24) => ("too many open files (errno 24)", None),
        E::Io(n) => ("system call failed (errno ", Some(i64::from(n))),
        E::HandlerTableFull => ("handler table full (fd beyond MAX_HANDLERS)", None),
        E::AlreadyRegistered => ("a handler is already registered for this fd", None),
        E::NotRegistered => ("no handler registered for this fd", None),
        E::TimerHeapFull => ("timer heap full (MAX_TIMERS)", None),
        E::CallbackQueueFull => ("callback queue full", None),
        E::Stream(crate::iostream::StreamError::Io(n)) => {
            ("stream: system call failed (errno ", Some(i64::from(n)))
        }
        E::Stream(_) => ("stream error", None),
        E::InvalidConfig => ("a configured size is too small", None),
        E::App(c) => ("application error ", Some(i64::from(c))),
    };
    t.str(text);
    if let Some(n) = number {
        t.int(n);
        if text.ends_with('(') {
            t.str(")");
        }
    }
    t
}

/// Ends the process at once with `code` (no destructors run: there is no `std` to run them).
pub fn exit(code: i32) -> ! {
    // SAFETY: `_exit` only ends the process; nothing in this program relies on cleanup.
    unsafe { libc::_exit(code) }
}

/// The panic handler body used by [`firmware_main!`](crate::firmware_main): writes
/// `panic at FILE:LINE:COLUMN: MESSAGE` on stderr and exits with status 101.
///
/// The message is printed when it is a plain string (`panic!("text")`, `expect("text")`); a
/// formatted message (`panic!("{x}")`, index out of bounds, ...) is left out, so that the
/// handler does not link `core::fmt` into every firmware (the file, line and column locate it).
pub fn on_panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut line = Text::<512>::new();
    line.str("panic");
    if let Some(at) = info.location() {
        line.str(" at ")
            .str(at.file())
            .str(":")
            .dec(u64::from(at.line()))
            .str(":")
            .dec(u64::from(at.column()));
    }
    if let Some(msg) = info.message().as_str() {
        line.str(": ").str(msg);
    }
    line.str("\n");
    write_all(stderr(), &[line.as_bytes()]);
    exit(101)
}

/// Defines `main`, the panic handler and the unwinding personality of a firmware binary that
/// runs `$entry(args: Args) -> i32`. See the [module docs](crate::firmware).
#[macro_export]
macro_rules! firmware_main {
    ($entry:path) => {
        // libc provides the process entry point and calls `main`; nothing else of it is used.
        #[link(name = "c")]
        unsafe extern "C" {}

        #[unsafe(no_mangle)]
        extern "C" fn main(
            argc: ::core::ffi::c_int,
            argv: *const *const ::core::ffi::c_char,
        ) -> ::core::ffi::c_int {
            // SAFETY: these are the arguments the C runtime passed to `main`.
            let args = unsafe { $crate::firmware::Args::from_raw(argc, argv) };
            $entry(args)
        }

        #[panic_handler]
        fn panic(info: &::core::panic::PanicInfo<'_>) -> ! {
            $crate::firmware::on_panic(info)
        }

        /// Debug builds of `core` reference the unwinding personality even with
        /// `panic = "abort"`; nothing ever unwinds, so it is never called.
        #[unsafe(no_mangle)]
        extern "C" fn rust_eh_personality() {}
    };
}
